"""training.unseen leaves out the test images that copy a training image, whatever their file."""

import numpy as np
import pytest

from app.emotions import LABELS
from tests.images import encode


def faces(seed, count=2):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (16, 16), dtype=np.uint8) for _ in range(count)]


def split_faces(split, label):
    """The two faces the fixture writes to `split/label/` (0.png, 1.png)."""
    return faces({"train": 0, "test": 1}[split] * 10 + LABELS.index(label))


@pytest.fixture
def folders(tmp_path):
    """train/ and test/ with two faces a class each; test/sad/copy.png repeats a training face
    in another file (PNG saved with other settings, under another name)."""
    for split in ("train", "test"):
        for label in LABELS:
            (tmp_path / split / label).mkdir(parents=True)
            for i, pixels in enumerate(split_faces(split, label)):
                (tmp_path / split / label / f"{i}.png").write_bytes(encode(pixels, "PNG"))
    repeated = split_faces("train", "happy")[1]
    (tmp_path / "test" / "sad" / "copy.png").write_bytes(encode(repeated, "PNG", compress_level=9))
    return tmp_path


def run(*args):
    from training.unseen import main

    main([str(arg) for arg in args])


def test_copies_of_training_images_are_left_out(folders, capsys):
    out = folders / "unseen"
    run("--train", folders / "train", "--test", folders / "test", "--out", out)
    linked = sorted(str(p.relative_to(out)) for p in out.glob("*/*"))
    assert linked == sorted(f"{label}/{i}.png" for label in LABELS for i in range(2))
    assert all((out / name).resolve() == (folders / "test" / name).resolve() for name in linked)
    assert capsys.readouterr().out.startswith("1 of 9 test images are copies of training images")


def test_a_near_copy_is_kept(folders):
    nudged = split_faces("train", "happy")[1].copy()
    nudged[0, 0] ^= 1  # one pixel differs: another image
    (folders / "test" / "sad" / "copy.png").write_bytes(encode(nudged, "PNG"))
    out = folders / "unseen"
    run("--train", folders / "train", "--test", folders / "test", "--out", out)
    assert (out / "sad" / "copy.png").is_symlink()


def test_images_in_sub_folders_keep_their_place(folders):
    """Two files of one name in different sub-folders of a label are two images."""
    for sub, seed in (("a", 7), ("b", 8)):
        (folders / "test" / "sad" / sub).mkdir()
        (folders / "test" / "sad" / sub / "0.png").write_bytes(encode(faces(seed)[0], "PNG"))
    out = folders / "unseen"
    run("--train", folders / "train", "--test", folders / "test", "--out", out)
    for sub in ("a", "b"):
        assert (out / "sad" / sub / "0.png").resolve() == (folders / "test" / "sad" / sub / "0.png").resolve()


def test_an_output_folder_in_use_is_refused(folders):
    (folders / "unseen").mkdir()
    (folders / "unseen" / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit, match=r"^error: .*unseen is not empty: give a new folder$"):
        run("--train", folders / "train", "--test", folders / "test", "--out", folders / "unseen")
    assert (folders / "unseen" / "keep.txt").read_text() == "mine"


def test_a_missing_class_folder_is_a_clear_error(folders):
    (folders / "test" / "angry" / "0.png").unlink()
    (folders / "test" / "angry" / "1.png").unlink()
    with pytest.raises(SystemExit, match=r"^error: .*test: no images in angry"):
        run("--train", folders / "train", "--test", folders / "test", "--out", folders / "unseen")


def test_an_output_folder_that_cannot_be_made_is_a_clear_error(folders):
    (folders / "a_file").write_text("not a folder")
    with pytest.raises(SystemExit, match=r"^error: --out: cannot write in .*a_file/unseen: "):
        run("--train", folders / "train", "--test", folders / "test", "--out", folders / "a_file" / "unseen")
