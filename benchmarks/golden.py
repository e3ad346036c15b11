"""Golden builds: a restructuring of reportgen must not change one byte of what it publishes.

    python -m benchmarks.golden record DIR [--only example|tiny]   build the goldens into DIR
    python -m benchmarks.golden check DIR [--only example|tiny]    build again, compare with DIR

Two reports go into one site, in every flavour (html, jekyll, gfm): ``example``, the example
images with the offline model and the Makefile's example options (faithfulness, galleries, a
page per image), and ``tiny``, 200 images (195 photo variants and 5 noise images) with a tiny
random ViT classifier, galleries and image pages, under a title with markup in it. Each build
runs the package and templates of this working tree (committed or not) from a copy without
``.git``, so the recorded commit is empty on both sides, with a fresh cache. Record with the
code before a change and check with the code after it, on the same machine and libraries:
floats may differ in their last digits from one CPU to the next. ``check`` lists every file
that is missing, new or different, and exits 1 if there is one.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.run import EXAMPLES, OFFLINE, TINY, random_images, save_random_vit
from benchmarks.run import synthesise_images as photo_variants

ROOT = Path(__file__).resolve().parent.parent
DATE = "2026-11-24"
# the Makefile's EXAMPLE_OPTIONS
EXAMPLE_OPTIONS = "--faithfulness --faithfulness-images 8 --gallery-threshold 10 --typical 1"
EXAMPLE_OPTIONS += " --page-size 6"
REPORTS = {
    "example": ["--title", "Where a Vision Transformer looks: example photos"],
    "tiny": ["--title", "Golden <b>{{ tiny }}</b> & *friends*", "--page-size", "40"],
}


def package_copy(target: Path) -> Path:
    """reportgen/ and templates/ of the working tree (tracked and untracked, not ignored)."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "reportgen", "templates"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in listed:
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / name, target / name)
    return target


def inputs(folder: Path) -> tuple[Path, Path]:
    """The tiny model and the 200 images, made once and reused by ``check``."""
    model, images = folder / "tiny-vit", folder / "tiny-images"
    if not model.is_dir():
        save_random_vit(model, TINY)
    if not images.is_dir():
        photo_variants(images, 195, max_side=96)
        random_images(images, 5)
    return model, images


def build(site: Path, only: str | None, model: Path, images: Path) -> None:
    """Build the golden reports into ``site`` with this working tree's code."""
    with tempfile.TemporaryDirectory(prefix="reportgen-golden-") as work:
        source = package_copy(Path(work) / "src")
        env = {**os.environ, "PYTHONPATH": str(source), "REPORTGEN_CACHE_DIR": f"{work}/cache"}
        runs = {
            "example": [EXAMPLES, "--labels-from-folders", "--model", OFFLINE]
            + EXAMPLE_OPTIONS.split(),
            "tiny": [images, "--model", model, "--gallery-threshold", "20", "--typical", "2"],
        }
        for slug, arguments in runs.items():
            if only and slug != only:
                continue
            command = [sys.executable, "-m", "reportgen.cli", "build", *arguments, *REPORTS[slug]]
            command += ["--out", site, "--slug", slug, "--date", DATE, "--device", "cpu"]
            print(f"building {slug} ...", flush=True)
            subprocess.run([str(part) for part in command], cwd=source, env=env, check=True)


def differences(golden: Path, built: Path) -> list[str]:
    """Files missing from ``built``, new in it, or with other bytes, as lines."""
    lines = []

    def walk(compared: filecmp.dircmp, prefix: str) -> None:
        lines.extend(f"missing  {prefix}{name}" for name in sorted(compared.left_only))
        lines.extend(f"new      {prefix}{name}" for name in sorted(compared.right_only))
        _, mismatch, errors = filecmp.cmpfiles(
            compared.left, compared.right, compared.common_files, shallow=False
        )
        lines.extend(f"changed  {prefix}{name}" for name in sorted(mismatch + errors))
        for name, sub in sorted(compared.subdirs.items()):
            walk(sub, f"{prefix}{name}/")

    walk(filecmp.dircmp(golden, built), "")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["record", "check"])
    parser.add_argument("folder", type=Path, help="where the goldens and their inputs are kept")
    parser.add_argument("--only", choices=sorted(REPORTS), help="build only this report")
    args = parser.parse_args(argv)
    folder = args.folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    model, images = inputs(folder)
    golden = folder / "site"
    if args.action == "record":
        shutil.rmtree(golden, ignore_errors=True)
        build(golden, args.only, model, images)
        print(f"golden builds recorded in {golden}")
        return 0
    with tempfile.TemporaryDirectory(prefix="reportgen-golden-check-") as work:
        built = Path(work) / "site"
        build(built, args.only, model, images)
        if args.only:  # compare that report alone
            golden, built = golden / "reports" / args.only, built / "reports" / args.only
        lines = differences(golden, built)
    print("\n".join(lines) if lines else "byte-identical: every file equals its golden")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
