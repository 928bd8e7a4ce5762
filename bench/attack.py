"""Attack run: hostile payloads against the real server on loopback; status, time and memory.

    python bench/attack.py [--model PATH] [--proxy] [--concurrency 8] [--slow-seconds 60]

Starts gunicorn (gunicorn.conf.py) on a free 127.0.0.1 port, with --proxy behind nginx with
deploy/nginx.conf, and sends each payload (in payloads()) --concurrency times at once, probing
/healthz and sampling each worker's RSS (/proc) against its idle size meanwhile. Then slow
clients (headers or bodies at 1 byte/s) hold connections for --slow-seconds while one client
posts frames: its answers and p95 against its idle p95. Loopback only, bounded in count and time.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

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
    chunks = [(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)), (b"IDAT", idat), (b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)) for kind, body in chunks)


def encoded(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg_scan_bomb(side=4800, scans=8000):
    """A grey side x side progressive JPEG whose last scan is repeated: every scan walks every block."""
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
    photo = Image.open(io.BytesIO(frame)).convert("RGB")
    png = encoded(photo, "PNG")
    big = photo.resize((6000, 4000))  # at MAX_IMAGE_PIXELS: what a 24 MP camera sends
    return {
        "jpeg-8000-scans": jpeg_scan_bomb(),
        "png-1x40000000": png_bomb(1, 40_000_000),
        "jpeg-damaged": damaged(frame, len(frame) // 4),
        "png-damaged": damaged(png, len(png) // 4),
        "jpeg-header-4000x4000": with_jpeg_size(encoded(photo, "JPEG", quality=90), 4000, 4000),
        "jpeg-6000x4000 (valid)": encoded(big, "JPEG", quality=90),
        "png-6000x4000 (valid)": encoded(big.convert("L"), "PNG"),
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


def post_image(port, image):
    body, content_type = multipart_body(image)
    return request(port, "POST", "/api/predict", body, {"Content-Type": content_type})


def run_payload(port, workers, idle, data, concurrency, send):
    """`concurrency` sends at once, /healthz probed and each worker's RSS sampled meanwhile."""
    probes, peak, stop = [], [0], threading.Event()

    def watch():
        while not stop.wait(0.1):
            peak[0] = max([peak[0]] + [(rss_kib(pid) or 0) - idle[pid] for pid in workers])
            probes.append(request(port, "GET", "/healthz", timeout=5)[0])

    with ThreadPoolExecutor(concurrency + 1) as pool:
        pool.submit(watch)
        results = list(pool.map(lambda _: send(port, data), range(concurrency)))
        stop.set()
    statuses = ",".join(sorted({str(status) for status, _, _ in results}))
    return (f"status {statuses}  max {max(t for _, t, _ in results):.2f} s  healthz "
            f"{probes.count(200)}/{len(probes)}  worker RSS +{peak[0] / 1024:.0f} MiB over idle")


def slow_client(port, fast, slow, stop):
    """Send `fast` at once, then `slow` one byte a second until `stop` is set."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(fast)
            for byte in slow:
                sock.sendall(bytes([byte]))
                if stop.wait(1):
                    return
        except OSError:  # the server (nginx) gave up on it: a fair answer
            return


def slow_clients_run(port, frame, clients, seconds):
    """Slow clients (half sending their headers, half their bodies) while one client posts
    frames for `seconds`: that client's (status, seconds, headers)."""
    body, content_type = multipart_body(frame)
    head = f"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
    whole_head = (head + f"Content-Length: {len(body)}\r\n\r\n").encode()
    stop, answers = threading.Event(), []
    with ThreadPoolExecutor(clients) as pool:
        for i in range(clients):
            pool.submit(slow_client, port, *((whole_head, body) if i % 2 else (b"", head.encode())), stop)
        time.sleep(2)  # let them take their connections
        end = time.monotonic() + seconds - 2
        while time.monotonic() < end:
            answers.append(post_image(port, frame))
        stop.set()
    return answers


def start_proxy(upstream_port, workdir):
    """nginx with deploy/nginx.conf on a free loopback port, in front of `upstream_port`: (process, port)."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    site = NGINX_SITE.read_text().replace("listen 80;", f"listen 127.0.0.1:{port};")
    site = site.replace("server 127.0.0.1:8000", f"server 127.0.0.1:{upstream_port}")
    workdir = Path(workdir)
    temp = " ".join(f"{kind}_temp_path {workdir / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (workdir / "nginx.conf").write_text(
        f"daemon off; worker_processes 1; pid {workdir / 'nginx.pid'};\n"
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
    proxy, port = (None, server.port)
    try:
        if args.proxy:
            proxy, port = start_proxy(server.port, workdir)
        frame = load_frames(limit=1)[0]
        idle_times = sorted(post_image(port, frame)[1] for _ in range(20))  # both workers warm
        workers = child_pids(server.pid)
        idle = {pid: rss_kib(pid) or 0 for pid in workers}
        print(f"idle worker RSS {', '.join(f'{kib / 1024:.0f}' for kib in idle.values())} MiB")
        host = {"Host": "evil.example"}
        sends = {name: (data, post_image) for name, data in payloads(frame).items()}
        sends["host-header"] = (b"", lambda p, _: request(p, "GET", "/api//playlists", headers=host))
        for name, (data, send) in sends.items():
            print(f"{name:22} {len(data) / 1024:6.0f} KiB  "
                  f"{run_payload(port, workers, idle, data, args.concurrency, send)}", flush=True)
        print(f"host-header Location: {request(port, 'GET', '/api//playlists', headers=host)[2].get('Location')}")
        answers = slow_clients_run(port, frame, args.slow_clients, args.slow_seconds)
        times = sorted(t for _, t, _ in answers)
        print(f"{args.slow_clients} slow clients, {args.slow_seconds} s: frames answered "
              f"{sum(1 for a in answers if a[0] == 200)}/{len(answers)}, p95 "
              f"{percentile(times, 0.95) * 1000:.0f} ms (idle p95 {percentile(idle_times, 0.95) * 1000:.0f} ms)")
    finally:
        if proxy:
            proxy.terminate()
            proxy.wait(10)
        server.stop()


if __name__ == "__main__":
    main()
