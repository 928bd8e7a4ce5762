"""Sharpness-aware minimisation (`training.train --sam`): the step it takes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from training.sam import SharpnessAwareModel

RHO = 0.5


def softmax_regression(x, y, weights):
    loss = keras.losses.categorical_crossentropy(y, tf.nn.softmax(x @ weights))
    return tf.reduce_mean(loss)


def gradient_at(x, y, weights):
    weights = tf.Variable(weights)
    with tf.GradientTape() as tape:
        loss = softmax_regression(x, y, weights)
    return tape.gradient(loss, weights).numpy(), float(loss)


def one_sgd_step(rho):
    """A softmax regression with SAM radius `rho`, its data, and its weights before and
    after one SGD step at learning rate 1."""
    rng = np.random.default_rng(0)
    x = rng.random((8, 3), dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 8)]
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2, activation="softmax", use_bias=False)(inputs)
    model = SharpnessAwareModel(inputs, outputs, rho=rho)
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="categorical_crossentropy")
    start = model.get_weights()[0].copy()
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return x, y, start, model.get_weights()[0], history.history["loss"][0]


def test_a_step_applies_the_gradient_found_rho_uphill():
    """The weights move by exactly the gradient taken at w + rho·g/|g|; the loss reported
    is the one at w itself, as plain fit() reports."""
    x, y, start, after, reported_loss = one_sgd_step(RHO)
    gradient, loss = gradient_at(x, y, start)
    uphill = start + RHO * gradient / np.linalg.norm(gradient)
    sharp_gradient, sharp_loss = gradient_at(x, y, uphill)

    # The test can tell the two points apart:
    assert not np.allclose(sharp_gradient, gradient, atol=1e-3) and sharp_loss > loss + 1e-3
    np.testing.assert_allclose(after, start - sharp_gradient, atol=1e-5)
    assert reported_loss == pytest.approx(loss, rel=1e-6)


def test_radius_zero_takes_a_plain_step():
    """How training.train warms the head up."""
    x, y, start, after, _ = one_sgd_step(0.0)
    gradient, _ = gradient_at(x, y, start)
    np.testing.assert_allclose(after, start - gradient, atol=1e-5)
