"""What `--resume` needs beyond Keras's BackupAndRestore.

BackupAndRestore brings back the model, the optimizer and the epoch, but no other callback's
state, and it deletes its backup once fit() ends. So early stopping's memory of the best epoch
is kept here, and each finished phase leaves its final weights behind. Nor does it know the
options the run was started with: they are recorded here, and a resume that changes them is
refused.
"""

import csv
import hashlib
import json
import os
from pathlib import Path

import keras
import numpy as np


def replace_atomically(path, write):
    """`write(temporary path)`, then move it over `path`: a kill mid-write leaves the old file.

    The temporary name ends like `path` (Keras insists on `.weights.h5`, NumPy on `.npz`).
    """
    path = Path(path)
    partial = path.with_name(f".partial-{path.name}")
    write(partial)
    os.replace(partial, path)


# What a run folder records of the run, beside its checkpoints.
OPTIONS_RECORD = "options.json"
DATA_RECORD = "data.json"
RECORDS = (OPTIONS_RECORD, DATA_RECORD)

# The options that make a run what it is. Resuming with another value would carry on a
# different run from these checkpoints: another schedule, split, augmentation or network.
# The rest may change between sessions: where the data, weights and bundle live, the views,
# --stop-after, and early stopping's patience (e.g. to switch it off near the end).
RUN_OPTIONS = ("epochs", "head_epochs", "init_from", "img_size", "net_size", "batch_size", "lr",
               "head_lr", "fine_tune_from", "val_fraction", "label_smoothing", "erase", "mixup",
               "sam", "dropout", "seed", "split_seed")


def run_options(args):
    """The run-defining options of parsed arguments, as JSON values."""
    options = {name: getattr(args, name) for name in RUN_OPTIONS}
    # The starting bundle by its content, not its path, which may change (e.g. on Colab).
    options["init_from"] = args.init_metadata and args.init_metadata.get("sha256", "unknown")
    return options


def record_or_check_options(run_dir, options, resume):
    """A new run records its options; a resumed one must have the same, or it is refused.

    A run folder from before the record existed is resumed unchecked, and recorded from now on.
    """
    path = Path(run_dir) / OPTIONS_RECORD
    if resume and path.exists():
        refuse_changed_options(run_dir, read_record(path), options)
        return
    if resume:
        print(f"note: {run_dir} has no record of its options (a run from before 25 November "
              f"2026): they are not checked against this session's", flush=True)
    write_record(path, options)


def data_record(files, root):
    """The training images by label and name: another set would be split differently, even by
    one file. Names only, relative to `root`, so the folder may move (e.g. on Colab)."""
    names = sorted(f"{label}/{path.relative_to(Path(root) / label).as_posix()}"
                   for label, paths in files.items() for path in paths)
    return {"images": len(names), "names_sha256": hashlib.sha256("\n".join(names).encode()).hexdigest()}


def record_or_check_data(run_dir, record, resume):
    """A new run records its images; a resumed one must train on the same, or it is refused: its
    validation split would be another, and early stopping's best epoch meaningless."""
    path = Path(run_dir) / DATA_RECORD
    if resume and path.exists():
        recorded = read_record(path)
        if recorded != record:
            raise SystemExit(
                f"error: --resume: the training images differ from the interrupted run's "
                f"({recorded.get('images')} then, {record['images']} now, or other files): the "
                f"validation split would differ. Resume on the same images, or start a new run "
                f"in another --run-dir.")
        return
    write_record(path, record)


def write_record(path, record):
    replace_atomically(path, lambda partial: partial.write_text(json.dumps(record, indent=1)))


def read_record(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"error: --resume: cannot read the run's record {path}: {exc}") \
            from None


def refuse_changed_options(run_dir, recorded, options):
    changed = [name for name in RUN_OPTIONS if name in recorded and recorded[name] != options[name]]
    if not changed:
        return
    lines = "\n".join(f"  --{name.replace('_', '-')} {shown(name, options[name])} (the run used "
                      f"{shown(name, recorded[name])})" for name in changed)
    raise SystemExit(
        f"error: --resume: options differ from the interrupted run's in {run_dir}:\n{lines}\n"
        f"Resume with the run's values, or start a new run in another --run-dir (to train a "
        f"finished network further, --init-from its bundle).")


def shown(name, value):
    if value is None:
        return "not given"
    return f"a bundle with sha256 {value[:12]}…" if name == "init_from" else value


