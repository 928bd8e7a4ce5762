"""The expression network: VGG16 with a small head, and the model the app serves from it.

The model takes the grey face crop as the server cuts it (uint8 values, 0–255) and does its own
preprocessing — upscale, grey to three channels, VGG16's mean subtraction — so that training
and serving cannot drift apart.
"""

import keras
from keras import layers

# VGG16's ImageNet preprocessing ("caffe" mode): BGR channel means, no scaling.
VGG16_BGR_MEAN = (103.939, 116.779, 123.68)


def make_model(img_size, net_size, weights, num_classes, dropout=0.5):
    """(model, its VGG16 base). The model ends in `logits` then `emotion` (softmax), both in
    float32 whatever the precision policy: the temperature is folded into `logits`."""
    inputs = keras.Input((img_size, img_size, 1), name="face")
    x = inputs
    if net_size != img_size:
        x = layers.Resizing(net_size, net_size, dtype="float32", name="upscale")(x)
    x = layers.Concatenate(name="grey_to_rgb")([x, x, x])
    x = layers.Normalization(mean=VGG16_BGR_MEAN, variance=(1.0, 1.0, 1.0),
                             dtype="float32", name="vgg16_preprocess")(x)
    base = keras.applications.VGG16(include_top=False, weights=weights,
                                    input_shape=(net_size, net_size, 3))
    x = base(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(256, activation="relu", name="head_dense")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    x = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="emotion")(x)
    return keras.Model(inputs, outputs, name="moodtunes_vgg16"), base


def set_trainable_blocks(base, first_block):
    """VGG16's blocks `first_block`..5 trainable, the ones below frozen."""
    base.trainable = True
    for layer in base.layers:
        block = int(layer.name[5]) if layer.name.startswith("block") else 0
        layer.trainable = block >= first_block


def logits_model(model):
    """The same network, ending at its logits (shares the weights)."""
    return keras.Model(model.input, model.get_layer("logits").output)


def fold_temperature(model, temperature):
    """Divide the logits by `temperature` inside the model: softmax((Wx + b) / T) is a Dense
    layer with W / T and b / T, so the shipped model needs no extra layer."""
    kernel, bias = model.get_layer("logits").get_weights()
    model.get_layer("logits").set_weights([kernel / temperature, bias / temperature])


def with_mirror(model):
    """`model` reading each face and its mirror image in one batch, averaging the two readings:
    an expression reads the same mirrored, and the network's mistakes on the two partly differ."""
    inputs = keras.Input(model.input_shape[1:], name="face")
    faces = keras.ops.cast(inputs, "float32")
    both = keras.ops.concatenate([faces, keras.ops.flip(faces, axis=2)], axis=0)
    readings = keras.ops.reshape(model(both), (2, -1, model.output_shape[-1]))
    outputs = keras.ops.mean(keras.ops.cast(readings, "float32"), axis=0)
    return keras.Model(inputs, outputs, name=f"{model.name}_mirrored")


def inference_copy(model):
    """A fresh, uncompiled copy of `model` to ship: no optimizer state, and weights stored in
    bfloat16 wherever they are computed in bfloat16 anyway (a third of the file)."""
    copy = keras.Model.from_config(_inference_config(model.get_config()))
    copy.set_weights(model.get_weights())
    return copy


def _inference_config(config):
    """The model config with bfloat16 weight storage and no compile state (nested models too)."""
    if isinstance(config, dict):
        if (config.get("class_name") == "DTypePolicy"
                and config["config"].get("name") == "mixed_bfloat16"):
            return {**config, "config": {**config["config"], "name": "bfloat16"}}
        return {key: _inference_config(value) for key, value in config.items()
                if key != "compile_config"}
    if isinstance(config, list):
        return [_inference_config(value) for value in config]
    return config
