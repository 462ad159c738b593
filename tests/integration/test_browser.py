"""Packages built by `motivus build` run in a real browser's Web Worker exactly as in node.

The cluster's browser workers run a package by making a classic Web Worker from the
loader's text (`new Worker(URL.createObjectURL(new Blob([loaderText])))`) and posting it the
task body (shared/spec/worker-contract.md). This test builds the Rust and the C++ templates,
serves a small page (tests/harness/browser/) plus the package files from a local HTTP server,
and lets headless Chromium run the tasks there: the page reads each reply (a plain body,
base64 stdout/stderr) and POSTs the results back. The same task bodies then go through the
reference worker (tests/harness/reference_worker.js, node as the platform runs it), and
both must agree exactly: data, result files, stdout, stderr and exit code, for successes and
for failures.

No WebDriver is needed: Chromium is started on the page's URL and the page reports to the
server, so the only tools are the `chromium` binary and node.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
from click.testing import CliRunner
from kmeans_data import SEED_LABELS as LABELS
from kmeans_data import SEED_POINTS as SEED
from reference_worker import check_ascii, run_reference

from motivus_dev.cli import main

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PAGE_DIR = ROOT / "tests" / "harness" / "browser"
BROWSER_TIMEOUT_S = 60.0
# The flags that let headless Chromium run as root in a container without touching the
# network or a profile (a fresh --user-data-dir is added per run). Without crashpad every
# Chromium process stays in the process group we start, so stopping that group stops all.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-breakpad",
    "--enable-logging=stderr", "--v=0",
]


def find_chromium() -> Optional[str]:
    """The Chromium binary: $CHROMIUM if set, else the Debian package's `chromium`."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return shutil.which(explicit)
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_tools() -> str:
    """Skips naming the first missing tool; returns the Chromium binary."""
    chromium = find_chromium()
    if chromium is None:
        named = os.environ.get("CHROMIUM")
        pytest.skip(f"chromium is missing ({f'$CHROMIUM={named} not found' if named else 'apt-get install chromium'})")
    for tool, package in (("node", "nodejs"), ("emcc", "emscripten"), ("wasm-opt", "binaryen")):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing (apt-get install {package})")
    for path, package in (("/usr/bin/cargo", "cargo"),
                          ("/usr/lib/rustlib/wasm32-unknown-unknown", "libstd-rust-dev-wasm32")):
        if not os.path.exists(path):
            pytest.skip(f"{path} is missing (apt-get install {package})")
    return chromium


