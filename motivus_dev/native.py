"""The project's own code built for this machine, for `motivus bench --native`: the
wasm/native ratio of the same code on the same input.

- Rust (mvrc): the crate, as an ``rlib``, under a small harness that calls the crate's
  ``pub fn motivus_native(params: &str) -> String`` (the task's params as JSON text in, the
  value ``main`` returns as JSON text out; the Rust template has it), built with cargo's
  default release settings by the toolchain's own rustc (the ``native`` step of the build
  script, in the mvrc image or on the host) and timed in-process around that call.
- C/C++ (mvcc, automatic build): the sources the package is built from, compiled by the
  host's gcc/g++ with -O2 and the project's own cflags (without Emscripten's ``-s``
  settings), run as a program with the case's arguments, its preload files, the packed
  filesystem and the result files' directories at their guest paths: in a bubblewrap
  sandbox whose root is a scratch directory, because those paths are absolute. Timed as a
  process (start-up included, about a millisecond). Only command-line cases (main with
  arguments); a Makefile project is built by its own rules, which the kit does not know.

The wasm side's figure is the loader's ``call`` phase: the guest's main() or function,
its own parsing included, as the native side's.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence

from .config import ProjectConfig
from .errors import BuildError, ConfigError, ToolchainError
from .fixtures import Case
from .reporter import Reporter

#: What a Rust crate exports for the native comparison.
RUST_ENTRY = "motivus_native"
_RUST_ENTRY_DEF = re.compile(r"\bpub\s+fn\s+motivus_native\s*\(")
_NATIVE_LINE = re.compile(r"^motivus-native: run (\d+) ([0-9.eE+-]+) s$")


@dataclass(frozen=True)
class NativeRuns:
    """Seconds per run of the native build, and what built it."""

    seconds: List[float]
    compiler: str


def run_native(config: ProjectConfig, case: Case, runs: int, reporter: Reporter,
               toolchain: str = "auto") -> NativeRuns:
    """Build the project's code natively and run ``case`` ``runs`` times."""
    if config.build.compiler == "mvrc":
        return _rust(config, case, runs, reporter, toolchain)
    return _c(config, case, runs, reporter)


# --------------------------------------------------------------------------- Rust


def _rust(config: ProjectConfig, case: Case, runs: int, reporter: Reporter, toolchain: str) -> NativeRuns:
    from .build import _plan, choose_toolchain, run_plan, toolchain_ref
    from .toolchain.mvrc import NATIVE

    source = config.project_dir / config.build.source / "src"
    if not any(_RUST_ENTRY_DEF.search(path.read_text(encoding="utf-8", errors="replace"))
               for path in source.rglob("*.rs")):
        raise ConfigError(
            f"the crate has no `pub fn {RUST_ENTRY}(params: &str) -> String`, which --native calls",
            hint="add it to src/lib.rs: parse the params JSON, call your algorithm, return the result as JSON "
                 "(motivus update brings the Rust template's)",
        )
    if case.params is None:
        raise ConfigError(f"case '{case.name}' has no params, which {RUST_ENTRY} takes")
    where, _reason = choose_toolchain(toolchain)
    plan = dataclasses.replace(_plan(config, toolchain_ref(config), where, offline=True), steps=(NATIVE,))
    native_dir = plan.cache_dir / "native"
    native_dir.mkdir(parents=True, exist_ok=True)
    (native_dir / "params.json").write_text(json.dumps(case.params), encoding="utf-8")
    plan = dataclasses.replace(plan, container_env={**plan.container_env, "MOTIVUS_NATIVE_RUNS": str(runs)},
                               host_env={**plan.host_env, "MOTIVUS_NATIVE_RUNS": str(runs)})
    output = run_plan(plan, where, config, reporter)
    seconds = [float(m.group(2)) for line in output if (m := _NATIVE_LINE.match(line.strip()))]
    if len(seconds) != runs:
        raise BuildError(f"the native harness reported {len(seconds)} of {runs} runs",
                         hint="motivus bench --native -v shows its output")
    prefix = "motivus-native: compiler: "
    compiler = next((" ".join(line[len(prefix):].split()[:2]) for line in output if line.startswith(prefix)), "rustc")
    return NativeRuns(seconds, f"{compiler}, cargo's release profile ({where.value})")


# --------------------------------------------------------------------------- C/C++


