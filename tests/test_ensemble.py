"""training.ensemble keeps its result only if it beats the bundles given, and checks --data first;
its 'auto' choices (test-time views, class biases) keep what the validation split says helps."""

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


def test_a_member_that_is_not_a_keras_archive_is_a_clear_error(member, data, tmp_path):
    """Keras itself says "File not found" of an existing file that is not a .keras archive."""
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip archive")
    metadata = read_metadata(member)
    metadata.pop("sha256", None)  # as a bundle written by hand, or before hashes, has none
    metadata_path(broken).write_text(json.dumps(metadata))
    with pytest.raises(SystemExit, match=r"^error: cannot load .*broken\.keras: the file exists but "
                                         r"is not a readable \.keras archive"):
        run_ensemble([broken], data, tmp_path / "ensemble.keras")


def test_members_are_judged_on_the_split_they_were_held_out_from(data, tmp_path):
    member = make_tiny_bundle(tmp_path / "held_out_quarter.keras", input_size=(32, 32))
    metadata = read_metadata(member)
    metadata["training"] = {"val_fraction": 0.25, "split_seed": 1337}
    metadata_path(member).write_text(json.dumps(metadata))
    with pytest.raises(SystemExit, match=r"held_out_quarter\.keras was trained with --val-fraction "
                                         r"0\.25 --split-seed 1337: judge it on the same split"):
        run_ensemble([member], data, tmp_path / "ensemble.keras")  # at --val-fraction 0.4
    run_ensemble([member], data, tmp_path / "ensemble.keras", "--val-fraction", "0.25", "--force")
    assert (tmp_path / "ensemble.keras").exists()


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


def left_lit(count):
    """16-px faces lit from the left: the left half white, the right half black."""
    faces = np.zeros((count, 16, 16, 1), np.float32)
    faces[:, :, :8] = 255
    return faces


def mirror_sensitive_model(face_logits, mirror_logits):
    """A network whose logits on a face lit from the left are `face_logits`, and on its mirror
    image (lit from the right) `mirror_logits`: the test-time views change its answers."""
    import keras
    from keras import layers

    # 1 on a face lit from the left, -1 on its mirror image
    side = np.where(np.arange(16) < 8, 1.0, -1.0) / (16 * 8 * 255)
    lit_from_left = np.broadcast_to(side, (16, 16)).reshape(-1, 1)
    face_logits, mirror_logits = np.asarray(face_logits), np.asarray(mirror_logits)
    inputs = keras.Input((16, 16, 1))
    dense = layers.Dense(len(LABELS), activation="softmax", name="emotion")
    model = keras.Model(inputs, dense(layers.Flatten()(inputs)))
    dense.set_weights([lit_from_left * (face_logits - mirror_logits) / 2,
                       (face_logits + mirror_logits) / 2])
    return model


def validation_set(faces, labels):
    import tensorflow as tf

    one_hot = np.eye(len(LABELS), dtype=np.float32)[[LABELS.index(label) for label in labels]]
    return tf.data.Dataset.from_tensor_slices((faces, one_hot)).batch(4)


@pytest.mark.parametrize("face_logits, mirror_logits, faces, labels, accuracies, chosen", [
    # Sure of angry on a face and of happy on its mirror image: averaged, neither wins and
    # neutral does. One view is right on every face, two and four on none.
    ((2, -2, 1.5, -9), (-2, 2, 1.5, -9),
     np.concatenate([left_lit(3), left_lit(3)[:, :, ::-1]]), ["angry"] * 3 + ["happy"] * 3,
     {"1": 1.0, "2": 0.0, "4": 0.0}, ("face",)),
    # Barely happy on an angry face, sure of angry on its mirror image: one view is wrong on
    # every face, two and four views right on all; of those two, the fewer views ship.
    ((1, 1.2, 0, 0), (3, 0, 0, 0), left_lit(6), ["angry"] * 6,
     {"1": 0.0, "2": 1.0, "4": 1.0}, ("face", "mirror")),
], ids=["one view best", "two and four views tie"])
def test_views_auto_ships_the_most_accurate_views_fewest_on_a_tie(face_logits, mirror_logits,
                                                                  faces, labels, accuracies,
                                                                  chosen):
    from training.train import choose_serving_model

    model = mirror_sensitive_model(face_logits, mirror_logits)
    val_ds = validation_set(faces, labels)
    assert {count: choose_serving_model(model, val_ds, count)[1]["accuracy"]
            for count in accuracies} == accuracies
    _, report, views = choose_serving_model(model, val_ds, "auto")
    assert views == chosen and report["accuracy"] == 1.0


def test_class_bias_auto_leaves_out_biases_that_do_not_help(complementary, data, tmp_path,
                                                            capsys):
    """The pair's average is right on every face: no bias can raise its macro-F1 (a gain of
    0), so none is shipped."""
    out = tmp_path / "ensemble.keras"
    run_ensemble(complementary, data, out, "--class-bias", "auto")
    assert "held-out macro-F1 gain +0.0000" in capsys.readouterr().out
    training = read_metadata(out)["training"]
    assert training["class_bias"] is None and training["class_bias_heldout_macro_f1_gain"] == 0


def test_class_bias_auto_ships_biases_that_help(data, tmp_path):
    """A bundle right on three classes that reads every sad face as neutral, by a small margin:
    a bias for sad over neutral gets them all back, and ships."""
    logits = np.eye(4) * SURE
    logits[3] = [0, 0, 1.0, 0.8]
    bundle = make_brightness_bundle(tmp_path / "no_sad.keras", logits, BAND_EDGES,
                                    input_size=(32, 32))
    out = tmp_path / "balanced.keras"
    run_ensemble([bundle], data, out, "--class-bias", "auto")
    metadata = read_metadata(out)
    bias = metadata["training"]["class_bias"]
    assert bias is not None and bias["sad"] - bias["neutral"] > 0.2
    assert metadata["training"]["class_bias_heldout_macro_f1_gain"] > 0
    assert metadata["metrics"]["validation"]["accuracy"] == 1.0
