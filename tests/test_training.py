"""The training and evaluation CLIs, end to end on a few tiny generated images."""

import csv
import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.bundle import read_metadata
from app.emotions import LABELS
from training.dataset import DataError, scan_folder
from tests.images import SHARED, shared

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--weights", "none", "--img-size", "32", "--net-size", "32", "--batch-size", "8",
         "--head-epochs", "1", "--fine-tune-from", "5", "--val-fraction", "0.25"]


def write_faces(folder, per_class=6, size=(40, 40)):
    """Fake faces: each class its own brightness pattern, in a mix of formats and modes."""
    rng = np.random.default_rng(0)
    for index, label in enumerate(LABELS):
        (folder / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, size, dtype=np.uint8) + np.uint8(index * 50)
            image = Image.fromarray(pixels)
            if i % 3 == 1:
                image = image.convert("RGB").resize((size[0] + 17, size[1] + 5))
                image.save(folder / label / f"{i}.png")
            else:
                image.save(folder / label / f"{i}.jpg")
    return folder


def run(module, *args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One interrupted run, resumed to the end: the bundle and its run folder."""
    base = tmp_path_factory.mktemp("training")
    data = base / "data"
    write_faces(data / "train")
    out = base / "models" / "small.keras"
    args = ["--data", str(data), *SMALL, "--epochs", "3", "--out", str(out),
            "--run-dir", str(base / "run")]
    first = run("training.train", *args, "--stop-after", "1")
    first_wall_time = float((base / "run" / "wall_time_s.txt").read_text())
    resumed = run("training.train", *args, "--resume")
    return {"data": data, "out": out, "run": base / "run", "first": first, "resumed": resumed,
            "first_wall_time": first_wall_time}


def test_interrupted_run_resumes_from_its_last_epoch(trained):
    first, resumed = trained["first"], trained["resumed"]
    assert first.returncode == 0, first.stderr[-2000:]
    assert "stopped after fine-tuning epoch 1 of 3" in first.stdout
    assert re.search(r"epoch 1: .*\bval_accuracy \d\.\d{4}", first.stdout), first.stdout
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "phase 1 already done" in resumed.stdout
    # Early stopping's memory matched the backup's epoch and was carried over, not restarted.
    assert "does not match the backup" not in resumed.stdout
    with open(trained["run"] / "history.csv", newline="") as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    # head epoch 0, fine-tuning epoch 0 in the first session, then 1 and 2 after resuming
    assert epochs == [0, 0, 1, 2]


def test_progress_states_the_split_once_without_kerass_own_lines(trained):
    stdout = trained["first"].stdout
    assert "18 for training, 6 held out for validation (--split-seed 1337)" in stdout
    assert "Using " not in stdout and "files for training" not in stdout


def test_a_run_killed_after_fine_tuning_resumes_without_retraining(trained, tmp_path):
    """Killed while it chose views or wrote the bundle: --resume must not start fine-tuning over
    (Keras deletes its backup when fit() ends). On a copy of the finished run, bundle not yet
    written."""
    run_dir = shutil.copytree(trained["run"], tmp_path / "run")
    history = (run_dir / "history.csv").read_text()
    out = tmp_path / "small.keras"
    again = run("training.train", "--data", str(trained["data"]), *SMALL, "--epochs", "3",
                "--out", str(out), "--run-dir", str(run_dir), "--resume")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "phases 1 and 2 already done" in again.stdout
    assert (run_dir / "history.csv").read_text() == history  # no epoch trained again
    assert read_metadata(out)["labels"] == list(LABELS)


def file_contents(folder):
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}


def test_a_resume_with_other_options_is_refused(trained, tmp_path):
    """Another learning rate or schedule would carry on a different run from the checkpoints:
    refused before any training, naming each change; nothing in the run folder changes."""
    run_dir = shutil.copytree(trained["run"], tmp_path / "run")
    before = file_contents(run_dir)
    again = run("training.train", "--data", str(trained["data"]), *SMALL, "--epochs", "4",
                "--lr", "3e-4", "--out", str(tmp_path / "small.keras"), "--run-dir", str(run_dir),
                "--resume")
    assert again.returncode != 0
    assert "--epochs 4 (the run used 3)" in again.stderr
    assert "--lr 0.0003 (the run used 0.0001)" in again.stderr
    assert "phase" not in again.stdout  # stopped before training anything
    assert file_contents(run_dir) == before


def test_only_run_defining_options_must_match_on_resume(tmp_path):
    """Where the data and bundle live, the views, --stop-after and patience may change between
    sessions (network 9 was resumed with --patience 0); the seed or --sam may not."""
    from training.train import parse_args
    from training.resume import run_options

    base = ["--epochs", "3", "--run-dir", str(tmp_path / "run")]
    first = run_options(parse_args(["--data", "a", *base, "--out", "a.keras"]))
    moved = run_options(parse_args(["--data", "b", *base, "--out", "b.keras", "--views", "2",
                                    "--patience", "0", "--stop-after", "1",
                                    "--weights", "none"]))
    assert moved == first
    for option, value in (("--seed", "7"), ("--sam", "0.01"), ("--net-size", "112")):
        other = run_options(parse_args(["--data", "a", *base, "--out", "a.keras", option, value]))
        assert other != first, option


def test_a_resume_may_find_the_starting_bundle_elsewhere_but_not_another(trained, tmp_path):
    from training.train import parse_args
    from training.resume import run_options

    def options(bundle):
        return run_options(parse_args(["--data", "a", "--init-from", str(bundle)]))

    moved = shutil.copy(trained["out"], tmp_path / "moved.keras")
    shutil.copy(trained["out"].with_suffix(".json"), tmp_path / "moved.json")
    assert options(moved) == options(trained["out"])
    assert options(moved)["init_from"] == read_metadata(trained["out"])["sha256"]


def test_a_run_folder_without_an_options_record_resumes_and_is_recorded(tmp_path, capsys):
    from training.resume import record_or_check_options

    options = {"epochs": 3, "lr": 1e-4}
    record_or_check_options(tmp_path, options, resume=True)
    assert "no record of its options" in capsys.readouterr().out
    assert json.loads((tmp_path / "options.json").read_text()) == options
    record_or_check_options(tmp_path, options, resume=True)  # the same again: accepted
    with pytest.raises(SystemExit, match="--lr 0.001 \\(the run used 0.0001\\)"):
        record_or_check_options(tmp_path, {**options, "lr": 1e-3}, resume=True)


def weights_marking(model, value):
    return [np.full(w.shape, value, np.float32) for w in model.get_weights()]


def early_stopping_session(run_dir, model, epochs, val_accuracies, run_epochs=7):
    """Drive training.train's early stopping through some epochs of a `run_epochs` run, as fit()
    would: each epoch's weights are filled with its number, so the restored weights tell which
    epoch they are."""
    from training.resume import ResumableEarlyStopping

    stopper = ResumableEarlyStopping(run_dir, patience=3)
    model.stop_training = False  # as fit() sets it
    stopper.set_model(model)
    stopper.set_params({"epochs": run_epochs})
    stopper.on_train_begin()
    for epoch in epochs:
        stopper.on_epoch_begin(epoch)
        model.set_weights(weights_marking(model, epoch))
        stopper.on_epoch_end(epoch, {"val_accuracy": val_accuracies[epoch]})
        if model.stop_training:
            break
    return stopper


def test_early_stopping_keeps_the_best_epoch_across_sessions(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    val_accuracies = [0.5, 0.9, 0.6, 0.61, 0.62, 0.63, 0.64]
    early_stopping_session(tmp_path, model, range(0, 2), val_accuracies)  # then killed
    resumed = early_stopping_session(tmp_path, model, range(2, 7), val_accuracies)
    assert model.stop_training and resumed.stopped_epoch == 4  # patience counted across both
    resumed.on_train_end()
    assert np.all(model.get_weights()[0] == 1)  # epoch 1's weights, the best, were restored


@pytest.mark.parametrize("killed_epoch_accuracy", [0.95, 0.6], ids=["a new best", "no better"])
def test_early_stopping_forgets_an_epoch_killed_before_its_backup(tmp_path, killed_epoch_accuracy):
    """Early stopping saves its state before BackupAndRestore writes the epoch's backup. Killed
    in between, the run trains that epoch again: the epoch must not count twice towards
    patience, and a best it set the first time must not outlive its re-run."""
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    early_stopping_session(tmp_path, model, range(0, 3), [0.5, 0.9, killed_epoch_accuracy])
    resumed = early_stopping_session(tmp_path, model, range(2, 7),  # epoch 2 again
                                     [0.5, 0.9, 0.6, 0.61, 0.62, 0.63, 0.64])
    assert model.stop_training and resumed.stopped_epoch == 4  # three epochs after epoch 1
    resumed.on_train_end()
    assert np.all(model.get_weights()[0] == 1)
    assert [p.name for p in tmp_path.glob("*.npz")] == ["early_stopping_best_1.npz"]


def test_a_run_killed_after_its_last_backup_still_ends_on_its_best_epoch(tmp_path):
    """Resumed with every epoch done, fit() begins no epoch: the best weights must still win."""
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    early_stopping_session(tmp_path, model, range(0, 4), [0.5, 0.9, 0.6, 0.61], run_epochs=4)
    resumed = early_stopping_session(tmp_path, model, range(4, 4), [], run_epochs=4)
    resumed.on_train_end()
    assert np.all(model.get_weights()[0] == 1)


def test_a_run_early_stopping_had_ended_is_not_trained_further(tmp_path):
    """Killed after the epoch early stopping fired on, before the weights were saved: resumed,
    the run must end at once with its best weights, not train an epoch to be thrown away."""
    import keras

    from training.resume import EarlyStoppingFired

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    val_accuracies = [0.5, 0.9, 0.6, 0.61, 0.62, 0.7, 0.8]
    first = early_stopping_session(tmp_path, model, range(0, 7), val_accuracies)
    assert first.stopped_epoch == 4
    with pytest.raises(EarlyStoppingFired) as fired:
        early_stopping_session(tmp_path, model, range(5, 7), val_accuracies)
    assert fired.value.best_epoch == 1 and np.all(fired.value.best_weights[0] == 1)


def test_early_stopping_resumes_a_run_folder_from_before_per_epoch_states(tmp_path):
    """Until 25 November 2026 the state had no epoch and the best weights one file."""
    import json

    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    (tmp_path / "early_stopping.json").write_text(json.dumps({"best": 0.9, "best_epoch": 1,
                                                              "wait": 1}))
    np.savez(tmp_path / "early_stopping_best.npz",
             **{f"w{i}": w for i, w in enumerate(weights_marking(model, 1))})
    resumed = early_stopping_session(tmp_path, model, range(3, 7),
                                     [0.5, 0.9, 0.6, 0.61, 0.62, 0.63, 0.64])
    assert model.stop_training and resumed.stopped_epoch == 4
    resumed.on_train_end()
    assert np.all(model.get_weights()[0] == 1)


def test_augmentation_draws_each_distortion_independently():
    """Seeded alike, Keras's random layers draw the same numbers: every mirrored face would
    also be darker. Mirroring and brightness must not be correlated."""
    from training.train import make_augmentation

    faces = np.zeros((512, 32, 32, 1), np.float32)
    faces[:, :, :16] = 160.0  # bright left half: a mirrored face is bright on the right
    faces[:, :, 16:] = 90.0
    augment = make_augmentation(seed=1337, erase=0.0)
    out = np.concatenate([augment(faces[i:i + 64], training=True).numpy()
                          for i in range(0, 512, 64)])[..., 0]
    mirrored = out[:, 12:20, 2:8].mean(axis=(1, 2)) < out[:, 12:20, 24:30].mean(axis=(1, 2))
    brightness = out.mean(axis=(1, 2))
    assert 0.35 < mirrored.mean() < 0.65
    assert abs(np.corrcoef(mirrored, brightness)[0, 1]) < 0.2


def test_the_same_seed_gives_the_same_training_batches(tmp_path):
    """--seed reproduces a run's augmented batches, not only its split."""
    write_faces(tmp_path / "train", per_class=8)

    def first_batches():
        train_ds, _ = small_datasets(tmp_path / "train", "--seed", "5", "--batch-size", "2")
        return [images.numpy() for epoch in range(2) for images, _ in train_ds]

    for a, b in zip(first_batches(), first_batches(), strict=True):
        np.testing.assert_array_equal(a, b)


def stop_after(epochs, of_epochs, early_stopping_fired=False):
    import keras

    from training.train import StopAfterEpochs

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.stop_training = early_stopping_fired  # early stopping's callback runs before this one
    callback = StopAfterEpochs(epochs)
    callback.set_params({"epochs": of_epochs})
    callback.set_model(model)
    return callback


def test_stop_after_on_the_last_epoch_lets_the_run_finish():
    from training.train import SessionLimitReached

    last = stop_after(2, of_epochs=2)
    last.on_epoch_end(0)
    last.on_epoch_end(1)  # the run's last epoch: the bundle gets written in this session
    with pytest.raises(SessionLimitReached):
        stop_after(1, of_epochs=2).on_epoch_end(0)


def test_stop_after_on_the_epoch_early_stopping_ends_lets_the_run_finish():
    """Otherwise the next session would train one more epoch only for early stopping to fire."""
    stop_after(1, of_epochs=5, early_stopping_fired=True).on_epoch_end(0)


def test_the_bundle_records_the_arguments_parsed(tmp_path):
    """In a notebook sys.argv is the kernel's: the record must hold what the run was given."""
    from training.train import parse_args, training_record

    argv = ["--data", str(tmp_path), "--epochs", "3"]
    record = training_record(parse_args(argv), ["face"], 1.0)
    assert record["command"] == "python -m training.train " + " ".join(argv)


# Runs training/train.py as a notebook kernel would: its `# %%` cells one after another in one
# namespace, with the Setup cell's NOTEBOOK_ARGS edited as the docs say, and a kernel's argv.
NOTEBOOK_RUNNER = """
import json, re, sys, types
from pathlib import Path
sys.modules["ipykernel"] = types.ModuleType("ipykernel")
sys.argv = ["ipykernel_launcher.py", "-f", "kernel-1234.json"]
cells = re.split(r"^# %%.*$", Path("training/train.py").read_text(), flags=re.M)
setup = "NOTEBOOK_ARGS = " + sys.stdin.read()
edited = [re.subn(r"^NOTEBOOK_ARGS = \\[.*?^\\]$", lambda _: setup, cell, flags=re.M | re.S)
          for cell in cells]
assert sum(count for _, count in edited) == 1, "NOTEBOOK_ARGS not found in one cell"
namespace = {"__name__": "__main__"}
for cell, _ in edited:
    exec(compile(cell, "training/train.py (a cell)", "exec"), namespace)
print("cells run:", len(cells))
"""


def test_the_script_runs_cell_by_cell_as_a_notebook(tmp_path):
    write_faces(tmp_path / "data" / "train", per_class=4)
    out = tmp_path / "notebook.keras"
    notebook_args = ["--data", str(tmp_path / "data"), *SMALL, "--epochs", "1", "--out", str(out),
                     "--run-dir", str(tmp_path / "run")]
    result = subprocess.run([sys.executable, "-c", NOTEBOOK_RUNNER], cwd=ROOT, input=json.dumps(notebook_args),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "cells run: 12" in result.stdout  # the 11 cells and the text before the first
    assert re.search(r"^\[train \d\d:\d\d:\d\d\] wrote ", result.stdout, flags=re.M), result.stdout
    metadata = read_metadata(out)
    assert metadata["training"]["command"] == "python -m training.train " + " ".join(notebook_args)
    assert metadata["training"]["epochs"] == {"head": 1, "fine_tune": 1}


def test_resumed_run_records_the_wall_time_of_both_sessions(trained):
    metadata = json.loads(trained["out"].with_suffix(".json").read_text())
    assert trained["first_wall_time"] > 0
    assert metadata["training"]["wall_time_s"] > trained["first_wall_time"]


@pytest.mark.parametrize("loss, val_loss, collapsed", [
    (1.3857, 1.3851, True),   # a run that collapsed: both at ln 4, the class priors
    (0.9889, 0.8929, False),  # a healthy fine-tuning epoch
    (1.9175, 1.3482, False),  # the head phase's first epoch: validation near chance, train not
    (1.3857, None, False),    # no validation figures: nothing to judge
])
def test_fine_tuning_stops_when_the_network_collapses(loss, val_loss, collapsed):
    from training.train import StopOnCollapse, TrainingCollapsed

    guard = StopOnCollapse(num_classes=4)
    logs = {"loss": loss, "accuracy": 0.34} | ({"val_loss": val_loss} if val_loss else {})
    if collapsed:
        with pytest.raises(TrainingCollapsed) as stopped:
            guard.on_epoch_end(0, logs)
        assert stopped.value.args == (1, loss, val_loss)
    else:
        guard.on_epoch_end(0, logs)


def test_only_runs_from_pretrained_weights_are_watched_for_collapse(tmp_path):
    """From random weights (--weights none) a run starts at chance; that is no collapse."""
    from training.train import RunClock, StopOnCollapse, callbacks_for

    def guarded(pretrained):
        callbacks = callbacks_for("finetune", tmp_path, RunClock(tmp_path), pretrained=pretrained)
        return any(isinstance(callback, StopOnCollapse) for callback in callbacks)

    assert guarded(True) and not guarded(False)


@pytest.mark.parametrize("patience, stops_early", [("4", True), ("0", False)])
def test_patience_zero_trains_every_epoch_and_keeps_the_last(tmp_path, patience, stops_early):
    """--patience 0 is how a fixed-length run (e.g. on nearly all of train) is asked for."""
    import keras

    from training.train import RunClock, callbacks_for, parse_args

    args = parse_args(["--data", str(tmp_path), "--patience", patience])
    callbacks = callbacks_for("finetune", tmp_path, RunClock(tmp_path), args.patience)
    stoppers = [cb for cb in callbacks if isinstance(cb, keras.callbacks.EarlyStopping)]
    assert len(stoppers) == stops_early
    assert all(cb.patience == 4 and cb.restore_best_weights for cb in stoppers)


@pytest.mark.parametrize("option, value, message", [
    ("--img-size", "4", "--img-size must be between 8 and 1024"),
    ("--img-size", "2000", "--img-size must be between 8 and 1024"),
    ("--net-size", "16", "--net-size must be at least 32"),
    ("--patience", "-1", "--patience must be ≥ 0"),
    ("--batch-size", "0", "--batch-size must be ≥ 1"),
    ("--stop-after", "0", "--stop-after must be ≥ 1"),
    ("--dropout", "1", "--dropout must be ≥ 0 and < 1"),
    ("--dropout", "-0.1", "--dropout must be ≥ 0 and < 1"),
    ("--label-smoothing", "1", "--label-smoothing must be ≥ 0 and < 1"),
    ("--lr", "0", "--lr and --head-lr must be > 0"),
    ("--head-lr", "-0.001", "--lr and --head-lr must be > 0"),
    ("--lr", "nan", "--lr and --head-lr must be > 0"),
    ("--epochs", "0", "--epochs must be ≥ 1"),
    ("--erase", "1.5", "--erase must be between 0 and 1"),
    ("--mixup", "-1", "--mixup must be between 0 and 1"),
    ("--val-fraction", "0.5", "--val-fraction must be between 0 and 0.5"),
])
def test_options_out_of_range_are_refused_before_any_work(tmp_path, capsys, option, value,
                                                          message):
    """Otherwise a whole run trains and then fails in write_bundle, Keras fails with a traceback,
    or (--patience -1) early stopping ends the run after one epoch."""
    from training.train import parse_args

    with pytest.raises(SystemExit) as failure:
        parse_args(["--data", str(tmp_path), option, value])
    assert failure.value.code == 2
    assert message in capsys.readouterr().err


def test_init_from_a_bundle_too_small_for_vgg16_is_refused(tmp_path, capsys):
    """A 16-px bundle that records no VGG16 size: continuing at its sizes would give VGG16 a
    16-px input, which Keras refuses with a traceback."""
    from tests.bundles import make_tiny_bundle
    from training.train import parse_args

    bundle = make_tiny_bundle(tmp_path / "small.keras", input_size=(16, 16))
    with pytest.raises(SystemExit) as failure:
        parse_args(["--data", str(tmp_path), "--init-from", str(bundle)])
    assert failure.value.code == 2
    err = capsys.readouterr().err
    assert "--net-size must be at least 32" in err and "got 16 (the --init-from bundle's" in err
    args = parse_args(["--data", str(tmp_path), "--init-from", str(bundle), "--net-size", "32"])
    assert (args.img_size, args.net_size) == (16, 32)


def test_a_split_that_holds_out_no_image_stops_before_training(tmp_path):
    """24 images × 0.02 rounds down to none held out: Keras would then say it found no training
    images. The error says so, and what --val-fraction would hold one out."""
    write_faces(tmp_path / "train")
    result = run("training.train", "--data", str(tmp_path), *SMALL, "--val-fraction", "0.02",
                 "--out", str(tmp_path / "m.keras"), "--run-dir", str(tmp_path / "run"))
    assert result.returncode != 0
    assert ("error: 24 images: --val-fraction 0.02 holds out none of them for validation; "
            "--val-fraction 0.042 would hold out one") in result.stderr
    assert "Traceback" not in result.stderr and "phase" not in result.stdout


@pytest.mark.parametrize("count", [1, 2])
def test_too_few_images_to_split_asks_for_more_not_an_impossible_fraction(count):
    """With 1 or 2 images no allowed --val-fraction (below 0.5) holds one out."""
    from training.train import check_split

    files = {"happy": [f"{i}.png" for i in range(count)]}
    with pytest.raises(DataError, match=r"add images: at least 3 are needed") as refused:
        check_split(files, 0.15)
    assert "--val-fraction 0." not in str(refused.value).split(";")[1]
    check_split({"happy": ["a.png", "b.png", "c.png"]}, 0.34)  # one held out: accepted


def test_a_run_that_stopped_before_its_first_epoch_can_start_again(tmp_path):
    """A run refused on its data or options after recording them left only options.json: a
    fresh run in the same folder, with other options, starts instead of being refused as an
    earlier run (whose --resume would be refused for the options that changed)."""
    from training.train import parse_args, prepare_run_dir

    def fresh_run(*options):
        prepare_run_dir(parse_args(["--data", str(tmp_path), "--run-dir", str(tmp_path / "run"),
                                    *options]))

    fresh_run("--val-fraction", "0.01")  # then stopped on its data
    fresh_run("--val-fraction", "0.2")
    assert json.loads((tmp_path / "run" / "options.json").read_text())["val_fraction"] == 0.2
    (tmp_path / "run" / "history.csv").write_text("epoch\n0\n")  # an epoch done: a real run
    with pytest.raises(SystemExit, match="holds an earlier run"):
        fresh_run("--val-fraction", "0.2")


def test_run_clock_adds_the_time_of_earlier_sessions(tmp_path):
    from training.train import RunClock

    (tmp_path / "wall_time_s.txt").write_text("100\n")
    clock = RunClock(tmp_path)
    assert 100 <= clock.seconds() < 110
    clock.save()
    assert 100 <= RunClock(tmp_path).seconds() < 110
    assert sorted(path.name for path in tmp_path.iterdir()) == ["wall_time_s.txt"]
    (tmp_path / "wall_time_s.txt").write_text("")  # unreadable: counted from now, no crash
    assert RunClock(tmp_path).seconds() < 10


def test_bundle_follows_the_contract(trained):
    out = trained["out"]
    metadata = json.loads(out.with_suffix(".json").read_text())
    assert metadata["labels"] == list(LABELS)
    assert metadata["input_size"] == [32, 32] and metadata["channels"] == 1
    assert metadata["trained_on"].endswith("train")
    assert set(metadata["versions"]) == {"tensorflow", "keras"}
    assert 0 <= metadata["metrics"]["validation"]["accuracy"] <= 1
    assert out.with_name("small.training.png").stat().st_size > 1000
    assert not list(out.parent.glob(".small.*")), "temporary files left behind"


def test_evaluate_json_and_report(trained, tmp_path):
    result = run("training.evaluate", "--data", str(trained["data"] / "train"),
                 "--model", str(trained["out"]), "--json", "--report", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert report["n"] == 24 and report["labels"] == list(LABELS)
    assert set(report["per_class"]["sad"]) == {"precision", "recall", "f1", "support"}
    assert np.array(report["confusion"]).sum() == 24
    assert 0 <= report["accuracy"] <= 1 and 0 <= report["macro_f1"] <= 1
    assert (tmp_path / "confusion_matrix.png").stat().st_size > 1000


def test_the_app_serves_the_trained_bundle(trained, make_app):
    app = make_app(MODEL_PATH=str(trained["out"]))
    assert app.test_client().get("/healthz").get_json() == {"status": "ready", "model": "small"}


def test_a_finished_run_is_not_overwritten(trained):
    result = run("training.train", "--data", str(trained["data"]), *SMALL,
                 "--out", str(trained["out"]), "--run-dir", str(trained["run"]))
    assert result.returncode != 0
    assert "--resume" in result.stderr


def test_training_can_start_from_a_trained_bundle(trained, tmp_path):
    """--init-from starts from the bundle's weights: at a vanishing learning rate they
    come out as they went in, to within 1e-9 (training moved them by ~1e-4 from their
    initialisation, so a fresh start would not)."""
    import keras

    from training.train import networks_in

    out = tmp_path / "continued.keras"
    result = run("training.train", "--data", str(trained["data"]), *SMALL, "--epochs", "1",
                 "--lr", "1e-12", "--init-from", str(trained["out"]), "--views", "1",
                 "--out", str(out), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "phase 1" not in result.stdout  # the bundle's head is already trained
    assert json.loads(out.with_suffix(".json").read_text())["training"]["init_from"] == str(
        trained["out"])
    [source] = networks_in(keras.saving.load_model(trained["out"], compile=False))
    continued = keras.saving.load_model(out, compile=False)
    for before, after in zip(source.get_weights(), continued.get_weights()):
        np.testing.assert_allclose(np.float32(after), np.float32(before), rtol=1e-6, atol=1e-9)


def test_init_from_continues_at_the_bundles_sizes(trained):
    from training.train import parse_args

    continued = parse_args(["--data", "d", "--init-from", str(trained["out"])])
    assert (continued.img_size, continued.net_size, continued.head_epochs) == (32, 32, 0)
    fresh = parse_args(["--data", "d"])
    assert (fresh.img_size, fresh.net_size) == (48, 64)


def test_init_from_an_ensemble_of_two_sizes_takes_its_first_networks():
    from training.train import bundle_sizes

    mixed = {"input_size": [48, 48],
             "training": {"net_size": None, "members": [{"net_size": 112}, {"net_size": 96}]}}
    assert bundle_sizes(mixed) == (48, 112)


def test_a_run_with_sam_resumes_and_ships_a_plain_model(tmp_path):
    """--sam's model class is for training only: the bundle, views and all, loads in the app,
    which never imports training/; and a run with --sam resumes like any other."""
    import keras

    from training.sam import SharpnessAwareModel

    write_faces(tmp_path / "data" / "train")
    out = tmp_path / "sam.keras"
    args = ["--data", str(tmp_path / "data"), *SMALL, "--epochs", "2", "--sam", "0.05",
            "--views", "2", "--out", str(out), "--run-dir", str(tmp_path / "run")]
    first = run("training.train", *args, "--stop-after", "1")
    assert first.returncode == 0 and not out.exists(), first.stderr[-2000:]
    resumed = run("training.train", *args, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    with open(tmp_path / "run" / "history.csv", newline="") as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs == [0, 0, 1]  # head, fine-tuning epoch 0, then epoch 1 after resuming

    serve = subprocess.run(
        [sys.executable, "-c", "import sys; from app.emotion_model import EmotionModel; "
         "EmotionModel.load(sys.argv[1]); assert 'training' not in sys.modules", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert serve.returncode == 0, serve.stderr[-2000:]
    assert json.loads(out.with_suffix(".json").read_text())["training"]["sam"] == 0.05
    checkpoint = keras.saving.load_model(tmp_path / "run" / "checkpoint_finetune.keras")
    assert isinstance(checkpoint, SharpnessAwareModel) and checkpoint.rho == 0.05


def test_training_from_a_local_copy_of_the_imagenet_weights(tmp_path):
    """--weights PATH, the offline path: VGG16's frozen blocks keep exactly those weights."""
    import keras

    weights = shared(SHARED / "weights" / "vgg16_imagenet_notop.weights.h5")
    write_faces(tmp_path / "data" / "train")
    out = tmp_path / "imagenet.keras"
    result = run("training.train", "--data", str(tmp_path / "data"), "--weights", str(weights),
                 *SMALL[2:], "--epochs", "1", "--out", str(out), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-2000:]
    imagenet = keras.applications.VGG16(include_top=False, weights=str(weights),
                                        input_shape=(32, 32, 3))
    trained = keras.saving.load_model(out, compile=False)
    kernel = nested_layer(trained, "block1_conv1").get_weights()[0].astype(np.float32)
    # Stored in bfloat16 when trained in mixed precision: equal to ~3 significant digits.
    np.testing.assert_allclose(kernel, imagenet.get_layer("block1_conv1").get_weights()[0],
                               rtol=1e-2, atol=1e-3)


def test_init_from_refuses_a_broken_bundle(trained, tmp_path):
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a model")
    result = run("training.train", "--data", str(trained["data"]), *SMALL,
                 "--init-from", str(broken), "--out", str(tmp_path / "m.keras"),
                 "--run-dir", str(tmp_path / "run"))
    assert result.returncode != 0
    assert "error: --init-from" in result.stderr and "Traceback" not in result.stderr


def nested_layer(model, name):
    for layer in model.layers:
        if layer.name == name:
            return layer
        if hasattr(layer, "layers") and (found := nested_layer(layer, name)) is not None:
            return found
    return None


@pytest.fixture(scope="module")
def ensembled(trained, tmp_path_factory):
    """The trained bundle averaged with itself, with class biases: the command's result, written
    with --force since a model averaged with itself need not beat itself."""
    out = tmp_path_factory.mktemp("ensemble") / "ensemble.keras"
    result = run("training.ensemble", "--models", str(trained["out"]), str(trained["out"]),
                 "--data", str(trained["data"]), "--val-fraction", "0.25", "--class-bias", "on",
                 "--force", "--out", str(out))
    return out, result


def test_ensemble_of_trained_bundles(trained, ensembled, make_app):
    import keras

    from training.train import networks_in

    out, result = ensembled
    assert result.returncode == 0, result.stderr[-2000:]
    metadata = json.loads(out.with_suffix(".json").read_text())
    training = metadata["training"]
    assert len(training["members"]) == 2
    # The command says when the ensemble (here a model averaged with itself) adds nothing.
    beats_member = metadata["metrics"]["validation"]["accuracy"] > max(
        member["validation_accuracy"] for member in training["members"])
    assert ("does not beat the best bundle" in result.stdout) is not beats_member
    bias = np.array([training["class_bias"][label] for label in LABELS])
    [source] = networks_in(keras.saving.load_model(trained["out"], compile=False))
    ensemble = keras.saving.load_model(out, compile=False)
    np.testing.assert_allclose(nested_layer(ensemble, "member_0").get_layer("emotion").bias.numpy(),
                               source.get_layer("emotion").bias.numpy() + bias, atol=1e-5)
    app = make_app(MODEL_PATH=str(out))
    assert app.test_client().get("/healthz").get_json()["status"] == "ready"


def test_training_can_start_from_an_ensembles_first_network(trained, ensembled, tmp_path):
    import keras

    out = tmp_path / "continued.keras"
    result = run("training.train", "--data", str(trained["data"]), *SMALL, "--epochs", "1",
                 "--lr", "1e-12", "--init-from", str(ensembled[0]), "--views", "1",
                 "--out", str(out), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "the first of its 2 averaged networks" in result.stdout
    first = nested_layer(keras.saving.load_model(ensembled[0], compile=False), "member_0")
    continued = keras.saving.load_model(out, compile=False)
    for before, after in zip(first.get_weights(), continued.get_weights()):
        np.testing.assert_allclose(np.float32(after), np.float32(before), rtol=1e-6, atol=1e-9)


def test_ensemble_of_one_bundle_redecides_its_views(trained, tmp_path, make_app):
    from training.train import bundle_sizes

    out = tmp_path / "four_views.keras"
    result = run("training.ensemble", "--models", str(trained["out"]), "--views", "4",
                 "--data", str(trained["data"]), "--val-fraction", "0.25", "--class-bias", "off",
                 "--force", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    metadata = read_metadata(out)
    assert metadata["training"]["test_views"] == ["face", "mirror", "zoom", "zoom_mirror"]
    assert metadata["training"]["net_size"] == 32  # recorded, not guessed from the crop size
    assert bundle_sizes(metadata) == (32, 32)  # still a starting point for --init-from
    app = make_app(MODEL_PATH=str(out))
    assert app.test_client().get("/healthz").get_json()["status"] == "ready"


def small_datasets(folder, *options):
    """training.train's (train, validation) datasets of `folder` for these command-line options,
    on 32-px crops with a quarter held out; every other option at its default."""
    from training.train import make_datasets, parse_args

    args = parse_args(["--data", str(folder), "--img-size", "32", "--val-fraction", "0.25",
                       *options])
    return make_datasets(folder, args, args.seed)


def test_runs_with_other_seeds_share_the_validation_split(tmp_path):
    """--seed changes the start, --split-seed alone the split: runs can be compared and averaged."""
    write_faces(tmp_path / "train", per_class=8)

    def validation_images(seed, split_seed):
        _, val_ds = small_datasets(tmp_path / "train", "--seed", str(seed),
                                   "--split-seed", str(split_seed), "--batch-size", "8")
        return sorted(image.tobytes() for images, _ in val_ds for image in images.numpy())

    assert validation_images(1, 1337) == validation_images(2, 1337)
    assert validation_images(1, 1337) != validation_images(1, 7)


@pytest.fixture
def precision_policy():
    """Sets Keras's global precision policy for one test, restoring the old one after."""
    import keras

    before = keras.mixed_precision.global_policy()
    yield keras.mixed_precision.set_global_policy
    keras.mixed_precision.set_global_policy(before)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_mixup_blends_training_labels_only_when_asked(tmp_path, precision_policy, alpha,
                                                       precision):
    precision_policy(precision)
    write_faces(tmp_path / "train", per_class=8)
    train_ds, val_ds = small_datasets(tmp_path / "train", "--seed", "3", "--mixup", str(alpha),
                                      "--batch-size", "24")
    train_labels = np.concatenate([labels.numpy() for _, labels in train_ds])
    val_labels = np.concatenate([labels.numpy() for _, labels in val_ds])

    np.testing.assert_allclose(train_labels.sum(axis=1), 1.0, atol=1e-5)
    blended = (train_labels.max(axis=1) < 0.999).sum()
    assert blended > 0 if alpha else blended == 0
    assert set(np.unique(val_labels)) == {0.0, 1.0}


def test_training_refuses_a_broken_folder(tmp_path):
    write_faces(tmp_path / "train")
    (tmp_path / "train" / "sad" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    result = run("training.train", "--data", str(tmp_path), *SMALL,
                 "--out", str(tmp_path / "m.keras"), "--run-dir", str(tmp_path / "run"))
    assert result.returncode != 0
    assert "unreadable image" in result.stderr and "broken.jpg" in result.stderr


def test_loader_reads_grey_colour_png_and_odd_sizes(tmp_path):
    write_faces(tmp_path, per_class=3, size=(37, 53))
    files = scan_folder(tmp_path)
    assert {label: len(paths) for label, paths in files.items()} == dict.fromkeys(LABELS, 3)


def test_loader_ignores_non_images(tmp_path):
    write_faces(tmp_path, per_class=2)
    (tmp_path / "happy" / "notes.txt").write_text("not an image")
    assert len(scan_folder(tmp_path)["happy"]) == 2


@pytest.mark.parametrize("damage, message", [
    (lambda root: [p.unlink() for p in (root / "angry").iterdir()], "no images in angry"),
    (lambda root: [p.unlink() for p in (root / "sad").iterdir()] and (root / "sad").rmdir(),
     "missing ['sad']"),
    (lambda root: (root / "surprised").mkdir(), "unexpected ['surprised']"),
    (lambda root: (root / "happy" / "0.jpg").write_bytes(b"garbage"), "happy/0.jpg"),
])
def test_loader_reports_what_is_wrong(tmp_path, damage, message):
    write_faces(tmp_path, per_class=2)
    damage(tmp_path)
    with pytest.raises(DataError) as failure:
        scan_folder(tmp_path)
    assert message in str(failure.value)


def test_loader_reports_a_missing_folder(tmp_path):
    with pytest.raises(DataError, match="not found"):
        scan_folder(tmp_path / "nowhere")


@pytest.mark.parametrize("cli, options", [("training.train", SMALL),
                                          ("training.ensemble", ["--models", "m.keras"])])
def test_an_unwritable_out_is_refused_before_any_work(tmp_path, cli, options):
    """Found only when the bundle was written, it cost the whole run, and gave a traceback."""
    (tmp_path / "a_file").write_text("not a folder")
    out = tmp_path / "a_file" / "mine.keras"
    result = run(cli, "--data", str(tmp_path), *options, "--out", str(out))
    assert result.returncode == 2
    assert f"--out: cannot write in {out.parent}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_says_how_to_go_on(tmp_path, signum):
    """Ctrl-C (SIGINT) or `kill` (SIGTERM) mid-run: one line naming --resume, no traceback."""
    write_faces(tmp_path / "data" / "train", per_class=4)
    command = [sys.executable, "-m", "training.train", "--data", str(tmp_path / "data"), *SMALL,
               "--epochs", "200", "--patience", "0", "--out", str(tmp_path / "m.keras"),
               "--run-dir", str(tmp_path / "run")]
    # As from a terminal: a shell's background job (CI's, say) starts with SIGINT ignored,
    # which Python and so the run would inherit.
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for line in process.stdout:  # until two fine-tuning epochs have been checkpointed
            if line.startswith("Epoch 3/"):
                break
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode != 0
    assert "interrupted: run the same command with --resume to continue" in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "m.keras").exists()


def test_a_weights_file_that_is_not_vgg16s_is_a_clear_error(tmp_path):
    write_faces(tmp_path / "data" / "train", per_class=4)
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"not an HDF5 file")
    options = [option for option in SMALL if option not in ("--weights", "none")]
    result = run("training.train", "--data", str(tmp_path / "data"), *options, "--weights", str(junk),
                 "--out", str(tmp_path / "m.keras"), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 1
    assert f"error: --weights {junk}: cannot load it as VGG16's ImageNet weights" in result.stderr
    assert "Traceback" not in result.stderr


def test_resume_refuses_other_training_images_and_allows_a_moved_folder(tmp_path):
    from training.resume import data_record, record_or_check_data

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_faces(tmp_path / "data" / "train", per_class=4)
    files = scan_folder(tmp_path / "data" / "train", decode=False)
    record_or_check_data(run_dir, data_record(files, tmp_path / "data" / "train"), resume=False)

    shutil.copytree(tmp_path / "data", tmp_path / "moved")  # e.g. a Colab remount: same images
    moved = scan_folder(tmp_path / "moved" / "train", decode=False)
    record_or_check_data(run_dir, data_record(moved, tmp_path / "moved" / "train"), resume=True)

    shutil.copy(moved["sad"][0], tmp_path / "moved" / "train" / "sad" / "extra.jpg")
    grown = scan_folder(tmp_path / "moved" / "train", decode=False)
    with pytest.raises(SystemExit, match=r"training images differ from the interrupted run's "
                                         r"\(16 then, 17 now, or other files\)"):
        record_or_check_data(run_dir, data_record(grown, tmp_path / "moved" / "train"), resume=True)
    # A run folder from before the record resumes unchecked, and is recorded from then on.
    (run_dir / "data.json").unlink()
    record_or_check_data(run_dir, data_record(grown, tmp_path / "moved" / "train"), resume=True)
    assert json.loads((run_dir / "data.json").read_text())["images"] == 17
