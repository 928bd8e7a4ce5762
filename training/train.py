# %% [markdown]
"""
# Fine-tuning VGG16 to read facial expressions

Trains the MoodTunes expression model: a Keras VGG16 (ImageNet weights) with a
small head, fine-tuned to tell **angry, happy, neutral and sad** faces apart,
and writes the model bundle the web app serves (`NAME.keras` + `NAME.json`).

Run it as a command:

    python -m training.train --data ../shared/data/fer4 \
        --weights ../shared/weights/vgg16_imagenet_notop.weights.h5 \
        --out models/mine.keras

and serve the result with `MODEL_PATH=models/mine.keras` (without `--out` it
replaces the shipped `models/moodtunes_vgg16.keras`). Or run it cell by cell
in a notebook (Colab, Jupyter, VS Code): edit `NOTEBOOK_ARGS` in the Setup
cell, then run the cells top to bottom.

`--data DIR` holds `train/<label>/*` (or `<label>/*` directly): face images of
any size, grey or colour, JPEG or PNG. A seeded validation split is carved
out of it; a `test/` folder beside `train/` is never read here (use
`python -m training.evaluate` on it).

The recipe, in two phases:
1. the head alone, VGG16 frozen, at a high learning rate, so the random head
   does not wreck the pretrained features;
2. VGG16 from `--fine-tune-from` up, unfrozen, with AdamW and a warm-up +
   cosine-decay schedule, early stopping on validation accuracy.

Every epoch is checkpointed; `--resume` continues an interrupted run (Keras's
`BackupAndRestore`, plus `training/resume.py` for early stopping's memory) from
the last finished epoch, and refuses to if an option that shapes the run changed.
"""

# %% [markdown]
# ## Setup

# %%
import argparse
import itertools
import math
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from app.quiet_tensorflow import load_tensorflow

load_tensorflow()  # before Keras imports it: keeps TensorFlow's start-up notices out

import keras
import numpy as np
from keras import layers

from app.bundle import INPUT_SIDES, BundleError, read_metadata, write_bundle
from app.emotion_model import read_keras_model
from app.emotions import LABELS
from training.dataset import DataError, class_counts, image_folder_dataset, scan_folder
from training.metrics import classification_report
from training.output import unwritable
from training.resume import (
    RECORDS,
    EarlyStoppingFired,
    ResumableEarlyStopping,
    data_record,
    epochs_logged,
    record_or_check_data,
    record_or_check_options,
    replace_atomically,
    run_options,
)
from training.sam import SharpnessAwareModel, plain_copy
from training.views import VIEW_CHOICES, VIEW_SETS, with_test_views

# Edit these when running cell by cell in a notebook; the command line ignores them.
NOTEBOOK_ARGS = [
    "--data", "../shared/data/fer4",
    "--weights", "../shared/weights/vgg16_imagenet_notop.weights.h5",
    "--out", "models/mine.keras",  # the shipped model's path would replace it
]

