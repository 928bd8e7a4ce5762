"""Average several trained bundles into one model bundle.

    python -m training.ensemble --models models/a.keras models/b.keras \
        --data ../shared/data/fer4 --out models/moodtunes_vgg16.keras \
        [--views auto] [--class-bias auto] [--force]

Models trained from different starts (input sizes, seeds) make different
mistakes; averaging their probabilities usually beats each of them. The
members must share labels and input. The ensemble (with the test-time views
of `--views` on top: `auto` keeps the most accurate) is judged on the same seeded validation split
of `--data` that `training.train` carves out (same --split-seed and
--val-fraction), never on the test set, and kept only if it beats the best
bundle given, read as that bundle was shipped (its own test-time views) on the
same split: otherwise nothing is written and the command fails, unless
`--force`. (A bundle's recorded validation figure may come from another
split.) The per-class output biases of `training.class_bias` are fitted on
that split too, and kept only if they raise macro-F1 on held-out halves of it.

Given a single bundle, it re-decides that model's test-time views and class
biases without averaging anything (kept, again, only if that beats the bundle).
A bundle that is itself an ensemble adds each of its networks, each recorded as
a member of the result.
"""

import argparse
import sys
import time
from pathlib import Path
from typing import NamedTuple

from app.quiet_tensorflow import load_tensorflow

load_tensorflow()  # before Keras imports it: keeps TensorFlow's start-up notices out

import keras
import numpy as np
from keras import layers

from app.bundle import BundleError, read_metadata, write_bundle
from app.emotion_model import read_keras_model
from app.emotions import LABELS
from training.class_bias import cross_fitted_gain, fit_class_bias
from training.dataset import DataError, scan_folder
from training.train import (
    bundle_metadata,
    check_bundle_and_split_options,
    check_split,
    choose_serving_model,
    inference_copy,
    log,
    networks_in,
    split_folder,
    train_folder,
    validation_report,
)
from training.views import VIEW_CHOICES, view


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.ensemble",
                                     description="Average trained bundles into one bundle.")
    parser.add_argument("--models", nargs="+", type=Path, required=True,
                        help="bundles to average (one: just re-decide its views and biases)")
    parser.add_argument("--data", type=Path, required=True,
                        help="the training data folder, for its validation split")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--views", choices=VIEW_CHOICES, default="auto",
                        help="test-time views to average (see training.train --help)")
    parser.add_argument("--class-bias", choices=("auto", "on", "off"), default="auto",
                        help="shift the classes' output biases to even out recall; 'auto' keeps "
                             "the shift only if it raises held-out validation macro-F1")
    parser.add_argument("--split-seed", type=int, default=1337,
                        help="training.train's --split-seed: the validation split to judge on")
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--force", action="store_true",
                        help="write the result even if it does not beat the best bundle given")
    args = parser.parse_args(argv)
    check_bundle_and_split_options(parser, args)
    return args


class Bundle(NamedTuple):
    """A bundle given: its model as shipped (test-time views and all), its metadata, and the
    networks it averages with each one's training record."""

    path: Path
    model: keras.Model
    metadata: dict
    networks: list
    records: list


def load_bundles(paths):
    bundles = [load_bundle(path) for path in paths]
    shapes = {(tuple(b.metadata["input_size"]), b.metadata["channels"]) for b in bundles}
    if len(shapes) != 1:
        raise BundleError(f"members take different inputs: {sorted(shapes)}")
    return bundles


def check_members_split(bundles, args):
    """Judge on the split the networks were held out from: on another, faces a network trained
    on would count as validation. (Bundles from before `val_fraction` was recorded: unchecked.)"""
    for bundle in bundles:
        for record in bundle.records:
            trained = (record.get("val_fraction", args.val_fraction),
                       record.get("split_seed", args.split_seed))
            if trained != (args.val_fraction, args.split_seed):
                raise DataError(
                    f"{bundle.path} was trained with --val-fraction {trained[0]} --split-seed "
                    f"{trained[1]}: judge it on the same split (pass those), or faces it trained "
                    f"on would count as validation")


def load_bundle(path):
    metadata = read_metadata(path)
    model = read_keras_model(path)
    networks = networks_in(model)
    records = network_records(metadata.get("training", {}))
    if len(records) != len(networks):
        raise BundleError(f"{path}: its metadata describes {len(records)} network(s), its model "
                          f"holds {len(networks)}")
    return Bundle(path, model, metadata, networks, records)


def network_records(training):
    """The training record of each network a bundle's `training` metadata describes, in order:
    its own, or its members' (theirs in turn if a member was itself an ensemble)."""
    members = training.get("members")
    if not members:
        return [training]
    return [record for member in members for record in network_records(member)]


