#!/usr/bin/python3
"""From PyTorch to slimtrain and back: fine-tune a pretrained torchvision
resnet18 on a user's image folder, then load the result into torchvision.

  /usr/bin/python3 tests/client/finetune_roundtrip.py SLIMTRAIN WORKDIR [--steps 200]

1. An image folder from Debian's Fashion-MNIST files: WORKDIR/folder/train/<class>/*.png
   (100 per class) and test/<class>/*.png (50 per class), 28x28 gray PNGs.
2. "Pretrained": torchvision's resnet18(num_classes=10), trained in PyTorch
   for 60 steps on other Fashion-MNIST images (no network here for
   ImageNet's weights; what matters is that slimtrain starts from weights
   PyTorch gave it), exported with torch.onnx.export (training mode, opset
   13, input N x 3 x 32 x 32).
3. `slimtrain train --model-file resnet18.onnx --dataset image-folder` for
   --steps steps (approx4, normalised), `--output` the weights; `slimtrain
   eval` scores them on the test folder.
4. torchvision's resnet18(num_classes=10) loads the weights with
   load_state_dict(strict=True) and scores the same test images, prepared as
   slimtrain does (RGB, bilinear resize to 32x32 rounded, /255, the mean and
   std from the weights' metadata).
Prints one JSON line: both sides' test accuracy and loss, and the strict load. Exits
77 when python3-torch, torchvision or PIL is missing.
"""
import gzip
import json
import os
import struct
import subprocess
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torchvision
    from PIL import Image
except ImportError as e:
    print(f"finetune_roundtrip: {e}: install python3-torch, python3-torchvision, python3-pil "
          "(tools/setup.sh --bench)", file=sys.stderr)
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "planner"))
from onnx_export import read_safetensors  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"
NAMES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]


def idx(path):
    """An IDX file (gzip) as a numpy array."""
    with gzip.open(path) as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def make_folder(root, images, labels, split, per_class, skip=0):
    """Writes the first `per_class` images of each class (after `skip`) as PNGs."""
    taken = {c: 0 for c in range(10)}
    seen = {c: 0 for c in range(10)}
    for i, (image, label) in enumerate(zip(images, labels)):
        label = int(label)
        seen[label] += 1
        if seen[label] <= skip or taken[label] >= per_class:
            continue
        folder = os.path.join(root, split, NAMES[label])
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(image).save(os.path.join(folder, f"{i:05d}.png"))
        taken[label] += 1


def prepare(gray, mean=None, std=None):
    """slimtrain's image-folder input: gray -> RGB, bilinear resize to 32x32
    rounded to 8 bits, / 255, then (x - mean) / std per channel."""
    x = torch.from_numpy(np.asarray(gray, dtype=np.uint8)).float()[None, None].repeat(1, 3, 1, 1)
    x = nn.functional.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False).round() / 255
    if mean is not None:
        x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    return x[0]


def folder_split(root, split):
    """(images, labels) of a folder split in ImageFolder's order (classes sorted)."""
    classes = sorted(os.listdir(os.path.join(root, split)))
    images, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted(os.listdir(os.path.join(root, split, name))):
            images.append(np.asarray(Image.open(os.path.join(root, split, name, file)).convert("L")))
            labels.append(label)
    return images, np.array(labels), classes


def accuracy(model, images, labels, mean=None, std=None):
    """(accuracy, mean cross-entropy) in inference mode."""
    model.eval()
    with torch.no_grad():
        x = torch.stack([prepare(i, mean, std) for i in images])
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, torch.from_numpy(labels)).item()
    return float((logits.argmax(1).numpy() == labels).mean()), loss


def last_json(text):
    """The JSON object that ends `text` (a command's --format json summary)."""
    lines = text.rstrip().splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("{"))
    return json.loads("\n".join(lines[start:]))


def run(args, what):
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"finetune_roundtrip: {what} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}", file=sys.stderr)
        sys.exit(1)
    return r.stdout


def main():
    slimtrain, work = sys.argv[1], sys.argv[2]
    steps = int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else 200
    os.makedirs(work, exist_ok=True)
    folder = os.path.join(work, "folder")
    train_images, train_labels = idx(f"{FASHION}/train-images-idx3-ubyte.gz"), idx(f"{FASHION}/train-labels-idx1-ubyte.gz")
    test_images, test_labels = idx(f"{FASHION}/t10k-images-idx3-ubyte.gz"), idx(f"{FASHION}/t10k-labels-idx1-ubyte.gz")
    make_folder(folder, train_images, train_labels, "train", 100)
    make_folder(folder, test_images, test_labels, "test", 50)
    images, labels, classes = folder_split(folder, "test")

    # 2. Pretraining in PyTorch on images the folder does not hold, labelled as
    # the folder's sorted classes number them.
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    label_of = {NAMES.index(name): i for i, name in enumerate(classes)}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for step in range(60):
        at = 20000 + step * 32
        x = torch.stack([prepare(i) for i in train_images[at:at + 32]])
        y = torch.tensor([label_of[int(v)] for v in train_labels[at:at + 32]])
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    pretrained_accuracy, _ = accuracy(model, images, labels)
    model.train()
    onnx_path = os.path.join(work, "resnet18.onnx")
    torch.onnx.export(model, torch.randn(2, 3, 32, 32), onnx_path, opset_version=13,
                      training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})

    # 3. slimtrain fine-tunes from those weights and scores the result.
    weights = os.path.join(work, "finetuned.safetensors")
    train_out = run([slimtrain, "train", "--model-file", onnx_path, "--dataset", "image-folder", "--data-dir", folder,
                     "--steps", str(steps), "--batch", "32", "--lr", "0.01", "--weight-decay", "0",
                     "--strategy", "approx4", "--normalize", "--output", weights, "--format", "json"], "slimtrain train")
    eval_out = run([slimtrain, "eval", "--model-file", onnx_path, "--weights", weights, "--dataset", "image-folder",
                    "--data-dir", folder, "--format", "json"], "slimtrain eval")
    slimtrain_eval = last_json(eval_out)

    # 4. Back into torchvision, strictly, scored on the same images.
    state, metadata = read_safetensors(weights)
    back = torchvision.models.resnet18(num_classes=10)
    strict = back.load_state_dict(state, strict=True)
    mean, std = json.loads(metadata["mean"]), json.loads(metadata["std"])
    torch_accuracy, torch_loss = accuracy(back, images, labels, mean, std)
    print(json.dumps({
        "steps": steps, "examples": int(len(labels)), "classes": classes,
        "stored_classes": json.loads(metadata.get("classes", "[]")),
        "pretrained_pytorch_accuracy": pretrained_accuracy,
        "slimtrain_accuracy": slimtrain_eval["accuracy"],
        "pytorch_accuracy": torch_accuracy,
        "slimtrain_loss": slimtrain_eval["loss"],
        "pytorch_loss": torch_loss,
        "strict_load": str(strict),
        "train_summary": last_json(train_out),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
