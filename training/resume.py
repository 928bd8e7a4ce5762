"""What `--resume` needs beyond Keras's BackupAndRestore.

BackupAndRestore brings back the model, the optimizer and the epoch, but no other callback's
state, and it deletes its backup once fit() ends. So early stopping's memory of the best epoch
is kept here, and each finished phase leaves its final weights behind.
"""

import csv
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


def epochs_logged(run_dir):
    """How many epochs (both phases) the run's history.csv records: 0 for a new run."""
    try:
        with open(Path(run_dir) / "history.csv", newline="") as f:
            return sum(1 for _ in csv.DictReader(f))
    except FileNotFoundError:
        return 0


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Early stopping on validation accuracy that keeps the best epoch across sessions.

    Keras's EarlyStopping forgets everything when fit() starts: a resumed run would keep the
    best epoch *since the resume* and wait `patience` epochs more. This one saves the best
    score, its epoch, its weights and the patience count in `state_dir` every epoch.
    """

    def __init__(self, state_dir, patience):
        super().__init__(monitor="val_accuracy", mode="max", patience=patience,
                         restore_best_weights=True, verbose=1)
        self.state_path = Path(state_dir) / "early_stopping.json"
        self.weights_path = Path(state_dir) / "early_stopping_best.npz"

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if not self.state_path.exists():
            return
        state = json.loads(self.state_path.read_text())
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        with np.load(self.weights_path) as saved:
            self.best_weights = [saved[f"w{i}"] for i in range(len(saved.files))]

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if self.best is None:  # no validation figure yet
            return
        if self.best_epoch == epoch:
            arrays = {f"w{i}": w for i, w in enumerate(self.best_weights)}
            replace_atomically(self.weights_path, lambda path: np.savez(path, **arrays))
        state = {"best": float(self.best), "best_epoch": self.best_epoch, "wait": self.wait}
        replace_atomically(self.state_path, lambda path: path.write_text(json.dumps(state)))
