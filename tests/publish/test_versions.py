"""Versioned reports: a rebuild keeps the previous report, identical rebuilds publish nothing."""

import html
import json
import shutil
from dataclasses import replace

import pytest
from conftest import FIXTURE, site_files, write_images

from reportgen import api, cli
from reportgen.errors import ReportgenError
from reportgen.publish import earlier, staging, versions
from reportgen.publish.build import rerender, stored_style
from reportgen.publish.options import parse_date


@pytest.fixture
def inputs(tmp_path):
    """Three different image folders: each build over the same slug is a new version."""
    return [write_images(tmp_path / f"images-{n}", 3 + n, seed=n) for n in range(3)]


def manifest(report):
    return json.loads((report / "manifest.json").read_text())


def build(images, out, analysis_params, report_options, **keywords):
    messages = []
    report = api.build(
        images, out, analysis_params, report_options, say=messages.append, **keywords
    )
    return report, messages[-1]


def test_a_rebuild_keeps_the_previous_report_as_a_version(
    inputs, tmp_path, analysis_params, report_options, execution
):
    out = tmp_path / "site"
    report, _ = build(inputs[0], out, analysis_params, report_options, execution=execution)
    first = site_files(report)
    later = replace(report_options, date=parse_date("2024-06-01"))
    _, said = build(inputs[1], out, analysis_params, later, execution=execution)
    assert said.endswith("as version 2; version 1 kept in versions/1")

    kept = report / "versions/1"
    assert manifest(kept)["version"] == 1 and manifest(kept)["archived"] is True
    for name, data in first.items():  # data and figures exactly as they were published
        if name.startswith(("data/", "figures/")):
            assert (kept / name).read_bytes() == data, name
    assert manifest(report)["version"] == 2
    assert manifest(report)["history"] == [{"version": 1, "folder": "versions/1"}]
    assert not [name for name in manifest(report)["files"] if name.startswith("versions/")]

    page = (report / "index.html").read_text()
    assert '<a href="versions/1/index.html">version 1</a></td><td>2024-05-24</td>' in page
    assert "version 2 (this page)</td><td>2024-06-01</td>" in page
    assert "<td>4</td>" in page and "<td>3</td>" in page  # images of each version
    assert "[version 1](versions/1/README.md)" in (report / "README.md").read_text()
    post = next((report / "jekyll/_posts").iterdir()).read_text()
    assert "version 1" in post and "versions/1" not in post.replace("versions/</code>", "")
    archived_page = (kept / "index.html").read_text()
    assert "This is version 1 of this report, an earlier version kept" in archived_page
    assert '<a href="../../index.html">the current version</a>' in archived_page
    assert "<h2>Versions</h2>" not in archived_page

    index = html.unescape((out / "index.html").read_text())
    assert "4 images · version 2 (2 versions kept)" in index


def test_an_identical_rebuild_publishes_nothing(
    inputs, tmp_path, analysis_params, report_options, execution
):
    out = tmp_path / "site"
    build(inputs[0], out, analysis_params, report_options, execution=execution)
    before = site_files(out)
    another_day = replace(report_options, date=parse_date("2025-01-01"))
    report, said = build(inputs[0], out, analysis_params, another_day, execution=execution)
    assert "is unchanged (version 1)" in said and "nothing was published" in said
    assert site_files(out) == before
    retitled = replace(report_options, title="Another title")
    _, said = build(inputs[0], out, analysis_params, retitled, execution=execution)
    assert said.endswith("as version 2; version 1 kept in versions/1")


def test_replace_overwrites_and_keep_versions_bounds_the_history(
    inputs, tmp_path, analysis_params, report_options, execution
):
    out = tmp_path / "site"
    for images in inputs:
        report, _ = build(images, out, analysis_params, report_options, execution=execution)
    assert sorted(p.name for p in (report / "versions").iterdir()) == ["1", "2"]

    _, said = build(
        inputs[0], out, analysis_params, report_options, replace=True, execution=execution
    )
    assert said.endswith("as version 3")  # in the place of the version 3 it replaced
    assert sorted(p.name for p in (report / "versions").iterdir()) == ["1", "2"]
    assert manifest(report)["inputs"]["images"][0]["name"] == "img00.png"
    assert len(manifest(report)["inputs"]["images"]) == 3

    _, said = build(
        inputs[1], out, analysis_params, report_options, keep_versions=1, execution=execution
    )
    assert said.endswith("as version 4; version 3 kept in versions/3; removed version 1, 2")
    assert [p.name for p in (report / "versions").iterdir()] == ["3"]
    assert manifest(report)["history"] == [{"version": 3, "folder": "versions/3"}]

    _, said = build(
        inputs[2], out, analysis_params, report_options, keep_versions=0, execution=execution
    )
    assert said.endswith("as version 5; removed version 3, 4")
    assert not (report / "versions").exists()
    with pytest.raises(ReportgenError, match="--keep-versions"):
        build(
            inputs[0], out, analysis_params, report_options, keep_versions=-1, execution=execution
        )


