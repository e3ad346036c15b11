"""The peer of ``benchmarks.peer``: fast-vit-rollout computing rollout only, as its README shows.

    /work/venv-peer/bin/python benchmarks/peer_rollout.py WEIGHTS IMAGES_DIR [--batch-size 8]
    /work/venv-peer/bin/python benchmarks/peer_rollout.py WEIGHTS --check PIXELS.npy LOGITS.npy

Runs in the peer's own environment (timm, torchvision, fast-vit-rollout; never reportgen's). It
imports them, builds timm's ``vit_base_patch16_224`` with unfused attention (the package hooks
``attn_drop``), loads ``WEIGHTS`` (the random HF ViT-B/16 of the benchmark, converted by
``benchmarks.peer``), preprocesses each image as the HF processor does (224 x 224, mean and std
0.5) with torchvision, and computes rollout (mean over heads, no discarding, as reportgen's
default) in batches, keeping each image's CLS row; its layer norms take HF's epsilon. Nothing
is written. ``--check`` prints the largest difference between timm's logits and the HF model's
on the same pixels instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="peer_rollout.py")
    parser.add_argument("weights", type=Path, help="timm state dict (safetensors)")
    parser.add_argument("images", type=Path, nargs="?", help="folder of images")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--check", type=Path, nargs=2, metavar=("PIXELS", "LOGITS"))
    args = parser.parse_args(argv)

    import timm
    import timm.layers
    import torch
    from fast_vit_rollout import ViTAttentionRollout
    from PIL import Image
    from safetensors.torch import load_file
    from torchvision import transforms

    timm.layers.set_fused_attn(False)
    model = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=1000)
    model.load_state_dict(load_file(args.weights))
    for module in model.modules():  # HF ViT's epsilon (timm's is 1e-6): the same function
        if isinstance(module, torch.nn.LayerNorm):
            module.eps = 1e-12
    model.eval()
    if args.check:
        import numpy as np

        pixels, logits = (np.load(path) for path in args.check)
        with torch.inference_mode():
            ours = model(torch.from_numpy(pixels)).numpy()
        print(f"max |logits timm - HF| = {np.abs(ours - logits).max():.3g}")
        return 0
    preprocess = transforms.Compose(
        [
            transforms.Resize((224, 224)),
            transforms.ToTensor(),
            transforms.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
        ]
    )
    rollout = ViTAttentionRollout(model, head_fusion="mean", discard_ratio=0.0)
    paths = sorted(path for path in args.images.iterdir() if path.is_file())
    kept = 0
    for start in range(0, len(paths), args.batch_size):
        batch = torch.stack(
            [
                preprocess(Image.open(path).convert("RGB"))
                for path in paths[start : start + args.batch_size]
            ]
        )
        cls_rows = rollout(batch)[:, 0, 1:]
        kept += cls_rows.shape[0]
    print(f"{kept} rollouts", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
