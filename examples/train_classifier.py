"""Make the example's tiny classifier offline: a linear head on the offline DINOv2-S backbone.

The example site's labelled report needs a classifier whose class names match the example's
class folders, and the HuggingFace Hub is out of reach. This script fits a linear head, on the
backbone's own classifier input (the final [CLS] token next to the mean patch token, as
``Dinov2ForImageClassification`` computes it), to the images of HALF of each class folder
(every other image in name order), and saves backbone and head as one checkpoint that
``reportgen build --model FOLDER`` loads. The other half was never seen in training, so the
report's "correct against wrong" section has something to compare; the report says so.

    python examples/train_classifier.py examples/images OUT_FOLDER
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import transformers
from PIL import Image

from reportgen.analysis.offline import offline_model_dir
from reportgen.analysis.sources.folder import image_extensions
from reportgen.store import default_cache_dir

STEPS = 200  # full-batch L-BFGS iterations: the fit converges long before
WEIGHT_DECAY = 1e-2  # keeps the head from leaning on a few feature dimensions


def labelled_images(root: Path) -> list[tuple[Path, str]]:
    """(image, class folder name) for every image one level below ``root``, in name order."""
    extensions = image_extensions()
    return [
        (path, folder.name)
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        for path in sorted(folder.iterdir())
        if path.suffix.lower() in extensions
    ]


def training_half(images: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    """Every other image of each class, starting with its first."""
    seen: dict[str, int] = {}
    chosen = []
    for path, label in images:
        if seen.get(label, 0) % 2 == 0:
            chosen.append((path, label))
        seen[label] = seen.get(label, 0) + 1
    return chosen


def features(backbone_dir: Path, paths: list[Path]) -> torch.Tensor:
    """The classifier input of Dinov2ForImageClassification for each image."""
    processor = transformers.AutoImageProcessor.from_pretrained(backbone_dir)
    backbone = transformers.Dinov2Model.from_pretrained(backbone_dir).eval()
    pixels = processor([Image.open(path).convert("RGB") for path in paths], return_tensors="pt")
    with torch.no_grad():
        tokens = backbone(**pixels).last_hidden_state
    return torch.cat([tokens[:, 0], tokens[:, 1:].mean(dim=1)], dim=1)


def fit_head(inputs: torch.Tensor, targets: torch.Tensor, classes: int) -> torch.nn.Linear:
    """Multinomial logistic regression, deterministic (full batch, fixed seed)."""
    torch.manual_seed(0)
    head = torch.nn.Linear(inputs.shape[1], classes)
    optimiser = torch.optim.LBFGS(head.parameters(), max_iter=STEPS)

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        value = torch.nn.functional.cross_entropy(head(inputs), targets)
        value = value + WEIGHT_DECAY * head.weight.square().sum()
        value.backward()
        return value

    optimiser.step(loss)
    return head


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", type=Path, help="a folder of class folders")
    parser.add_argument("out", type=Path, help="where to save the classifier checkpoint")
    args = parser.parse_args(argv)
    transformers.utils.logging.set_verbosity_error()  # the head is new on purpose: no warning
    backbone_dir = offline_model_dir("offline:dinov2-small", default_cache_dir())
    images = labelled_images(args.images)
    names = sorted({label for _, label in images})
    training = training_half(images)
    inputs = features(backbone_dir, [path for path, _ in training])
    targets = torch.tensor([names.index(label) for _, label in training])
    head = fit_head(inputs, targets, len(names))

    config = transformers.Dinov2Config.from_pretrained(
        backbone_dir,
        id2label=dict(enumerate(names)),
        label2id={name: index for index, name in enumerate(names)},
        architectures=["Dinov2ForImageClassification"],
    )
    model = transformers.Dinov2ForImageClassification.from_pretrained(backbone_dir, config=config)
    model.classifier.load_state_dict(head.state_dict())
    model.save_pretrained(args.out, safe_serialization=True)
    transformers.AutoImageProcessor.from_pretrained(backbone_dir).save_pretrained(args.out)
    trained_on = [path.relative_to(args.images).as_posix() for path, _ in training]
    (args.out / "training.json").write_text(json.dumps({"trained_on": trained_on}, indent=1))
    print(f"saved {args.out}: {len(names)} classes, head fitted on {len(training)} images")


if __name__ == "__main__":
    sys.exit(main())
