"""`motivus new` and `motivus update`: projects from the kit's Copier templates.

Copier can only *update* a project from a template that lives in git, with one tag per
template version (it regenerates the old version, diffs it against the project and applies
the diff to the new version). The kit ships its templates as plain package data, so it
keeps a small git repository per language in the user's cache, rebuilt deterministically
from the shipped template (and the archived older versions under ``templates/_history``)
whenever it is needed. Fixed authors and dates make the commits identical on every machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Tuple

from .config import check_package_name
from .errors import ScaffoldError, UsageError
from .resources import cache_dir, templates_dir
from .toolchain.registry import LANGS

ANSWERS_FILE = ".copier-answers.yml"
#: What a project's ``.copier-answers.yml`` records as its template (``_src_path``): the same
#: on every machine. Copier hands it to git, which the kit points at this machine's template
#: repository with ``url.<repository>/.insteadOf`` (see :func:`_resolved_on_this_machine`).
TEMPLATE_URL_SCHEME = "motivus-template://"


def _git_address(lang: str) -> str:
    return f"{TEMPLATE_URL_SCHEME}{lang}/"


def template_url(lang: str) -> str:
    """The machine-independent template address of ``lang``, as Copier reads it."""
    return f"git+{_git_address(lang)}"


def _lang_of(recorded: str) -> Optional[str]:
    """The language a recorded ``_src_path`` names: this kit's address, or (projects made
    by kits before 1.1 of the templates) a path to a cache repository named after it."""
    for lang in LANGS:
        if recorded == template_url(lang):
            return lang
    if "://" not in recorded and Path(recorded).name in LANGS:
        return Path(recorded).name
    return None


@contextlib.contextmanager
def _resolved_on_this_machine(lang: str, repo: Path) -> Iterator[None]:
    """While Copier runs, git resolves the template address of ``lang`` to ``repo``
    (``GIT_CONFIG_COUNT``/``KEY_n``/``VALUE_n``, git 2.31+), after any the caller set.
    Copier runs git through plumbum, whose environment is a copy of ``os.environ`` taken
    when plumbum is first imported: both are set."""
    from plumbum import local

    n = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
    variables = {
        "GIT_CONFIG_COUNT": str(n + 1),
        f"GIT_CONFIG_KEY_{n}": f"url.{repo.resolve().as_posix()}/.insteadOf",
        f"GIT_CONFIG_VALUE_{n}": _git_address(lang),
    }
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        with local.env(**variables):
            yield
    finally:
        for key, value in saved.items():
            if value is None:
                del os.environ[key]
            else:
                os.environ[key] = value


_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Motivus Dev Kit",
    "GIT_AUTHOR_EMAIL": "templates@motivus.invalid",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+00:00",
    "GIT_COMMITTER_NAME": "Motivus Dev Kit",
    "GIT_COMMITTER_EMAIL": "templates@motivus.invalid",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+00:00",
}


@dataclass(frozen=True)
class NewResult:
    """What `motivus new` made."""

    project_dir: Path
    lang: str
    template_version: str
    git_initialised: bool


@dataclass(frozen=True)
class UpdateResult:
    """What `motivus update` did."""

    project_dir: Path
    from_version: str
    to_version: str
    conflicts: List[Path]  # each file once (its inline markers, or its .rej beside it)
    changed: bool = True  # False: the project already was what the template makes


def template_source(lang: str) -> Path:
    """The shipped template directory for ``lang``."""
    if lang not in LANGS:
        raise UsageError(
            f"unknown language {lang!r}",
            hint=f"use --lang with one of: {', '.join(LANGS)}",
        )
    return templates_dir() / lang


def template_version(lang: str) -> str:
    """The version of the shipped template for ``lang`` (its VERSION file)."""
    return (template_source(lang) / "VERSION").read_text(encoding="utf-8").strip()


def template_summary(lang: str) -> str:
    """What the template for ``lang`` makes: its copier.yml's first line, a comment."""
    first = (template_source(lang) / "copier.yml").read_text(encoding="utf-8").splitlines()[0]
    return first.lstrip("# ").removeprefix("Copier template: ").rstrip(".")


