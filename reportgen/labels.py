"""Ground-truth labels against the model's classes: which images a classifier got right.

A source may give each image a label (a class folder, a CSV column, a dataset's ClassLabel).
Accuracy only means something when those labels name the model's own classes (its
``id2label``), exactly or through a ``--label-map``; :func:`match` decides that once per run and
says why not otherwise, and :func:`judged` marks each image. Pure functions: no model, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reportgen.results import ImageSummary

UNLABELLED = "unlabelled"  # the source gives no labels
NO_CLASSIFIER = "no-classifier"  # the model predicts no class
UNMATCHED = "unmatched"  # some labels are not the model's class names
MATCHED = "matched"
N_EXAMPLES = 5  # unmatched labels named in the reason


@dataclass(frozen=True)
class LabelMatch:
    """Whether a run's labels can be checked against its model's predictions, and why not."""

    status: str  # UNLABELLED, NO_CLASSIFIER, UNMATCHED or MATCHED
    unmatched: tuple[str, ...] = ()  # labels (after the label map) that are not model classes
    labels: int = 0  # distinct labels in the run

    @property
    def matched(self) -> bool:
        return self.status == MATCHED

    def reason(self) -> str:
        """One plain sentence on why the report shows no accuracy ('' when it does)."""
        if self.status == NO_CLASSIFIER:
            return (
                "The model is a backbone without a classifier head, so it predicts no class: "
                "the classes show spread only, with no accuracy."
            )
        if self.status == UNMATCHED:
            examples = ", ".join(repr(label) for label in self.unmatched[:N_EXAMPLES])
            more = len(self.unmatched) - N_EXAMPLES
            return (
                f"{self._unmatched_count()} ({examples}{f' and {more} more' if more > 0 else ''}), "
                "so predictions cannot be checked against them: map them to the model's class "
                "names with --label-map."
            )
        return ""

    def _unmatched_count(self) -> str:
        """How many labels are not model classes, in words that agree with the count."""
        unmatched = len(self.unmatched)
        if unmatched == self.labels == 1:
            return "The one label is not a class of the model"
        if unmatched == 1:
            return f"1 of the {self.labels} labels is not a class of the model"
        return f"{unmatched} of the {self.labels} labels are not classes of the model"


def map_label(label: str, label_map: Mapping[str, str] | None) -> str:
    """``label`` as the model names it: through the map when it has an entry."""
    return label_map.get(label, label) if label_map else label


def match(
    labels: Iterable[str | None],
    class_names: Sequence[str] | None,
    label_map: Mapping[str, str] | None = None,
) -> LabelMatch:
    """Whether every label (through ``label_map``) is one of ``class_names``."""
    distinct = sorted({label for label in labels if label is not None})
    if not distinct:
        return LabelMatch(UNLABELLED)
    if not class_names:
        return LabelMatch(NO_CLASSIFIER, labels=len(distinct))
    known = set(class_names)
    unmatched = tuple(label for label in distinct if map_label(label, label_map) not in known)
    return LabelMatch(UNMATCHED if unmatched else MATCHED, unmatched, len(distinct))


def judged(
    images: Sequence[ImageSummary],
    class_names: Sequence[str] | None,
    label_map: Mapping[str, str] | None = None,
) -> tuple[list[ImageSummary], LabelMatch]:
    """``images`` with ``correct`` set where labels match the model's classes (None elsewhere),
    and the match."""
    found = match((image.label for image in images), class_names, label_map)
    if not found.matched:
        return [replace(image, correct=None) for image in images], found
    return [
        replace(
            image,
            correct=None
            if image.label is None or image.predicted is None
            else map_label(image.label, label_map) == image.predicted,
        )
        for image in images
    ], found
