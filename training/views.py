"""Test-time views: the shipped model can read each face several ways and average.

A mirrored face shows the same expression, and so does a slightly tighter crop
of it; a network's mistakes on the variants are partly independent, so the
average of its readings is more often right than any one of them. Each view
costs one more pass through VGG16, so how many views ship is decided on the
validation split (`training.train --views`, `training.ensemble --views`).
"""

import keras

VIEW_SETS = {
    1: ("face",),
    2: ("face", "mirror"),
    4: ("face", "mirror", "zoom", "zoom_mirror"),
}
VIEW_CHOICES = ("auto", *map(str, VIEW_SETS))  # the --views option of the training commands
ZOOM_MARGIN = 1 / 16  # cut from each side: 3 px of a 48-px crop


def view(images, name):
    """`images` (batch, height, width, channels) as view `name` sees them, as float32."""
    images = keras.ops.cast(images, "float32")
    if name.startswith("zoom"):
        images = zoom(images)
    if name.endswith("mirror"):
        images = keras.ops.flip(images, axis=2)
    return images


def zoom(images):
    """The centre of each image, scaled back up to the full size."""
    height, width = images.shape[1], images.shape[2]
    top, left = round(height * ZOOM_MARGIN), round(width * ZOOM_MARGIN)
    centre = images[:, top:height - top, left:width - left, :]
    return keras.ops.image.resize(centre, (height, width), interpolation="bilinear")


def with_test_views(model, views):
    """`model` reading every face as each of `views`, averaging the probabilities.

    All views go through as one batch: one call with larger matrix products is
    faster on this CPU than one call per view.
    """
    if tuple(views) == VIEW_SETS[1]:
        return model
    inputs = keras.Input(model.input_shape[1:], name="face")
    batch = keras.ops.concatenate([view(inputs, name) for name in views], axis=0)
    probabilities = keras.ops.reshape(model(batch), (len(views), -1, model.output_shape[-1]))
    outputs = keras.ops.mean(keras.ops.cast(probabilities, "float32"), axis=0)
    return keras.Model(inputs, outputs, name=f"{model.name}_{len(views)}_views")


def bundle_views(metadata):
    """The views a bundle's model was shipped with (older bundles say `flip_average`)."""
    training = metadata.get("training", {})
    if "test_views" in training:
        return tuple(training["test_views"])
    return VIEW_SETS[2] if training.get("flip_average") else VIEW_SETS[1]
