"""The HuggingFace datasets source (``--dataset PATH_OR_NAME [--split S]``): one split of a
dataset written by ``save_to_disk``, or of one already in the local HuggingFace cache, read
offline (never waiting on the network). ``datasets`` is the optional extra ``datasets``.

- Split: ``--split``, else the only one, else ``train``; a ``save_to_disk`` folder of one
  Dataset has no splits to choose from (its split is recorded as ``train``).
- Image column: ``--image-column``, else the first ``Image`` feature (or binary column). It is
  read without decoding (``Image(decode=False)``: the encoded bytes), one row at a time.
- Label column: ``--label-column``, else the first ``ClassLabel`` feature (its names are the
  labels; -1, HuggingFace's "no label", leaves a row unlabelled), else a column named
  ``label``, ``class`` or ``target``; none: unlabelled.
- Each item is the reference (dataset, split, row), a few bytes, that reads its row where it is
  read (the Arrow files are memory-mapped; a worker opens the dataset once): nothing of the
  table is held in Python objects, on the local engine or on the Ray engine's driver.
- Names: the file name the image feature recorded, else ``split[row]``; the source id is
  ``split[row]``. The manifest records the dataset, split, row count and one sha256 over its
  Arrow files.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from reportgen.analysis.images import ImageLoadError
from reportgen.analysis.sources.base import (
    Item,
    Source,
    content_hash,
    label_text,
    labelled_item,
    recorded_path,
)
from reportgen.errors import ReportgenError

LABEL_COLUMNS = ("label", "class", "target")
DEFAULT_SPLIT = "train"
ROWS_PER_BATCH = 1000  # names and labels read at once (never the images)


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise ReportgenError(
            '--dataset needs HuggingFace datasets: pip install "reportgen[datasets]"'
        ) from None
    return datasets


@contextlib.contextmanager
def _offline(datasets: Any) -> Iterator[None]:
    """HuggingFace offline mode for what runs inside (the cache answers, or nothing does),
    without the library's progress bars and notes about it."""
    import huggingface_hub.constants as hub

    saved = datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE, datasets.logging.get_verbosity()
    datasets.config.HF_HUB_OFFLINE = hub.HF_HUB_OFFLINE = True
    datasets.logging.set_verbosity_error()
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE, verbosity = saved
        datasets.logging.set_verbosity(verbosity)


def _not_found(location: str, error: BaseException | None = None) -> ReportgenError:
    detail = f" ({str(error).strip().splitlines()[0]})" if error and str(error).strip() else ""
    return ReportgenError(
        f"no dataset {location!r} here{detail}: give the folder a dataset's save_to_disk wrote, "
        "or the name of a dataset in the local HuggingFace cache (load it once with "
        "datasets.load_dataset on a machine with network; reportgen reads datasets offline)"
    )


@functools.lru_cache(maxsize=4)
def _splits(location: str) -> Any:
    """The dataset at ``location``: a Dataset or a DatasetDict of splits (memory-mapped)."""
    datasets = _datasets()
    folder = Path(location).expanduser()
    if folder.exists():
        if not any((folder / marker).is_file() for marker in ("state.json", "dataset_dict.json")):
            raise ReportgenError(
                f"{folder} is not a folder a dataset's save_to_disk wrote (it has no state.json "
                "or dataset_dict.json)"
            )
        try:
            return datasets.load_from_disk(str(folder))
        except (OSError, ValueError) as error:
            raise ReportgenError(f"cannot read the dataset in {folder}: {error}") from None
    try:
        with _offline(datasets):
            return datasets.load_dataset(location)
    except (FileNotFoundError, ConnectionError, ValueError) as error:
        raise _not_found(location, error) from None
    except Exception as error:  # the Hub client's own errors for a name it cannot resolve
        if type(error).__module__.startswith(("datasets", "huggingface_hub")):
            raise _not_found(location, error) from None
        raise


@functools.lru_cache(maxsize=4)
def open_split(location: str, split: str | None, image_column: str | None) -> tuple[Any, str]:
    """(the split as a Dataset with ``image_column`` undecoded, its name); once per process."""
    datasets = _datasets()
    found = _splits(location)
    if isinstance(found, datasets.Dataset):
        if split not in (None, DEFAULT_SPLIT, found.split):
            raise ReportgenError(f"{location} is one dataset without splits: leave out --split")
        name = str(found.split or DEFAULT_SPLIT)
    else:
        names = list(found)
        if split is None:
            split = names[0] if len(names) == 1 else DEFAULT_SPLIT
        if split not in found:
            raise ReportgenError(
                f"{location} has no split {split!r}: give --split, one of {', '.join(names)}"
            )
        found, name = found[split], split
    if image_column is not None and image_column in found.column_names:
        feature = found.features[image_column]
        if isinstance(feature, datasets.Image) and feature.decode:
            found = found.cast_column(image_column, datasets.Image(decode=False))
    return found, name


