"""Decoding: colour modes, EXIF orientation, and bad files skipped with reasons (finding the
files is the folder source's: tests/analysis/test_sources.py)."""

import io

import numpy as np
import pytest
from PIL import Image

from reportgen.analysis import images
from reportgen.analysis.sources.folder import FolderSource
from reportgen.record import SkippedFile


def load(path):
    """Read and decode one file, as the analysis does."""
    [item] = [item for item in FolderSource(path.parent).items() if item.name == path.name]
    return images.load(images.read(item))


def save(image: Image.Image, path, **options):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)
    return path


@pytest.mark.parametrize(
    "mode, value",
    [("L", 128), ("RGBA", (10, 20, 30, 255)), ("P", 3), ("CMYK", (0, 0, 0, 0)), ("LA", (50, 255))],
)
def test_modes_become_rgb(tmp_path, mode, value):
    suffix = ".jpg" if mode == "CMYK" else ".png"
    path = save(Image.new(mode, (6, 5), value), tmp_path / f"x{suffix}")
    loaded = load(path)
    assert loaded.image.mode == "RGB" and loaded.image.size == (6, 5)


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    array = np.full((4, 4), 65535 // 2, dtype=np.uint16)
    path = save(Image.fromarray(array), tmp_path / "deep.png")
    pixel = load(path).image.getpixel((0, 0))
    assert pixel == (127, 127, 127)  # 32767 / 65535 * 255; clipping would give 255


def test_transparent_pixels_composite_on_white(tmp_path):
    path = save(Image.new("RGBA", (2, 2), (0, 0, 0, 0)), tmp_path / "clear.png")
    assert load(path).image.getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = save(Image.new("RGB", (40, 20)), tmp_path / "rotated.jpg", exif=exif)
    assert load(path).image.size == (20, 40)


def test_animated_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    red, green, blue = load(path).image.getpixel((0, 0))
    assert red > 200 and blue < 50


def test_sha256_and_size_come_from_the_file_bytes(tmp_path):
    path = save(Image.new("RGB", (3, 3)), tmp_path / "x.png")
    loaded = load(path)
    import hashlib

    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.size_bytes == path.stat().st_size


def truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(buffer, "JPEG")
    return buffer.getvalue()[:300]


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("zero.png", b"", "empty file"),
        ("text.jpg", b"hello, not an image", "not an image"),
        ("cut.jpg", truncated_jpeg(), "corrupt or truncated"),
    ],
)
def test_bad_files_are_skipped_with_a_reason(tmp_path, name, content, reason):
    save(Image.new("RGB", (4, 4)), tmp_path / "good.png")
    (tmp_path / name).write_bytes(content)
    read = [images.read(item) for item in FolderSource(tmp_path).items()]
    assert [f.name for f in read] == sorted(["good.png", name])
    results = []
    for file in read:
        try:
            results.append(images.load(file))
        except images.ImageLoadError as error:
            results.append(SkippedFile(file.name, str(error)))
    skipped = [r for r in results if isinstance(r, SkippedFile)]
    assert [s.name for s in skipped] == [name]
    assert reason in skipped[0].reason and "\n" not in skipped[0].reason
    assert [r.name for r in results if isinstance(r, images.LoadedImage)] == ["good.png"]


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    path = save(Image.new("RGB", (20, 20)), tmp_path / "big.png")  # 400 px: over 2x the limit
    with pytest.raises(images.ImageLoadError, match="too large"):
        load(path)
    path = save(Image.new("RGB", (12, 12)), tmp_path / "warn.png")  # 144 px: warning zone
    with pytest.raises(images.ImageLoadError, match="too large"):
        load(path)
