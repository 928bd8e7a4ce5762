"""The expression classifier: a model bundle loaded once, classifying face crops in batches."""

import os
from pathlib import Path

import numpy as np

from app.bundle import TRAIN_HINT, BundleError, read_metadata

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class EmotionModel:
    """A loaded bundle. `classify` is safe to call from several threads at once."""

    def __init__(self, keras_model, metadata, name):
        import tensorflow as tf

        self.metadata = metadata
        self.name = name
        self.labels = tuple(metadata["labels"])
        self.input_size = tuple(metadata["input_size"])
        self.channels = metadata["channels"]
        self._keras_model = keras_model
        # One traced graph for every batch size: no retracing per request.
        self._infer = tf.function(
            lambda x: keras_model(x, training=False),
            input_signature=[tf.TensorSpec([None, *self.input_size, self.channels], tf.float32)],
        )

    @classmethod
    def load(cls, model_path):
        """Load and check the bundle at `model_path`; raises BundleError with a clear message."""
        model_path = Path(model_path)
        metadata = read_metadata(model_path)
        try:
            import keras

            keras_model = keras.saving.load_model(model_path, compile=False)
        except Exception as exc:  # Keras raises many types for a corrupt file
            raise BundleError(f"cannot load {model_path}: {exc}. {TRAIN_HINT}") from exc
        _check_shapes(keras_model, metadata, model_path)
        model = cls(keras_model, metadata, model_path.stem)
        model.classify(np.zeros((1, *model.input_size, model.channels), np.uint8))  # warm-up
        return model

    def classify(self, crops):
        """Probabilities (n, len(labels)) for a batch of uint8 crops (n, H, W[, C])."""
        crops = np.asarray(crops)
        if crops.ndim == 3:
            crops = crops[..., np.newaxis]
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        return self._infer(crops.astype(np.float32)).numpy()


def _check_shapes(keras_model, metadata, model_path):
    expected_in = (None, *metadata["input_size"], metadata["channels"])
    expected_out = (None, len(metadata["labels"]))
    actual_in = tuple(keras_model.input_shape)
    actual_out = tuple(keras_model.output_shape)
    if actual_in != expected_in or actual_out != expected_out:
        raise BundleError(
            f"{model_path} takes {actual_in} and gives {actual_out}, but its metadata says "
            f"{expected_in} → {expected_out}. {TRAIN_HINT}"
        )
