"""Manifests, typed: what an analysis recorded (``data/manifest.json`` of a results store) and
what a published report adds to it (the report's ``manifest.json``). Read and written here only.

Every manifest written since 0.1.0 is read: sections added later are None or their default when
absent (rollout and artifacts since 0.2, versions of a report since they exist). A manifest is
written back in the current form, with sorted keys (:func:`reportgen.store.canonical_json`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reportgen import store
from reportgen.record import ModelSummary, SkippedFile

MANIFEST_FILE = "manifest.json"
# What reading a missing, unreadable or incomplete manifest raises.
READ_ERRORS = (OSError, ValueError, KeyError, TypeError, AttributeError)
INPUT_LISTS = ("images", "skipped")  # the inputs' lists; their other keys describe the source


class NotAManifest(ValueError):
    """JSON that is not a manifest at all (a list, a string), said in words."""


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; raises one of :data:`READ_ERRORS`, NotAManifest for other
    JSON (whose indexing would fail with Python's words)."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        raise NotAManifest("not a JSON object")
    return data


def unreadable(error: Exception, file: str = MANIFEST_FILE, kind: str = "manifest") -> str:
    """What is wrong with ``file`` that raised ``error`` (one of :data:`READ_ERRORS`), as a
    clause about it, for a user: a KeyError's text is the bare key, an OSError's its errno."""
    if isinstance(error, FileNotFoundError):
        return f"it has no {file}"
    if isinstance(error, OSError):
        return f"its {file} does not read ({error.strerror or type(error).__name__})"
    if isinstance(error, UnicodeDecodeError):
        return f"its {file} is not JSON (not UTF-8 text)"
    if isinstance(error, json.JSONDecodeError):
        return f"its {file} is not JSON ({error.msg}, line {error.lineno} column {error.colno})"
    if isinstance(error, NotAManifest):
        detail = str(error)
    elif isinstance(error, KeyError):
        detail = f'no "{error.args[0]}" field'
    else:  # TypeError, AttributeError, ValueError: a field of the wrong kind
        detail = "a field holds the wrong kind of value"
    return f"its {file} is not a reportgen {kind}: {detail}"


@dataclass(frozen=True)
class Program:
    """The reportgen that made it."""

    version: str
    commit: str | None  # None outside a git checkout; ``-dirty`` with uncommitted changes


@dataclass(frozen=True)
class InputImage:
    """One input as recorded; None where a damaged manifest lacks it (``verify`` says so)."""

    name: str | None
    sha256: str | None
    size_bytes: int | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InputImage:
        return cls(data.get("name"), data.get("sha256"), data.get("size_bytes"))


@dataclass(frozen=True)
class Inputs:
    source: dict[str, Any]  # what the source says of itself (analysis.sources), e.g. its folder
    images: tuple[InputImage, ...] = ()
    skipped: tuple[SkippedFile, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            **self.source,
            "images": [asdict(image) for image in self.images],
            "skipped": [asdict(item) for item in self.skipped],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Inputs:
        return cls(
            source={key: value for key, value in data.items() if key not in INPUT_LISTS},
            images=tuple(InputImage.from_json(image) for image in data.get("images") or ()),
            skipped=tuple(SkippedFile(**item) for item in data.get("skipped", ())),
        )


@dataclass(frozen=True)
class Rollout:
    """How rollout was configured, and why its start layer (``auto``: the artifact profile)."""

    head_fusion: str
    discard_ratio: float
    start_layer: int
    chosen_by: str
    artifact_profile: tuple[float, ...] | None = None  # per layer, when ``auto`` chose

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.artifact_profile is None:
            del data["artifact_profile"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Rollout:
        profile = data.get("artifact_profile")
        return cls(**{**data, "artifact_profile": None if profile is None else tuple(profile)})


@dataclass(frozen=True)
class Artifacts:
    mode: str  # "mask" or "keep"
    rule: str  # what counts as an artifact patch, in words
    masked_per_layer: tuple[int, ...]  # masked patches per layer, over every image

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Artifacts:
        return cls(**{**data, "masked_per_layer": tuple(data["masked_per_layer"])})


@dataclass(frozen=True)
class FeatureBasisNote:
    """The feature view's per-report basis (``--pca per-report``): what it was fitted on."""

    images: int  # the first readable images of the build that fitted it
    tokens: int  # their last-layer patch tokens
    basis: str  # a short fingerprint of the basis (the same in every build that kept it)


@dataclass(frozen=True)
class Spread:
    map: str  # the spread map (methods.spread.SpreadSpec)
    description: str
    levels_asked: int
    levels_used: int


