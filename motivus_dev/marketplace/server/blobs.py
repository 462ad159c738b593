"""Where the registry's package files live: content-addressed blobs (named by their sha256)
in a local directory or in an S3-compatible bucket, behind one small interface.

Blobs are immutable: a blob that exists already holds the same bytes, so storing it again
is skipped and two servers storing one blob at once both succeed harmlessly. Whether a blob
is *visible* is the database's business (a version row that names it), never the store's.

The S3 client is boto3, chosen by measurement (benchmarks/bench_marketplace.py, one run on
SeaweedFS, one thread, docs/benchmarks.md): obstore did more small requests per second
(64 KiB PUT 284/s against 171/s, GET 567/s against 225/s), boto3 read large objects twice
as fast (16 MiB GET 686 MB/s against 326 MB/s; PUT 84 against 95 MB/s), which is what a
server streaming packages does; a push's few PUTs (~6 ms each) are a small part of its
~60 ms. boto3 also brings presigned URLs with response headers, per-request SHA-256
checksums and the whole AWS configuration chain (profiles, SSO, instance roles,
AWS_ENDPOINT_URL) that operators already use; its slower signing (0.5 ms a URL against
0.03 ms) is paid once per URL and half its lifetime (:meth:`S3Blobs.presigned_url`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any, Dict, Iterator, Optional, Protocol, Tuple

from motivus_dev.errors import MarketplaceError
from motivus_dev.marketplace.server.location import RegistryLocation, s3_bucket_and_prefix

CHUNK = 1024 * 1024
#: What a presigned download URL is valid for unless the server says otherwise: long enough
#: for a driver's run to fetch what it resolved, short enough to be useless once leaked.
PRESIGN_SECONDS = 3600
#: Presigned URLs kept for reuse (about 400 bytes each): forgotten all at once past this.
_SIGNED_KEEP = 20_000


class BlobStore(Protocol):
    """Content-addressed, immutable file storage."""

    def describe(self) -> str: ...

    def has(self, sha256: str) -> bool: ...

    def put(self, sha256: str, source: Path) -> None:
        """Store the file ``source`` (whose sha256 the caller computed) under ``sha256``;
        ``source`` may be moved away."""

    def open(self, sha256: str) -> IO[bytes]:
        """The blob's bytes (raises FileNotFoundError when it is not stored)."""

    def size(self, sha256: str) -> Optional[int]:
        """The blob's size in bytes, None when it is not stored."""

    def local_path(self, sha256: str) -> Optional[Path]:
        """The blob as a local file, when the store keeps it in one."""

    def digests(self) -> Iterator[Tuple[str, int]]:
        """Every stored blob's sha256 and size."""

    def delete(self, sha256: str) -> None: ...

    def presigned_url(self, sha256: str, file_name: str, content_type: str, seconds: int) -> Optional[str]:
        """A short-lived URL that downloads the blob from the store itself (None: not offered)."""

    def scratch_root(self) -> Path:
        """Where uploads in progress are unpacked (on the blobs' file system when local)."""

    def clean_scratch(self) -> int:
        """Remove what interrupted uploads left in scratch space; how many entries."""

    def close(self) -> None: ...


def verify(store: BlobStore, sha256: str) -> Optional[str]:
    """None when the stored blob hashes to its name, else what is wrong."""
    digest = hashlib.sha256()
    try:
        with store.open(sha256) as stream:
            for chunk in iter(lambda: stream.read(CHUNK), b""):
                digest.update(chunk)
    except FileNotFoundError:
        return f"missing blob {sha256}"
    if digest.hexdigest() != sha256:
        return f"corrupt blob {sha256}"
    return None


def open_blobs(location: RegistryLocation) -> BlobStore:
    if location.blobs_in_s3:
        return S3Blobs(location.blobs, location.s3_endpoint_url)
    return LocalBlobs(Path(location.blobs), location.data_dir)


