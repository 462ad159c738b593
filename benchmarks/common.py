"""Shared helpers of the benchmark scripts: projects, builds, a loopback subprocess, RSS.

Every script in this directory imports this module and runs alone
(``python benchmarks/bench_loopback.py``); ``benchmarks/run.py`` runs them all. Work files go
to ``$MOTIVUS_BENCH_DIR`` (default: a directory under the system temp dir, kept between runs
so that a second run reuses the built projects; remove it for a cold start).

Benchmarks bind only to 127.0.0.1 and stop every process they start.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
#: The kit's CLI, run as ``python -m motivus_dev`` with the interpreter running the benchmark.
MOTIVUS = [PYTHON, "-m", "motivus_dev"]
HOST = "127.0.0.1"



def _image_ref(toolchain: str) -> str:
    from motivus_dev.toolchain.images import image_for

    return image_for(toolchain).ref


def work_dir() -> Path:
    """The benchmarks' scratch directory (created)."""
    path = Path(os.environ.get("MOTIVUS_BENCH_DIR") or Path(tempfile.gettempdir()) / "motivus-bench")
    path.mkdir(parents=True, exist_ok=True)
    return path


def node() -> str:
    """The node binary (the one the worker pool uses)."""
    found = shutil.which("node") or shutil.which("nodejs")
    if not found:
        raise SystemExit("benchmarks need node on PATH")
    return found


def figure(name: str, value: float, unit: str, target: str = "", ok: Optional[bool] = None) -> Dict[str, object]:
    """Print one figure on its own line and return it (``run.py`` collects them)."""
    verdict = "" if ok is None else ("  [target met]" if ok else "  [TARGET MISSED]")
    tgt = f"  (target {target})" if target else ""
    shown = f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    print(f"FIGURE {name}: {shown} {unit}{tgt}{verdict}", flush=True)
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": ok}


def emit_json(figures: List[Dict[str, object]]) -> None:
    """Write figures as one JSON line for run.py (``MOTIVUS_BENCH_JSON`` names the file)."""
    out = os.environ.get("MOTIVUS_BENCH_JSON")
    if out:
        with open(out, "a", encoding="utf-8") as fh:
            for f in figures:
                fh.write(json.dumps(f) + "\n")


