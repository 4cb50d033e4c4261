#!/usr/bin/python3
"""Exports PyTorch models to ONNX for tests/planner/onnx_torch_test.

  /usr/bin/python3 tests/planner/onnx_export.py OUT_DIR [--gradients] [--opset=13] [--only=a,b]

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

  /usr/bin/python3 tests/planner/onnx_export.py --load NAME W.safetensors

loads weights slimtrain exported for model NAME into a fresh PyTorch module
with load_state_dict(strict=True) (exit 0 when every name and shape matched).
"""
import json
import math
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


class UpsampleCnn(nn.Module):
    """A small encoder-decoder: max-pool down, nearest and bilinear
    upsampling (to a factor, to a size with align_corners), a skip
    concatenation, and a sum over the image (ReduceSum)."""

    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(1, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.pool = nn.MaxPool2d(2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.mix = nn.Conv2d(12, 6, 3, padding=1)
        self.resize = nn.Upsample(size=(14, 14), mode="bilinear", align_corners=True)
        self.smooth = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.fc = nn.Linear(6, 5)

    def forward(self, x):
        skip = torch.relu(self.bn(self.down(x)))
        y = torch.cat([self.up(self.pool(skip)), skip], 1)
        y = self.smooth(self.resize(torch.tanh(self.mix(y))))
        return self.fc(y.sum(dim=(2, 3)) / 784)


class SequenceFirstEncoder(nn.Module):
    """nn.TransformerEncoder in its default layout (batch_first=False): the
    model transposes its (N, L) tokens' embeddings to (L, N, E) and averages
    over L."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 16)
        self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, dropout=0.1), 1)
        self.fc = nn.Linear(16, 3)

    def forward(self, ids):
        return self.fc(self.enc(self.emb(ids).transpose(0, 1)).mean(0))


class VitEncoder(nn.Module):
    """A small ViT: patches by a strided conv, a class token, learned
    positions, nn.TransformerEncoderLayer (batch_first, pre-norm, GELU)."""

    def __init__(self, d=32, heads=4, layers=2, classes=10, patch=4, image=16):
        super().__init__()
        self.patch = nn.Conv2d(3, d, patch, stride=patch)
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, heads, 2 * d, dropout=0.1, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        return self.head(self.norm(self.encoder(x)[:, 0]))


class GptBlock(nn.Module):
    """nanoGPT's block (causal self-attention by hand, masked_fill of a
    tril buffer, GELU MLP) between token and position embeddings."""

    def __init__(self, vocabulary=50, length=16, d=32, heads=4):
        super().__init__()
        self.heads = heads
        self.wte = nn.Embedding(vocabulary, d)
        self.wpe = nn.Embedding(length, d)
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.attn_drop = nn.Dropout(0.1)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)
        self.lnf = nn.LayerNorm(d)
        self.lm = nn.Linear(d, vocabulary, bias=False)
        self.register_buffer("mask", torch.tril(torch.ones(length, length)).view(1, 1, length, length))

    def forward(self, idx):
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(torch.arange(T))
        C = x.shape[2]
        q, k, v = self.attn(self.ln1(x)).split(C, dim=2)
        q = q.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        k = k.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        v = v.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = self.attn_drop(att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf")).softmax(-1))
        x = x + self.proj((att @ v).transpose(1, 2).contiguous().view(B, T, C))
        x = x + self.fc2(nn.functional.gelu(self.fc(self.ln2(x))))
        return self.lm(self.lnf(x))


def make_models():
    """(name, model, input shape with the batch) of every model exported."""
    torch.manual_seed(0)
    models = [("custom_cnn", CustomCnn(), (2, 1, 28, 28)),
              ("gelu_mlp", nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4)), (2, 8)),
              ("embedding_mlp", nn.Sequential(nn.Embedding(20, 8), nn.Flatten(), nn.Linear(40, 3)), (2, 5)),
              ("resnet18", torchvision.models.resnet18(), (2, 3, 224, 224)),
              ("mobilenet_v2", torchvision.models.mobilenet_v2(), (2, 3, 224, 224)),
              # torchvision's EfficientNet-B0 without stochastic depth (a
              # random op in training), at 64x64 to keep the float64 step short.
              ("efficientnet_b0", torchvision.models.efficientnet_b0(stochastic_depth_prob=0.0), (2, 3, 64, 64)),
              # max-pool with ceil_mode (squeezenet), zero Pad and one-input
              # Concat exports (densenet), small for the float64 step (but not so
              # small that the last batch norms see 2 values a channel).
              ("squeezenet1_1", torchvision.models.squeezenet1_1(), (2, 3, 64, 64)),
              ("densenet121", torchvision.models.densenet121(), (2, 3, 64, 64)),
              # LayerNorm and linears over (H, W, C), a per-channel layer scale.
              ("convnext_tiny", torchvision.models.convnext_tiny(stochastic_depth_prob=0.0), (2, 3, 32, 32)),
              ("vit_encoder", VitEncoder(), (2, 3, 16, 16)),
              ("upsample_cnn", UpsampleCnn(), (2, 1, 10, 10)),
              ("gpt_block", GptBlock(), (2, 16)),
              ("sequence_first_encoder", SequenceFirstEncoder(), (2, 7))]
    return models


def read_safetensors(path):
    """A safetensors file as (state_dict, __metadata__) (float and int64 tensors)."""
    import struct
    import numpy as np
    raw = open(path, "rb").read()
    size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + size])
    data = raw[8 + size:]
    types = {"F32": np.float32, "F64": np.float64, "I64": np.int64}
    state = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        begin, end = t["data_offsets"]
        state[name] = torch.from_numpy(np.frombuffer(data[begin:end], dtype=types[t["dtype"]])
                                       .reshape(t["shape"]).copy())
    return state, header.get("__metadata__", {})


def load_check(name, weights):
    """Loads slimtrain's exported weights into a fresh PyTorch module of the
    model strictly; exit 0 when every key and shape matched. A buffer the
    export folded into a constant (the nanoGPT block's causal mask) is not a
    parameter of slimtrain's model, so not in its weights: the only keys
    allowed to be missing (the module keeps its own)."""
    model = dict((n, m) for n, m, _ in make_models())[name]
    state = read_safetensors(weights)[0]
    constants = {k for k, _ in model.named_buffers()
                 if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    for k in constants - set(state):
        state[k] = model.state_dict()[k]
    result = model.load_state_dict(state, strict=True)
    kept = sorted(constants - set(read_safetensors(weights)[0]))
    print(f"{name}: {result}" + (f" (the module's own constant buffers: {', '.join(kept)})" if kept else ""))
    return 0


def main():
    if sys.argv[1] == "--load":
        return load_check(sys.argv[2], sys.argv[3])
    out = sys.argv[1]
    gradients = "--gradients" in sys.argv[2:]
    flags = dict(a.split("=", 1) for a in sys.argv[2:] if "=" in a)
    opset = int(flags.get("--opset", "13"))
    only = set(flags["--only"].split(",")) if "--only" in flags else None
    models = make_models()
    small = {"custom_cnn", "gelu_mlp", "embedding_mlp", "vit_encoder", "gpt_block", "upsample_cnn",
             "sequence_first_encoder"}  # float32 gradients
    vocabularies = {"embedding_mlp": 20, "gpt_block": 50, "sequence_first_encoder": 30}  # token models
    for name, model, shape in models:
        if only is not None and name not in only:
            continue
        model.train()
        path = os.path.join(out, name + ".onnx")
        ids = name in vocabularies
        vocabulary = vocabularies.get(name, 0)
        sample = torch.randint(0, vocabulary, shape) if ids else torch.randn(*shape)
        torch.onnx.export(model, sample, path, opset_version=opset,
                          training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
        params = sum(p.numel() for p in model.parameters())
        model.eval()
        x = (torch.randint(0, vocabulary, shape, generator=torch.Generator().manual_seed(7)) if ids
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
                if isinstance(m, nn.MultiheadAttention):
                    m.dropout = 0.0
            model.zero_grad()
            scores = model(x)
            # A label per example, or per position for a sequence of logits.
            labels = torch.arange(scores[..., 0].numel()).reshape(scores.shape[:-1]) % scores.shape[-1]
            loss = nn.functional.cross_entropy(scores.reshape(-1, scores.shape[-1]), labels.reshape(-1))
            loss.backward()
            record["train_loss"] = loss.item()
            index = []
            with open(os.path.join(out, name + ".grad"), "wb") as g:
                for pname, p in model.named_parameters():
                    g.write(p.grad.detach().contiguous().numpy().astype("<f4" if dtype == torch.float32 else "<f8")
                            .tobytes())
                    index.append({"name": pname, "shape": list(p.shape)})
            record["labels"] = labels.reshape(-1).tolist()
            record["dtype"] = "f32" if dtype == torch.float32 else "f64"
            record["gradients"] = index
        with open(reference, "w") as f:
            json.dump(record, f)
        print(json.dumps({"name": name, "file": path, "reference": reference, "parameters": params}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
