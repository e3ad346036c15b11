"""The feature view's basis for ``--pca per-report``: fitted before the analysis runs, so every
record is projected onto the same components as it is made (and its figure drawn then).

The basis is fitted on the last layer's patch tokens of up to :data:`SAMPLE` images of the
report, spread evenly over the source's order (every image of a report that small), through the
same forward pass as the analysis (:class:`~reportgen.analysis.extract.Extractor`, so any model
backend gives its tokens). It is cached by the model and the sampled images' content, so a
rerun from the cache does not load the model.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from itertools import islice

import numpy as np

from reportgen import store
from reportgen.analysis import images
from reportgen.analysis.extract import Extractor, batched
from reportgen.analysis.model import LoadedModel
from reportgen.analysis.sources import Source
from reportgen.analysis.sources.base import Item
from reportgen.methods.features import FeatureBasis, fit_basis

SAMPLE = 64  # images the per-report components are fitted on, at most


def sampled_items(source: Source, size: int = SAMPLE) -> Iterator[Item]:
    """Up to ``size`` items spread evenly over the source (the first ``size`` when it cannot
    count them), in its order."""
    total = source.count()
    if total is None or total <= size:
        yield from islice(source.items(), size)
        return
    wanted = {int(position) for position in np.linspace(0, total - 1, size).round()}
    yield from (item for item in source.items() if item.index in wanted)


def sample_files(source: Source) -> list[images.ImageFile]:
    """The readable files of :func:`sampled_items` (an unreadable one is left out: the
    analysis skips it with its reason)."""
    files = []
    for item in sampled_items(source):
        try:
            files.append(images.read(item))
        except images.ImageLoadError:
            continue
    return files


def fitted_tokens(loaded: LoadedModel, files: list[images.ImageFile], batch_size: int):
    """The last layer's patch tokens of the decodable ``files``, (N * P, D); None when the model
    gives no hidden states."""
    extractor = Extractor(loaded)
    loaded_images = []
    for file in files:
        try:
            loaded_images.append(images.load(file))
        except images.ImageLoadError:
            continue
    prepared = (extractor.prepare(batch) for batch in batched(loaded_images, batch_size))
    tokens = [raw.tokens for batch in extractor.run(prepared) for raw in batch]
    if not tokens or tokens[0] is None:
        return None
    return np.concatenate(tokens)


def report_basis(
    model: Callable[[], LoadedModel],
    source: Source,
    model_identity: dict,
    batch_size: int,
    cache: store.ContentCache | None,
) -> FeatureBasis | None:
    """The per-report basis (see the module doc): from the cache, else fitted with
    ``model()``; None when the model gives no hidden states or no sampled image is readable."""
    files = sample_files(source)
    if not files:
        return None
    key = store.content_key(
        {
            "model": model_identity,
            "images": [file.sha256 for file in files],
            "code": store.source_fingerprint(
                "analysis.features", "analysis.extract", "methods.features"
            ),
        }
    )
    cached = cache.existing("features", key, ".npz") if cache else None
    if cached:
        with np.load(cached, allow_pickle=False) as arrays:
            return FeatureBasis.from_arrays(arrays)
    tokens = fitted_tokens(model(), files, batch_size)
    if tokens is None:
        return None
    basis = fit_basis(tokens)
    if cache:
        buffer = io.BytesIO()
        np.savez(buffer, **basis.to_arrays())
        cache.put("features", key, ".npz", buffer.getvalue())
    return basis


def digest(basis: FeatureBasis | None) -> str | None:
    """A short fingerprint of a basis, for the records' cache keys."""
    if basis is None:
        return None
    digest = hashlib.sha256()
    for values in basis.to_arrays().values():
        digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return digest.hexdigest()
