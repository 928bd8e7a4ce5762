"""The expression classifier: a model bundle loaded once, classifying face crops in batches."""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from app.bundle import TRAIN_HINT, BundleError, read_metadata


class EmotionModel:
    """A loaded bundle. `classify` is safe to call from several threads at once."""

    def __init__(self, keras_model, metadata, name):
        self.metadata = metadata
        self.name = name
        self.labels = tuple(metadata["labels"])
        self.input_size = tuple(metadata["input_size"])
        self.channels = metadata["channels"]
        self._infer = _frozen_inference(keras_model, [None, *self.input_size, self.channels])

    @classmethod
    def load(cls, model_path, metadata=None):
        """Load and check the bundle at `model_path`; raises BundleError with a clear message.

        Any failure — reading the file, the shape check, freezing the graph, the warm-up,
        running out of memory — is a BundleError, so start-up always stops with a message.
        `metadata`: what `read_metadata(model_path)` returned, if the caller already checked it.
        """
        model_path = Path(model_path)
        metadata = metadata or read_metadata(model_path)
        keras_model = read_keras_model(model_path)
        try:
            _check_shapes(keras_model, metadata, model_path)
            model = cls(keras_model, metadata, model_path.stem)
            model.classify(np.zeros((1, *model.input_size, model.channels), np.uint8))  # warm-up
        except BundleError:
            raise
        except Exception as exc:  # e.g. a model saved unbuilt has no input shape to check
            raise _bundle_error("use", model_path, exc) from exc
        return model

    def classify(self, crops):
        """Probabilities (n, len(labels)) for a batch of uint8 crops (n, H, W[, C])."""
        crops = np.asarray(crops)
        if crops.ndim == 3:
            crops = crops[..., np.newaxis]
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        return self._infer(crops.astype(np.float32)).numpy()


def read_keras_model(model_path):
    """The Keras model in a .keras file; a BundleError, saying what is wrong, if it cannot be read."""
    model_path = Path(model_path)
    try:
        return keras.saving.load_model(model_path, compile=False)
    except Exception as exc:  # Keras raises many types for a corrupt file (read_metadata,
        # called first, has already refused one that is not a zip archive)
        raise _bundle_error("load", model_path, exc) from exc


def _bundle_error(failed_to, model_path, reason):
    return BundleError(f"cannot {failed_to} {model_path}: {str(reason).rstrip('.')}. {TRAIN_HINT}")


def _frozen_inference(keras_model, input_shape):
    """One graph for every batch size, with the weights folded in as constants.

    Weights stored as float32 but computed in bfloat16 (mixed precision) would
    otherwise be cast and re-laid-out on every call: freezing does that once
    and makes classification ~4× faster with identical outputs.
    """
    traced = tf.function(lambda x: keras_model(x, training=False),
                         input_signature=[tf.TensorSpec(input_shape, tf.float32)])
    frozen = convert_variables_to_constants_v2(traced.get_concrete_function())
    return lambda batch: frozen(tf.convert_to_tensor(batch))[0]


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
