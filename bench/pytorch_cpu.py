#!/usr/bin/python3
"""PyTorch's side of bench/engine_cpu: train the zoo's CIFAR models on CPU.

Builds the same architectures as slimtrain's zoo (planner/zoo_resnet.cc,
zoo_mobile.cc, zoo_transformer.cc): ResNet-56 (post-activation basic blocks,
1x1 projection shortcuts where the shape changes), ResNet-164 (pre-activation
bottlenecks), MobileNetV2 for CIFAR (torchvision's, with the zoo's strides),
ViT-Tiny for CIFAR (torchvision's VisionTransformer) and nanoGPT (Karpathy's
model.py with bias=False, written out below), times training steps of SGD
with momentum on random CIFAR-shaped data (random token ids for nanoGPT) at
a given batch and thread count, in NCHW and in channels_last (images only),
and prints one JSON line:

  {"model": "resnet56", "batch": 128, "threads": 2,
   "layouts": {"nchw": {"images_per_second": ..}, "channels_last": {..}},
   "best_layout": "channels_last", "images_per_second": ..,
   "peak_rss_bytes": .., "max_memory_allocated": null}

Run with Debian's python (/usr/bin/python3, python3-torch 1.13):
  /usr/bin/python3 bench/pytorch_cpu.py --model resnet56 --batch 128 --threads 2
Each (model, layout) runs in a process of its own so peak RSS is its own.
"""
import argparse
import json
import resource
import subprocess
import sys
import time

import torch
import torch.nn as nn


class Basic(nn.Module):
    """conv3x3-bn-relu-conv3x3-bn, + shortcut, relu (He et al. 2016)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.downsample is None else self.downsample(x)
        return self.relu(y + s)


class PreBottleneck(nn.Module):
    """bn-relu-conv1x1-bn-relu-conv3x3-bn-relu-conv1x1 + shortcut."""

    def __init__(self, cin, width, stride):
        super().__init__()
        cout = 4 * width
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        a = self.relu(self.bn1(x))
        y = self.conv1(a)
        y = self.conv2(self.relu(self.bn2(y)))
        y = self.conv3(self.relu(self.bn3(y)))
        s = x if self.downsample is None else self.downsample(a)
        return y + s


def resnet56():
    layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True)]
    cin = 16
    for stage, width in enumerate([16, 32, 64]):
        for block in range(9):
            layers.append(Basic(cin, width, 2 if stage > 0 and block == 0 else 1))
            cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def resnet164():
    layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False)]
    cin = 16
    for stage, width in enumerate([16, 32, 64]):
        for block in range(18):
            layers.append(PreBottleneck(cin, width, 2 if stage > 0 and block == 0 else 1))
            cin = 4 * width
    layers += [nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
               nn.Linear(cin, 10)]
    return nn.Sequential(*layers)


def mobilenet_v2_cifar():
    """torchvision's mobilenet_v2(num_classes=10) with the zoo's CIFAR strides
    (planner/zoo_mobile.cc): the stem and features.2's depthwise conv at 1."""
    import torchvision  # python3-torchvision, only for this model

    model = torchvision.models.mobilenet_v2(num_classes=10)
    model.features[0][0].stride = (1, 1)
    model.features[2].conv[1][0].stride = (1, 1)
    return model


def vit_tiny_cifar():
    """torchvision's VisionTransformer at the zoo's vit_tiny_cifar
    (planner/zoo_transformer.cc): 32x32, patch 4, depth 12, 3 heads, width
    192, MLP 768, 10 classes, no dropout; the same parameter count."""
    from torchvision.models.vision_transformer import VisionTransformer

    return VisionTransformer(image_size=32, patch_size=4, num_layers=12, num_heads=3, hidden_dim=192, mlp_dim=768,
                             num_classes=10)


