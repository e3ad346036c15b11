"""The commands registry as the command line assembles it: every command's arguments, the
shared option groups turned into options, and --source choosing an input source."""

import argparse
import json
import re
from pathlib import Path

import pytest
from conftest import TESTS, declare_entry_points

from reportgen import cli, plugins
from reportgen.analysis import sources
from reportgen.analysis.execution import Execution
from reportgen.commands import COMMANDS, argument_types, options
from reportgen.errors import ReportgenError
from reportgen.results import AnalysisParams


def test_the_parser_has_every_command_in_order(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    usage = capsys.readouterr().out
    listed = re.findall(r"^    (\S+)", usage, re.MULTILINE)
    assert listed == list(COMMANDS)
    assert listed == [
        "analyze",
        "build",
        "publish",
        "render",
        "compare",
        "verify",
        "cache",
        "export",
        "check-distill",
        "embed",
    ]
    for name, command in COMMANDS.items():
        assert command.HELP in " ".join(usage.split()), name


def test_each_command_runs_its_own_arguments():
    parser = cli.build_parser()
    assert parser.parse_args(["verify", "site"]).run is COMMANDS["verify"].run
    args = parser.parse_args(["cache", "prune", "--max-size", "2GB", "--older-than", "12h"])
    assert args.run is COMMANDS["cache"].run
    assert (args.max_size, args.older_than) == (2 * 10**9, 12 * 3600)
    args = parser.parse_args(["render", "r", "--workers", "0", "--format", "gfm, html"])
    assert args.workers == 0 and options.formats(args.formats) == ("gfm", "html")
    assert args.colormap is None  # render keeps the stored value of what is not given


def option_help(command: str, capsys, monkeypatch) -> dict[str, str]:
    """``reportgen COMMAND --help`` parsed: each option's help text, on one line."""
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    entries: dict[str, str] = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("  -"):
            names, _, text = line.strip().partition("  ")
            option = names.split()[0].rstrip(",")
            entries[option] = text.strip()
        elif line.startswith("    ") and entries:  # the help continued
            entries[option] = f"{entries[option]} {line.strip()}".strip()
    return entries


def test_render_help_says_once_that_it_keeps_each_stored_value(capsys, monkeypatch):
    render, build = (option_help(name, capsys, monkeypatch) for name in ("render", "build"))
    unstored = {"-h", "--templates", "--cache-dir", "--workers"}
    kept = [name for name in render if name not in unstored]
    assert {"--format", "--colormap", "--jekyll-include", "--page-size"} <= set(kept)
    for name in kept:
        assert render[name].count("(default:") == 1, (name, render[name])
        assert render[name].endswith("(default: as built)"), (name, render[name])
    assert build["--colormap"].endswith("(default: jet)")
    assert build["--jekyll-include"].endswith("(default: figure.liquid)")
    assert not [name for name, text in build.items() if "as built" in text]


def test_workers_say_next_to_the_model_only_where_a_model_runs(capsys, monkeypatch):
    for command in ("analyze", "build", "publish", "render", "compare"):
        text = option_help(command, capsys, monkeypatch)["--workers"]
        assert ("model" in text) == (command in ("analyze", "build")), (command, text)


def test_embed_what_says_what_each_choice_embeds(capsys, monkeypatch):
    text = option_help("embed", capsys, monkeypatch)["--what"]
    assert "figure =" in text and "explorer =" in text


@pytest.mark.parametrize("command", [["build"], ["render"], ["publish"], ["compare", "other"]])
@pytest.mark.parametrize("given", ["", ",", " , "])
def test_a_format_list_naming_nothing_is_a_one_line_error(command, given, tmp_path, capsys):
    """Never a traceback (build, publish), nor the default or stored formats (render, compare):
    the error comes before anything is read."""
    argv = [command[0], str(tmp_path / "nowhere"), *command[1:], "--format", given]
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("reportgen: error: unknown format (none); choose from html, jekyll")
    assert error.count("\n") == 1


def test_analyze_and_build_share_the_analysis_options():
    flags = ["--model", "m", "--device", "cpu", "--batch-size", "3", "--levels", "5"]
    flags += ["--spread-by", "layer:2", "--head-fusion", "max", "--discard-ratio", "0.5"]
    flags += ["--rollout-start-layer", "1", "--artifacts", "keep", "--relevance"]
    flags += ["--target-class", "cat", "--faithfulness", "--faithfulness-images", "4"]
    flags += ["--faithfulness-steps", "16", "--faithfulness-maps", "all"]
    flags += ["--faithfulness-precision", "float32"]
    flags += ["--keep-heads", "--cache-dir", "c", "--no-cache", "--dtype", "float16"]
    flags += ["--workers", "2", "--engine", "ray", "--ray-address", "auto", "--ray-actors", "3"]
    expected_params = AnalysisParams(
        model="m",
        dtype="float16",
        batch_size=3,
        levels=5,
        spread_by="layer:2",
        head_fusion="max",
        discard_ratio=0.5,
        rollout_start_layer=1,
        artifacts="keep",
        relevance=True,
        target_class="cat",
        faithfulness=True,
        faithfulness_images=4,
        faithfulness_steps=16,
        faithfulness_maps="all",
        faithfulness_precision="float32",
        keep_heads=True,
    )
    expected_execution = Execution(
        device="cpu",
        engine="ray",
        workers=2,
        ray_address="auto",
        ray_actors=3,
        cache_dir=Path("c"),
        use_cache=False,
    )
    parser = cli.build_parser()
    for command in (["analyze", "imgs", "--out", "o"], ["build", "imgs"]):
        args = parser.parse_args(command + flags)
        assert options.analysis_params(args) == expected_params, command[0]
        assert options.execution(args) == expected_execution, command[0]
    defaults = parser.parse_args(["build", "imgs"])
    assert options.analysis_params(defaults) == AnalysisParams()
    assert options.execution(defaults) == Execution()
    assert options.source(defaults).folder.name == "imgs"
    assert sources.open_source("folder", "imgs").folder.name == "imgs"
    with pytest.raises(ReportgenError, match="give the images"):
        options.source(parser.parse_args(["build"]))


def test_the_column_options_are_shared_by_every_source_with_columns():
    parser = cli.build_parser()
    for command in (["analyze", "--out", "o"], ["build"]):
        args = parser.parse_args([*command, "--image-column", "img", "--label-column", "y"])
        assert (args.image_column, args.label_column) == ("img", "y"), command[0]
    defaults = parser.parse_args(["build", "imgs"])
    assert defaults.image_column is None and defaults.label_column is None


def test_the_folder_options_shape_the_folder_source():
    parser = cli.build_parser()
    plain = options.source(parser.parse_args(["build", "imgs"]))
    assert (plain.recursive, plain.labels_from_folders) == (False, False)
    deep = options.source(parser.parse_args(["analyze", "imgs", "--out", "o", "--recursive"]))
    assert (deep.folder, deep.recursive, deep.labels_from_folders) == (Path("imgs"), True, False)
    for command in (["build", "imgs"], ["build", "imgs", "--source", "folder"]):
        classes = options.source(parser.parse_args([*command, "--labels-from-folders"]))
        assert (classes.recursive, classes.labels_from_folders) == (True, True), command
    with pytest.raises(ReportgenError, match="^--recursive and --labels-from-folders read IMAGES"):
        options.source(parser.parse_args(["build", "--recursive"]))


@pytest.fixture
def generated_plugin(monkeypatch):
    """The generated source of tests/analysis, installed as a plugin."""
    monkeypatch.syspath_prepend(str(TESTS / "analysis"))
    declare_entry_points(
        monkeypatch, plugins.SOURCES, ("generated", "generated_source:GeneratedSource")
    )
    sources.registry.cache_clear()
    yield
    sources.registry.cache_clear()


def test_source_chooses_a_plugin_source(generated_plugin, tiny_vit_dir, tmp_path, capsys):
    status = cli.main(
        ["build", "3", "--source", "generated", "--out", str(tmp_path / "site")]
        + ["--model", str(tiny_vit_dir), "--device", "cpu", "--format", "gfm"]
        + ["--date", "2024-05-24", "--cache-dir", str(tmp_path / "cache")]
    )
    assert status == 0, capsys.readouterr().err
    report = tmp_path / "site" / "reports" / "generated-shelf"
    manifest = json.loads((report / "data" / "manifest.json").read_text())
    assert manifest["inputs"]["generated"] == 3 and len(manifest["inputs"]["images"]) == 3
    assert (
        "# Where a Vision Transformer looks&#58; Generated shelf\n"
        in (report / "README.md").read_text()
    )


def test_an_unknown_source_is_a_one_line_error(generated_plugin, tmp_path, capsys):
    assert cli.main(["analyze", "x", "--source", "nope", "--out", str(tmp_path / "o")]) == 2
    known = ", ".join([*sources.SOURCES, "generated"])
    assert capsys.readouterr().err == (
        f"reportgen: error: unknown source 'nope'; choose from {known}\n"
    )
    assert cli.main(["analyze", "many", "--source", "generated", "--out", str(tmp_path)]) == 2
    assert "expected a number of images, got 'many'" in capsys.readouterr().err


def test_start_layer_is_auto_or_a_whole_number():
    assert argument_types.start_layer("auto") == "auto" and argument_types.start_layer("3") == 3
    with pytest.raises(argparse.ArgumentTypeError, match="expected auto or a whole number"):
        argument_types.start_layer("two")


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (["--hugo-version", "0.111"], "the hugo flavour's options do nothing: --format does not"),
        (["--hugo-version", "0.111", "--format", "html,hugo"], ""),
        (["--authors", "anonymous", "--format", "html"], "the distill flavour's options do"),
    ],
)
def test_a_flavours_options_without_the_flavour_say_they_do_nothing(given, said, capsys):
    args = cli.build_parser().parse_args(["build", "images", *given])
    options.report_options(args)
    error = capsys.readouterr().err
    assert error.startswith(f"reportgen: {said}") if said else error == ""
