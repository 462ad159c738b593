"""The build plan: everything needed to run one toolchain's build script, and nothing else.

Pure: :func:`make_plan` only does path arithmetic, so the container and host variants of a
build can be checked in unit tests without Docker or a filesystem. The executors
(:mod:`.docker`, :mod:`.host`) run the same plan; only the project's location differs
(``/project`` in the container, the real path on the host), which the build scripts remap so
that both produce the same bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Dict, List, Optional, Tuple

from motivus_dev.errors import BuildError, ConfigError
from motivus_dev.toolchain.kind import Step, Toolchain
from motivus_dev.toolchain.registry import BY_LANG, TOOLCHAINS

PROFILES = ("release", "debug")

#: Where the project is mounted in the container, and where the image keeps its script.
CONTAINER_PROJECT = "/project"
CONTAINER_SCRIPT = "/opt/motivus/toolchain/build.sh"
#: Where the user's shared cache (downloads, built tools) and the host's CA bundle are mounted.
CONTAINER_SHARED_CACHE = "/motivus-shared"
CONTAINER_CA_FILE = "/etc/motivus/ca-certificates.crt"


@dataclass(frozen=True)
class BuildInput:
    """A project's build settings (from motivus.yml), as the planner needs them."""

    project_dir: Path
    lang: str
    name: str
    version: str
    source: str = "."
    filesystem: Optional[str] = None
    profile: str = "release"
    cflags: str = ""
    ldflags: str = ""
    #: compile with WebAssembly SIMD128 (motivus.yml build.simd)
    simd: bool = True
    #: keep the module's function names (a build for a profile)
    keep_names: bool = False
    #: toolchain-specific settings for its build script (``Toolchain.script_env``)
    extra_env: Tuple[Tuple[str, str], ...] = ()
    #: the user's cache shared by all projects (downloads, tools built once)
    shared_cache: Optional[Path] = None
    #: the host's CA bundle, for the steps that download (a TLS-inspecting proxy's CA)
    ca_file: Optional[Path] = None
    #: download nothing: the fetch step uses vendor/ or what the shared cache holds
    offline: bool = False


@dataclass(frozen=True)
class Mount:
    """A bind mount: host ``source`` at container ``target``."""

    source: Path
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class BuildPlan:
    """How to run one build script, in the toolchain's container or on the host."""

    kind: Toolchain
    name: str  # the package's name and version
    version: str
    image: str
    container_script: str
    host_script: Path
    project_dir: Path
    out_rel: str
    cache_rel: str
    container_env: Dict[str, str] = field(hash=False)
    host_env: Dict[str, str] = field(hash=False)
    mounts: Tuple[Mount, ...]
    workdir: str
    user: str
    steps: Tuple[Step, ...]
    shared_cache: Path
    offline: bool = False

    @property
    def toolchain(self) -> str:
        """The toolchain's name (``mvrc``, ``mvcc``)."""
        return self.kind.name

    @property
    def out_dir(self) -> Path:
        """The host directory where the script writes its outputs."""
        return self.project_dir / self.out_rel

    @property
    def cache_dir(self) -> Path:
        """The host directory of the toolchain's persistent caches."""
        return self.project_dir / self.cache_rel

    @property
    def home_dir(self) -> Path:
        """The host directory used as ``HOME`` by the script (inside the cache)."""
        return self.cache_dir / "home"

    def dirs_to_create(self) -> Tuple[Path, ...]:
        """Host directories an executor creates (as the caller) before running the script."""
        return (self.out_dir, self.cache_dir, self.home_dir, self.shared_cache)

    def network_for(self, step: Step) -> bool:
        """Whether ``step`` runs with the network: only a download step, and only online."""
        return step.network and not self.offline


