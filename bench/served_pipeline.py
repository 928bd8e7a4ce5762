"""Faces found and read through the server's own path: detect → crop → classify, against the
same model on the original crops.

FER+ test faces (--faces DIR/<label>/*.png, --n per scene, seeded) drawn on black photos as
SCENES says, plus every frame of --video (one person: any second box is a false one). Per
detector and scene: faces found, extra boxes, how the crop frames the face, and the accuracy
through the pipeline beside the original crops'. What each figure is: docs/benchmarks.md.

    python bench/served_pipeline.py [--n 200] [--seed 0] [--detect-only]
"""

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/served_pipeline.py`

from app.bundle import DEFAULT_MODEL_PATH  # noqa: E402
from bench.common import FRAME_SIZE, ROOT, VIDEO, read_video, whole  # noqa: E402

SCENES = {  # the face's side in px (smallest, largest) and its largest turn, ±degrees
    "fill": (320, 320, 0),  # alone in a 320×320 photo: a tightly framed face touching its border
    "random": (120, 300, 0),  # at a random position in a 640×480 frame
    "roll": (120, 300, 20),  # as random, turned
    "large": (400, 560, 20)}  # near the centre of a 640×480 frame, cut off by its edges


def load_faces(folder, n, rng):
    paths = sorted(Path(folder).glob("*/*.png"))
    if not paths:
        sys.exit(f"no faces in {folder}/<label>/*.png")
    chosen = [paths[i] for i in rng.choice(len(paths), min(n, len(paths)), replace=False)]
    faces = np.stack([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in chosen])
    return faces, [p.parent.name for p in chosen]


def draw(face, scene, rng):
    """A photo showing `face`, and where it is: (centre x, centre y, side)."""
    low, high, roll = SCENES[scene]
    side = rng.uniform(low, high)
    width, height = (320, 320) if scene == "fill" else FRAME_SIZE
    if scene == "large":
        cx, cy = width / 2 + rng.uniform(-60, 60), height / 2 + rng.uniform(-40, 40)
    else:
        cx, cy = (rng.uniform(side / 2, width - side / 2), rng.uniform(side / 2, height - side / 2))
    turn = cv2.getRotationMatrix2D((24, 24), rng.uniform(-roll, roll), side / 48)
    turn[:, 2] += (cx - 24, cy - 24)
    photo = cv2.warpAffine(face, turn, (width, height), flags=cv2.INTER_CUBIC)
    return photo, (cx, cy, side)


def run_scene(detector, faces, scene, seed, size):
    from app.faces import CROP_MARGIN, crop_face

    rng = np.random.default_rng([seed, list(SCENES).index(scene)])
    rows = {"found": [], "extra": 0, "crops": [], "ratio": [], "shift": []}
    for index, face in enumerate(faces):
        photo, (cx, cy, side) = draw(face, scene, rng)
        boxes = detector.detect(photo)
        if not boxes:
            continue
        box = boxes[0]
        rows["found"].append(index)
        rows["extra"] += len(boxes) > 1
        rows["crops"].append(crop_face(photo, box, size))
        # The square crop_face cuts, against the pasted face.
        rows["ratio"].append(max(box.w, box.h) * (1 + 2 * CROP_MARGIN) / side)
        rows["shift"].append(np.hypot(box.x + box.w / 2 - cx, box.y + box.h / 2 - cy) / side)
    return rows


def difference(crops, originals, size):
    """The median over faces of the mean absolute grey difference of a crop to the original."""
    return np.median([np.abs(c.astype(float) - cv2.resize(o, size[::-1])).mean()
                      for c, o in zip(crops, originals)])


def right(model, crops, labels):
    """Whether the model reads each crop as its label: a boolean array."""
    probabilities = np.concatenate([model.classify(np.stack(crops[i:i + 64]))
                                    for i in range(0, len(crops), 64)])
    return np.array(model.labels)[probabilities.argmax(1)] == np.array(labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", default=ROOT.parent / "shared/data/ferplus4/test")
    parser.add_argument("--video", default=VIDEO)
    parser.add_argument("--model", default=DEFAULT_MODEL_PATH)
    parser.add_argument("--n", type=whole(1), default=200, help="faces per scene (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--detectors", default="yunet,haar")
    parser.add_argument("--scenes", default=",".join(SCENES))
    parser.add_argument("--detect-only", action="store_true", help="skip classification")
    args = parser.parse_args()
    from app.faces import FaceDetector

    faces, labels = load_faces(args.faces, args.n, np.random.default_rng(args.seed))
    model = None
    if not args.detect_only:
        from app.emotion_model import EmotionModel
        model = EmotionModel.load(args.model)
        original_right = right(model, list(faces), labels)  # read once, indexed by scene below
        print(f"model {args.model}: accuracy on the {len(faces)} original crops "
              f"{original_right.mean():.3f}")
    size = model.input_size if model else (48, 48)
    video = [cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) for frame in read_video(args.video)]
    if not video:
        sys.exit(f"cannot read frames from {args.video}")
    for name in args.detectors.split(","):
        detector = FaceDetector(name)
        counts = [len(detector.detect(frame)) for frame in video]
        print(f"\n{name}: {Path(args.video).name}: a face in {sum(c > 0 for c in counts)} of "
              f"{len(counts)} frames, an extra box in {sum(c > 1 for c in counts)}")
        for scene in args.scenes.split(","):
            rows = run_scene(detector, faces, scene, args.seed, size)
            found = rows["found"]
            mae = difference(rows["crops"], faces[found], size)
            line = (f"  {scene:6} found {len(found) / len(faces):6.1%} ({len(found)}/{len(faces)})"
                    f"  extra box in {rows['extra']}  crop-vs-original MAE {mae:.1f}")
            if scene == "random":
                line += (f"  side ratio {np.median(rows['ratio']):.2f}"
                         f"  centre shift {np.median(rows['shift']):.3f}")
            print(line)
            if model and found:
                truth = [labels[i] for i in found]
                print(f"    accuracy on found faces: original crops "
                      f"{original_right[found].mean():.3f}, "
                      f"the server's crops {right(model, rows['crops'], truth).mean():.3f}")


if __name__ == "__main__":
    main()
