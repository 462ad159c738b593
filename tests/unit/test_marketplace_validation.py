"""Package validation: every refusal, and what a valid package yields."""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile
from pathlib import Path

import pytest
from marketplace_helpers import build_package, data_zip, minimal_wasm

from motivus_dev.errors import PackageError
from motivus_dev.marketplace.validation import (
    EntryInfo,
    PackageLimits,
    PackageRejected,
    check_data_entries,
    check_entries,
    check_file_name,
    check_names,
    extract_package,
    unsafe_entry_reason,
)

LIMITS = PackageLimits()


def _extract(tmp_path: Path, pkg: Path, limits: PackageLimits = LIMITS, name: str = "algo", version: str = "1.0.0"):
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    return extract_package(pkg, name, version, scratch, limits)


def _entries(*names: str, size: int = 10) -> list:
    return [EntryInfo(n, size, size) for n in names]


def test_valid_package_is_extracted_with_digests(tmp_path: Path) -> None:
    wasm = minimal_wasm(100)
    data = data_zip({"input/a.txt": b"hello"})
    pkg = build_package(tmp_path, "algo", "1.0.0", wasm=wasm, data=data, extra={"README.txt": b"x"})
    result = _extract(tmp_path, pkg)
    assert set(result.files) == {"loader", "wasm", "data"}
    assert result.files["wasm"].sha256 == hashlib.sha256(wasm).hexdigest()
    assert result.files["wasm"].path.read_bytes() == wasm
    assert result.files["data"].path.read_bytes() == data
    assert result.package_sha256 == hashlib.sha256(pkg.read_bytes()).hexdigest()
    # The extra entry is allowed but not extracted.
    assert sorted(p.name for p in (tmp_path / "scratch").iterdir()) == [
        "algo-1.0.0.data.zip",
        "algo-1.0.0.js",
        "algo-1.0.0.wasm",
    ]


def test_data_zip_is_optional(tmp_path: Path) -> None:
    result = _extract(tmp_path, build_package(tmp_path, "algo", "1.0.0"))
    assert set(result.files) == {"loader", "wasm"}


@pytest.mark.parametrize("name,version", [("../x", "1"), ("a b", "1"), ("algo", "1/2"), ("algo", ""), ("", "1"),
                                          ("bproj\n", "1"), ("algo", "1\n")])  # `$` matched before a final newline
def test_bad_names_are_refused(name: str, version: str) -> None:
    with pytest.raises(PackageRejected) as info:
        check_names(name, version)
    assert info.value.field == "name"


def test_file_name_must_be_exactly_name_version_zip() -> None:
    check_file_name("algo-1.0.0.zip", "algo", "1.0.0")
    for wrong in ("algo-1.0.1.zip", "algo.zip", "ALGO-1.0.0.zip", None, "x/algo-1.0.0.zip"):
        with pytest.raises(PackageRejected, match="file name must be 'algo-1.0.0.zip'"):
            check_file_name(wrong, "algo", "1.0.0")


@pytest.mark.parametrize("missing", ["algo-1.0.0.js", "algo-1.0.0.wasm"])
def test_missing_loader_or_wasm_is_incorrect_contents(missing: str) -> None:
    names = [n for n in ("algo-1.0.0.js", "algo-1.0.0.wasm") if n != missing]
    with pytest.raises(PackageRejected, match=f"incorrect package contents: missing {missing}"):
        check_entries(_entries(*names), "algo", "1.0.0", LIMITS)


def test_files_of_another_version_are_incorrect_contents(tmp_path: Path) -> None:
    pkg = build_package(tmp_path, "algo", "0.9.0", file_name="algo-1.0.0.zip")
    with pytest.raises(PackageRejected, match="incorrect package contents"):
        _extract(tmp_path, pkg)


@pytest.mark.parametrize(
    "entry,reason",
    [
        ("../evil.sh", "'..'"),
        ("a/../../evil", "'..'"),
        ("/etc/passwd", "absolute"),
        ("C:/evil", "absolute"),
        ("a\\..\\evil", "backslash"),
        ("a\x00b", "NUL"),
    ],
)
def test_zip_slip_entries_are_refused(entry: str, reason: str) -> None:
    assert reason in (unsafe_entry_reason(entry) or "")
    with pytest.raises(PackageRejected, match="unsafe entry"):
        check_entries(_entries("algo-1.0.0.js", "algo-1.0.0.wasm", entry), "algo", "1.0.0", LIMITS)


def test_zip_slip_entry_in_a_real_zip_is_refused(tmp_path: Path) -> None:
    pkg = build_package(tmp_path, "algo", "1.0.0", extra={"../../outside.txt": b"x"})
    with pytest.raises(PackageRejected, match="unsafe entry '../../outside.txt'"):
        _extract(tmp_path, pkg)
    assert not (tmp_path / "outside.txt").exists()


def test_duplicate_encrypted_and_symlink_entries_are_refused() -> None:
    base = _entries("algo-1.0.0.js", "algo-1.0.0.wasm")
    with pytest.raises(PackageRejected, match="duplicate entry"):
        check_entries(base + _entries("algo-1.0.0.js"), "algo", "1.0.0", LIMITS)
    with pytest.raises(PackageRejected, match="encrypted entry"):
        check_entries(base + [EntryInfo("x", 1, 1, flag_bits=1)], "algo", "1.0.0", LIMITS)
    link = EntryInfo("link", 1, 1, external_attr=(stat.S_IFLNK | 0o777) << 16)
    with pytest.raises(PackageRejected, match="symbolic link"):
        check_entries(base + [link], "algo", "1.0.0", LIMITS)