# VGG16's ImageNet preprocessing ("caffe" mode): BGR channel means, no scaling.
VGG16_BGR_MEAN = (103.939, 116.779, 123.68)
VGG16_MIN_SIDE = 32  # Keras builds no VGG16 for a smaller input
PRECISIONS = ("auto", "mixed_bfloat16", "float32")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m training.train",
        description="Fine-tune VGG16 on face images and write a MoodTunes model bundle.",
    )
    parser.add_argument("--data", required=True, type=Path,
                        help="folder with train/<label>/* (or <label>/*) face images")
    parser.add_argument("--weights", default="imagenet",
                        help="'imagenet' (Keras download), a path to VGG16 no-top weights "
                             "(.weights.h5, for offline use) or 'none' (random init)")
    parser.add_argument("--epochs", type=int, default=14,
                        help="fine-tuning epochs after the head warm-up (default: 14)")
    parser.add_argument("--head-epochs", type=int, default=1,
                        help="epochs training the head alone, VGG16 frozen (default: 1; "
                             "none with --init-from)")
    parser.add_argument("--init-from", type=Path, metavar="BUNDLE",
                        help="start from a bundle (.keras) of an earlier run instead of ImageNet "
                             "weights (from an ensemble, its first network), e.g. to train it "
                             "longer or to adapt it to your own photos; its head is already "
                             "trained, so phase 1 is skipped")
    parser.add_argument("--img-size", type=int,
                        help="side of the square grey face crop the model takes (default: 48, "
                             "FER-2013's own size; with --init-from, the bundle's)")
    parser.add_argument("--net-size", type=int,
                        help="side VGG16 sees: the crop is upscaled to it inside the model "
                             "(default: 64; with --init-from, the bundle's)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-4,
                        help="peak fine-tuning learning rate (default: 1e-4)")
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--fine-tune-from", type=int, default=2, choices=range(1, 6),
                        metavar="BLOCK", help="unfreeze VGG16 blocks BLOCK..5 (default: 2)")
    parser.add_argument("--val-fraction", type=float, default=0.15,
                        help="share of the training images held out for validation: early "
                             "stopping and --views auto judge on it (default: 0.15)")
    parser.add_argument("--label-smoothing", type=float, default=0.1,
                        help="soften the one-hot targets: FER-2013's labels are noisy (default: 0.1)")
    parser.add_argument("--erase", type=float, default=0.5,
                        help="random erasing in the augmentation: strength from 0 (off) to 1 "
                             "(default: 0.5)")
    parser.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                        help="blend pairs of training faces and their labels (MixUp), "
                             "ALPHA from 0 (off) to 1 (default: 0)")
    parser.add_argument("--sam", type=float, default=0.0, metavar="RHO",
                        help="sharpness-aware minimisation with radius RHO, e.g. 0.01 (0.05 "
                             "made fine-tuning collapse here): seeks flatter minima, for twice "
                             "the time a step (default: 0, off)")
    parser.add_argument("--dropout", type=float, default=0.5, help="dropout before the last layer")
    parser.add_argument("--patience", type=int, default=4,
                        help="early stopping: epochs without a better validation accuracy, "
                             "then the best epoch is kept (default: 4; 0: off, the last epoch "
                             "is kept)")
    parser.add_argument("--seed", type=int, default=1337,
                        help="seed of the initial head, augmentation and shuffling")
    parser.add_argument("--split-seed", type=int, default=1337,
                        help="seed of the validation split: keep it to compare or average runs "
                             "trained with different --seed (default: 1337)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="'auto' uses mixed_bfloat16 where the CPU has native bf16")
    parser.add_argument("--out", type=Path, default=Path("models/moodtunes_vgg16.keras"))
    parser.add_argument("--run-dir", type=Path,
                        help="checkpoints, backups, logs (default: training/runs/<out name>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted run in --run-dir")
    parser.add_argument("--views", choices=VIEW_CHOICES, default="auto",
                        help="test-time views the shipped model averages: 1 (the face), 2 (and "
                             "its mirror image), 4 (and a tighter crop of both); 'auto' picks "
                             "the most accurate on the validation split, fewer on a tie")
    parser.add_argument("--stop-after", type=int, metavar="N",
                        help="end this session after N fine-tuning epochs, resumable with "
                             "--resume (e.g. to fit Colab's time limits)")
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    check_bundle_and_split_options(parser, args)
    check_training_options(parser, args)
    args.init_metadata = checked_metadata(args.init_from) if args.init_from else None
    if args.init_from:
        args.head_epochs = 0
    resolve_sizes(parser, args)
    args.run_dir = args.run_dir or Path("training/runs") / args.out.stem
    return args


def check_bundle_and_split_options(parser, args):
    """--out and --val-fraction, which training.ensemble takes too, under the same rules."""
    if args.out.suffix != ".keras":
        parser.error("--out must end in .keras")
    if not 0 < args.val_fraction < 0.5:
        parser.error("--val-fraction must be between 0 and 0.5")
    if problem := unwritable(args.out.parent):  # now, not after hours of training
        parser.error(f"--out: {problem}")


def check_training_options(parser, args):
    """Refuse out-of-range values before any work: Keras takes most of them and fails late, with
    a traceback, or (a negative --patience) stops the run after one epoch."""
    rules = (
        (args.epochs >= 1 and args.head_epochs >= 0,
         "--epochs must be ≥ 1 and --head-epochs ≥ 0"),
        (args.batch_size >= 1, "--batch-size must be ≥ 1"),
        (args.lr > 0 and args.head_lr > 0, "--lr and --head-lr must be > 0"),
        (0 <= args.label_smoothing < 1, "--label-smoothing must be ≥ 0 and < 1"),
        (0 <= args.dropout < 1, "--dropout must be ≥ 0 and < 1"),
        (0 <= args.erase <= 1, "--erase must be between 0 and 1"),
        (0 <= args.mixup <= 1, "--mixup must be between 0 and 1"),
        (0 <= args.sam <= 1, "--sam must be between 0 and 1"),
        (args.patience >= 0, "--patience must be ≥ 0 (0: no early stopping)"),
        (args.stop_after is None or args.stop_after >= 1, "--stop-after must be ≥ 1"),
    )
    for valid, message in rules:
        if not valid:
            parser.error(message)


def resolve_sizes(parser, args):
    """--img-size and --net-size as given, else the --init-from bundle's, else 48 and 64; checked
    now, as write_bundle would refuse the crop size only after the whole run."""
    img_size, net_size = bundle_sizes(args.init_metadata) if args.init_from else (48, 64)
    from_bundle = args.init_from and args.net_size is None
    origin = " (the --init-from bundle's: pass --net-size)" if from_bundle else ""
    args.img_size = img_size if args.img_size is None else args.img_size
    args.net_size = net_size if args.net_size is None else args.net_size
    if args.img_size not in INPUT_SIDES:  # a bundle's own is, read_metadata checked it
        parser.error(f"--img-size must be between {INPUT_SIDES[0]} and {INPUT_SIDES[-1]}")
    if not isinstance(args.net_size, int) or args.net_size < VGG16_MIN_SIDE:
        parser.error(f"--net-size must be at least {VGG16_MIN_SIDE}, VGG16's smallest input, "
                     f"got {args.net_size!r}{origin}")


def checked_metadata(path):
    """The --init-from bundle's metadata, read and checked once for the whole run."""
    try:
        return read_metadata(path)
    except BundleError as exc:
        raise SystemExit(f"error: --init-from: {exc}") from None


def bundle_sizes(metadata):
    """The crop size and VGG16 input size a bundle was trained at, to continue at the same.

    An ensemble of networks of different sizes has no one size: --init-from takes its first
    network, so its size.
    """
    img_size = metadata["input_size"][0]
    training = metadata.get("training", {})
    first = (training.get("members") or [{}])[0]
    return img_size, training.get("net_size") or first.get("net_size") or img_size


def running_in_notebook():
    return "ipykernel" in sys.modules


def log(message):
    """A progress line tagged with the running command (train, ensemble) and the time."""
    command = "train" if running_in_notebook() else Path(sys.argv[0]).stem  # not the kernel's name
    print(f"[{command} {time.strftime('%H:%M:%S')}] {message}", flush=True)


def choose_precision(requested):
    if requested != "auto":
        return requested
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        flags = ""
    return "mixed_bfloat16" if "avx512_bf16" in flags or "amx_bf16" in flags else "float32"


class RunClock:
    """A run's wall time across sessions: a --resume adds to the time spent before it."""

    def __init__(self, run_dir):
        self.path = run_dir / "wall_time_s.txt"
        try:
            self.earlier = float(self.path.read_text())
        except (OSError, ValueError):  # a new run, or an unreadable record: count from now
            self.earlier = 0.0
        self.started = time.time()

    def seconds(self):
        return self.earlier + time.time() - self.started

    def save(self, *_):
        seconds = f"{self.seconds():.0f}\n"
        replace_atomically(self.path, lambda path: path.write_text(seconds))


def holds_a_run(run_dir):
    """Whether `run_dir` holds more than a run's records: a run refused on its data or weights
    after recording them trained nothing, and may start over with other options."""
    return run_dir.exists() and any(path.name not in RECORDS for path in run_dir.iterdir())


def stop_with_a_note_when_interrupted(run_dir):
    """Ctrl-C, or a SIGTERM (`kill`, a job scheduler), ends the run with a line saying how to go
    on instead of a traceback (or, for SIGTERM, silence). Every finished epoch is checkpointed."""
    def on_terminate(signum, frame):
        raise KeyboardInterrupt

    def on_uncaught(kind, value, traceback):
        if not issubclass(kind, KeyboardInterrupt):
            return sys.__excepthook__(kind, value, traceback)
        how = ("run the same command with --resume to continue after its last finished epoch"
               if holds_a_run(run_dir) else "no epoch had finished: run the same command again")
        print(f"\ninterrupted: {how}", file=sys.stderr, flush=True)

    signal.signal(signal.SIGTERM, on_terminate)
    sys.excepthook = on_uncaught


def prepare_run_dir(args):
    run_dir, resume = args.run_dir, args.resume
    if holds_a_run(run_dir) and not resume:
        raise SystemExit(
            f"error: {run_dir} holds an earlier run. Continue it with --resume, "
            f"or delete the folder to start over."
        )
    if resume and not run_dir.exists():
        raise SystemExit(f"error: --resume: no run to continue in {run_dir}")
    if problem := unwritable(run_dir):
        raise SystemExit(f"error: --run-dir: {problem}")
    record_or_check_options(run_dir, run_options(args), resume)


if __name__ == "__main__":
    args = parse_args(NOTEBOOK_ARGS if running_in_notebook() else None)
    if not running_in_notebook():  # a kernel reports an interrupted cell itself
        stop_with_a_note_when_interrupted(args.run_dir)
    prepare_run_dir(args)
    clock = RunClock(args.run_dir)

    # A resumed session must not replay the shuffles and augmentations of the epochs before
    # the interruption, so its random streams start from the seed plus the epochs done.
    session_seed = args.seed + epochs_logged(args.run_dir)
    keras.utils.set_random_seed(session_seed)
    precision = choose_precision(args.precision)
    keras.mixed_precision.set_global_policy(precision)
    log(f"Keras {keras.__version__}, precision {precision}, run folder {args.run_dir}")

# %% [markdown]
# ## Prepare the data
#
# The folder is checked first (labels, empty classes, unreadable files), then
# read with `image_dataset_from_directory` as grey crops of `img_size`. The
# validation split is seeded, so a resumed run sees the same split.
# Augmentation suits faces: mirror, small turns, shifts and zooms, lighting,
# and small erased patches (occlusions); `--mixup` also blends pairs of faces
# and their labels, against FER-2013's label noise and overfitting.


# %%
def train_folder(data):
    return data / "train" if (data / "train").is_dir() else data


def make_augmentation(seed, erase=0.5):
    # Each layer gets its own seed: layers seeded alike draw the same numbers, so every
    # mirrored face would also come out darker, turned and shifted the same way.
    seeds = itertools.count(seed)
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=next(seeds)),
            layers.RandomRotation(0.05, fill_mode="nearest", seed=next(seeds)),  # ±18°
            layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=next(seeds)),
            layers.RandomZoom((-0.15, 0.15), fill_mode="nearest", seed=next(seeds)),
            layers.RandomBrightness(0.15, value_range=(0, 255), seed=next(seeds)),
            layers.RandomContrast(0.2, value_range=(0, 255), seed=next(seeds)),
            # Noise over a small patch, as a hand or glasses would cover part of a face: the
            # network must read the expression from more than one feature.
            layers.RandomErasing(erase, scale=(0.02, 0.15), value_range=(0, 255),
                                 seed=next(seeds)),
        ],
        name="augmentation",
    )


