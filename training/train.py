# %% [markdown]
"""
# Fine-tuning VGG16 to read facial expressions

Trains the MoodTunes expression model — a Keras VGG16 (ImageNet weights) with a small head that
tells **angry, happy, neutral and sad** faces apart — and writes the model bundle the web app
serves (`NAME.keras` + `NAME.json`). Run it as a command:

    python -m training.train --data ../shared/data/ferplus4 \
        --weights ../shared/weights/vgg16_imagenet_notop.weights.h5 --out models/mine.keras

and serve the result with `MODEL_PATH=models/mine.keras`. Or run it cell by cell in a notebook
(Colab, Jupyter, VS Code): edit `NOTEBOOK_ARGS` in the Setup cell, then run the cells in order.

`--data DIR` holds `train/<label>/*` (or `<label>/*` directly): face images of any size, grey
or colour, JPEG, PNG or WebP. With a `valid/<label>/*` beside `train/`, the run validates on it
(FER+'s protocol); otherwise it holds out a seeded share of `train/`. With a `votes.csv`
(FER+'s ten annotators' votes per image), it learns each face's share of votes instead of one
label. A `test/` folder is never read here: `python -m training.evaluate` judges the bundle on it.

The recipe: the head alone for one epoch (VGG16 frozen, so the random head does not wreck the
pretrained features), then VGG16's blocks 2–5 with AdamW and a warm-up + cosine-decay schedule,
keeping the epoch with the best validation accuracy. The shipped model reads each face and its
mirror image, and its confidence is calibrated on the validation faces (a temperature).

Every epoch is backed up: after an interruption, the same command with `--resume` continues
from the last finished epoch.
"""

# %% [markdown]
# ## Setup

# %%
import argparse
import csv
import hashlib
import json
import math
import os
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from app.bundle import BundleError, read_metadata, write_bundle
from app.emotions import LABELS
from training.calibration import (expected_calibration_error, fit_temperature,
                                  plot_reliability, probabilities)
from training.dataset import DataError, load_faces, read_votes, scan_folder, targets_for
from training.metrics import classification_report
from training.output import pyplot, unwritable

# Edit these when running cell by cell in a notebook; the command line ignores them.
NOTEBOOK_ARGS = [
    "--data", "../shared/data/ferplus4",
    "--weights", "../shared/weights/vgg16_imagenet_notop.weights.h5",
    "--out", "models/mine.keras",  # the shipped model's path would replace it
]

CROP_SIZE = 48  # the side of the grey face crop the model takes: FER-2013's own size
HEAD_EPOCHS, HEAD_LR = 1, 1e-3
FIRST_TRAINED_BLOCK = 2  # block 1's edge filters serve faces as they are
DROPOUT = 0.5
VGG16_MIN_SIDE = 32  # Keras builds no VGG16 for a smaller input
# The options that make a run what it is: a --resume with another value would carry on a
# different run from these checkpoints, so it is refused.
RUN_OPTIONS = ("epochs", "net_size", "batch_size", "lr", "val_fraction", "seed")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m training.train",
        description="Fine-tune VGG16 on face images and write a MoodTunes model bundle.")
    parser.add_argument("--data", required=True, type=Path,
                        help="folder with train/<label>/* (or <label>/*), optionally valid/ "
                             "and votes.csv")
    parser.add_argument("--weights", default="imagenet",
                        help="'imagenet' (Keras downloads them), a path to VGG16's no-top "
                             "ImageNet weights (.weights.h5, for offline use), or 'none' "
                             "(random, for quick tests)")
    parser.add_argument("--init-from", type=Path, metavar="BUNDLE",
                        help="start from a trained bundle instead (e.g. the shipped one, to "
                             "adapt it to your own photos); skips the head-only epoch")
    parser.add_argument("--out", type=Path, default=Path("models/moodtunes_vgg16.keras"))
    parser.add_argument("--epochs", type=int, default=12, help="fine-tuning epochs (default: 12)")
    parser.add_argument("--net-size", type=int,
                        help="side VGG16 sees: the 48-px crop is upscaled to it inside the model "
                             "(default: 64; with --init-from, the bundle's)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-4,
                        help="peak fine-tuning learning rate (default: 1e-4)")
    parser.add_argument("--patience", type=int, default=4,
                        help="stop after this many epochs without a better validation accuracy "
                             "(default: 4; 0: train every epoch)")
    parser.add_argument("--val-fraction", type=float, default=0.15,
                        help="without a valid/ folder: share of train/ held out (default: 0.15)")
    parser.add_argument("--seed", type=int, default=1337,
                        help="seed of the head, the augmentation, the shuffling and the split")
    parser.add_argument("--run-dir", type=Path,
                        help="backups and logs (default: training/runs/<out name>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted run in --run-dir")
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    check_options(parser, args)
    args.run_dir = args.run_dir or Path("training/runs") / args.out.stem
    return args


