"""Class biases: a logit shift is a prior correction, fitted where it helps and only there."""

import numpy as np

from training.class_bias import corrected, cross_fitted_gain, fit_class_bias, macro_f1


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def under_predicted_sad(n=2000, shift=1.0, seed=0):
    """Logits of a model that knows the classes but is biased against class 3 (sad)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    logits = rng.normal(0, 1, (n, 4)) + 2.0 * np.eye(4)[y]
    logits[:, 3] -= shift
    return logits, y


def test_a_logit_bias_is_the_probability_correction():
    logits, _ = under_predicted_sad(n=50)
    bias = np.array([0.0, -0.2, 0.1, 0.4])
    np.testing.assert_allclose(corrected(softmax(logits)[None], bias), softmax(logits + bias))


def test_a_biased_model_gets_the_class_back():
    logits, y = under_predicted_sad()
    passes = softmax(logits)[None]
    bias = fit_class_bias(passes, y)
    assert bias[0] == 0 and bias[3] > 0.5
    assert macro_f1(y, corrected(passes, bias)) > macro_f1(y, passes[0]) + 0.02
    assert cross_fitted_gain(passes, y, seed=1) > 0.01


def test_an_unbiased_model_gains_nothing_on_held_out_data():
    logits, y = under_predicted_sad(shift=0.0)
    passes = softmax(logits)[None]
    assert cross_fitted_gain(passes, y, seed=1) < 0.005
    assert np.abs(fit_class_bias(passes, y)).max() <= 0.25
