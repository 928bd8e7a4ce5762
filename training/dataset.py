"""Image folders → checked file lists → tf.data pipelines.

A data folder holds one sub-folder per label (`<label>/*`). Everything that can
go wrong with it (missing folder, wrong label set, empty class, unreadable
image) is found up front, before any training time is spent, and reported in
one clear `DataError`.
"""

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from app.emotions import LABELS
from app.quiet_tensorflow import load_tensorflow

# What tf.data's decoder reads; anything else in a class folder is skipped.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
SHOW_AT_MOST = 10


class DataError(Exception):
    """The data folder cannot be used as it is."""


def scan_folder(root, labels=LABELS):
    """Map each label to its image files under `root/<label>/`, checking everything."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if found != sorted(labels):
        missing = sorted(set(labels) - set(found))
        extra = sorted(set(found) - set(labels))
        raise DataError(
            f"{root}: expected one folder per label {list(labels)}; "
            f"missing {missing or 'none'}, unexpected {extra or 'none'}"
        )
    files = {label: _image_files(root / label) for label in labels}
    empty = [label for label, paths in files.items() if not paths]
    if empty:
        raise DataError(
            f"{root}: no images in {', '.join(empty)} "
            f"(readable formats: {' '.join(IMAGE_EXTENSIONS)})"
        )
    _check_readable([p for paths in files.values() for p in paths])
    return files


def _image_files(folder):
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _check_readable(paths):
    broken = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.verify()
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
            broken.append(f"{path} ({exc.__class__.__name__}: {exc})")
    if broken:
        shown = "\n  ".join(broken[:SHOW_AT_MOST])
        more = f"\n  … and {len(broken) - SHOW_AT_MOST} more" if len(broken) > SHOW_AT_MOST else ""
        raise DataError(f"{len(broken)} unreadable image(s):\n  {shown}{more}")


def class_counts(files):
    return {label: len(paths) for label, paths in files.items()}


def image_folder_dataset(root, input_size, channels, batch_size, label_mode="int", **options):
    """`keras.utils.image_dataset_from_directory` with the app's labels and resizing.

    Images are resized with area interpolation, the same as the server's face crops.
    """
    load_tensorflow()  # the first TensorFlow import may happen here (training.evaluate)
    import keras

    return keras.utils.image_dataset_from_directory(
        root,
        labels="inferred",
        label_mode=label_mode,
        class_names=list(LABELS),
        color_mode="grayscale" if channels == 1 else "rgb",
        image_size=tuple(input_size),
        interpolation="area",
        batch_size=batch_size,
        verbose=False,
        **options,
    )