def test_a_folder_that_is_not_a_report_is_never_overwritten_silently(
    inputs, tmp_path, analysis_params, report_options, execution
):
    out = tmp_path / "site"
    mine = out / "reports" / "tiny"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("my own notes")
    with pytest.raises(ReportgenError, match="not a reportgen report.*--replace"):
        build(inputs[0], out, analysis_params, report_options, execution=execution)
    assert site_files(out) == {"reports/tiny/notes.txt": b"my own notes"}
    report, _ = build(
        inputs[0], out, analysis_params, report_options, replace=True, execution=execution
    )
    assert not (report / "notes.txt").exists() and manifest(report)["version"] == 1


def test_a_report_from_reportgen_0_1_0_becomes_version_1(
    inputs, tmp_path, analysis_params, report_options, execution
):
    out = tmp_path / "site"
    shutil.copytree(FIXTURE, out / "reports" / "v0-1-0")
    old = site_files(FIXTURE)
    report, said = build(
        inputs[0], out, analysis_params, replace(report_options, slug="v0-1-0"), execution=execution
    )
    assert said.endswith("as version 2; version 1 kept in versions/1")
    kept = report / "versions/1"
    for name in old:
        if name.startswith(("data/", "figures/")):
            assert (kept / name).read_bytes() == old[name], name
    assert manifest(kept)["report"]["title"] == "Report written by reportgen 0.1.0"
    assert "This is version 1 of this report" in (kept / "index.html").read_text()


def test_rerender_keeps_the_versions(inputs, tmp_path, analysis_params, report_options, execution):
    out = tmp_path / "site"
    build(inputs[0], out, analysis_params, report_options, execution=execution)
    report, _ = build(inputs[1], out, analysis_params, report_options, execution=execution)
    rerender(report)
    assert manifest(report)["history"] == [{"version": 1, "folder": "versions/1"}]
    assert 'href="versions/1/index.html"' in (report / "index.html").read_text()
    before = site_files(report / "versions/1")
    rerender(report / "versions/1", style=replace(stored_style(report), alpha=0.25))
    kept = report / "versions/1"
    assert manifest(kept)["archived"] is True and manifest(kept)["version"] == 1
    assert "an earlier version kept" in (kept / "index.html").read_text()
    changed = {name for name, data in site_files(kept).items() if before.get(name) != data}
    assert any(name.startswith("figures/") for name in changed)
    assert not any(name.startswith("data/") for name in changed)


@pytest.mark.parametrize("meanwhile", ["nothing", "report re-rendered", "version re-rendered"])
def test_the_versions_staged_during_the_analysis_are_kept_only_if_still_published(
    meanwhile, inputs, tmp_path, analysis_params, report_options, execution, monkeypatch
):
    """A rebuild stages the earlier versions while the analysis runs (here, in one process:
    before it). A re-render published meanwhile, of the report or of a version it keeps, is
    what the new report keeps: the stale copy is staged again."""
    out, inline = tmp_path / "site", replace(execution, workers=0)
    build(inputs[0], out, analysis_params, report_options, execution=inline)
    report, _ = build(inputs[1], out, analysis_params, report_options, execution=inline)
    stage, analyze_source = earlier.stage, api.analyze_source
    calls = []
    monkeypatch.setattr(earlier, "stage", lambda *a, **k: calls.append(a) or stage(*a, **k))
    re_rendered = {"report": report, "version": report / "versions/1"}.get(meanwhile.split()[0])

    def analyze_after_a_re_render(*args, **kwargs):
        if re_rendered:
            rerender(re_rendered, title="Re-rendered meanwhile")
        return analyze_source(*args, **kwargs)

    monkeypatch.setattr(api, "analyze_source", analyze_after_a_re_render)
    _, said = build(inputs[2], out, analysis_params, report_options, execution=inline)
    assert said.endswith("as version 3; version 2 kept in versions/2")
    assert len(calls) == (1 if meanwhile == "nothing" else 2)
    titles = {f: manifest(report / "versions" / f)["report"]["title"] for f in ("1", "2")}
    kept = {"report": "2", "version": "1"}.get(meanwhile.split()[0])
    assert [f for f, title in titles.items() if title == "Re-rendered meanwhile"] == (
        [kept] if kept else []
    )
    if kept:
        assert "Re-rendered meanwhile" in (report / "versions" / kept / "index.html").read_text()
    assert cli.main(["verify", str(out)]) == 0


