"""training.train end to end on a few tiny images: soft targets from votes, a valid/ split or a
seeded one, an interrupted run resumed, the bundle the app serves, and clear refusals."""

import csv
import json
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from app.bundle import read_metadata
from app.emotions import LABELS
from tests import cli
from tests.cli import ROOT, run
from tests.images import SHARED, shared

# Random VGG16 weights at VGG16's smallest input: seconds per run, not minutes.
SMALL = ["--weights", "none", "--net-size", "32", "--batch-size", "8"]
VOTE_HEADER = ["path", "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
               "contempt", "unknown", "NF"]


def write_faces(folder, per_class=6, size=(40, 40), seed=0):
    """Fake faces: each class its own brightness, in a mix of formats, modes and sizes."""
    rng = np.random.default_rng(seed)
    for index, label in enumerate(LABELS):
        (folder / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, size, dtype=np.uint8) + np.uint8(index * 50)
            image = Image.fromarray(pixels)
            if i % 3 == 1:
                image.convert("RGB").resize((size[0] + 17, size[1] + 5)).save(
                    folder / label / f"{i}.png")
            else:
                image.save(folder / label / f"{i}.jpg")
    return folder


def write_ferplus_like(data):
    """train/ and valid/ folders with a votes.csv: 7 of 10 votes for the folder's label, 3
    for surprise (not one of the app's labels)."""
    write_faces(data / "train")
    write_faces(data / "valid", per_class=2, seed=1)
    column = {"angry": "anger", "happy": "happiness", "neutral": "neutral", "sad": "sadness"}
    with open(data / "votes.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, VOTE_HEADER, restval=0)
        writer.writeheader()
        for path in sorted(data.glob("*/*/*.*")):
            writer.writerow({"path": path.relative_to(data).as_posix(),
                             column[path.parent.name]: 7, "surprise": 3})
    return data


def refused(*args):
    return cli.refused("training.train", *args)


def history_epochs(run_dir):
    with open(run_dir / "history.csv", newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def interrupt_after_first_epoch(args, run_dir):
    """Start a run and stop it with SIGTERM (as `kill` would) once an epoch is logged."""
    process = subprocess.Popen([sys.executable, "-m", "training.train", *args], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if (run_dir / "history.csv").exists() and history_epochs(run_dir):
            process.send_signal(signal.SIGTERM)
            break
        time.sleep(0.05)
    stdout, stderr = process.communicate(timeout=300)
    return process.returncode, stdout, stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run on FER+-like data, interrupted after its first epoch and resumed to the end."""
    base = tmp_path_factory.mktemp("training")
    data = write_ferplus_like(base / "data")
    out = base / "models" / "small.keras"
    run_dir = base / "run"
    args = ["--data", str(data), *SMALL, "--epochs", "3", "--patience", "0", "--out", str(out),
            "--run-dir", str(run_dir)]
    first = interrupt_after_first_epoch(args, run_dir)
    resumed = run("training.train", *args, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return {"data": data, "out": out, "run": run_dir, "args": args, "first": first,
            "resumed": resumed}


def test_an_interrupted_run_says_how_to_go_on_and_resumes_after_its_last_epoch(trained):
    returncode, stdout, stderr = trained["first"]
    assert returncode != 0 and "Traceback" not in stderr
    assert "interrupted: run the same command with --resume" in stderr
    assert "phase 1" not in trained["resumed"].stdout  # the head's epoch is not trained again
    epochs = history_epochs(trained["run"])
    # Each epoch once, in order; one killed before its backup may be logged twice.
    assert sorted(set(epochs)) == [0, 1, 2] and len(epochs) <= 4 and epochs[0] == 0


def test_a_log_file_shows_progress_within_each_epoch(trained):
    """Written to a file (not a terminal), Keras logs a line an epoch; the run adds its own."""
    lines = [line for line in trained["resumed"].stdout.splitlines() if ": step " in line]
    assert lines, trained["resumed"].stdout[-2000:]
    assert re.search(r"epoch [123]/3: step 1/\d+, loss \d\.\d{4}, accuracy \d\.\d{4}, "
                     r"~\d+ min to the epoch's end$", lines[0])


def test_votes_are_the_targets_and_valid_is_the_validation_split(trained):
    stdout = trained["resumed"].stdout
    assert "24 faces for training" in stdout and "8 for validation" in stdout
    assert f"validating on {trained['data'] / 'valid'}" in stdout
    assert "targets: annotator votes (votes.csv)" in stdout
    assert read_metadata(trained["out"])["metrics"]["validation"]["n"] == 8


def test_votes_become_distributions_over_the_apps_labels(tmp_path):
    from training.dataset import read_votes, scan_folder, targets_for

    data = write_ferplus_like(tmp_path)
    paths, targets = targets_for(scan_folder(data / "train"), data, read_votes(data / "votes.csv"))
    assert len(paths) == 24
    # 7 votes of 10 for the label and 3 for surprise: all of the four labels' share.
    np.testing.assert_allclose(targets, np.repeat(np.eye(4), 6, axis=0))
    (tmp_path / "votes.csv").write_text("path,neutral,happiness,surprise,sadness,anger\n"
                                        "train/sad/0.jpg,4,0,2,1,3\n")
    votes = read_votes(tmp_path / "votes.csv")
    np.testing.assert_allclose(votes["train/sad/0.jpg"], [3 / 8, 0, 4 / 8, 1 / 8])


def test_without_valid_or_votes_a_seeded_share_is_held_out_and_folders_label(tmp_path):
    write_faces(tmp_path / "data" / "train")
    result = run("training.train", "--data", str(tmp_path / "data"), *SMALL, "--epochs", "1",
                 "--val-fraction", "0.25", "--out", str(tmp_path / "m.keras"),
                 "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "18 faces for training" in result.stdout
    assert "6 for validation: 6 held out for validation (--seed 1337)" in result.stdout
    assert "targets: folder labels" in result.stdout


def test_the_bundle_follows_the_contract_and_is_calibrated(trained):
    import keras

    out = trained["out"]
    metadata = read_metadata(out)
    assert metadata["labels"] == list(LABELS)
    assert metadata["input_size"] == [48, 48] and metadata["channels"] == 1
    assert metadata["training"]["command"] == "python -m training.train " + " ".join(
        trained["args"]) + " --resume"
    assert 0 <= metadata["metrics"]["validation"]["ece"] <= 1
    model = keras.saving.load_model(out, compile=False)  # with the mirror: the network nested
    assert metadata["training"]["mirror"] is (model.name == "moodtunes_vgg16_mirrored")
    for picture in ("small.training.png", "small.reliability.png"):
        assert out.with_name(picture).stat().st_size > 1000
    assert not list(out.parent.glob(".small.*")), "temporary files left behind"


def test_the_app_serves_the_trained_bundle(trained, make_app):
    app = make_app(MODEL_PATH=str(trained["out"]))
    assert app.test_client().get("/healthz").get_json() == {"status": "ready", "model": "small"}


def test_evaluate_reports_calibration_and_writes_its_plots(trained, tmp_path):
    result = run("training.evaluate", "--data", str(trained["data"] / "valid"),
                 "--model", str(trained["out"]), "--json", "--report", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert report["n"] == 8 and report["labels"] == list(LABELS)
    # The bundle as saved (temperature folded in, mirror or not) reads the validation faces as
    # training measured them before saving it.
    validation = read_metadata(trained["out"])["metrics"]["validation"]
    assert report["accuracy"] == validation["accuracy"]
    assert report["ece"] == pytest.approx(validation["ece"], abs=1e-3)
    for picture in ("confusion_matrix.png", "reliability.png"):
        assert (tmp_path / picture).stat().st_size > 1000


def test_a_finished_run_is_not_overwritten(trained):
    result = run("training.train", *trained["args"])
    assert result.returncode != 0 and "--resume" in result.stderr


def test_a_resume_with_other_options_is_refused(trained):
    before = (trained["run"] / "history.csv").read_text()
    result = run("training.train", *trained["args"], "--resume", "--lr", "3e-4")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "--lr 0.0001 (now 0.0003)" in result.stderr
    assert (trained["run"] / "history.csv").read_text() == before


def nested_layer(model, name):
    return next(layer for layer in model._flatten_layers() if layer.name == name)


def test_training_can_start_from_a_trained_bundle(trained, tmp_path):
    """--init-from starts from the bundle's weights: at a vanishing learning rate they come out
    as they went in (a fresh start from random weights would not). The logits layer differs
    only by the refitted temperature."""
    import keras

    out = tmp_path / "continued.keras"
    result = run("training.train", "--data", str(trained["data"]), "--init-from",
                 str(trained["out"]), "--batch-size", "8", "--epochs", "1", "--lr", "1e-12",
                 "--out", str(out), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "phase 1" not in result.stdout and "VGG16 at 32 px" in result.stdout
    before, after = (keras.saving.load_model(path, compile=False) for path in (trained["out"], out))
    for name in ("block5_conv3", "head_dense"):
        for old, new in zip(nested_layer(before, name).get_weights(),
                            nested_layer(after, name).get_weights()):
            np.testing.assert_allclose(np.asarray(old, np.float32), np.asarray(new, np.float32),
                                       atol=1e-9)


def test_training_from_a_local_copy_of_the_imagenet_weights(tmp_path):
    """--weights PATH, the offline path: VGG16's frozen first block keeps exactly those weights."""
    import keras

    weights = shared(SHARED / "weights" / "vgg16_imagenet_notop.weights.h5")
    write_faces(tmp_path / "data" / "train")
    out = tmp_path / "imagenet.keras"
    result = run("training.train", "--data", str(tmp_path / "data"), "--weights", str(weights),
                 *SMALL[2:], "--epochs", "1", "--out", str(out), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-2000:]
    imagenet = keras.applications.VGG16(include_top=False, weights=str(weights),
                                        input_shape=(32, 32, 3))
    model = keras.saving.load_model(out, compile=False)
    kernel = nested_layer(model, "block1_conv1").get_weights()[0].astype(np.float32)
    # Stored in bfloat16 when trained in mixed precision: equal to ~3 significant digits.
    np.testing.assert_allclose(kernel, imagenet.get_layer("block1_conv1").get_weights()[0],
                               rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize("option, value, message", [
    ("--epochs", "0", "--epochs must be ≥ 1"),
    ("--lr", "-1", "--lr must be > 0"),
    ("--patience", "-1", "--patience must be ≥ 0"),
    ("--val-fraction", "0.7", "--val-fraction must be between 0 and 0.5"),
    ("--net-size", "16", "--net-size must be at least 32"),
    ("--out", "model.h5", "--out must end in .keras"),
    ("--weights", "missing.weights.h5", "--weights: no such file missing.weights.h5"),
    ("--init-from", "missing.keras", "--init-from: model bundle incomplete"),
])
def test_options_out_of_range_are_refused_before_any_work(tmp_path, option, value, message):
    result = refused("--data", str(tmp_path), *SMALL, option, value,
                     "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "run").exists()


def test_a_broken_data_folder_is_refused_with_what_is_wrong(tmp_path):
    result = refused("--data", str(with_a_broken_image(tmp_path / "data")), *SMALL,
                     "--out", str(tmp_path / "m.keras"), "--run-dir", str(tmp_path / "run"))
    assert re.search(r"error: 1 unreadable image\(s\):\n  .*sad/3\.jpg \(", result.stderr)
    assert not (tmp_path / "run" / "run.json").exists()  # the same command works once it is fixed


def with_a_broken_image(data):
    write_faces(data / "train")
    (data / "train" / "sad" / "3.jpg").write_bytes(b"\xff\xd8\xff broken")
    return data


def test_a_wrong_valid_folder_is_named_before_any_image_is_decoded(tmp_path):
    data = with_a_broken_image(tmp_path / "data")
    shutil.rmtree(write_faces(data / "valid", per_class=1) / "sad")
    result = refused("--data", str(data), *SMALL, "--out", str(tmp_path / "m.keras"),
                     "--run-dir", str(tmp_path / "run"))
    assert "valid: expected one folder per label" in result.stderr
    assert "unreadable" not in result.stderr


def test_a_resume_of_another_run_is_refused_before_any_image_is_decoded(tmp_path):
    data = with_a_broken_image(tmp_path / "data")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text(json.dumps({"lr": 0.5}))
    result = refused("--data", str(data), *SMALL, "--resume", "--out", str(tmp_path / "m.keras"),
                     "--run-dir", str(tmp_path / "run"))
    assert "error: --resume: this run was started with other --epochs None (now 12)" in result.stderr
    assert "unreadable" not in result.stderr


@pytest.mark.parametrize("data, extra, message", [
    ("missing", [], "error: data folder not found: "),
    ("train/sad", [], "expected one folder per label"),
    ("", ["--resume"], "error: --resume: no run to continue in "),
])
def test_a_wrong_data_folder_or_resume_is_refused_before_tensorflow(tmp_path, data, extra,
                                                                    message):
    write_faces(tmp_path / "train")
    result = refused("--data", str(tmp_path / data), *SMALL, *extra,
                     "--out", str(tmp_path / "m.keras"), "--run-dir", str(tmp_path / "run"))
    assert message in result.stderr


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
    notebook_args = ["--data", str(tmp_path / "data"), *SMALL, "--epochs", "1",
                     "--val-fraction", "0.25", "--out", str(out), "--run-dir", str(tmp_path / "run")]
    result = subprocess.run([sys.executable, "-c", NOTEBOOK_RUNNER], cwd=ROOT,
                            input=json.dumps(notebook_args), capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "cells run: 12" in result.stdout  # the 11 cells and the text before the first
    assert re.search(r"^\[train \d\d:\d\d:\d\d\] wrote ", result.stdout, flags=re.M), result.stdout
    metadata = read_metadata(out)
    assert metadata["training"]["command"] == "python -m training.train " + " ".join(notebook_args)