def check_split(files, val_fraction):
    """Refuse a split that holds out no image (of `files`, scan_folder's): Keras would leave
    training empty instead, and say it found no training images."""
    count = sum(len(paths) for paths in files.values())
    if held_out_count(count, val_fraction) == 0:
        enough = (1000 // count + 1) / 1000  # the first three-decimal fraction above 1/count
        hint = (f"--val-fraction {enough} would hold out one" if enough < 0.5  # the option's limit
                else "add images: at least 3 are needed, one to validate on")
        raise DataError(f"{count} images: --val-fraction {val_fraction} holds out none of them "
                        f"for validation; {hint}")


def held_out_count(count, val_fraction):
    return int(val_fraction * count)  # as Keras counts validation images


def split_folder(folder, input_size, val_fraction, split_seed):
    """(train, validation) images of `folder`, unbatched: the one seeded split that training
    and training.ensemble judge on, whatever --seed a run used."""
    return image_folder_dataset(
        folder, input_size, channels=1, batch_size=None, label_mode="categorical",
        validation_split=val_fraction, subset="both", seed=split_seed, shuffle=True,
    )


def make_datasets(folder, args, seed):
    import tensorflow as tf

    # Unbatched so the decoded images can be cached once and reshuffled every epoch.
    train_ds, val_ds = split_folder(folder, (args.img_size, args.img_size), args.val_fraction,
                                    args.split_seed)
    augment = make_augmentation(seed, args.erase)
    # float32 whatever the precision policy: MixUp multiplies the labels, which Keras would
    # otherwise cast to bfloat16 and fail on.
    mixup = (keras.layers.MixUp(alpha=args.mixup, seed=seed - 1, dtype="float32")
             if args.mixup else None)

    def augment_batch(images, labels):
        images = augment(images, training=True)
        if mixup is None:
            return images, labels
        mixed = mixup({"images": images, "labels": labels}, training=True)
        return mixed["images"], mixed["labels"]

    train_ds = (
        train_ds.cache()
        .shuffle(8192, seed=seed, reshuffle_each_iteration=True)
        .batch(args.batch_size)
        # One batch at a time: parallel calls would take the seeded random numbers in whatever
        # order threads run, so --seed would not reproduce a run. Cheap next to a VGG16 step.
        .map(augment_batch)
        .prefetch(tf.data.AUTOTUNE)
    )
    val_ds = val_ds.batch(args.batch_size).cache().prefetch(tf.data.AUTOTUNE)
    return train_ds, val_ds


def balanced_class_weights(counts):
    """Weights inversely proportional to class size (FER has 7.2k happy, 4.0k angry)."""
    total = sum(counts.values())
    return {i: total / (len(counts) * counts[label]) for i, label in enumerate(LABELS)}


if __name__ == "__main__":
    folder = train_folder(args.data)
    log(f"checking {folder} …")
    try:
        files = scan_folder(folder)
        check_split(files, args.val_fraction)
    except DataError as exc:
        raise SystemExit(f"error: {exc}") from None
    record_or_check_data(args.run_dir, data_record(files, folder), args.resume)
    counts = class_counts(files)
    log("images per class: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    total = sum(counts.values())
    held_out = held_out_count(total, args.val_fraction)
    log(f"{total - held_out} for training, {held_out} held out for validation "
        f"(--split-seed {args.split_seed})")
    train_ds, val_ds = make_datasets(folder, args, session_seed)
    class_weight = balanced_class_weights(counts)

# %% [markdown]
# ## Build a model
#
# The model takes the grey face crop as it comes (values 0–255) and does its
# own preprocessing, so the server and this script cannot drift apart:
# upscale to `net_size`, grey → 3 channels, VGG16's mean subtraction.


# %%
def make_model(input_size, net_size, weights, num_classes, dropout=0.5, sam_rho=0.0):
    inputs = keras.Input((input_size, input_size, 1), name="face")
    x = inputs
    if net_size != input_size:
        x = layers.Resizing(net_size, net_size, dtype="float32", name="upscale")(x)
    x = layers.Concatenate(name="grey_to_rgb")([x, x, x])
    x = layers.Normalization(mean=VGG16_BGR_MEAN, variance=(1.0, 1.0, 1.0),
                             dtype="float32", name="vgg16_preprocess")(x)
    base = keras.applications.VGG16(
        include_top=False, weights=weights, input_shape=(net_size, net_size, 3)
    )
    x = base(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(256, activation="relu", name="head_dense")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="emotion")(x)
    if sam_rho:
        return SharpnessAwareModel(inputs, outputs, name="moodtunes_vgg16", rho=sam_rho), base
    return keras.Model(inputs, outputs, name="moodtunes_vgg16"), base


def resolve_weights(value):
    if value == "none":
        return None
    if value == "imagenet":
        return "imagenet"
    path = Path(value)
    if not path.is_file():
        raise SystemExit(f"error: --weights: no such file {path} (or use 'imagenet' / 'none')")
    return str(path)


def inner_models(model):
    """The models a wrapper calls: the views' network, or an ensemble's members in order."""
    return [layer for layer in model.layers if isinstance(layer, keras.Model)]


def networks_in(model):
    """The networks a bundle's model averages, in order: every wrapper (test-time views, an
    ensemble's average, an ensemble of ensembles) unwrapped down to the models that end in the
    `emotion` layer, or call no other model (the tests' tiny bundles)."""
    inner = inner_models(model)
    if not inner or "emotion" in (layer.name for layer in model.layers):
        return [model]
    return [network for wrapped in inner for network in networks_in(wrapped)]


def member_count(metadata):
    """How many networks a bundle averages (1 for a bundle from training.train); training.ensemble
    records one member per network."""
    return max(len(metadata.get("training", {}).get("members", [])), 1)


def load_bundle_weights(model, path):
    """Copy a bundle's network's weights into `model` (any --net-size: the head pools); from an
    ensemble its first network's, as the average of several is not one network to fine-tune."""
    try:
        source = networks_in(read_keras_model(path))[0]
    except BundleError as exc:
        raise SystemExit(f"error: --init-from: {exc}") from None
    weights = source.get_weights()
    expected = [w.shape for w in model.get_weights()]
    if [w.shape for w in weights] != expected:
        raise SystemExit(f"error: --init-from: {path} is not a VGG16 model of this shape")
    model.set_weights(weights)


def set_trainable_blocks(base, first_block):
    base.trainable = True
    for layer in base.layers:
        block = int(layer.name[5]) if layer.name.startswith("block") else 0
        layer.trainable = block >= first_block


if __name__ == "__main__":
    weights = None if args.init_from else resolve_weights(args.weights)
    try:
        model, base = make_model(args.img_size, args.net_size, weights, len(LABELS), args.dropout,
                                 args.sam)
    except Exception as exc:  # Keras reports a failed download as a bare Exception
        if weights == "imagenet" and "URL fetch failure" in str(exc):
            raise SystemExit(f"error: --weights imagenet: cannot download VGG16's weights ({exc}). "
                             "Offline? Pass a local copy: --weights PATH.weights.h5") from None
        if weights in (None, "imagenet"):
            raise
        reason = str(exc).strip().splitlines()[0][:300]
        raise SystemExit(f"error: --weights {weights}: cannot load it as VGG16's ImageNet weights "
                         f"without the top layers (a Keras .weights.h5 file): {reason}") from None
    if args.init_from:
        load_bundle_weights(model, args.init_from)
        members = member_count(args.init_metadata)
        log(f"starting from {args.init_from}"
            + (f" (the first of its {members} averaged networks)" if members > 1 else ""))
    log(f"model: {model.count_params():,} parameters, input {args.img_size}×{args.img_size} grey, "
        f"VGG16 at {args.net_size}×{args.net_size}")

# %% [markdown]
# ## Train
#
# Phase 1 trains the head; phase 2 fine-tunes VGG16's upper blocks. Each phase
# has its own `BackupAndRestore` folder so `--resume` lands in the right phase
# and epoch, with the optimizer state and learning-rate schedule intact.


# %%
class SessionLimitReached(Exception):
    """Raised to end a session early; the run's backup stays for --resume."""


class StopAfterEpochs(keras.callbacks.Callback):
    """Ends the session after `epochs` epochs of this fit() call, keeping its backup.

    It raises instead of setting `stop_training`: a fit() that ends normally
    deletes BackupAndRestore's backup, which is exactly what must survive.
    """

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs
        self.done = 0

    def on_epoch_end(self, epoch, logs=None):
        self.done += 1
        if self.model.stop_training:  # early stopping ends the run here: let fit() finish it
            return
        if self.done >= self.epochs and epoch + 1 < self.params["epochs"]:
            # Keras prints an epoch's progress line after the callbacks, so this one never would.
            figures = ", ".join(f"{name} {value:.4f}" for name, value in (logs or {}).items())
            log(f"epoch {epoch + 1}: {figures}")
            raise SessionLimitReached(epoch + 1)


class TrainingCollapsed(Exception):
    """Raised when the network has stopped telling faces apart; the run cannot recover."""


class StopOnCollapse(keras.callbacks.Callback):
    """Ends a fine-tuning run whose network answers every face the same.

    Fine-tuning at this learning rate can, for an unlucky seed, push VGG16's
    activations dead in the first epoch; the network then outputs the class
    priors, its loss sits at ln(classes) on train and validation alike, and more
    epochs never bring it back. Hours of training would go into nothing.
    """

    def __init__(self, num_classes, tolerance=0.01):
        super().__init__()
        self.chance_loss = math.log(num_classes)
        self.tolerance = tolerance

    def on_epoch_end(self, epoch, logs=None):
        losses = [(logs or {}).get(name) for name in ("loss", "val_loss")]
        if all(loss is not None and abs(loss - self.chance_loss) < self.tolerance
               for loss in losses):
            raise TrainingCollapsed(epoch + 1, *losses)


def callbacks_for(phase, run_dir, clock, patience=None, stop_after=None, pretrained=False):
    cbs = [keras.callbacks.LambdaCallback(on_epoch_end=clock.save)]
    if patience:  # saves its state before the backup: a resumed epoch never skips it
        cbs.append(ResumableEarlyStopping(run_dir, patience))
    cbs += [
        # Two alternating backups: a kill while one is written leaves the other to resume from.
        keras.callbacks.BackupAndRestore(str(run_dir / f"backup_{phase}"), double_checkpoint=True),
        keras.callbacks.ModelCheckpoint(str(run_dir / f"checkpoint_{phase}.keras")),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
    ]
    if pretrained:  # from random weights, chance-level answers are where a run starts
        cbs.append(StopOnCollapse(len(LABELS)))
    if stop_after:
        cbs.append(StopAfterEpochs(stop_after))  # last: runs after the backup is written
    return cbs


def fine_tune_schedule(peak_lr, steps_per_epoch, epochs):
    warmup = steps_per_epoch // 2
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak_lr / 10, decay_steps=max(steps_per_epoch * epochs - warmup, 1),
        warmup_target=peak_lr, warmup_steps=warmup, alpha=0.01,
    )


def compile_for(model, optimizer, label_smoothing, sam_rho=0.0):
    """Compile a phase; a --sam model takes its radius for that phase here, where its step
    is traced."""
    if isinstance(model, SharpnessAwareModel):
        model.rho = sam_rho
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=["accuracy"],
    )


