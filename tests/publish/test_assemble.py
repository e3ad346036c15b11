"""The page model, assembled from a stored analysis and the report's options (no model)."""

import json
import shutil

from conftest import FIXTURE
from PIL import Image

from reportgen.publish import assemble
from reportgen.publish.drawing import FigureDrawer, draw_stored
from reportgen.publish.options import ReportOptions
from reportgen.publish.versions import ReportVersion
from reportgen.results import Analysis


def fixture_report(tmp_path):
    report = tmp_path / "report"
    shutil.copytree(FIXTURE, report)
    stored = ReportOptions.from_json(json.loads((report / "manifest.json").read_text())["report"])
    return report, Analysis.load(report / "data"), stored


def test_a_single_page_report_shows_one_figure_per_level_and_folds_the_rest(tmp_path):
    report, analysis, options = fixture_report(tmp_path)
    model = assemble.build_page_model(report, analysis, options, ReportVersion(3), (), None)
    assert model.galleries == [] and model.images == []
    context = model.context
    assert (context.version, context.n_images) == (3, len(analysis.images))
    assert context.typical_per_level == 1
    assert [level.count for level in context.levels] == [
        sum(image.level == level.number for image in analysis.images) for level in context.levels
    ]
    for level in context.levels:
        assert len(level.typical) == 1 and level.gallery == ()
        assert len(level.typical) + len(level.others) == level.count
        figure = level.typical[0]
        with Image.open(report / figure.file) as drawn:
            assert (figure.width, figure.height) == drawn.size  # read from the file
    assert context.faithfulness is None and context.artifacts_mode is None  # 0.1: neither


def test_with_galleries_every_image_gets_a_page_and_every_level_its_galleries(tmp_path):
    report, analysis, options = fixture_report(tmp_path)
    options = options.changed(gallery_threshold=2, typical=1, page_size=2)
    drawer = FigureDrawer(report, options.style, analysis.spread_spec)
    for image in analysis.images:
        maps = analysis.root / "maps" / f"{image.id}.npz"
        draw_stored(drawer, image, maps, {"figure": False, "thumb": True, "sprite": False})
    model = assemble.build_page_model(report, analysis, options, ReportVersion(1), (), None)
    assert [page.id for page in model.images] == [image.id for image in analysis.images]
    for level in model.context.levels:
        pages_of_level = [g for g in model.galleries if g.level.number == level.number]
        assert len(level.gallery) == -(-level.count // 2)
        assert len(pages_of_level) == 2 * len(level.gallery)  # by entropy and by name
    thumb = model.galleries[0].thumbs[0]
    with Image.open(report / thumb.file) as drawn:
        assert (thumb.width, thumb.height) == drawn.size


def test_image_sizes_are_read_once_per_rendering(tmp_path):
    report, analysis, options = fixture_report(tmp_path)
    sizes = assemble.ImageSizes(report)
    name = next((report / "figures").iterdir()).relative_to(report).as_posix()
    first = sizes(name)
    (report / name).unlink()
    assert sizes(name) == first  # not read again
