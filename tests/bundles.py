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
    model = keras.Model(inputs, outputs)
    metadata = {
        "labels": list(LABELS),
        "input_size": list(input_size),
        "channels": channels,
        "trained_on": "tests: random weights",
        "metrics": {},
        "created": "2026-01-01T00:00:00+00:00",
        "versions": {"tensorflow": "test", "keras": keras.__version__},
    }
    write_bundle(model, metadata, path)
    return path
