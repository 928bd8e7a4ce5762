"""training.evaluate: --detect's JSON contract and formats, folder faces read as the server reads
them, and a report that holds the model's own answers."""

import json
import re
import zipfile

import cv2
import numpy as np
import pytest
from PIL import Image

from app.emotions import LABELS
from tests import cli
from tests.bundles import make_brightness_bundle
from tests.images import astronaut, encode, no_face
from training.dataset import DataError

FACE_SIDE = 384  # the detector halves a 640-px photo: big enough to still find the face


def photo_with_face(x, y, background=120):
    """The astronaut's face pasted on a 640×480 canvas at (x, y)."""
    canvas = np.full((480, 640, 3), background, np.uint8)
    face = cv2.resize(astronaut(), (FACE_SIDE, FACE_SIDE), interpolation=cv2.INTER_AREA)
    canvas[y:y + FACE_SIDE, x:x + FACE_SIDE] = face
    return canvas


def write_photos(root):
    """One photo with a face per label, and one without a face among the sad ones."""
    for index, label in enumerate(LABELS):
        (root / label).mkdir(parents=True)
        photo = photo_with_face(x=index * 80, y=96 * (index % 2), background=80 + 30 * index)
        (root / label / "face.jpg").write_bytes(encode(photo))
    (root / "sad" / "landscape.png").write_bytes(encode(no_face(), "PNG"))
    return root


def evaluate(*args):
    return cli.run("training.evaluate", *args)


