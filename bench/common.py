"""What the benches share: webcam frames, the gunicorn server they start (and nginx in front of it),
the HTTP client, and one frame size, JPEG quality and percentile definition, so a p50 means the same
in each."""

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VIDEO = ROOT.parent / "shared" / "data" / "webcam" / "frown.avi"
FRAME_SIZE = (640, 480)  # width, height: what the page asks the camera for
JPEG_QUALITY = 80  # static/js/camera.js encodes frames at 0.8
STAGES = ("decode", "detect", "classify", "total")
REQUEST_TIMEOUT = 120  # seconds: a cold worker's first requests on a big model are slow


def exit_on_sigterm():
    """A SIGTERM unwinds like Ctrl-C, so the server a bench started is stopped."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def run_bench(name, args, measure, text):
    """`measure(frames)` -> (report, failed) on the frames of --video, its report printed as JSON
    (--json) or text(report). Exit status 1 when it failed; 2 with no frames, a bad model or a
    server that did not start; 130 on Ctrl-C (the server it started is stopped)."""
    from app.bundle import BundleError

    exit_on_sigterm()
    frames = video_frames(args.video)
    if not frames:
        print(f"{name}: no frames: OpenCV read none from {args.video} (pass --video)", file=sys.stderr)
        return 2
    try:
        report, failed = measure(frames)
    except (BundleError, RuntimeError) as exc:  # a server's message ends with its log's tail
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    print(json.dumps(report, indent=2) if args.json else text(report))
    return 1 if failed else 0


def bench_arguments(doc, clients, warmup):
    """An argument parser with the options every bench takes."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--model", help="model bundle (.keras); default: the app's")
    parser.add_argument("--clients", type=whole(1), default=clients, help=f"concurrent clients ({clients})")
    parser.add_argument("--warmup", type=whole(0), default=warmup,
                        help=f"requests before measuring ({warmup})")
    parser.add_argument("--video", type=Path, default=VIDEO, help=f"default {VIDEO}")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    return parser


def whole(low, high=None):
    """An argparse type: a whole number from `low` (to `high`); out of bounds is a usage error."""
    def parse(text):
        value = int(text)
        if value < low or (high is not None and value > high):
            bounds = f"≥ {low}" if high is None else f"{low}..{high}"
            raise argparse.ArgumentTypeError(f"must be {bounds}")
        return value
    return parse


def read_video(path):
    """Every frame of the video at `path`, BGR, as OpenCV reads it."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                return
            yield bgr
    finally:
        capture.release()


def video_frames(path=VIDEO):
    """JPEG bytes of every frame of `path`, centre-cropped to 4:3 and sized 640×480."""
    import cv2

    frames = []
    for bgr in read_video(path):
        height, width = bgr.shape[:2]
        crop_w = min(width, height * FRAME_SIZE[0] // FRAME_SIZE[1])
        x0 = (width - crop_w) // 2
        frame = cv2.resize(bgr[:, x0:x0 + crop_w], FRAME_SIZE, interpolation=cv2.INTER_AREA)
        frames.append(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes())
    return frames


def percentiles(values, qs=(50, 95)):
    """{"p50": …} interpolated between ranks (the stdlib's "inclusive" method, numpy's default)."""
    if not values:
        return {f"p{q}": None for q in qs}
    cuts = statistics.quantiles(values * 2 if len(values) == 1 else values, n=100, method="inclusive")
    return {f"p{q}": round(cuts[q - 1], 1) for q in qs}


@dataclass
class Server:
    """A gunicorn master (or nginx) a bench started on 127.0.0.1, with its log file; stopped when
    a `with` block on it ends."""

    process: subprocess.Popen
    port: int
    log_path: Path
    host: str = "127.0.0.1"

    @property
    def pid(self):
        return self.process.pid

    def pids(self):  # the master and its workers
        return [self.pid, *child_pids(self.pid)]

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def stop(self, timeout=30):
        """SIGTERM the master (it stops its workers gracefully); SIGKILL them all after `timeout`."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)  # its own session: the master and its workers
                self.process.wait(10)


def start_server(log_path, model=None, workers=None, extra_env=None, timeout=180):
    """`gunicorn -c gunicorn.conf.py wsgi:app` on a free loopback port, once /healthz is 200.

    The socket is bound here and handed over (BIND=fd://N): no other process can take the port
    between choosing it and serving on it, and the server can listen nowhere but 127.0.0.1.
    """
    env = {**os.environ, **(extra_env or {})}
    if model:
        env["MODEL_PATH"] = str(model)
    if env.get("MODEL_PATH"):  # the server runs in the repository root, not in this cwd
        env["MODEL_PATH"] = str(Path(env["MODEL_PATH"]).resolve())
    if workers:
        env["WEB_CONCURRENCY"] = str(workers)
    with socket.socket() as listener, open(log_path, "ab") as log_file:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        listener.set_inheritable(True)
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT, env={**env, "BIND": f"fd://{listener.fileno()}"},
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the bench, which then stops the server
            pass_fds=(listener.fileno(),))
        server = Server(process, listener.getsockname()[1], Path(log_path))
    return started(server, timeout)