class PageServer:
    """A local HTTP server for the page: GET serves a fixed table of files, POST /results
    stores what the page reports and wakes the waiting test."""

    def __init__(self, files: Dict[str, bytes]) -> None:
        self.files = dict(files)
        self.report: Optional[Dict[str, Any]] = None
        self.reported = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                content = outer.files.get(self.path.split("?", 1)[0])
                if content is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", _content_type(self.path))
                self.send_header("Content-Length", str(len(content)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(content)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path != "/results":
                    self.send_error(404)
                    return
                try:
                    outer.report = json.loads(raw)
                except ValueError as exc:
                    outer.report = {"fatal": f"the page posted invalid JSON: {exc}"}
                self.send_response(204)
                self.end_headers()
                outer.reported.set()

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        port = self.httpd.server_address[1]
        return f"http://127.0.0.1:{port}"

    def __enter__(self) -> "PageServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def _content_type(path: str) -> str:
    for suffix, kind in ((".html", "text/html"), (".js", "text/javascript"), (".json", "application/json"),
                         (".wasm", "application/wasm"), (".zip", "application/zip")):
        if path.endswith(suffix):
            return kind
    return "application/octet-stream"


def run_in_chromium(chromium: str, url: str, server: PageServer, home: Path) -> Dict[str, Any]:
    """Opens `url` in headless Chromium and waits for the page's report. Chromium's profile,
    config and crash database all live under `home` (a fresh directory), and every process
    the browser started is stopped before this returns."""
    home.mkdir(parents=True, exist_ok=True)
    log = home / "chromium.log"
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"))
    with open(log, "wb") as log_file:
        browser = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={home / 'profile'}", url],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,  # its own process group, so its helpers go with it
        )
        try:
            # Poll, so that a browser that dies at start fails the test at once, not at the deadline.
            deadline = time.monotonic() + BROWSER_TIMEOUT_S
            got = False
            exited: Optional[int] = None
            while not got and exited is None and time.monotonic() < deadline:
                got = server.reported.wait(0.2)
                exited = browser.poll()
            got = got or server.reported.is_set()
        finally:
            _stop_group(browser)
            _stop_strays(str(home))
    if not got:
        tail = log.read_text(errors="replace")[-3000:]
        why = f"chromium exited with {exited}" if exited is not None else f"no report within {BROWSER_TIMEOUT_S:.0f} s"
        raise AssertionError(f"the page did not report its results ({why}); chromium's log:\n{tail}")
    assert server.report is not None
    return server.report


def _stop_group(proc: "subprocess.Popen[bytes]") -> None:
    """SIGTERM, then SIGKILL, the process group led by `proc` (started with a new session)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=5)
            break
        except subprocess.TimeoutExpired:
            continue
    try:  # helpers of the group that outlived their leader
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _stop_strays(marker: str) -> None:
    """Chromium's crash handlers leave the process group (they call setsid). They are this
    run's when their command line names our private home (their crash database is in it):
    stop exactly those, by pid, and wait until they are gone."""
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():
        return
    deadline = time.monotonic() + 5
    while True:
        strays = []
        for entry in proc_dir.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline:
                strays.append(int(entry.name))
        if not strays:
            return
        for pid in strays:
            try:
                os.kill(pid, signal.SIGTERM if time.monotonic() < deadline else signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def run_in_node(loader: Path, wasm: Path, bodies: List[Dict[str, Any]], work: Path) -> List[Dict[str, Any]]:
    """The same task bodies through the reference worker (node, as the platform runs it)."""
    check_ascii(loader)
    return [
        {key: entry[key] for key in ("out", "stdout", "stderr", "exitCode")} if "payload" in entry else entry
        for entry in run_reference(loader, wasm, bodies, timeout=120)
    ]


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Path]]:
    """The three templates, built on the host: {"rust": project, "c": project, "cpp": project}."""
    require_tools()
    parent = tmp_path_factory.mktemp("browser-projects")
    built: Dict[str, Path] = {}
    for lang in ("rust", "c", "cpp"):
        name = f"km{lang}"
        result = CliRunner().invoke(main, ["-C", str(parent), "new", name, "--lang", lang, "--defaults"])
        assert result.exit_code == 0, result.output
        project = parent / name
        if lang == "cpp":
            # A default k only the packed filesystem knows, so a task without -k shows whether
            # the browser really fetched and mounted data_link.
            conf = project / "filesystem" / "etc" / "kmeans.conf"
            conf.write_text(conf.read_text().replace("k = 2", "k = 3"))
        result = CliRunner().invoke(main, ["-C", str(project), "build", "--toolchain", "host"])
        assert result.exit_code == 0, result.output
        built[lang] = project
    yield built


def make_cases(packages: Dict[str, Path], base_url: str) -> List[Tuple[str, Dict[str, Any]]]:
    """(package stem, task body) per task, in the order the page runs them."""
    points = (packages["cpp"] / "tests" / "fixtures" / "points.txt").read_bytes()
    preload = {"/input/points.txt": base64.b64encode(points).decode()}
    data_link = f"{base_url}/pkg/kmcpp-0.0.1.data.zip"
    return [
        ("kmrust-0.0.1", {"params": [SEED, 2]}),
        ("kmrust-0.0.1", {"params": ["not points", 2]}),
        ("kmcpp-0.0.1", {"arguments": ["-k", "2"], "preload_files": preload,
                         "result_files": {"/output/labels.txt": "labels.txt"}, "data_link": data_link}),
        ("kmcpp-0.0.1", {"arguments": [], "preload_files": preload, "data_link": data_link}),
        ("kmcpp-0.0.1", {"arguments": ["-k", "0"], "data_link": data_link}),
        ("kmc-0.0.1", {"arguments": ["-k", "2"], "preload_files": preload,
                       "result_files": {"/output/labels.txt": "labels.txt"},
                       "data_link": f"{base_url}/pkg/kmc-0.0.1.data.zip"}),
    ]


Cases = List[Tuple[str, Dict[str, Any]]]


def browser_and_node(
    chromium: str, builds: Dict[str, Path], make: Callable[[str], Cases], tmp_path: Path
) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Run the cases ``make(base_url)`` gives (package stem, task body) in Chromium and in the
    reference worker; ``builds`` maps each stem to its build directory. Both result lists
    are in the cases' order."""
    files: Dict[str, bytes] = {
        "/index.html": (PAGE_DIR / "index.html").read_bytes(),
        "/page.js": (PAGE_DIR / "page.js").read_bytes(),
    }
    for build in builds.values():
        for path in build.iterdir():
            files[f"/pkg/{path.name}"] = path.read_bytes()
    with PageServer(files) as server:
        cases = make(server.base_url)
        # Both forms of buffWasm a browser worker may post: a Uint8Array and a bare ArrayBuffer.
        server.files["/tasks.json"] = json.dumps([
            {"loader": f"pkg/{stem}.js", "wasm": f"pkg/{stem}.wasm",
             "buffWasmAs": "Uint8Array" if i % 2 == 0 else "ArrayBuffer", "body": body}
            for i, (stem, body) in enumerate(cases)
        ]).encode()
        report = run_in_chromium(chromium, f"{server.base_url}/index.html", server, tmp_path / "chromium")
        assert "fatal" not in report, report["fatal"]
        browser = report["results"]
        assert len(browser) == len(cases)
        for entry in browser:
            assert "harnessError" not in entry, entry
        # node, with the very same bodies (data_link still points at this server).
        by_stem = {
            stem: iter(run_in_node(builds[stem] / f"{stem}.js", builds[stem] / f"{stem}.wasm",
                                   [body for s, body in cases if s == stem], tmp_path))
            for stem in dict.fromkeys(s for s, _ in cases)
        }
        node = [next(by_stem[stem]) for stem, _ in cases]
    return browser, node


def test_template_packages_run_in_a_chromium_web_worker_as_in_node(
        packages: Dict[str, Path], tmp_path: Path) -> None:
    chromium = require_tools()
    builds = {f"km{lang}-0.0.1": project / "build" for lang, project in packages.items()}
    browser, node = browser_and_node(chromium, builds, lambda url: make_cases(packages, url), tmp_path)

    rust_ok, rust_bad, cpp_ok, cpp_conf, cpp_bad, c_ok = browser
    assert c_ok["exitCode"] == 0 and c_ok["out"]["data"] == LABELS, c_ok
    assert base64.b64decode(c_ok["out"]["/output/labels.txt"]).decode().split() == [str(x) for x in LABELS]

    assert rust_ok["exitCode"] == 0, rust_ok
    assert rust_ok["out"] == {"data": LABELS}
    assert "kmeans: 10 points, k = 2" in rust_ok["stdout"]

    assert rust_bad["exitCode"] != 0 and rust_bad["out"] == {}, rust_bad
    assert "params[0] must be a list of points" in rust_bad["stderr"]

    assert cpp_ok["exitCode"] == 0, cpp_ok
    assert cpp_ok["out"]["data"] == LABELS
    labels = base64.b64decode(cpp_ok["out"]["/output/labels.txt"]).decode()
    assert labels.split() == [str(x) for x in LABELS]
    assert "10 points, 5 dimensions, k = 2" in cpp_ok["stdout"]

    # No -k: k comes from /etc/kmeans.conf, which only the data_link zip holds.
    assert cpp_conf["exitCode"] == 0, cpp_conf
    assert "k = 3" in cpp_conf["stdout"] and len(set(cpp_conf["out"]["data"])) == 3

    assert cpp_bad["exitCode"] == 2, cpp_bad
    assert "-k must be a positive integer" in cpp_bad["stderr"]

    # The browser and node agree on everything a driver receives.
    assert browser == node


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Path]]:
    """The Rust types corpus and the mvcc test program (argv, packed filesystem, preloaded
    and result files), built on the host: {"types-0.0.1": build dir, "demo-1.0.0": build dir}."""
    require_tools()
    parent = tmp_path_factory.mktemp("browser-corpus")
    types = parent / "types"
    shutil.copytree(ROOT / "tests" / "data" / "rust" / "types", types)
    shutil.copy(ROOT / "templates" / "rust" / "template" / "src" / "motivus.rs", types / "src" / "motivus.rs")
    (types / "motivus.yml").write_text(
        "version: 1.0\nbuild: {compiler: mvrc, source: .}\npackage: {name: types, version: 0.0.1}\n"
    )
    demo = parent / "demo"
    shutil.copytree(ROOT / "tests" / "data" / "c", demo)
    (demo / "motivus.yml").write_text(
        "version: 1.0\nbuild: {compiler: mvcc, lang: c, source: ., filesystem: filesystem}\n"
        "package: {name: demo, version: 1.0.0}\n"
    )
    for project in (types, demo):
        result = CliRunner().invoke(main, ["-C", str(project), "build", "--toolchain", "host"])
        assert result.exit_code == 0, result.output
    yield {"types-0.0.1": types / "build", "demo-1.0.0": demo / "build"}


