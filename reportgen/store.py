"""Per-image result files, the content-keyed cache, and atomic, deterministic file writing.

One record file format serves both the cache and a report's ``data/`` folder: an ``.npz`` with
the arrays and a JSON ``meta`` entry, written with fixed zip timestamps so identical inputs give
identical bytes. Format 7 (issue 23) keeps what the report cannot recompute, and every head's
attention, in 25.0 kB per image for ViT-S at 224 (format 5: 42.8 kB), as ``python -m
benchmarks.storage`` measures on the offline model over 60 photos (kB per image):

- ``seen_image_webp``: the image as the model saw it, WebP (quality 75, method 6: 5.8 kB and
  36 dB PSNR; quality 85, method 2 took 9.2 kB for 39 dB);
- ``layers``, ``rollout``, ``min`` (kept from format 6 on) as float16 (methods with ``half``),
  within 4.9e-4 of the map's peak (5.5, 0.5 and 0.6 kB; float32 took 11.0, 0.9 and 1.0);
  ``relevance`` and plugin maps float32. ``max`` and ``mean`` are recomputed from the layers on
  reading, as is the ``min`` of earlier files;
- ``artifact_mask`` (bool);
- ``norms``: per layer, the L2 norm of every patch token, 8 bits per value quantised per grid,
  with ``norms_range``; ``features``: the feature view's channels, likewise (older files lack
  them); the artifact score in ``meta``;
- ``cls_heads``, every head's CLS attention (issue 8: raw data to re-derive maps from), 4 bits
  per value quantised per (layer, head) grid, two to a byte, each grid's low and high in
  ``cls_heads_range``: 6.6 kB (8 bits: 15.7). Each value is within 1/30 of its grid's range;
  drawn by the explorer, no pixel is more than 23 of 255 from 8-bit heads' (errors of maps
  re-derived from them: docs/large-reports.md). ``keep_heads``: float16, 26.4 kB more.

Format 6 (float32 maps, 8-bit heads), 5 (no min: over every layer), 4 (min over the plain
layers), 3 (``cls_heads`` float16 only with ``keep_heads``), 2 (0.2: the raw ``seen_image``,
float32 heads, every map) and 1 files (0.1: heads and rollout) still load as they did.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import io
import itertools
import json
import os
import shutil
import stat
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from reportgen import quantise
from reportgen.errors import DamagedFile
from reportgen.methods import panels, registry
from reportgen.record import ImageRecord, Prediction

# deflate level 6: 0.8 kB a file less than level 1 in the same time (level 9: 0.1 kB, +4 ms)
ZIP_LEVEL = 6
FORMAT_VERSION = 7
MIN_RELATIVE_FORMAT = 5  # from format 5 on, min takes each layer relative to its peak
MIN_KEPT_FORMAT = 6  # from format 6 on, min is kept: over the layers from rollout's start on
SEEN_IMAGE_QUALITY = 75  # WebP quality of the stored seen image, method 6 (module doc)
HEADS_BITS = 4  # bits per stored head value, two to a byte, unless keep_heads (module doc)
PACKED_HEADS_FORMAT = 7  # from format 7 on, the heads are 4-bit levels two to a byte
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
USED_WITHIN_NS = 3600 * 10**9  # how precisely pruning knows when a cached file was last used


@functools.lru_cache(maxsize=8)
def source_fingerprint(*modules: str) -> str:
    """sha256 of the source of reportgen modules: part of cache keys, so cached results and
    figures are not reused after the code that made them changed. ``modules`` are dotted names
    below the package, such as ``methods.maps``, or of other packages (a plugin's module)."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for module in modules:
        source = package / f"{module.replace('.', '/')}.py"
        if not source.is_file():
            digest.update(module.encode())
            source = Path(importlib.util.find_spec(module).origin)
        digest.update(source.read_bytes())
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """``REPORTGEN_CACHE_DIR``, else the user cache directory."""
    if os.environ.get("REPORTGEN_CACHE_DIR"):
        return Path(os.environ["REPORTGEN_CACHE_DIR"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("reportgen"))


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and a trailing newline: stable bytes for hashing and diffing."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def content_key(parts: dict[str, Any]) -> str:
    """sha256 of ``parts`` as compact JSON with sorted keys: the cache key of a result."""
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@functools.cache
def umask() -> int:
    """The process's umask, read once (a build links tens of thousands of files, each checked
    against it), without changing it where the system tells it (Linux), so a thread creating a
    file meanwhile is never given another mask."""
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a plain ``open()`` gives a new file (0644 under umask 0022)."""
    return 0o666 & ~umask()


def folder_mode() -> int:
    """The mode a plain ``mkdir`` gives a new folder (0755 under umask 0022)."""
    return 0o777 & ~umask()


def make_readable(path: Path) -> None:
    """Give ``path`` (a file, or a folder and all below it) the modes the umask gives new ones:
    ``mkstemp`` and ``mkdtemp`` create owner-only files and folders, which a web server running
    as another user, or a copy made with ``rsync -a``, could not read."""
    path = Path(path)
    if not path.is_dir():
        path.chmod(file_mode())
        return
    path.chmod(folder_mode())
    for folder, folders, files in os.walk(path):
        for name in folders:
            os.chmod(os.path.join(folder, name), folder_mode())
        for name in files:
            os.chmod(os.path.join(folder, name), file_mode())


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary file in ``path``'s folder to write, renamed to ``path`` when the block ends
    without an error (removed otherwise): ``path`` is never half-written. It gets the mode a
    plain ``open()`` would give it, not ``mkstemp``'s owner-only one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, file_mode())
    os.close(fd)
    try:
        yield Path(temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path | str, data: bytes | str) -> None:
    """Write ``path`` via a temporary file in the same folder and a rename: never half-written.
    The temporary file is named by process and count and made with a plain ``open()``'s mode,
    in four system calls (:func:`atomic_path` takes eight: a build writes tens of thousands)."""
    payload = data.encode() if isinstance(data, str) else data
    path = os.fspath(path)
    folder, name = os.path.split(path)
    temp = os.path.join(folder, f".{name}.{os.getpid()}-{next(_TEMP_NUMBERS)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        descriptor = os.open(temp, flags, 0o666)
    except FileNotFoundError:
        os.makedirs(folder or os.curdir, exist_ok=True)
        descriptor = os.open(temp, flags, 0o666)
    except FileExistsError:  # left by a killed process that had this process's number
        with atomic_path(Path(path)) as fresh:
            fresh.write_bytes(payload)
        return
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(payload)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


_TEMP_NUMBERS = itertools.count()


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as :func:`canonical_json` atomically, streamed: a report's manifest lists
    every file (13 MB for 10,000 images), and its text in one string would add to peak memory."""
    with atomic_path(path) as temp, temp.open("w", encoding="utf-8", newline="") as stream:
        json.dump(data, stream, sort_keys=True, indent=2, ensure_ascii=False)
        stream.write("\n")


def link_or_copy(source: Path | str, destination: Path | str) -> None:
    """Make ``destination`` a hard link to ``source`` (no bytes written), or a copy where links
    cannot be made (another file system). A file already at ``destination`` is replaced, never
    written through. Safe because reportgen never changes a file in place: every file it
    writes is written by :func:`atomic_write` or into a fresh path, so linked files stay equal.
    Plain ``os`` calls on strings: a rebuild links tens of thousands of files.
    """
    try:
        _link(source, destination)
    except FileNotFoundError:
        raise  # no source: nothing to copy either
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(destination)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.copyfile(source, destination)
        return
    if os.stat(destination).st_mode & 0o777 != file_mode():  # a cache file of an earlier version
        os.chmod(destination, file_mode())


def _link(source: Path | str, destination: Path | str) -> None:
    """``os.link``, replacing a file at ``destination`` and making its folder when missing."""
    try:
        os.link(source, destination)
        return
    except FileExistsError:
        os.unlink(destination)
    except FileNotFoundError:
        if not os.path.exists(source):
            raise
        os.makedirs(os.path.dirname(destination), exist_ok=True)
    os.link(source, destination)


def _stored_heads(cls_heads: np.ndarray, float16: bool) -> dict[str, np.ndarray]:
    """The arrays that store every head's CLS attention (see the module doc)."""
    if float16:
        return {"cls_heads": np.ascontiguousarray(cls_heads, dtype=np.float16)}
    levels, low, high = quantise.quantise(cls_heads, HEADS_BITS)
    range_key = f"cls_heads{registry.RANGE_SUFFIX}"
    return {"cls_heads": quantise.pack_nibbles(levels), range_key: np.stack([low, high], axis=-1)}


def _stored_map(
    name: str, values: np.ndarray, bits: int | None, half: bool = False
) -> dict[str, np.ndarray]:
    """The arrays that store one named map: float32 (float16 if ``half``), or (8 ``bits``: the
    token norms) levels per grid with each grid's low and high in ``NAME_range``."""
    if bits is None:
        return {name: np.ascontiguousarray(values, dtype=np.float16 if half else np.float32)}
    levels, low, high = quantise.quantise(values, bits)
    return {name: levels, f"{name}{registry.RANGE_SUFFIX}": np.stack([low, high], axis=-1)}


def read_map(data: Any, name: str) -> np.ndarray:
    """A named map as :func:`_stored_map` stored it, as float32."""
    bounds_key = f"{name}{registry.RANGE_SUFFIX}"
    if bounds_key not in data.files:
        return data[name].astype(np.float32, copy=False)
    bounds = data[bounds_key]
    bits = 8 * data[name].dtype.itemsize
    return quantise.dequantise(data[name], bounds[..., 0], bounds[..., 1], bits)


def record_bytes(record: ImageRecord, keep_heads: bool = False) -> bytes:
    """Serialise the content of a record (not its name) to deterministic npz bytes, in the
    current format; every head's CLS attention is kept 8-bit, or float16 with ``keep_heads``."""
    from PIL import Image

    meta = {
        "format": FORMAT_VERSION,
        "sha256": record.sha256,
        "size_bytes": record.size_bytes,
        "original_size": list(record.original_size),
        "geometry": record.geometry,
        "predictions": [[p.label, p.probability] for p in record.predictions],
        "relevance_target": record.relevance_target,
        "artifact_score": record.artifact_score,
        "seen_image": {"format": "webp", "quality": SEEN_IMAGE_QUALITY},
    }
    seen = io.BytesIO()
    seen_image = Image.fromarray(np.ascontiguousarray(record.seen_image, dtype=np.uint8))
    seen_image.save(seen, "WEBP", quality=SEEN_IMAGE_QUALITY, method=6)
    arrays = {"seen_image_webp": np.frombuffer(seen.getvalue(), dtype=np.uint8)}
    if record.cls_heads is not None:
        arrays.update(_stored_heads(record.cls_heads, keep_heads))
    if record.artifact_mask is not None:
        arrays["artifact_mask"] = np.ascontiguousarray(record.artifact_mask, dtype=bool)
    methods = registry.methods()
    for name in registry.stored_names():
        if name in record.maps:
            method = methods[name]
            arrays.update(_stored_map(name, record.maps[name], method.bits, method.half))
    arrays["meta"] = np.frombuffer(canonical_json(meta).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, array, allow_pickle=False)
            archive.writestr(zip_member(f"{key}.npy"), member.getvalue(), compresslevel=ZIP_LEVEL)
    return buffer.getvalue()


def zip_member(name: str) -> zipfile.ZipInfo:
    """A zip entry with a fixed date, mode and compression: the same bytes give the same zip."""
    info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, whichever system writes it
    info.external_attr = 0o644 << 16
    return info


# Format 2 kept every map it had, these, as they were computed (read back unchanged).
_FORMAT_2_KEPT = (panels.LAYERS, "max", "min", "mean", panels.ROLLOUT, panels.RELEVANCE)


def _named_maps(meta: dict[str, Any], data: Any) -> dict[str, np.ndarray]:
    """The named maps of a record file of any format (float32 from format 2 on). From format 3
    on, a file keeps each map by its method's name, except those recomputed from the layer
    maps; a map of a method not installed now is left out."""
    if meta["format"] == 1:
        layers = data["cls_heads"].astype(np.float64).mean(axis=1)
        rollout = np.asarray(data["rollout"], dtype=np.float64)
        return panels.complete({panels.LAYERS: layers, panels.ROLLOUT: rollout}, relative_min=False)
    if meta["format"] == 2:
        return {key: data[key] for key in _FORMAT_2_KEPT if key in data.files}
    stored = {key: read_map(data, key) for key in registry.stored_names() if key in data.files}
    return panels.complete(stored, np.float32, meta["format"] >= MIN_RELATIVE_FORMAT)


def seen_image(meta: dict[str, Any], data: Any) -> np.ndarray:
    """The image as the model saw it, from an open record file (``data``, its ``meta``)."""
    if meta["format"] < 3:
        return data["seen_image"]
    from PIL import Image

    with Image.open(io.BytesIO(data["seen_image_webp"].tobytes())) as image:
        return np.asarray(image.convert("RGB"))


def _cls_heads(meta: dict[str, Any], data: Any) -> np.ndarray | None:
    """Every head's CLS attention: levels read back to float32 (4-bit from format 7, 8-bit in
    4 to 6), float16 or float32 as ``keep_heads`` and older files keep them; or None."""
    bounds_key = f"cls_heads{registry.RANGE_SUFFIX}"
    if bounds_key not in data.files:
        return data["cls_heads"] if "cls_heads" in data.files else None
    if meta["format"] < PACKED_HEADS_FORMAT:
        return read_map(data, "cls_heads")
    levels = quantise.unpack_nibbles(data["cls_heads"], data["layers"].shape[1:])
    bounds = data[bounds_key]
    return quantise.dequantise(levels, bounds[..., 0], bounds[..., 1], HEADS_BITS)


@contextlib.contextmanager
def open_record(path: Path | io.BytesIO) -> Iterator[tuple[dict[str, Any], Any]]:
    """A record file open (its meta, its arrays): a damaged one, whatever reading it meets
    inside the block, raises :class:`DamagedFile` naming it, never numpy's or zipfile's error."""
    try:
        with np.load(path, allow_pickle=False) as data:
            yield json.loads(data["meta"].tobytes().decode()), data
    except (EOFError, KeyError, TypeError, ValueError, zipfile.BadZipFile, zlib.error) as error:
        raise DamagedFile.met(path, error) from None


def read_record(path: Path | io.BytesIO, name: str) -> ImageRecord:
    """Load a record file (or its bytes in a BytesIO) written by :func:`record_bytes`, of this
    format or an earlier one; a damaged one raises :class:`DamagedFile`."""
    with open_record(path) as (meta, data):
        return ImageRecord(
            name=name,
            sha256=meta["sha256"],
            size_bytes=meta["size_bytes"],
            original_size=tuple(meta["original_size"]),
            geometry=meta["geometry"],
            seen_image=seen_image(meta, data),
            cls_heads=_cls_heads(meta, data),
            maps=_named_maps(meta, data),
            artifact_mask=data["artifact_mask"] if "artifact_mask" in data.files else None,
            predictions=[Prediction(label, prob) for label, prob in meta["predictions"]],
            relevance_target=meta.get("relevance_target"),
            artifact_score=meta.get("artifact_score"),
        )


def as_stored(record: ImageRecord, keep_heads: bool = False) -> tuple[bytes, ImageRecord]:
    """The file of a record and the record as that file reads back (seen image through WebP,
    aggregates recomputed): what every later step draws from, at build and at re-render."""
    payload = record_bytes(record, keep_heads)
    return payload, read_record(io.BytesIO(payload), record.name)


class ContentCache:
    """Files keyed by content hashes, in namespaces: ``results`` (records), ``figures``, ``charts``,
    ``models`` (model summaries; converted models are folders beside them), ``hashes`` (file
    hashes, input images' by identity), ``renderings`` (what rendered a report, by its manifest's
    hash), ``templates`` (compiled) and more. :mod:`reportgen.cache` shows and prunes it."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, namespace: str, key: str, suffix: str) -> Path:
        return self.root / namespace / key[:2] / f"{key}{suffix}"

    def put(self, namespace: str, key: str, suffix: str, payload: bytes | str) -> None:
        atomic_write(self.path(namespace, key, suffix), payload)

    def existing(self, namespace: str, key: str, suffix: str) -> Path | None:
        """The cached file, marked as used now; None when it is not cached."""
        path = self.path(namespace, key, suffix)
        if not path.is_file():
            return None
        mark_used(path)
        return path

    def place(self, namespace: str, key: str, suffix: str, destination: Path) -> bool:
        """Put a cached file at ``destination`` (see :func:`link_or_copy`), marked as used;
        False if it is missing or unreadable."""
        source = self.path(namespace, key, suffix)
        try:
            link_or_copy(source, destination)
        except OSError:
            return False
        mark_used(source)
        return True

    def get_json(self, namespace: str, key: str) -> dict[str, Any] | None:
        path = self.path(namespace, key, ".json")
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        mark_used(path)
        return data

    def put_json(self, namespace: str, key: str, data: dict[str, Any]) -> None:
        self.put(namespace, key, ".json", canonical_json(data))


def mark_used(path: Path) -> None:
    """Mark a cache entry used now, so pruning (by the later of its access and modification
    times) takes the least recently used first; a read-only cache keeps its times. A file keeps
    its modification time, a part of its identity (:func:`digests.file_identity`): the report
    files linked to it keep the digests their manifest lists, and are not read again. A file
    used within :data:`USED_WITHIN_NS` is left as it is (a rebuild uses tens of thousands, and
    each new time is an inode write). A folder (a converted model) gets both times."""
    with contextlib.suppress(OSError):
        now, info = time.time_ns(), os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            os.utime(path, ns=(now, now))
        elif now - info.st_atime_ns > USED_WITHIN_NS:
            os.utime(path, ns=(now, info.st_mtime_ns))


def keep(
    cache: ContentCache | None,
    namespace: str,
    key: str | None,
    suffix: str,
    destination: Path,
    data: bytes | str,
) -> None:
    """Write ``data`` to the cache under ``key`` and link it at ``destination`` (written once);
    without a cache or a key, write it straight to ``destination``."""
    if cache is not None and key is not None:
        cache.put(namespace, key, suffix, data)
        if cache.place(namespace, key, suffix, destination):
            return
    atomic_write(destination, data)


def produce(
    cache: ContentCache | None,
    namespace: str,
    key: str | None,
    suffix: str,
    destination: Path,
    make: Callable[[], bytes | str],
) -> bytes | str | None:
    """Put the file of ``key`` at ``destination``: from the cache when it is there (None), else
    made by ``make()`` and kept (see :func:`keep`; what was made)."""
    if cache is None or key is None or not cache.place(namespace, key, suffix, destination):
        keep(cache, namespace, key, suffix, destination, data := make())
        return data


def cached_or_made(
    cache: ContentCache, namespace: str, key: str, suffix: str, make: Callable[[], bytes]
) -> bytes:
    """The bytes cached under ``key`` (marked as used), else ``make()``'s, kept in the cache."""
    path = cache.path(namespace, key, suffix)
    try:
        data = path.read_bytes()
    except OSError:
        data = make()
        cache.put(namespace, key, suffix, data)
        return data
    mark_used(path)
    return data