def check_options(parser, args):
    """Refuse what would fail late — after hours of training, or with a Keras traceback."""
    if args.init_from:
        try:
            args.init_metadata = read_metadata(args.init_from)
        except BundleError as exc:
            parser.error(f"--init-from: {exc}")
    else:
        args.init_metadata = None
    bundle_net_size = args.init_metadata and args.init_metadata.get("training", {}).get("net_size")
    args.net_size = args.net_size or bundle_net_size or 64
    rules = (
        (args.out.suffix == ".keras", "--out must end in .keras"),
        (args.epochs >= 1, "--epochs must be ≥ 1"),
        (args.batch_size >= 1, "--batch-size must be ≥ 1"),
        (args.lr > 0, "--lr must be > 0"),
        (args.patience >= 0, "--patience must be ≥ 0 (0: no early stopping)"),
        (0 < args.val_fraction < 0.5, "--val-fraction must be between 0 and 0.5"),
        (args.net_size >= VGG16_MIN_SIDE,
         f"--net-size must be at least {VGG16_MIN_SIDE}, VGG16's smallest input"),
        (not args.init_metadata or args.init_metadata["input_size"] == [CROP_SIZE, CROP_SIZE],
         f"--init-from: the bundle does not take {CROP_SIZE}-px crops"),
    )
    for valid, message in rules:
        if not valid:
            parser.error(message)
    if args.weights not in ("imagenet", "none") and not Path(args.weights).is_file():
        parser.error(f"--weights: no such file {args.weights} (or use 'imagenet')")
    if problem := unwritable(args.out.parent):
        parser.error(f"--out: {problem}")


def running_in_notebook():
    return "ipykernel" in sys.modules


def log(message):
    print(f"[train {time.strftime('%H:%M:%S')}] {message}", flush=True)


held_signal = None
holding_signals = False  # while an epoch's weights, log and backup are written


def stop(signum):
    print("\ninterrupted: run the same command with --resume to continue after the last "
          "finished epoch", file=sys.stderr, flush=True)
    os._exit(128 + signum)


def on_signal(signum, frame):
    """Ctrl-C or SIGTERM (`kill`, a job scheduler) ends the run at once with one line saying how
    to go on, instead of a traceback or silence; while an epoch is being saved, right after.
    It exits without unwinding: Keras or h5py could swallow an exception raised mid-save."""
    global held_signal
    if holding_signals:
        held_signal = signum
    else:
        stop(signum)


def hold_signals(holding):
    global holding_signals
    holding_signals = holding
    if not holding and held_signal:
        stop(held_signal)


args = parse_args(NOTEBOOK_ARGS if running_in_notebook() else None)
if not running_in_notebook():  # a notebook kernel handles interruptions itself
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
if args.run_dir.exists() and any(args.run_dir.iterdir()) and not args.resume:
    sys.exit(f"error: {args.run_dir} holds an earlier run. Continue it with --resume, or delete "
             f"the folder to start over.")
if args.resume and not args.run_dir.exists():
    sys.exit(f"error: --resume: no run to continue in {args.run_dir}")
if problem := unwritable(args.run_dir):
    sys.exit(f"error: --run-dir: {problem}")
started = time.time()
history_csv = args.run_dir / "history.csv"


def read_history():
    """The fine-tuning epochs logged so far, {epoch: its CSV row}: an epoch run again after an
    interruption before its backup is logged twice, and its last row counts."""
    if not history_csv.exists():
        return {}
    with open(history_csv, newline="") as f:
        return {int(row["epoch"]): row for row in csv.DictReader(f)}


# %% [markdown]
# ## The data
#
# Every image is checked first (labels, empty classes, unreadable files), so that a bad file
# stops the run now, not an hour in. FER+'s votes, where there are any, become soft targets:
# a face that four annotators of ten called sad teaches "40 % sad", not "sad".


# %%
def labelled_paths(folder, votes):
    """(paths, targets) of `folder`'s `<label>/*` images: the layout checked, nothing decoded."""
    return targets_for(scan_folder(folder), args.data, votes)


def seeded_split(count, fraction, seed):
    """Indices (train, validation) of a seeded random split."""
    order = np.random.default_rng(seed).permutation(count)
    held_out = int(count * fraction)
    if held_out == 0:
        raise DataError(f"{count} images: --val-fraction {fraction} holds out none of them for "
                        f"validation; add images (or a valid/ folder)")
    return order[held_out:], order[:held_out]