def template_questions(lang: str) -> List[str]:
    """The questions ``--data KEY=VALUE`` may answer for ``lang`` (its copier.yml, less the
    name, which is the command's argument)."""
    import yaml

    config = yaml.safe_load((template_source(lang) / "copier.yml").read_text(encoding="utf-8")) or {}
    return [key for key in config if not key.startswith("_") and key != "name"]


def check_data_keys(lang: str, data: Mapping[str, str]) -> None:
    """Refuse ``--data`` keys the template does not ask (a typo would be dropped silently)."""
    known = template_questions(lang)
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise UsageError(
            f"--data {', '.join(unknown)}: not a question of the {lang} template",
            hint=f"the template asks: {', '.join(known)}",
        )


def _history(lang: str) -> List[Tuple[str, Path]]:
    """Archived older template versions, oldest first: ``(version, tar.gz path)``."""
    from packaging.version import Version

    folder = templates_dir() / "_history" / lang
    if not folder.is_dir():
        return []
    found = [(p.name[: -len(".tar.gz")], p) for p in folder.glob("*.tar.gz")]
    return sorted(found, key=lambda item: Version(item[0]))


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, **_GIT_IDENTITY}
    try:
        done = subprocess.run(
            ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
        )
    except FileNotFoundError as exc:
        raise ScaffoldError("git is not installed", hint="install it: apt-get install -y git") from exc
    except subprocess.CalledProcessError as exc:
        raise ScaffoldError(f"git {' '.join(args)} failed in {repo}: {exc.stderr.strip()}") from exc
    return done.stdout


def _layers(lang: str) -> List[Path]:
    """The directories a template is made of: its own, then the files all languages share
    (``templates/_shared``: release workflow, .env.example, ...), laid over it."""
    shared = templates_dir() / "_shared"
    return [template_source(lang)] + ([shared] if shared.is_dir() else [])


def _replace_tree(repo: Path, layers: List[Path]) -> None:
    for child in repo.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    for layer in layers:
        shutil.copytree(layer, repo, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))


def _tree_digest(layers: List[Path]) -> str:
    digest = hashlib.sha256()
    for root in layers:
        for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def template_repo(lang: str) -> Path:
    """The git repository Copier reads the ``lang`` template from, up to date.

    One commit and tag ``vX.Y.Z`` per template version: the archived versions of
    ``templates/_history/<lang>/`` and the shipped one. Versions are only ever added, so
    projects made from any version this cache has seen can be updated. A shipped version
    whose content changed without a version bump (a kit developer's edit) is re-tagged.
    """
    layers = _layers(lang)
    current = template_version(lang)
    versions: List[Tuple[str, Optional[Path]]] = [(v, p) for v, p in _history(lang) if v != current]
    versions.append((current, None))
    digests = {
        version: _tree_digest(layers) if archive is None else hashlib.sha256(archive.read_bytes()).hexdigest()
        for version, archive in versions
    }
    fingerprint = hashlib.sha256(repr(sorted(digests.items())).encode()).hexdigest()
    root = cache_dir() / "templates"
    repo = root / lang
    stamp = repo / ".git" / "motivus-fingerprint"
    with _locked(root / f".{lang}.lock"):
        if stamp.is_file() and stamp.read_text() == fingerprint:
            return repo
        if not (repo / ".git").is_dir():
            repo.mkdir(parents=True, exist_ok=True)
            _git(repo, "init", "-q", "-b", "main")
        for version, archive in versions:
            tag = f"v{version}"
            known = _git(repo, "tag", "--list", "-n1", tag).split()
            if known and known[-1] == digests[version]:
                continue
            if archive is None:
                _replace_tree(repo, layers)
            else:
                with tempfile.TemporaryDirectory() as unpacked:
                    _extract(archive, Path(unpacked))
                    _replace_tree(repo, [Path(unpacked)])
            _git(repo, "add", "-A")
            _git(repo, "commit", "-q", "--allow-empty", "-m", f"{lang} template {version}")
            _git(repo, "tag", "-f", "-a", tag, "-m", digests[version])
        stamp.write_text(fingerprint)
    return repo


def _extract(archive: Path, into: Path) -> None:
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter="data")
        else:  # Python < 3.9.17 has no extraction filters; our own archives only
            tar.extractall(into)


