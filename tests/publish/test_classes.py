"""The per-class section and correct against wrong, from summaries alone (no model, no pages)."""

import sys
from types import SimpleNamespace

import pytest

from reportgen.labels import match as label_match
from reportgen.methods.compare_groups import GroupComparison, RankTest
from reportgen.publish import classes
from reportgen.record import Prediction
from reportgen.results import ImageSummary

COLOURS = ("#FFFEE2", "#FFFDCB", "#FFDEDE")


def summary(index, label, entropy, level, predicted=None, correct=None):
    return ImageSummary(
        index=index,
        id=f"{index:03d}-x",
        name=f"x{index}",
        sha256="0" * 64,
        size_bytes=1,
        original_size=(4, 4),
        entropy=entropy,
        layer_entropies=(entropy,),
        predictions=(Prediction(predicted, 0.9),) if predicted else (),
        level=level,
        label=label,
        correct=correct,
    )


def analysis(images, class_names=None, label_map=None):
    """What the section reads of an analysis: its images, the model's classes, the label map."""
    return SimpleNamespace(
        images=images,
        model=SimpleNamespace(class_names=class_names),
        params=SimpleNamespace(label_map=label_map),
    )


IMAGES = [
    summary(0, "dog", 0.90, 1, "dog", True),
    summary(1, "dog", 0.95, 2, "cat", False),
    summary(2, "dog", 0.99, 3, "dog", True),
    summary(3, "cat", 0.80, 1, "cat", True),
    summary(4, "cat", 0.97, 3, "dog", False),
    summary(5, None, 0.93, 2, "cat", None),
]


def test_rows_count_images_spread_levels_and_hits_per_class_most_focused_first():
    rows = classes.class_rows(IMAGES, n_levels=3, judged=True)
    assert [row.label for row in rows] == ["cat", "dog"]  # medians 0.885 and 0.95
    cat, dog = rows
    assert (cat.images, cat.levels, cat.correct) == (2, (1, 0, 1), 1)
    assert cat.mean_entropy == pytest.approx(0.885) and cat.median_entropy == pytest.approx(0.885)
    assert (dog.images, dog.levels, dog.correct) == (3, (1, 1, 1), 2)
    assert dog.median_entropy == 0.95 and dog.accuracy == pytest.approx(2 / 3)
    unjudged = classes.class_rows(IMAGES, n_levels=3, judged=False)
    assert [row.correct for row in unjudged] == [None, None]
    assert unjudged[0].accuracy is None


def test_matching_labels_give_accuracy_and_correct_against_wrong():
    section = classes.class_section(analysis(IMAGES, ("cat", "dog")), COLOURS, "level-1-x", None)
    assert (section.correct, section.judged, section.unlabelled) == (3, 5, 1)
    assert section.no_accuracy == "" and section.gallery == "level-1-x"
    comparison = section.outcomes.comparison
    assert comparison.sizes == (2, 3)  # misclassified first
    assert comparison.medians == (0.96, 0.9)
    assert comparison.test is not None
    assert section.outcomes.sentence.startswith("Misclassified and correctly classified images")


def test_a_backbone_or_unmatched_labels_show_spread_only_and_say_why():
    backbone = classes.class_section(analysis(IMAGES), COLOURS, None, None)
    assert backbone.correct is None and backbone.outcomes is None
    assert "backbone without a classifier head" in backbone.no_accuracy
    assert [row.correct for row in backbone.rows] == [None, None]
    other = classes.class_section(analysis(IMAGES, ("tabby", "dog")), COLOURS, None, None)
    assert other.correct is None and other.outcomes is None
    assert "1 of the 2 labels is not a class of the model ('cat')" in other.no_accuracy
    mapped = classes.class_section(
        analysis(IMAGES, ("tabby", "dog"), {"cat": "tabby"}), COLOURS, None, None
    )
    assert mapped.no_accuracy == "" and mapped.correct == 3


@pytest.mark.parametrize(
    ("labels", "said"),
    [
        (["cat"], "The one label is not a class of the model ('cat')"),
        (["cat", "dog", "eel"], "1 of the 3 labels is not a class of the model ('eel')"),
        (["cat", "eel", "fox"], "2 of the 3 labels are not classes of the model ('eel', 'fox')"),
    ],
)
def test_the_unmatched_labels_are_counted_in_words_that_agree(labels, said):
    reason = label_match(labels, ["cat", "dog"] if len(labels) > 1 else ["dog"]).reason()
    assert reason.startswith(f"{said}, so predictions cannot be checked against them")


def test_a_group_of_one_or_none_gives_medians_and_says_why_there_is_no_test():
    images = [summary(0, "dog", 0.9, 1, "dog", True), summary(1, "dog", 0.8, 1, "dog", True)]
    section = classes.class_section(analysis(images, ("cat", "dog")), COLOURS, None, None)
    assert section.outcomes.sentence == (
        "No misclassified image, and median spread entropy 0.850 of 2 correctly classified "
        "images; no rank test: it needs at least 2 images in each group."
    )


def test_no_labels_no_section():
    plain = [summary(0, None, 0.9, 1, "cat"), summary(1, None, 0.8, 1, "dog")]
    assert classes.class_section(analysis(plain, ("cat", "dog")), COLOURS, None, None) is None


def test_without_scipy_the_section_keeps_the_medians_and_says_how_to_get_the_test(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.stats", None)
    section = classes.class_section(analysis(IMAGES, ("cat", "dog")), COLOURS, None, None)
    assert section.outcomes.comparison.test is None
    assert section.outcomes.sentence == (
        "Median spread entropy 0.960 of 2 misclassified images against 0.900 of 3 correctly "
        "classified images; no rank test: it needs scipy (pip install 'reportgen[stats]')."
    )


@pytest.mark.parametrize(
    ("p_value", "r", "lead"),
    [
        (0.01, 0.4, "Misclassified images spread their attention more than correctly classified"),
        (0.01, -0.4, "Misclassified images focus their attention more than correctly classified"),
        (0.2, 0.4, "Misclassified and correctly classified images spread their attention alike"),
    ],
)
def test_the_sentence_says_which_way_the_difference_goes(p_value, r, lead):
    comparison = GroupComparison((10, 30), (0.9512, 0.9401), RankTest(210.0, p_value, r))
    sentence = classes.outcome_sentence(comparison)
    assert sentence.startswith(lead)
    assert f"median entropy 0.951 against 0.940, U = 210, p = {p_value:.3g}" in sentence
    assert f"rank-biserial r = {r:+.2f} (10 misclassified, 30 correct)." in sentence
