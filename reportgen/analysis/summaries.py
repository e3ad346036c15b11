"""An image's summary: the facts of its record that the report's pages, levels and tables use,
cached by record (:meth:`reportgen.analysis.engines.base.Job.summary_key`), so a rebuild places
a cached image's record file without reading it. The summary's cache key holds this module's
source: a change here is a change of every summary."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from reportgen.analysis.sources.base import ItemTag
from reportgen.methods import spread
from reportgen.record import ImageRecord, Prediction
from reportgen.results import ImageSummary
from reportgen.slugs import image_id


def summarise(tag: ItemTag, record: ImageRecord, spec: spread.SpreadSpec) -> ImageSummary:
    """The summary of ``record``, the image ``tag`` names."""
    entropy, layer_entropies = spread.record_entropies(record, spec)
    facts = {
        "sha256": record.sha256,
        "size_bytes": record.size_bytes,
        "original_size": record.original_size,
        "entropy": entropy,
        "layer_entropies": layer_entropies,
        "predictions": [[p.label, p.probability] for p in record.predictions],
        "artifact_counts": [int(count) for count in record.artifact_mask.sum(axis=(1, 2))],
        "artifact_score": record.artifact_score,
    }
    return summary_from_facts(tag, facts)


def summary_facts(summary: ImageSummary) -> dict[str, Any]:
    """What a summary owes to the record alone (not to its place in the source): cached."""
    data = asdict(summary)
    for key in ("index", "id", "name", "level", "label", "source_id", "correct"):
        data.pop(key)
    data["predictions"] = [[p.label, p.probability] for p in summary.predictions]
    return data


def summary_from_facts(tag: ItemTag, facts: dict[str, Any]) -> ImageSummary:
    """The summary of the image ``tag`` names, from its record's facts (cached or just made)."""
    return ImageSummary(
        index=tag.index,
        id=image_id(tag.index, tag.name),
        name=tag.name,
        label=tag.label,
        source_id=tag.source_id,
        sha256=facts["sha256"],
        size_bytes=facts["size_bytes"],
        original_size=tuple(facts["original_size"]),
        entropy=facts["entropy"],
        layer_entropies=tuple(facts["layer_entropies"]),
        predictions=tuple(Prediction(label, p) for label, p in facts["predictions"]),
        artifact_counts=tuple(facts["artifact_counts"]),
        artifact_score=facts.get("artifact_score"),
    )
