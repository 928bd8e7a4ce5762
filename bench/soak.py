"""Load/soak test: drive the real gunicorn server with webcam frames, report speed and memory.

Usage (from the repository root):

    python bench/soak.py [--model PATH] [--workers N] [--requests N] [--clients N]
                         [--time-limit SECONDS] [--warmup N] [--video PATH]
                         [--startup-timeout SECONDS] [--server-log PATH] [--json]
    python bench/soak.py --url http://127.0.0.1:PORT [same options except --model/--workers]

Examples:

    # a quick check on a tiny model (build it first)
    python -c "from tests.bundles import make_tiny_bundle; make_tiny_bundle('/tmp/tiny/tiny.keras')"
    python bench/soak.py --model /tmp/tiny/tiny.keras --requests 40 --clients 4

    # the full soak on the shipped model: 2000 requests from 8 clients, at most 600 s
    python bench/soak.py

    # an already running server (loopback only), machine-readable summary
    python bench/soak.py --url http://127.0.0.1:8000 --json

Without --url the script starts `gunicorn -c gunicorn.conf.py wsgi:app` itself on a free
127.0.0.1 port (it binds the socket and hands it over: BIND=fd://N; MODEL_PATH from --model;
WEB_CONCURRENCY from --workers), waits for GET /healthz to answer 200, and stops it at the
end, on error and on Ctrl-C. With --url the target must resolve to 127.0.0.0/8 or ::1: this
tool loads a server hard and must never be pointed at someone else's.

Each client posts JPEG frames (640x480) from --video (default ../shared/data/webcam/frown.avi,
else scikit-image's astronaut photo) to POST /api/predict as the webcam page does. A warm-up
(--warmup, default 50 requests) runs first; the server's memory (RSS of the gunicorn master plus
its workers, from /proc) is read after the warm-up and again at the end.

Reports throughput and p50/p95/p99 latency over the main run's 200 responses; its statuses,
errors (with their latency) and retried requests; the warm-up's errors and retries apart; memory
growth, unless the server's set of processes changed meanwhile (a worker replaced: the growth
would compare different processes). As text or with --json as one JSON object on stdout; its
"problems" lists what failed the run. A request is retried once, on a fresh connection, when the
server drops the connection; a dropped connection may be a worker that died mid-request, so a
retry is a problem too, and its latency runs from the first attempt.

Exit status: 0 every request got a 200 with a result at the first attempt and the server kept
its processes; 1 otherwise; 2 bad arguments or the server did not start; 130 interrupted.
"""

import argparse
import http.client
import ipaddress
import itertools
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = ROOT.parent / "shared" / "data" / "webcam" / "frown.avi"
FRAME_SIZE = (640, 480)
JPEG_QUALITY = 90  # close to a browser canvas's toBlob("image/jpeg") default
MAX_FRAMES = 60  # distinct frames kept in memory; requests cycle through them
REQUEST_TIMEOUT = 60


class SoakError(Exception):
    """A problem that stops the run before any load is applied (exit status 2)."""


# ---------------------------------------------------------------- target and frames


def loopback_address(url):
    """(scheme, ip, port, host) for `url`, refusing anything that is not this machine.

    Every address the host name resolves to must be loopback, and the caller connects to the
    resolved address itself, so a name that later resolves elsewhere cannot redirect the load.
    """
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise SoakError(f"--url must look like http://127.0.0.1:PORT, got {url!r}")
    port = parts.port or 80
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SoakError(f"cannot resolve {parts.hostname!r}: {exc}") from None
    addresses = {info[4][0] for info in infos}
    for address in addresses:
        if not _is_loopback(address):
            raise SoakError(
                f"refusing {url}: {parts.hostname} resolves to {address}, which is not "
                "loopback (127.0.0.0/8 or ::1); this tool only loads servers on this machine")
    return sorted(addresses)[0], port


