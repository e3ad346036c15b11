"""The report's sections on labels: the per-class table and correct against wrong.

Computed from the stored results table and manifest (labels, levels, spread entropies, the
``correct`` column, the model's class names), never from the model, so a re-render shows the
same. Pure: the page model's dataclasses and the functions that fill them. Labels are untrusted
text that the templates escape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from reportgen import labels
from reportgen.methods.compare_groups import GroupComparison, compare

if TYPE_CHECKING:
    from reportgen.publish.page_model import Chart
    from reportgen.results import Analysis, ImageSummary

CLASSES_SHOWN = 20  # rows of the per-class table before the rest is folded
SIGNIFICANCE = 0.05  # the level at which the sentence calls a difference clear


@dataclass(frozen=True)
class ClassRow:
    """One class of the per-class table."""

    label: str
    images: int
    mean_entropy: float
    median_entropy: float
    levels: tuple[int, ...]  # its images in each level, 1 to N
    correct: int | None = None  # images predicted right; None without accuracy

    @property
    def accuracy(self) -> float | None:
        return None if self.correct is None else self.correct / self.images


@dataclass(frozen=True)
class Outcomes:
    """Correct against wrong: the spread of misclassified and correct images compared."""

    comparison: GroupComparison  # the first group is the misclassified images
    sentence: str  # what it shows, in one plain sentence
    chart: Chart | None


@dataclass(frozen=True)
class Classes:
    """The per-class section: rows ordered by median spread (most focused class first), the
    accuracy or why there is none, and correct against wrong where predictions are checked."""

    rows: tuple[ClassRow, ...]
    level_colours: tuple[str, ...]  # the level sections' colours, for the rows' level bars
    correct: int | None  # images predicted right over every class; None without accuracy
    judged: int  # images whose prediction was checked
    no_accuracy: str  # why there is no accuracy ("" when there is)
    unlabelled: int  # images without a label, in no row
    gallery: str | None  # the gallery page whose filter a class links; None: a single page
    outcomes: Outcomes | None = None
    shown: int = CLASSES_SHOWN

    @property
    def first_rows(self) -> tuple[ClassRow, ...]:
        return self.rows[: self.shown]

    @property
    def folded_rows(self) -> tuple[ClassRow, ...]:
        return self.rows[self.shown :]


def label_match(analysis: Analysis) -> labels.LabelMatch:
    """Whether the analysis's labels name its model's classes (through its label map)."""
    return labels.match(
        (image.label for image in analysis.images),
        analysis.model.class_names,
        analysis.params.label_map,
    )


def outcome_entropies(images: Sequence[ImageSummary]) -> tuple[list[float], list[float]]:
    """Spread entropies of the misclassified images and of the correct ones (unjudged left
    out)."""
    wrong = [image.entropy for image in images if image.correct is False]
    right = [image.entropy for image in images if image.correct is True]
    return wrong, right


def class_rows(images: Sequence[ImageSummary], n_levels: int, judged: bool) -> list[ClassRow]:
    """One row per label, ordered by median spread entropy (ties: by label); ``judged``: count
    the images predicted right."""
    members: dict[str, list[ImageSummary]] = {}
    for image in images:
        if image.label is not None:
            members.setdefault(image.label, []).append(image)
    rows = []
    for label, group in members.items():
        entropies = np.array([image.entropy for image in group])
        counts = np.bincount([image.level for image in group], minlength=n_levels + 1)[1:]
        rows.append(
            ClassRow(
                label=label,
                images=len(group),
                mean_entropy=float(entropies.mean()),
                median_entropy=float(np.median(entropies)),
                levels=tuple(int(count) for count in counts),
                correct=sum(image.correct is True for image in group) if judged else None,
            )
        )
    return sorted(rows, key=lambda row: (row.median_entropy, row.label))


def outcome_sentence(comparison: GroupComparison) -> str:
    """What correct against wrong shows, in one plain sentence."""
    (n_wrong, n_right), (wrong, right) = comparison.sizes, comparison.medians
    test = comparison.test
    if test is None:
        groups = (("misclassified", wrong, n_wrong), ("correctly classified", right, n_right))
        shown = [
            f"{median:.3f} of {count} {name} image{'s' if count != 1 else ''}"
            for name, median, count in groups
            if median is not None
        ]
        empty = [f"No {name} image, and median" for name, median, _ in groups if median is None]
        medians = f"{(empty or ['Median'])[0]} spread entropy {' against '.join(shown)}"
        return f"{medians}; no rank test: {comparison.no_test}."
    if test.p_value < SIGNIFICANCE:
        lead = (
            "Misclassified images spread their attention more"
            if test.rank_biserial > 0
            else "Misclassified images focus their attention more"
        ) + " than correctly classified ones"
    else:
        lead = (
            "Misclassified and correctly classified images spread their attention alike "
            f"(no clear difference at the {SIGNIFICANCE:.0%} level)"
        )
    return (
        f"{lead}: median entropy {wrong:.3f} against {right:.3f}, U = {test.statistic:g}, "
        f"p = {test.p_value:.3g}; rank-biserial r = {test.rank_biserial:+.2f} "
        f"({n_wrong} misclassified, {n_right} correct)."
    )


def class_section(
    analysis: Analysis,
    level_colours: Sequence[str],
    gallery: str | None,
    chart: Chart | None,
) -> Classes | None:
    """The per-class section of a labelled analysis (None without labels); ``gallery`` is the
    gallery page whose class filter the rows link, ``chart`` correct against wrong's."""
    match = label_match(analysis)
    if match.status == labels.UNLABELLED:
        return None
    images = analysis.images
    judged = [image for image in images if image.correct is not None] if match.matched else []
    outcomes = None
    if judged:
        comparison = compare(*outcome_entropies(judged))
        outcomes = Outcomes(comparison, outcome_sentence(comparison), chart)
    return Classes(
        rows=tuple(class_rows(images, len(level_colours), match.matched)),
        level_colours=tuple(level_colours),
        correct=sum(image.correct is True for image in judged) if match.matched else None,
        judged=len(judged),
        no_accuracy=match.reason(),
        unlabelled=sum(image.label is None for image in images),
        gallery=gallery,
        outcomes=outcomes,
    )
