"""The frame path, measured: our pipeline in-process, through the HTTP server, and the `fer` peer.

Feeds the same real frames (default 240, 640×480 JPEG at quality 85, encoded once up front)
through three pipelines, in this order, in one run:

  (a) ours, in-process: app.analysis.FrameAnalyzer(app.faces.FaceDetector(),
      app.emotion_model.EmotionModel.load(MODEL)) — `analyze(jpeg_bytes)` per frame;
      stages from its own "timing_ms" (decode, detect [+ crop], classify, total).
  (c) the `fer` package's pipeline (PyPI `fer`, installed with --no-deps, see
      bench/requirements.txt): cv2.imdecode → grey → Haar on the full frame
      (scaleFactor 1.1, minNeighbors 5, minSize 50×50) → its 40-px mean-grey pad,
      square box + (10, 10) offsets, cv2.resize to 64×64, /255 → [-1, 1] →
      its 7-class mini-Xception (fer/data/emotion_model.hdf5, Keras, compile=False)
      called the way fer calls it (`model(faces)`, eager). Skipped with a message
      when `fer` is not importable. With --fer-tflite also fer's default path
      (use_tflite=True: the quantized .tflite model, one face per invoke).
  (b) ours over HTTP: starts `gunicorn -c gunicorn.conf.py wsgi:app` itself
      (on a socket it binds to a free 127.0.0.1 port, MODEL_PATH=MODEL, everything else as
      gunicorn.conf.py sets it — today 2 workers × 2 threads, TF 1 thread per worker),
      waits for GET /healthz 200, then POSTs each frame to /api/predict as
      multipart field "image" with http.client over keep-alive connections.
      Client latency and the server's "timing_ms" are both recorded. First a
      1-client pass, then (when --clients N > 1) an N-client pass, each over all
      frames. The server is stopped at the end. (b) runs last, with this process idle.
      A request whose connection the server dropped is retried once (bench/soak.py's
      FrameClient) and counted as a retry: it may be a worker that died mid-request.
      A measured pass with any error or retry is marked "failed"; a warm-up with any
      prints a WARNING.
  (a') with --variants: (a) again with a bench-only prototype of an app change (the app is
      not modified; the prototype wraps or subclasses its objects): `minface15` (Haar minSize
      15 % of the frame's shorter side instead of the cascade's 24-px window), `sf12` (scaleFactor 1.2); combine with
      "+", e.g. minface15+sf12. Reported with the share of frames whose top emotion
      matches (a) and the largest probability difference.

Each pipeline is warmed up on --warmup frames (default 10) that are not counted.

Frames: every frame of ../shared/data/webcam/frown.avi (720×480, resized to 640×480), plus
FER-2013 test faces (../shared/data/fer4/test/<label>/*.jpg, 48×48 grey) upscaled to
170–230 px and pasted (feathered edge) at random positions into 640×480 background
photos shipped with scikit-image (coffee, chelsea, rocket, …). Seeded (--seed), shuffled;
identical for all pipelines. If fewer than all video frames + 1 composite are asked for,
half are video frames (evenly spaced), half composites.

Report, per pipeline: p50/p95 per stage in ms (classify: over the frames with a face),
frames/s, frames with ≥ 1 face (and faces in all), the ratios ours/fer of total p50 and
frames/s; for HTTP also client latency p50/p95 and
throughput per client count. Also the model's FLOPs per face (2·kh·kw·Cin·Cout·Hout·Wout
over every Conv2D / SeparableConv2D / DepthwiseConv2D / Dense, nested models such as the
VGG16 base included, at the model's internal size, times its test-time views) and the
GFLOP/s achieved during
classification, beside a matmul reference (float32 and bfloat16) on this CPU with the
same thread settings.

Threads: before TensorFlow is imported this script sets, for its own process (pipelines
a and c), TF_NUM_INTRAOP_THREADS=--threads, TF_NUM_INTEROP_THREADS=1,
OMP_NUM_THREADS=--threads, and cv2.setNumThreads(--threads); default --threads 1, the
same TF setting gunicorn.conf.py gives each worker. The server gets the environment this
script was started with (minus those variables), so gunicorn.conf.py decides for it;
--server-env KEY=VALUE overrides (e.g. WEB_CONCURRENCY=1, THREADS=4).

Usage (from the project root; measure on an idle machine — the report warns when the
load average says the CPU is busy):

    pip install --no-deps -r bench/requirements.txt      # the `fer` peer, without torch & co.
    python bench/frame_path.py                           # 240 frames, shipped model, 1 client
    python bench/frame_path.py --clients 4               # + throughput at 4 concurrent clients
    python bench/frame_path.py --model /tmp/smoke/m.keras --frames 60     # quick smoke run
    python bench/frame_path.py --json > bench/results.json                # one JSON object
    python bench/frame_path.py --only a,c --profile      # cProfile of (a): where time goes
    python bench/frame_path.py --variants minface15,sf12,minface15+sf12      # app-change prototypes
    python bench/frame_path.py --clients 4 --server-env OPENCV_FOR_THREADS_NUM=1

Options: --model PATH (default app.config.DEFAULTS["MODEL_PATH"]), --frames N (240),
--clients N (1), --warmup N (10), --seed N (0), --threads N (1), --video PATH,
--fer-dir DIR (FER test split: <label>/*.jpg), --only a,b,c, --variants LIST, --fer-tflite,
--server-env KEY=VALUE (repeatable), --server-timeout S (300), --profile, --json.
Progress goes to stderr; the report (or with --json one JSON object) to stdout.
Exit status 0 also when skipped (no frames: data folder absent or unreadable), 2 on bad
usage or a missing model, 1 when a pipeline fails (for (b) also when a measured pass failed).
"""

import argparse
import io
import json
import math
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the app and bench/soak.py, when run as `python bench/frame_path.py`

from app.quiet_tensorflow import load_tensorflow  # noqa: E402
from bench.soak import FrameClient, multipart_body, start_server  # noqa: E402

