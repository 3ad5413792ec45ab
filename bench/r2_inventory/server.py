"""moto as R2, in its own process so that the contenders' peak RSS is theirs alone.

    python -m bench.r2_inventory.server --objects N

Starts ThreadedMotoServer (quiet), creates the bucket, seeds N objects through moto's backend
(~0.07 ms an object instead of ~5 ms through HTTP), prints one JSON line (endpoint, seed time,
bytes) and then obeys commands on stdin, one per line, answering one JSON line each:

    change K    rewrite K/2 objects, delete K/4, add K - K/2 - K/4
    (EOF)       stop
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
import time

BUCKET = "chitty-r2-bench"
KINDS = ("person", "place", "thing", "event", "session")


def key(i: int) -> str:
    return f"entities/{KINDS[i % len(KINDS)]}/{i:08d}.json"


def body(i: int, version: int = 0) -> bytes:
    return json.dumps({"chittyId": f"CH-{i:08d}", "v": version, "payload": "x" * (i % 200)}).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, required=True)
    args = parser.parse_args()
    n = args.objects

    import boto3
    import botocore.config
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # otherwise every request is logged
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name="auto",
            aws_access_key_id="seed",
            aws_secret_access_key="seed",
            config=botocore.config.Config(signature_version="s3v4"),
        )
        # moto artefact: region "auto" needs an explicit location constraint (real R2 does not).
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "auto"})
        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        t0 = time.perf_counter()
        total = 0
        for i in range(n):
            data = body(i)
            total += len(data)
            backend.put_object(BUCKET, key(i), data)
        print(
            json.dumps({"endpoint": endpoint, "seed_s": round(time.perf_counter() - t0, 2), "bytes": total})
        )
        sys.stdout.flush()
        for line in sys.stdin:
            cmd, _, arg = line.strip().partition(" ")
            if cmd == "change":
                k = int(arg)
                rewritten, deleted = k // 2, k // 4
                added = k - rewritten - deleted
                for i in range(rewritten):
                    backend.put_object(BUCKET, key(i * 7 % n), body(i * 7 % n, version=1))
                for i in range(deleted):
                    backend.delete_object(BUCKET, key(n - 1 - i))
                for i in range(added):
                    backend.put_object(BUCKET, key(n + i), body(n + i))
                print(json.dumps({"rewritten": rewritten, "deleted": deleted, "added": added}))
                sys.stdout.flush()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