@dataclass(frozen=True)
class AnalysisManifest:
    """The provenance of an analysis: program, time, libraries, model, parameters, inputs."""

    program: Program
    created_utc: str  # YYYY-MM-DDTHH:MM:SSZ
    time_source: str  # "clock", "SOURCE_DATE_EPOCH" or "--date"
    libraries: dict[str, str]  # package -> version
    model: ModelSummary
    model_choice: str  # why this model (models.resolve)
    parameters: dict[str, Any]  # results.AnalysisParams.parameters(), as recorded
    spread: Spread
    inputs: Inputs
    rollout: Rollout | None = None  # None before 0.2
    artifacts: Artifacts | None = None  # None before 0.2
    features: FeatureBasisNote | None = None  # None: per-image components, or no feature view

    def to_json(self) -> dict[str, Any]:
        data = {
            "reportgen": asdict(self.program),
            "created_utc": self.created_utc,
            "time_source": self.time_source,
            "versions": self.libraries,
            "model": self.model.to_json(),
            "model_choice": self.model_choice,
            "parameters": self.parameters,
            "spread": asdict(self.spread),
            "inputs": self.inputs.to_json(),
        }
        if self.rollout is not None:
            data["rollout"] = self.rollout.to_json()
        if self.artifacts is not None:
            data["artifacts"] = asdict(self.artifacts)
        if self.features is not None:
            data["features"] = asdict(self.features)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AnalysisManifest:
        return cls(
            program=Program(**data["reportgen"]),
            created_utc=data["created_utc"],
            time_source=data["time_source"],
            libraries=dict(data["versions"]),
            model=ModelSummary.from_json(data["model"]),
            model_choice=data["model_choice"],
            parameters=dict(data["parameters"]),
            spread=Spread(**data["spread"]),
            inputs=Inputs.from_json(data.get("inputs") or {}),
            rollout=Rollout.from_json(data["rollout"]) if "rollout" in data else None,
            artifacts=Artifacts.from_json(data["artifacts"]) if "artifacts" in data else None,
            features=FeatureBasisNote(**data["features"]) if "features" in data else None,
        )

    @classmethod
    def read(cls, path: Path) -> AnalysisManifest:
        """Raises one of :data:`READ_ERRORS` for a missing or unreadable manifest."""
        return cls.from_json(read_json(path))

    def write(self, path: Path) -> None:
        store.atomic_write(path, store.canonical_json(self.to_json()))


@dataclass(frozen=True)
class VersionLink:
    """An earlier version a report keeps."""

    version: int
    folder: str  # relative to the report, versions/<n>


@dataclass(frozen=True)
class ReportManifest:
    """A published report: its analysis's manifest, how it was rendered, which version it is,
    and the sha256 of every file."""

    analysis: AnalysisManifest
    report: dict[str, Any]  # publish.options.ReportOptions.to_json()
    files: dict[str, str] = field(default_factory=dict)  # relative POSIX path -> sha256
    version: int = 1  # reports from before versions are version 1
    archived: bool = False  # an earlier version, in the current one's versions/ folder
    history: tuple[VersionLink, ...] = ()  # the earlier versions it lists
    fingerprint: str | None = None  # what makes two builds the same report; None before 0.2

    def to_json(self) -> dict[str, Any]:
        return {
            **self.analysis.to_json(),
            "report": self.report,
            "version": self.version,
            "archived": self.archived,
            "history": [asdict(link) for link in self.history],
            "fingerprint": self.fingerprint,
            "files": self.files,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReportManifest:
        return cls(
            analysis=AnalysisManifest.from_json(data),
            report=dict(data["report"]),
            files=dict(data["files"]),
            version=data.get("version", 1),
            archived=data.get("archived", False),
            history=tuple(VersionLink(**link) for link in data.get("history", ())),
            fingerprint=data.get("fingerprint"),
        )

    @classmethod
    def read(cls, report_dir: Path) -> ReportManifest:
        """The manifest of the report in ``report_dir``; raises one of :data:`READ_ERRORS`."""
        return cls.from_json(read_json(Path(report_dir) / MANIFEST_FILE))

    def write(self, report_dir: Path) -> None:
        """Streamed: a large report's manifest lists 100,000s of files."""
        store.write_json(Path(report_dir) / MANIFEST_FILE, self.to_json())


@dataclass(frozen=True)
class ComparedRun:
    """A run a comparison reads: its report folder (relative to the site when in it, else
    absolute) and how the comparison names it."""

    folder: str
    label: str
    version: int | None = None  # the report's version compared (None: whichever is there)


@dataclass(frozen=True)
class ComparisonManifest:
    """A published comparison of runs (``site/comparisons/SLUG``): what it compares, how it
    was titled and dated, and the sha256 of every file, so it can be re-rendered and verified."""

    program: Program
    title: str
    slug: str
    date: str  # YYYY-MM-DD
    formats: tuple[str, ...]
    runs: tuple[ComparedRun, ...]
    files: dict[str, str] = field(default_factory=dict)  # relative POSIX path -> sha256
    version: int = 1  # earlier versions are kept in its versions/<n>/
    # the flavours' options not at their defaults, as <flavour>_<field> entries: left out when
    # none is, so a comparison from before them reads and writes as it did
    flavour_options: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        comparison = {
            "version": self.version,
            "reportgen": asdict(self.program),
            "title": self.title,
            "slug": self.slug,
            "date": self.date,
            "formats": list(self.formats),
            "runs": [asdict(run) for run in self.runs],
        }
        if self.flavour_options:
            comparison["flavour_options"] = self.flavour_options
        return {"comparison": comparison, "files": self.files}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ComparisonManifest:
        comparison = data["comparison"]
        return cls(
            program=Program(**comparison["reportgen"]),
            title=comparison["title"],
            slug=comparison["slug"],
            date=comparison["date"],
            formats=tuple(comparison["formats"]),
            runs=tuple(ComparedRun(**run) for run in comparison["runs"]),
            files=dict(data["files"]),
            version=comparison.get("version", 1),
            flavour_options=dict(comparison.get("flavour_options", {})),
        )

    @classmethod
    def read(cls, folder: Path) -> ComparisonManifest:
        """Raises one of :data:`READ_ERRORS` for a missing or unreadable manifest."""
        return cls.from_json(read_json(Path(folder) / MANIFEST_FILE))

    def write(self, folder: Path) -> None:
        store.atomic_write(Path(folder) / MANIFEST_FILE, store.canonical_json(self.to_json()))
