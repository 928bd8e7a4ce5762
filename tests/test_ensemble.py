"""training.ensemble keeps its result only if it beats the bundles given, and checks --data first."""

import json

import numpy as np
import pytest

from app.bundle import metadata_path, read_metadata
from app.emotions import LABELS
from tests.bundles import make_brightness_bundle, make_tiny_bundle
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


# The data's classes are bands of brightness (means about 30, 80, 130 and 180).
BAND_EDGES = [55, 105, 155]
SURE, UNSURE = 4.0, 0.5


def half_right(right_bands, tmp_path_factory):
    """A bundle sure and right on two bands, and unsure and wrong (the other band of the
    pair) on the other two: 50% accurate, and its mistakes are outvoted by a partner's sure
    answers."""
    logits = np.zeros((4, 4), np.float32)
    for band in range(4):
        if band in right_bands:
            logits[band, band] = SURE
        else:
            logits[band, band ^ 1] = UNSURE  # 0 <-> 1, 2 <-> 3
    path = tmp_path_factory.mktemp("member") / f"right_on_{right_bands[0]}.keras"
    return make_brightness_bundle(path, logits, BAND_EDGES, input_size=(32, 32))


@pytest.fixture(scope="module")
def complementary(tmp_path_factory):
    """Two bundles right on different halves of the classes: their average is right on all."""
    return half_right((0, 1), tmp_path_factory), half_right((2, 3), tmp_path_factory)


def with_recorded_accuracy(bundle, accuracy):
    """`bundle`'s metadata claiming this validation accuracy (the sha256 covers the .keras only)."""
    metadata = read_metadata(bundle)
    metadata["metrics"] = {"validation": {"accuracy": accuracy}}
    metadata_path(bundle).write_text(json.dumps(metadata))
    return bundle


def run_ensemble(members, data, out, *options):
    from training.ensemble import main

    main(["--models", *map(str, members), "--data", str(data), "--val-fraction", "0.5",
          "--views", "1", "--class-bias", "off", "--out", str(out), *options])


def test_an_ensemble_that_does_not_beat_its_best_member_is_not_written(member, data, tmp_path):
    """A bundle averaged with itself reads every face as the bundle does: no gain. Its recorded
    figure (from some other split) is low, so only measuring it on this split catches that."""
    out = tmp_path / "ensemble.keras"
    with pytest.raises(SystemExit) as failure:
        run_ensemble([with_recorded_accuracy(member, 0.0)] * 2, data, out)
    message = str(failure.value.code)
    assert message.startswith("error: the result (") and "does not beat the best bundle" in message
    assert "nothing written" in message and "--force" in message
    assert list(tmp_path.iterdir()) == []


def test_force_writes_an_ensemble_that_does_not_beat_its_members(member, data, tmp_path, capsys):
    out = tmp_path / "ensemble.keras"
    run_ensemble([member, member], data, out, "--force")
    assert "does not beat the best bundle" in capsys.readouterr().out
    members = read_metadata(out)["training"]["members"]
    assert len(members) == 2
    assert members[0]["validation_accuracy"] == read_metadata(out)["metrics"]["validation"]["accuracy"]


def test_an_ensemble_that_beats_its_members_is_written(complementary, data, tmp_path):
    out = tmp_path / "ensemble.keras"
    run_ensemble([with_recorded_accuracy(bundle, 1.0) for bundle in complementary], data, out)
    metadata = read_metadata(out)
    assert metadata["metrics"]["validation"]["accuracy"] == 1.0
    # The members as measured on the same split, not as their metadata claims: each is right
    # on the faces the other gets wrong.
    accuracies = [m["validation_accuracy"] for m in metadata["training"]["members"]]
    assert max(accuracies) < 1.0 and sum(accuracies) == pytest.approx(1.0)


def test_a_missing_data_folder_is_a_clear_error(member, tmp_path):
    with pytest.raises(SystemExit, match=r"^error: data folder not found: .*nowhere$"):
        run_ensemble([member], tmp_path / "nowhere", tmp_path / "ensemble.keras")


def test_a_broken_image_in_data_is_named(member, tmp_path):
    for label in LABELS:
        (tmp_path / "train" / label).mkdir(parents=True)
        (tmp_path / "train" / label / "ok.png").write_bytes(encode(np.zeros((8, 8), np.uint8), "PNG"))
    (tmp_path / "train" / "sad" / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(SystemExit, match=r"^error: 1 unreadable image\(s\):\n  .*sad/cut\.png"):
        run_ensemble([member], tmp_path, tmp_path / "ensemble.keras")