def run_record(paths):
    """What a resumed run must share with the run it continues: its options and its images."""
    names = "\n".join(sorted(Path(p).relative_to(args.data).as_posix() for p in paths))
    return {**{name: getattr(args, name) for name in RUN_OPTIONS},
            "init_from": args.init_metadata and args.init_metadata.get("sha256"),
            "images_sha256": hashlib.sha256(names.encode()).hexdigest()}


def check_resumed_run(record):
    """Refuse a --resume whose options or images differ from the run it would continue."""
    path = args.run_dir / "run.json"
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        sys.exit(f"error: --resume: cannot read the run's record {path}: {exc}")
    changed = [name for name in record if record[name] != earlier.get(name)]
    if changed:
        sys.exit("error: --resume: this run was started with other " + ", ".join(
            f"--{name.replace('_', '-')} {earlier.get(name)} (now {record[name]})"
            if name in RUN_OPTIONS else f"{name} (the data or the starting bundle)"
            for name in changed) + ". Resume with the run's own, or start a new --run-dir.")


def class_weights(targets):
    """The square root of balanced weights: FER+ has 4× as many neutral faces as angry ones,
    and a class seldom seen should not be seldom answered; full balancing would over-call it."""
    counts = np.bincount(targets.argmax(axis=1), minlength=len(LABELS))
    return {i: math.sqrt(len(targets) / (len(LABELS) * max(n, 1))) for i, n in enumerate(counts)}


train_folder = args.data / "train" if (args.data / "train").is_dir() else args.data
valid_folder = args.data / "valid"
try:
    votes = read_votes(args.data / "votes.csv") if (args.data / "votes.csv").is_file() else None
    train_paths, y_train = labelled_paths(train_folder, votes)
    if valid_folder.is_dir():
        val_paths, y_val = labelled_paths(valid_folder, votes)
        split = f"validating on {valid_folder}"
    else:
        keep, held = seeded_split(len(train_paths), args.val_fraction, args.seed)
        train_paths, val_paths = [train_paths[i] for i in keep], [train_paths[i] for i in held]
        y_train, y_val = y_train[keep], y_train[held]
        split = f"{len(held)} held out for validation (--seed {args.seed})"
    record = run_record(train_paths + val_paths)
    if args.resume:
        check_resumed_run(record)
    log(f"reading {len(train_paths) + len(val_paths):,} images in {args.data} …")
    faces = load_faces(train_paths + val_paths, CROP_SIZE)  # every broken image named at once
except DataError as exc:
    sys.exit(f"error: {exc}")
x_train, x_val = faces[:len(train_paths)], faces[len(train_paths):]
(args.run_dir / "run.json").write_text(json.dumps(record, indent=2) + "\n")
counts = dict(zip(LABELS, np.bincount(y_train.argmax(axis=1), minlength=len(LABELS))))
log(f"{len(x_train)} faces for training ({', '.join(f'{k} {v}' for k, v in counts.items())}), "
    f"{len(x_val)} for validation: {split}; "
    f"targets: {'annotator votes (votes.csv)' if votes else 'folder labels'}")

# TensorFlow only now: a mistake found above is refused without waiting ~8 s for its import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up notices
import keras
import tensorflow as tf
from keras import layers

from app.emotion_model import read_keras_model
from training.network import (
    fold_temperature,
    inference_copy,
    logits_model,
    make_model,
    set_trainable_blocks,
    with_mirror,
)

# A resumed session must not replay the shuffles and augmentations of the epochs before it.
session_seed = args.seed + len(read_history())
keras.utils.set_random_seed(session_seed)
cpu_flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
if "avx512_bf16" in cpu_flags or "amx_bf16" in cpu_flags:  # native bfloat16: ~2× faster steps
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
log(f"Keras {keras.__version__}, {keras.mixed_precision.global_policy().name}, "
    f"run folder {args.run_dir}")


def augmentation(seed):
    """What a face may look like on a webcam: mirrored, turned, shifted, nearer or further,
    lit differently, partly covered (a hand, glasses). Each layer draws its own numbers."""
    return keras.Sequential([
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomRotation(0.05, fill_mode="nearest", seed=seed + 1),  # ±18°
        layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed + 2),
        layers.RandomZoom((-0.15, 0.15), fill_mode="nearest", seed=seed + 3),
        layers.RandomBrightness(0.15, value_range=(0, 255), seed=seed + 4),
        layers.RandomContrast(0.2, value_range=(0, 255), seed=seed + 5),
        layers.RandomErasing(0.5, scale=(0.02, 0.15), value_range=(0, 255), seed=seed + 6),
    ], name="augmentation")


