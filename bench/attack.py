"""Attack run: hostile payloads against the real server on loopback; status, time and memory.

    python bench/attack.py [--model PATH] [--proxy] [--concurrency 8] [--slow-seconds 60]

Each payload from --concurrency clients at once to bench/common.py's server (--proxy: behind nginx),
/healthz probed and worker RSS sampled meanwhile; then slow clients while one client posts frames.
"""

import argparse
import contextlib
import io
import random
import socket
import struct
import sys
import tempfile
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/attack.py`

from bench.common import (  # noqa: E402
    VIDEO, Outcome, child_pids, exit_on_sigterm, get, multipart_body, percentiles, post_frames,
    rss_mib, start_proxy, start_server, video_frames, whole)


def png_bomb(width, height):
    """A valid, all-black 1-bit PNG: ~76 KB for 1 x 40,000,000, ~110 KB for 30000 x 30000."""
    row, packer = bytes(1 + (width + 7) // 8), zlib.compressobj(9)  # filter byte 0, then zero bits
    idat = b"".join(packer.compress(row * 4096) for _ in range(height // 4096))
    idat += packer.compress(row * (height % 4096)) + packer.flush()
    chunks = ((b"IHDR", struct.pack(">II5B", width, height, 1, 0, 0, 0, 0)), (b"IDAT", idat), (b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
        for kind, data in chunks)


def encoded(image, fmt, **options):
    image.save(buffer := io.BytesIO(), fmt, **options)
    return buffer.getvalue()


def jpeg_scan_bomb(side=4800, scans=8000, mode="L"):
    """A side x side progressive JPEG (grey, or `mode`) whose last scan is repeated: every scan walks
    every block."""
    data = encoded(Image.new(mode, (side, side), 128), "JPEG", progressive=True)
    return data[:-2] + data[data.rindex(b"\xff\xda"):-2] * scans + data[-2:]


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
    return {"jpeg-8000-scans": jpeg_scan_bomb(), "jpeg-cmyk-8000-scans": jpeg_scan_bomb(mode="CMYK"),
            "png-1x40000000": png_bomb(1, 40_000_000),
            "jpeg-damaged": damaged(frame, len(frame) // 4), "png-damaged": damaged(png, len(png) // 4),
            "jpeg-header-4000x4000": with_jpeg_size(encoded(photo, "JPEG", quality=90), 4000, 4000),
            "jpeg-6000x4000 (valid)": encoded(big, "JPEG", quality=90),
            "png-6000x4000 (valid)": encoded(big.convert("L"), "PNG")}


def run_payload(port, idle, send):
    """send() (its Outcomes) while /healthz is probed and each worker's RSS sampled."""
    probes, samples = [], []
    with ThreadPoolExecutor(1) as pool:
        sent = pool.submit(send)
        while not sent.done():
            samples.append(rss_mib(idle))
            probes.append(get(port, "/healthz")[0])
            time.sleep(0.1)
    outcomes = sent.result()
    peak = max((now.get(pid, 0) - mib for now in samples for pid, mib in idle.items()), default=0)
    return (f"status {','.join(sorted({o.status + ' retried' * o.retried for o in outcomes}))}  max "
            f"{max(o.seconds for o in outcomes):.2f} s  healthz {probes.count('200')}/{len(probes)}  "
            f"worker RSS +{peak:.0f} MiB over idle")


def slow_clients_run(port, frame, clients, seconds):
    """Slow clients (1 byte/s) while one client posts frames for `seconds`: that client's Outcomes."""
    body, content_type = multipart_body(frame)
    head = f"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
    whole_head, stop = (head + f"Content-Length: {len(body)}\r\n\r\n").encode(), threading.Event()

    def slow_client(fast, slow):  # an OSError: the server (nginx) gave up on it, a fair answer
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(fast)
            for byte in slow:
                sock.sendall(bytes([byte]))
                if stop.wait(1):
                    return

    for i in range(clients):  # half send their headers slowly, half their bodies
        threading.Thread(target=slow_client, args=[(b"", head.encode()), (whole_head, body)][i % 2]).start()
    time.sleep(2)  # let them take their connections
    try:
        return post_frames(port, [(body, content_type)], 10**6, 1, time.monotonic() + seconds - 2)[0]
    finally:
        stop.set()  # each ends within a second


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="MODEL_PATH for the server (default: the shipped model)")
    parser.add_argument("--proxy", action="store_true", help="put nginx with deploy/nginx.conf in front")
    for flag, default, low, high in (("--concurrency", 8, 1, 64), ("--slow-clients", 16, 1, 256),
                                     ("--slow-seconds", 60, 3, 600)):
        parser.add_argument(flag, type=whole(low, high), default=default, help=f"{low}..{high} ({default})")
    args = parser.parse_args(argv)
    frames, workdir, n = video_frames(), Path(tempfile.mkdtemp(prefix="attack-")), args.concurrency
    if not frames:
        sys.exit(f"attack: no frames: OpenCV read none from {VIDEO}")
    exit_on_sigterm()
    with start_server(workdir / "gunicorn.log", model=args.model, timeout=900) as server, \
            (start_proxy(server, workdir) if args.proxy else server) as front:
        port = front.port
        warm = post_frames(port, [multipart_body(frames[0])], 20, 2)[0]
        idle = rss_mib(child_pids(server.pid))  # after the warm-up: both workers hold the model
        print(f"idle worker RSS {', '.join(f'{mib:.0f}' for mib in idle.values())} MiB")
        for name, data in payloads(frames[0]).items():  # each sent by n clients at once
            report = run_payload(port, idle, lambda: post_frames(port, [multipart_body(data)], n, n)[0])
            print(f"{name:22} {len(data) / 1024:6.0f} KiB  {report}", flush=True)
        evil = lambda: get(port, "/api//playlists", {"Host": "evil.example"})  # noqa: E731
        report = run_payload(port, idle, lambda: [Outcome(*evil()[:2]) for _ in range(n)])
        print(f"{'host-header':22}      0 KiB  {report}  Location {evil()[2].get('Location')}")
        answers = slow_clients_run(port, frames[0], args.slow_clients, args.slow_seconds)
        p95 = [percentiles([o.seconds * 1000 for o in run], (95,))["p95"] for run in (answers, warm)]
        print(f"{args.slow_clients} slow clients, {args.slow_seconds} s: frames answered "
              f"{sum(o.status == '200' for o in answers)}/{len(answers)}, p95 {p95[0]} ms (idle: {p95[1]} ms)")


if __name__ == "__main__":
    main()