if __name__ == "__main__":
    verbose = 1 if sys.stdout.isatty() else 2
    head_done = args.run_dir / "head_done.weights.h5"
    # BackupAndRestore deletes its backup when fine-tuning ends: a run killed after that
    # (choosing views, writing the bundle) resumes from these weights, not from epoch 1.
    finetune_done = args.run_dir / "finetune_done.weights.h5"
    if finetune_done.exists():
        log("phases 1 and 2 already done: loading the fine-tuned weights")
        model.load_weights(finetune_done)
    elif args.head_epochs and not head_done.exists():
        log(f"phase 1: head only, {args.head_epochs} epoch(s) at lr {args.head_lr}")
        base.trainable = False
        compile_for(model, keras.optimizers.Adam(args.head_lr), args.label_smoothing)
        model.fit(train_ds, validation_data=val_ds, epochs=args.head_epochs,
                  class_weight=class_weight, callbacks=callbacks_for("head", args.run_dir, clock),
                  shuffle=False, verbose=verbose)
        replace_atomically(head_done, model.save_weights)
    elif head_done.exists():
        log("phase 1 already done: loading its weights")
        model.load_weights(head_done)

if __name__ == "__main__" and not finetune_done.exists():
    log(f"phase 2: VGG16 blocks {args.fine_tune_from}–5 trainable, {args.epochs} epoch(s), "
        f"peak lr {args.lr}")
    set_trainable_blocks(base, args.fine_tune_from)
    steps = int(train_ds.cardinality())
    compile_for(model, keras.optimizers.AdamW(
        fine_tune_schedule(args.lr, steps, args.epochs), weight_decay=1e-4), args.label_smoothing,
        args.sam)
    try:
        model.fit(train_ds, validation_data=val_ds, epochs=args.epochs,
                  class_weight=class_weight,
                  callbacks=callbacks_for("finetune", args.run_dir, clock, args.patience,
                                          args.stop_after,
                                          pretrained=args.weights != "none" or bool(args.init_from)),
                  shuffle=False, verbose=verbose)
    except EarlyStoppingFired as fired:
        log(f"early stopping had ended this run before it was interrupted: keeping its best "
            f"fine-tuning epoch, {fired.best_epoch + 1}")
        model.set_weights(fired.best_weights)
    except SessionLimitReached as stop:
        log(f"stopped after fine-tuning epoch {stop.args[0]} of {args.epochs} (--stop-after); "
            f"continue with the same command plus --resume")
        raise SystemExit(0) from None
    except TrainingCollapsed as collapse:
        raise SystemExit(
            "error: fine-tuning collapsed in epoch {}: the network answers every face the same "
            "(loss {:.4f}, validation loss {:.4f}: chance, ln {}). Start over in a new "
            "--run-dir with another --seed or a lower --lr.".format(*collapse.args, len(LABELS))
        ) from None
    replace_atomically(finetune_done, model.save_weights)

