"""`motivus new` and `motivus update` with the real templates and the real Copier."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from motivus_dev.cli import main
from motivus_dev.config import load_config
from motivus_dev.scaffold import template_version

REPO_ROOT = Path(__file__).resolve().parents[2]

COMMON_FILES = [
    "motivus.yml", "README.md", "USAGE.md", ".gitignore", ".env.example", "driver.py",
    ".copier-answers.yml", ".github/workflows/release.yml", "ci/release.sh",
]
LANG_FILES = {
    "rust": ["Cargo.toml", "src/lib.rs", "tests/fixtures/seed-points.yml"],
    "c": ["src/main.c", "src/kmeans.c", "src/input.c", "src/kmeans.h", "filesystem/etc/kmeans.conf",
          "tests/fixtures/file-input.yml", "tests/fixtures/points.txt"],
    "cpp": ["src/main.cpp", "src/kmeans.cpp", "src/input.cpp", "src/kmeans.hpp", "filesystem/etc/kmeans.conf",
            "tests/fixtures/file-input.yml", "tests/fixtures/points.txt"],
}


def new(parent: Path, *args: str):
    return CliRunner().invoke(main, ["-C", str(parent), "new", *args])


@pytest.mark.parametrize("lang", ["rust", "c", "cpp"])
def test_new_makes_a_complete_project(tmp_path: Path, lang: str) -> None:
    result = new(tmp_path, "kmeans", "--lang", lang, "--defaults",
                 "--data", "author=Ada Lovelace", "--data", "description=Clusters 'points'")
    assert result.exit_code == 0, result.output
    project = tmp_path / "kmeans"
    for name in COMMON_FILES + LANG_FILES[lang]:
        assert (project / name).is_file(), name

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["name"] == "kmeans" and answers["author"] == "Ada Lovelace"
    assert answers["version"] == "0.0.1" and answers["license"] == "MIT"
    assert answers["_commit"] == f"v{template_version(lang)}" and answers["_src_path"] == f"git+motivus-template://{lang}/"

    config = load_config(project)  # the generated motivus.yml is valid as it is
    assert config.name == "kmeans" and config.package_version == "0.0.1"
    assert config.build.compiler == ("mvrc" if lang == "rust" else "mvcc")
    assert config.build.lang == lang
    assert config.metadata.author == "Ada Lovelace"
    assert config.metadata.short_description == "Clusters 'points'"
    assert "kmeans" in config.metadata.to_marketplace()["long_description"]
    if lang != "rust":
        assert config.build.filesystem == "filesystem"

    env_example = (project / ".env.example").read_text()
    for variable in ("APPLICATION_TOKEN", "WEBSOCKET_URI", "MOTIVUS_PERSONAL_ACCESS_TOKEN"):
        assert f"{variable}=" in env_example
    driver = (project / "driver.py").read_text()
    assert "from motivus.client import Client" in driver
    # the package's name and version come from motivus.yml, so a version bump needs no edit
    assert 'BUILD / (PACKAGE + ".wasm")' in driver and "# 'algorithm_version': \"0.0.1\"" in driver
    compile(driver, "driver.py", "exec")
    workflow = yaml.safe_load((project / ".github/workflows/release.yml").read_text())
    steps = " ".join(str(step) for step in workflow["jobs"]["release"]["steps"])
    assert "ci/release.sh" in steps and "secrets.MOTIVUS_PERSONAL_ACCESS_TOKEN" in steps
    release = (project / "ci/release.sh").read_text()
    assert "motivus build" in release and "motivus test" in release and "motivus push" in release
    assert (project / "ci/release.sh").stat().st_mode & 0o111

    log = subprocess.run(["git", "log", "--oneline"], cwd=project, capture_output=True, text=True)
    assert log.returncode == 0 and f"motivus template {template_version(lang)}" in log.stdout
    status = subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True)
    assert status.stdout == ""


def test_rust_project_is_the_docs_kmeans(tmp_path: Path) -> None:
    assert new(tmp_path, "kmeans", "--defaults").exit_code == 0
    lib = (tmp_path / "kmeans" / "src" / "lib.rs").read_text()
    assert "pub fn main(input: &JsValue, clusters: &JsValue) -> Box<[JsValue]>" in lib
    assert "#[wasm_bindgen]" in lib and "into_serde()" in lib
    cargo = (tmp_path / "kmeans" / "Cargo.toml").read_text()
    assert 'features = ["serde-serialize"]' in cargo and 'crate-type = ["cdylib"' in cargo


def test_refuses_a_non_empty_directory_and_keeps_it(tmp_path: Path) -> None:
    target = tmp_path / "kmeans"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    result = new(tmp_path, "kmeans", "--defaults")
    assert result.exit_code == 4
    assert "already exists and is not empty" in result.output and "Traceback" not in result.output
    assert [p.name for p in target.iterdir()] == ["notes.txt"]


def test_an_empty_directory_is_fine(tmp_path: Path) -> None:
    (tmp_path / "kmeans").mkdir()
    assert new(tmp_path, "kmeans", "--defaults").exit_code == 0


@pytest.mark.parametrize("name", ["KMeans", "k means", "_kmeans", "kmeans!"])
def test_refuses_an_invalid_name(tmp_path: Path, name: str) -> None:
    result = new(tmp_path, name, "--defaults")
    assert result.exit_code == 2 and "not a valid algorithm name" in result.output
    assert list(tmp_path.iterdir()) == []


def test_refuses_an_unknown_language(tmp_path: Path) -> None:
    result = new(tmp_path, "kmeans", "--lang", "go", "--defaults")
    assert result.exit_code == 2 and "'go' is not one of" in result.output
    assert list(tmp_path.iterdir()) == []


def test_refuses_bad_data_and_bad_answers(tmp_path: Path) -> None:
    result = new(tmp_path, "kmeans", "--defaults", "--data", "author")
    assert result.exit_code == 2 and "KEY=VALUE" in result.output
    result = new(tmp_path, "kmeans", "--defaults", "--data", "version=1.0")
    assert result.exit_code == 4 and "semantic version" in result.output
    assert not (tmp_path / "kmeans").exists()


def test_a_url_answer_must_be_an_http_address(tmp_path: Path) -> None:
    result = new(tmp_path, "kmeans", "--defaults", "--data", "url=not a url")
    assert result.exit_code == 4 and "url must be empty or an http(s) address" in result.output
    result = new(tmp_path, "kmeans", "--defaults", "--data", "upstream_url=ftp://x")
    assert result.exit_code == 4 and "upstream_url must be empty or an http(s) address" in result.output
    assert not (tmp_path / "kmeans").exists()
    assert new(tmp_path, "kmeans", "--defaults", "--no-git", "--data", "url=https://example.org/k").exit_code == 0


@pytest.mark.parametrize("lang", ["rust", "c", "cpp"])
def test_what_the_kit_and_the_driver_write_is_ignored_and_the_lock_is_not(tmp_path: Path, lang: str) -> None:
    assert new(tmp_path, "kmeans", "--lang", lang, "--defaults").exit_code == 0
    project = tmp_path / "kmeans"
    written = ["build/kmeans-0.0.1.wasm", ".motivus/cache/x", ".env", ".motivus-logs/run.log"]
    written += ["target/release/x"] if lang == "rust" else ["results/labels.txt"]
    ignored = subprocess.run(["git", "check-ignore", *written], cwd=project, capture_output=True, text=True)
    assert ignored.stdout.split() == written
    kept = subprocess.run(["git", "check-ignore", "Cargo.lock", "src/main.c"], cwd=project, capture_output=True)
    assert kept.returncode == 1  # neither is ignored: commit the lock (docs/rust.md)


def _git(project: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, check=True)
    return done.stdout


def freeze_template(lang: str) -> None:
    subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "freeze-template.py"), lang], check=True,
                   capture_output=True)


@pytest.mark.parametrize("fresh_cache", [False, True], ids=["same-machine", "other-machine"])
def test_update_brings_template_changes_and_keeps_the_authors(
    tmp_path: Path, templates_copy: Path, monkeypatch: pytest.MonkeyPatch, fresh_cache: bool
) -> None:
    projects = tmp_path / "projects"
    projects.mkdir()
    assert new(projects, "kmeans", "--defaults").exit_code == 0
    project = projects / "kmeans"
    # The author changes their project and commits.
    lib = project / "src" / "lib.rs"
    lib.write_text(lib.read_text().replace("for _ in 0..300 {", "for _ in 0..500 {"))
    config = project / "motivus.yml"
    config.write_text(config.read_text().replace("version: 0.0.1", "version: 0.1.0"))
    _git(project, "commit", "-qam", "author's changes")

    # A newer template, released the way the kit releases one: the old version archived
    # (scripts/freeze-template.py), then a changed file, a new file, the version bumped.
    current = template_version("rust")
    major, minor, _ = current.split(".")
    newer = f"{major}.{int(minor) + 1}.0"
    freeze_template("rust")
    template = templates_copy / "rust"
    gitignore = template / "template" / ".gitignore"
    gitignore.write_text(gitignore.read_text() + "# profiling output\n/perf.data\n")
    (template / "template" / "CHANGELOG.md").write_text("# Changelog\n")
    (template / "VERSION").write_text(f"{newer}\n")

    if fresh_cache:  # the update runs on another machine, whose cache never saw the old version
        monkeypatch.setenv("MOTIVUS_CACHE_DIR", str(tmp_path / "other-cache"))
    result = CliRunner().invoke(main, ["-C", str(project), "update"])
    assert result.exit_code == 0, result.output
    assert f"{current} -> {newer}" in result.output
    assert "/perf.data" in (project / ".gitignore").read_text()
    assert (project / "CHANGELOG.md").is_file()
    assert "for _ in 0..500 {" in lib.read_text()  # the author's change survived
    assert "version: 0.1.0" in config.read_text()
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == f"v{newer}"


def test_an_update_with_nothing_to_bring_says_so_and_a_conflict_is_named_once(
        tmp_path: Path, templates_copy: Path) -> None:
    assert new(tmp_path, "kmeans", "--defaults").exit_code == 0
    project = tmp_path / "kmeans"
    same = CliRunner().invoke(main, ["-C", str(project), "update"])
    assert same.exit_code == 0 and "nothing changed" in same.output and "review" not in same.output
    assert _git(project, "status", "--porcelain") == ""

    ignore = project / ".gitignore"
    ignore.write_text(ignore.read_text().replace("/target/\n", "/target/  # cargo's\n"))
    _git(project, "commit", "-qam", "author's note")
    current = template_version("rust")
    major, minor, _ = current.split(".")
    freeze_template("rust")
    template = templates_copy / "rust"
    theirs = template / "template" / ".gitignore"
    theirs.write_text(theirs.read_text().replace("/target/\n", "/target-wasm/\n"))
    (template / "VERSION").write_text(f"{major}.{int(minor) + 1}.0\n")
    result = CliRunner().invoke(main, ["-C", str(project), "update"])
    assert result.exit_code == 1, result.output
    assert result.output.count("conflict:") == 1 and ".gitignore" in result.output


def test_a_project_made_by_an_older_kit_names_the_machine_independent_template(
        tmp_path: Path, templates_copy: Path) -> None:
    """Kits before templates 1.1 recorded the template as a path on the author's machine."""
    assert new(tmp_path, "kmeans", "--defaults").exit_code == 0
    project = tmp_path / "kmeans"
    answers_file = project / ".copier-answers.yml"
    answers_file.write_text(re.sub(r"_src_path: .*", "_src_path: /home/ada/.cache/motivus/templates/rust",
                                   answers_file.read_text()))
    _git(project, "commit", "-qam", "made elsewhere")
    result = CliRunner().invoke(main, ["-C", str(project), "update"])
    assert result.exit_code == 4, result.output
    assert "/home/ada/.cache/motivus/templates/rust" in result.output
    assert "_src_path: git+motivus-template://rust/" in result.output


