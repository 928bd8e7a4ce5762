"""Image folders → checked file lists → face arrays and their targets.

A data folder holds one sub-folder per label (`<label>/*`). Everything that can
go wrong with it is found before any training time is spent, and reported in a
clear `DataError`: a missing folder, a wrong label set, an empty class or files
of another format by `scan_folder`; every image that cannot be decoded, all
named at once, by `load_faces` as it reads them.
"""

import csv
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from app.emotions import LABELS

# What the loader reads: the formats the server accepts (app/decode.py's ACCEPTED_FORMATS).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
# Other image formats are refused by name rather than skipped unseen.
OTHER_IMAGE_EXTENSIONS = (".bmp", ".gif", ".tif", ".tiff", ".heic", ".heif", ".avif")
SHOW_AT_MOST = 10


class DataError(Exception):
    """The data folder cannot be used as it is."""


def scan_folder(root, labels=LABELS):
    """Map each label to its JPEG, PNG and WebP files under `root/<label>/`, checking the layout.

    Files of other image formats are refused by name. `load_faces` or `read_grey` decodes the
    files, and names those that cannot be decoded.
    """
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
    listed = {label: _listed_files(root / label) for label in labels}
    files = {label: [p for p in paths if _has_suffix(p, IMAGE_EXTENSIONS)]
             for label, paths in listed.items()}
    empty = [label for label, paths in files.items() if not paths]
    if empty:
        raise DataError(
            f"{root}: no images in {', '.join(empty)} "
            f"(readable formats: {' '.join(IMAGE_EXTENSIONS)})"
        )
    others = [f"{p} (only JPEG, PNG and WebP are read: convert it)"
              for paths in listed.values() for p in paths if not _has_suffix(p, IMAGE_EXTENSIONS)]
    if others:
        raise unreadable_images(others)
    return files


def _has_suffix(path, suffixes):
    return path.name.lower().endswith(suffixes)


def _listed_files(folder):
    """Every image file of `folder` (sub-folders too): the formats read and those refused."""
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and _has_suffix(p, IMAGE_EXTENSIONS + OTHER_IMAGE_EXTENSIONS))


def unreadable_images(broken):
    """One DataError listing the unreadable images (each "path (reason)"), the first few in full."""
    listed = first_few(broken, "\n  ")
    return DataError(f"{len(broken)} unreadable image(s):\n  {listed}")


def first_few(items, separator):
    """The first SHOW_AT_MOST of `items` joined, and how many more there are."""
    shown = separator.join(map(str, items[:SHOW_AT_MOST]))
    more = f"{separator}… and {len(items) - SHOW_AT_MOST} more" if len(items) > SHOW_AT_MOST else ""
    return shown + more


def read_grey(paths, use):
    """[use(grey) for each image at `paths`], each read once as a grey array as the server reads
    uploads (Pillow). The images that cannot be decoded are named after the last, in one
    DataError: a truncated file would otherwise stop training mid-run."""
    results, broken = [], []
    for path in paths:
        try:
            with Image.open(path) as image:
                grey = np.asarray(image.convert("L"))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            broken.append(f"{path} ({_why_undecodable(path, exc)})")
            continue
        results.append(use(grey))
    if broken:
        raise unreadable_images(broken)
    return results


def _why_undecodable(path, exc):
    if Path(path).name.startswith("._"):  # what macOS leaves beside files copied to other disks
        return "a macOS metadata file, not a photo: delete it"
    reason = str(exc) or type(exc).__name__
    return "not a JPEG, PNG or WebP image" if "cannot identify image file" in reason else reason


def load_faces(paths, size):
    """The images at `paths` as grey uint8 faces (n, size, size, 1), resized as the server resizes
    its face crops (OpenCV's area interpolation); read_grey names those it cannot decode."""
    def resized(grey):
        if grey.shape == (size, size):
            return grey
        return cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)

    return np.array(read_grey(paths, resized), np.uint8).reshape(len(paths), size, size, 1)


# votes.csv's columns for the app's labels, in LABELS order (FER+ names the emotions as nouns).
VOTE_COLUMNS = {"angry": "anger", "happy": "happiness", "neutral": "neutral", "sad": "sadness"}


def read_votes(csv_path):
    """Each image's annotator votes over the app's labels, renormalised to sum to 1 (FER+'s
    "probability" targets), keyed by the image's path relative to the CSV's folder."""
    csv_path = Path(csv_path)
    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        votes = {row["path"]: np.array([float(row[VOTE_COLUMNS[label]]) for label in LABELS])
                 for row in rows}
    except (OSError, UnicodeDecodeError, KeyError, ValueError, TypeError) as exc:
        raise DataError(f"{csv_path}: not a votes file with a 'path' column and the columns "
                        f"{', '.join(VOTE_COLUMNS.values())} ({exc!r})") from None
    return {path: counts / counts.sum() for path, counts in votes.items() if counts.sum() > 0}


def targets_for(files, root, votes=None):
    """Paths and target distributions (n, len(LABELS)) of scan_folder's `files`: the votes of
    each image where `votes` (read_votes) has them, else its folder's label, one-hot."""
    paths, targets, unvoted = [], [], []
    for one_hot, label in zip(np.eye(len(LABELS)), LABELS):
        for path in files[label]:
            key = Path(path).relative_to(root).as_posix()
            if votes is not None and key not in votes:
                unvoted.append(key)
            paths.append(path)
            targets.append(one_hot if votes is None else votes.get(key, one_hot))
    if unvoted:
        raise DataError(f"{len(unvoted)} image(s) have no votes in votes.csv: "
                        f"{first_few(unvoted, ', ')}")
    return paths, np.array(targets, np.float32)
