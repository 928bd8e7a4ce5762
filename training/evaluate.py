"""Evaluate a model bundle on a folder of labelled face images.

    python -m training.evaluate --data ../shared/data/ferplus4/test [--model PATH] [--json]
        [--report DIR] [--detect] [--relabel CSV]

DIR holds `<label>/*`. Images are used as they are (already-cropped faces such
as FER-2013), resized to the model's input like the server's crops; with
`--detect`, the face is first found in each photo with the server's own
detector and cropper, as the app does (photos where no face is found are
counted under "no_face" and left out of the metrics). `--relabel CSV` judges
each image by another label: the CSV's `ferplus_majority` column, its first
column naming the image relative to the folder above DIR (as
`fer4_to_ferplus.csv`'s `fer4_path` does for FER-2013's faces: `test/sad/…`);
images it labels with none of the app's four are left out.

Besides accuracy, macro-F1 and per-class figures, it reports how well the
confidence is calibrated: the expected calibration error over 15 bins.

`--json` prints one JSON object on stdout; progress goes to stderr.
"""

import argparse
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from app.bundle import DEFAULT_MODEL_PATH
from app.decode import MAX_IMAGE_PIXELS
from app.emotions import LABELS
from training.calibration import expected_calibration_error, plot_reliability
from training.dataset import DataError, first_few, load_faces, scan_folder, unreadable_images
from training.metrics import classification_report
from training.output import pyplot, writable_folder

BATCH_SIZE = 256


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="folder with <label>/* images")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH,
                        help="model bundle (.keras with .json beside it); default: the shipped one")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--report", type=Path, metavar="DIR",
                        help="also write the confusion-matrix PNG and report.json here")
    parser.add_argument("--detect", action="store_true",
                        help="find the face in each photo first, as the server does")
    parser.add_argument("--relabel", type=Path, metavar="CSV",
                        help="judge each image by this CSV's ferplus_majority label instead of "
                             "its folder (e.g. fer4_to_ferplus.csv)")
    return parser.parse_args(argv)


def progress(message):
    print(f"[evaluate] {message}", file=sys.stderr, flush=True)


def folder_faces(files, size):
    """Labels and grey faces for already-cropped images, read as training reads them."""
    labels = np.array([LABELS.index(label) for label, _ in files])
    return labels, load_faces([path for _, path in files], size)


def predict_folder(model, labels, faces):
    """Labels and probabilities for the faces, classified in batches."""
    y_prob, seconds = [], 0.0
    for start in range(0, len(faces), BATCH_SIZE):
        started = time.perf_counter()
        y_prob.append(model.classify(faces[start:start + BATCH_SIZE]))
        seconds += time.perf_counter() - started
    progress(f"classified {len(labels)} faces in batches of {BATCH_SIZE}: "
             f"{seconds * 1000 / len(labels):.2f} ms per face")
    return labels, np.concatenate(y_prob), 0


def relabelled(files, csv_path, data):
    """(label, path) pairs relabelled by the CSV's `ferplus_majority` column."""
    import csv

    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader)
            column = header.index("ferplus_majority")
            majority = {(data.parent / row[0]).resolve(): row[column] for row in reader}
    except (OSError, UnicodeDecodeError, StopIteration, ValueError, IndexError) as exc:
        raise DataError(f"--relabel {csv_path}: not a CSV with an image path first and a "
                        f"ferplus_majority column ({exc!r})") from None
    pairs = [(majority.get(path.resolve()), path) for _, path in files]
    kept = [(label, path) for label, path in pairs if label in LABELS]
    progress(f"relabelled by {csv_path.name}: {len(kept)} of {len(pairs)} images kept "
             f"(the others have no label there, or one of another expression)")
    if not kept:
        raise DataError(f"--relabel {csv_path}: it labels none of these images")
    return kept


