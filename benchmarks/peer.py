"""Whole-process ``reportgen build`` against the fastest maps-only peer and the bare script.

    python -m benchmarks.peer [--images 96] [--rounds 3] [--peer-python /work/venv-peer/bin/python]

On the same ``--images`` ViT-B-sized images (the example photos, flipped, cropped and turned:
``benchmarks.run.synthesise_images``), one round runs three whole processes, each from exec to
exit, in an order that turns every round:

- ``reportgen build`` of a random ViT-B/16 (HF, eager attention) into a new site, cold (a fresh
  copy of a cache holding only the installed model);
- the peer, ``fast-vit-rollout`` computing rollout only (``benchmarks/peer_rollout.py``), on the
  timm twin of the same model (the weights converted; the largest logit difference is printed);
- the bare script (``benchmarks.bare_forward``): load, preprocess, forward with attentions;
- the bare script with the build's oneDNN linear layers (``--onednn-linears``,
  :mod:`reportgen.analysis.kernels`): the build's own forward pass, so that build against it is
  what the report's work costs.

It prints the median of each and the speed ratios build/peer (peer seconds over build seconds:
>= 1.0 is as fast as the peer), build/bare and build/bare-onednn, with the load average before
and after (the machine may be shared), and the same of the CPU seconds each used (user and
system, of every process it started: the build's worker processes too), which vary less than
wall time on a shared machine and say how much work each does. The peer needs its own
environment with torch, torchvision, timm and fast-vit-rollout (``--peer-python``);
fast-vit-rollout cannot hook HF ViT under transformers 5.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import speed
from benchmarks.run import VIT_B, save_random_vit, synthesise_images

PEER_PYTHON = Path("/work/venv-peer/bin/python")
PEER_SCRIPT = Path(__file__).resolve().parent / "peer_rollout.py"


def timm_state_dict(hf_model_dir: Path) -> dict:
    """The weights of an HF ``ViTForImageClassification`` (transformers 5 names) under timm's
    ``VisionTransformer`` names (query, key and value stacked into one ``qkv``)."""
    import torch
    import transformers

    model = transformers.ViTForImageClassification.from_pretrained(hf_model_dir)
    hf = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    embeddings = "vit.embeddings."
    converted = {
        "cls_token": hf[embeddings + "cls_token"],
        "pos_embed": hf[embeddings + "position_embeddings"],
        "patch_embed.proj.weight": hf[embeddings + "patch_embeddings.projection.weight"],
        "patch_embed.proj.bias": hf[embeddings + "patch_embeddings.projection.bias"],
        "norm.weight": hf["vit.layernorm.weight"],
        "norm.bias": hf["vit.layernorm.bias"],
        "head.weight": hf["classifier.weight"],
        "head.bias": hf["classifier.bias"],
    }
    renamed = {
        "norm1": "layernorm_before",
        "attn.proj": "attention.o_proj",
        "norm2": "layernorm_after",
        "mlp.fc1": "mlp.fc1",
        "mlp.fc2": "mlp.fc2",
    }
    for layer in range(model.config.num_hidden_layers):
        ours, theirs = f"blocks.{layer}.", f"vit.layers.{layer}."
        for kind in ("weight", "bias"):
            converted[ours + f"attn.qkv.{kind}"] = torch.cat(
                [hf[theirs + f"attention.{part}_proj.{kind}"] for part in "qkv"]
            )
            for timm_name, hf_name in renamed.items():
                converted[ours + f"{timm_name}.{kind}"] = hf[theirs + f"{hf_name}.{kind}"]
    return {name: tensor.contiguous() for name, tensor in converted.items()}


def check_twin(hf_model_dir: Path, weights: Path, peer_python: Path, work: Path) -> str:
    """The peer's line saying how far timm's logits are from the HF model's on random pixels."""
    import numpy as np
    import torch
    import transformers

    model = transformers.ViTForImageClassification.from_pretrained(
        hf_model_dir, attn_implementation="eager"
    ).eval()
    pixels = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    with torch.inference_mode():
        logits = model(pixel_values=torch.from_numpy(pixels)).logits.numpy()
    np.save(work / "pixels.npy", pixels)
    np.save(work / "logits.npy", logits)
    command = [peer_python, PEER_SCRIPT, weights, "--check", work / "pixels.npy"]
    command.append(work / "logits.npy")
    done = subprocess.run([str(part) for part in command], check=True, capture_output=True)
    return done.stdout.decode().strip()