class LocalBlobs:
    """``DIR/ab/abcdef...``; a file is fsynced in the scratch dir, renamed into place
    (atomic on one file system) and its directory fsynced."""

    def __init__(self, directory: Path, data_dir: Optional[Path]) -> None:
        self.directory = Path(directory).expanduser()
        self.tmp_dir = (Path(data_dir) if data_dir is not None else self.directory.parent) / "tmp"
        for path in (self.directory, self.tmp_dir):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise MarketplaceError(
                    f"cannot create the marketplace directory {path}: {exc.strerror or exc}",
                    hint="choose a directory you may write to (--data-dir or --blobs)",
                ) from exc

    def describe(self) -> str:
        return str(self.directory)

    def path(self, sha256: str) -> Path:
        return self.directory / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put(self, sha256: str, source: Path) -> None:
        dest = self.path(sha256)
        if dest.exists():
            return
        dest.parent.mkdir(exist_ok=True)
        try:  # the scratch file is fsynced already (validation.fsync_write, extract_package)
            os.replace(source, dest)
        except OSError:  # another file system (a --blobs dir apart from the scratch dir)
            shutil.copyfile(source, dest.with_suffix(".partial"))
            _fsync_file(dest.with_suffix(".partial"))
            os.replace(dest.with_suffix(".partial"), dest)
        _fsync_dir(dest.parent)

    def open(self, sha256: str) -> IO[bytes]:
        return open(self.path(sha256), "rb")

    def size(self, sha256: str) -> Optional[int]:
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def local_path(self, sha256: str) -> Optional[Path]:
        return self.path(sha256)

    def digests(self) -> Iterator[Tuple[str, int]]:
        for path in sorted(self.directory.glob("*/*")):
            if path.is_file() and len(path.name) == 64:
                yield path.name, path.stat().st_size

    def delete(self, sha256: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(sha256).unlink()

    def presigned_url(self, sha256: str, file_name: str, content_type: str, seconds: int) -> Optional[str]:
        return None

    def scratch_root(self) -> Path:
        return self.tmp_dir

    def clean_scratch(self) -> int:
        return _remove_entries(list(self.tmp_dir.iterdir()))

    def close(self) -> None:
        pass


class S3Blobs:
    """``s3://bucket/prefix/ab/abcdef...`` through boto3. Uploads are validated in a
    temporary directory of this process (removed on close), then stored with boto3's
    managed transfer (multipart for large files)."""

    def __init__(self, url: str, endpoint_url: Optional[str]) -> None:
        try:
            import boto3
        except ImportError as exc:
            raise MarketplaceError(
                "S3 blob stores need boto3", hint="pip install 'motivus-dev[marketplace]'"
            ) from exc
        self.url = url
        self.bucket, prefix = s3_bucket_and_prefix(url)
        self.prefix = f"{prefix}/" if prefix else ""
        self._client = boto3.client("s3", endpoint_url=endpoint_url, config=client_config())
        self._scratch = _process_scratch()
        self._signed: Dict[Tuple[str, str, str, int], Tuple[str, float]] = {}
        self._signed_lock = threading.Lock()
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            self.close()
            raise MarketplaceError(
                f"cannot reach the bucket {self.bucket!r} ({endpoint_url or 'AWS'}): {_s3_reason(exc)}",
                hint="create the bucket, and check AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            ) from exc

    def describe(self) -> str:
        return self.url

    def key(self, sha256: str) -> str:
        return f"{self.prefix}{sha256[:2]}/{sha256}"

    def has(self, sha256: str) -> bool:
        return self.size(sha256) is not None

    def size(self, sha256: str) -> Optional[int]:
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except Exception as exc:
            if _s3_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise _s3_failure("read", self.key(sha256), exc) from exc
        return int(head["ContentLength"])

    def put(self, sha256: str, source: Path) -> None:
        """One PUT (packages are far below S3's 5 GB limit of one) with ``x-amz-checksum-sha256``:
        the store refuses bytes that do not hash to the blob's name."""
        if self.has(sha256):
            return
        checksum = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
        try:
            with open(source, "rb") as body:
                self._client.put_object(Bucket=self.bucket, Key=self.key(sha256), Body=body, ChecksumSHA256=checksum)
        except Exception as exc:
            raise _s3_failure("store", self.key(sha256), exc) from exc

    def open(self, sha256: str) -> IO[bytes]:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self.key(sha256))
        except Exception as exc:
            if _s3_code(exc) in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(self.key(sha256)) from exc
            raise _s3_failure("read", self.key(sha256), exc) from exc
        body: IO[bytes] = response["Body"]
        return body

    def local_path(self, sha256: str) -> Optional[Path]:
        return None

    def digests(self) -> Iterator[Tuple[str, int]]:
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    name = str(item["Key"]).rsplit("/", 1)[-1]
                    if len(name) == 64:
                        yield name, int(item["Size"])
        except Exception as exc:
            raise _s3_failure("list", self.prefix or "/", exc) from exc

    def delete(self, sha256: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self.key(sha256))
        except Exception as exc:
            raise _s3_failure("delete", self.key(sha256), exc) from exc

    def presigned_url(self, sha256: str, file_name: str, content_type: str, seconds: int) -> Optional[str]:
        """A signed GET, reused while more than half its life is left: signing costs about
        0.45 ms with boto3, and a version list hands out four URLs per version."""
        key = (sha256, file_name, content_type, seconds)
        now = time.monotonic()
        with self._signed_lock:
            cached = self._signed.get(key)
            if cached is not None and cached[1] > now:
                return cached[0]
        url = self._sign(sha256, file_name, content_type, seconds)
        with self._signed_lock:
            if len(self._signed) >= _SIGNED_KEEP:
                self._signed.clear()
            self._signed[key] = (url, now + seconds / 2)
        return url

    def _sign(self, sha256: str, file_name: str, content_type: str, seconds: int) -> str:
        params: Any = {
            "Bucket": self.bucket,
            "Key": self.key(sha256),
            "ResponseContentType": content_type,
            "ResponseContentDisposition": f'attachment; filename="{file_name}"',
        }
        url: str = self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)
        return url

    def scratch_root(self) -> Path:
        return self._scratch

    def clean_scratch(self) -> int:
        """This process's scratch entries, and the scratch dirs of processes that died (a
        server killed mid-upload), named by their pids."""
        stale = [entry for entry in self._scratch.parent.iterdir()
                 if entry.name.split("-", 1)[0].isdigit() and not _alive(int(entry.name.split("-", 1)[0]))]
        return _remove_entries(list(self._scratch.iterdir()) + stale)

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)