def test_too_many_entries_is_refused() -> None:
    names = ["algo-1.0.0.js", "algo-1.0.0.wasm"] + [f"f{i}" for i in range(LIMITS.max_entries)]
    with pytest.raises(PackageRejected, match="entries \\(limit 16\\)"):
        check_entries(_entries(*names), "algo", "1.0.0", LIMITS)


def test_total_uncompressed_size_limit() -> None:
    limits = PackageLimits(max_total_uncompressed=100)
    with pytest.raises(PackageRejected, match="expands to more than 100 bytes"):
        check_entries(_entries("algo-1.0.0.js", "algo-1.0.0.wasm", size=60), "algo", "1.0.0", limits)


def test_real_zip_bomb_is_refused_by_ratio(tmp_path: Path) -> None:
    # 64 MiB of zeros deflate to ~64 KiB: a ratio of about 1000.
    pkg = tmp_path / "algo-1.0.0.zip"
    with zipfile.ZipFile(pkg, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("algo-1.0.0.js", b"loader")
        archive.writestr("algo-1.0.0.wasm", minimal_wasm())
        with archive.open("bomb.bin", "w") as member:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(64):
                member.write(chunk)
    assert pkg.stat().st_size < 1024 * 1024
    with pytest.raises(PackageRejected, match="looks like a zip bomb"):
        _extract(tmp_path, pkg)
    assert list((tmp_path / "scratch").iterdir()) == []


def test_wasm_size_limit() -> None:
    limits = PackageLimits(max_wasm_bytes=5)
    with pytest.raises(PackageRejected, match="limit 5"):
        check_entries(_entries("algo-1.0.0.js", "algo-1.0.0.wasm"), "algo", "1.0.0", limits)


def test_invalid_wasm_module_is_refused(tmp_path: Path) -> None:
    pkg = build_package(tmp_path, "algo", "1.0.0", wasm=b"\0asm\x02\0\0\0garbage")
    with pytest.raises(PackageRejected, match="not a valid WebAssembly module"):
        _extract(tmp_path, pkg)
    pkg = build_package(tmp_path, "algo", "1.0.0", wasm=b"#!/bin/sh\necho not wasm\n")
    with pytest.raises(PackageRejected, match="not a valid WebAssembly module"):
        _extract(tmp_path, pkg)


def test_not_a_zip_is_refused(tmp_path: Path) -> None:
    pkg = tmp_path / "algo-1.0.0.zip"
    pkg.write_bytes(b"this is not a zip file at all")
    with pytest.raises(PackageRejected, match="not a valid zip file"):
        _extract(tmp_path, pkg)


def test_truncated_zip_is_refused(tmp_path: Path) -> None:
    pkg = build_package(tmp_path, "algo", "1.0.0", wasm=minimal_wasm(4096))
    data = pkg.read_bytes()
    pkg.write_bytes(data[: len(data) // 2])
    with pytest.raises(PackageRejected):
        _extract(tmp_path, pkg)


def test_corrupt_member_is_refused(tmp_path: Path) -> None:
    wasm = minimal_wasm(2000, random_padding=True)
    pkg = tmp_path / "algo-1.0.0.zip"
    with zipfile.ZipFile(pkg, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("algo-1.0.0.js", b"loader")
        archive.writestr("algo-1.0.0.wasm", wasm)
    raw = bytearray(pkg.read_bytes())
    at = raw.find(wasm[100:120])
    raw[at] ^= 0xFF  # flip a byte of the stored wasm: the CRC check must catch it
    pkg.write_bytes(bytes(raw))
    with pytest.raises(PackageRejected, match="cannot read 'algo-1.0.0.wasm'"):
        _extract(tmp_path, pkg)


def test_data_zip_must_be_a_safe_zip(tmp_path: Path) -> None:
    pkg = build_package(tmp_path, "algo", "1.0.0", data=b"not a zip")
    with pytest.raises(PackageRejected, match="algo-1.0.0.data.zip is not a valid zip"):
        _extract(tmp_path, pkg)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as inner:
        inner.writestr("../../etc/cron.d/x", b"x")
    pkg = build_package(tmp_path, "algo", "1.0.0", data=buffer.getvalue())
    with pytest.raises(PackageRejected, match="unsafe entry .* in the data zip"):
        _extract(tmp_path, pkg)
    with pytest.raises(PackageRejected, match="data zip has 3 entries"):
        check_data_entries(_entries("a", "b", "c"), PackageLimits(max_data_entries=2))


def test_package_rejected_is_a_package_error() -> None:
    exc = PackageRejected("incorrect package contents")
    assert isinstance(exc, PackageError)
    assert exc.field == "package" and exc.reason == "incorrect package contents"


def test_a_data_zip_that_lies_about_its_sizes_is_refused(tmp_path: Path) -> None:
    from zips import lying_zip

    pkg = build_package(tmp_path, "algo", "1.0.0", data=lying_zip())
    with pytest.raises(PackageRejected, match="inflates to more than the 100 bytes it declares"):
        _extract(tmp_path, pkg)


def test_a_data_zip_is_bounded_as_the_workers_pool_bounds_it() -> None:
    """A 600 MB filesystem built (a warning only) into a package that `motivus test` then
    refused: the build, the marketplace and the pool take their limits from one place."""
    from motivus_dev.runtime.datalink import DEFAULT_LIMITS, ZipLimits, check_zip
    from motivus_dev.runtime.paths import UnsafeInputError

    limits = PackageLimits()
    assert (limits.max_data_entries, limits.max_data_total_uncompressed) == (
        DEFAULT_LIMITS.max_entries, DEFAULT_LIMITS.max_total_bytes)
    with pytest.raises(UnsafeInputError, match="the packed filesystem: the zip is 11 bytes, more than the limit of 10"):
        check_zip(b"PK" + b"x" * 9, ZipLimits(max_download_bytes=10), what="the packed filesystem: ")
