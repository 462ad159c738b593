"""The CLI shell: version, help, the error model, .env loading, info, not-yet commands."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from motivus_dev import __version__
from motivus_dev.cli import main

MINIMAL = "build: {compiler: mvrc}\npackage: {name: kmeans, version: 0.0.1}\n"


def invoke(*args: str, **kwargs):
    return CliRunner().invoke(main, list(args), **kwargs)


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.strip() == f"motivus {__version__}"


def test_help_lists_every_command() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("new", "update", "build", "test", "loopback", "push", "toolchain", "marketplace"):
        assert f"  {command} " in result.output


def test_user_mistake_gives_a_message_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "motivus.yml").write_text(MINIMAL.replace("mvrc", "gcc"))
    result = invoke("-C", str(tmp_path), "info")
    assert result.exit_code == 3
    assert "error:" in result.output and "build.compiler" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "motivus.yml").write_text(MINIMAL.replace("mvrc", "gcc"))
    result = invoke("--debug", "-C", str(tmp_path), "info")
    assert result.exit_code != 0
    assert type(result.exception).__name__ == "ConfigError"


def test_missing_project_dir() -> None:
    result = invoke("-C", "/nonexistent/dir", "info")
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_info_field(tmp_path: Path) -> None:
    (tmp_path / "motivus.yml").write_text(MINIMAL)
    result = invoke("-C", str(tmp_path), "info", "--field", "package.version")
    assert result.exit_code == 0 and result.output == "0.0.1\n"
    result = invoke("-C", str(tmp_path), "info", "--field", "nope")
    assert result.exit_code == 2 and "package.version" in result.output


def test_dotenv_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    (tmp_path / ".env").write_text("MOTIVUS_TEST_FROM_FILE=file\nMOTIVUS_TEST_BOTH=file\n")
    (tmp_path / "motivus.yml").write_text(MINIMAL)
    monkeypatch.setenv("MOTIVUS_TEST_BOTH", "environment")
    monkeypatch.delenv("MOTIVUS_TEST_FROM_FILE", raising=False)
    try:
        assert invoke("-C", str(tmp_path), "info").exit_code == 0
        assert os.environ["MOTIVUS_TEST_FROM_FILE"] == "file"
        assert os.environ["MOTIVUS_TEST_BOTH"] == "environment"
    finally:
        os.environ.pop("MOTIVUS_TEST_FROM_FILE", None)


@pytest.mark.parametrize("key", ["filesystem", "source"])
def test_build_refuses_a_source_or_filesystem_that_links_outside_the_project(tmp_path: Path, key: str) -> None:
    """A filesystem that links to ~/.ssh would be packed into what push publishes."""
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "id_rsa").write_text("secret")
    result = CliRunner().invoke(main, ["-C", str(tmp_path), "new", "linky", "--lang", "c", "--defaults", "--no-git"])
    assert result.exit_code == 0, result.output
    project = tmp_path / "linky"
    target = "filesystem" if key == "filesystem" else "src"
    shutil.rmtree(project / target)
    (project / target).symlink_to(outside)
    result = CliRunner().invoke(main, ["-C", str(project), "build"])
    assert result.exit_code == 3, result.output
    assert f"build.{key} ({target}) resolves to {outside}" in result.output and "outside the project" in result.output
    assert not (project / "build").exists()
