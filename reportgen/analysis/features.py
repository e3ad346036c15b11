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
from functools import partial
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
from reportgen.workers import Pool

ARRAYS = ("mean", "components", "range")  # FeatureBasis.to_arrays
FITTED_IMAGES = 64  # the first readable images of a report that its basis is fitted on
BASIS_FILE = "features.json"  # a results store's basis, beside its manifest
Read = images.ImageFile | SkippedFile  # an item's bytes, or why it is skipped
Decoded = images.LoadedImage | SkippedFile  # an item's image, or why it is skipped


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


def _read_first(items: Iterator[Item], count: int) -> list[tuple[Item, Read]]:
    """The next items of ``items`` with their bytes until ``count`` are read, and the
    unreadable ones between them (skipped)."""
    found: list[tuple[Item, Read]] = []
    readable = 0
    for item in items:
        try:
            found.append((item, images.read(item)))
            readable += 1
        except images.ImageLoadError as error:
            found.append((item, SkippedFile(item.name, str(error))))
        if readable == count:
            break
    return found


def _decoded(file: Read) -> Decoded:
    """A read file decoded, or the reason it is skipped."""
    if isinstance(file, SkippedFile):
        return file
    try:
        return images.load(file)
    except images.ImageLoadError as error:
        return SkippedFile(file.name, str(error))


def _decode_first(
    read: list[tuple[Item, Read]], items: Iterator[Item], count: int
) -> list[tuple[Item, Decoded]]:
    """``read`` decoded, then the next items of ``items`` read and decoded, until ``count``
    images decode: (item, its image or the reason it is skipped), in order."""
    found: list[tuple[Item, Decoded]] = []
    while read:
        found += [(item, _decoded(file)) for item, file in read]
        missing = count - sum(not isinstance(image, SkippedFile) for _, image in found)
        read = _read_first(items, missing) if missing else []
    return found


def _cached_basis(cache: store.ContentCache | None, key: str) -> StoredBasis | None:
    cached = cache.get_json("features", key) if cache else None
    try:
        return StoredBasis.from_json(cached) if cached else None
    except (ValueError, KeyError, TypeError):
        return None  # fitted again


def _basis_key(fits: str, hashes: list[str]) -> str:
    """The cache key of the basis fitted on the images of these content hashes."""
    return store.content_key({"fits": fits, "images": hashes})


def report_basis(
    source: Source,
    job: Job,
    fits: str,
    model: Callable[[], LoadedModel],
    cache: store.ContentCache | None,
    pool: Pool,
) -> tuple[StoredBasis | None, Job, list[Stored | SkippedFile], set[int]]:
    """A new basis for a report: (the basis, the job that uses it, the outcomes of the images
    analysed here, their indexes). From the cache when it knows the first images' basis (then
    nothing is analysed here); else fitted on the first images' tokens as their records are
    made, and those records are finished and delivered in ``pool`` (the engine's workers, all
    of them at once: the model waits, as it does between batches). No basis (None) when no
    first image is readable or the model gives no hidden states.

    The first :data:`FITTED_IMAGES` files read are looked up by their hashes before any is
    decoded: a basis cached under them was fitted on exactly those, so they all decode, and
    a rebuild with a warm cache decodes nothing here (the engine reads them again).
    """
    items = iter(source.items())
    read = _read_first(items, FITTED_IMAGES)
    hashes = [file.sha256 for _, file in read if not isinstance(file, SkippedFile)]
    stored = _cached_basis(cache, _basis_key(fits, hashes))
    found = [] if stored else _decode_first(read, items, FITTED_IMAGES)
    decoded = [(item, image) for item, image in found if not isinstance(image, SkippedFile)]
    fitted = [image.sha256 for _, image in decoded]
    if decoded and fitted != hashes:  # some did not decode: the basis of the ones that do
        stored = _cached_basis(cache, _basis_key(fits, fitted))
    if stored:
        return stored, with_basis(job, stored.basis), [], set()
    if not decoded:
        return None, job, [], set()
    extractor = Extractor(model(), job.extract)
    loaded = (image for _, image in decoded)
    prepared = (extractor.prepare(batch) for batch in batched(loaded, job.batch_size))
    raws = [raw for batch in extractor.run(prepared) for raw in batch]
    stored = None
    if raws[0].tokens is not None:
        tokens = np.concatenate([raw.tokens for raw in raws])
        # In a worker: one BLAS thread, where this process's two or more are many times slower
        # for this (D, D) scatter matrix and its eigenvectors on a busy machine
        basis = next(pool.imap(fit_basis, [(tokens,)]))
        stored = StoredBasis(basis, fits, len(raws), len(tokens))
        if cache:
            cache.put_json("features", _basis_key(fits, fitted), stored.to_json())
        job = with_basis(job, stored.basis)
    made = iter(raws)
    deliveries = (
        (image,)
        if isinstance(image, SkippedFile)
        else (Made(item.tag, job.key(image.sha256), next(made)),)
        for item, image in found
    )
    outcomes = list(pool.imap(partial(deliver, job=job), deliveries))
    return stored, job, outcomes, {item.index for item, _ in found}


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
