#!/usr/bin/env python3
"""PyTorch's side of bench/gpu_train_bench: the zoo's CIFAR ResNets on the GPU.

Trains ResNet-56 and ResNet-164 exactly as slimtrain's zoo builds them
(planner/zoo_resnet.cc; the modules are bench/pytorch_cpu.py's, which the CPU
benchmark already checks against the zoo) at batch 128 on random 3x32x32 data,
SGD with momentum 0.9, loss.item() every step (as slimtrain's TrainStep
returns the loss), with TF32 off (true fp32: torch.backends.cudnn.allow_tf32
and torch.backends.cuda.matmul.allow_tf32 False) and on, in NCHW and
channels_last; cudnn.benchmark on (PyTorch's fastest usual setting). For each
(model, TF32) it reports the faster layout:

  images/s                 batch x steps / seconds of `steps` steps after
                           `warmup` steps, torch.cuda.synchronize() before
                           the clock starts and stops;
  max_memory_allocated     torch.cuda.max_memory_allocated() over the timed
                           steps (peak stats reset after the warm-up, so
                           cudnn.benchmark's trials are not counted): tensors
                           only, no CUDA context, no cached-but-free blocks;
  max_memory_reserved      the caching allocator's peak, for comparison.

Prints a table and one line per (model, TF32):
  RESULT {"bench": "torch", "model": "resnet56", "tf32": false, "layout": ..,
          "images_per_second": .., "max_memory_allocated": .., ...}

  python3 bench/torch_gpu_bench.py [--models resnet56,resnet164] [--batch 128]
                                   [--steps 10] [--warmup 3] [--tf32 off,on]

Without PyTorch or without a CUDA device it prints "no GPU: <reason>" and
exits 0.
"""
import argparse
import json
import os
import sys
import time


def no_gpu(reason):
    print(f"no GPU: {reason}")
    return 0


def run_one(torch, models, model_name, batch, steps, warmup, tf32, layout):
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(1)
    device = torch.device("cuda")
    model = models[model_name]().to(device)
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    if layout == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    loss = 0.0
    for _ in range(steps):
        loss = step()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    result = {
        "images_per_second": batch * steps / seconds,
        "step_ms": 1e3 * seconds / steps,
        "max_memory_allocated": torch.cuda.max_memory_allocated(),
        "max_memory_reserved": torch.cuda.max_memory_reserved(),
        "loss": loss,
    }
    del model, opt, x, y
    torch.cuda.empty_cache()
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="resnet56,resnet164")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--tf32", default="off,on", help="comma-separated: off, on")
    ap.add_argument("--layouts", default="nchw,channels_last")
    args = ap.parse_args()
    try:
        import torch
    except ImportError as e:
        return no_gpu(f"PyTorch is not installed ({e})")
    if not torch.cuda.is_available():
        return no_gpu(f"torch {torch.__version__} sees no CUDA device")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from pytorch_cpu import MODELS  # the zoo's architectures as nn.Modules

    print(f"PyTorch {torch.__version__} on {torch.cuda.get_device_name(0)}, cuDNN {torch.backends.cudnn.version()}: "
          f"batch {args.batch}, {args.steps} timed steps after {args.warmup} warm-up steps, SGD momentum 0.9, "
          f"cudnn.benchmark on\n")
    print(f"{'model':<10} {'tf32':<5} {'layout':<14} {'images/s':>10} {'step ms':>9} {'max alloc':>12} "
          f"{'max reserved':>13} {'loss':>8}")
    results = []
    for model_name in [m for m in args.models.split(",") if m]:
        if model_name not in MODELS:
            print(f"{model_name}: not one of {sorted(MODELS)}")
            continue
        for tf32 in [t == "on" for t in args.tf32.split(",") if t]:
            best = None
            for layout in [l for l in args.layouts.split(",") if l]:
                r = run_one(torch, MODELS, model_name, args.batch, args.steps, args.warmup, tf32, layout)
                print(f"{model_name:<10} {'on' if tf32 else 'off':<5} {layout:<14} {r['images_per_second']:>10.1f} "
                      f"{r['step_ms']:>9.2f} {r['max_memory_allocated'] / 2**20:>9.1f} MiB "
                      f"{r['max_memory_reserved'] / 2**20:>9.1f} MiB {r['loss']:>8.4f}", flush=True)
                if best is None or r["images_per_second"] > best["images_per_second"]:
                    best = dict(r, layout=layout)
            results.append(dict(best, bench="torch", model=model_name, tf32=tf32, batch=args.batch,
                                torch=torch.__version__))
    print()
    for r in results:
        print("RESULT " + json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