def test_update_refuses_uncommitted_changes(tmp_path: Path, templates_copy: Path) -> None:
    assert new(tmp_path, "kmeans", "--defaults").exit_code == 0
    project = tmp_path / "kmeans"
    (project / "src" / "lib.rs").write_text("// work in progress\n")
    result = CliRunner().invoke(main, ["-C", str(project), "update"])
    assert result.exit_code == 4 and "uncommitted changes (src/lib.rs)" in result.output
    assert (project / "src" / "lib.rs").read_text() == "// work in progress\n"


def test_update_outside_a_generated_project(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["-C", str(tmp_path), "update"])
    assert result.exit_code == 4 and ".copier-answers.yml" in result.output


def test_new_inside_an_existing_repository_does_not_nest_git(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert new(tmp_path, "kmeans", "--defaults").exit_code == 0
    assert not (tmp_path / "kmeans" / ".git").exists()


def test_unknown_data_keys_are_refused_with_the_questions(tmp_path: Path, templates_copy: Path) -> None:
    result = CliRunner().invoke(
        main, ["-C", str(tmp_path), "new", "typo", "--lang", "rust", "--defaults", "-d", "autor=Ada", "--no-git"]
    )
    assert result.exit_code == 2, result.output
    assert "--data autor: not a question of the rust template" in result.output
    assert "author" in result.output and "version" in result.output
    assert not (tmp_path / "typo").exists()


def test_the_driver_says_when_it_has_nowhere_to_run(tmp_path: Path, templates_copy: Path) -> None:
    import os

    assert new(tmp_path, "kmeans", "--defaults").exit_code == 0
    project = tmp_path / "kmeans"
    env = {k: v for k, v in os.environ.items() if k not in ("WEBSOCKET_URI", "APPLICATION_TOKEN")}
    done = subprocess.run([sys.executable, "driver.py"], cwd=project, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "WEBSOCKET_URI is not set" in done.stderr and "motivus loopback" in done.stderr