def run(cmd: Sequence[str], cwd: Optional[Path] = None, env: Optional[Dict[str, str]] = None,
        check: bool = True) -> "subprocess.CompletedProcess[str]":
    """Run a command, capturing output; on failure show it and stop."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(list(cmd), cwd=cwd, env=full_env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if check and proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:])
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return proc


def timed(cmd: Sequence[str], cwd: Optional[Path] = None, env: Optional[Dict[str, str]] = None) -> float:
    """Wall seconds of one command (which must succeed)."""
    t0 = time.perf_counter()
    run(cmd, cwd=cwd, env=env)
    return time.perf_counter() - t0


def new_project(name: str, lang: str, fresh: bool = False) -> Path:
    """``motivus new NAME --lang LANG --defaults`` in the work dir (reused unless ``fresh``)."""
    root = work_dir() / name
    if fresh and root.exists():
        shutil.rmtree(root)
    if not (root / "motivus.yml").exists():
        if root.exists():
            shutil.rmtree(root)
        run(MOTIVUS + ["new", name, "--lang", lang, "--defaults", "--no-git"], cwd=work_dir())
    return root


def build(project: Path, toolchain: str = "host", force: bool = False) -> float:
    """``motivus build`` of a project; returns wall seconds."""
    cmd = MOTIVUS + ["build", "--toolchain", toolchain] + (["--force"] if force else [])
    return timed(cmd, cwd=project)


def package_paths(project: Path) -> Dict[str, Path]:
    """The built package's files, from motivus.yml's name and version."""
    text = (project / "motivus.yml").read_text()
    name = re.search(r"^\s*name:\s*['\"]?([^'\"\s]+)", text, re.M)
    version = re.search(r"^\s*version:\s*['\"]?(\d[^'\"\s]*)", text.split("package:", 1)[-1], re.M)
    assert name and version, "motivus.yml without name/version"
    stem = str(project / "build" / f"{name.group(1)}-{version.group(1)}")
    return {"wasm": Path(stem + ".wasm"), "js": Path(stem + ".js"), "data": Path(stem + ".data.zip")}


ADD_LIB_RS = """\
//! Benchmark algorithm: the smallest useful task, main(a, b) -> a + b on f64 numbers.
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub fn main(a: f64, b: f64) -> f64 {
    a + b
}
"""


def add_project() -> Path:
    """The trivial Rust algorithm ``main(a: f64, b: f64) -> f64``, built in the mvrc container."""
    root = new_project("benchadd", "rust")
    lib = root / "src" / "lib.rs"
    if lib.read_text() != ADD_LIB_RS:
        lib.write_text(ADD_LIB_RS)
    build(root, "docker")
    return root


class Loopback:
    """``motivus loopback`` as a subprocess on 127.0.0.1, port 0 (context manager)."""

    def __init__(self, workers: Optional[int], extra: Sequence[str] = ()) -> None:
        """``workers``: the local pool's size (None with ``--cluster`` in ``extra``)."""
        self.workers = workers
        self.extra = list(extra)
        self.proc: "Optional[subprocess.Popen[str]]" = None
        self.uri = ""

    def __enter__(self) -> "Loopback":
        sized = ["--workers", str(self.workers)] if self.workers is not None else []
        cmd = MOTIVUS + ["loopback", "--host", HOST, "--port", "0", *sized] + self.extra
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     cwd=work_dir(), start_new_session=True)
        assert self.proc.stdout is not None
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"WEBSOCKET_URI=(\S+)", line)
            if m:
                self.uri = m.group(1)
                break
        if not self.uri:
            self.stop()
            raise SystemExit("motivus loopback did not print its WEBSOCKET_URI")
        # Keep draining its output so that it never blocks on a full pipe.
        import threading

        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def status(self, key: str) -> int:
        """A ``/proc/PID/status`` memory field of the server process, in bytes."""
        return proc_status(self.pid, key)

    def stop(self) -> None:
        """SIGINT (as Ctrl-C), then SIGKILL of its process group if it does not end."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def proc_status(pid: int, key: str) -> int:
    """``VmRSS``/``VmHWM``... of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank."""
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, int(round(q / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[idx]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def machine() -> Dict[str, str]:
    """The machine's description for docs/benchmarks.md."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass

    def version(cmd: Sequence[str]) -> str:
        try:
            out = subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, timeout=60, env=dict(os.environ, NODE_PATH="/usr/share/nodejs")).stdout
            return out.strip().splitlines()[0] if out.strip() else "?"
        except (OSError, subprocess.TimeoutExpired):
            return "not found"

    return {
        "nproc": str(os.cpu_count()),
        "memory": mem,
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": version([node(), "--version"]),
        "rustc (mvrc image)": version(["docker", "run", "--rm", "--network", "none", _image_ref("mvrc"),
                                       "rustc", "--version"]),
        "emcc": version(["emcc", "--version"]),
        "g++": version(["g++", "--version"]),
        "wasm-opt": version(["wasm-opt", "--version"]),
        "docker": version(["docker", "--version"]),
    }


COPY_MAIN_C = r"""// Benchmark algorithm: copies /input/big.bin to /output/big.bin, or, with
// `spin SECONDS`, keeps the worker busy for that long (a blocker for the memory benchmark).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "spin") == 0) {
        double until = atof(argv[2]);
        clock_t start = clock();
        volatile unsigned long n = 0;
        while ((double)(clock() - start) / CLOCKS_PER_SEC < until) n++;
        printf("spun %lu\n", (unsigned long)n);
        return 0;
    }
    FILE *in = fopen("/input/big.bin", "rb");
    if (!in) { perror("/input/big.bin"); return 1; }
    mkdir("/output", 0755);
    FILE *out = fopen("/output/big.bin", "wb");
    if (!out) { perror("/output/big.bin"); return 1; }
    static char buf[1 << 20];
    size_t n, total = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) { fwrite(buf, 1, n, out); total += n; }
    fclose(in);
    fclose(out);
    printf("copied %zu bytes\n", total);
    return 0;
}
"""


def copy_project() -> Path:
    """A C algorithm that copies /input/big.bin to /output/big.bin (or spins), built on the host."""
    root = new_project("benchcopy", "c")
    src = root / "src"
    if (src / "main.c").read_text() != COPY_MAIN_C:
        for f in src.iterdir():
            f.unlink()
        (src / "main.c").write_text(COPY_MAIN_C)
    build(root, "host")
    return root