def member_records(bundles, accuracies):
    """One `members` entry per network averaged: its training record, the bundle it came from and
    that bundle's accuracy as shipped on this split."""
    return [{**record, "file": bundle.path.as_posix(), "validation_accuracy": accuracy}
            for bundle, accuracy in zip(bundles, accuracies) for record in bundle.records]


def shared_net_size(records):
    """The VGG16 input size all networks were trained at (None if they differ), so that an
    ensemble of one bundle stays a starting point for `training.train --init-from`."""
    sizes = {record.get("net_size") for record in records}
    return sizes.pop() if len(sizes) == 1 else None


def average_models(models):
    if len(models) == 1:
        return models[0]
    for index, model in enumerate(models):
        model.name = f"member_{index}"  # names must be unique inside one model
    inputs = keras.Input(models[0].input_shape[1:], name="face")
    outputs = layers.Average(dtype="float32", name="ensemble_average")(
        [model(inputs) for model in models])
    return keras.Model(inputs, outputs, name="moodtunes_ensemble")


def pass_probabilities(models, val_ds, views):
    """Every member's probabilities on the split, per view: (passes, images, classes), labels."""
    labels, passes = [], []
    for images, one_hot in val_ds:
        labels.append(np.argmax(one_hot.numpy(), axis=1))
        seen = [view(images, name) for name in views]
        passes.append([model.predict_on_batch(image) for model in models for image in seen])
    return np.concatenate(passes, axis=1).astype(np.float64), np.concatenate(labels)


def balance_classes(models, val_ds, views, mode, seed):
    """Fit class biases and add them to every member's last layer if `mode` says so.

    Returns the biases applied (or None) and their cross-fitted macro-F1 gain (None when off).
    """
    if mode == "off":
        return None, None
    passes, labels = pass_probabilities(models, val_ds, views)
    gain = cross_fitted_gain(passes, labels, seed)
    log(f"class biases: held-out macro-F1 gain {gain:+.4f}")
    if mode == "auto" and gain <= 0:
        return None, gain
    bias = fit_class_bias(passes, labels)
    for model in models:
        emotion = model.get_layer("emotion")
        emotion.bias.assign(emotion.bias + keras.ops.cast(bias, emotion.bias.dtype))
    log("class biases applied: " + ", ".join(f"{k} {b:+.2f}" for k, b in zip(LABELS, bias)))
    return bias, gain


def accuracy_as_shipped(bundles, val_ds):
    """Each bundle's accuracy on this validation split, read with its own test-time views."""
    return [validation_report(bundle.model, val_ds, f"{bundle.path} as shipped")["accuracy"]
            for bundle in bundles]


def validation_split(args, input_size):
    _, val_ds = split_folder(train_folder(args.data), input_size, args.val_fraction,
                             args.split_seed)
    return val_ds.batch(128).cache()


def main(argv=None):
    args = parse_args(argv)
    started = time.time()
    try:
        check_split(scan_folder(train_folder(args.data)), args.val_fraction)
        bundles = load_bundles(args.models)
        check_members_split(bundles, args)
    except (DataError, BundleError) as exc:
        raise SystemExit(f"error: {exc}") from None
    first = bundles[0].metadata
    val_ds = validation_split(args, first["input_size"])
    member_accuracy = accuracy_as_shipped(bundles, val_ds)
    networks = [network for bundle in bundles for network in bundle.networks]
    chosen, chosen_report, views = choose_serving_model(average_models(networks), val_ds,
                                                        args.views)
    bias, bias_gain = balance_classes(networks, val_ds, views, args.class_bias, args.split_seed)
    if bias is not None:
        chosen_report = validation_report(chosen, val_ds, "with class biases")
    best_member = max(member_accuracy)
    if chosen_report["accuracy"] <= best_member:
        verdict = (f"the result ({chosen_report['accuracy']:.4f}) does not beat the best bundle "
                   f"given, as that was shipped ({best_member:.4f} on the same split)")
        if not args.force:
            raise SystemExit(f"error: {verdict}: nothing written; ship that bundle instead "
                             f"(or write the result anyway with --force)")
        log(f"note: {verdict}; writing it anyway (--force)")
    records = member_records(bundles, member_accuracy)
    metadata = bundle_metadata(first["input_size"], first["trained_on"], chosen_report, {
        "command": "python -m training.ensemble " + " ".join(sys.argv[1:]),
        "test_views": list(views),
        "net_size": shared_net_size(records),
        "class_bias": None if bias is None else dict(zip(LABELS, np.round(bias, 2).tolist())),
        "class_bias_heldout_macro_f1_gain": None if bias_gain is None else round(bias_gain, 4),
        "members": records,
    }, channels=first["channels"])
    write_bundle(inference_copy(chosen), metadata, args.out)
    log(f"wrote {args.out} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