def measure(images: int, rounds: int, batch_size: int, peer_python: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="reportgen-peer-") as temp:
        work = Path(temp)
        folder = synthesise_images(work / "images", images)
        spec = str(save_random_vit(work / "vit-b", VIT_B))
        from safetensors.torch import save_file

        weights = work / "timm-vit-b.safetensors"
        save_file(timm_state_dict(Path(spec)), weights)
        twin = check_twin(Path(spec), weights, peer_python, work)
        installed = work / "installed-cache"
        model_dir = speed.install_model(spec, installed)
        peer_command = [peer_python, PEER_SCRIPT, weights, folder, "--batch-size", batch_size]
        commands = {
            "build": lambda: speed.cold_build_command(spec, folder, work, installed, batch_size),
            "peer": lambda: peer_command,
            "bare": lambda: speed.bare_command(model_dir, folder, batch_size),
            "bare-onednn": lambda: speed.bare_command(model_dir, folder, batch_size, onednn=True),
        }
        wall: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        load_before = os.getloadavg()
        order = list(commands)
        for _ in range(rounds):
            for name in order:
                seconds, cpu_seconds = speed.process_times(commands[name]())
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
                print(f"{name}: {seconds:.1f} s, {cpu_seconds:.1f} s CPU", file=sys.stderr)
            order = order[1:] + order[:1]
        load_after = os.getloadavg()
    median = {name: statistics.median(values) for name, values in wall.items()}
    median_cpu = {name: statistics.median(values) for name, values in cpu.items()}
    return {
        "images": images,
        "batch_size": batch_size,
        "rounds": rounds,
        "seconds": wall,
        "cpu_seconds": cpu,
        "median_s": median,
        "median_cpu_s": median_cpu,
        "build_over_peer": median["peer"] / median["build"],
        "build_over_bare": median["bare"] / median["build"],
        "build_over_bare_onednn": median["bare-onednn"] / median["build"],
        "build_over_peer_cpu": median_cpu["peer"] / median_cpu["build"],
        "build_over_bare_cpu": median_cpu["bare"] / median_cpu["build"],
        "build_over_bare_onednn_cpu": median_cpu["bare-onednn"] / median_cpu["build"],
        "twin": twin,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "cores": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peer")
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--peer-python", type=Path, default=PEER_PYTHON)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    results = measure(args.images, args.rounds, args.batch_size, args.peer_python)
    median = results["median_s"]
    print(f"timm twin: {results['twin']}")
    print(
        f"{results['images']} images, median of {results['rounds']} alternating rounds: build "
        f"{median['build']:.1f} s, fast-vit-rollout {median['peer']:.1f} s, bare "
        f"{median['bare']:.1f} s, bare with oneDNN linears {median['bare-onednn']:.1f} s; "
        f"load average {results['load_average_before'][0]:.1f} before, "
        f"{results['load_average_after'][0]:.1f} after, {results['cores']} cores"
    )
    cpu = results["median_cpu_s"]
    print(
        f"CPU seconds (every process, workers included), median: build {cpu['build']:.1f}, "
        f"fast-vit-rollout {cpu['peer']:.1f}, bare {cpu['bare']:.1f}, "
        f"bare with oneDNN linears {cpu['bare-onednn']:.1f}"
    )
    print(
        f"ratios: build/peer={results['build_over_peer']:.2f} "
        f"build/bare={results['build_over_bare']:.2f} "
        f"build/bare-onednn={results['build_over_bare_onednn']:.2f} "
        f"cpu build/peer={results['build_over_peer_cpu']:.2f} "
        f"cpu build/bare={results['build_over_bare_cpu']:.2f} "
        f"cpu build/bare-onednn={results['build_over_bare_onednn_cpu']:.2f}"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