# %% [markdown]
# ## Evaluate and save
#
# A mirrored face shows the same expression, and so does a slightly tighter
# crop, so the shipped model can read several views of each face and average
# them (test-time augmentation, `training/views.py`); how many views ship is
# decided on the validation split, never on the test set. Metrics on the
# validation split go into the bundle's metadata; the test set is for
# `training.evaluate` alone. The bundle is written atomically.


# %%
def predict_labels(model, dataset):
    y_true, y_pred = [], []
    for images, one_hot in dataset:
        y_true.append(np.argmax(one_hot.numpy(), axis=1))
        y_pred.append(np.argmax(model.predict_on_batch(images), axis=1))
    return np.concatenate(y_true), np.concatenate(y_pred)


def inference_copy(model):
    """A fresh, uncompiled copy of `model` for shipping: no optimizer state, and
    weights stored in bfloat16 wherever they are computed in bfloat16 anyway.

    Saving the trained model itself would also save Adam's two moment tensors
    per weight (3× the size); mixed-precision layers keep float32 master
    weights that inference casts to bfloat16 on every call. Same outputs,
    a third to a sixth of the file.
    """
    copy = keras.Model.from_config(_inference_config(model.get_config()))
    copy.set_weights(model.get_weights())
    return copy


def _inference_config(config):
    """The model config with bfloat16 weight storage and no compile state (nested models too)."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and config["config"].get("name") == "mixed_bfloat16":
            return {**config, "config": {**config["config"], "name": "bfloat16"}}
        return {key: _inference_config(value) for key, value in config.items()
                if key != "compile_config"}
    if isinstance(config, list):
        return [_inference_config(value) for value in config]
    return config


def validation_report(model, val_ds, name):
    report = classification_report(*predict_labels(model, val_ds), LABELS)
    log(f"validation, {name}: accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}")
    return report


def choose_serving_model(model, val_ds, requested):
    """The model to ship (`model` with its test-time views), its validation report, the views."""
    counts = sorted(VIEW_SETS) if requested == "auto" else [int(requested)]
    best = None
    for count in counts:
        candidate = with_test_views(model, VIEW_SETS[count])
        report = validation_report(candidate, val_ds, f"{count} view(s)")
        if best is None or report["accuracy"] > best[1]["accuracy"]:
            best = candidate, report, VIEW_SETS[count]
    return best


def plot_history(csv_path, out_path):
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    epochs = range(1, len(rows) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax in (("loss", ax_loss), ("accuracy", ax_acc)):
        ax.plot(epochs, [float(r[key]) for r in rows], label="train")
        ax.plot(epochs, [float(r["val_" + key]) for r in rows], label="validation")
        ax.set_xlabel("epoch (head + fine-tuning)")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)


def bundle_metadata(input_size, trained_on, val_report, training, channels=1):
    """The bundle's JSON (DESIGN.md's contract); `training` says how the model was made."""
    import tensorflow as tf

    return {
        "labels": list(LABELS),
        "input_size": list(input_size),
        "channels": channels,
        "trained_on": trained_on,
        "metrics": {"validation": val_report},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "training": training,
    }


def training_record(args, views, wall_seconds):
    return {
        "command": "python -m training.train " + " ".join(args.argv),
        "wall_time_s": round(wall_seconds),
        "net_size": args.net_size,
        "seed": args.seed,
        "val_fraction": args.val_fraction,
        "split_seed": args.split_seed,
        "mixup": args.mixup,
        "sam": args.sam,
        "init_from": str(args.init_from) if args.init_from else None,
        "precision": keras.mixed_precision.global_policy().name,
        "epochs": {"head": args.head_epochs, "fine_tune": args.epochs},
        "test_views": list(views),
    }


if __name__ == "__main__":
    serving_model, val_report, views = choose_serving_model(plain_copy(model), val_ds, args.views)
    log(f"shipping the model with {len(views)} test-time view(s): {', '.join(views)}")
    curve = args.out.with_name(args.out.stem + ".training.png")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot_history(args.run_dir / "history.csv", curve)
    metadata = bundle_metadata([args.img_size, args.img_size], str(train_folder(args.data)),
                               val_report, training_record(args, views, clock.seconds()))
    write_bundle(inference_copy(serving_model), metadata, args.out)
    log(f"wrote {args.out} and {args.out.with_suffix('.json').name}, curve {curve.name} "
        f"({clock.seconds() / 60:.1f} min in all)")
