"""Attack run: hostile payloads against the real server on loopback; status, time and memory.

    python bench/attack.py [--model PATH] [--proxy] [--concurrency 8] [--slow-seconds 60]

Starts `gunicorn -c gunicorn.conf.py wsgi:app` on a free 127.0.0.1 port (with --proxy, nginx
with deploy/nginx.conf in front of it, as deployed) and sends each payload --concurrency times
at once: a JPEG of 8,000 progressive scans, a 1 x 40,000,000 PNG, a JPEG and a PNG with damaged
bytes, a JPEG whose header claims 4000x4000, a Host header on a path Werkzeug would redirect.
Meanwhile /healthz is probed; each worker's RSS (from /proc) is sampled against its idle size.
Then slow clients (headers, then bodies, at 1 byte/s for --slow-seconds) hold connections while
one normal client posts frames: its answers and p95 latency against its idle p95.
Loopback only, a bounded number of requests, every socket with a timeout.
"""

import argparse
import http.client
import io
import random
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.soak import child_pids, load_frames, multipart_body, percentile, rss_kib, start_server  # noqa: E402

NGINX_SITE = ROOT / "deploy" / "nginx.conf"


def png_bomb(width, height):
    """A valid, all-black 1-bit PNG: ~76 KB for 1 x 40,000,000, ~110 KB for 30000 x 30000."""
    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then zero bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row * 4096) for _ in range(height // 4096))
    idat += packer.compress(row * (height % 4096)) + packer.flush()
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))


