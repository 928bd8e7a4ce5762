"""training.ensemble keeps its result only if it beats the bundles given, and checks --data first."""

import json

import numpy as np
import pytest

from app.bundle import metadata_path, read_metadata
from app.emotions import LABELS
from tests.bundles import make_brightness_bundle, make_tiny_bundle, save_bundle
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

    main(["--models", *map(str, members), "--data", str(data), "--val-fraction", "0.4",
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


def make_network(path, seed, net_size):
    """A bundle shaped like training.train's: a model inside (VGG16's place), then the `emotion`
    layer; its training record says which network it is."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    base = keras.Sequential([keras.Input((32, 32, 1)), layers.Rescaling(1 / 255),
                             layers.Conv2D(4, 3, strides=2, activation="relu"),
                             layers.GlobalAveragePooling2D()], name="base")
    inputs = keras.Input((32, 32, 1))
    outputs = layers.Dense(len(LABELS), activation="softmax", name="emotion")(base(inputs))
    save_bundle(keras.Model(inputs, outputs), path, (32, 32), channels=1)
    metadata = read_metadata(path)
    metadata["training"] = {"net_size": net_size, "seed": seed}
    metadata_path(path).write_text(json.dumps(metadata))
    return path


def test_an_ensemble_bundle_given_adds_each_of_its_networks(data, tmp_path):
    """An ensemble bundle (two networks averaged, wrapped in test-time views, like the shipped
    one) given as a member: its networks are averaged and biased one by one, each recorded, and
    --init-from still takes the first."""
    import keras

    from training.train import bundle_sizes, load_bundle_weights, member_count

    first, second, third = (make_network(tmp_path / f"net{seed}.keras", seed, net_size)
                            for seed, net_size in ((1, 40), (2, 48), (3, 64)))
    pair = tmp_path / "pair.keras"
    run_ensemble([first, second], data, pair, "--views", "2", "--force")
    out = tmp_path / "three.keras"
    run_ensemble([pair, third], data, out, "--class-bias", "on", "--force")

    metadata = read_metadata(out)
    members = metadata["training"]["members"]
    assert [m["file"] for m in members] == [pair.as_posix(), pair.as_posix(), third.as_posix()]
    assert [m["seed"] for m in members] == [1, 2, 3]
    assert member_count(metadata) == 3 and bundle_sizes(metadata) == (32, 40)
    ensemble = keras.saving.load_model(out, compile=False)
    bias = np.array([metadata["training"]["class_bias"][label] for label in LABELS])
    for index, source in enumerate((first, second, third)):
        network = keras.saving.load_model(source, compile=False)
        member = ensemble.get_layer(f"member_{index}")
        np.testing.assert_allclose(member.get_layer("emotion").bias.numpy(),
                                   network.get_layer("emotion").bias.numpy() + bias, atol=1e-5)
    start = keras.saving.load_model(first, compile=False)
    load_bundle_weights(start, out)
    for got, expected in zip(start.get_weights(), ensemble.get_layer("member_0").get_weights()):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("out", ["ensemble", "ensemble.h5"])
def test_out_must_be_a_keras_file(out, capsys):
    from training.ensemble import parse_args

    with pytest.raises(SystemExit) as failure:
        parse_args(["--models", "a.keras", "--data", "d", "--out", out])
    assert failure.value.code == 2
    assert "--out must end in .keras" in capsys.readouterr().err


def test_write_bundle_refuses_a_path_the_app_would_not_read(member, tmp_path):
    import keras

    from app.bundle import BundleError, write_bundle

    model = keras.saving.load_model(member, compile=False)
    with pytest.raises(BundleError, match=r"m\.h5: a model bundle is a \.keras file"):
        write_bundle(model, read_metadata(member), tmp_path / "m.h5")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fraction", ["0", "0.5", "0.7"])
def test_val_fraction_follows_trainings_rule(fraction, capsys):
    from training.ensemble import parse_args

    with pytest.raises(SystemExit) as failure:
        parse_args(["--models", "a.keras", "--data", "d", "--out", "e.keras",
                    "--val-fraction", fraction])
    assert failure.value.code == 2
    assert "--val-fraction must be between 0 and 0.5" in capsys.readouterr().err


def test_a_split_that_holds_out_no_image_is_a_clear_error(member, data, tmp_path):
    """32 images × 0.02 rounds down to none held out: Keras would then say it found no training
    images. The error says so and what --val-fraction would hold one out."""
    from training.ensemble import main

    with pytest.raises(SystemExit, match=r"^error: 32 images: --val-fraction 0\.02 holds out none "
                                         r"of them for validation; --val-fraction 0\.032 would"):
        main(["--models", str(member), "--data", str(data), "--val-fraction", "0.02",
              "--out", str(tmp_path / "e.keras")])