augment = augmentation(session_seed)
train_ds = (tf.data.Dataset.from_tensor_slices((x_train, y_train))
            .shuffle(len(x_train), seed=session_seed)
            .batch(args.batch_size)
            .map(lambda x, y: (augment(tf.cast(x, "float32"), training=True), y))
            .prefetch(tf.data.AUTOTUNE))
val_ds = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(256).prefetch(tf.data.AUTOTUNE)

# %% [markdown]
# ## The model


# %%
weights = None if args.init_from or args.weights == "none" else args.weights
try:
    model, base = make_model(CROP_SIZE, args.net_size, weights, len(LABELS), DROPOUT)
except Exception as exc:  # Keras reports a failed download or a wrong file as a bare Exception
    reason = str(exc).strip().splitlines()[0][:300]
    hint = ("Offline? Pass a local copy: --weights PATH.weights.h5" if weights == "imagenet"
            else "it must be VGG16's ImageNet weights without the top layers (.weights.h5)")
    sys.exit(f"error: --weights {weights}: cannot load it ({reason}). {hint}")
if args.init_from:
    try:
        shipped = read_keras_model(args.init_from)
        names = [layer.name for layer in shipped.layers]
        network = shipped.get_layer(model.name) if model.name in names else shipped  # mirrored?
        model.set_weights(network.get_weights())
    except (BundleError, ValueError) as exc:
        sys.exit(f"error: --init-from: {args.init_from} is not a bundle of this network ({exc})")
log(f"model: {model.count_params():,} parameters, {CROP_SIZE}-px grey crop, VGG16 at "
    f"{args.net_size} px")

# %% [markdown]
# ## Train
#
# The best epoch's weights are kept in the run folder; its `history.csv` is early stopping's
# memory, so a resumed run still stops, and ends, on the best epoch.


# %%
class KeepBestEpoch(keras.callbacks.Callback):
    """Saves the weights of the epoch with the best validation accuracy and stops the run after
    `patience` epochs without a better one (0: never)."""

    def __init__(self, path, patience):
        super().__init__()
        self.path, self.patience = path, patience
        self.best, self.best_epoch = -1.0, -1

    def on_epoch_begin(self, epoch, logs=None):
        if self.best_epoch >= 0:
            return
        for done, row in sorted(read_history().items()):  # a resumed run: epochs before this one
            if done < epoch and float(row["val_accuracy"]) > self.best:
                self.best, self.best_epoch = float(row["val_accuracy"]), done

    def on_epoch_end(self, epoch, logs=None):
        if logs["val_accuracy"] > self.best:
            self.best, self.best_epoch = logs["val_accuracy"], epoch
            save_weights_atomically(self.model, self.path)
        elif self.patience and epoch - self.best_epoch >= self.patience:
            self.model.stop_training = True


def save_weights_atomically(model, path):
    partial = path.with_name(".partial." + path.name)
    model.save_weights(partial)
    os.replace(partial, path)


