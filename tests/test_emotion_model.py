"""The classifier gives the Keras model's own answers, batched, for any number of faces."""

import numpy as np

from app.emotion_model import EmotionModel


def test_classify_matches_the_keras_model(tiny_bundle):
    import keras

    model = EmotionModel.load(tiny_bundle)
    reference = keras.saving.load_model(tiny_bundle, compile=False)
    crops = np.random.default_rng(0).integers(0, 256, (5, 48, 48, 1), dtype=np.uint8)
    expected = reference.predict(crops.astype(np.float32), verbose=0)
    np.testing.assert_allclose(model.classify(crops), expected, atol=1e-5)
    # one face, grey crops without a channel axis, and no face at all
    np.testing.assert_allclose(model.classify(crops[:1, ..., 0]), expected[:1], atol=1e-5)
    assert model.classify(np.zeros((0, 48, 48, 1), np.uint8)).shape == (0, 4)
