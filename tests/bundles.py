"""Small model bundles built by the tests, where the trained model's exact output does not matter."""

from app.bundle import write_bundle
from app.emotions import LABELS


def make_tiny_bundle(path, input_size=(48, 48), channels=1):
    """A real Keras model following the bundle contract: uint8 crop in, 4 probabilities out."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input((*input_size, channels))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(4, 3, strides=2, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(len(LABELS), activation="softmax")(x)
    return save_bundle(keras.Model(inputs, outputs), path, input_size, channels)


def make_brightness_bundle(path, logits_by_band, band_edges, input_size=(48, 48)):
    """A bundle whose answer depends on a face's mean brightness alone: band i of the grey
    levels (cut at `band_edges`) gets the logits `logits_by_band[i]`. Its accuracy on faces
    whose class sets their brightness is known in advance."""
    import keras
    import numpy as np
    from keras import layers

    inputs = keras.Input((*input_size, 1))
    x = layers.GlobalAveragePooling2D()(inputs)
    x = layers.Discretization(bin_boundaries=list(band_edges))(x)
    x = layers.CategoryEncoding(num_tokens=len(logits_by_band), output_mode="one_hot")(x)
    logits = layers.Dense(len(LABELS), activation="softmax", name="emotion")
    model = keras.Model(inputs, logits(x))
    logits.set_weights([np.asarray(logits_by_band, np.float32),
                        np.zeros(len(LABELS), np.float32)])
    return save_bundle(model, path, input_size, channels=1)


def save_bundle(model, path, input_size, channels):
    """`model` written as a bundle, with the metadata the app checks and no metrics."""
    import keras

    metadata = {
        "labels": list(LABELS),
        "input_size": list(input_size),
        "channels": channels,
        "trained_on": "tests: weights random or set by hand",
        "metrics": {},
        "created": "2026-01-01T00:00:00+00:00",
        "versions": {"tensorflow": "test", "keras": keras.__version__},
    }
    write_bundle(model, metadata, path)
    return path
