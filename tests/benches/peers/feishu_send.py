"""The official Feishu Python SDK (lark-oapi) sending text messages, for the throughput bench
(tests/benches/throughput.rs), which runs it in the virtualenv scripts/bench-peers.sh makes.

Sends `--count` messages (`im/v1/messages?receive_id_type=user_id`, text "<prefix> <i>", a uuid per message:
32 hex digits of the text's SHA-256, as Qiao's Feishu connector sends one) from `--threads` threads sharing one
client, the way an application uses the SDK: the client fetches and caches the tenant token itself, and opens a
connection per request (its transport calls `requests.request`, no session). `--warmup` messages go first,
untimed, so the timed part includes neither the token fetch nor Python's imports. Prints one JSON line:
{"count", "seconds", "p50_ms", "p99_ms", "warmup", "sdk"}; exits 1 when any send was refused.
"""

import argparse
import hashlib
import importlib.metadata
import json
import math
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import lark_oapi as lark
from lark_oapi.api.im.v1 import CreateMessageRequest, CreateMessageRequestBody


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="the simulator's base URL")
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--app-secret", required=True)
    parser.add_argument("--receive-id", default="alice")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=16)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--prefix", default="lark-oapi")
    args = parser.parse_args()

    client = (
        lark.Client.builder()
        .app_id(args.app_id)
        .app_secret(args.app_secret)
        .domain(args.base)
        .log_level(lark.LogLevel.ERROR)
        .build()
    )
    failures = []
    lock = threading.Lock()

    def send(text: str) -> float:
        body = (
            CreateMessageRequestBody.builder()
            .receive_id(args.receive_id)
            .msg_type("text")
            .content(json.dumps({"text": text}))
            .uuid(hashlib.sha256(text.encode()).hexdigest()[:32])
            .build()
        )
        request = CreateMessageRequest.builder().receive_id_type("user_id").request_body(body).build()
        start = time.perf_counter()
        response = client.im.v1.message.create(request)
        elapsed = time.perf_counter() - start
        if not response.success():
            with lock:
                failures.append(f"{text}: code {response.code}, {response.msg}")
        return elapsed

    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        list(pool.map(send, [f"{args.prefix} warmup {i}" for i in range(args.warmup)]))
        start = time.perf_counter()
        latencies = list(pool.map(send, [f"{args.prefix} {i}" for i in range(args.count)]))
        seconds = time.perf_counter() - start

    if failures:
        print(f"{len(failures)} sends refused, first: {failures[0]}", file=sys.stderr)
        return 1
    latencies.sort()

    def percentile(p: float) -> float:
        return latencies[min(max(math.ceil(len(latencies) * p), 1), len(latencies)) - 1] * 1000

    print(json.dumps({
        "count": args.count,
        "seconds": seconds,
        "p50_ms": percentile(0.5),
        "p99_ms": percentile(0.99),
        "warmup": args.warmup,
        "sdk": "lark-oapi " + importlib.metadata.version("lark-oapi"),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