@dataclass(frozen=True)
class Columns:
    """Which columns hold the image and the label, and the label's class names."""

    image: str
    label: str | None
    class_names: list[str] | None

    @classmethod
    def detect(cls, features: Any, image: str | None, label: str | None, where: str) -> Columns:
        datasets = _datasets()
        names = list(features)
        for given in (image, label):
            if given is not None and given not in features:
                raise ReportgenError(f"{where}: no column {given!r} (columns: {', '.join(names)})")

        def is_image(feature: Any) -> bool:
            value_type = getattr(feature, "dtype", None)
            return isinstance(feature, datasets.Image) or value_type in ("binary", "large_binary")

        if image is None:
            image = next((name for name in names if is_image(features[name])), None)
            if image is None:
                raise ReportgenError(
                    f"{where}: no Image feature (columns: {', '.join(names)}); "
                    "name the column with --image-column"
                )
        if label is None:
            labels = [name for name in names if isinstance(features[name], datasets.ClassLabel)]
            labels += [name for name in LABEL_COLUMNS if name in features]
            label = labels[0] if labels else None
        feature = features[label] if label else None
        class_names = feature.names if isinstance(feature, datasets.ClassLabel) else None
        return cls(image, label, class_names)


@dataclass(frozen=True)
class DatasetRow:
    """The reader of one row's image: opens the split where it is read (once per process)."""

    location: str
    split: str | None
    column: str
    row: int

    def __call__(self) -> bytes:
        dataset, _ = open_split(self.location, self.split, self.column)
        value = dataset[self.row][self.column]
        data = value.get("bytes") if isinstance(value, dict) else value
        if data is None and isinstance(value, dict) and value.get("path"):
            try:
                return Path(value["path"]).read_bytes()
            except OSError as error:
                raise ImageLoadError(f"cannot read file: {error.strerror or error}") from None
        if data is None:
            raise ImageLoadError(f"no image in column {self.column!r}")
        return bytes(data)


class DatasetSource(Source):
    kind = "dataset"

    def __init__(
        self,
        location: str,
        split: str | None = None,
        image_column: str | None = None,
        label_column: str | None = None,
    ):
        folder = Path(location).expanduser()
        # a folder by its absolute path, so that workers elsewhere open the same one
        self.location = str(folder.resolve()) if folder.is_dir() else location
        self.given = location
        self.split = split
        self.image_column = image_column
        self.label_column = label_column

    @classmethod
    def open(cls, location: str) -> DatasetSource:
        return cls(location)

    @classmethod
    def add_options(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument(
            "--dataset",
            metavar="PATH_OR_NAME",
            help="a HuggingFace dataset: a folder save_to_disk wrote, or the name of one in the "
            'local HuggingFace cache (read offline; pip install "reportgen[datasets]")',
        )
        group.add_argument(
            "--split",
            metavar="S",
            help="the dataset's split (default: its only one, else train)",
        )

    @classmethod
    def from_options(cls, images: str | None, args: argparse.Namespace) -> DatasetSource | None:
        if args.dataset is None:
            if args.split is not None:
                raise ReportgenError("--split chooses a split of --dataset: give --dataset too")
            return None
        if images is not None:
            raise ReportgenError("--dataset holds its images: leave out IMAGES")
        return cls(args.dataset, args.split, args.image_column, args.label_column)

    def __str__(self) -> str:
        return self.given

    @property
    def name(self) -> str:
        return PurePosixPath(Path(self.location).as_posix()).name

    @functools.cached_property
    def _opened(self) -> tuple[Any, str, Columns]:
        dataset, split = open_split(self.location, self.split, self.image_column)
        columns = Columns.detect(dataset.features, self.image_column, self.label_column, self.given)
        if self.image_column is None:  # detected: reopened with the image undecoded
            dataset, split = open_split(self.location, self.split, columns.image)
        return dataset, split, columns

    def count(self) -> int:
        return len(self._opened[0])

    def describe(self) -> dict[str, Any]:
        dataset, split, _ = self._opened
        files = [Path(entry["filename"]) for entry in dataset.cache_files]
        return {
            "kind": self.kind,
            "path": recorded_path(self.given),
            "split": split,
            "count": len(dataset),
            "sha256": content_hash(files),
        }

    def items(self) -> Iterator[Item]:
        import pyarrow.compute as pc

        dataset, split, columns = self._opened
        wanted = [columns.image] if columns.label is None else [columns.image, columns.label]
        table = dataset.select_columns(wanted).with_format("arrow")
        row = 0
        for batch in table.iter(batch_size=ROWS_PER_BATCH):
            images = batch.column(columns.image)
            paths = (
                pc.struct_field(images, "path").to_pylist()
                if images.type.num_fields
                else [None] * len(images)
            )
            labels = batch.column(columns.label).to_pylist() if columns.label else paths
            for path, label in zip(paths, labels, strict=True):
                source_id = f"{split}[{row}]"
                name = PurePosixPath(path or "").name or source_id
                reader = DatasetRow(self.location, self.split, columns.image, row)
                unlabelled = columns.label is None or (columns.class_names and label == -1)
                text = None if unlabelled else label_text(label, columns.class_names)
                yield labelled_item(row, name, source_id, reader, text)
                row += 1