SHARED = ROOT.parent / "shared"
DEFAULT_VIDEO = SHARED / "data" / "webcam" / "frown.avi"
DEFAULT_FER_DIR = SHARED / "data" / "fer4" / "test"
FRAME_SIZE = (640, 480)  # width, height
JPEG_QUALITY = 85
STAGES = ("decode", "detect", "classify", "total")
THREAD_VARS = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")
# scikit-image's bundled photos without a human face (astronaut and camera have one).
BACKGROUNDS = ("coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field",
               "brick", "grass", "gravel", "colorwheel", "coins", "moon")

# fer 25.10.3, fer/fer.py: the constants of its Haar + mini-Xception path.
FER_PADDING = 40            # fer.py:57   PADDING = 40
FER_SCALE_FACTOR = 1.1      # fer.py:79   scale_factor: float = 1.1
FER_MIN_FACE = 50           # fer.py:80   min_face_size: int = 50
FER_MIN_NEIGHBORS = 5       # fer.py:81   min_neighbors: int = 5
FER_OFFSETS = (10, 10)      # fer.py:82   offsets: tuple = (10, 10)
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # fer.py:318


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Benchmark the frame path: ours in-process, ours over HTTP, and the fer peer.")
    parser.add_argument("--model", help="model bundle (.keras); default: the app's MODEL_PATH default")
    parser.add_argument("--frames", type=int, default=240, help="frames to measure (default 240)")
    parser.add_argument("--clients", type=int, default=1,
                        help="concurrent HTTP clients for the throughput pass (default 1)")
    parser.add_argument("--warmup", type=int, default=10, help="uncounted warm-up frames (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="TF intra-op / OMP / OpenCV threads in this process (default 1)")
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--fer-dir", type=Path, default=DEFAULT_FER_DIR,
                        help="FER test split with <label>/*.jpg (default ../shared/data/fer4/test)")
    parser.add_argument("--only", default="a,b,c", help="pipelines to run, e.g. a,c (default a,b,c)")
    parser.add_argument("--variants", default="",
                        help="also time bench-only prototypes of app changes after (a), e.g. "
                             "minface15,sf12,minface15+sf12 (see VARIANTS)")
    parser.add_argument("--fer-tflite", action="store_true",
                        help="also time fer's default use_tflite=True path")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the gunicorn server (repeatable)")
    parser.add_argument("--server-timeout", type=float, default=300.0,
                        help="seconds to wait for /healthz (default 300)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile pipeline (a) and print the top functions (stderr)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    args.only = {p.strip() for p in args.only.split(",") if p.strip()}
    if not args.only <= {"a", "b", "c"} or not args.only:
        parser.error("--only takes a comma-separated subset of a,b,c")
    if args.frames < 1 or args.clients < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--frames, --clients and --threads must be ≥ 1, --warmup ≥ 0")
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for variant in args.variants:
        unknown = set(variant.split("+")) - set(VARIANTS)
        if unknown:
            parser.error(f"--variants: unknown {sorted(unknown)}; choose from {sorted(VARIANTS)}")
    for item in args.server_env:
        if "=" not in item:
            parser.error(f"--server-env expects KEY=VALUE, got {item!r}")
    return args


def progress(message):
    print(f"[frame_path] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------
# Threads: must happen before TensorFlow is imported.

def configure_threads(threads):
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import cv2

    cv2.setNumThreads(threads)
    return {"tf_intra_op": threads, "tf_inter_op": 1, "omp": threads, "opencv": threads}


def apply_tf_threads(threads):
    tf = load_tensorflow()

    try:  # the env vars already did it; this errors if TF's runtime is already up
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass


# ----------------------------------------------------------------------------------------
# Frames

class Frame:
    __slots__ = ("jpeg", "source", "label")

    def __init__(self, jpeg, source, label=None):
        self.jpeg, self.source, self.label = jpeg, source, label


def encode_jpeg(rgb):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def read_video(path):
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        bgr = cv2.resize(bgr, FRAME_SIZE, interpolation=cv2.INTER_AREA)
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def fer_files(fer_dir):
    files = []
    for label_dir in sorted(p for p in Path(fer_dir).iterdir() if p.is_dir()):
        files += [(f, label_dir.name) for f in sorted(label_dir.glob("*.jpg"))]
    return files


def background_photos(video_frames):
    """640×480 RGB backgrounds: scikit-image's photos, else heavily blurred video frames."""
    import cv2
    import numpy as np

    photos = []
    try:
        from skimage import data
    except ImportError:
        data = None
    for name in BACKGROUNDS if data else ():
        try:
            image = getattr(data, name)()
        except Exception:  # some data images need a download; skip those
            continue
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.dstack([image] * 3)
        image = image[..., :3].astype(np.uint8)
        photos.append(cv2.resize(image, FRAME_SIZE, interpolation=cv2.INTER_AREA))
    if not photos:
        photos = [cv2.GaussianBlur(f, (0, 0), 25) for f in video_frames[::10]]
    if not photos:  # neither: plain gradients
        x = np.linspace(40, 220, FRAME_SIZE[0], dtype=np.float32)
        y = np.linspace(60, 200, FRAME_SIZE[1], dtype=np.float32)[:, None]
        photos = [np.dstack([x + 0 * y, 0 * x + y, (x + y) / 2]).astype(np.uint8)]
    return photos


def composite(background, face_grey, side, x, y):
    """The grey face, upscaled to side×side, pasted at (x, y) with a feathered edge."""
    import cv2
    import numpy as np

    face = cv2.resize(face_grey, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    ramp = np.minimum(np.arange(side), np.arange(side)[::-1]).astype(np.float32)
    ramp = np.clip(ramp / max(1, side // 16), 0, 1)
    alpha = np.minimum.outer(ramp, ramp)[..., None]
    out = background.copy()
    region = out[y:y + side, x:x + side].astype(np.float32)
    out[y:y + side, x:x + side] = (alpha * face[..., None] + (1 - alpha) * region).astype(np.uint8)
    return out


def build_frames(n, video_path, fer_dir, seed):
    """(frames, description) — or (None, reason) when the data folder is absent."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    have_video = Path(video_path).is_file()
    have_fer = Path(fer_dir).is_dir() and any(Path(fer_dir).glob("*/*.jpg"))
    if not have_video and not have_fer:
        return None, (f"no frames: neither {video_path} nor {fer_dir}/<label>/*.jpg exists "
                      "(the shared data folder is not beside this clone; pass --video / --fer-dir)")
    video = read_video(video_path) if have_video else []
    if not have_fer:
        n_video = min(n, len(video))
    elif n > len(video):
        n_video = len(video)
    else:
        n_video = n // 2
    if n_video < len(video):
        keep = np.linspace(0, len(video) - 1, n_video).round().astype(int) if n_video else []
        video = [video[i] for i in keep]
    frames = [Frame(encode_jpeg(f), "video") for f in video]

    n_fer = n - len(frames) if have_fer else 0
    if n_fer:
        files = fer_files(fer_dir)
        backgrounds = background_photos(video)
        picks = rng.choice(len(files), size=n_fer, replace=len(files) < n_fer)
        for i in picks:
            path, label = files[int(i)]
            face = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            side = int(rng.integers(170, 231))
            x = int(rng.integers(0, FRAME_SIZE[0] - side + 1))
            y = int(rng.integers(0, FRAME_SIZE[1] - side + 1))
            bg = backgrounds[int(rng.integers(len(backgrounds)))]
            frames.append(Frame(encode_jpeg(composite(bg, face, side, x, y)), "fer", label))
    if not frames:
        return None, (f"no frames: OpenCV read none from {video_path} and there are no "
                      f"{fer_dir}/<label>/*.jpg (pass a readable --video or a --fer-dir)")
    order = rng.permutation(len(frames))
    frames = [frames[i] for i in order]
    sizes = [len(f.jpeg) for f in frames]
    description = {
        "count": len(frames),
        "video_frames": sum(f.source == "video" for f in frames),
        "fer_composites": sum(f.source == "fer" for f in frames),
        "size": list(FRAME_SIZE),
        "jpeg_quality": JPEG_QUALITY,
        "mean_kb": round(statistics.mean(sizes) / 1024, 1),
        "seed": seed,
        "video": str(video_path) if have_video else None,
        "fer_dir": str(fer_dir) if have_fer else None,
    }
    if len(frames) < n:
        progress(f"warning: only {len(frames)} frames available (asked for {n})")
    return frames, description


# ----------------------------------------------------------------------------------------
# Statistics

def pct(values, q):
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), 2)


def summarize(timings, wall_s, face_counts, flops_per_face):
    # classify over the frames that had a face to classify; the other stages over all frames
    with_face = [t for t, n in zip(timings, face_counts) if n]
    stages = {s: {"p50": pct([t[s] for t in (with_face if s == "classify" else timings)], 50),
                  "p95": pct([t[s] for t in (with_face if s == "classify" else timings)], 95)}
              for s in STAGES}
    faces_total = sum(face_counts)
    classify_s = sum(t["classify"] for t, n in zip(timings, face_counts) if n) / 1000
    gflops = (faces_total * flops_per_face / classify_s / 1e9
              if flops_per_face and classify_s > 0 else None)
    return {
        "frames": len(timings),
        "stages_ms": stages,
        "frames_per_s": round(len(timings) / wall_s, 2),
        "frames_with_face": sum(1 for n in face_counts if n),
        "faces_total": faces_total,
        "classify_ms_per_face": round(classify_s * 1000 / faces_total, 2) if faces_total else None,
        "classify_gflop_per_s": round(gflops, 2) if gflops is not None else None,
    }


# ----------------------------------------------------------------------------------------
# FLOPs

def model_flops(model, passes=1):
    """FLOPs for one sample: 2·MACs of every conv / dense layer, nested models included,
    times `passes` (a bundle with test-time views runs its network once per view)."""
    import numpy as np

    total, by_kind = 0, {}

    def spatial(layer):
        shape = layer.output.shape
        return int(np.prod([d for d in shape[1:-1]])) if len(shape) > 2 else 1

    def visit(container):
        nonlocal total
        for layer in container.layers:
            kind = type(layer).__name__
            if hasattr(layer, "layers") and layer.layers:
                visit(layer)
                continue
            flops = 0
            if kind in ("Conv1D", "Conv2D", "Conv3D"):
                flops = 2 * int(np.prod(layer.kernel.shape)) * spatial(layer)
            elif kind == "DepthwiseConv2D":
                flops = 2 * int(np.prod(layer.kernel.shape)) * spatial(layer)
            elif kind == "SeparableConv2D":
                flops = 2 * (int(np.prod(layer.depthwise_kernel.shape))
                             + int(np.prod(layer.pointwise_kernel.shape))) * spatial(layer)
            elif kind == "Dense":
                flops = 2 * int(np.prod(layer.kernel.shape)) * spatial(layer)
            flops *= passes
            if flops:
                total += flops
                by_kind[kind] = by_kind.get(kind, 0) + flops

    visit(model)
    return total, by_kind


def describe_model(keras_model):
    """Internal size (largest spatial size any layer sees) and the dtype policies in use."""
    sizes, policies = [], set()

    def visit(container):
        for layer in container.layers:
            shape = getattr(getattr(layer, "output", None), "shape", None)
            if shape is not None and len(shape) == 4:
                sizes.append(tuple(shape[1:3]))
            policy = getattr(getattr(layer, "dtype_policy", None), "name", None)
            if policy:
                policies.add(policy)
            if hasattr(layer, "layers") and layer.layers:
                visit(layer)

    visit(keras_model)
    biggest = max(sizes, key=lambda s: s[0] * s[1]) if sizes else None
    return {"internal_size": list(biggest) if biggest else None, "dtype_policies": sorted(policies)}


def matmul_reference(seconds=1.0, n=1024):
    """GFLOP/s of a square tf.matmul on this CPU, float32 and bfloat16, same threads."""
    import tensorflow as tf

    result = {}
    for dtype in (tf.float32, tf.bfloat16):
        a = tf.random.uniform((n, n), dtype=tf.float32)
        a = tf.cast(a, dtype)
        fn = tf.function(lambda x: tf.matmul(x, x))
        fn(a).numpy()
        runs, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            fn(a).numpy()
            runs += 1
        elapsed = time.perf_counter() - started
        result[dtype.name] = round(2 * n ** 3 * runs / elapsed / 1e9, 1)
    return result


# ----------------------------------------------------------------------------------------
# (a) ours, in-process

def load_ours(model_path, threads):
    apply_tf_threads(threads)
    from app.analysis import FrameAnalyzer
    from app.config import DEFAULTS
    from app.emotion_model import EmotionModel
    from app.faces import FaceDetector

    model = EmotionModel.load(model_path)
    return FrameAnalyzer(FaceDetector(), model, DEFAULTS["MAX_IMAGE_PIXELS"]), model


def run_ours(analyzer, frames, warmup, flops_per_face, profile=False):
    for frame in frames[:warmup]:
        analyzer.analyze(frame.jpeg)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    timings, faces, emotions = [], [], []
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    for frame in frames:
        result = analyzer.analyze(frame.jpeg)
        timings.append(result["timing_ms"])
        faces.append(len(result["faces"]))
        emotions.append((result["emotion"], result["probabilities"]))
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - started
    if profiler:
        import pstats

        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream).strip_dirs()
        stats.sort_stats("tottime").print_stats(18)
        stats.sort_stats("cumulative").print_stats(22)
        print(stream.getvalue(), file=sys.stderr)
    return summarize(timings, wall, faces, flops_per_face), emotions


# ----------------------------------------------------------------------------------------
# Variants of (a): bench-only prototypes of app changes, measured on the same frames.
# They wrap or subclass the app's objects; the app itself is untouched.

VARIANTS = {
    "minface15": "detect with minSize 15 % of the frame's shorter side (app: the 24-px window)",
    "sf12": "detect with scaleFactor 1.2 (app: 1.1)",
}


def variant_detector(min_fraction=None, scale_factor=None):
    """app.faces.FaceDetector running its own detect(), with other Haar parameters.

    Only the cascade call is intercepted, so the app's resize and box mapping stay as they are.
    """
    from app import faces

    class Cascade:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):  # empty() and anything else: the real cascade's
            return getattr(self.inner, name)

        def detectMultiScale(self, image, scaleFactor, minNeighbors, minSize):  # noqa: N802
            if min_fraction is not None:
                side = max(20, int(min(image.shape[:2]) * min_fraction))
                minSize = (side, side)
            return self.inner.detectMultiScale(
                image, scaleFactor=scale_factor or scaleFactor, minNeighbors=minNeighbors,
                minSize=minSize)

    class ParamDetector(faces.FaceDetector):
        def _cascade(self):
            return Cascade(super()._cascade())

    return ParamDetector("haar")  # the Haar parameters these variants change


def build_variant(name, model_path, threads):
    from app.analysis import FrameAnalyzer
    from app.config import DEFAULTS
    from app.emotion_model import EmotionModel
    from app.faces import FaceDetector

    parts = name.split("+")
    model = EmotionModel.load(model_path)
    detector = FaceDetector()
    if "minface15" in parts or "sf12" in parts:
        detector = variant_detector(0.15 if "minface15" in parts else None,
                                    1.2 if "sf12" in parts else None)
    return FrameAnalyzer(detector, model, DEFAULTS["MAX_IMAGE_PIXELS"])


# ----------------------------------------------------------------------------------------
# (c) fer's pipeline, replicated from fer/fer.py (25.10.3) and fer/utils.py

def fer_location():
    """The installed `fer` package's folder, or None (with the reason) when it is missing."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("fer")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        return None, "the `fer` package is not installed (pip install --no-deps -r bench/requirements.txt)"
    try:
        import fer  # its __init__ is light: no torch, no tensorflow import
    except Exception as exc:
        return None, f"`fer` is installed but not importable: {exc}"
    folder = Path(fer.__file__).parent
    if not (folder / "data" / "emotion_model.hdf5").is_file():
        return None, f"{folder}/data/emotion_model.hdf5 is missing from the fer package"
    return folder, getattr(fer, "__version__", "?")


class FerPipeline:
    """fer.FER(mtcnn=False, use_tflite=False).detect_emotions, stage by stage."""

    def __init__(self, fer_folder, threads, use_tflite=False):
        import cv2

        apply_tf_threads(threads)
        # fer.py:118-119 — default cascade is OpenCV's own, not the copy in fer/data.
        self.cascade = cv2.CascadeClassifier(
            cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        self.use_tflite = use_tflite
        self.target_size = (64, 64)
        import keras

        # fer.py:174-179 — load_model(emotion_model.hdf5, compile=False); input_shape[1:3].
        self.model = keras.saving.load_model(
            str(fer_folder / "data" / "emotion_model.hdf5"), compile=False)
        if not use_tflite:
            self.target_size = tuple(self.model.input_shape[1:3])
        else:  # fer.py:146-165
            import tensorflow as tf

            self.interpreter = tf.lite.Interpreter(
                model_path=str(fer_folder / "data" / "emotion_model_quantized.tflite"))
            self.interpreter.allocate_tensors()
            self.input_index = self.interpreter.get_input_details()[0]["index"]
            self.output_index = self.interpreter.get_output_details()[0]["index"]

    @staticmethod
    def pad(image):  # fer.py:222-238
        import cv2

        row, col = image.shape[:2]
        mean = cv2.mean(image[row - 2:row, 0:col])[0]
        return cv2.copyMakeBorder(image, FER_PADDING, FER_PADDING, FER_PADDING, FER_PADDING,
                                  cv2.BORDER_CONSTANT, value=[mean, mean, mean])

    @staticmethod
    def tosquare(box):  # fer.py:245-260
        x, y, w, h = box
        if h > w:
            diff = h - w
            x -= diff // 2
            w += diff
        elif w > h:
            diff = w - h
            y -= diff // 2
            h += diff
        return x, y, w, h

    def detect(self, bgr):
        """fer.py:343-392: grey, Haar on the full frame, pad, square + offsets, resize, scale."""
        import cv2
        import numpy as np

        grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)                       # fer.py:343
        boxes = self.cascade.detectMultiScale(                              # fer.py:273-279
            grey, scaleFactor=FER_SCALE_FACTOR, minNeighbors=FER_MIN_NEIGHBORS,
            flags=cv2.CASCADE_SCALE_IMAGE, minSize=(FER_MIN_FACE, FER_MIN_FACE))
        grey = self.pad(grey)                                               # fer.py:349
        faces, kept = [], []
        for box in boxes:
            x, y, w, h = self.tosquare(box)                                 # fer.py:359
            x1, x2 = x - FER_OFFSETS[0], x + w + FER_OFFSETS[0]             # fer.py:305-315
            y1, y2 = y - FER_OFFSETS[1], y + h + FER_OFFSETS[1]
            x1, y1, x2, y2 = x1 + FER_PADDING, y1 + FER_PADDING, x2 + FER_PADDING, y2 + FER_PADDING
            x1, y1 = max(0, x1), max(0, y1)                                 # fer.py:366-371
            face = grey[y1:y2, x1:x2]
            try:
                face = cv2.resize(face, self.target_size)                   # fer.py:376 (bilinear)
            except cv2.error:
                continue
            faces.append(face)
            kept.append(box)
        if not faces:
            return kept, None
        faces = np.array(faces, dtype="float32")                            # fer.py:386-389
        faces = faces / 255.0
        faces = (faces - 0.5) * 2.0
        return kept, faces

    def classify(self, faces):
        import numpy as np

        if not self.use_tflite:
            with warnings.catch_warnings():  # Keras 3 notes that fer passes (n, 64, 64), no channel
                warnings.filterwarnings("ignore", "The structure of `inputs`")
                return np.asarray(self.model(faces))                        # fer.py:220 (eager)
        faces = np.expand_dims(faces, -1)                                   # fer.py:196-218
        out = []
        for i in range(faces.shape[0]):
            self.interpreter.set_tensor(self.input_index, faces[i:i + 1].astype(np.float32))
            self.interpreter.invoke()
            out.append(self.interpreter.get_tensor(self.output_index)[0])
        return np.array(out)

    def analyze(self, data):
        import cv2
        import numpy as np

        timing = {}
        started = time.perf_counter()
        # fer takes a BGR array; for bytes its own decoder is cv2.imdecode (utils.py:53-56).
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        timing["decode"] = _ms(started)
        mark = time.perf_counter()
        boxes, faces = self.detect(bgr)
        timing["detect"] = _ms(mark)
        mark = time.perf_counter()
        predictions = self.classify(faces) if faces is not None else []
        # fer.py:402-410: a dict of rounded scores per face
        _ = [{FER_LABELS[i]: round(float(s), 2) for i, s in enumerate(p)} for p in predictions]
        timing["classify"] = _ms(mark)
        timing["total"] = _ms(started)
        return timing, len(boxes)


def check_against_fer(pipeline, frames, limit=30):
    """Compare the replica with fer.fer.FER(use_tflite=False).detect_emotions on some frames.

    Needs fer's own imports (pkg_resources, requests); returns a short verdict string.
    """
    import cv2
    import numpy as np

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from fer.fer import FER
            reference = FER(use_tflite=False)
    except Exception as exc:
        return f"not checked: fer.fer cannot be imported here ({type(exc).__name__}: {exc})"
    same, compared, worst = 0, 0, 0.0
    for frame in frames[:limit]:
        bgr = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = {tuple(int(v) for v in r["box"]): r["emotions"]
                      for r in reference.detect_emotions(bgr)}
        boxes, faces = pipeline.detect(bgr)
        ours = {tuple(int(v) for v in b): p
                for b, p in zip(boxes, pipeline.classify(faces) if faces is not None else [])}
        compared += 1
        if set(ours) != set(theirs):
            continue  # (box order may differ; the set must not)
        same += 1
        for box, probs in ours.items():
            worst = max([worst] + [abs(round(float(p), 2) - theirs[box][label])
                                   for label, p in zip(FER_LABELS, probs)])
    return (f"replica vs fer.FER(use_tflite=False).detect_emotions on {compared} frames: "
            f"same boxes on {same}, largest score difference {worst:.2f}")


def _ms(start):
    return (time.perf_counter() - start) * 1000


def run_fer(pipeline, frames, warmup, flops_per_face):
    for frame in frames[:warmup]:
        pipeline.analyze(frame.jpeg)
    timings, faces = [], []
    started = time.perf_counter()
    for frame in frames:
        timing, n = pipeline.analyze(frame.jpeg)
        timings.append(timing)
        faces.append(n)
    return summarize(timings, time.perf_counter() - started, faces, flops_per_face)


# ----------------------------------------------------------------------------------------
# (b) ours over HTTP

HTTP_TIMEOUT = 120  # seconds; a cold worker's first requests on a big model are slow


def http_record(outcome):
    """(record, None) for a 200 with a complete result, else (None, what went wrong).

    A record is (client latency ms, the server's timing_ms, number of faces).
    """
    if outcome.status != "200":
        status = f"HTTP {outcome.status}" if outcome.status.isdigit() else outcome.status
        return None, f"{status}: {outcome.payload[:200]!r}"
    try:
        result = json.loads(outcome.payload)
        timing = {stage: float(result["timing_ms"][stage]) for stage in STAGES}
        return (outcome.seconds * 1000, timing, len(result["faces"])), None
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"unexpected body ({type(exc).__name__}: {exc}): {outcome.payload[:200]!r}"


@dataclass
class HttpPass:
    records: list = field(default_factory=list)
    seconds: float = 0.0
    errors: list = field(default_factory=list)
    retries: int = 0

    @property
    def failed(self):
        return bool(self.errors or self.retries)


def http_pass(port, bodies, clients):
    """All bodies posted once by `clients` concurrent keep-alive clients."""
    lock = threading.Lock()
    next_index = iter(range(len(bodies)))
    result = HttpPass()
    barrier = threading.Barrier(clients + 1)

    def worker():
        client = FrameClient("127.0.0.1", port, timeout=HTTP_TIMEOUT)
        barrier.wait()
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                break
            outcome = client.post(*bodies[i])
            record, error = http_record(outcome)
            with lock:
                result.retries += outcome.retried
                if record:
                    result.records.append(record)
                else:
                    result.errors.append(error)
        client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - started
    return result


def trouble(result):
    """A failed pass's errors and retries, in one line."""
    first = result.errors[0] if result.errors else "a dropped connection"
    return f"{len(result.errors)} error(s), {result.retries} retried, first: {first}"


def run_http(server, frames, warmup, clients, flops_per_face):
    bodies = [multipart_body(f.jpeg) for f in frames]
    # Warm-up over several connections at once so that every worker and thread has its
    # cascade and first request behind it (gunicorn hands a connection to one worker).
    warm_conns = 4
    per_conn = max(2, math.ceil(warmup / warm_conns)) if warmup else 0
    warm = HttpPass()
    if per_conn:
        warm = http_pass(server.port, [bodies[i % len(bodies)] for i in range(per_conn * warm_conns)],
                         warm_conns)
    if warm.failed:
        progress(f"WARNING: HTTP warm-up: {trouble(warm)} — the server may not be healthy")
    passes = {}
    for n in sorted({1, clients}):
        result = http_pass(server.port, bodies, n)
        if result.failed:
            progress(f"HTTP pass with {n} client(s) FAILED: {trouble(result)}")
        if not result.records:
            raise RuntimeError(f"no successful request with {n} client(s): {result.errors[:3]}")
        records = result.records
        summary = summarize([r[1] for r in records], result.seconds, [r[2] for r in records],
                            flops_per_face)
        latency = [r[0] for r in records]
        summary["clients"] = n
        summary["errors"] = len(result.errors)
        summary["retries"] = result.retries
        summary["failed"] = result.failed
        summary["client_latency_ms"] = {"p50": pct(latency, 50), "p95": pct(latency, 95)}
        summary["throughput_frames_per_s"] = summary["frames_per_s"]
        passes[str(n)] = summary
    headline = dict(passes[str(clients)])
    headline["passes"] = passes
    headline["throughput_frames_per_s"] = {k: v["frames_per_s"] for k, v in passes.items()}
    headline["failed"] = any(p["failed"] for p in passes.values())
    headline["warmup_errors"] = len(warm.errors)
    headline["warmup_retries"] = warm.retries
    return headline


# ----------------------------------------------------------------------------------------
# Report

def ratio(a, b):
    return round(a / b, 2) if a is not None and b else None


def add_ratios(report):
    pipes = report["pipelines"]
    fer = pipes.get("fer")
    if not fer or "error" in fer or "skipped" in fer:
        return
    ratios = {}
    for key in [k for k in pipes if k.startswith("ours_")]:
        ours = pipes.get(key)
        if not ours or "error" in ours or "skipped" in ours:
            continue
        entry = {"total_p50": ratio(ours["stages_ms"]["total"]["p50"], fer["stages_ms"]["total"]["p50"]),
                 "frames_per_s": ratio(ours["frames_per_s"], fer["frames_per_s"])}
        if key == "ours_http":  # per client count; the headline above is the --clients pass
            entry["by_clients"] = {
                n: {"server_total_p50": ratio(p["stages_ms"]["total"]["p50"],
                                              fer["stages_ms"]["total"]["p50"]),
                    "client_latency_p50": ratio(p["client_latency_ms"]["p50"],
                                                fer["stages_ms"]["total"]["p50"]),
                    "frames_per_s": ratio(p["frames_per_s"], fer["frames_per_s"])}
                for n, p in ours["passes"].items()}
        ratios[key] = entry
    report["ratios_ours_over_fer"] = ratios


def fmt(v, width=6, digits=1):
    return f"{v:>{width}.{digits}f}" if isinstance(v, (int, float)) else f"{'—':>{width}}"


def flop_text(flops):
    for unit, scale in (("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)):
        if flops >= scale:
            return f"{flops / scale:.3g} {unit}"
    return f"{flops} FLOP"


def pipeline_names(report):
    names = {"ours_inprocess": "(a) ours in-process"}
    for key in report["pipelines"]:
        if key.startswith("ours_inprocess["):
            names[key] = f"(a') {key[len('ours_inprocess['):-1]}"
    names.update({"ours_http": "(b) ours HTTP (server)", "fer": "(c) fer (Keras .hdf5)",
                  "fer_tflite": "(c') fer default (TFLite)"})
    return names


def print_report(report, out=sys.stdout):
    w = out.write
    fr = report["frames"]
    w(f"\nMoodTunes frame path — {fr['count']} frames ({fr['video_frames']} video + "
      f"{fr['fer_composites']} FER composites), {fr['size'][0]}×{fr['size'][1]} JPEG "
      f"q{fr['jpeg_quality']}, mean {fr['mean_kb']} KB, seed {fr['seed']}\n")
    m = report.get("model", {})
    if m:
        w(f"model: {m['path']}  input {m.get('input')}  internal {m.get('internal_size')}  "
          f"test-time views {len(m.get('test_views', []))}  "
          f"dtype {','.join(m.get('dtype_policies', []))}\n")
    t = report["threads"]
    w(f"threads (this process: a, c): TF intra-op {t['tf_intra_op']}, inter-op {t['tf_inter_op']}, "
      f"OMP {t['omp']}, OpenCV {t['opencv']}; server (b): {report.get('server_env') or '—'}\n")
    mach = report["machine"]
    busy = mach.get("cpu_busy_before")
    w(f"machine: {mach['cpus']} CPUs, busy before the run {busy if busy is None else f'{busy:.0%}'}, "
      f"load average at start {mach['loadavg_start']}, at end {mach.get('loadavg_end')}\n")
    if report.get("fer"):
        w(f"fer {report['fer']['version']}: {report['fer'].get('replica_check', '')}\n")
    for warning in report["warnings"]:
        w(f"WARNING: {warning}\n")
    w(f"\n{'pipeline':<28}" + "".join(f"{s + ' p50/p95 ms':>22}" for s in STAGES)
      + f"{'frames/s':>10}  {'frames w/ face':>14}{'faces':>7}\n")
    names = pipeline_names(report)
    for key, label in names.items():
        p = report["pipelines"].get(key)
        if p is None:
            continue
        if "skipped" in p or "error" in p:
            w(f"{label:<28}{'skipped: ' + p['skipped'] if 'skipped' in p else 'FAILED: ' + p['error']}\n")
            continue
        if key == "ours_http":
            label = f"{label[:-1]}, {p['clients']} cl.)"
        cells = "".join(f"{fmt(p['stages_ms'][s]['p50'], 9)} /{fmt(p['stages_ms'][s]['p95'], 9)}  "
                        for s in STAGES)
        found = f"{p['frames_with_face']}/{p['frames']}"
        w(f"{label:<28}{cells}{fmt(p['frames_per_s'], 8)}  {found:>14}{p['faces_total']:>7}\n")
        if "variant" in p:
            same = p.get("same_emotion_as_a")
            w(f"{'':<4}= {p['variant']}" + (
                f"; same top emotion as (a) on {same:.1%} of frames, max |Δp| "
                f"{p['max_prob_diff_vs_a']}" if same is not None else "") + "\n")
        if key == "ours_http":
            for n, q in p["passes"].items():
                w(f"{'':<4}{n} client(s): client latency p50 {fmt(q['client_latency_ms']['p50'], 0)} ms, "
                  f"p95 {fmt(q['client_latency_ms']['p95'], 0)} ms; server total p50 "
                  f"{fmt(q['stages_ms']['total']['p50'], 0)} ms (decode/detect/classify p50 "
                  f"{'/'.join(fmt(q['stages_ms'][s]['p50'], 0) for s in STAGES[:3])}); throughput "
                  f"{fmt(q['frames_per_s'], 0, 2)} frames/s; errors {q['errors']}, retries "
                  f"{q['retries']}{' — FAILED' if q['failed'] else ''}\n")
    r = report.get("ratios_ours_over_fer")
    if r:
        w("\nours / fer (>1 means ours is slower in total p50, faster in frames/s):\n")
        for key, e in r.items():
            w(f"  {names[key]:<26} total p50 ×{e['total_p50']}, frames/s ×{e['frames_per_s']}\n")
            for n, b in e.get("by_clients", {}).items():
                w(f"  {'':<4}{n} client(s): server total p50 ×{b['server_total_p50']}, client latency "
                  f"p50 ×{b['client_latency_p50']} (vs fer total p50), frames/s ×{b['frames_per_s']}\n")
    f = report.get("flops", {})
    if f:
        w("\nclassification compute:\n")
        for key, label in (("ours", "ours"), ("fer", "fer mini-Xception")):
            if key in f:
                w(f"  {label:<18} {flop_text(f[key]['per_face'])} per face "
                  f"({', '.join(f'{k} {flop_text(v)}' for k, v in f[key]['by_layer_type'].items())})\n")
        for key in names:
            p = report["pipelines"].get(key)
            if p and p.get("classify_gflop_per_s") is not None:
                w(f"  {names[key]:<26} classify {fmt(p['classify_ms_per_face'], 0, 2)} ms/face → "
                  f"{fmt(p['classify_gflop_per_s'], 0, 1)} GFLOP/s achieved\n")
        ref = report.get("matmul_reference_gflop_per_s")
        if ref:
            w(f"  reference: 1024² tf.matmul on {t['tf_intra_op']} thread(s): "
              f"float32 {ref['float32']} GFLOP/s, bfloat16 {ref['bfloat16']} GFLOP/s\n")
    w("\n")


def cpu_busy_fraction(seconds=1.0):
    """Share of all CPUs busy (not idle/iowait) over `seconds`, from /proc/stat; None elsewhere."""
    def sample():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return round(1 - (idle1 - idle0) / max(1, total1 - total0), 3)


def main(argv=None):
    args = parse_args(argv)
    # A SIGTERM still runs the `finally` that stops the server this script started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    base_env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    loadavg_start = [round(x, 2) for x in os.getloadavg()]
    threads = configure_threads(args.threads)

    frames, description = build_frames(args.frames, args.video, args.fer_dir, args.seed)
    if frames is None:
        progress(f"SKIPPED: {description}")
        if args.json:
            print(json.dumps({"skipped": description}))
        return 0

    from app.config import DEFAULTS

    # resolved: the server started for (b) runs in the repository root, not in this cwd
    model_path = Path(args.model or DEFAULTS["MODEL_PATH"]).resolve()
    if not model_path.is_file():
        progress(f"error: no model bundle at {model_path} (train one, or pass --model PATH)")
        return 2

    cpus = os.cpu_count() or 1
    busy = cpu_busy_fraction()
    notes = []
    if args.frames < 200:
        notes.append(f"--frames {args.frames}: a smoke run; the benchmark is ≥ 200 frames")
    if (busy is not None and busy > 0.15) or loadavg_start[0] > 0.25 * cpus:
        notes.append(f"the CPU is busy before the run (other processes: {busy:.0%} of {cpus} CPUs "
                     f"over 1 s, 1-min load average {loadavg_start[0]}): numbers are skewed — take "
                     "final numbers on an idle machine" if busy is not None else
                     f"1-min load average {loadavg_start[0]} on {cpus} CPUs before the run: numbers "
                     "are skewed — take final numbers on an idle machine")
    report = {
        "frames": description,
        "threads": threads,
        "machine": {"cpus": cpus, "loadavg_start": loadavg_start, "cpu_busy_before": busy},
        "warnings": notes,
        "pipelines": {},
        "flops": {},
    }
    progress(f"{len(frames)} frames ready ({description['video_frames']} video, "
             f"{description['fer_composites']} FER composites)")
    failed = False

    # (a) ours in-process — also gives the model's FLOPs.
    ours_flops = None
    try:
        analyzer, model = load_ours(model_path, args.threads)
        import keras  # the Keras graph itself, for counting; the app keeps only a frozen one

        keras_model = keras.saving.load_model(model_path, compile=False)
        from training.views import bundle_views  # imports Keras: after the thread settings

        views = bundle_views(model.metadata)
        ours_flops, by_kind = model_flops(keras_model, passes=len(views))
        report["flops"]["ours"] = {"per_face": ours_flops, "by_layer_type": by_kind}
        report["model"] = {"path": str(model_path), "name": model.name,
                           "input": [*model.input_size, model.channels],
                           "test_views": list(views),
                           **describe_model(keras_model)}
    except Exception as exc:
        progress(f"error: cannot load {model_path}: {exc}")
        return 2
    if "a" in args.only:
        progress("(a) ours in-process …")
        report["pipelines"]["ours_inprocess"], base_emotions = run_ours(
            analyzer, frames, args.warmup, ours_flops, profile=args.profile)
    del analyzer, model, keras_model
    for variant in args.variants:
        progress(f"(a) variant {variant} …")
        try:
            summary, emotions = run_ours(build_variant(variant, model_path, args.threads),
                                         frames, args.warmup, ours_flops)
        except Exception as exc:
            failed = True
            progress(f"(a) variant {variant} failed: {type(exc).__name__}: {exc}")
            report["pipelines"][f"ours_inprocess[{variant}]"] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        if "a" in args.only:
            summary["same_emotion_as_a"] = round(
                sum(e[0] == b[0] for e, b in zip(emotions, base_emotions)) / len(frames), 3)
            diffs = [abs(e[1][k] - b[1][k]) for e, b in zip(emotions, base_emotions)
                     if e[1] and b[1] for k in e[1]]
            summary["max_prob_diff_vs_a"] = round(max(diffs), 4) if diffs else None
        summary["variant"] = " + ".join(VARIANTS[p] for p in variant.split("+"))
        report["pipelines"][f"ours_inprocess[{variant}]"] = summary

    # (c) fer
    if "c" in args.only:
        folder, version = fer_location()
        if folder is None:
            progress(f"(c) skipped: {version}")
            report["pipelines"]["fer"] = {"skipped": version}
        else:
            progress(f"(c) fer {version} (Keras .hdf5 path) …")
            try:
                pipeline = FerPipeline(folder, args.threads)
                fer_flops, by_kind = model_flops(pipeline.model)
                report["flops"]["fer"] = {"per_face": fer_flops, "by_layer_type": by_kind}
                report["fer"] = {"version": version, "folder": str(folder)}
                report["pipelines"]["fer"] = run_fer(pipeline, frames, args.warmup, fer_flops)
                report["fer"]["replica_check"] = check_against_fer(pipeline, frames)
                progress(f"(c) {report['fer']['replica_check']}")
                if args.fer_tflite:
                    progress("(c') fer default path (use_tflite=True) …")
                    pipeline = FerPipeline(folder, args.threads, use_tflite=True)
                    report["pipelines"]["fer_tflite"] = run_fer(
                        pipeline, frames, args.warmup, fer_flops)
            except Exception as exc:
                failed = True
                progress(f"(c) failed: {type(exc).__name__}: {exc}")
                report["pipelines"]["fer"] = {"error": f"{type(exc).__name__}: {exc}"}

    if report["flops"]:
        report["matmul_reference_gflop_per_s"] = matmul_reference()

    # (b) ours over HTTP — last, so the server has the CPU to itself.
    if "b" in args.only:
        progress("(b) starting gunicorn …")
        server = None
        env = {"MODEL_PATH": str(model_path), **dict(i.split("=", 1) for i in args.server_env)}
        log_path = Path(tempfile.mkstemp(prefix="frame_path_gunicorn_", suffix=".log")[1])
        try:
            server = start_server(log_path, extra_env=env, timeout=args.server_timeout,
                                  base_env=base_env)
            shown = ("MODEL_PATH", "WEB_CONCURRENCY", "THREADS", *THREAD_VARS, *env)
            report["server_env"] = {k: env.get(k, base_env.get(k)) for k in dict.fromkeys(shown)
                                    if k in env or k in base_env}
            progress(f"(b) server ready on 127.0.0.1:{server.port}; posting frames …")
            report["pipelines"]["ours_http"] = run_http(
                server, frames, args.warmup, args.clients, ours_flops)
            failed = failed or report["pipelines"]["ours_http"]["failed"]
        except Exception as exc:
            failed = True
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
            progress(f"(b) failed: {exc}\n{tail}")
            report["pipelines"]["ours_http"] = {"error": str(exc).splitlines()[0]}
        finally:
            if server is not None:
                server.stop()
            log_path.unlink(missing_ok=True)

    report["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    add_ratios(report)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
