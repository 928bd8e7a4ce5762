"""Sharpness-aware minimisation (`training.train --sam`): the step it takes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from training.sam import SharpnessAwareModel

RHO = 0.5
CLASS_WEIGHT = {0: 0.5, 1: 2.0}


def problem():
    rng = np.random.default_rng(0)
    x = rng.random((8, 3), dtype=np.float32)
    labels = rng.integers(0, 2, 8)
    return x, np.eye(2, dtype=np.float32)[labels], labels


def softmax_regression(model_class=SharpnessAwareModel, **options):
    """Two weight tensors (kernel and bias), so the climb must be normalised over both."""
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2, activation="softmax", bias_initializer="ones")(inputs)
    model = model_class(inputs, outputs, **options)
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def loss_and_gradients(weights, x, y, labels):
    """Class-weighted cross-entropy as Keras reduces it (a sum over the batch size)."""
    kernel, bias = (tf.Variable(w) for w in weights)
    sample_weight = np.array([CLASS_WEIGHT[label] for label in labels], np.float32)
    with tf.GradientTape() as tape:
        losses = keras.losses.categorical_crossentropy(y, tf.nn.softmax(x @ kernel + bias))
        loss = tf.reduce_sum(losses * sample_weight) / len(labels)
    return float(loss), [g.numpy() for g in tape.gradient(loss, [kernel, bias])]


def one_step(model, x, y):
    start = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0,
                        class_weight=CLASS_WEIGHT)
    return start, model.get_weights(), {k: v[0] for k, v in history.history.items()}


def test_a_step_applies_the_gradient_found_rho_uphill():
    """With SGD at learning rate 1 the weights move by exactly the class-weighted gradient
    taken at w + rho·g/|g| (|g| over all the weights); loss and accuracy are reported at w
    itself, as a plain model reports them."""
    x, y, labels = problem()
    model = softmax_regression(rho=RHO)
    start, after, logs = one_step(model, x, y)

    loss, gradients = loss_and_gradients(start, x, y, labels)
    norm = np.sqrt(sum(np.sum(g ** 2) for g in gradients))
    uphill = [w + RHO * g / norm for w, g in zip(start, gradients)]
    sharp_loss, sharp_gradients = loss_and_gradients(uphill, x, y, labels)
    assert sharp_loss > loss + 1e-3  # the two points are far enough apart to tell

    for w, g, w_after in zip(start, sharp_gradients, after):
        np.testing.assert_allclose(w_after, w - g, atol=1e-5)
    plain = softmax_regression(keras.Model)
    plain.set_weights(start)
    _, _, plain_logs = one_step(plain, x, y)
    assert logs == pytest.approx(plain_logs, rel=1e-6)
    assert logs["loss"] == pytest.approx(loss, rel=1e-6)


class CountingDense(keras.layers.Dense):
    calls = 0

    def call(self, inputs, training=None):
        CountingDense.calls += 1
        return super().call(inputs)


@pytest.mark.parametrize("rho, passes", [(RHO, 2), (0.0, 1)])
def test_radius_zero_takes_a_plain_step_at_half_the_cost(rho, passes):
    """How training.train warms the head up: one forward pass a step, not two."""
    x, y, _ = problem()
    inputs = keras.Input((3,))
    model = SharpnessAwareModel(inputs, CountingDense(2, activation="softmax")(inputs), rho=rho)
    model.compile(optimizer="sgd", loss="categorical_crossentropy", run_eagerly=True)
    CountingDense.calls = 0
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert CountingDense.calls == passes


@pytest.mark.parametrize("rho", ["nan", "-0.01", "2"])
def test_the_radius_is_checked(rho, capsys):
    from training.train import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--data", "d", "--sam", rho])
    assert "--sam must be between 0 and 1" in capsys.readouterr().err
