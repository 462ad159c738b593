"""The marketplace store and the admin functions, without HTTP, on both backends (a data
directory; PostgreSQL + S3)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterator

import pytest
from conftest import distributed_registry
from marketplace_helpers import build_package, data_zip, minimal_wasm

from motivus_dev.errors import MarketplaceError
from motivus_dev.marketplace.server import admin
from motivus_dev.marketplace.server.blobs import S3Blobs
from motivus_dev.marketplace.server.location import RegistryLocation
from motivus_dev.marketplace.server.store import AlreadyExists, NotFound, Store
from motivus_dev.marketplace.validation import PackageLimits, clean_metadata, extract_package


def _validated(store: Store, tmp_path: Path, name: str, version: str, **kwargs):
    pkg = build_package(tmp_path / "build", name, version, **kwargs)
    scratch = store.new_scratch_dir()
    upload = scratch / "upload.zip"
    upload.write_bytes(pkg.read_bytes())
    files = scratch / "files"
    files.mkdir()
    return extract_package(upload, name, version, files, PackageLimits())


@pytest.fixture()
def store(registry: RegistryLocation) -> Iterator[Store]:
    with Store(registry) as opened:
        yield opened


def _put_raw(store: Store, digest: str, content: bytes) -> None:
    """A blob as a crash or a tamperer leaves it: under ``digest``, whatever ``content``
    (in S3 with a client of its own: the kit's PUTs carry the sha256, which the store checks)."""
    store.blobs.delete(digest)
    if isinstance(store.blobs, S3Blobs):
        import boto3

        boto3.client("s3").put_object(Bucket=store.blobs.bucket, Key=store.blobs.key(digest), Body=content)
        return
    scratch = store.new_scratch_dir()
    (scratch / "blob").write_bytes(content)
    store.blobs.put(digest, scratch / "blob")


def test_s3_refuses_bytes_that_do_not_hash_to_their_name(postgres: Any, seaweed: Any) -> None:
    """A blob's name is its sha256: S3 checks the bytes it received against the sha256 the
    kit sends along (a local store renames the file the caller hashed: nothing in between)."""
    with Store(distributed_registry(postgres, seaweed)) as store:
        scratch = store.new_scratch_dir()
        (scratch / "blob").write_bytes(b"these bytes")
        claimed = hashlib.sha256(b"other bytes").hexdigest()
        with pytest.raises(MarketplaceError, match="cannot store .*BadDigest"):
            store.blobs.put(claimed, scratch / "blob")
        assert not store.blobs.has(claimed)


def test_database_is_in_wal_mode(tmp_path: Path) -> None:
    import sqlite3

    with Store(tmp_path / "data") as store:
        assert store.location.sqlite_path is not None
        conn = sqlite3.connect(str(store.location.sqlite_path))
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            conn.close()


def test_users_are_unique_and_names_checked(registry: RegistryLocation) -> None:
    data = registry
    assert admin.add_user(data, "alice").name == "alice"
    with pytest.raises(AlreadyExists, match="user 'alice' already exists"):
        admin.add_user(data, "alice")
    with pytest.raises(MarketplaceError, match="invalid user name"):
        admin.add_user(data, "bad name")


def test_tokens_are_stored_hashed_and_authenticate(tmp_path: Path) -> None:
    data = tmp_path / "data"
    admin.add_user(data, "alice")
    personal = admin.create_token(data, "alice", "personal")
    application = admin.create_token(data, "alice", "application")
    assert personal.token != application.token and len(personal.token) > 40
    assert personal.token not in repr(personal)
    store = Store(data)
    who = store.authenticate(personal.token)
    assert who is not None and (who.user_name, who.kind) == ("alice", "personal")
    assert store.authenticate(application.token).kind == "application"  # type: ignore[union-attr]
    assert store.authenticate("mvp_unknown") is None
    assert store.authenticate("") is None
    # Only the digest is on disk.
    raw = b"".join(p.read_bytes() for p in data.iterdir() if p.is_file())
    assert personal.token.encode() not in raw
    assert hashlib.sha256(personal.token.encode()).hexdigest().encode() in raw
    with pytest.raises(MarketplaceError, match="unknown token kind"):
        admin.create_token(data, "alice", "root")
    with pytest.raises(NotFound, match="no user named 'bob'"):
        admin.create_token(data, "bob", "personal")


def test_algorithms_owner_and_maintainers(registry: RegistryLocation) -> None:
    data = registry
    admin.add_user(data, "alice")
    admin.add_user(data, "bob")
    created = admin.create_algorithm(data, "kmeans", "alice")
    assert (created.owners, created.maintainers) == (["alice"], [])
    with pytest.raises(AlreadyExists, match="algorithm 'kmeans' already exists"):
        admin.create_algorithm(data, "kmeans", "bob")
    with pytest.raises(NotFound):
        admin.create_algorithm(data, "other", "nobody")
    updated = admin.add_maintainer(data, "kmeans", "bob")
    assert updated.maintainers == ["bob"]
    with pytest.raises(AlreadyExists, match="already MAINTAINER"):
        admin.add_maintainer(data, "kmeans", "bob")
    with pytest.raises(NotFound, match="no algorithm named 'nope'"):
        admin.add_maintainer(data, "nope", "bob")


def test_publish_stores_blobs_and_refuses_a_second_publish(store: Store, tmp_path: Path) -> None:
    owner = store.add_user("alice")
    algorithm = store.create_algorithm("algo", owner.id)
    data = data_zip({"f.txt": b"x"})
    pkg = _validated(store, tmp_path, "algo", "1.0.0", data=data)
    version = store.publish_version(algorithm, pkg, {"author": "A", "bogus": "dropped"})
    assert version.metadata == {"author": "A"}
    assert version.data_sha256 == hashlib.sha256(data).hexdigest()
    for digest in (version.package_sha256, version.wasm_sha256, version.loader_sha256, version.data_sha256):
        assert store.blobs.has(str(digest))
    assert store.version_exists(algorithm.id, "1.0.0")
    again = _validated(store, tmp_path / "other", "algo", "1.0.0", wasm=minimal_wasm(10))
    with pytest.raises(AlreadyExists):
        store.publish_version(algorithm, again, {})
    # Nothing was overwritten.
    stored = store.get_algorithm(algorithm.id).versions
    assert [v.wasm_sha256 for v in stored] == [version.wasm_sha256]
    assert store.integrity_problems() == []


def test_downloads_only_for_committed_files_with_their_name(store: Store, tmp_path: Path) -> None:
    owner = store.add_user("alice")
    algorithm = store.create_algorithm("algo", owner.id)
    version = store.publish_version(algorithm, _validated(store, tmp_path, "algo", "1.0.0"), {})
    assert store.find_download(version.wasm_sha256, "algo-1.0.0.wasm") is not None
    assert store.find_download(version.wasm_sha256, "algo-1.0.0.js") is None
    # A blob with no committed version (what a crash before the commit leaves) is not served.
    orphan = hashlib.sha256(b"orphan").hexdigest()
    _put_raw(store, orphan, b"orphan")
    assert store.find_download(orphan, "algo-1.0.0.wasm") is None


def test_integrity_problems_detects_a_corrupt_blob(store: Store, tmp_path: Path) -> None:
    owner = store.add_user("alice")
    algorithm = store.create_algorithm("algo", owner.id)
    version = store.publish_version(algorithm, _validated(store, tmp_path, "algo", "1.0.0"), {})
    _put_raw(store, version.wasm_sha256, b"changed")
    assert store.integrity_problems() == [f"corrupt blob {version.wasm_sha256}"]


def test_clean_scratch_removes_leftovers(store: Store) -> None:
    store.clean_scratch()  # what other processes of this machine left (S3 scratch is per machine)
    scratch = store.new_scratch_dir()
    (scratch / "upload.zip").write_bytes(b"partial")
    (store.blobs.scratch_root() / "stray").write_bytes(b"x")
    assert store.clean_scratch() == 2
    assert list(store.blobs.scratch_root().iterdir()) == []


def test_clean_metadata_keeps_the_spec_fields_as_the_platform_casts_them() -> None:
    # six string fields; null, numbers and unknown keys are dropped (Ecto's cast to :string)
    assert clean_metadata({"license": "MIT", "author": None, "x": 1, "url": 3, "short_description": "s"}) == {
        "license": "MIT",
        "short_description": "s",
    }


def test_gc_removes_blobs_no_version_references(store: Store, tmp_path: Path) -> None:
    owner = store.add_user("alice")
    algorithm = store.create_algorithm("algo", owner.id)
    version = store.publish_version(algorithm, _validated(store, tmp_path, "algo", "1.0.0"), {})
    _put_raw(store, "ab" * 32, b"left by a killed upload")
    assert store.gc_blobs() == (1, len(b"left by a killed upload"))
    assert not store.blobs.has("ab" * 32) and store.gc_blobs() == (0, 0)
    assert store.blobs.has(version.wasm_sha256) and store.integrity_problems() == []
