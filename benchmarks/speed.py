"""Speed of the analysis as a whole process and stage by stage (part of ``benchmarks.run``).

- ``reportgen build`` against ``benchmarks/bare_forward.py`` as whole processes (interpreter
  start, imports, model load included), alternating, best of ``rounds`` each;
- the throughput of each stage on its own: preprocess (read, hash, decode, processor), forward
  (model and the attention reductions), transfer (host <-> device copies), deliver (finish the
  maps, store the record, draw the figure) on one core;
- figures drawn from stored records by 1 worker and by one worker per core.
"""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PR_SET_CHILD_SUBREAPER = 36


def install_model(spec: str, cache_dir: Path) -> Path:
    """Put the model in ``cache_dir`` as a first use leaves it (weights hash, the converted
    offline model, the model's facts and artifact profile); returns its folder."""
    from reportgen import store
    from reportgen.analysis.analyze import _ModelSession
    from reportgen.analysis.model import resolve

    ref = resolve(spec, cache_dir=cache_dir)
    _ModelSession(ref, "cpu", "float32", store.ContentCache(cache_dir)).loaded()
    return Path(ref.location)


def process_seconds(command: list) -> float:
    """Wall time of a whole process, from exec to exit; it must succeed."""
    start = time.perf_counter()
    subprocess.run([str(part) for part in command], check=True, cwd=ROOT, capture_output=True)
    return time.perf_counter() - start


def process_times(command: list) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of a whole process, from exec to exit; it must
    succeed. The CPU seconds include every process it started: on Linux this process adopts
    their orphans (a child subreaper) and reaps them, so a worker pool's processes, children of
    a fork server that the build does not wait for, count too. CPU seconds vary less than wall
    time on a machine shared with other jobs. Call it where this process has no other children
    (it waits for every child)."""
    _adopt_orphans()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([str(part) for part in command], check=True, cwd=ROOT, capture_output=True)
    wall = time.perf_counter() - start
    while True:  # the orphans adopted, as they exit
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _adopt_orphans() -> None:
    """Become the parent of orphaned descendants (Linux's PR_SET_CHILD_SUBREAPER), so their CPU
    time reaches this process's children's usage; elsewhere nothing changes."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def build_against_bare(
    spec: str, folder: Path, work: Path, batch_size: int, rounds: int, device: str = "cpu"
) -> dict[str, float | list[float]]:
    """Alternate bare script and cold build processes; each build gets a fresh copy of a cache
    holding only the installed model. The ratio is of the best times."""
    installed = work / "installed-cache"
    model_dir = install_model(spec, installed)
    bare, build = [], []
    for _ in range(rounds):
        bare.append(process_seconds(bare_command(model_dir, folder, batch_size, device)))
        build_command = cold_build_command(spec, folder, work, installed, batch_size, device)
        build.append(process_seconds(build_command))
    return {
        "bare_process_s": bare,
        "build_process_s": build,
        "build_over_bare_process": min(bare) / min(build),
    }


def bare_command(
    model_dir: Path, folder: Path, batch_size: int, device: str = "cpu", onednn: bool = False
) -> list:
    """The command of one whole process of :mod:`benchmarks.bare_forward` (``onednn``: with the
    build's oneDNN linear layers)."""
    command = [sys.executable, "-m", "benchmarks.bare_forward", model_dir, folder]
    command += ["--batch-size", batch_size, "--device", device]
    return command + (["--onednn-linears"] if onednn else [])


def cold_build_command(
    spec: str,
    folder: Path,
    work: Path,
    installed: Path,
    batch_size: int,
    device: str = "cpu",
) -> list:
    """The command of a whole ``reportgen build`` into a new site, with a fresh copy of the
    cache ``installed`` (the model installed, nothing else) made now."""
    cache, site = work / "round-cache", work / "round-site"
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(site, ignore_errors=True)
    shutil.copytree(installed, cache)
    return (
        [sys.executable, "-m", "reportgen.cli", "build", folder, "--out", site]
        + ["--model", spec, "--device", device, "--batch-size", batch_size]
        + ["--cache-dir", cache, "--slug", "bench", "--date", "2026-01-01"]
    )


def stage_rates(
    spec: str, folder: Path, batch_size: int, cache_dir: Path, device: str = "cpu"
) -> dict[str, float]:
    """Images per second of each stage alone, on the benchmark's images, in this process."""
    import torch

    def settled() -> float:
        """The clock once the device has finished what was queued."""
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    from reportgen.analysis.engines.base import Job, Made, deliver, intake_batch
    from reportgen.analysis.extract import ExtractOptions, Extractor, batched
    from reportgen.analysis.model import load, resolve
    from reportgen.analysis.sources.folder import FolderSource

    loaded = load(resolve(spec, cache_dir=cache_dir), device)
    extractor = Extractor(loaded)
    with tempfile.TemporaryDirectory(prefix="reportgen-stages-") as temp:
        job = Job(
            model=loaded.ref,
            model_summary=loaded.summary,
            device=device,
            dtype="float32",
            batch_size=batch_size,
            extract=ExtractOptions(),
            result_parts={},
            spread_by="mean",
            maps_dir=Path(temp),
            cache_dir=None,
        )
        items = list(FolderSource(folder).items())
        start = time.perf_counter()
        pin = extractor.transfers.cuda
        batches = [intake_batch(chunk, job, pin) for chunk in batched(items, batch_size)]
        prepared = [batch.prepared for batch in batches]
        preprocess = time.perf_counter() - start

        transfers, forward, transfer = extractor.transfers, 0.0, 0.0
        raws = []
        with torch.inference_mode():
            extractor.forward(transfers.upload(prepared[0].pixels)[0])  # warm-up
            for batch in prepared:
                start = settled()
                pixels = transfers.take(*transfers.upload(batch.pixels))
                middle = settled()
                results = extractor.forward(pixels)
                end = settled()
                host, done = transfers.download(results["tensors"])
                raws += extractor.records(batch, results, host, done)
                transfer += (middle - start) + (settled() - end)
                forward += end - middle

        start = time.perf_counter()
        for item, raw in zip(items, raws, strict=True):
            deliver(Made(item.tag, f"{item.index:064x}", raw), job)
        stored = time.perf_counter() - start
    count = len(items)
    return {
        "preprocess_images_per_s": count / preprocess,
        "forward_images_per_s": count / forward,
        "transfer_images_per_s": count / transfer if transfer else float("inf"),
        "deliver_images_per_s": count / stored,
    }


def render_rates(report_dir: Path, workers: list[int]) -> dict[str, float]:
    """Images per second drawn (figure, gallery thumbnail and sprite) from a report's stored
    records by ``workers`` processes."""
    from reportgen.publish.drawing import FigureDrawer, draw_stored
    from reportgen.publish.figures import FigureStyle
    from reportgen.results import MAPS_DIR, Analysis
    from reportgen.workers import open_pool

    analysis = Analysis.load(report_dir / "data")
    rates = {}
    for count in workers:
        with tempfile.TemporaryDirectory(prefix="reportgen-render-") as temp:
            drawer = FigureDrawer(Path(temp), FigureStyle(), analysis.spread_spec)
            (Path(temp) / "figures").mkdir()
            stored = [
                (drawer, image, analysis.root / MAPS_DIR / f"{image.id}.npz", {})
                for image in analysis.images
            ]
            with open_pool(count, (drawer.warm_up,)) as pool:
                list(pool.imap(draw_stored, stored[:2]))  # workers started and warm
                start = time.perf_counter()
                list(pool.imap(draw_stored, stored))
                rates[str(count)] = len(stored) / (time.perf_counter() - start)
    return rates