def client_config() -> Any:
    """botocore's settings for the registry's bucket."""
    from botocore.config import Config

    # SigV4 presigned URLs (boto3 signs them with V2 unless told: AWS refuses V2 in newer
    # regions). Checksums only where an operation requires them: boto3's default (a CRC32
    # trailer on every upload) made a 64 KiB PUT take 180 ms on SeaweedFS (6 ms without)
    # and is refused by some S3-compatible servers; each PUT carries our own sha256
    # instead, which the store checks against the bytes it received.
    return Config(
        signature_version="s3v4",
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"max_attempts": 5, "mode": "standard"},
        max_pool_connections=32,
    )


def _process_scratch() -> Path:
    """This process's scratch dir under ``TMP/motivus-marketplace/``, named by its pid (so
    that a later process can tell a dead one's leftovers)."""
    root = Path(tempfile.gettempdir()) / "motivus-marketplace"
    root.mkdir(mode=0o700, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=str(root)))


def _remove_entries(entries: "list[Path]") -> int:
    for entry in entries:
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
    return len(entries)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _s3_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _s3_reason(exc: BaseException) -> str:
    code = _s3_code(exc)
    return f"{code} ({exc})" if code else str(exc)


def _s3_failure(action: str, key: str, exc: BaseException) -> MarketplaceError:
    return MarketplaceError(
        f"cannot {action} {key} in the S3 blob store: {_s3_reason(exc)}",
        hint="check that the S3 server runs and the credentials may read and write the bucket",
    )


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
