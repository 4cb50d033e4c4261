#!/usr/bin/python3
"""PyTorch's side of bench/export_check.sh: slimtrain's exported weights load
into torchvision's model with load_state_dict(strict=True) and give the same
logits as slimtrain's own inference.

  /usr/bin/python3 bench/export_check.py resnet18 DIR

Reads DIR/weights.safetensors (parsed here: Debian has no python3-safetensors),
DIR/input.f32 and DIR/logits.f32; exits 1 when the logits differ by more than
1e-4 (absolute, or relative to their scale).
"""
import json
import struct
import sys

import numpy as np
import torch
import torchvision

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(body[begin:end]), dtype=DTYPES[info["dtype"]])
        tensors[name] = t.reshape(info["shape"]).clone()
    return tensors


def main(model_name, folder):
    model = getattr(torchvision.models, model_name)()
    state = load_safetensors(folder + "/weights.safetensors")
    model.load_state_dict(state, strict=True)
    model.eval()
    want = np.fromfile(folder + "/logits.f32", dtype=np.float32)
    x = torch.from_numpy(np.fromfile(folder + "/input.f32", dtype=np.float32))
    x = x.reshape(want.size // 1000, 3, 224, 224)
    with torch.no_grad():
        got = model(x).numpy().reshape(-1)
    diff = float(np.max(np.abs(got - want)))
    scale = float(np.max(np.abs(want)))
    ok = diff <= 1e-4 or diff <= 1e-4 * scale
    print(f"pytorch {torch.__version__}, torchvision {torchvision.__version__}: load_state_dict(strict=True) ok "
          f"({len(state)} tensors); logits max |difference| {diff:.3g} (largest logit {scale:.3g}): "
          f"{'within' if ok else 'OUTSIDE'} 1e-4")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
