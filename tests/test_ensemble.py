"""training.ensemble keeps its result only if it beats the bundles given, and checks --data first."""

import json

import numpy as np
import pytest

from app.bundle import metadata_path, read_metadata
from app.emotions import LABELS
from tests.bundles import make_tiny_bundle
from tests.images import encode


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A training folder of random 40-px grey faces, 8 a class."""
    root = tmp_path_factory.mktemp("ensemble_data")
    rng = np.random.default_rng(0)
    for index, label in enumerate(LABELS):
        (root / "train" / label).mkdir(parents=True)
        for i in range(8):
            pixels = rng.integers(0, 60, (40, 40), dtype=np.uint8) + np.uint8(index * 50)
            (root / "train" / label / f"{i}.png").write_bytes(encode(pixels, "PNG"))
    return root


@pytest.fixture(scope="module")
def member(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("member") / "member.keras", input_size=(32, 32))


def with_recorded_accuracy(bundle, accuracy):
    """`bundle`'s metadata claiming this validation accuracy (the sha256 covers the .keras only)."""
    metadata = read_metadata(bundle)
    metadata["metrics"] = {"validation": {"accuracy": accuracy}}
    metadata_path(bundle).write_text(json.dumps(metadata))
    return bundle


def run_ensemble(member, data, out, *options):
    from training.ensemble import main

    main(["--models", str(member), str(member), "--data", str(data), "--val-fraction", "0.5",
          "--views", "1", "--class-bias", "off", "--out", str(out), *options])


def validation_accuracy(member, data, tmp_path):
    """The two-member average's accuracy on the split (written with --force to read it)."""
    out = tmp_path / "probe.keras"
    run_ensemble(with_recorded_accuracy(member, 1.0), data, out, "--force")
    return read_metadata(out)["metrics"]["validation"]["accuracy"]


def test_an_ensemble_that_does_not_beat_its_best_member_is_not_written(member, data, tmp_path):
    out = tmp_path / "ensemble.keras"
    with pytest.raises(SystemExit) as failure:
        run_ensemble(with_recorded_accuracy(member, 1.0), data, out)
    message = str(failure.value.code)
    assert message.startswith("error: the result (") and "does not beat the best bundle" in message
    assert "nothing written" in message and "--force" in message
    assert list(tmp_path.iterdir()) == []


def test_force_writes_an_ensemble_that_does_not_beat_its_members(member, data, tmp_path, capsys):
    out = tmp_path / "ensemble.keras"
    run_ensemble(with_recorded_accuracy(member, 1.0), data, out, "--force")
    assert "does not beat the best bundle" in capsys.readouterr().out
    assert len(read_metadata(out)["training"]["members"]) == 2


def test_an_ensemble_that_beats_its_members_is_written(member, data, tmp_path):
    reached = validation_accuracy(member, data, tmp_path)
    assert reached > 0  # the members' claimed accuracy below is beaten
    out = tmp_path / "ensemble.keras"
    run_ensemble(with_recorded_accuracy(member, reached - 0.01), data, out)
    assert read_metadata(out)["metrics"]["validation"]["accuracy"] == reached


def test_a_missing_data_folder_is_a_clear_error(member, tmp_path):
    with pytest.raises(SystemExit, match=r"^error: data folder not found: .*nowhere$"):
        run_ensemble(member, tmp_path / "nowhere", tmp_path / "ensemble.keras")


def test_a_broken_image_in_data_is_named(member, tmp_path):
    for label in LABELS:
        (tmp_path / "train" / label).mkdir(parents=True)
        (tmp_path / "train" / label / "ok.png").write_bytes(encode(np.zeros((8, 8), np.uint8), "PNG"))
    (tmp_path / "train" / "sad" / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(SystemExit, match=r"^error: 1 unreadable image\(s\):\n  .*sad/cut\.png"):
        run_ensemble(member, tmp_path, tmp_path / "ensemble.keras")
