"""Calibration: the temperature fit, the calibration error, and the temperature and mirror
folded into the shipped model."""

import numpy as np
import pytest

from training.calibration import (expected_calibration_error, fit_temperature, probabilities,
                                  reliability)


def sampled(temperature, n=20000, seed=0):
    """Logits, and labels drawn from softmax(logits / temperature): a network whose confidence
    is right once its logits are divided by `temperature`."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (n, 4))
    probs = probabilities(logits[np.newaxis], temperature)
    labels = np.array([rng.choice(4, p=p) for p in probs])
    return logits, labels


def test_the_fitted_temperature_is_the_one_the_labels_were_drawn_at():
    logits, labels = sampled(temperature=2.0)
    assert fit_temperature(logits[np.newaxis], labels) == pytest.approx(2.0, rel=0.06)


def test_calibration_error_is_small_when_calibrated_and_large_when_over_confident():
    logits, labels = sampled(temperature=2.0)
    calibrated = probabilities(logits[np.newaxis], 2.0)
    over_confident = probabilities(logits[np.newaxis], 1.0)
    assert expected_calibration_error(calibrated, labels) < 0.02
    assert expected_calibration_error(over_confident, labels) > 0.08


def test_calibration_error_counts_every_face_in_one_of_fifteen_bins():
    probs = np.array([[1.0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0, 0]])
    rows = reliability(probs, [0, 1, 2])
    assert len(rows) == 15 and sum(count for count, _, _ in rows) == 3
    # confidence 1.0 right, 0.25 wrong (argmax picks class 0), 0.5 wrong
    assert expected_calibration_error(probs, [0, 1, 2]) == pytest.approx((0 + 0.25 + 0.5) / 3)


@pytest.fixture(scope="module")
def network():
    import keras

    from training.network import make_model

    keras.utils.set_random_seed(0)
    model, _ = make_model(48, 32, None, 4, dropout=0.0)
    return model


def test_a_folded_temperature_divides_the_logits(network):
    import keras

    from training.network import fold_temperature, logits_model

    faces = np.random.default_rng(1).integers(0, 255, (5, 48, 48, 1)).astype(np.float32)
    logits = logits_model(network).predict(faces, verbose=0)
    copy = keras.models.clone_model(network)
    copy.set_weights(network.get_weights())
    fold_temperature(copy, 2.5)
    np.testing.assert_allclose(copy.predict(faces, verbose=0),
                               probabilities(logits[np.newaxis], 2.5), rtol=1e-4, atol=1e-6)


def test_the_mirrored_model_averages_the_face_and_its_mirror_image(network):
    from training.network import with_mirror

    faces = np.random.default_rng(2).integers(0, 255, (3, 48, 48, 1)).astype(np.float32)
    expected = (network.predict(faces, verbose=0)
                + network.predict(faces[:, :, ::-1], verbose=0)) / 2
    np.testing.assert_allclose(with_mirror(network).predict(faces, verbose=0), expected,
                               rtol=1e-4, atol=1e-6)
