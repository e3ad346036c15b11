"""Where and how an analysis runs: the device, the engine and its workers, the cache. None of it
changes the results (that is :class:`~reportgen.results.AnalysisParams`), so none of it is
recorded in the manifest, and a report built on a laptop equals one built on a cluster."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reportgen import store
from reportgen.errors import ReportgenError


@dataclass(frozen=True)
class Execution:
    device: str = "auto"  # where the model runs: auto (cuda, then mps, then cpu), cpu, cuda, mps
    engine: str = "local"  # what runs the images: "local" or "ray" (analysis.engines)
    workers: int | None = None  # worker processes for the per-image CPU work; None: one a core
    ray_address: str | None = None  # an existing Ray cluster; None: a local instance
    ray_actors: int | None = None  # model replicas on Ray; None: one a GPU, else one
    cache_dir: Path | None = None  # None: REPORTGEN_CACHE_DIR or the user cache directory
    use_cache: bool = True

    def cache(self) -> store.ContentCache | None:
        """The cache it uses (None: none, ``use_cache`` off)."""
        if not self.use_cache:
            return None
        return store.ContentCache(self.cache_dir or store.default_cache_dir())

    def validated(self) -> Execution:
        """Check values users type, with messages instead of tracebacks deeper down."""
        problems = []
        if self.workers is not None and self.workers < 0:
            problems.append("--workers must be 0 or more")
        if self.ray_actors is not None and self.ray_actors < 1:
            problems.append("--ray-actors must be at least 1")
        if problems:
            raise ReportgenError("; ".join(problems))
        return self
