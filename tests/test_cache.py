"""reportgen cache info / prune: sizes by kind, least recently used first, never under a build."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_images

from reportgen import api, cache, cli
from reportgen.errors import ReportgenError

DAY = 86400


def age(path, days):
    """Make a cache entry look last used ``days`` ago."""
    then = time.time() - days * DAY
    os.utime(path, (then, then))


def entry(root, kind, name, size, days):
    path = root / kind / name[:2] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    age(path, days)
    return path


@pytest.fixture
def built(tmp_path, analysis_params, report_options, execution):
    """A cache filled by one build: results, figures, charts, models, templates, hashes."""
    images = write_images(tmp_path / "images", 3)
    api.build(images, tmp_path / "site", analysis_params, report_options, execution=execution)
    return images, execution.cache_dir


def test_info_shows_size_and_entries_by_kind(built, capsys):
    _, root = built
    model_folder = root / "models" / "dinov2-small-0123456789ab-transformers5"
    model_folder.mkdir()
    (model_folder / "model.safetensors").write_bytes(b"w" * 1000)
    (model_folder / "config.json").write_text("{}")
    usage = cache.usage(root)
    assert list(usage.by_kind)[:5] == ["results", "figures", "charts", "models", "templates"]
    files = [p for p in root.rglob("*") if p.is_file() and p.name != cache.LOCK_FILE]
    assert usage.total == sum(p.stat().st_size for p in files)
    assert usage.by_kind["results"][1] == 3 and usage.by_kind["figures"][1] == 3
    models = [e for e in cache.entries(root) if e.kind == "models" and e.path == model_folder]
    assert len(models) == 1 and models[0].size == 1002  # a converted model is one entry
    assert cli.main(["cache", "info", "--cache-dir", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"cache: {root}"
    assert lines[1].split() == [
        "results",
        *cache.format_size(usage.by_kind["results"][0]).split(),
        "3",
        "entries",
    ]
    assert lines[-1].split()[0] == "total" and lines[-1].endswith(
        f"{len(cache.entries(root))} entries"
    )


def test_info_lines_up_its_columns_whatever_the_kinds_names():
    usage = cache.Usage(Path("/c"), {"results": (2048, 3), "faithfulness": (10, 1)})
    lines = usage.lines()[1:]
    assert len({line.index("B") for line in lines}) == 1  # sizes end in one column
    assert len({len(line) for line in lines}) == 1


def test_older_than_removes_what_no_build_used_lately(
    built, analysis_params, report_options, tmp_path, execution
):
    images, root = built
    for path in root.rglob("*"):
        if path.is_file():
            age(path, 40)
    forgotten = entry(root, "results", "ab" + "0" * 62 + ".npz", 500, days=40)
    api.build(
        images, tmp_path / "site", analysis_params, report_options, execution=execution
    )  # cache hits only
    pruned = cache.prune(root, older_than=cache.parse_age("30d"))
    assert not forgotten.exists()
    kinds = cache.usage(root).by_kind
    assert kinds["results"][1] == 3 and kinds["figures"][1] == 3 and kinds["models"][1] >= 1
    assert pruned.removed >= 1 and pruned.freed >= 500
    assert pruned.left == cache.usage(root).total


def test_max_size_removes_least_recently_used_first(tmp_path):
    root = tmp_path / "cache"
    newest = entry(root, "figures", "aa" + "1" * 62 + ".webp", 400, days=1)
    middle = entry(root, "results", "bb" + "2" * 62 + ".npz", 400, days=2)
    oldest = entry(root, "charts", "cc" + "3" * 62 + "-x.svg", 400, days=3)
    pruned = cache.prune(root, max_size=cache.parse_size("0.5kB"))
    assert newest.exists() and not middle.exists() and not oldest.exists()
    assert (pruned.removed, pruned.freed, pruned.left) == (2, 800, 400)
    assert sorted(p.name for p in root.iterdir()) == [cache.LOCK_FILE, "figures"]
    with pytest.raises(ReportgenError, match="--max-size"):
        cache.prune(root)


def test_prune_never_runs_while_a_command_uses_the_cache(tmp_path, capsys):
    root = tmp_path / "cache"
    kept = entry(root, "results", "aa" + "0" * 62 + ".npz", 100, days=90)
    with cache.in_use(root, say=print), pytest.raises(ReportgenError, match="in use"):
        cache.prune(root, max_size=0)
    holder = subprocess.Popen(  # another process, like a build, holding the cache
        [
            sys.executable,
            "-c",
            "import sys; from reportgen import cache\n"
            f"with cache.in_use({str(root)!r}, print):\n"
            "    print('held', flush=True); sys.stdin.readline()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert holder.stdout.readline() == "held\n"
        assert cli.main(["cache", "prune", "--max-size", "0", "--cache-dir", str(root)]) == 2
        assert "is in use by a running reportgen command" in capsys.readouterr().err
        assert kept.exists()
    finally:
        holder.communicate("\n")
    assert cli.main(["cache", "prune", "--older-than", "30d", "--cache-dir", str(root)]) == 0
    assert "removed 1 entry (100 B)" in capsys.readouterr().err and not kept.exists()


@pytest.mark.parametrize("command", [["info"], ["prune", "--max-size", "0"]])
def test_a_cache_folder_that_is_a_file_is_a_one_line_error(tmp_path, capsys, command):
    """Not an empty cache ('0 B 0 entries', 'removed 0 entries')."""
    file = tmp_path / "afile"
    file.write_text("mine")
    assert cli.main(["cache", *command, "--cache-dir", str(file)]) == 2
    assert capsys.readouterr().err == (
        f"reportgen: error: cannot use the cache folder {file} (it is a file, not a folder); "
        "give a writable one with --cache-dir or REPORTGEN_CACHE_DIR\n"
    )
    assert file.read_text() == "mine"


def test_sizes_and_ages_people_type():
    assert cache.parse_size("2GB") == 2_000_000_000
    assert cache.parse_size("1.5GiB") == 1.5 * 2**30
    assert cache.parse_size("500M") == cache.parse_size("500 mb") == 500_000_000
    assert cache.parse_size("4096") == 4096
    assert cache.parse_age("30d") == 30 * DAY and cache.parse_age("12h") == 12 * 3600
    assert cache.parse_age("2w") == 14 * DAY and cache.parse_age("90m") == 5400
    for bad in ("", "2XB", "-1GB", "GB"):
        with pytest.raises(ValueError, match="not a size"):
            cache.parse_size(bad)
    for bad in ("30", "1y", "d"):
        with pytest.raises(ValueError, match="not an age"):
            cache.parse_age(bad)
    assert [cache.format_size(n) for n in (12, 1500, 2_340_000, 5 * 10**12)] == [
        "12 B",
        "1.5 kB",
        "2.3 MB",
        "5.0 TB",
    ]