def parse_data(pairs: List[str]) -> Dict[str, str]:
    """``--data key=value`` options as a dict."""
    data: Dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--data {pair!r} is not KEY=VALUE", hint="e.g. --data author='Ada Lovelace'")
        data[key.strip()] = value
    return data


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise ScaffoldError(f"{target} exists and is not a directory", hint="choose another name or path")
    if target.is_dir() and any(target.iterdir()):
        raise ScaffoldError(
            f"{target} already exists and is not empty; nothing was written",
            hint="choose another name, or remove the directory first",
        )


#: What every project's ignore list must hold: the kit's caches and build stamp (a Rust
#: project's reach 110 MB and more).
KIT_DIR_RULE = "/.motivus/"


def ignore_kit_dir(project: Path) -> bool:
    """Add ``/.motivus/`` to a git project's ``.gitignore`` when nothing ignores it yet (a
    project made from the platform's template); True when it was added. Once added it
    is ignored, so this happens, and is said, once."""
    if not _inside_git_worktree(project):
        return False
    try:
        probe = subprocess.run(["git", "check-ignore", "-q", ".motivus/build-stamp.json"], cwd=project,
                               capture_output=True)
    except FileNotFoundError:
        return False
    if probe.returncode != 1:  # 0: ignored already; 128: git could not tell
        return False
    ignore = project / ".gitignore"
    text = ignore.read_text(encoding="utf-8") if ignore.is_file() else ""
    separator = "" if not text or text.endswith("\n") else "\n"
    ignore.write_text(f"{text}{separator}# the kit's caches and build stamp (motivus build)\n{KIT_DIR_RULE}\n",
                      encoding="utf-8")
    return True


def _inside_git_worktree(path: Path) -> bool:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"],
            cwd=path, capture_output=True, text=True,
        )
    except FileNotFoundError:
        return False
    return done.returncode == 0 and done.stdout.strip() == "true"


def new_project(
    name: str,
    lang: str,
    parent: Path,
    *,
    data: Optional[Mapping[str, str]] = None,
    defaults: bool = False,
    git: bool = True,
    target: Optional[Path] = None,
) -> NewResult:
    """Generate a project named ``name`` in ``parent/name`` (or ``target``).

    ``defaults`` answers every question with its default (non-interactive); ``data`` gives
    answers that are then not asked. A new project is made a git repository with a first
    commit (unless inside one already), because Copier updates need git.
    """
    problem = check_package_name(name)
    if problem:
        raise UsageError(f"{name!r} is not a valid algorithm name: {problem}")
    check_data_keys(lang, data or {})
    source_repo = template_repo(lang)
    version = template_version(lang)
    destination = (target or parent / name).resolve()
    _check_target(destination)
    answers = dict(data or {})
    answers["name"] = name
    _run_copier("copy", destination, lang, source_repo, answers, f"v{version}", defaults)
    initialised = False
    if git and not _inside_git_worktree(destination.parent):
        _git(destination, "init", "-q")
        _git(destination, "add", "-A")
        _commit_as_user(destination, f"New {lang} algorithm {name} (motivus template {version})")
        initialised = True
    return NewResult(destination, lang, version, initialised)