def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def encoded(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg_scan_bomb(side=4800, scans=8000):
    """A grey side x side progressive JPEG whose last scan is repeated: every scan walks every block."""
    from PIL import Image

    data = encoded(Image.new("L", (side, side), 128), "JPEG", progressive=True)
    last = data.rindex(b"\xff\xda")
    return data[:-2] + data[last:-2] * scans + data[-2:]


def damaged(data, start, count=200, seed=0):
    """`data` with `count` bytes after `start` set to random values (never 0xFF)."""
    rng, out = random.Random(seed), bytearray(data)
    for at in rng.sample(range(start, len(data) - 2), count):
        out[at] = rng.randrange(255)
    return bytes(out)


def with_jpeg_size(data, width, height):
    """A baseline JPEG whose frame header claims width x height; its data stays the same."""
    sof = data.index(b"\xff\xc0")
    return data[:sof + 5] + struct.pack(">HH", height, width) + data[sof + 9:]


def payloads(frame):
    from PIL import Image

    photo = Image.open(io.BytesIO(frame)).convert("RGB")
    png = encoded(photo, "PNG")
    return {
        "jpeg-8000-scans": jpeg_scan_bomb(),
        "png-1x40000000": png_bomb(1, 40_000_000),
        "jpeg-damaged": damaged(frame, len(frame) // 4),
        "png-damaged": damaged(png, len(png) // 4),
        "jpeg-header-4000x4000": with_jpeg_size(encoded(photo, "JPEG", quality=90), 4000, 4000),
    }


def request(port, method, path, body=None, headers=None, timeout=30):
    """(status, seconds, response headers) of one request on a fresh connection."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - started, dict(response.getheaders())
    except (OSError, http.client.HTTPException) as exc:
        return type(exc).__name__, time.perf_counter() - started, {}
    finally:
        conn.close()


def post_image(port, image, timeout=30):
    body, content_type = multipart_body(image)
    return request(port, "POST", "/api/predict", body, {"Content-Type": content_type}, timeout)


class Watch:
    """While open: /healthz probed every 0.2 s, each worker's RSS sampled every 0.05 s."""

    def __init__(self, port, workers):
        self.port, self.workers = port, workers
        self.idle = {pid: rss_kib(pid) or 0 for pid in workers}
        self.peak_growth_kib, self.probes = 0, []
        self._stop = threading.Event()

    def __enter__(self):
        self._threads = [threading.Thread(target=self._sample), threading.Thread(target=self._probe)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _sample(self):
        while not self._stop.wait(0.05):
            for pid in self.workers:
                growth = (rss_kib(pid) or 0) - self.idle[pid]
                self.peak_growth_kib = max(self.peak_growth_kib, growth)

    def _probe(self):
        while not self._stop.wait(0.2):
            self.probes.append(request(self.port, "GET", "/healthz", timeout=5)[0])


def run_payload(port, workers, data, concurrency, send):
    results = [None] * concurrency
    with Watch(port, workers) as watch:
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, send(port, data)))
                   for i in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    statuses = sorted({str(status) for status, _, _ in results})
    healthy = sum(1 for status in watch.probes if status == 200)
    return (f"status {','.join(statuses)}  max {max(t for _, t, _ in results):.2f} s  "
            f"healthz {healthy}/{len(watch.probes)}  worker RSS +{watch.peak_growth_kib / 1024:.0f} MiB")


def slow_client(port, head, body, seconds, stop):
    """Send `head` then `body`, one byte a second, for at most `seconds`."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for byte in (head + body)[:seconds]:
            if stop.is_set():
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return
            stop.wait(1)


def slow_clients_run(port, frame, clients, seconds):
    """Slow clients (half sending headers, half bodies) while one client posts frames; its times."""
    body, content_type = multipart_body(frame)
    head = f"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
    heads = [head.encode(), (head + f"Content-Length: {len(body)}\r\n\r\n").encode()]
    stop = threading.Event()
    slow = [threading.Thread(target=slow_client, args=(port, heads[i % 2], body if i % 2 else b"", seconds, stop))
            for i in range(clients)]
    for thread in slow:
        thread.start()
    time.sleep(2)  # let them take their connections
    answers, end = [], time.monotonic() + seconds - 2
    while time.monotonic() < end:
        answers.append(post_image(port, frame))
    stop.set()
    for thread in slow:
        thread.join()
    return answers


def start_proxy(upstream_port, workdir):
    """nginx with deploy/nginx.conf on a free loopback port, in front of `upstream_port`: (process, port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    site = NGINX_SITE.read_text().replace("listen 80;", f"listen 127.0.0.1:{port};")
    site = site.replace("server 127.0.0.1:8000", f"server 127.0.0.1:{upstream_port}")
    workdir = Path(workdir)
    temp = " ".join(f"{kind}_temp_path {workdir / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (workdir / "nginx.conf").write_text(
        f"daemon off; master_process on; worker_processes 1; pid {workdir / 'nginx.pid'};\n"
        f"error_log {workdir / 'nginx-error.log'} warn;\nevents {{ worker_connections 512; }}\n"
        f"http {{ access_log off; {temp}\n{site}\n}}\n")
    process = subprocess.Popen(["nginx", "-p", str(workdir), "-c", str(workdir / "nginx.conf")],
                               stdin=subprocess.DEVNULL, start_new_session=True)
    for _ in range(100):
        if request(port, "GET", "/healthz", timeout=2)[0] == 200:
            return process, port
        time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"nginx did not answer on port {port}; see {workdir / 'nginx-error.log'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="MODEL_PATH for the server (default: the shipped model)")
    parser.add_argument("--proxy", action="store_true", help="put nginx with deploy/nginx.conf in front")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--slow-clients", type=int, default=16)
    parser.add_argument("--slow-seconds", type=int, default=60)
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="attack-")
    server = start_server(Path(workdir) / "gunicorn.log", model=args.model, timeout=900)
    proxy = None
    try:
        port = server.port
        if args.proxy:
            proxy, port = start_proxy(server.port, workdir)
        time.sleep(5)  # both workers loaded (the first /healthz 200 may come from one)
        workers = child_pids(server.pid)
        frame = load_frames(limit=1)[0]
        for name, data in payloads(frame).items():
            print(f"{name:24} {len(data) / 1024:7.0f} KiB  "
                  f"{run_payload(port, workers, data, args.concurrency, post_image)}", flush=True)
        host = {"Host": "evil.example"}
        redirect = run_payload(port, workers, None, args.concurrency,
                               lambda p, _: request(p, "GET", "//api//playlists", headers=host))
        location = request(port, "GET", "//api//playlists", headers=host)[2].get("Location")
        print(f"{'host-header':24} {'':11} {redirect}  Location {location}", flush=True)
        idle = sorted(post_image(port, frame)[1] for _ in range(20))
        answers = slow_clients_run(port, frame, args.slow_clients, args.slow_seconds)
        times = sorted(t for _, t, _ in answers)
        ok = sum(1 for status, _, _ in answers if status == 200)
        print(f"{args.slow_clients} slow clients, {args.slow_seconds} s: frames answered {ok}/{len(answers)}, "
              f"p95 {percentile(times, 0.95) * 1000:.0f} ms (idle p95 {percentile(idle, 0.95) * 1000:.0f} ms)")
    finally:
        if proxy:
            proxy.terminate()
            proxy.wait(10)
        server.stop()


if __name__ == "__main__":
    main()
