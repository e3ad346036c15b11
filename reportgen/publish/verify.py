"""Checking published reports against their manifests, years later and without the model.

For a report, and each earlier version it keeps: every file its manifest lists is there with the
recorded sha256 and no other file is; each input image has a recorded sha256 and size, the same
in the results; every maps file loads and belongs to its image; and the stored maps re-derive the
recorded spread entropies and levels (with the functions the analysis used).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from reportgen import digests, table
from reportgen.errors import DamagedFile, ReportgenError
from reportgen.manifest import MANIFEST_FILE, READ_ERRORS, ReportManifest, unreadable
from reportgen.methods import spread
from reportgen.publish import staging
from reportgen.publish.folders import (
    COMPARISONS_DIR,
    DATA_DIR,
    REPORTS_DIR,
    VERSIONS_DIR,
    report_files,
)
from reportgen.results import Analysis

_SHA256 = re.compile(r"[0-9a-f]{64}")
_STALE_STAGING = (
    "left by a build or re-render that was stopped (its process is gone), not to be published: "
    "delete it, or build or render into the site, which removes it"
)
_CARRIED = (
    "left by a build or re-render stopped while publishing: it holds {} of the report it "
    "published; do not delete it: the next build or render into the site moves them back"
)
# What reading a damaged maps file can raise (store.DamagedFile; the entropy itself).
_DAMAGED = (OSError, DamagedFile, KeyError, ValueError)


@dataclass(frozen=True)
class Problem:
    path: str  # the file or folder, relative to what was verified
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class Verification:
    """What was checked, and every problem found."""

    reports: int = 0  # current reports
    versions: int = 0  # earlier versions
    files: int = 0
    maps: int = 0
    comparisons: int = 0
    problems: list[Problem] = field(default_factory=list)

    def summary(self) -> str:
        checked = ", ".join(
            [
                _count(self.reports, "report"),
                _count(self.versions, "earlier version"),
                *([_count(self.comparisons, "comparison")] if self.comparisons else []),
                _count(self.files, "file"),
                _count(self.maps, "maps file"),
            ]
        )
        found = _count(len(self.problems), "problem") if self.problems else "no problems"
        return f"verified {checked}: {found}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def verify(path: Path) -> Verification:
    """Verify the report or comparison in ``path``, or every report and comparison of the site
    in ``path``."""
    from reportgen.publish import comparison_site

    path = Path(path)
    comparisons, places = [], staging.SITE_STAGING  # places: where killed builds leave staging
    if comparison_site.is_comparison(path):
        folders, comparisons, places = [], [path], ()
    elif (path / MANIFEST_FILE).is_file():
        folders, places = [path], (f"{VERSIONS_DIR}/",)
    elif (path / REPORTS_DIR).is_dir() or (path / COMPARISONS_DIR).is_dir():  # either may be alone
        folders = sorted(folder for folder in (path / REPORTS_DIR).glob("[!.]*/"))
        comparisons = comparison_site.published(path)
    else:
        raise ReportgenError(
            f"{path} is neither a report (it has no {MANIFEST_FILE}) nor a site (it has no "
            f"{REPORTS_DIR}/ or {COMPARISONS_DIR}/ folder)"
        )
    result = Verification()
    for folder in staging.stale_staging(path, places):
        carried = staging.carried_journal(folder)
        problem = _CARRIED.format(", ".join(carried["folders"])) if carried else _STALE_STAGING
        result.problems.append(Problem(folder.relative_to(path).as_posix(), problem))
    for folder in folders:
        _Report(folder, path, result).check()
    for folder in comparisons:
        n_files, problems = comparison_site.check(folder)
        result.comparisons += 1
        result.versions += len(list((folder / VERSIONS_DIR).glob("[0-9]*")))
        result.files += n_files
        where = folder.relative_to(path).as_posix() if folder != path else "."
        result.problems += [Problem(where, message) for message in problems]
    return result


class _Report:
    """The checks of one report folder; problems are added to ``result``."""

    def __init__(self, folder: Path, base: Path, result: Verification):
        self.folder, self.base, self.result = folder, base, result

    def problem(self, path: Path, message: str) -> None:
        where = path.relative_to(self.base).as_posix() if path != self.base else "."
        self.result.problems.append(Problem(where, message))

    def check(self) -> None:
        try:
            manifest = ReportManifest.read(self.folder)
        except READ_ERRORS as error:
            self.problem(self.folder, f"{unreadable(error)}; not a verifiable report")
            return
        if manifest.archived:
            self.result.versions += 1
        else:
            self.result.reports += 1
        self.check_files(manifest.files)
        self.check_inputs(manifest)
        self.check_data(manifest)
        self.check_versions(manifest)

    def check_files(self, listed: dict[str, str]) -> None:
        for name, digest in sorted(listed.items()):
            relative = PurePosixPath(name)
            if relative.is_absolute() or ".." in relative.parts:
                self.problem(self.folder, f"the manifest lists a path outside the report: {name}")
                continue
            path = self.folder / relative
            self.result.files += 1
            if not path.is_file():
                self.problem(path, "missing (the manifest lists it)")
            elif digests.sha256_of(path) != digest:
                self.problem(path, "changed since it was published (sha256 differs)")
        for name in report_files(self.folder):
            if name not in listed:
                self.problem(self.folder / name, "not listed in the manifest")

    def check_inputs(self, manifest: ReportManifest) -> None:
        images = manifest.analysis.inputs.images
        if not images:
            self.problem(self.folder / MANIFEST_FILE, "no input images are recorded")
            return
        for image in images:
            if not _SHA256.fullmatch(str(image.sha256)):
                self.problem(self.folder / MANIFEST_FILE, f"input {image.name}: no sha256")
            if not isinstance(image.size_bytes, int):
                self.problem(self.folder / MANIFEST_FILE, f"input {image.name}: no size")

    def check_data(self, manifest: ReportManifest) -> None:
        """The results agree with the inputs, the maps load, and they re-derive the results."""
        data = self.folder / DATA_DIR
        try:
            analysis = Analysis.load(data)
        except (ReportgenError, KeyError, TypeError, ValueError) as error:
            self.problem(data, f"the results do not load: {error}")
            return
        results = data / table.TABLE_FILE  # where the images' results are (0.1: results.json)
        if not results.is_file():
            results = data / "results.json"
        recorded = [(image.name, image.sha256) for image in manifest.analysis.inputs.images]
        if [(image.name, image.sha256) for image in analysis.images] != recorded:
            self.problem(results, "its images differ from the inputs the manifest records")
        entropies = []
        for image in analysis.images:
            maps = data / "maps" / f"{image.id}.npz"
            try:
                record = analysis.record(image)
                entropy, layer_entropies = spread.record_entropies(record, analysis.spread_spec)
            except _DAMAGED as error:
                reason = error.reason if isinstance(error, DamagedFile) else error
                self.problem(maps, f"does not load: {reason or type(error).__name__}")
                continue
            self.result.maps += 1
            entropies.append(entropy)
            if record.sha256 != image.sha256:
                self.problem(maps, f"holds the maps of another image than {image.name}")
            if not _same(entropy, image.entropy):
                self.problem(
                    results,
                    f"{image.name}: entropy {image.entropy!r} recorded, the maps give {entropy!r}",
                )
            recorded_layers = image.layer_entropies
            if len(layer_entropies) != len(recorded_layers) or not all(
                map(_same, layer_entropies, recorded_layers)
            ):
                self.problem(results, f"{image.name}: the maps give other layer entropies")
        if len(entropies) == len(analysis.images):
            levels = spread.assign_levels(np.array(entropies), analysis.params.levels)
            for image, level in zip(analysis.images, levels, strict=True):
                if image.level != level:
                    self.problem(
                        results,
                        f"{image.name}: level {image.level} recorded, the maps give level {level}",
                    )

    def check_versions(self, manifest: ReportManifest) -> None:
        """Earlier versions the page lists are there; each is verified as a report."""
        for link in manifest.history:
            if not (self.folder / link.folder / MANIFEST_FILE).is_file():
                self.problem(self.folder / link.folder, "missing (the report lists it)")
        for folder in sorted((self.folder / VERSIONS_DIR).glob("[0-9]*")):
            _Report(folder, self.base, self.result).check()


def _same(derived: float, recorded: float) -> bool:
    """Equal up to floating-point rounding (another numpy or CPU may sum in another order)."""
    return math.isclose(derived, recorded, rel_tol=1e-9, abs_tol=1e-12)
