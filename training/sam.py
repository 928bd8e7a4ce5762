"""Sharpness-aware minimisation (SAM; Foret et al., ICLR 2021) for `training.train --sam`.

Each step first climbs to the worst point within a radius `rho` of the weights
(along the gradient), takes the gradient there, steps back and lets the
optimizer apply that gradient. It seeks weights whose whole neighbourhood has
a low loss, which generalises better, and holds up under noisy labels such as
FER-2013's. It costs two forward and backward passes a step.

`rho` 0 trains plainly: `training.train` warms the head up that way (SAM doubled
that epoch's time for the same validation accuracy) and keeps SAM for
fine-tuning. VGG16 here is sharp: 0.05 uphill along the gradient (the radius
usual for SGD-trained ResNets) doubles its loss, and a run at that radius
collapsed in its first fine-tuning epoch.

Only training changes: the model's layers, outputs and saved weights are those
of a plain `keras.Model`; `plain_copy` gives one to ship (the app never imports
this module). `rho` is read when the step is traced: set it before `compile()`.
The two passes of a step draw different dropout masks, as most SAM
implementations do.
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="moodtunes")
class SharpnessAwareModel(keras.Model):
    """A functional model (`SharpnessAwareModel(inputs, outputs, rho=0.01)`) trained with SAM."""

    def __init__(self, *args, rho, **kwargs):
        super().__init__(*args, **kwargs)
        self.rho = rho

    def get_config(self):  # Keras's functional from_config hands "rho" back to __init__
        return {**super().get_config(), "rho": self.rho}

    def train_step(self, data):
        if not self.rho:
            return super().train_step(data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        weights = self.trainable_weights
        loss, y_pred, gradients = self._loss_and_gradients(x, y, sample_weight, weights)
        scale = self.rho / (tf.linalg.global_norm(gradients) + 1e-12)
        climb = [gradient * scale for gradient in gradients]
        for weight, step in zip(weights, climb):
            weight.assign_add(step)
        _, _, sharp_gradients = self._loss_and_gradients(x, y, sample_weight, weights)
        for weight, step in zip(weights, climb):
            weight.assign_sub(step)
        self.optimizer.apply_gradients(zip(sharp_gradients, weights))
        # The loss and metrics reported are those at the weights themselves, as in plain fit().
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss, sample_weight=tf.shape(x)[0])
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _loss_and_gradients(self, x, y, sample_weight, weights):
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                     training=True)
            # Scaled as Keras's own step does (under mixed_float16); the optimizer unscales
            # what it applies, and the climb is normalised, so the scale cancels out.
            scaled_loss = self.optimizer.scale_loss(loss)
        return loss, y_pred, tape.gradient(scaled_loss, weights)


def plain_copy(model):
    """A plain `keras.Model` sharing `model`'s layers and weights: what may be shipped."""
    return keras.Model(model.input, model.output, name=model.name)