def test_detect_prints_the_json_contract_and_counts_photos_without_a_face(tmp_path, tiny_bundle):
    result = evaluate("--data", str(write_photos(tmp_path / "photos")), "--model",
                      str(tiny_bundle), "--detect", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert {"n", "accuracy", "macro_f1", "per_class", "confusion", "labels"} <= set(report)
    assert report["labels"] == list(LABELS) and report["detect"] is True
    assert report["n"] == 4 and report["no_face"] == 1  # the landscape is left out of the metrics
    assert f"no face found in 1 photo(s), left out: {tmp_path / 'photos' / 'sad' / 'landscape.png'}" in result.stderr
    assert list(report["per_class"]) == list(LABELS)
    for row in report["per_class"].values():
        assert set(row) == {"precision", "recall", "f1", "support"} and row["support"] == 1
    confusion = np.array(report["confusion"])
    assert confusion.shape == (4, 4) and confusion.sum() == 4
    assert report["accuracy"] == pytest.approx(np.trace(confusion) / 4, abs=1e-4)


def test_detect_reads_photos_as_the_server_does(tmp_path, tiny_bundle):
    """--detect runs each photo through the server's decoder and detector, end to end: a CMYK
    JPEG and a WebP are evaluated, a cut one is named."""
    photos = write_photos(tmp_path / "photos")
    cmyk = Image.fromarray(photo_with_face(0, 0)).convert("CMYK")
    cmyk.save(photos / "happy" / "cmyk.jpg", "JPEG")
    (photos / "angry" / "phone.webp").write_bytes(encode(photo_with_face(0, 0), "WEBP"))
    result = evaluate("--data", str(photos), "--model", str(tiny_bundle), "--detect", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["n"] == 6  # four faces, the CMYK one and the WebP

    (photos / "sad" / "cut.jpg").write_bytes(encode(photo_with_face(0, 0))[:5000])
    result = evaluate("--data", str(photos), "--model", str(tiny_bundle), "--detect", "--json")
    assert result.returncode != 0 and result.stdout == ""
    assert "1 unreadable image(s)" in result.stderr and "sad/cut.jpg" in result.stderr
    assert "Traceback" not in result.stderr


def test_photos_the_server_refuses_are_all_named(tmp_path, tiny_bundle):
    """A photo past the server's pixel limit does not stop the evaluation at the first one."""
    from app.emotion_model import EmotionModel
    from training import evaluate as evaluate_module

    small = tmp_path / "small.jpg"
    small.write_bytes(encode(cv2.resize(photo_with_face(0, 0), (320, 240))))
    big = [tmp_path / "big1.jpg", tmp_path / "big2.jpg"]
    for path in big:
        path.write_bytes(encode(photo_with_face(0, 0)))
    files = [("angry", big[0]), ("happy", small), ("sad", big[1])]
    with pytest.raises(DataError) as failure:
        evaluate_module.predict_with_detection(EmotionModel.load(tiny_bundle), files,
                                               max_pixels=640 * 480 - 1)
    message = str(failure.value)
    assert message.startswith("2 unreadable image(s)")
    assert "big1.jpg" in message and "big2.jpg" in message and "small.jpg" not in message


class RecordingModel:
    """Stands in for EmotionModel: keeps the uint8 batches it is asked to classify."""

    input_size = (48, 48)
    channels = 1

    def __init__(self):
        self.batches = []

    def classify(self, batch):
        self.batches.append(batch)
        return np.full((len(batch), len(LABELS)), 1 / len(LABELS))


def test_folder_faces_are_resized_and_rounded_as_the_server_crops_them(tmp_path):
    """A 100-px face shrunk to 48 px as the server's crop is: the same pixels."""
    from app.faces import FaceBox, crop_face
    from training.evaluate import folder_faces, predict_folder

    rng = np.random.default_rng(0)
    faces = []
    for label in LABELS:
        (tmp_path / label).mkdir()
        pixels = cv2.GaussianBlur(rng.integers(0, 256, (100, 100), dtype=np.uint8), (5, 5), 0)
        (tmp_path / label / "face.png").write_bytes(encode(pixels, "PNG"))
        faces.append(pixels)
    model = RecordingModel()
    files = [(label, tmp_path / label / "face.png") for label in LABELS]
    y_true, _, _ = predict_folder(model, *folder_faces(files, 48))
    assert y_true.tolist() == [0, 1, 2, 3]
    evaluated = np.concatenate(model.batches)[..., 0].astype(int)
    server = np.stack([crop_face(face, FaceBox(0, 0, 100, 100), (48, 48), margin=0)
                       for face in faces]).astype(int)
    np.testing.assert_array_equal(evaluated, server)


def write_faces(root):
    for index, label in enumerate(LABELS):
        (root / label).mkdir(parents=True)
        (root / label / "face.png").write_bytes(encode(np.full((48, 48), 40 * index, np.uint8),
                                                       "PNG"))
    return root


def test_a_broken_image_is_named_before_the_model_loads(tmp_path, tiny_bundle):
    """The faces are read first, before TensorFlow: the broken one is named at once, not the
    model that would fail later."""
    from training.evaluate import main

    faces = write_faces(tmp_path / "faces")
    (faces / "sad" / "cut.png").write_bytes(encode(np.zeros((48, 48), np.uint8), "PNG")[:40])
    unloadable = tmp_path / "unloadable.keras"  # a zip archive, but no Keras model in it
    with zipfile.ZipFile(unloadable, "w") as archive:
        archive.writestr("config.json", "{}")
    metadata = json.loads(tiny_bundle.with_suffix(".json").read_text())
    del metadata["sha256"]
    unloadable.with_suffix(".json").write_text(json.dumps(metadata))
    result = cli.refused("training.evaluate", "--data", str(faces), "--model", str(unloadable))
    assert re.search(r"(?ms)^error: 1 unreadable image\(s\):.*sad/cut\.png", result.stderr)
    with pytest.raises(SystemExit, match=r"^error: cannot load .*unloadable\.keras"):
        main(["--data", str(write_faces(tmp_path / "good")), "--model", str(unloadable)])


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_a_report_folder_that_cannot_be_made_stops_before_evaluating(tmp_path, tiny_bundle,
                                                                      capsys, where):
    from training.evaluate import main

    taken = tmp_path / "report"
    taken.write_text("not a folder")
    report = taken if where == "a file" else taken / "sub"
    with pytest.raises(SystemExit, match=r"^error: --report: .*report"):
        main(["--data", str(write_faces(tmp_path / "faces")), "--model", str(tiny_bundle),
              "--json", "--report", str(report)])
    assert "classified" not in capsys.readouterr().err  # nothing evaluated for nothing


def test_the_result_is_printed_before_the_report_files_are_written(tmp_path, tiny_bundle,
                                                                   capsys, monkeypatch):
    """A report that fails to write (a full disk) must not lose the evaluation."""
    from training import evaluate as evaluate_module

    def disk_full(report, out_path):
        raise OSError(28, "No space left on device", str(out_path))

    monkeypatch.setattr(evaluate_module, "plot_confusion", disk_full)
    with pytest.raises(SystemExit, match=r"^error: --report: .*No space left on device"):
        evaluate_module.main(["--data", str(write_faces(tmp_path / "faces")), "--model",
                              str(tiny_bundle), "--json", "--report", str(tmp_path / "report")])
    assert json.loads(capsys.readouterr().out)["n"] == 4


# Faces whose brightness band the tests choose: the brightness bundle reads band i as class i,
# so every prediction, and every figure of the report, is known in advance.
READ_AS = {"angry": ["angry", "happy"], "happy": ["happy"],
           "neutral": ["neutral", "sad", "angry"], "sad": ["sad", "sad"]}
BAND_EDGES = [60, 90, 125]
FACE_GREY = [40, 75, 110, 150]  # a uniform 48-px face in each band
PHOTO_SCALE = [0.3, 0.5, 0.7, 1.0]  # photos darkened: the detected crops' means ~44, 74, 103, 148
EXPECTED = {
    "n": 8,
    "accuracy": 0.625,
    "macro_f1": 0.6167,
    "confusion": [[1, 1, 0, 0],
                  [0, 1, 0, 0],
                  [1, 0, 1, 1],
                  [0, 0, 0, 2]],
    "per_class": {
        "angry": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2},
        "happy": {"precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 1},
        "neutral": {"precision": 1.0, "recall": 0.3333, "f1": 0.5, "support": 3},
        "sad": {"precision": 0.6667, "recall": 1.0, "f1": 0.8, "support": 2},
    },
}


@pytest.fixture(scope="module")
def brightness_bundle(tmp_path_factory):
    return make_brightness_bundle(tmp_path_factory.mktemp("bundle") / "brightness.keras",
                                  np.eye(len(LABELS)) * 4.0, BAND_EDGES)


def write_banded(root, detect):
    """READ_AS's faces: uniform grey squares, or (`detect`) photos with the face to find, and
    one photo without a face."""
    for label, answers in READ_AS.items():
        (root / label).mkdir(parents=True)
        for index, answer in enumerate(answers):
            band = LABELS.index(answer)
            if detect:
                photo = photo_with_face(x=128 * index, y=48) * PHOTO_SCALE[band]
                (root / label / f"{index}.jpg").write_bytes(encode(photo.astype(np.uint8)))
            else:
                face = np.full((48, 48), FACE_GREY[band], np.uint8)
                (root / label / f"{index}.png").write_bytes(encode(face, "PNG"))
    if detect:
        (root / "sad" / "landscape.png").write_bytes(encode(no_face(), "PNG"))
    return root


@pytest.mark.parametrize("detect", [False, True], ids=["folder", "detect"])
def test_the_report_holds_the_models_own_answers(tmp_path, brightness_bundle, capsys, detect):
    """A model whose every answer is known: the report's matrix and figures are exactly its
    answers against the folders' labels, in folder mode and through the server's detector."""
    from training.evaluate import main

    data = write_banded(tmp_path / "faces", detect)
    main(["--data", str(data), "--model", str(brightness_bundle), "--json",
          *(["--detect"] if detect else [])])
    report = json.loads(capsys.readouterr().out)
    assert report["detect"] is detect and report["no_face"] == (1 if detect else 0)
    assert {key: report[key] for key in EXPECTED} == EXPECTED


def test_relabel_judges_each_face_by_the_csvs_majority(tmp_path, brightness_bundle, capsys):
    """Each face is read as its own folder's class; the CSV relabels one (angry → sad) and gives
    another a fifth expression (left out)."""
    from training.evaluate import main

    data = tmp_path / "fer" / "test"
    for band, label in enumerate(LABELS):
        (data / label).mkdir(parents=True)
        (data / label / "0.png").write_bytes(
            encode(np.full((48, 48), FACE_GREY[band], np.uint8), "PNG"))
    majority = {"angry": "sad", "happy": "surprise", "neutral": "neutral", "sad": "sad"}
    csv_path = tmp_path / "fer4_to_ferplus.csv"
    csv_path.write_text("fer4_path,ferplus_majority\n" + "".join(
        f"test/{label}/0.png,{majority[label]}\n" for label in LABELS))
    main(["--data", str(data), "--model", str(brightness_bundle), "--json",
          "--relabel", str(csv_path)])
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 3 and report["accuracy"] == round(2 / 3, 4)
    assert report["confusion"][LABELS.index("sad")][LABELS.index("angry")] == 1