def _commit_as_user(repo: Path, message: str) -> None:
    """Commit with the user's git identity, or the kit's when none is configured."""
    has_identity = subprocess.run(
        ["git", "config", "user.email"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    env = dict(os.environ)
    if not has_identity:
        env.update({k: v for k, v in _GIT_IDENTITY.items() if not k.endswith("_DATE")})
    done = subprocess.run(["git", "commit", "-q", "-m", message], cwd=repo, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise ScaffoldError(f"git commit failed in {repo}: {done.stderr.strip()}")


def _run_copier(
    operation: str,
    destination: Path,
    lang: str,
    repo: Path,
    answers: Mapping[str, str],
    ref: str,
    defaults: bool,
) -> None:
    """Run Copier on the template of ``lang`` (kept in ``repo`` on this machine); an update
    reads the address from the project's answers, which resolves to ``repo`` as well."""
    import copier
    from copier.errors import CopierError

    try:
        with _resolved_on_this_machine(lang, repo):
            if operation == "copy":
                copier.run_copy(
                    template_url(lang), destination, data=dict(answers), vcs_ref=ref, defaults=defaults,
                    quiet=True, unsafe=False, cleanup_on_error=True,
                )
            else:
                copier.run_update(
                    destination, data=dict(answers), vcs_ref=ref, defaults=defaults, overwrite=True,
                    quiet=True, unsafe=False, skip_answered=True, conflict="inline",
                )
    except CopierError as exc:
        raise ScaffoldError(f"template {operation} failed: {exc}") from exc
    except ValueError as exc:  # Copier reports invalid answers (validators) this way
        raise ScaffoldError(
            f"template {operation} failed: {exc}",
            hint="correct the answer given with --data KEY=VALUE",
        ) from exc
    except (EOFError, KeyboardInterrupt) as exc:
        raise ScaffoldError(
            "a template question could not be asked (no terminal input)",
            hint="pass --defaults and --data KEY=VALUE for non-interactive use",
        ) from exc


def _read_answers(project: Path) -> Dict[str, str]:
    import yaml

    path = project / ANSWERS_FILE
    if not path.is_file():
        raise ScaffoldError(
            f"{path} does not exist, so this project cannot be updated from its template",
            hint="only projects made with 'motivus new' (which keeps that file) can be updated",
        )
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): v for k, v in data.items()}


def update_project(project: Path, *, data: Optional[Mapping[str, str]] = None, defaults: bool = True) -> UpdateResult:
    """Bring ``project`` to the kit's current template version, keeping the author's changes.

    Conflicting hunks are left inline with conflict markers and listed in the result.
    """
    project = project.resolve()
    answers = _read_answers(project)
    recorded = str(answers.get("_src_path", ""))
    lang = _lang_of(recorded)
    if lang is None:
        raise ScaffoldError(
            f"{project / ANSWERS_FILE}: '_src_path' is {recorded!r}, not a Motivus template",
            hint="only projects made with 'motivus new' can be updated",
        )
    check_data_keys(lang, data or {})
    repo = template_repo(lang)
    if recorded != template_url(lang) and Path(recorded).resolve() != repo.resolve():
        raise ScaffoldError(
            f"{project / ANSWERS_FILE} names the template at {recorded}, a path on the machine that made it",
            hint=f"set '_src_path: {template_url(lang)}' in {ANSWERS_FILE} (the same on every machine), "
            "commit, and run 'motivus update' again",
        )
    if not _inside_git_worktree(project):
        raise ScaffoldError(
            f"{project} is not a git repository; updates need git to merge the template's changes safely",
            hint="run 'git init && git add -A && git commit -m init' there first",
        )
    dirty = [line[3:] for line in _git(project, "status", "--porcelain").splitlines() if line.strip()]
    if dirty:
        shown = ", ".join(dirty[:8]) + (f" and {len(dirty) - 8} more" if len(dirty) > 8 else "")
        raise ScaffoldError(
            f"{project} has uncommitted changes ({shown}); nothing was updated",
            hint="commit or stash them first, so that the update can be reviewed and undone "
            "(a Rust project's Cargo.lock, written by the first build, belongs in the repository)",
        )
    old = str(answers.get("_commit", "?")).lstrip("v")
    new = template_version(lang)
    _run_copier("update", project, lang, repo, dict(data or {}), f"v{new}", defaults)
    changed = _git(project, "diff", "--name-only").split()
    marked = {
        project / name for name in changed
        if (project / name).is_file() and "<<<<<<< before updating" in (project / name).read_text(errors="replace")
    }
    # A hunk copier could not place is in FILE.rej, beside FILE: one conflict, named once.
    rejected = {path.with_suffix("") for path in project.rglob("*.rej")}
    touched = bool(_git(project, "status", "--porcelain").strip())
    return UpdateResult(project, old, new, sorted(marked | rejected), touched)


def history_archive(lang: str) -> bytes:
    """A deterministic tar.gz of the current template (with the shared files), for
    ``templates/_history``."""
    with tempfile.TemporaryDirectory() as merged:
        source = Path(merged)
        _replace_tree(source, _layers(lang))
        return _archive(source)


def _archive(source: Path) -> bytes:
    import gzip

    buffer = io.BytesIO()
    # gzip's header holds a time stamp: fix it, like every other byte of the archive.
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz, tarfile.open(
        fileobj=gz, mode="w", format=tarfile.PAX_FORMAT
    ) as tar:
        for path in sorted(p for p in source.rglob("*") if "__pycache__" not in p.parts):
            info = tar.gettarinfo(str(path), arcname=path.relative_to(source).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if path.is_file():
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    return buffer.getvalue()