class GptBlock(nn.Module):
    """nanoGPT's Block with bias=False: x + attn(ln_1(x)), x + mlp(ln_2(x));
    attention written out as nanoGPT does without scaled_dot_product_attention
    (torch 1.13 has none): the causal L x L probabilities are kept."""

    def __init__(self, width, heads, context):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(width)
        self.ln_1.bias = None  # nanoGPT's LayerNorm(bias=False)
        self.c_attn = nn.Linear(width, 3 * width, bias=False)
        self.c_proj = nn.Linear(width, width, bias=False)
        self.ln_2 = nn.LayerNorm(width)
        self.ln_2.bias = None
        self.c_fc = nn.Linear(width, 4 * width, bias=False)
        self.mlp_proj = nn.Linear(4 * width, width, bias=False)
        self.register_buffer("mask", torch.tril(torch.ones(context, context)).view(1, 1, context, context))

    def forward(self, x):
        n, length, width = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(width, dim=2)
        q, k, v = (t.view(n, length, self.heads, width // self.heads).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / (width // self.heads) ** 0.5)
        att = att.masked_fill(self.mask[:, :, :length, :length] == 0, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(n, length, width)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(nn.functional.gelu(self.c_fc(self.ln_2(x))))


class NanoGpt(nn.Module):
    """nanoGPT's GPT for Shakespeare characters (planner/zoo_transformer.cc):
    6 layers, 6 heads, width 384, context 256, vocabulary 65, bias=False,
    lm_head tied to wte; 10,745,088 parameters."""

    context, vocabulary = 256, 65

    def __init__(self, layers=6, heads=6, width=384):
        super().__init__()
        self.wte = nn.Embedding(self.vocabulary, width)
        self.wpe = nn.Embedding(self.context, width)
        self.h = nn.ModuleList([GptBlock(width, heads, self.context) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(width)
        self.ln_f.bias = None
        self.lm_head = nn.Linear(width, self.vocabulary, bias=False)
        self.wte.weight = self.lm_head.weight  # weight tying

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


MODELS = {"resnet56": resnet56, "resnet164": resnet164, "mobilenet_v2_cifar": mobilenet_v2_cifar,
          "vit_tiny_cifar": vit_tiny_cifar, "nanogpt": NanoGpt}
TOKEN_MODELS = {"nanogpt"}


def vm_rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def run_one(model_name, batch, threads, steps, warmup, layout):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = MODELS[model_name]()
    if model_name in TOKEN_MODELS:
        x = torch.randint(0, model.vocabulary, (batch, model.context))
        y = torch.randint(0, model.vocabulary, (batch * model.context,))  # the next token at every position
    else:
        x = torch.randn(batch, 3, 32, 32)
        y = torch.randint(0, 10, (batch,))
    if layout == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    baseline = vm_rss_bytes()  # interpreter, libraries, model and batch

    def step():
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        loss = loss_fn(logits.view(-1, logits.shape[-1]), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tokens = model.context if model_name in TOKEN_MODELS else 1
    return {"images_per_second": batch * steps / seconds, "tokens_per_second": batch * tokens * steps / seconds,
            "peak_rss_bytes": peak, "baseline_rss_bytes": baseline, "seconds_per_step": seconds / steps}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=sorted(MODELS), required=True)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--layout", choices=["nchw", "channels_last"], help="run one layout in this process")
    args = ap.parse_args()
    if args.layout:
        print(json.dumps(run_one(args.model, args.batch, args.threads, args.steps, args.warmup, args.layout)))
        return 0
    layouts = {}
    for layout in ("nchw",) if args.model in TOKEN_MODELS else ("nchw", "channels_last"):
        out = subprocess.run([sys.executable, __file__, "--model", args.model, "--batch", str(args.batch),
                              "--threads", str(args.threads), "--steps", str(args.steps), "--warmup",
                              str(args.warmup), "--layout", layout], capture_output=True, text=True, check=True)
        layouts[layout] = json.loads(out.stdout.strip().splitlines()[-1])
    best = max(layouts, key=lambda k: layouts[k]["images_per_second"])
    print(json.dumps({"model": args.model, "batch": args.batch, "threads": args.threads, "torch": torch.__version__,
                      "layouts": layouts, "best_layout": best,
                      "images_per_second": layouts[best]["images_per_second"],
                      "peak_rss_bytes": layouts[best]["peak_rss_bytes"],
                      "baseline_rss_bytes": layouts[best]["baseline_rss_bytes"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
