"""``reportgen publish``: a results store ``reportgen analyze`` wrote, published without the
model as the report ``reportgen build`` publishes from the same images and options."""

from __future__ import annotations

from conftest import site_files, write_images

from reportgen import cli


def test_analyze_then_publish_is_build(tiny_vit_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1716508800")
    images = write_images(tmp_path / "shelf", 4)
    model = ["--model", str(tiny_vit_dir), "--device", "cpu", "--workers", "0"]
    cache = ["--cache-dir", str(tmp_path / "cache")]
    report = ["--format", "html,gfm", "--title", "A <b>shelf</b>", "--date", "2024-05-24"]
    built = tmp_path / "built"
    assert cli.main(["build", str(images), "--out", str(built), *model, *cache, *report]) == 0
    store = tmp_path / "stores" / "shelf"  # the title and slug default to its name
    assert cli.main(["analyze", str(images), "--out", str(store), *model, *cache]) == 0
    published = tmp_path / "published"
    command = ["publish", str(store), "--out", str(published), "--workers", "0", *cache, *report]
    assert cli.main(command) == 0
    assert "published" in capsys.readouterr().err
    assert site_files(published) == site_files(built)
    assert (published / "reports" / "shelf" / "README.md").is_file()


def test_a_folder_that_is_no_store_is_a_one_line_error(tmp_path, capsys):
    assert cli.main(["publish", str(tmp_path), "--out", str(tmp_path / "site")]) == 2
    error = capsys.readouterr().err
    assert f"{tmp_path} is not a reportgen results folder" in error
    assert error.count("\n") == 1
    assert not (tmp_path / "site").exists()


def test_a_damaged_maps_file_of_a_store_is_named(tiny_vit_dir, tmp_path, capsys):
    images = write_images(tmp_path / "shelf", 2)
    store = tmp_path / "store"
    model = ["--model", str(tiny_vit_dir), "--device", "cpu", "--workers", "0", "--no-cache"]
    assert cli.main(["analyze", str(images), "--out", str(store), *model]) == 0
    maps = sorted((store / "maps").iterdir())[0]
    maps.write_bytes(b"")
    site = tmp_path / "site"
    assert cli.main(["publish", str(store), "--out", str(site), "--workers", "0"]) == 2
    error = capsys.readouterr().err
    assert error.endswith(
        f"reportgen: error: {maps}: damaged, it does not read (empty or cut short); "
        "analyze the images again\n"
    )
    assert "Traceback" not in error
