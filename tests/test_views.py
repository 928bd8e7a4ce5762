"""Test-time views: what each view shows the model, and the averaging wrapper."""

import keras
import numpy as np
import pytest

from training.views import VIEW_SETS, bundle_views, view, with_test_views, zoom


def tiny_model(size=16):
    """A model whose output depends on where the bright pixels are (so views differ)."""
    inputs = keras.Input((size, size, 1))
    x = keras.layers.Flatten()(inputs)
    outputs = keras.layers.Dense(4, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="tiny")


def faces(count=3, size=16):
    return np.random.default_rng(0).integers(0, 256, (count, size, size, 1)).astype("float32")


def test_mirror_flips_left_to_right():
    images = faces()
    np.testing.assert_array_equal(np.asarray(view(images, "mirror")), images[:, :, ::-1, :])
    np.testing.assert_array_equal(np.asarray(view(images, "face")), images)


def test_zoom_scales_the_centre_up_to_full_size():
    images = np.zeros((1, 48, 48, 1), "float32")
    images[:, 3:45, 3:45, :] = 200.0  # the centre, 3 px in from every side
    zoomed = np.asarray(zoom(images))
    assert zoomed.shape == images.shape
    np.testing.assert_allclose(zoomed, 200.0)  # the dark border is cropped away


@pytest.mark.parametrize("count", sorted(VIEW_SETS))
def test_wrapper_averages_the_views(count):
    model, images = tiny_model(), faces()
    wrapped = with_test_views(model, VIEW_SETS[count])
    expected = np.mean([model.predict_on_batch(np.asarray(view(images, name)))
                        for name in VIEW_SETS[count]], axis=0)
    np.testing.assert_allclose(wrapped.predict_on_batch(images), expected, rtol=1e-5, atol=1e-6)


def test_wrapped_model_survives_saving(tmp_path):
    model, images = tiny_model(), faces()
    wrapped = with_test_views(model, VIEW_SETS[4])
    wrapped.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(loaded.predict_on_batch(images), wrapped.predict_on_batch(images),
                               rtol=1e-6)


def test_bundle_views_reads_new_and_older_bundles():
    assert bundle_views({"training": {"test_views": ["face", "mirror"]}}) == VIEW_SETS[2]
    assert bundle_views({"training": {"flip_average": True}}) == VIEW_SETS[2]
    assert bundle_views({"training": {"flip_average": False}}) == VIEW_SETS[1]
    assert bundle_views({}) == VIEW_SETS[1]
