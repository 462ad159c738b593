"""A wheel install works on its own: templates and toolchains are shipped as package data."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO_ROOT)],
        check=True, capture_output=True,
    )
    (found,) = out.glob("motivus_dev-*.whl")
    return found


def test_wheel_ships_templates_toolchains_and_loader_runtimes(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for lang in ("rust", "c", "cpp"):
        assert f"motivus_dev/_data/templates/{lang}/copier.yml" in names
        assert f"motivus_dev/_data/templates/{lang}/VERSION" in names
    assert "motivus_dev/_data/templates/rust/template/src/lib.rs" in names
    assert "motivus_dev/_data/templates/_shared/template/.github/workflows/release.yml" in names
    for toolchain in ("mvrc", "mvcc"):
        for name in ("Dockerfile", "build.sh", "packages.txt"):
            assert f"motivus_dev/_data/toolchains/{toolchain}/{name}" in names
    assert "motivus_dev/_data/toolchains/versions.json" in names
    for module in ("serve.js", "bytes.js", "zip.js", "c/harness.js", "rust/harness.js"):
        assert f"motivus_dev/loader_js/{module}" in names


def test_new_from_the_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True, capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target), "MOTIVUS_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("MOTIVUS_TEMPLATES_DIR", None)
    where = subprocess.run(
        [sys.executable, "-c", "import motivus_dev.resources as r; print(r.templates_dir())"],
        env=env, capture_output=True, text=True, check=True, cwd=tmp_path,
    )
    assert where.stdout.strip() == str(target / "motivus_dev" / "_data" / "templates")
    done = subprocess.run(
        [sys.executable, "-m", "motivus_dev", "new", "kmeans", "--lang", "cpp", "--defaults"],
        env=env, capture_output=True, text=True, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "kmeans" / "src" / "main.cpp").is_file()


def test_the_installed_wheel_creates_a_registry_with_its_migrations(wheel: Path, tmp_path: Path) -> None:
    """Alembic's migrations are package data: a registry made from the installed wheel (not
    this checkout) gets its schema from them."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True, capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target), "MOTIVUS_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "motivus_dev", "marketplace", "user", "add", "alice", "--data-dir", str(tmp_path / "r")],
        env=env, capture_output=True, text=True, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    import sqlite3

    conn = sqlite3.connect(str(tmp_path / "r" / "marketplace.sqlite3"))
    try:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
        assert conn.execute("SELECT name FROM users").fetchall() == [("alice",)]
    finally:
        conn.close()