def predict_with_detection(model, files, max_pixels=MAX_IMAGE_PIXELS):
    """Labels and probabilities for the largest face in each photo, through the server's pipeline.

    The server's own decoder judges each photo; any photo it refuses (corrupt, too many
    pixels) does not stop the others: all are named in one DataError at the end.
    """
    from app.analysis import FrameAnalyzer
    from app.decode import ImageRejected
    from app.faces import FaceDetector

    analyzer = FrameAnalyzer(FaceDetector(), model, max_pixels)
    y_true, y_prob, no_face, rejected = [], [], [], []
    for index, (label, path) in enumerate(files, start=1):
        try:
            result = analyzer.analyze(path.read_bytes())
        except ImageRejected as exc:
            rejected.append(f"{path} ({exc.message})")
            continue
        if result["emotion"] is None:
            no_face.append(path)
        else:
            y_true.append(LABELS.index(label))
            y_prob.append([result["probabilities"][label] for label in LABELS])
        if index % 500 == 0:
            progress(f"{index}/{len(files)} photos")
    if rejected:
        raise unreadable_images(rejected)
    if not y_true:
        raise DataError("no face found in any photo")
    if no_face:
        progress(f"no face found in {len(no_face)} photo(s), left out: {first_few(no_face, ', ')}")
    return np.array(y_true), np.array(y_prob), len(no_face)


def plot_confusion(report, out_path):
    plt = pyplot()

    confusion = np.array(report["confusion"])
    shares = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    labels = report["labels"]
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{confusion[i, j]}\n{shares[i, j]:.0%}", ha="center", va="center",
                    color="white" if shares[i, j] > 0.5 else "black", fontsize=9)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"accuracy {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f} (n={report['n']})")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)


def format_table(report):
    lines = [f"images {report['n']}   accuracy {report['accuracy']:.4f}   "
             f"macro-F1 {report['macro_f1']:.4f}   ECE {report['ece']:.4f}", "",
             f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    for label, row in report["per_class"].items():
        lines.append(f"{label:<10}{row['precision']:>10.4f}{row['recall']:>10.4f}"
                     f"{row['f1']:>10.4f}{row['support']:>10}")
    lines += ["", "confusion (rows: true, columns: predicted)",
              " " * 10 + "".join(f"{label:>10}" for label in report["labels"])]
    for label, row in zip(report["labels"], report["confusion"]):
        lines.append(f"{label:<10}" + "".join(f"{n:>10}" for n in row))
    return "\n".join(lines)


def evaluate(args):
    """The report on args.data. Everything about the data is checked before TensorFlow is
    imported and the model loads, so a broken image is named at once, not ~10 s later."""
    from app.bundle import BundleError, read_metadata

    started = time.perf_counter()
    try:
        files = scan_folder(args.data)
        metadata = read_metadata(args.model)
        progress(f"model {args.model}, {sum(len(v) for v in files.values())} images in {args.data}")
        pairs = [(label, path) for label, paths in files.items() for path in paths]
        if args.relabel:
            pairs = relabelled(pairs, args.relabel, args.data)
        faces = None if args.detect else folder_faces(pairs, metadata["input_size"][0])
        from app.emotion_model import EmotionModel

        model = EmotionModel.load(args.model, metadata)
        if args.detect:
            y_true, y_prob, no_face = predict_with_detection(model, pairs)
        else:
            y_true, y_prob, no_face = predict_folder(model, *faces)
    except (DataError, BundleError) as exc:
        raise SystemExit(f"error: {exc}") from None
    report = classification_report(y_true, y_prob.argmax(axis=1), LABELS)
    report.update(ece=round(expected_calibration_error(y_prob, y_true), 4),
                  model=os.path.relpath(args.model), detect=args.detect, no_face=no_face,
                  relabel=str(args.relabel) if args.relabel else None,
                  seconds=round(time.perf_counter() - started, 1))
    return report, y_true, y_prob


@contextmanager
def report_folder_errors():
    try:
        yield
    except OSError as exc:
        raise SystemExit(f"error: --report: {exc}") from None


def prepare_report_folder(folder):
    """Make --report's folder, and try a file in it, before the evaluation that would be lost."""
    with report_folder_errors():
        writable_folder(folder)


def write_report(report, y_true, y_prob, folder):
    with report_folder_errors():
        plot_confusion(report, folder / "confusion_matrix.png")
        plot_reliability(y_prob, y_true, folder / "reliability.png", "test faces")
        (folder / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    progress(f"wrote confusion_matrix.png, reliability.png and report.json in {folder}")


def main(argv=None):
    args = parse_args(argv)
    if args.report:
        prepare_report_folder(args.report)
    report, y_true, y_prob = evaluate(args)
    # Before the report files: a folder that fails after all (a full disk) keeps the result.
    print(json.dumps(report) if args.json else format_table(report), flush=True)
    if args.report:
        write_report(report, y_true, y_prob, args.report)


if __name__ == "__main__":
    main()
