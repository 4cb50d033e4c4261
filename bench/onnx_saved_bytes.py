#!/usr/bin/python3
"""What backward keeps: PyTorch against slimtrain's plan, for ONNX imports.

  tools/setup.sh --bench      # Debian's python3-torch
  bazel build //client:slimtrain
  /usr/bin/python3 bench/onnx_saved_bytes.py [--batch 8] [--slimtrain bazel-bin/client/slimtrain]

For each model (a custom CNN; torchvision's resnet18, mobilenet_v2 and
efficientnet_b0; a ViT built from nn.TransformerEncoderLayer; a nanoGPT
block; in training mode): exports it to ONNX as tests/planner/onnx_export.py does,
asks `slimtrain plan --model-file M.onnx --strategies exact --format json`
for its saved-activation bytes, and measures what PyTorch keeps for
backward in one training-mode forward pass: every tensor autograd saves
(torch.autograd.graph.saved_tensors_hooks), parameters excluded, each
storage counted once (a tensor saved by two ops, or a view of a saved
one, is one storage). Prints the two side by side with their ratio.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "planner"))
from onnx_export import CustomCnn, GptBlock, VitEncoder  # noqa: E402  (the test's models)


def pytorch_saved_bytes(model, x):
    """Bytes of the storages autograd saves in one forward pass, parameters
    excluded, each storage once."""
    params = {p.data_ptr() for p in model.parameters()}
    storages = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr() if hasattr(t, "untyped_storage") else t.storage().data_ptr()
        size = (t.untyped_storage().nbytes() if hasattr(t, "untyped_storage")
                else t.storage().size() * t.element_size())
        if ptr not in params:
            storages[ptr] = max(storages.get(ptr, 0), size)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        scores = model(x)
        loss = nn.functional.cross_entropy(scores.reshape(-1, scores.shape[-1]),
                                           torch.zeros(scores[..., 0].numel(), dtype=torch.long))
    del loss
    return sum(storages.values())


def slimtrain_saved_bytes(binary, path, batch):
    out = subprocess.run([binary, "plan", "--model-file", path, "--batch", str(batch), "--strategies", "exact",
                          "--format", "json"], capture_output=True, text=True, check=True)
    plan = json.loads(out.stdout)
    plans = plan.get("plans", plan if isinstance(plan, list) else [plan])
    return int(plans[0]["saved_activation_bytes"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--slimtrain", default="bazel-bin/client/slimtrain")
    args = ap.parse_args()
    torch.manual_seed(0)
    models = [("custom_cnn", CustomCnn(), (1, 28, 28)),
              ("resnet18", torchvision.models.resnet18(), (3, 224, 224)),
              ("mobilenet_v2", torchvision.models.mobilenet_v2(), (3, 224, 224)),
              ("efficientnet_b0", torchvision.models.efficientnet_b0(stochastic_depth_prob=0.0), (3, 224, 224)),
              ("vit_encoder", VitEncoder(), (3, 16, 16)),
              ("gpt_block", GptBlock(), (16,))]
    print(f"batch {args.batch}, float32, training mode; saved-for-backward activations, parameters excluded\n")
    print(f"{'model':<14} {'PyTorch bytes':>14} {'slimtrain bytes':>16} {'difference':>12} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, shape in models:
            model.train()
            path = os.path.join(tmp, name + ".onnx")
            ids = name == "gpt_block"  # token ids, not pixels
            sample = (lambda n: torch.randint(0, 50, (n, *shape))) if ids else (lambda n: torch.randn(n, *shape))
            torch.onnx.export(model, sample(2), path, opset_version=13,
                              training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False,
                              input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
            ours = slimtrain_saved_bytes(args.slimtrain, path, args.batch)
            theirs = pytorch_saved_bytes(model, sample(args.batch))
            print(f"{name:<14} {theirs:>14,} {ours:>16,} {theirs - ours:>12,} {ours / theirs:>6.3f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