def epochs_logged(run_dir):
    """How many epochs (both phases) the run's history.csv records: 0 for a new run."""
    try:
        with open(Path(run_dir) / "history.csv", newline="") as f:
            return sum(1 for _ in csv.DictReader(f))
    except FileNotFoundError:
        return 0


class EarlyStoppingFired(Exception):
    """Raised on resuming a run whose early stopping had already ended it."""

    def __init__(self, best_epoch, best_weights):
        super().__init__(best_epoch)
        self.best_epoch, self.best_weights = best_epoch, best_weights


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Early stopping on validation accuracy that keeps the best epoch across sessions.

    Keras's EarlyStopping forgets everything when fit() starts: a resumed run would keep the
    best epoch *since the resume* and wait `patience` epochs more. This one saves the best
    score, its epoch, its weights and the patience count in `state_dir` every epoch.

    It saves before BackupAndRestore does, so a kill between the two re-runs an epoch this
    state has already counted. Each save therefore also keeps the state from before its
    epoch, and a resumed session starts from whichever one precedes its first epoch.
    """

    def __init__(self, state_dir, patience):
        super().__init__(monitor="val_accuracy", mode="max", patience=patience,
                         restore_best_weights=True, verbose=1)
        self.state_dir = Path(state_dir)
        self.state_path = self.state_dir / "early_stopping.json"
        self.saved = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        # The first epoch's number, which says which saved state to resume from, is known
        # only once BackupAndRestore has restored the run: restoring waits for on_epoch_begin.
        self.saved = json.loads(self.state_path.read_text()) if self.state_path.exists() else None

    def on_epoch_begin(self, epoch, logs=None):
        self._resume(epoch)
        if self.best is not None and self.wait >= self.patience:
            # It had fired, and the run was killed before its weights were saved: the run is
            # over, and training one more epoch would only be thrown away.
            raise EarlyStoppingFired(self.best_epoch, self.best_weights)

    def on_train_end(self, logs=None):
        # Killed after the last epoch's backup, a run resumes with no epoch left to begin:
        # the best weights must still be restored.
        if self.saved is not None:
            self._resume(self.params["epochs"])
        super().on_train_end(logs)

    def _resume(self, first_epoch):
        if self.saved is None:
            return
        state, self.saved = self.saved, None
        if "epoch" not in state:  # saved before 25 November 2026: the last finished epoch's
            state = {**state, "epoch": first_epoch - 1}
        if state["epoch"] == first_epoch:  # killed before its backup: it is trained again
            state = state["before"]
        elif state["epoch"] != first_epoch - 1:
            print(f"warning: early stopping's saved state (epoch {state['epoch'] + 1}) does not "
                  f"match the backup (resuming at epoch {first_epoch + 1}): it starts afresh",
                  flush=True)
            return
        if state is not None:
            self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
            self.best_weights = self._load_weights(state["best_epoch"])

    def on_epoch_end(self, epoch, logs=None):
        before = self._state(epoch - 1)
        super().on_epoch_end(epoch, logs)
        if self.best is None:  # no validation figure yet
            return
        if self.best_epoch == epoch:
            arrays = {f"w{i}": w for i, w in enumerate(self.best_weights)}
            replace_atomically(self._weights_path(epoch), lambda path: np.savez(path, **arrays))
        state = {**self._state(epoch), "before": before}
        replace_atomically(self.state_path, lambda path: path.write_text(json.dumps(state)))
        self._remove_weights_except({state["best_epoch"], before and before["best_epoch"]})

    def _state(self, epoch):
        if self.best is None:
            return None
        return {"epoch": epoch, "best": float(self.best), "best_epoch": self.best_epoch,
                "wait": self.wait}

    def _weights_path(self, epoch):
        return self.state_dir / f"early_stopping_best_{epoch}.npz"

    def _load_weights(self, epoch):
        path = self._weights_path(epoch)
        if not path.exists():  # a run folder from before 25 November 2026
            path = self.state_dir / "early_stopping_best.npz"
        with np.load(path) as saved:
            return [saved[f"w{i}"] for i in range(len(saved.files))]

    def _remove_weights_except(self, epochs):
        for path in self.state_dir.glob("early_stopping_best_*.npz"):
            if int(path.stem.rsplit("_", 1)[1]) not in epochs:
                path.unlink()
