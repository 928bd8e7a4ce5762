"""The frame path, timed: ours in-process and over HTTP, beside the `fer` package's pipeline.

The same webcam frames go through ours in-process and the `fer` package's FER (Keras; TFLite
too with --fer-tflite), on one math thread as a gunicorn worker has (unless, as for gunicorn,
TF_NUM_INTRAOP_THREADS and the like say otherwise); then through gunicorn as shipped, posted by
1 client and by --clients N. Prints each stage's p50/p95 in ms and
frames/s; docs/benchmarks.md says how it measures.

    python bench/frame_path.py --clients 4 --fer-tflite
"""

import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/frame_path.py`

from bench.common import (  # noqa: E402
    JPEG_QUALITY, STAGES, bench_arguments, multipart_body, percentiles, post_frames, run_bench,
    start_server, whole)

# One thread for the math, as gunicorn.conf.py gives each worker; read when TensorFlow and
# OpenCV start their thread pools, so set before the first model is loaded.
ONE_THREAD = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS", "OPENCV_FOR_THREADS_NUM")


def progress(message):
    print(f"[frame_path] {message}", file=sys.stderr, flush=True)


def timed(analyze, frames, warmup):
    """Stage p50/p95 and frames/s of `analyze(jpeg) -> (timing_ms, faces)` over `frames`."""
    for jpeg in frames[:warmup]:
        analyze(jpeg)
    started = time.perf_counter()
    runs = [analyze(jpeg) for jpeg in frames]
    return summary([timing for timing, _ in runs], time.perf_counter() - started,
                   sum(1 for _, faces in runs if faces))


def summary(timings, seconds, with_face):
    return {"stages_ms": {s: percentiles([t[s] for t in timings]) for s in STAGES},
            "frames_per_s": round(len(timings) / seconds, 1), "frames_with_face": with_face}


def ours(model_path):
    from app.analysis import FrameAnalyzer
    from app.emotion_model import EmotionModel
    from app.faces import FaceDetector

    analyzer = FrameAnalyzer(FaceDetector(), EmotionModel.load(model_path))  # the app's limits

    def analyze(jpeg):
        result = analyzer.analyze(jpeg)
        return result["timing_ms"], len(result["faces"])
    return analyze


def fer_peer(use_tflite):
    """fer.FER(use_tflite=…) stage by stage: decode as its load_image does bytes, its own
    find_faces, then its detect_emotions on those boxes (crop, scale, classify)."""
    import cv2
    import numpy as np

    with warnings.catch_warnings():  # pkg_resources' and tf.lite's deprecation notices
        warnings.simplefilter("ignore")
        from fer.fer import FER

        peer = FER(use_tflite=use_tflite)

    def analyze(jpeg):
        started = time.perf_counter()
        bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        decoded = time.perf_counter()
        boxes = peer.find_faces(bgr, bgr=True)
        found = time.perf_counter()
        with warnings.catch_warnings():  # Keras: fer passes (n, 64, 64), no channel axis
            warnings.simplefilter("ignore")
            peer.detect_emotions(bgr, face_rectangles=boxes)
        done = time.perf_counter()
        return {"decode": ms(decoded - started), "detect": ms(found - decoded),
                "classify": ms(done - found), "total": ms(done - started)}, len(boxes)
    return analyze


def ms(seconds):
    return seconds * 1000


def http_passes(port, frames, warmup, clients):
    """Frames/s, client latency and server stage times with 1 client, then with `clients`."""
    bodies = [multipart_body(jpeg) for jpeg in frames]
    # Several connections at once, so every worker and thread has its first request behind it.
    post_frames(port, bodies, max(8, warmup), clients=4)
    passes = {}
    for n in sorted({1, clients}):
        outcomes, seconds = post_frames(port, bodies, len(bodies), n)
        good = [o for o in outcomes if o.result]
        passes[n] = {**summary([o.result["timing_ms"] for o in good], seconds,
                               sum(1 for o in good if o.result["faces"])),
                     "client_latency_ms": percentiles([ms(o.seconds) for o in good]),
                     "errors": len(outcomes) - len(good), "retries": sum(o.retried for o in outcomes),
                     "first_error": next((o.status for o in outcomes if not o.result), None)}
    return passes


NAMES = {"ours": "ours, in-process", "fer": "fer (Keras)", "fer_tflite": "fer (TFLite)"}


def row(name, p):
    cells = "".join(f"{p['stages_ms'][s]['p50']:>9.1f} /{p['stages_ms'][s]['p95']:>7.1f}" for s in STAGES)
    return f"{name:<22}{cells}{p['frames_per_s']:>10.1f}{p['frames_with_face']:>8}"


def text(report):
    lines = [f"\nMoodTunes frame path: {report['frames']} frames ({report['distinct_frames']} distinct, "
             f"{report['video']}), 640×480 JPEG q{JPEG_QUALITY}; model {report['model']}; "
             f"load average {report['load_average']} on {os.cpu_count()} CPUs\n",
             f"{'p50 / p95 ms':<22}" + "".join(f"{s:>17}" for s in STAGES) + f"{'frames/s':>10}{'faces':>8}"]
    rows = {NAMES.get(key, key): p for key, p in report["pipelines"].items()}
    rows.update({f"HTTP, {n} client(s)": p for n, p in report["http"].items()})  # the server's times
    lines += [f"{name:<22}{p}" if isinstance(p, str) else row(name, p) for name, p in rows.items()]
    lines += [f"ours / {NAMES[key]}: total p50 ×{ratio}" for key, ratio in report["ours_over_fer"].items()]
    for n, p in report["http"].items():
        lines.append(f"HTTP, {n} client(s): client latency p50 {p['client_latency_ms']['p50']} ms, p95 "
                     f"{p['client_latency_ms']['p95']} ms; errors {p['errors']}, retries {p['retries']}"
                     + (f" (first: {p['first_error']}) — FAILED" if p["errors"] or p["retries"] else ""))
    return "\n".join(lines) + "\n"


def run(args, distinct):
    """(report, failed) of every pass over `distinct` frames, cycled to --frames."""
    from app.bundle import DEFAULT_MODEL_PATH

    model_path = Path(args.model or DEFAULT_MODEL_PATH).resolve()
    frames = [distinct[i % len(distinct)] for i in range(args.frames)]
    report = {"frames": len(frames), "distinct_frames": len(distinct), "video": str(args.video),
              "model": str(model_path), "load_average": round(os.getloadavg()[0], 2),
              "pipelines": {}, "ours_over_fer": {}, "http": {}}
    pipelines = report["pipelines"]
    progress("ours, in-process …")
    pipelines["ours"] = timed(ours(model_path), frames, args.warmup)
    for key, tflite in (("fer", False), ("fer_tflite", True))[:1 + args.fer_tflite]:
        progress(f"{key} …")
        try:
            pipelines[key] = timed(fer_peer(tflite), frames, args.warmup)
        except ImportError as exc:
            pipelines[key] = f"skipped: {exc} (pip install --no-deps -r bench/requirements.txt)"
        except Exception as exc:
            pipelines[key] = f"FAILED: {type(exc).__name__}: {exc}"
    totals = {key: p["stages_ms"]["total"]["p50"] for key, p in pipelines.items() if isinstance(p, dict)}
    report["ours_over_fer"] = {key: round(totals["ours"] / total, 2) for key, total in totals.items()
                               if key.startswith("fer")}
    progress("starting gunicorn …")
    with tempfile.NamedTemporaryFile(prefix="frame_path-", suffix=".log") as log:
        with start_server(log.name, model=model_path) as server:
            progress(f"posting frames to 127.0.0.1:{server.port} …")
            report["http"] = http_passes(server.port, frames, args.warmup, args.clients)
    failed = any(str(p).startswith("FAILED") for p in pipelines.values()) \
        or any(p["errors"] or p["retries"] for p in report["http"].values())
    return report, failed


def main(argv=None):
    parser = bench_arguments(__doc__, clients=1, warmup=10)
    parser.add_argument("--frames", type=whole(1), default=240, help="frames per pass (240)")
    parser.add_argument("--fer-tflite", action="store_true", help="also fer's TFLite path")
    args = parser.parse_args(argv)
    for name in ONE_THREAD:  # as gunicorn.conf.py: unless the environment says otherwise
        os.environ.setdefault(name, "1")
    return run_bench("frame_path", args, lambda distinct: run(args, distinct), text)

if __name__ == "__main__":
    sys.exit(main())