class LogProgress(keras.callbacks.Callback):
    """A line every tenth of an epoch, for a log file: Keras's own log is one line an epoch,
    an hour apart on a CPU."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.began = epoch, time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        steps, done = self.params["steps"], batch + 1
        if done % max(steps // 10, 1) == 0 and done < steps:
            minutes_left = (time.monotonic() - self.began) / done * (steps - done) / 60
            log(f"epoch {self.epoch + 1}/{self.params['epochs']}: step {done}/{steps}, "
                f"loss {logs['loss']:.4f}, accuracy {logs['accuracy']:.4f}, "
                f"~{minutes_left:.0f} min to the epoch's end")


def compile_model(learning_rate):
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=1e-4),
                  loss="categorical_crossentropy", metrics=["accuracy"])


live_output = sys.stdout.isatty() or running_in_notebook()  # Keras draws a progress bar there
verbose = 1 if live_output else 2
progress = [] if live_output else [LogProgress()]
weights_by_class = class_weights(y_train)
head_weights = args.run_dir / "head.weights.h5"
best_weights = args.run_dir / "best.weights.h5"
finished = args.run_dir / "finished"
if not args.init_from and not head_weights.exists():
    log(f"phase 1: the head alone, {HEAD_EPOCHS} epoch at lr {HEAD_LR}")
    base.trainable = False
    compile_model(HEAD_LR)
    model.fit(train_ds, validation_data=val_ds, epochs=HEAD_EPOCHS,
              class_weight=weights_by_class, shuffle=False, verbose=verbose, callbacks=progress)
    save_weights_atomically(model, head_weights)
elif head_weights.exists():
    model.load_weights(head_weights)

if not finished.exists():
    log(f"phase 2: VGG16 blocks {FIRST_TRAINED_BLOCK}–5 too, {args.epochs} epoch(s), "
        f"peak lr {args.lr}")
    set_trainable_blocks(base, FIRST_TRAINED_BLOCK)
    steps = int(train_ds.cardinality())
    warmup = max(steps // 2, 1)
    compile_model(keras.optimizers.schedules.CosineDecay(
        args.lr / 10, decay_steps=max(steps * args.epochs - warmup, 1), alpha=0.01,
        warmup_target=args.lr, warmup_steps=warmup))
    model.fit(train_ds, validation_data=val_ds, epochs=args.epochs,
              class_weight=weights_by_class, shuffle=False, verbose=verbose, callbacks=[
                  *progress,
                  keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: hold_signals(True)),
                  KeepBestEpoch(best_weights, args.patience),
                  keras.callbacks.CSVLogger(str(history_csv), append=True),
                  # An epoch counts as done for --resume once the others have saved it.
                  keras.callbacks.BackupAndRestore(str(args.run_dir / "backup"),
                                                   double_checkpoint=True),
                  keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: hold_signals(False)),
              ])
    finished.touch()
model.load_weights(best_weights)

# %% [markdown]
# ## Calibrate and save
#
# The shipped model reads each face and its mirror image and averages the two, where that is
# more accurate on the validation faces. A temperature fitted there makes its confidence mean
# what it says (`training/calibration.py`). The validation figures go into the bundle's
# metadata; the test set is for `training.evaluate` alone.


# %%
def logit_views(faces):
    """The network's logits for each face and for its mirror image: (2, n, classes)."""
    logits = logits_model(model)
    return np.stack([logits.predict(faces, batch_size=256, verbose=0),
                     logits.predict(faces[:, :, ::-1], batch_size=256, verbose=0)])


def plot_history(history, out_path):
    plt = pyplot()

    rows = [row for _, row in sorted(history.items())]
    epochs = range(1, len(rows) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax in zip(("loss", "accuracy"), axes):
        ax.plot(epochs, [float(r[key]) for r in rows], label="train")
        ax.plot(epochs, [float(r["val_" + key]) for r in rows], label="validation")
        ax.set_xlabel("fine-tuning epoch")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)


history = read_history()
val_labels = y_val.argmax(axis=1)
views = logit_views(x_val)
accuracy = {name: float((probabilities(v).argmax(axis=1) == val_labels).mean())
            for name, v in (("face", views[:1]), ("face and mirror", views))}
mirror = accuracy["face and mirror"] > accuracy["face"]
views = views if mirror else views[:1]
temperature = fit_temperature(views, val_labels)
val_probs = probabilities(views, temperature)
ece = {"before": expected_calibration_error(probabilities(views), val_labels),
       "after": expected_calibration_error(val_probs, val_labels)}
log(f"validation accuracy: face {accuracy['face']:.4f}, face and mirror "
    f"{accuracy['face and mirror']:.4f}: shipping {'both' if mirror else 'the face alone'}; "
    f"temperature {temperature:.3f}, ECE {ece['before']:.4f} → {ece['after']:.4f}")

fold_temperature(model, temperature)
serving = with_mirror(model) if mirror else model
report = classification_report(val_labels, val_probs.argmax(axis=1), LABELS)
report["ece"] = round(ece["after"], 4)
out_stem = args.out.with_suffix("")
plot_history(history, f"{out_stem}.training.png")
plot_reliability(val_probs, val_labels, f"{out_stem}.reliability.png",
                 f"validation, temperature {temperature:.2f}")
metadata = {
    "labels": list(LABELS),
    "input_size": [CROP_SIZE, CROP_SIZE],
    "channels": 1,
    "trained_on": str(args.data),
    "metrics": {"validation": report},
    "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    "training": {
        "command": "python -m training.train " + " ".join(args.argv),
        "net_size": args.net_size,
        "targets": "votes" if votes else "folder labels",
        "precision": keras.mixed_precision.global_policy().name,
        "epochs_trained": len(history),
        "best_epoch": max(history, key=lambda epoch: float(history[epoch]["val_accuracy"])) + 1,
        "mirror": mirror,
        "temperature": round(temperature, 4),
        "session_wall_time_s": round(time.time() - started),
    },
}
write_bundle(inference_copy(serving), metadata, args.out)
log(f"wrote {args.out} and {args.out.with_suffix('.json').name} (validation accuracy "
    f"{report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}, ECE {report['ece']:.4f}), "
    f"curve and reliability plot beside them")
