"""The CLI shell: version, help, the error model, .env loading, info, not-yet commands."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import List, Tuple

import click
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


@pytest.mark.parametrize("command", ["build", "clean"])
@pytest.mark.parametrize("linked", ["build", ".motivus"])
def test_a_symlinked_output_directory_is_refused(tmp_path: Path, command: str, linked: str) -> None:
    """A `build/` that linked outside made the build write there and `motivus clean` end in
    an internal error (exit 70)."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "keep.txt").write_text("not the kit's")
    result = CliRunner().invoke(main, ["-C", str(tmp_path), "new", "linky", "--lang", "c", "--defaults", "--no-git"])
    assert result.exit_code == 0, result.output
    project = tmp_path / "linky"
    (project / linked).symlink_to(outside)
    result = CliRunner().invoke(main, ["-C", str(project), command])
    assert result.exit_code == 3, result.output
    assert f"{linked}/ is a symbolic link (to {outside})" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("config, key", [
    ('[build]\nrustc-wrapper = "./wrap.sh"\n', "build.rustc-wrapper"),
    ('[build]\nrustc = "./my-rustc"\n', "build.rustc"),
    ('[registries.x]\nindex = "sparse+http://127.0.0.1:1/"\ncredential-provider = "./cred.sh"\n',
     "registries.x.credential-provider"),
    ('[registry]\nglobal-credential-providers = ["./cred.sh"]\n', "registry.global-credential-providers"),
    ('[credential-alias]\nmine = ["./cred.sh"]\n', "credential-alias"),
])
def test_a_cargo_setting_that_runs_a_program_is_refused_before_the_fetch_step(
    tmp_path: Path, config: str, key: str
) -> None:
    """A `rustc-wrapper` in the project's .cargo/config.toml ran during the fetch step with
    the host's network and reached a listener on 127.0.0.1: refused before any step runs."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    result = CliRunner().invoke(main, ["-C", str(tmp_path), "new", "wrapped", "--lang", "rust", "--defaults",
                                       "--no-git"])
    assert result.exit_code == 0, result.output
    project = tmp_path / "wrapped"
    (project / ".cargo").mkdir()
    (project / ".cargo" / "config.toml").write_text(config)
    for name in ("wrap.sh", "my-rustc", "cred.sh"):
        (project / name).write_text(f"#!/bin/sh\nexec 3<>/dev/tcp/127.0.0.1/{port}\n")
        (project / name).chmod(0o755)
    try:
        result = CliRunner().invoke(main, ["-C", str(project), "build"])
        with pytest.raises(OSError):
            listener.accept()  # nobody called
    finally:
        listener.close()
    assert result.exit_code == 3, result.output
    assert f"sets `{key}`" in result.output and "Traceback" not in result.output, result.output


def test_a_vendored_projects_cargo_config_is_allowed() -> None:
    from motivus_dev.toolchain.mvrc import _refused_keys

    vendored = {"source": {"crates-io": {"replace-with": "vendored-sources"},
                           "vendored-sources": {"directory": "vendor"}},
                "build": {"target": "wasm32-unknown-unknown", "rustflags": ["-C", "opt-level=3"]},
                "net": {"offline": True}, "registries": {"mine": {"index": "sparse+http://127.0.0.1:1/"}}}
    assert list(_refused_keys(vendored)) == []


def test_json_output_for_ci_success_and_failure(tmp_path: Path) -> None:
    import json

    result = CliRunner().invoke(main, ["-C", str(tmp_path), "new", "jsn", "--lang", "c", "--defaults", "--no-git"])
    assert result.exit_code == 0, result.output
    project = tmp_path / "jsn"
    done = CliRunner().invoke(main, ["-C", str(project), "info", "--json"])
    info = json.loads(done.stdout)
    assert done.exit_code == 0 and info["ok"] is True and info["package.name"] == "jsn"
    field = CliRunner().invoke(main, ["-C", str(project), "info", "--json", "--field", "build.lang"])
    assert json.loads(field.stdout) == {"ok": True, "build.lang": "c"}
    (project / "motivus.yml").write_text("version: 1.0\n")
    failed = CliRunner().invoke(main, ["-C", str(project), "build", "--json"])
    error = json.loads(failed.stdout)
    assert failed.exit_code == 3 and error["ok"] is False
    assert error["error"]["kind"] == "ConfigError" and error["error"]["exit_code"] == 3 and error["error"]["message"]
    doctor = CliRunner().invoke(main, ["toolchain", "doctor", "--json"])
    checks = json.loads(doctor.stdout)
    assert {"name", "ok", "detail", "fix"} <= set(checks["checks"][0])
    listed = json.loads(CliRunner().invoke(main, ["toolchain", "list", "--json"]).stdout)
    assert {i["toolchain"] for i in listed["images"] if i["pinned"]} == {"mvrc", "mvcc"}


def test_quiet_and_verbose_are_accepted_by_every_command() -> None:
    import click

    def commands(group: click.Group, prefix: str = "") -> List[Tuple[str, click.Command]]:
        found = []
        for name, command in group.commands.items():
            found.append((prefix + name, command))
            if isinstance(command, click.Group):
                found += commands(command, prefix + name + " ")
        return found

    for name, command in commands(main):
        if isinstance(command, click.Group):
            continue
        opts = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert {"-q", "-v"} <= opts, name


def _leaf_commands() -> List[Tuple[str, click.Command]]:
    """Every command and group below motivus."""
    def walk(group: click.Group, prefix: str) -> List[Tuple[str, click.Command]]:
        found: List[Tuple[str, click.Command]] = []
        for name, command in group.commands.items():
            found.append((prefix + name, command))
            if isinstance(command, click.Group):
                found += walk(command, prefix + name + " ")
        return found

    return walk(main, "")


def test_short_version_and_help_as_a_command() -> None:
    assert invoke("-V").output.strip() == f"motivus {__version__}"
    for words in (["build"], ["marketplace", "token", "create"], []):
        by_command = invoke("help", *words)
        by_option = invoke(*words, "--help")
        assert by_command.exit_code == 0 and by_command.output == by_option.output
    unknown = invoke("help", "bild")
    assert unknown.exit_code == 2 and "no command `motivus bild`" in unknown.output and "build" in unknown.output


def test_every_command_has_examples_and_the_list_is_not_cut() -> None:
    for name, _command in _leaf_commands():
        words = name.split()
        shown = invoke(*words, "--help", terminal_width=80)
        assert "Examples:\n    motivus " + words[0] in shown.output, name
    listing = invoke("--help", terminal_width=80).output
    assert "..." not in listing.split("Commands:")[1].split("Examples:")[0]


def test_quiet_verbose_and_json_work_before_the_command_too(tmp_path: Path) -> None:
    import json

    (tmp_path / "motivus.yml").write_text(MINIMAL)
    before = invoke("-C", str(tmp_path), "--json", "info")
    assert before.exit_code == 0 and json.loads(before.stdout)["package.name"] == "kmeans"
    assert invoke("-q", "-C", str(tmp_path), "info").exit_code == 0
    assert invoke("-v", "-C", str(tmp_path), "info").exit_code == 0
    refused = invoke("--json", "-C", str(tmp_path), "clean")
    assert refused.exit_code == 2 and json.loads(refused.stdout)["error"]["message"] == \
        "--json: `motivus clean` has no JSON output"
    assert (tmp_path / "motivus.yml").exists()  # refused before it ran


def test_shell_completion_scripts_complete_commands() -> None:
    import os

    for shell, marker in (("bash", "complete -o nosort -F"), ("zsh", "#compdef motivus"), ("fish", "complete")):
        script = invoke("completion", shell)
        assert script.exit_code == 0 and marker in script.output and "_MOTIVUS_COMPLETE" in script.output
    # what the script asks the program: the commands that start with "bu"
    env = dict(os.environ, _MOTIVUS_COMPLETE="bash_complete", COMP_WORDS="motivus bu", COMP_CWORD="1")
    answer = CliRunner().invoke(main, [], env=env, prog_name="motivus")
    assert "build" in answer.output and "clean" not in answer.output


def test_new_lists_the_templates_and_needs_a_name() -> None:
    listed = invoke("new", "--list")
    assert listed.exit_code == 0
    for lang in ("rust", "c", "cpp"):
        assert f"\n{lang} " in "\n" + listed.output
    assert "written in Rust (wasm-bindgen style), built by mvrc" in listed.output
    nameless = invoke("new", "--lang", "c")
    assert nameless.exit_code == 2 and "needs the algorithm's NAME" in nameless.output


def test_a_git_project_without_the_kits_directory_in_its_ignore_list_gets_it_once(tmp_path: Path) -> None:
    """Projects made from the platform's template do not ignore .motivus/ (110 MB of caches)."""
    import subprocess

    from motivus_dev.scaffold import ignore_kit_dir

    (tmp_path / ".gitignore").write_text("target")  # no newline at its end
    assert ignore_kit_dir(tmp_path) is False  # not a git repository: nothing to keep out
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert ignore_kit_dir(tmp_path) is True
    assert (tmp_path / ".gitignore").read_text() == (
        "target\n# the kit's caches and build stamp (motivus build)\n/.motivus/\n")
    assert ignore_kit_dir(tmp_path) is False  # said once
