"""Benchmark: the marketplace on its two backends (issue 22), and the S3 client it uses.

All servers are real processes on 127.0.0.1, started and stopped here: a throw-away
PostgreSQL cluster and SeaweedFS's S3 server (tests/backends.py, as the tests start them),
and `motivus marketplace serve` processes.

1. S3 client (how boto3 was chosen): boto3 (with the kit's settings, blobs.client_config)
   and obstore against the same SeaweedFS, one thread each, in one run: 200 PUTs and GETs
   of 64 KiB objects (ops/s: per-request overhead) and 8 of 16 MiB (MB/s: bulk), and the
   time to sign one presigned GET URL. A fresh SeaweedFS grows its volumes on the first
   writes (PUTs 10x slower for a few seconds): 300 PUTs of both sizes warm it up first.
2. Registry throughput, SQLite + directory beside PostgreSQL + S3 with 1 and 2 servers:
   pushes/s (8 clients at once, each pushing distinct versions of a ~20 KB package; round
   robin over the servers) and version reads/s (8 clients listing an algorithm of 40
   versions with an application token, the call every driver makes).
3. Downloads of a 32 MiB wasm, 4 at once: from a data directory (the server sends the
   file), from S3 streamed through the server, and presigned (straight from the bucket).

usage: python benchmarks/bench_marketplace.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import common  # noqa: E402
from backends import PostgresCluster, SeaweedS3, aws_environment  # noqa: E402
from marketplace_helpers import Seed, build_package, minimal_wasm  # noqa: E402

from motivus_dev.marketplace.server.location import RegistryLocation  # noqa: E402

ALGOS = "/api/package_registry/algorithms/"
CLIENTS = 8


class Serve:
    """`motivus marketplace serve --port 0` as a process."""

    def __init__(self, args: Sequence[str]) -> None:
        self.proc = subprocess.Popen([*common.MOTIVUS, "marketplace", "serve", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                self.url = match.group(1)
                break
        else:
            raise RuntimeError("the marketplace did not start")
        # Keep reading its output so that it never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def location_args(where: RegistryLocation) -> List[str]:
    if where.data_dir is not None:
        return ["--data-dir", str(where.data_dir)]
    return ["--database", where.database, "--blobs", where.blobs]


def rate(work: Callable[[int], None], count: int, clients: int = CLIENTS) -> float:
    """``count`` calls of ``work(i)`` spread over ``clients`` threads: calls per second."""
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(work, range(count)))
    return count / (time.perf_counter() - start)


# -- 1. the S3 client -------------------------------------------------------------------------


def s3_clients(s3: SeaweedS3) -> List[Dict[str, object]]:
    import boto3
    import obstore
    from obstore.store import S3Store

    from motivus_dev.marketplace.server.blobs import client_config

    figures: List[Dict[str, object]] = []
    small, big = os.urandom(64 * 1024), os.urandom(16 * 1024 * 1024)
    client = boto3.client("s3", endpoint_url=s3.endpoint, config=client_config())  # the kit's settings
    store = S3Store(s3.bucket, endpoint=s3.endpoint, region="us-east-1", access_key_id=s3.env()["AWS_ACCESS_KEY_ID"],
                    secret_access_key=s3.env()["AWS_SECRET_ACCESS_KEY"], client_options={"allow_http": True})

    def boto_put(key: str, data: bytes) -> None:
        client.put_object(Bucket=s3.bucket, Key=key, Body=data)

    def boto_get(key: str) -> bytes:
        return bytes(client.get_object(Bucket=s3.bucket, Key=key)["Body"].read())

    def obs_put(key: str, data: bytes) -> None:
        obstore.put(store, key, data)

    def obs_get(key: str) -> bytes:
        return bytes(obstore.get(store, key).bytes())

    for i in range(300):
        boto_put(f"bench-warm-up/{i}", big if i % 50 == 0 else small)
    for name, put, get in (("boto3", boto_put, boto_get), ("obstore", obs_put, obs_get)):
        start = time.perf_counter()
        for i in range(200):
            put(f"bench-{name}/small/{i}", small)
        puts = 200 / (time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(200):
            assert len(get(f"bench-{name}/small/{i}")) == len(small)
        gets = 200 / (time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(8):
            put(f"bench-{name}/big/{i}", big)
        put_mb = 8 * 16 / (time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(8):
            assert len(get(f"bench-{name}/big/{i}")) == len(big)
        get_mb = 8 * 16 / (time.perf_counter() - start)
        figures += [
            common.figure(f"s3 {name}: PUT 64 KiB", puts, "ops/s"),
            common.figure(f"s3 {name}: GET 64 KiB", gets, "ops/s"),
            common.figure(f"s3 {name}: PUT 16 MiB", put_mb, "MB/s"),
            common.figure(f"s3 {name}: GET 16 MiB", get_mb, "MB/s"),
        ]
    start = time.perf_counter()
    for i in range(1000):
        client.generate_presigned_url("get_object", Params={"Bucket": s3.bucket, "Key": f"k{i}"}, ExpiresIn=3600)
    # 1000 signatures: the seconds they took are the milliseconds one took.
    figures.append(common.figure("s3 boto3: sign one presigned URL", (time.perf_counter() - start), "ms"))
    from obstore import sign

    start = time.perf_counter()
    for i in range(1000):
        sign(store, "GET", f"k{i}", __import__("datetime").timedelta(hours=1))
    figures.append(common.figure("s3 obstore: sign one presigned URL", (time.perf_counter() - start), "ms"))
    return figures


# -- 2. and 3. the registry ------------------------------------------------------------------


def registry_figures(
    label: str, where: RegistryLocation, servers: int, work: Path, args: Sequence[str] = ()
) -> List[Dict[str, object]]:
    import httpx

    seed = Seed(where)
    running = [Serve([*location_args(where), *args]) for _ in range(servers)]
    try:
        urls = [s.url for s in running]
        packages = work / label / "packages"
        counter = iter(range(10**6))
        lock = threading.Lock()

        def push(i: int) -> None:
            with lock:
                n = next(counter)
            version = f"1.{n}.0"
            pkg = build_package(packages / version, "algo", version, wasm=minimal_wasm(20_000))
            with httpx.Client(timeout=120) as http:
                response = http.post(
                    f"{urls[i % len(urls)]}{ALGOS}{seed.algorithm_id}/versions",
                    data={"version": json.dumps({"name": version, "metadata": {}})},
                    files={"package": (pkg.name, pkg.read_bytes(), "application/zip")},
                    headers={"authorization": f"Bearer {seed.alice}"},
                )
            assert response.status_code == 201, response.text

        pushes = rate(push, 40)
        local = threading.local()

        def read(i: int) -> None:
            if not hasattr(local, "http"):
                local.http = httpx.Client(timeout=60)
            response = local.http.get(f"{urls[i % len(urls)]}{ALGOS}?name=algo",
                                      headers={"authorization": f"Bearer {seed.app}"})
            assert response.status_code == 200 and len(response.json()["data"][0]["versions"]) == 40

        read(0)
        reads = rate(read, 400)
        return [
            common.figure(f"marketplace {label}: pushes", pushes, "pushes/s"),
            common.figure(f"marketplace {label}: version reads", reads, "reads/s"),
        ]
    finally:
        for server in running:
            server.stop()


def download_figure(label: str, where: RegistryLocation, args: Sequence[str], work: Path) -> Dict[str, object]:
    import httpx

    seed = Seed(where)
    server = Serve([*location_args(where), *args])
    try:
        wasm = minimal_wasm(32 * 1024 * 1024)
        pkg = build_package(work / f"dl-{label}", "algo", "9.0.0", wasm=wasm)
        with httpx.Client(timeout=300) as http:
            response = http.post(
                f"{server.url}{ALGOS}{seed.algorithm_id}/versions",
                data={"version": json.dumps({"name": "9.0.0", "metadata": {}})},
                files={"package": (pkg.name, pkg.read_bytes(), "application/zip")},
                headers={"authorization": f"Bearer {seed.alice}"},
            )
            assert response.status_code == 201, response.text
            [version] = http.get(f"{server.url}{ALGOS}?name=algo",
                                 headers={"authorization": f"Bearer {seed.app}"}).json()["data"][0]["versions"]
        url = version["wasm_url"]

        def fetch(_: int) -> None:
            with httpx.Client(timeout=300) as http:
                assert len(http.get(url).content) == len(wasm)

        per_second = rate(fetch, 16, clients=4)
        return common.figure(f"download 32 MiB, 4 at once: {label}", per_second * 32 * 1.048576, "MB/s")
    finally:
        server.stop()


def main() -> int:
    work = common.work_dir() / "marketplace"
    figures: List[Dict[str, object]] = []
    pg, s3 = PostgresCluster(), SeaweedS3()
    try:
        with aws_environment(s3):
            print("== S3 client: boto3 and obstore on SeaweedFS", flush=True)
            figures += s3_clients(s3)

            def distributed() -> RegistryLocation:
                return RegistryLocation.of(None, database=pg.create_database(), blobs=s3.blobs_url(),
                                           s3_endpoint_url=s3.endpoint)

            stamp = str(int(time.time()))
            cases: List[Tuple[str, RegistryLocation, int, Sequence[str]]] = [
                ("SQLite + directory, 1 server", RegistryLocation.of(work / stamp / "sqlite"), 1, ()),
                ("PostgreSQL + S3, 1 server", distributed(), 1, ()),
                ("PostgreSQL + S3, 2 servers", distributed(), 2, ()),
                ("PostgreSQL + S3, 1 server, --presign", distributed(), 1, ("--presign",)),
            ]
            for label, where, servers, args in cases:
                print(f"== registry: {label}", flush=True)
                figures += registry_figures(label, where, servers, work / stamp, args)
            print("== downloads", flush=True)
            figures.append(download_figure("data directory", RegistryLocation.of(work / stamp / "dl"), [], work))
            figures.append(download_figure("S3, streamed by the server", distributed(), [], work))
            figures.append(download_figure("S3, presigned", distributed(), ["--presign"], work))
    finally:
        s3.stop()
        pg.stop()
    common.emit_json(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
