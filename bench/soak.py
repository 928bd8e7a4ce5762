"""Load test: N clients post webcam frames to a gunicorn server this script starts.

    python bench/soak.py --requests 2000 --clients 8
    python bench/soak.py --model /tmp/tiny/tiny.keras --requests 40 --clients 4 --json

Reports requests/s and latency p50/p95/p99/max of the answered requests, and the server's
resident memory after --warmup requests and at the end (docs/benchmarks.md). Exit status 1 on
any error, any retried request (a dropped connection may be a worker that died mid-request) or
a replaced worker (its memory would not compare); 2 when there are no frames or the server
does not start.
"""

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/soak.py`

from bench.common import (  # noqa: E402
    bench_arguments, multipart_body, percentiles, post_frames, rss_mib, run_bench, start_server, whole)


def summarize(warmup, outcomes, seconds, memory_before, memory_after, clients):
    ok = [o for o in outcomes if o.result]
    latency = [o.seconds * 1000 for o in ok]
    s = {"requests": len(outcomes), "clients": clients, "seconds": round(seconds, 1),
         "requests_per_s": round(len(ok) / seconds, 1) if seconds else 0.0,
         "latency_ms": {**percentiles(latency, (50, 95, 99)),
                        "max": round(max(latency), 1) if latency else None},
         "errors": dict(Counter(o.status for o in outcomes if not o.result)),
         "retries": sum(o.retried for o in outcomes),
         "warmup_errors": sum(1 for o in warmup if not o.result or o.retried),
         "memory_mib": {"after_warmup": round(sum(memory_before.values()), 1),
                        "at_end": round(sum(memory_after.values()), 1),
                        "processes": len(memory_after)}}
    problems = [f"{n} request(s) answered {status}" for status, n in s["errors"].items()]
    if s["retries"]:
        problems.append(f"{s['retries']} request(s) retried after a dropped connection")
    if s["warmup_errors"]:
        problems.append(f"{s['warmup_errors']} warm-up request(s) failed or were retried")
    if set(memory_before) != set(memory_after):
        problems.append("the server's processes changed (a worker was replaced): "
                        "its memory does not compare")
    s["problems"] = problems
    return s


def text(s):
    latency = ", ".join(f"{k} {v} ms" for k, v in s["latency_ms"].items())
    memory = s["memory_mib"]
    return "\n".join([
        f"MoodTunes soak: {s['requests']} requests from {s['clients']} clients in {s['seconds']} s"
        + (" (stopped by --time-limit)" if s.get("stopped_by_time_limit") else ""),
        f"  throughput  {s['requests_per_s']} requests/s (200s only)",
        f"  latency     {latency} (200s only)",
        f"  server RSS  {memory['after_warmup']} MiB after the warm-up, {memory['at_end']} MiB at "
        f"the end ({memory['at_end'] - memory['after_warmup']:+.1f} MiB, {memory['processes']} processes)",
        "  verdict     " + ("FAILED: " + "; ".join(s["problems"]) if s["problems"] else "no errors")])


def soak(args, frames):
    """(summary, failed) of a run on a server this starts and stops."""
    bodies = [multipart_body(jpeg) for jpeg in frames]
    with tempfile.NamedTemporaryFile(prefix="soak-", suffix=".log") as log:
        with start_server(log.name, model=args.model, workers=args.workers) as server:
            deadline = time.monotonic() + args.time_limit
            warmup, _ = post_frames(server.port, bodies, args.warmup, args.clients, deadline)
            before = rss_mib(server.pids())
            outcomes, seconds = post_frames(server.port, bodies, args.requests, args.clients, deadline)
            after = rss_mib(server.pids())
    summary = summarize(warmup, outcomes, seconds, before, after, args.clients)
    summary["stopped_by_time_limit"] = len(outcomes) < args.requests
    return summary, bool(summary["problems"])


def main(argv=None):
    parser = bench_arguments(__doc__, clients=8, warmup=50)
    parser.add_argument("--workers", type=whole(1), help="WEB_CONCURRENCY for the server")
    parser.add_argument("--requests", type=whole(1), default=2000, help="requests measured (2000)")
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds at most (600)")
    args = parser.parse_args(argv)
    return run_bench("soak", args, lambda frames: soak(args, frames), text)


if __name__ == "__main__":
    sys.exit(main())
