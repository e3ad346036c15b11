"""The yardstick for whole-process speed: a script that only does what any attention tool must.

    python -m benchmarks.bare_forward MODEL_DIR IMAGES_DIR [--batch-size 8] [--device cpu]
        [--onednn-linears]

It imports torch and transformers, loads the checkpoint with eager attention, preprocesses the
images with the checkpoint's own processor and forwards them in batches with attentions,
keeping each layer's CLS row. Nothing is written. ``reportgen build`` is timed against this
script as a whole process (imports and model load included), see ``benchmarks/run.py``.
``--onednn-linears`` multiplies the linear layers through oneDNN as ``reportgen build`` does
(:mod:`reportgen.analysis.kernels`): the same forward pass as the build's, so that the build's
time over this script's is the report's own work.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bare_forward")
    parser.add_argument("model", type=Path, help="a save_pretrained folder")
    parser.add_argument("images", type=Path, help="folder of images")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--onednn-linears", action="store_true")
    args = parser.parse_args(argv)

    import torch
    import transformers
    from PIL import Image

    transformers.utils.logging.set_verbosity_error()
    processor = transformers.AutoImageProcessor.from_pretrained(args.model)
    config = transformers.AutoConfig.from_pretrained(args.model)
    classifier = any("ForImageClassification" in name for name in config.architectures or [])
    auto = transformers.AutoModelForImageClassification if classifier else transformers.AutoModel
    model = auto.from_pretrained(args.model, attn_implementation="eager")
    model.eval().to(args.device)
    if args.onednn_linears:
        from reportgen.analysis.kernels import use_onednn_linears

        use_onednn_linears(model, args.device)
    paths = sorted(path for path in args.images.iterdir() if path.is_file())
    kept = 0
    for start in range(0, len(paths), args.batch_size):
        images = [
            Image.open(path).convert("RGB") for path in paths[start : start + args.batch_size]
        ]
        pixels = processor(images=images, return_tensors="pt")["pixel_values"].to(args.device)
        with torch.inference_mode():
            attentions = model(pixel_values=pixels, output_attentions=True).attentions
        cls_rows = torch.stack([layer[:, :, 0, :] for layer in attentions], dim=1).cpu()
        kept += cls_rows.shape[0]
    print(f"{kept} images forwarded", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
