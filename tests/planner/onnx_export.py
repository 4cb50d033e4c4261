#!/usr/bin/python3
"""Exports PyTorch models to ONNX for tests/planner/onnx_torch_test.

  /usr/bin/python3 tests/planner/onnx_export.py OUT_DIR

Writes OUT_DIR/<name>.onnx for each model, in training mode (so batch norm
and dropout stay, as slimtrain trains them), opset 13, the batch axis
symbolic, and OUT_DIR/<name>.json: a fixed input (2 examples, seeded; token ids for the embedding model) and
PyTorch's inference-mode logits for it, flat in row-major order. Prints
one JSON line per model: {"name", "file", "reference", "parameters"}
(PyTorch's count, each shared tensor once). With --gradients, also one
training step's gradients: the mean cross-entropy of the fixed input
against fixed labels, in training mode with dropout off (so both sides see
the same function), written as OUT_DIR/<name>.grad (the state_dict's
trainable tensors in order) indexed by "labels", "dtype" and "gradients":
[{"name", "shape"}] in the JSON file. The small models' in float32; the
torchvision models' in float64 (a deep ReLU network's float32 gradient
depends on which near-zero pre-activations round to which side, so two
float32 implementations may differ by far more than 1e-3 where one
element flips; float64 compares the functions themselves). Exits 77 when
Debian's python3-torch is missing (tools/setup.sh --bench installs it).
"""
import json
import os
import sys

try:
    import torch
    import torch.nn as nn
    import torchvision
except ImportError as e:
    print(f"onnx_export: {e}: install python3-torch (tools/setup.sh --bench)", file=sys.stderr)
    sys.exit(77)


class CustomCnn(nn.Module):
    """A small CNN with max-pool and dropout, non-square kernels."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, (3, 1), stride=(2, 1), padding=(1, 0), bias=False)
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout(0.25)
        self.fc = nn.Linear(16 * 7 * 14, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc(self.drop(torch.flatten(x, 1)))


def main():
    out = sys.argv[1]
    gradients = "--gradients" in sys.argv[2:]
    torch.manual_seed(0)
    models = [("custom_cnn", CustomCnn(), (2, 1, 28, 28)),
              ("gelu_mlp", nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4)), (2, 8)),
              ("embedding_mlp", nn.Sequential(nn.Embedding(20, 8), nn.Flatten(), nn.Linear(40, 3)), (2, 5)),
              ("resnet18", torchvision.models.resnet18(), (2, 3, 224, 224)),
              ("mobilenet_v2", torchvision.models.mobilenet_v2(), (2, 3, 224, 224))]
    small = {"custom_cnn", "gelu_mlp", "embedding_mlp"}  # float32 gradients
    for name, model, shape in models:
        model.train()
        path = os.path.join(out, name + ".onnx")
        ids = isinstance(model[0], nn.Embedding) if isinstance(model, nn.Sequential) else False
        sample = torch.randint(0, 20, shape) if ids else torch.randn(*shape)
        torch.onnx.export(model, sample, path, opset_version=13,
                          training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
        params = sum(p.numel() for p in model.parameters())
        model.eval()
        x = (torch.randint(0, 20, shape, generator=torch.Generator().manual_seed(7)) if ids
             else torch.randn(*shape, generator=torch.Generator().manual_seed(7)))
        with torch.no_grad():
            logits = model(x)
        reference = os.path.join(out, name + ".json")
        record = {"input": x.flatten().float().tolist(), "logits": logits.flatten().tolist()}
        if gradients:
            dtype = torch.float32 if name in small else torch.float64
            model = model.to(dtype)
            if not ids:
                x = x.to(dtype)
            model.train()
            for m in model.modules():
                if isinstance(m, nn.Dropout):
                    m.p = 0.0
            labels = torch.arange(shape[0]) % logits.shape[1]
            model.zero_grad()
            loss = nn.functional.cross_entropy(model(x), labels)
            loss.backward()
            record["train_loss"] = loss.item()
            index = []
            with open(os.path.join(out, name + ".grad"), "wb") as g:
                for pname, p in model.named_parameters():
                    g.write(p.grad.detach().contiguous().numpy().astype("<f4" if dtype == torch.float32 else "<f8")
                            .tobytes())
                    index.append({"name": pname, "shape": list(p.shape)})
            record["labels"] = labels.tolist()
            record["dtype"] = "f32" if dtype == torch.float32 else "f64"
            record["gradients"] = index
        with open(reference, "w") as f:
            json.dump(record, f)
        print(json.dumps({"name": name, "file": path, "reference": reference, "parameters": params}), flush=True)


if __name__ == "__main__":
    main()