def start_proxy(upstream, workdir, timeout=30):
    """nginx with deploy/nginx.conf in front of the Server `upstream`, on a free loopback port,
    its files in `workdir`: a Server. (nginx binds the port itself: another process could
    take it first, and nginx then fails to start.)"""
    workdir = Path(workdir)
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    site = (ROOT / "deploy" / "nginx.conf").read_text().replace("listen 80;", f"listen 127.0.0.1:{port};")
    site = site.replace("server 127.0.0.1:8000", f"server 127.0.0.1:{upstream.port}")
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")  # else nginx's own, in /var/lib
    temps = " ".join(f"{kind}_temp_path {workdir / kind};" for kind in kinds)
    (workdir / "nginx.conf").write_text(
        f"daemon off; worker_processes 1; pid {workdir / 'nginx.pid'}; error_log stderr warn;\n"
        f"events {{ worker_connections 512; }}\nhttp {{ access_log off; {temps}\n{site}\n}}\n")
    with open(workdir / "nginx.log", "ab") as log_file:
        process = subprocess.Popen(["nginx", "-e", "stderr", "-p", workdir, "-c", workdir / "nginx.conf"],
                                   stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    return started(Server(process, port, workdir / "nginx.log"), timeout)


def started(server, timeout):
    """`server` once it answers /healthz; stopped if it does not, or on Ctrl-C meanwhile."""
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and server.process.poll() is None:
            if get(server.port, "/healthz", host=server.host)[0] == "200":
                return server
            time.sleep(0.5)
        log = "\n".join(server.log_path.read_text(errors="replace").splitlines()[-25:])
        state = f"exited with status {server.process.returncode}" if server.process.poll() is not None \
            else f"was not ready after {timeout:g} s"
        raise RuntimeError(f"the server {state}; its log ends:\n{log}")
    except BaseException:
        server.stop()
        raise


def get(port, path, headers=None, timeout=5, host="127.0.0.1"):
    """(status, seconds, response headers) of one GET on a fresh connection; status as in Outcome."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return str(response.status), time.perf_counter() - started, dict(response.getheaders())
    except (OSError, http.client.HTTPException) as exc:
        return type(exc).__name__, time.perf_counter() - started, {}
    finally:
        conn.close()


def child_pids(pid):
    """The children of `pid` (a gunicorn master's workers: its main thread forks them), from /proc."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:  # it has exited
        return []


def rss_mib(pids):
    """{pid: resident MiB} of the live processes among `pids`, from /proc/<pid>/status."""
    sizes = {}
    for pid in pids:
        try:
            status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").open())
        except OSError:
            continue
        if "VmRSS" in status:  # a zombie has none
            sizes[pid] = round(int(status["VmRSS"].split()[0]) / 1024, 1)
    return sizes


def multipart_body(image, filename="frame.jpg"):
    """(body, Content-Type) of a form with one file field `image`, as the page posts it."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"{filename}\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
    return head + image + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@dataclass
class Outcome:
    """One request: its HTTP status (or error name), latency, whether it was retried, and
    the parsed prediction of a complete 200."""

    status: str
    seconds: float
    retried: bool = False
    result: dict | None = None


# The server dropped the connection: retried once on a fresh one, as a browser does.
DROPPED = ("RemoteDisconnected", "ConnectionResetError", "BrokenPipeError")


class FrameClient:
    """One simulated webcam page: a keep-alive connection posting frames one after another."""

    def __init__(self, port, host="127.0.0.1"):
        # Connects on its first request, and again on the next one after close().
        self.conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT)

    def post(self, body, content_type):
        """One request, retried once if the server dropped the connection. A closed idle
        connection and a worker that died mid-request look the same from here: the retry is
        reported, and the latency runs from the first attempt."""
        started = time.perf_counter()
        for attempt in (1, 2):
            try:
                status, result = self._post_once(body, content_type)
                break
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                status, result = type(exc).__name__, None
                if status not in DROPPED:
                    break
        return Outcome(status, time.perf_counter() - started, attempt == 2, result)

    def _post_once(self, body, content_type):
        """(status, prediction); status "bad_body" for a 200 without a complete prediction."""
        self.conn.request("POST", "/api/predict", body=body, headers={"Content-Type": content_type})
        response = self.conn.getresponse()
        payload = response.read()
        if response.will_close:
            self.close()
        if response.status != 200:
            return str(response.status), None
        result = prediction(payload)
        return ("200", result) if result else ("bad_body", None)

    def close(self):
        self.conn.close()


def prediction(payload):
    """The parsed body of a 200 from /api/predict, or None when it is not a complete one."""
    try:
        result = json.loads(payload)
        complete = {"emotion", "faces"} <= result.keys() and set(STAGES) <= result["timing_ms"].keys()
    except (ValueError, AttributeError, KeyError, TypeError):
        return None
    return result if complete else None


def post_frames(port, bodies, total, clients, deadline=None):
    """`total` requests, cycling over `bodies`, from `clients` concurrent FrameClients; stops
    early at `deadline` (a time.monotonic() value). Returns (outcomes, wall seconds)."""
    lock, indexes, outcomes = threading.Lock(), iter(range(total)), []

    def client_loop():
        client = FrameClient(port)
        while deadline is None or time.monotonic() < deadline:
            with lock:
                i = next(indexes, None)
            if i is None:
                break
            outcomes.append(client.post(*bodies[i % len(bodies)]))
        client.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes, time.perf_counter() - started