def _relative_inside(value: str, what: str) -> str:
    """Normalise a project-relative path; refuse absolute paths and escapes from the project."""
    path = PurePosixPath(value or ".")
    if path.is_absolute():
        raise ConfigError(f"{what} must be relative to the project, not '{value}'")
    parts = [p for p in path.parts if p != "."]
    if ".." in parts:
        raise ConfigError(f"{what} must stay inside the project, not '{value}'")
    return "/".join(parts) or "."


def _env(project: str, inp: BuildInput, source: str, filesystem: str,
         out_rel: str, cache_rel: str, shared: str, ca_file: str) -> Dict[str, str]:
    cache = f"{project}/{cache_rel}"
    return {
        "MOTIVUS_SHARED_CACHE": shared,
        "MOTIVUS_CA_FILE": ca_file,
        "MOTIVUS_OFFLINE": "1" if inp.offline else "0",
        "MOTIVUS_PROJECT": project,
        "MOTIVUS_SOURCE": source,
        "MOTIVUS_FILESYSTEM": filesystem,
        "MOTIVUS_LANG": inp.lang,
        "MOTIVUS_NAME": inp.name,
        "MOTIVUS_VERSION": inp.version,
        "MOTIVUS_PROFILE": inp.profile,
        "MOTIVUS_CFLAGS": inp.cflags,
        "MOTIVUS_LDFLAGS": inp.ldflags,
        "MOTIVUS_SIMD": "1" if inp.simd else "0",
        "MOTIVUS_KEEP_NAMES": "1" if inp.keep_names else "0",
        "MOTIVUS_OUT": f"{project}/{out_rel}",
        "MOTIVUS_CACHE": cache,
        # A HOME the caller's uid can write (the image has no home for arbitrary uids).
        "HOME": f"{cache}/home",
        "SOURCE_DATE_EPOCH": "0",
        **dict(inp.extra_env),
    }


def make_plan(inp: BuildInput, *, image: str, host_script: Path, uid: int, gid: int) -> BuildPlan:
    """Plan a build of ``inp`` with the toolchain of its language.

    ``image`` is the pinned image reference, ``host_script`` the shipped build script the host
    executor runs, ``uid``/``gid`` the caller's ids (the container runs as them, so the files
    it writes in the project belong to the caller).
    """
    toolchain = BY_LANG.get(inp.lang)
    if toolchain is None:
        raise ConfigError(
            f"unknown language '{inp.lang}'", hint="motivus.yml 'lang' must be rust, c or cpp"
        )
    if inp.profile not in PROFILES:
        raise ConfigError(
            f"unknown build profile '{inp.profile}'", hint="use 'release' or 'debug'"
        )
    if not inp.project_dir.is_absolute():
        raise ConfigError(f"the project directory must be absolute, not '{inp.project_dir}'")
    source = _relative_inside(inp.source, "build.source")
    filesystem = _relative_inside(inp.filesystem, "filesystem") if inp.filesystem else ""
    out_rel = f".motivus/out/{toolchain}"
    cache_rel = f".motivus/cache/{toolchain}"
    host_project = str(inp.project_dir)
    # Without a shared cache (a plan made for a unit test), the project's own cache serves.
    shared = inp.shared_cache or inp.project_dir / cache_rel / "shared"
    mounts = [Mount(inp.project_dir, CONTAINER_PROJECT, read_only=False),
              Mount(shared, CONTAINER_SHARED_CACHE, read_only=False)]
    if inp.ca_file is not None:
        mounts.append(Mount(inp.ca_file, CONTAINER_CA_FILE, read_only=True))
    return BuildPlan(
        kind=TOOLCHAINS[toolchain],
        name=inp.name,
        version=inp.version,
        image=image,
        container_script=CONTAINER_SCRIPT,
        host_script=host_script,
        project_dir=inp.project_dir,
        out_rel=out_rel,
        cache_rel=cache_rel,
        container_env=_env(CONTAINER_PROJECT, inp, source, filesystem, out_rel, cache_rel,
                           CONTAINER_SHARED_CACHE, CONTAINER_CA_FILE if inp.ca_file else ""),
        host_env=_env(host_project, inp, source, filesystem, out_rel, cache_rel,
                      str(shared), str(inp.ca_file or "")),
        mounts=tuple(mounts),
        workdir=CONTAINER_PROJECT,
        user=f"{uid}:{gid}",
        steps=TOOLCHAINS[toolchain].steps,
        shared_cache=shared,
        offline=inp.offline,
    )