def test_versions_that_could_not_be_staged_early_are_staged_when_publishing(
    inputs, tmp_path, analysis_params, report_options, execution, monkeypatch
):
    out, inline = tmp_path / "site", replace(execution, workers=0)
    build(inputs[0], out, analysis_params, report_options, execution=inline)
    report, _ = build(inputs[1], out, analysis_params, report_options, execution=inline)
    stage, calls = earlier.stage, []

    def fails_half_way_the_first_time(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            (args[1] / "versions/9").mkdir(parents=True)  # a partial staging, left behind
            raise OSError(5, "Input/output error")
        return stage(*args, **kwargs)

    monkeypatch.setattr(earlier, "stage", fails_half_way_the_first_time)
    _, said = build(inputs[2], out, analysis_params, report_options, execution=inline)
    assert said.endswith("as version 3; version 2 kept in versions/2") and len(calls) == 2
    assert sorted(path.name for path in (report / "versions").iterdir()) == ["1", "2"]
    assert cli.main(["verify", str(out)]) == 0


def test_a_failed_build_leaves_the_versions_as_they_were(
    inputs, tmp_path, analysis_params, report_options, monkeypatch, execution
):
    out = tmp_path / "site"
    build(inputs[0], out, analysis_params, report_options, execution=execution)
    build(inputs[1], out, analysis_params, report_options, execution=execution)
    before = site_files(out)

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(staging, "publish", crash)
    with pytest.raises(ReportgenError, match="nothing was published: the site is as it was"):
        build(inputs[2], out, analysis_params, report_options, execution=execution)
    assert site_files(out) == before
    assert not [p for p in out.rglob(".reportgen*")]


def test_cli_versions_options(inputs, tmp_path, tiny_vit_dir, capsys):
    out = tmp_path / "site"
    common = ["--out", out, "--model", tiny_vit_dir, "--device", "cpu", "--slug", "cli"]
    common += ["--cache-dir", tmp_path / "cache", "--format", "gfm"]

    def run(images, *extra):
        return cli.main([str(arg) for arg in ["build", images, *common, *extra]])

    assert run(inputs[0]) == 0 and run(inputs[1]) == 0
    assert (out / "reports/cli/versions/1/README.md").is_file()
    assert run(inputs[2], "--keep-versions", "0") == 0
    assert not (out / "reports/cli/versions").exists()
    assert run(inputs[0], "--replace") == 0
    assert manifest(out / "reports/cli")["version"] == 3
    assert "as version 3" in capsys.readouterr().err
    assert run(inputs[0], "--keep-versions", "-2") == 2
    assert "--keep-versions must be 0 or more" in capsys.readouterr().err


# --- the numbering alone (versions.plan): no model, no files ------------------------------


def test_the_first_build_is_version_1():
    assert versions.plan(None, [], replace=False, keep=None) == versions.VersionPlan(
        1, None, frozenset(), ()
    )


def test_a_rebuild_keeps_the_current_report_and_takes_the_next_number():
    plan = versions.plan(3, [1, 2], replace=False, keep=None)
    assert (plan.number, plan.archived, plan.kept, plan.dropped) == (4, 3, {1, 2, 3}, ())


def test_numbers_are_never_reused_after_versions_are_dropped():
    plan = versions.plan(2, [5], replace=False, keep=None)  # a replaced report kept number 2
    assert plan.number == 6


def test_keep_versions_keeps_the_newest_and_drops_the_rest():
    plan = versions.plan(4, [1, 2, 3], replace=False, keep=2)
    assert (plan.number, plan.archived, plan.kept, plan.dropped) == (5, 4, {3, 4}, (1, 2))
    nothing_kept = versions.plan(4, [1, 2, 3], replace=False, keep=0)
    assert (nothing_kept.archived, nothing_kept.kept, nothing_kept.dropped) == (
        None,
        frozenset(),
        (1, 2, 3, 4),
    )


def test_replace_takes_the_current_number_and_archives_nothing():
    plan = versions.plan(3, [1, 2], replace=True, keep=1)
    assert (plan.number, plan.archived, plan.kept, plan.dropped) == (3, None, {2}, (1,))
    assert versions.plan(None, [], replace=True, keep=None).number == 1


def test_the_build_says_what_happened_to_the_earlier_versions():
    plan = versions.plan(4, [1, 2, 3], replace=False, keep=2)
    assert versions.plan_notes(plan, "versions") == [
        "version 4 kept in versions/4",
        "removed version 1, 2",
    ]
    assert versions.plan_notes(versions.plan(None, [], replace=False, keep=None), "v") == []


def test_history_is_listed_newest_first():
    entries = [versions.VersionPlan(n, None, frozenset(), ()) for n in (2, 10, 1)]
    assert [entry.number for entry in versions.newest_first(entries)] == [10, 2, 1]


def test_staging_stops_between_its_steps_once_asked(
    inputs, tmp_path, analysis_params, report_options, execution
):
    """An unchanged rebuild asks its early staging (in a worker) to stop rather than wait for
    what it deletes: before the archived version, and between its tasks. The versions the
    published report keeps are not staged: publishing moves them over."""
    from reportgen.publish.templates import Templates

    out, inline = tmp_path / "site", replace(execution, workers=0)
    build(inputs[0], out, analysis_params, report_options, execution=inline)
    report, _ = build(inputs[1], out, analysis_params, report_options, execution=inline)
    stop = earlier.StopFile(tmp_path / "stop")

    def stage(into, **keywords):
        earlier.stage(report, into, Templates(), None, replace=False, keep=None, **keywords)

    stage(tmp_path / "whole", stop=stop)  # not asked: all of it
    assert [path.name for path in (tmp_path / "whole/versions").iterdir()] == ["2"]
    assert (tmp_path / "whole/versions/2/index.html").is_file()
    assert (tmp_path / "whole/versions/2/data/manifest.json").is_file()
    stop.request()
    with pytest.raises(earlier.Stopped):
        stage(tmp_path / "asked", stop=stop)
    assert not (tmp_path / "asked").exists()

    class StopAfter(earlier.StopFile):  # asked while the archived version's tasks run
        def check(self):
            self.path.write_text(self.path.read_text() + "x")
            if len(self.path.read_text()) > 3:
                raise earlier.Stopped

    tasks = StopAfter(tmp_path / "tasks")
    tasks.path.write_text("")
    with pytest.raises(earlier.Stopped):
        stage(tmp_path / "half", stop=tasks)
    assert (tmp_path / "half/versions/2/data").is_dir()  # linked before it was asked
    assert not (tmp_path / "half/versions/2/index.html").exists()  # its pages never written


def test_an_unchanged_rebuild_asks_its_early_staging_to_stop(
    inputs, tmp_path, analysis_params, report_options, execution, monkeypatch
):
    asked = []
    monkeypatch.setattr(earlier.StopFile, "request", lambda stop: asked.append(stop))
    out, inline = tmp_path / "site", replace(execution, workers=0)
    build(inputs[0], out, analysis_params, report_options, execution=inline)
    build(inputs[1], out, analysis_params, report_options, execution=inline)
    assert asked == []  # a new version: its staging is used
    _, said = build(inputs[1], out, analysis_params, report_options, execution=inline)
    assert "is unchanged" in said and len(asked) == 1
    assert not list(out.glob(f"{staging.STAGING_PREFIX}*"))


def test_a_failed_analysis_asks_the_early_staging_to_stop(
    inputs, tmp_path, analysis_params, report_options, execution, monkeypatch
):
    asked = []
    out = tmp_path / "site"
    build(inputs[0], out, analysis_params, report_options, execution=execution)
    before = site_files(out)
    monkeypatch.setattr(earlier.StopFile, "request", lambda stop: asked.append(stop))

    def fails(*args, **kwargs):
        raise ReportgenError("the folder changed while reportgen ran")

    monkeypatch.setattr(api, "analyze_source", fails)
    with pytest.raises(ReportgenError, match="folder changed"):
        build(inputs[1], out, analysis_params, report_options, execution=execution)
    assert len(asked) == 1 and site_files(out) == before
    assert not list(out.glob(f"{staging.STAGING_PREFIX}*"))


@pytest.mark.parametrize("replace_it, keep", [(False, None), (False, 1), (True, None), (False, 0)])
def test_the_versions_a_new_report_lists_are_those_staged(
    replace_it, keep, inputs, tmp_path, analysis_params, report_options, execution
):
    """A build renders the new report, which lists its earlier versions, while they are staged:
    it reads them from the published report (kept_versions), and they must be those it has
    once published: the one staged, and those carried over from the published report."""
    from reportgen.publish import index
    from reportgen.publish.templates import Templates

    out, inline = tmp_path / "site", replace(execution, workers=0)
    later = replace(report_options, date=parse_date("2024-06-01"))
    build(inputs[0], out, analysis_params, report_options, execution=inline)
    report, _ = build(inputs[1], out, analysis_params, later, execution=inline)
    staged = tmp_path / "staged"
    kept = earlier.stage(report, staged, Templates(), None, replace=replace_it, keep=keep)
    current = earlier.published_manifest(report, replace_it)
    assert kept == earlier.kept_versions(report, current, replace=replace_it, keep=keep)
    for folder in kept.carried:  # as publishing moves them (here: linked, the report stays)
        staging.link_tree(report / folder, staged / folder)
    assert kept.history == index.history(staged)
    assert [entry.number for entry in kept.history] == {
        (False, None): [2, 1],
        (False, 1): [2],
        (True, None): [1],
        (False, 0): [],
    }[replace_it, keep]


def test_a_version_this_code_rendered_is_kept_from_its_own_files_as_rendering_it_again_would(
    inputs, tmp_path, analysis_params, report_options, execution, monkeypatch
):
    """Archiving a report this code rendered (as the cache remembers) links its files and
    renders only its front pages and manifest: the same files, byte for byte, as rendering
    every page again, in every flavour; without that memory, or with other templates, it
    renders them all."""
    from reportgen import store
    from reportgen.publish import flavours, render_job
    from reportgen.publish.templates import Templates

    options = report_options.changed(
        formats=tuple(flavours.BUILT_IN), gallery_threshold=2, page_size=2
    )
    report, _ = build(inputs[2], tmp_path / "site", analysis_params, options, execution=execution)
    cache, templates = store.ContentCache(execution.cache_dir), Templates()
    current = earlier.published_manifest(report, replace=False)
    assert render_job.rendered_here(report, templates, cache)
    user_templates = tmp_path / "templates"
    user_templates.mkdir()
    (user_templates / "_style.css").write_text("body { color: red; }")
    assert not render_job.rendered_here(report, Templates(user_templates), cache)
    assert not render_job.rendered_here(report, templates, None)

    rendered = []

    def counted(name):
        function = getattr(earlier, f"render_{name}")
        return lambda *arguments: rendered.append(name) or function(*arguments)

    for name in ("front_pages", "from_store"):
        monkeypatch.setattr(earlier, f"render_{name}", counted(name))
    earlier._archive(report, current, tmp_path / "fast", templates, cache, None)
    monkeypatch.setattr(earlier, "rendered_here", lambda *arguments: False)
    earlier._archive(report, current, tmp_path / "again", templates, cache, None)
    assert rendered == ["front_pages", "from_store"]
    fast, again = site_files(tmp_path / "fast"), site_files(tmp_path / "again")
    assert sorted(fast) == sorted(again)
    assert [name for name in fast if fast[name] != again[name]] == []
    assert {f"images/00{n}-img0{n}.html" for n in range(5)} <= set(fast)  # the image pages
    assert json.loads(fast["manifest.json"])["archived"] is True
    image_page = "images/000-img00.html"
    assert (tmp_path / "fast" / image_page).stat().st_ino == (report / image_page).stat().st_ino