def test_the_types_corpus_and_a_c_program_run_in_chromium_as_in_node(
        corpus: Dict[str, Path], tmp_path: Path) -> None:
    chromium = require_tools()

    def cases(base_url: str) -> Cases:
        numbers = base64.b64encode(b"5 3 9\n1\n").decode()
        return [
            ("types-0.0.1", {"entry": "res_string", "params": [True]}),
            ("types-0.0.1", {"entry": "res_vec", "params": [3]}),
            ("types-0.0.1", {"entry": "logs", "params": ["hi \u2713"]}),
            ("types-0.0.1", {"entry": "id_u8", "params": [256]}),
            ("types-0.0.1", {"entry": "panics", "params": ["boom at the end"]}),
            ("demo-1.0.0", {"arguments": ["world"], "data_link": f"{base_url}/pkg/demo-1.0.0.data.zip",
                            "preload_files": {"/input/numbers.txt": numbers},
                            "result_files": {"/output/result.txt": "result.txt"}, "params": [[1.5, 2], {"k": 3}]}),
            ("demo-1.0.0", {"arguments": ["x", "--exit", "3"],
                            "data_link": f"{base_url}/pkg/demo-1.0.0.data.zip"}),
        ]

    browser, node = browser_and_node(chromium, corpus, cases, tmp_path)
    fine, vec, logs, u8, panic, demo, exit3 = browser
    assert fine["out"] == {"data": "fine"} and vec["out"] == {"data": [0, 1, 2]}
    assert (logs["stdout"], logs["stderr"]) == ("out: hi \u2713\n", "err: hi \u2713\n")
    assert u8["exitCode"] == 1 and "expected u8, got 256" in u8["stderr"] and u8["out"] == {}
    assert panic["exitCode"] == 1 and "boom at the end" in panic["stderr"]
    assert demo["exitCode"] == 0, demo
    assert demo["stdout"].startswith("Hello from the packed filesystem, world!")
    assert base64.b64decode(demo["out"]["/output/result.txt"]) == b"world: sum=18 count=4\n"
    assert demo["out"]["data"]["params"] == [[1.5, 2], {"k": 3}]
    assert exit3["exitCode"] == 3
    # The browser and node agree on everything a driver receives.
    assert browser == node