def _c(config: ProjectConfig, case: Case, runs: int, reporter: Reporter) -> NativeRuns:
    from .build import not_sources
    from .toolchain.mvcc import C_SUFFIXES, Mvcc, app_makefile

    if app_makefile(config.project_dir) is not None:
        raise ConfigError("--native builds the sources of the automatic build; this project builds with its "
                          "Makefile's app target, whose rules the kit does not know")
    if case.params is not None:
        raise ConfigError(f"case '{case.name}' calls a function by its params; --native runs command-line "
                          "cases (main with the case's arguments and files)")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise ToolchainError("--native runs C programs in bubblewrap (their paths are the guest's)",
                             hint="apt-get install -y bubblewrap")
    kind = config.toolchain
    assert isinstance(kind, Mvcc), kind  # run_native sends mvrc projects elsewhere
    source_dir = config.project_dir / config.build.source
    sources = [path for path, _ in kind.sources(config.project_dir, source_dir, not_sources(config))]
    cxx = any(path.suffix not in C_SUFFIXES for path in sources)
    compilers = {"c": shutil.which("gcc"), "cpp": shutil.which("g++")}
    if compilers["c"] is None or (cxx and compilers["cpp"] is None):
        raise ToolchainError("--native compiles C/C++ with the host's gcc and g++", hint="apt-get install -y g++")
    flags = [flag for flag in config.build.cflags if not flag.startswith("-s") and not flag.startswith("--")]
    work = config.project_dir / ".motivus" / "native"
    (work / "obj").mkdir(parents=True, exist_ok=True)
    objects = []
    reporter.step(f"compiling {len(sources)} source file(s) natively (gcc/g++ -O2)")
    for path in sources:
        lang = "c" if path.suffix in C_SUFFIXES else "cpp"
        obj = work / "obj" / (path.relative_to(source_dir).as_posix().replace("/", "__") + ".o")
        std = "-std=gnu17" if lang == "c" else "-std=gnu++17"
        _check([str(compilers[lang]), "-O2", std, *flags, f"-I{source_dir}", "-c", str(path), "-o", str(obj)],
               "compiling " + path.name)
        objects.append(str(obj))
    program = work / "program"
    _check([str(compilers["cpp" if cxx else "c"]), *objects, "-o", str(program), "-lm"], "linking")
    version = subprocess.run([str(compilers["cpp" if cxx else "c"]), "-dumpfullversion"], capture_output=True,
                             text=True, check=False).stdout.strip()
    seconds = []
    with tempfile.TemporaryDirectory(prefix="motivus-native-") as tmp:
        root = Path(tmp) / "root"
        _lay_out(config, case, root)
        sandbox = [bwrap, "--unshare-all", "--die-with-parent", "--bind", str(root), "/", *_system_binds(root),
                   "--ro-bind", str(program), "/.motivus-program", "--dev", "/dev", "--proc", "/proc", "--chdir", "/"]
        # What starting a process in the sandbox costs (a few ms), measured and subtracted:
        # the wasm side's figure (the call phase) has no process to start.
        empty = statistics.median(_timed([*sandbox, "/usr/bin/true"]) for _ in range(max(3, min(runs, 10))))
        reporter.step(f"running {case.name} natively {runs} time(s)", total=runs)
        for _ in range(runs):
            seconds.append(max(0.0, _timed([*sandbox, "/.motivus-program", *_arguments(case)]) - empty))
            reporter.advance()
    return NativeRuns(seconds, f"{'g++' if cxx else 'gcc'} {version} -O2; {empty * 1000:.1f} ms of process start "
                               "subtracted")


def _timed(argv: Sequence[str]) -> float:
    """Wall seconds of a native run, which must succeed."""
    began = time.perf_counter()
    done = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise BuildError(f"the native program exited with {done.returncode}: {done.stderr.strip()[-500:]}",
                         hint="does the case pass in `motivus test`?")
    return seconds


def _check(argv: Sequence[str], what: str) -> None:
    done = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BuildError(f"native build: {what} failed:\n{(done.stderr or done.stdout).strip()[-2000:]}",
                         hint="the code must also build with gcc/g++ for --native")


def _arguments(case: Case) -> List[str]:
    if case.arguments is None:
        return []
    if isinstance(case.arguments, str):
        return shlex.split(case.arguments)
    return [str(a) for a in case.arguments]


def _lay_out(config: ProjectConfig, case: Case, root: Path) -> None:
    """The guest's files under ``root``: the packed filesystem, the preload files, the
    result files' directories, /motivus (params.json, as the loader writes it)."""
    from .build import has_filesystem

    root.mkdir(parents=True)
    if has_filesystem(config):
        shutil.copytree(config.project_dir / str(config.build.filesystem), root, dirs_exist_ok=True)
    body = case.task_body()
    for guest, encoded in (body.preload_files or {}).items():
        target = root / guest.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(encoded))
    for guest in case.result_files:
        (root / guest.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    (root / "motivus").mkdir(exist_ok=True)
    (root / "motivus" / "params.json").write_text("null", encoding="utf-8")


def _system_binds(root: Path) -> List[str]:
    """The host's programs and libraries, read-only; the links of a merged /usr are made in
    ``root`` itself (bubblewrap's --symlink would fail on the next run's existing link)."""
    out = ["--ro-bind", "/usr", "/usr"]
    for name in ("/lib", "/lib64", "/bin", "/sbin"):
        if os.path.islink(name):
            link = root / name.lstrip("/")
            if not link.is_symlink():
                link.symlink_to(os.readlink(name))
        elif os.path.isdir(name):
            out += ["--ro-bind", name, name]
    return out
