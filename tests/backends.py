"""The marketplace's distributed backends as real servers, for tests and benchmarks: a
throw-away PostgreSQL cluster (Debian's packages: ``initdb`` under a temporary directory, on
a free port) and SeaweedFS's S3 server (``weed server -s3``, built by scripts/seaweedfs.sh).
Each is started by whoever asks for it and stopped by it (conftest.py: once per run).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Dict, Iterator, List, Optional

ROOT = Path(__file__).resolve().parents[1]
S3_ACCESS_KEY = "kit-test-access"
S3_SECRET_KEY = "kit-test-secret-0123456789"
S3_REGION = "us-east-1"


class Unavailable(Exception):
    """A backend this machine cannot start (its programs are missing): the reason."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(check: "callable[[], bool]", proc: subprocess.Popen, what: str, log: Path, timeout: float) -> None:  # type: ignore[valid-type]
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if check():
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen, grace: float) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- PostgreSQL -----------------------------------------------------------------------------


def postgresql_bin() -> Path:
    """The newest Debian PostgreSQL server's bin directory."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise Unavailable("needs the PostgreSQL server (Debian package postgresql) for the marketplace's tests")
    return Path(found[-1]).parent


class PostgresCluster:
    """``initdb`` + ``pg_ctl start`` in a temporary directory, on 127.0.0.1 and a free port,
    trust authentication for the superuser ``kit``. As root (CI), the server runs as the
    ``postgres`` user that Debian's package creates: initdb refuses to run as root."""

    def __init__(self) -> None:
        self.bin = postgresql_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="motivus-pg-"))
        self.port = free_port()
        self._prefix: List[str] = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise Unavailable("running as root needs the `postgres` user (Debian package postgresql)") from exc
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self._prefix = ["runuser", "-u", "postgres", "--"]
        data = self.dir / "data"
        self._run([str(self.bin / "initdb"), "-D", str(data), "-U", "kit", "--auth=trust", "-E", "UTF8",
                   "--no-sync"])
        options = f"-k {self.dir} -p {self.port} -h 127.0.0.1 -c fsync=off -c max_connections=200"
        self._run([str(self.bin / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.dir / "log"),
                   "-w", "-t", "60", "start"])
        self.data = data

    def _run(self, argv: List[str]) -> None:
        done = subprocess.run(self._prefix + argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://kit@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(self.dir, ignore_errors=True)


# -- SeaweedFS ------------------------------------------------------------------------------


def weed_binary() -> Path:
    """The ``weed`` scripts/seaweedfs.sh built (it builds it once; quick when cached)."""
    if shutil.which("go") is None and not os.environ.get("MOTIVUS_WEED"):
        raise Unavailable("needs Go to build SeaweedFS (scripts/seaweedfs.sh) for the S3 tests")
    if os.environ.get("MOTIVUS_WEED"):
        return Path(os.environ["MOTIVUS_WEED"])
    done = subprocess.run(["bash", str(ROOT / "scripts" / "seaweedfs.sh")], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/seaweedfs.sh failed:\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


class SeaweedS3:
    """``weed server`` (master, volume, filer and S3 gateway in one process) on 127.0.0.1,
    with one identity (the S3_* keys) and one bucket ``kit``."""

    bucket = "kit"

    def __init__(self) -> None:
        weed = weed_binary()
        self.dir = Path(tempfile.mkdtemp(prefix="motivus-s3-"))
        (self.dir / "data").mkdir()
        config = self.dir / "s3.json"
        config.write_text(
            '{"identities":[{"name":"kit","credentials":[{"accessKey":"%s","secretKey":"%s"}],'
            '"actions":["Admin","Read","Write","List","Tagging"]}]}' % (S3_ACCESS_KEY, S3_SECRET_KEY)
        )
        ports = [free_port() for _ in range(8)]
        self.port = ports[6]
        argv = [
            str(weed), "server", f"-dir={self.dir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={ports[0]}", f"-master.port.grpc={ports[1]}",
            f"-volume.port={ports[2]}", f"-volume.port.grpc={ports[3]}", "-volume.max=16",
            "-master.volumeSizeLimitMB=256",
            "-filer", f"-filer.port={ports[4]}", f"-filer.port.grpc={ports[5]}",
            "-s3", f"-s3.port={ports[6]}", f"-s3.port.grpc={ports[7]}", f"-s3.config={config}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]
        self.log_path = self.dir / "weed.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            _wait(self._bucket_ready, self.proc, "weed server -s3", self.log_path, 90)
        except BaseException:
            self.stop()
            raise

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> Dict[str, str]:
        """The AWS variables that point a client at this server."""
        return {
            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
            "AWS_DEFAULT_REGION": S3_REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def client(self) -> "object":
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY, region_name=S3_REGION,
        )

    def _bucket_ready(self) -> bool:
        client = self.client()
        with contextlib.suppress(Exception):
            client.create_bucket(Bucket=self.bucket)  # type: ignore[attr-defined]
        client.head_bucket(Bucket=self.bucket)  # type: ignore[attr-defined]
        return True

    def blobs_url(self, prefix: Optional[str] = None) -> str:
        """A fresh prefix of the bucket, as ``--blobs`` takes it."""
        return f"s3://{self.bucket}/{prefix or uuid.uuid4().hex[:12]}"

    def keys(self, blobs_url: str) -> List[str]:
        """Every object under a ``--blobs`` URL."""
        prefix = blobs_url.split("/", 3)[3] + "/"
        client = self.client()
        keys: List[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(  # type: ignore[attr-defined]
            Bucket=self.bucket, Prefix=prefix
        ):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return keys

    def stop(self) -> None:
        # It does not stop promptly on SIGTERM (../shared/notes/s3.md): a short grace, then SIGKILL.
        _stop(self.proc, 3)
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def aws_environment(server: SeaweedS3) -> Iterator[None]:
    """The process's AWS variables point at ``server`` meanwhile (servers started as child
    processes inherit them)."""
    saved = {key: os.environ.get(key) for key in server.env()}
    os.environ.update(server.env())
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
