"""The model bundle: `NAME.keras` with `NAME.json` metadata beside it.

The metadata is the contract between training and serving (see docs/DESIGN.md):
labels, input size and channels, what it was trained on, its metrics. It also
records the model file's SHA-256 so a model swapped without its metadata is
caught at start-up instead of serving wrong labels.
"""

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

from app.emotions import LABELS

# The model the app serves and the CLIs evaluate unless told otherwise.
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "moodtunes_vgg16.keras"
TRAIN_HINT = (
    "Train one with: python -m training.train --data ../shared/data/ferplus4 "
    "--weights ../shared/weights/vgg16_imagenet_notop.weights.h5 --out models/NAME.keras"
)
# The sides, in pixels, of the input a bundle may declare.
INPUT_SIDES = range(8, 1025)


class BundleError(Exception):
    """The model bundle is missing, unreadable or inconsistent."""


def metadata_path(model_path):
    return Path(model_path).with_suffix(".json")


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_metadata(model_path):
    """Read and check the metadata of the bundle at `model_path` (the .keras file)."""
    model_path = Path(model_path)
    meta_path = metadata_path(model_path)
    if model_path.suffix != ".keras":
        raise BundleError(f"{model_path}: a model bundle is a .keras file. {TRAIN_HINT}")
    for path in (model_path, meta_path):
        if not path.is_file():
            raise BundleError(f"model bundle incomplete: {path} is missing. {TRAIN_HINT}")
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{meta_path}: not valid JSON ({exc}). {TRAIN_HINT}") from exc
    try:
        check_metadata(metadata, meta_path)
    except BundleError as exc:
        raise BundleError(f"{exc}. {TRAIN_HINT}") from None
    expected_hash = metadata.get("sha256")
    try:
        actual_hash = expected_hash and file_sha256(model_path)
        # A .keras file is a zip archive: a truncated or overwritten one is caught here,
        # before any worker starts TensorFlow to find out.
        is_archive = zipfile.is_zipfile(model_path)
    except OSError as exc:  # e.g. no permission to read it
        raise BundleError(f"cannot read {model_path}: {exc}. {TRAIN_HINT}") from None
    if expected_hash and expected_hash != actual_hash:
        raise BundleError(
            f"{model_path} does not match {meta_path} (SHA-256 differs): "
            f"the model file was replaced without its metadata, or writing the pair was "
            f"interrupted. {TRAIN_HINT}"
        )
    if not is_archive:
        raise BundleError(f"cannot load {model_path}: the file exists but is not a readable "
                          f".keras archive (corrupt or truncated). {TRAIN_HINT}")
    return metadata


def check_metadata(metadata, source="metadata"):
    if not isinstance(metadata, dict):
        raise BundleError(f"{source}: expected a JSON object")
    labels = metadata.get("labels")
    if labels != list(LABELS):
        raise BundleError(f"{source}: labels are {labels!r}, the app needs {list(LABELS)!r}")
    size = metadata.get("input_size")
    if not (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) and n in INPUT_SIDES
                for n in size)
    ):
        raise BundleError(f"{source}: input_size must be [height, width] in pixels, got {size!r}")
    if metadata.get("channels") not in (1, 3):
        raise BundleError(f"{source}: channels must be 1 or 3, got {metadata.get('channels')!r}")


def write_bundle(model, metadata, model_path):
    """Save model and metadata so that a crash never leaves a half-written bundle.

    Both files are written to temporary names in the target folder and renamed
    into place, one after the other; the SHA-256 in the metadata ties the pair
    together, so a crash between the two renames is caught at start-up.
    """
    model_path = Path(model_path)
    if model_path.suffix != ".keras":  # Keras would save another format, one the app refuses
        raise BundleError(f"{model_path}: a model bundle is a .keras file")
    model_path.parent.mkdir(parents=True, exist_ok=True)
    check_metadata(metadata)
    tmp_model = _temp_name(model_path)
    tmp_meta = _temp_name(metadata_path(model_path))
    try:
        model.save(tmp_model)
        metadata = {**metadata, "sha256": file_sha256(tmp_model)}
        tmp_meta.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp_model, model_path)
        os.replace(tmp_meta, metadata_path(model_path))
    finally:
        for path in (tmp_model, tmp_meta):
            path.unlink(missing_ok=True)
    return metadata


def _temp_name(path):
    # Same folder (so the rename is atomic), same suffix (Keras insists on .keras).
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(name, 0o644)  # mkstemp's 0600 would hide the model from a server running as another user
    return Path(name)
