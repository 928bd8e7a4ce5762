"""The test images a model has not seen: those that are not copies of a training image.

    python -m training.unseen --train ../shared/data/fer4/train --test ../shared/data/fer4/test \
        --out /tmp/fer4_test_unseen
    python -m training.evaluate --data /tmp/fer4_test_unseen

FER-2013 repeats some of its faces across its splits: 207 of the 5,212 test images of its four
classes here are pixel-for-pixel copies of images in train/ (183 of them in the part the shipped
networks were trained on, mostly with the same label). `--out` gets a `<label>/` folder of links
to every other test image, for `training.evaluate`; nothing is copied and the data folders are
not changed.
"""

import argparse
import hashlib
from pathlib import Path

from training.dataset import DataError, read_grey, scan_folder
from training.output import unwritable


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.unseen",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--train", required=True, type=Path, help="the training images, <label>/*")
    parser.add_argument("--test", required=True, type=Path, help="the test images, <label>/*")
    parser.add_argument("--out", required=True, type=Path,
                        help="new folder for links to the test images not found in --train")
    return parser.parse_args(argv)


def pixel_digest(grey):
    """A digest of grey pixels: the same face saved twice gets the same digest."""
    return hashlib.sha256(grey.tobytes() + bytes(str(grey.shape), "ascii")).hexdigest()


def pixel_digests(files):
    """{path: its pixel_digest} of scan_folder's `files`."""
    paths = [path for paths in files.values() for path in paths]
    return dict(zip(paths, read_grey(paths, pixel_digest)))


def unseen_test_images(train_files, test_files):
    """{label: test images whose pixels match no training image}, and how many were left out."""
    seen = set(pixel_digests(train_files).values())
    test_digests = pixel_digests(test_files)
    unseen = {label: [path for path in paths if test_digests[path] not in seen]
              for label, paths in test_files.items()}
    left_out = sum(len(paths) for paths in test_files.values()) - sum(map(len, unseen.values()))
    return unseen, left_out


def link_folder(files, root, out):
    """Links in `out` to `files` (from `root`), at the same places under each label."""
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out} is not empty: give a new folder")
    for label, paths in files.items():
        for path in paths:
            link = out / label / path.relative_to(root / label)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path.resolve())


def main(argv=None):
    args = parse_args(argv)
    if problem := unwritable(args.out):
        raise SystemExit(f"error: --out: {problem}")
    try:
        train_files, test_files = scan_folder(args.train), scan_folder(args.test)
        unseen, left_out = unseen_test_images(train_files, test_files)
        link_folder(unseen, args.test, args.out)
    except DataError as exc:
        raise SystemExit(f"error: {exc}") from None
    kept = sum(map(len, unseen.values()))
    print(f"{left_out} of {kept + left_out} test images are copies of training images; "
          f"links to the other {kept} are in {args.out} ("
          + ", ".join(f"{label} {len(paths)}" for label, paths in unseen.items()) + ")")


if __name__ == "__main__":
    main()