#: How many lines of a failed build's output the error shows.
ERROR_TAIL_LINES = 60
#: A longer output line (an emcc command line) is cut in the error, not dropped.
ERROR_LINE_CHARS = 300


def _as_author_sees_it(plan: BuildPlan) -> Callable[[str], str]:
    """A function that shows a line of compiler output with the project's paths (the
    container's ``/project`` or the host's) relative to the project, and very long lines
    (compiler command lines) cut."""
    prefixes = sorted({f"{CONTAINER_PROJECT}/", f"{plan.project_dir}/"}, key=len, reverse=True)
    whole = re.compile(r"(?<![\w/])(%s|%s)(?![\w/])" % (re.escape(CONTAINER_PROJECT), re.escape(str(plan.project_dir))))

    def show(line: str) -> str:
        for prefix in prefixes:
            line = line.replace(prefix, "")
        line = whole.sub("the project directory", line)
        if len(line) > ERROR_LINE_CHARS:
            line = line[:ERROR_LINE_CHARS] + f" [... {len(line) - ERROR_LINE_CHARS} more characters]"
        return line

    return show


def build_failure(plan: BuildPlan, exit_code: int, output: List[str]) -> BuildError:
    """The error of a failed build script: the tail of its output, as the author sees it."""
    show = _as_author_sees_it(plan)
    lines = [show(line) for line in output[-ERROR_TAIL_LINES:]]
    return BuildError(
        f"the {plan.toolchain} build failed (exit code {exit_code}):\n" + "\n".join(lines),
        hint="fix the error above and run the build again (motivus build -v shows the whole output)",
    )


#: clang/emcc: ``src/main.c:3:9: warning: unused variable 'x' [-Wunused-variable]``; emcc and
#: other tools: ``emcc: warning: ...``.
_LOCATED_WARNING = re.compile(r"^\S[^:]*:\d+:\d+: warning: ")
_TOOL_WARNING = re.compile(r"^[\w.+-]+: warning: ")
#: rustc/cargo: ``warning: unused variable: `x` `` then `` --> src/lib.rs:3:9``.
_RUST_WARNING = re.compile(r"^warning: (?P<message>.*)$")
_RUST_LOCATION = re.compile(r"^\s*--> (?P<where>\S+)$")
#: Tallies, not warnings: ``1 warning generated.``, ``warning: `kmeans` (lib) generated 2 warnings``.
_TALLY = re.compile(r"\b\d+ warnings? generated\b|\bgenerated \d+ warnings?\b")


def compiler_warnings(plan: BuildPlan, output: List[str]) -> List[str]:
    """The warnings in a successful build's output, one line each, as the author sees them
    (``src/lib.rs:3:9: unused variable: `x` ``): a build that succeeds is otherwise silent
    about them, and they are often the bug of tomorrow."""
    show = _as_author_sees_it(plan)
    found: List[str] = []
    pending: Optional[str] = None  # a rustc warning waiting for its --> location
    for raw in output:
        line = show(raw.rstrip())
        if _TALLY.search(line):
            continue
        location = _RUST_LOCATION.match(line)
        if pending is not None and location:
            found[-1] = f"{location.group('where')}: {pending}"
            pending = None
            continue
        rust = _RUST_WARNING.match(line)
        if rust:
            pending = rust.group("message")
            found.append(pending)
        elif _LOCATED_WARNING.match(line) or _TOOL_WARNING.match(line):
            pending = None
            found.append(line)
        elif line.strip() and not line.startswith((" ", "|")):
            pending = None
    return found
