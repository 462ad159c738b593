"""Deterministic packing (motivus_dev.packing): same inputs give the same bytes, whatever the
file times, permissions, creation order or location; links and special files are refused."""

from __future__ import annotations

import io
import os
import socket
import zipfile
from pathlib import Path
from typing import Dict

import pytest

from motivus_dev.errors import PackageError
from motivus_dev.packing import (
    ZIP_DATE_TIME,
    atomic_write,
    pack_filesystem,
    sha256_bytes,
    sha256_file,
    write_package,
    zip_entries,
)


def _make_tree(root: Path, order: str = "forward") -> None:
    files: Dict[str, bytes] = {
        "b.txt": b"bee\n",
        "a/z.bin": bytes(range(256)) * 4,
        "a/nested/deep.txt": b"deep" * 100,
        "ünï.txt": "unicode name".encode(),
    }
    items = list(files.items())
    if order == "reverse":
        items.reverse()
    for name, data in items:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "empty_dir").mkdir()


def test_same_tree_in_two_places_packs_to_identical_bytes(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "elsewhere" / "two"
    one.mkdir()
    two.mkdir(parents=True)
    _make_tree(one, "forward")
    _make_tree(two, "reverse")
    # Different times and permissions must not matter.
    os.utime(two / "b.txt", (1_000_000_000, 1_000_000_000))
    os.chmod(two / "b.txt", 0o600)
    os.chmod(one / "a" / "z.bin", 0o755)

    assert pack_filesystem(one) == pack_filesystem(two)


def test_archive_layout_is_normalised(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    data = pack_filesystem(tmp_path)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names, key=lambda n: n.encode("utf-8"))
        assert "empty_dir/" in names and "a/nested/" in names
        for info in infos:
            assert info.date_time == ZIP_DATE_TIME
            assert info.extra == b""
            mode = info.external_attr >> 16
            if info.is_dir():
                assert mode == 0o040755
                assert info.compress_type == zipfile.ZIP_STORED
            else:
                assert mode == 0o100644
                assert info.compress_type == zipfile.ZIP_DEFLATED
        assert zf.read("a/nested/deep.txt") == b"deep" * 100
        assert zf.read("ünï.txt") == b"unicode name"
        assert zf.testzip() is None


def test_content_change_changes_bytes(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    before = pack_filesystem(tmp_path)
    (tmp_path / "b.txt").write_bytes(b"bee!\n")
    assert pack_filesystem(tmp_path) != before


def test_exclude_leaves_out_a_subtree(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    (tmp_path / ".motivus" / "cache").mkdir(parents=True)
    (tmp_path / ".motivus" / "cache" / "x.o").write_bytes(b"obj")
    data = pack_filesystem(tmp_path, exclude=[tmp_path / ".motivus"])
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert not any(n.startswith(".motivus") for n in zf.namelist())


def test_symlink_is_refused_naming_it(tmp_path: Path) -> None:
    _make_tree(tmp_path)
    link = tmp_path / "a" / "link.txt"
    link.symlink_to(tmp_path / "b.txt")
    with pytest.raises(PackageError) as err:
        pack_filesystem(tmp_path)
    assert str(link) in str(err.value)
    assert "symbolic link" in str(err.value)


def test_fifo_is_refused_naming_it(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(PackageError) as err:
        pack_filesystem(tmp_path)
    assert str(fifo) in str(err.value)


def test_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.bind(str(path))
        except OSError as exc:  # e.g. a path too long for AF_UNIX
            pytest.skip(f"cannot create a unix socket here: {exc}")
        with pytest.raises(PackageError) as err:
            pack_filesystem(tmp_path)
        assert str(path) in str(err.value)
    finally:
        sock.close()


def test_missing_directory_is_a_package_error(tmp_path: Path) -> None:
    with pytest.raises(PackageError) as err:
        pack_filesystem(tmp_path / "nope")
    assert "does not exist" in str(err.value)


def test_zip_entries_rejects_bad_names() -> None:
    for bad in ("/abs", "a/../b", "", "a//b", "a\\b"):
        with pytest.raises(PackageError):
            zip_entries({bad: b"x"})


def test_write_package_is_deterministic_and_atomic(tmp_path: Path) -> None:
    files = {"k-1.0.js": b"loader", "k-1.0.wasm": b"\0asm\1\0\0\0", "k-1.0.data.zip": b"PK"}
    first = write_package(tmp_path / "a", "k", "1.0", files)
    second = write_package(tmp_path / "b", "k", "1.0", dict(reversed(list(files.items()))))
    assert first.name == "k-1.0.zip"
    assert first.read_bytes() == second.read_bytes()
    assert sha256_file(first) == sha256_bytes(second.read_bytes())
    # No temporary files left next to the package.
    assert sorted(p.name for p in first.parent.iterdir()) == ["k-1.0.zip"]
    with zipfile.ZipFile(first) as zf:
        assert zf.namelist() == ["k-1.0.data.zip", "k-1.0.js", "k-1.0.wasm"]
        assert zf.read("k-1.0.js") == b"loader"


def test_write_package_refuses_empty_and_nested(tmp_path: Path) -> None:
    with pytest.raises(PackageError):
        write_package(tmp_path, "k", "1.0", {})
    with pytest.raises(PackageError):
        write_package(tmp_path, "k", "1.0", {"dir/k.js": b""})


def test_atomic_write_failure_leaves_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "pkg.zip"
    atomic_write(target, b"old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(PackageError) as err:
        atomic_write(target, b"new")
    assert "No space left" in str(err.value)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg.zip"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)


def test_sha256_helpers(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_bytes(b"abc") == expected
    assert sha256_file(path) == expected


def test_an_entry_that_deflates_like_a_bomb_is_stored_so_honest_data_is_not_refused() -> None:
    import io
    import zipfile

    from motivus_dev.packing import zip_entries
    from motivus_dev.runtime.datalink import check_zip

    zeros = b"\0" * (10 << 20)
    data = zip_entries({"big/zeros.bin": zeros, "small.txt": b"hello " * 100})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        methods = {i.filename: i.compress_type for i in archive.infolist()}
    assert methods == {"big/zeros.bin": zipfile.ZIP_STORED, "small.txt": zipfile.ZIP_DEFLATED}
    check_zip(data)  # what motivus test and the pool check: no "zip bomb"
    assert zip_entries({"big/zeros.bin": zeros, "small.txt": b"hello " * 100}) == data  # deterministic
