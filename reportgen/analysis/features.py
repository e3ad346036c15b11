"""The feature view's basis for ``--pca per-report``: one basis per report, kept by its rebuilds.

A report's basis (the last layer's token mean, three components and their display range) is
fitted once and stored with the report (:data:`BASIS_FILE` in its results store, JSON: a few
thousand numbers, exact and the same bytes for the same basis). A rebuild of
the same report with the same model, precision and preprocessing reuses it, so every earlier
image keeps its colours and its cached record, and only added images go through the model.

A report without a usable stored basis fits its own on the first :data:`FITTED_IMAGES` readable
images of its source, from the same forward pass that makes their records: those images are
analysed here first (their records finished with the new basis and delivered), and the engine
analyses the rest (:class:`Remaining`). The basis is cached by what it depends on (model,
precision, preprocessing, the fitted images' content), so a cold rebuild with a warm cache
finds it without the model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from reportgen import store
from reportgen.analysis import images
from reportgen.analysis.engines.base import Job, Made, Stored, deliver
from reportgen.analysis.extract import Extractor, batched
from reportgen.analysis.model import LoadedModel
from reportgen.analysis.sources import Source
from reportgen.analysis.sources.base import Item
from reportgen.manifest import FeatureBasisNote
from reportgen.methods.features import FeatureBasis, fit_basis
from reportgen.record import SkippedFile

ARRAYS = ("mean", "components", "range")  # FeatureBasis.to_arrays
FITTED_IMAGES = 64  # the first readable images of a report that its basis is fitted on
BASIS_FILE = "features.json"  # a results store's basis, beside its manifest


@dataclass(frozen=True)
class StoredBasis:
    """A basis with what it was fitted on, and the ``fits`` key of the runs that may use it."""

    basis: FeatureBasis
    fits: str  # model, precision, preprocessing and code it was made for (:func:`fits_key`)
    images: int  # how many images it was fitted on
    tokens: int  # how many tokens

    def note(self) -> FeatureBasisNote:
        """What the manifest says of it."""
        return FeatureBasisNote(images=self.images, tokens=self.tokens, basis=digest(self.basis))

    def to_json(self) -> dict[str, Any]:
        arrays = {name: values.tolist() for name, values in self.basis.to_arrays().items()}
        return {"fits": self.fits, "images": self.images, "tokens": self.tokens, **arrays}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredBasis:
        basis = FeatureBasis.from_arrays({name: np.asarray(data[name]) for name in ARRAYS})
        return cls(basis, data["fits"], data["images"], data["tokens"])

    @classmethod
    def read(cls, path: Path) -> StoredBasis:
        return cls.from_json(json.loads(Path(path).read_text()))


def fits_key(model_identity: dict[str, Any], dtype: str, preprocessing: dict[str, Any]) -> str:
    """What must match for a stored basis to be reused: the model, the precision and the
    preprocessing that make the last layer's tokens, and the code that fits the basis."""
    return store.content_key(
        {
            "model": model_identity,
            "dtype": dtype,
            "preprocessing": preprocessing,
            "tokens": "the last layer's patch tokens",
            "code": store.source_fingerprint("analysis.features", "methods.features"),
        }
    )


def earlier_basis(store_dir: Path | None, fits: str) -> StoredBasis | None:
    """The basis an earlier analysis stored in ``store_dir``, when it fits this run; None when
    there is none, it is unreadable or it was made for another model, precision or
    preprocessing."""
    path = store_dir / BASIS_FILE if store_dir else None
    if path is None or not path.is_file():
        return None
    try:
        stored = StoredBasis.read(path)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return stored if stored.fits == fits else None


def first_images(source: Source, count: int) -> tuple[list[Any], set[int]]:
    """The first ``count`` decodable items of ``source`` as (item, image) pairs, with the
    skipped ones between them, in order; and the indexes of every item looked at."""
    found: list[Any] = []
    looked_at: set[int] = set()
    decoded = 0
    for item in source.items():
        looked_at.add(item.index)
        try:
            found.append((item, images.load(images.read(item))))
            decoded += 1
        except images.ImageLoadError as error:
            found.append(SkippedFile(item.name, str(error)))
        if decoded == count:
            break
    return found, looked_at


def report_basis(
    source: Source,
    job: Job,
    fits: str,
    model: Callable[[], LoadedModel],
    cache: store.ContentCache | None,
) -> tuple[StoredBasis | None, Job, list[Stored | SkippedFile], set[int]]:
    """A new basis for a report: (the basis, the job that uses it, the outcomes of the images
    analysed here, their indexes). From the cache when it knows the first images' basis (then
    nothing is analysed here); else fitted on the first images' tokens as their records are
    made. No basis (None) when no first image is readable or the model gives no hidden states.
    """
    found, looked_at = first_images(source, FITTED_IMAGES)
    decoded = [entry for entry in found if not isinstance(entry, SkippedFile)]
    if not decoded:
        return None, job, [], set()
    key = store.content_key({"fits": fits, "images": [image.sha256 for _, image in decoded]})
    cached = cache.get_json("features", key) if cache else None
    if cached:
        try:
            stored = StoredBasis.from_json(cached)
            return stored, with_basis(job, stored.basis), [], set()
        except (ValueError, KeyError, TypeError):
            pass  # fitted again below
    extractor = Extractor(model(), job.extract)
    loaded = (image for _, image in decoded)
    prepared = (extractor.prepare(batch) for batch in batched(loaded, job.batch_size))
    raws = [raw for batch in extractor.run(prepared) for raw in batch]
    stored = None
    if raws[0].tokens is not None:
        tokens = np.concatenate([raw.tokens for raw in raws])
        stored = StoredBasis(fit_basis(tokens), fits, len(raws), len(tokens))
        if cache:
            cache.put_json("features", key, stored.to_json())
        job = with_basis(job, stored.basis)
    made = iter(raws)
    outcomes = [
        entry
        if isinstance(entry, SkippedFile)
        else deliver(Made(entry[0].tag, job.key(entry[1].sha256), next(made)), job)
        for entry in found
    ]
    return stored, job, outcomes, looked_at


def with_basis(job: Job, basis: FeatureBasis | None) -> Job:
    """``job`` with its records projected onto ``basis`` (and keyed by it)."""
    parts = {**job.result_parts, "features": [job.result_parts["features"][0], digest(basis)]}
    return replace(job, extract=replace(job.extract, feature_basis=basis), result_parts=parts)


def digest(basis: FeatureBasis | None) -> str | None:
    """A short fingerprint of a basis, for the records' cache keys and the manifest."""
    if basis is None:
        return None
    digest = hashlib.sha256()
    for values in basis.to_arrays().values():
        digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Remaining(Source):
    """The items of ``source`` but those at ``done`` (analysed already), for the engine."""

    source: Source
    done: frozenset[int]

    @property
    def name(self) -> str:
        return self.source.name

    def describe(self) -> dict[str, Any]:
        return self.source.describe()

    def count(self) -> int | None:
        total = self.source.count()
        return None if total is None else total - len(self.done)

    def items(self) -> Iterator[Item]:
        return (item for item in self.source.items() if item.index not in self.done)

    def ray_dataset(self, ray: Any) -> Any | None:
        return None  # the engine lists :meth:`items` (a source's own reader would list all)

    def __str__(self) -> str:
        return str(self.source)