def _is_loopback(address):
    ip = ipaddress.ip_address(address.split("%")[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def load_frames(video=DEFAULT_VIDEO, limit=MAX_FRAMES):
    """JPEG bytes of 640x480 frames of `video`, or of the astronaut photo when it is absent."""
    import cv2

    if not Path(video).is_file():
        return [_astronaut_frame(cv2)]
    capture = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(_encode_jpeg(cv2, _fit(cv2, frame)))
    capture.release()
    if not frames:
        raise SoakError(f"{video}: OpenCV read no frames from it")
    return frames


def _fit(cv2, bgr):
    """Centre-crop to 4:3 and resize to 640x480, as a webcam page's canvas would send."""
    height, width = bgr.shape[:2]
    target_w = min(width, height * FRAME_SIZE[0] // FRAME_SIZE[1])
    x0 = (width - target_w) // 2
    crop = bgr[:, x0:x0 + target_w]
    return cv2.resize(crop, FRAME_SIZE, interpolation=cv2.INTER_AREA)


def _astronaut_frame(cv2):
    import numpy as np
    from skimage import data

    face = cv2.resize(data.astronaut(), (FRAME_SIZE[1], FRAME_SIZE[1]), interpolation=cv2.INTER_AREA)
    canvas = np.full((FRAME_SIZE[1], FRAME_SIZE[0], 3), 128, np.uint8)
    x0 = (FRAME_SIZE[0] - FRAME_SIZE[1]) // 2
    canvas[:, x0:x0 + FRAME_SIZE[1]] = face
    return _encode_jpeg(cv2, cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))


def _encode_jpeg(cv2, bgr):
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise SoakError("OpenCV could not encode a frame as JPEG")
    return encoded.tobytes()


def multipart_body(image, filename="frame.jpg", content_type="image/jpeg"):
    """(body, Content-Type header) of a form with one file field `image`, as the page posts."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + image + tail, f"multipart/form-data; boundary={boundary}"


# ---------------------------------------------------------------- the server


@dataclass
class ManagedServer:
    """A gunicorn master this script started, with its log file."""

    process: subprocess.Popen
    host: str
    port: int
    log_path: Path

    @property
    def pid(self):
        return self.process.pid

    def stop(self, timeout=30):
        """SIGTERM the master (it stops its workers gracefully); SIGKILL what is left after `timeout`."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            workers = child_pids(self.pid)  # read while they are still the master's children
            self.process.kill()
            self.process.wait(10)
            for pid in workers:  # would be orphaned by the killed master
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def loopback_listener():
    """A socket listening on a free loopback port, for gunicorn to serve on (`fd://`).

    Handing over the socket itself, rather than a port number found free a moment before,
    leaves no window for another process to take the port.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


def start_server(log_path, model=None, workers=None, extra_env=None, timeout=180, base_env=None):
    """Start `gunicorn -c gunicorn.conf.py wsgi:app` on a free loopback port; return once /healthz is 200.

    The server gets `base_env` (default: this process's environment) plus `extra_env`; BIND
    is always the socket this function binds.
    """
    base_env = os.environ if base_env is None else base_env
    env = {**base_env, **(extra_env or {})}
    if model:
        env["MODEL_PATH"] = model
    if env.get("MODEL_PATH"):
        # The server runs in the repository root: a relative path means this process's cwd.
        env["MODEL_PATH"] = str(Path(env["MODEL_PATH"]).resolve())
    if workers:
        env["WEB_CONCURRENCY"] = str(workers)
    with loopback_listener() as listener, open(log_path, "ab") as log_file:
        # Both close here: the server holds its own copies.
        port = listener.getsockname()[1]
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT, env={**env, "BIND": f"fd://{listener.fileno()}"},
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches this script, which then stops the server
            pass_fds=(listener.fileno(),),
        )
    server = ManagedServer(process, "127.0.0.1", port, Path(log_path))
    try:
        wait_until_ready(server.host, port, timeout, process)
    except BaseException:
        server.stop()
        raise
    return server


def wait_until_ready(host, port, timeout, process=None):
    """Poll GET /healthz until it answers 200; fail early if the server process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SoakError(f"the server exited with status {process.returncode} while starting")
        try:
            conn = http.client.HTTPConnection(host, port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.5)
    raise SoakError(f"the server on {host}:{port} was not ready after {timeout:g} s")


# ---------------------------------------------------------------- memory from /proc


def child_pids(pid):
    """All descendants of `pid` (gunicorn workers of a master), from /proc/<pid>/task/*/children."""
    found = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        for children_file in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                kids = [int(p) for p in children_file.read_text().split()]
            except OSError:
                continue
            found.extend(kids)
            pending.extend(kids)
    return found


def listening_pids(port):
    """Processes holding the listening socket on `port` (gunicorn's master and its workers share it)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "0A":  # 0A = LISTEN
                inodes.add(fields[9])
    targets = {f"socket:[{inode}]" for inode in inodes}
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in targets for fd in (proc / "fd").iterdir()):
                pids.append(int(proc.name))
        except OSError:
            continue
    return sorted(pids)


def rss_kib(pid):
    """Resident set size of one process in KiB (VmRSS in /proc/<pid>/status), None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def memory_snapshot(pids):
    """{"total_mib", "processes": {pid: mib}} for the live processes among `pids`."""
    sizes = {pid: rss_kib(pid) for pid in pids}
    live = {pid: kib for pid, kib in sizes.items() if kib is not None}
    return {
        "total_mib": round(sum(live.values()) / 1024, 1),
        "processes": {str(pid): round(kib / 1024, 1) for pid, kib in sorted(live.items())},
    }


# ---------------------------------------------------------------- load


@dataclass
class Outcome:
    """One request: the HTTP status (or an error name), its latency, whether it was retried."""

    status: str
    seconds: float
    retried: bool = False
    payload: bytes = field(default=b"", repr=False)


@dataclass
class LoadRun:
    outcomes: list = field(default_factory=list)
    seconds: float = 0.0
    hit_time_limit: bool = False


# The server dropped the connection: retried once on a fresh one, as a browser does.
DROPPED = {f"connection_error:{name}"
           for name in ("RemoteDisconnected", "ConnectionResetError", "BrokenPipeError")}


class FrameClient:
    """One simulated webcam page: a keep-alive connection posting frames one after another."""

    def __init__(self, host, port, timeout=REQUEST_TIMEOUT):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None

    def post(self, body, content_type):
        """One request, retried once if the server dropped the connection.

        An idle keep-alive connection closed by the server and a worker that died mid-request
        look the same from here, so the retry is reported and the latency keeps the first
        attempt's start: the time lost to a crash stays in the figures.
        """
        started = time.perf_counter()
        status, payload = self._attempt(body, content_type)
        retried = status in DROPPED
        if retried:
            status, payload = self._attempt(body, content_type)
        return Outcome(status, time.perf_counter() - started, retried, payload)

    def _attempt(self, body, content_type):
        try:
            return self._post_once(body, content_type)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return f"connection_error:{type(exc).__name__}", b""

    def _post_once(self, body, content_type):
        """(status, payload); status "bad_body" for a 200 without a prediction in it."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self.conn.request("POST", "/api/predict", body=body, headers={"Content-Type": content_type})
        response = self.conn.getresponse()
        payload = response.read()
        if response.will_close:
            self.close()
        if response.status == 200 and not _is_result(payload):
            return "bad_body", payload
        return str(response.status), payload

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _is_result(payload):
    try:
        body = json.loads(payload)
    except ValueError:
        return False
    return isinstance(body, dict) and "faces" in body and "emotion" in body


def run_load(host, port, bodies, total, clients, time_limit, stop):
    """`total` requests from `clients` concurrent clients, stopping early at `time_limit` or `stop`."""
    counter = itertools.count()
    lock = threading.Lock()
    run = LoadRun()
    deadline = time.monotonic() + time_limit

    def client_loop():
        client = FrameClient(host, port)
        mine = []
        try:
            while not stop.is_set():
                if time.monotonic() >= deadline:
                    run.hit_time_limit = True
                    break
                with lock:
                    index = next(counter)
                if index >= total:
                    break
                body, content_type = bodies[index % len(bodies)]
                mine.append(client.post(body, content_type))
        finally:
            client.close()
        return mine

    started = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=clients)
    try:
        futures = [pool.submit(client_loop) for _ in range(clients)]
        for future in futures:
            run.outcomes.extend(future.result())
    except BaseException:
        stop.set()  # Ctrl-C: clients finish the request in flight, then quit
        raise
    finally:
        pool.shutdown(wait=True)
    run.seconds = time.perf_counter() - started
    return run


# ---------------------------------------------------------------- report


def percentile(sorted_values, fraction):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), math.ceil(round(fraction * len(sorted_values), 9))))
    return sorted_values[rank - 1]


def summarize(warmup, main, memory_before, memory_after, config):
    """The run's report. Statuses, errors and retries are the main run's (the warm-up's apart);
    throughput and latency count only its 200 responses."""
    succeeded = [o for o in main.outcomes if o.status == "200"]
    failed = [o for o in main.outcomes if o.status != "200"]
    summary = {
        **config,
        "requests": len(main.outcomes),
        "warmup_requests": len(warmup.outcomes),
        "seconds": round(main.seconds, 2),
        "hit_time_limit": main.hit_time_limit,
        "throughput_rps": round(len(succeeded) / main.seconds, 2) if main.seconds else 0.0,
        "latency_ms": latency_ms(succeeded),
        "statuses": dict(sorted(Counter(o.status for o in main.outcomes).items())),
        "errors": error_counts(main.outcomes),
        "error_count": len(failed),
        "error_latency_ms": latency_ms(failed),
        "retries": sum(o.retried for o in main.outcomes),
        "warmup_errors": error_counts(warmup.outcomes),
        "warmup_retries": sum(o.retried for o in warmup.outcomes),
        "server_processes_changed": processes_changed(memory_before, memory_after),
        "memory_before": memory_before,
        "memory_after": memory_after,
    }
    if memory_before and memory_after and not summary["server_processes_changed"]:
        growth = memory_after["total_mib"] - memory_before["total_mib"]
        summary["memory_growth_mib"] = round(growth, 1)
        summary["memory_growth_percent"] = (
            round(100 * growth / memory_before["total_mib"], 1) if memory_before["total_mib"] else None)
    summary["problems"] = problems(summary)
    return summary


def latency_ms(outcomes):
    ordered = sorted(o.seconds * 1000 for o in outcomes)
    return {name: _round(percentile(ordered, q))
            for name, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))}


def error_counts(outcomes):
    return dict(sorted(Counter(o.status for o in outcomes if o.status != "200").items()))


def processes_changed(memory_before, memory_after):
    """{"gone": [pid], "new": [pid]} when the server's processes differ between the snapshots."""
    if not memory_before:
        return None
    before = set(memory_before["processes"])
    after = set((memory_after or {}).get("processes", ()))
    if before == after:
        return None
    return {"gone": sorted(before - after, key=int), "new": sorted(after - before, key=int)}


def problems(s):
    """Why the run failed, in words; empty when it did not."""
    found = []
    if s["error_count"]:
        found.append(f"{s['error_count']} of {s['requests']} requests failed")
    if s["retries"]:
        found.append(f"{s['retries']} request(s) retried after a dropped connection")
    if s["warmup_errors"]:
        found.append(f"{sum(s['warmup_errors'].values())} warm-up request(s) failed")
    if s["warmup_retries"]:
        found.append(f"{s['warmup_retries']} warm-up request(s) retried after a dropped connection")
    if s["server_processes_changed"]:
        found.append("the server's processes changed during the run (a worker was replaced)")
    return found


def _round(value):
    return None if value is None else round(value, 1)


def format_summary(s):
    lines = [
        f"MoodTunes soak: {s['requests']} requests from {s['clients']} clients against {s['target']}"
        f" ({s['frames']} distinct frames, {s['warmup_requests']} warm-up requests before)",
        f"  time         {s['seconds']} s{' (stopped by the time limit)' if s['hit_time_limit'] else ''}",
        f"  throughput   {s['throughput_rps']} req/s (200 responses only)",
        "  latency      " + _latency_text(s["latency_ms"]) + " (200 responses only)",
        "  statuses     " + _counts_text(s["statuses"]) + " (main run)",
        "  errors       " + _counts_text(s["errors"]) + " (main run)"
        + (f"; their latency {_latency_text(s['error_latency_ms'])}" if s["error_count"] else ""),
        f"  retries      {s['retries']} (main run), {s['warmup_retries']} (warm-up)",
        "  warm-up      errors " + _counts_text(s["warmup_errors"]),
        "  verdict      " + ("FAILED: " + "; ".join(s["problems"]) if s["problems"] else "no errors"),
    ]
    before, after = s.get("memory_before"), s.get("memory_after")
    changed = s.get("server_processes_changed")
    if changed:
        lines.append(f"  server RSS   growth not comparable: processes gone {changed['gone']}, "
                     f"new {changed['new']}")
    elif before and after:
        lines.append(f"  server RSS   {before['total_mib']} MiB after warm-up -> {after['total_mib']} MiB "
                     f"at the end ({s['memory_growth_mib']:+} MiB, {s['memory_growth_percent']:+}%)"
                     f" over {len(after['processes'])} processes")
    else:
        lines.append("  server RSS   unknown (cannot see the server's processes in /proc)")
    return "\n".join(lines)


def _latency_text(latency):
    return "  ".join(f"{k} {v} ms" for k, v in latency.items())


def _counts_text(counts):
    return ", ".join(f"{k}: {v}" for k, v in counts.items()) or "none"


# ---------------------------------------------------------------- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Load/soak test for MoodTunes' POST /api/predict (see the module docstring).")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--url", help="an already running server; must be on loopback")
    target.add_argument("--model", help="MODEL_PATH for the server this script starts")
    parser.add_argument("--workers", type=int, help="WEB_CONCURRENCY for the started server")
    parser.add_argument("--requests", type=int, default=2000, help="requests after the warm-up")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds for the main run")
    parser.add_argument("--warmup", type=int, default=50, help="requests before measuring memory")
    parser.add_argument("--video", default=str(DEFAULT_VIDEO), help="video whose frames are posted")
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    parser.add_argument("--server-log", help="keep the started server's log here")
    parser.add_argument("--json", action="store_true", help="print one JSON summary object")
    args = parser.parse_args(argv)
    for name in ("requests", "clients", "warmup"):
        if getattr(args, name) < (0 if name == "warmup" else 1):
            parser.error(f"--{name} is out of range")
    if args.url and args.workers:
        parser.error("--workers only applies to a server this script starts")
    return args


def soak(args):
    """Run the whole soak; returns the summary dict. Starts and always stops its own server."""
    address = loopback_address(args.url) if args.url else None  # refuse before any work
    bodies = [multipart_body(frame) for frame in load_frames(args.video)]
    if address:
        host, port = address
        wait_until_ready(host, port, args.startup_timeout)
        return measure(host, port, bodies, args, args.url, lambda: listening_pids(port))
    log_path, keep_log = _server_log(args.server_log)
    server = None
    try:
        server = start_server(log_path, args.model, args.workers, timeout=args.startup_timeout)
        target = f"gunicorn on http://{server.host}:{server.port} (model {args.model or 'default'})"
        return measure(server.host, server.port, bodies, args, target,
                       lambda: [server.pid, *child_pids(server.pid)])
    except Exception:
        keep_log = True  # it tells why the server failed
        print(f"the server's log is kept at {log_path}; its last lines:\n{_tail(log_path)}",
              file=sys.stderr)
        raise
    finally:
        if server is not None:
            server.stop()
        if not keep_log:
            log_path.unlink(missing_ok=True)


def measure(host, port, bodies, args, target, server_pids):
    """Warm up, read the server's memory, run the load, read it again."""
    warmup = run_load(host, port, bodies, args.warmup, args.clients, args.time_limit, args.stop)
    memory_before = _memory(server_pids())
    main_run = run_load(host, port, bodies, args.requests, args.clients, args.time_limit, args.stop)
    memory_after = _memory(server_pids())
    config = {"target": target, "clients": args.clients, "frames": len(bodies)}
    return summarize(warmup, main_run, memory_before, memory_after, config)


def _memory(pids):
    return memory_snapshot(pids) if pids else None


def _server_log(path):
    """(log path, keep it): --server-log with its folder created, else a temporary file."""
    if not path:
        return _temporary_log(), False
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SoakError(f"--server-log: cannot create the folder {path.parent}: {exc}") from None
    return path, True


def _temporary_log():
    handle, name = tempfile.mkstemp(prefix="moodtunes-soak-", suffix=".log")
    os.close(handle)
    return Path(name)


def _tail(path, lines=30):
    try:  # runs while reporting another error: must not raise one of its own
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read it: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def main(argv=None):
    args = parse_args(argv)
    args.stop = threading.Event()
    signal.signal(signal.SIGTERM, _interrupt)  # a SIGTERM cleans up like Ctrl-C does
    try:
        summary = soak(args)
    except KeyboardInterrupt:
        print("interrupted: the server this script started was stopped", file=sys.stderr)
        return 130
    except SoakError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 1 if summary["problems"] else 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
