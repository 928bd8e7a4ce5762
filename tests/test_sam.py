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


def test_a_step_applies_the_gradient_found_rho_uphill():
    """With SGD at learning rate 1 the weights move by exactly the gradient taken at
    w + rho·g/|g|; the loss reported is the one at w itself, as plain fit() reports."""
    rng = np.random.default_rng(0)
    x = rng.random((8, 3), dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 8)]
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2, activation="softmax", use_bias=False)(inputs)
    model = SharpnessAwareModel(inputs, outputs, rho=RHO)
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="categorical_crossentropy")
    start = model.get_weights()[0].copy()

    gradient, loss = gradient_at(x, y, start)
    uphill = start + RHO * gradient / np.linalg.norm(gradient)
    sharp_gradient, sharp_loss = gradient_at(x, y, uphill)
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)

    # The test can tell the two points apart:
    assert not np.allclose(sharp_gradient, gradient, atol=1e-3) and sharp_loss > loss + 1e-3
    np.testing.assert_allclose(model.get_weights()[0], start - sharp_gradient, atol=1e-5)
    assert history.history["loss"][0] == pytest.approx(loss, rel=1e-6)
