"""Packages built by `motivus build` run in real browsers' Web Workers exactly as in node.

The cluster's browser workers run a package by making a classic Web Worker from the
loader's text (`new Worker(URL.createObjectURL(new Blob([loaderText])))`) and posting it the
task body. This test builds the templates (and the Rust types corpus, and the mvcc test
program), and runs task bodies in headless Chromium and Firefox ESR through the kit's own
browser runner (motivus_dev/browser: the page and the package served from 127.0.0.1, the
page reporting back), then the same bodies through the reference worker
(tests/harness/reference_worker.js, node as the platform runs it): both must agree exactly
on data, result files, stdout, stderr and exit code, for successes and for failures.

No WebDriver is needed: the browser is started on the page's URL and the page reports to the
server, so the only tools are the distribution's `chromium` and `firefox-esr`, and node.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from click.testing import CliRunner
from kmeans_data import SEED_LABELS as LABELS
from kmeans_data import SEED_POINTS as SEED
from reference_worker import check_ascii, run_reference

from motivus_dev.browser import BROWSERS, BrowserPackage, find_browser, run_in_browser
from motivus_dev.cli import main
from motivus_dev.testing import engine_neutral

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BROWSER_NAMES = ("chromium", "firefox")


def require_tools(browser: str) -> str:
    """Skips naming the first missing tool; returns the browser's executable."""
    found = find_browser(browser)
    if found is None:
        pytest.skip(f"{browser} is missing (apt-get install {BROWSERS[browser].package})")
    for tool, package in (("node", "nodejs"), ("emcc", "emscripten"), ("wasm-opt", "binaryen")):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing (apt-get install {package})")
    return found


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
    require_tools("chromium")
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
        # Rust in its container (a Debian 12 host's rustc is too old for current crates)
        where = "docker" if lang == "rust" else "host"
        result = CliRunner().invoke(main, ["-C", str(project), "build", "--toolchain", where])
        assert result.exit_code == 0, result.output
        built[lang] = project
    yield built


def make_cases(packages: Dict[str, Path]) -> List[Tuple[str, Dict[str, Any]]]:
    """(package stem, task body) per task, in the order the page runs them."""
    points = (packages["cpp"] / "tests" / "fixtures" / "points.txt").read_bytes()
    preload = {"/input/points.txt": base64.b64encode(points).decode()}
    data_link = True
    return [
        ("kmrust-0.0.1", {"params": [SEED, 2]}),
        ("kmrust-0.0.1", {"params": ["not points", 2]}),
        ("kmcpp-0.0.1", {"arguments": ["-k", "2"], "preload_files": preload,
                         "result_files": {"/output/labels.txt": "labels.txt"}, "data_link": data_link}),
        ("kmcpp-0.0.1", {"arguments": [], "preload_files": preload, "data_link": data_link}),
        ("kmcpp-0.0.1", {"arguments": ["-k", "0"], "data_link": data_link}),
        ("kmc-0.0.1", {"arguments": ["-k", "2"], "preload_files": preload,
                       "result_files": {"/output/labels.txt": "labels.txt"},
                       "data_link": True}),
    ]


Cases = List[Tuple[str, Dict[str, Any]]]


def same_but_trap_wording(entries: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The entries as `motivus test --browser` compares them (engine_neutral stderr)."""
    return [dict(e, stderr=engine_neutral(str(e.get("stderr", "")))) for e in entries]


def browser_and_node(
    browser: str, builds: Dict[str, Path], cases: Cases, tmp_path: Path
) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Run the cases (package stem, task body; ``data_link: True`` means the package's data
    zip) in ``browser`` and in the reference worker; ``builds`` maps each stem to its build
    directory. Both result lists are in the cases' order."""
    packages = []
    for stem, build in builds.items():
        data = build / f"{stem}.data.zip"
        packages.append(BrowserPackage(stem, (build / f"{stem}.wasm").read_bytes(), (build / f"{stem}.js").read_bytes(),
                                       data.read_bytes() if data.exists() else None))
    entries = run_in_browser(browser, packages, [{"package": stem, "body": body} for stem, body in cases],
                             timeout=60, home=tmp_path / browser)
    for entry in entries:
        assert "harnessError" not in entry, entry

    def local(stem: str, body: Dict[str, Any]) -> Dict[str, Any]:
        if body.get("data_link") is True:
            return dict(body, data_link=str(builds[stem] / f"{stem}.data.zip"))
        return body

    by_stem = {
        stem: iter(run_in_node(builds[stem] / f"{stem}.js", builds[stem] / f"{stem}.wasm",
                               [local(s, body) for s, body in cases if s == stem], tmp_path))
        for stem in dict.fromkeys(s for s, _ in cases)
    }
    node = [next(by_stem[stem]) for stem, _ in cases]
    return entries, node


@pytest.mark.parametrize("browser_name", BROWSER_NAMES)
def test_template_packages_run_in_a_browser_web_worker_as_in_node(
        packages: Dict[str, Path], tmp_path: Path, browser_name: str) -> None:
    require_tools(browser_name)
    builds = {f"km{lang}-0.0.1": project / "build" for lang, project in packages.items()}
    browser, node = browser_and_node(browser_name, builds, make_cases(packages), tmp_path)

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

    # The browser and node agree on everything a driver receives (but the engine's own words
    # for a trap: SpiderMonkey says "unreachable executed" where V8 says "unreachable").
    assert same_but_trap_wording(browser) == same_but_trap_wording(node)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Path]]:
    """The Rust types corpus and the mvcc test program (argv, packed filesystem, preloaded
    and result files), built on the host: {"types-0.0.1": build dir, "demo-1.0.0": build dir}."""
    require_tools("chromium")
    parent = tmp_path_factory.mktemp("browser-corpus")
    types = parent / "types"
    shutil.copytree(ROOT / "tests" / "data" / "rust" / "types", types)
    (types / "motivus.yml").write_text(
        "version: 1.0\nbuild: {compiler: mvrc, source: .}\npackage: {name: types, version: 0.0.1}\n"
    )
    demo = parent / "demo"
    shutil.copytree(ROOT / "tests" / "data" / "c", demo)
    (demo / "motivus.yml").write_text(
        "version: 1.0\nbuild: {compiler: mvcc, lang: c, source: ., filesystem: filesystem}\n"
        "package: {name: demo, version: 1.0.0}\n"
    )
    for project, where in ((types, "docker"), (demo, "host")):
        result = CliRunner().invoke(main, ["-C", str(project), "build", "--toolchain", where])
        assert result.exit_code == 0, result.output
    yield {"types-0.0.1": types / "build", "demo-1.0.0": demo / "build"}


@pytest.mark.parametrize("browser_name", BROWSER_NAMES)
def test_the_types_corpus_and_a_c_program_run_in_a_browser_as_in_node(
        corpus: Dict[str, Path], tmp_path: Path, browser_name: str) -> None:
    require_tools(browser_name)

    def cases() -> Cases:
        numbers = base64.b64encode(b"5 3 9\n1\n").decode()
        return [
            ("types-0.0.1", {"entry": "res_string", "params": [True]}),
            ("types-0.0.1", {"entry": "res_vec", "params": [3]}),
            ("types-0.0.1", {"entry": "logs", "params": ["hi \u2713"]}),
            ("types-0.0.1", {"entry": "point", "params": [1.5, 2]}),
            ("types-0.0.1", {"entry": "panics", "params": ["boom at the end"]}),
            ("demo-1.0.0", {"arguments": ["world"], "data_link": True,
                            "preload_files": {"/input/numbers.txt": numbers},
                            "result_files": {"/output/result.txt": "result.txt"}, "params": [[1.5, 2], {"k": 3}]}),
            ("demo-1.0.0", {"arguments": ["x", "--exit", "3"], "data_link": True}),
        ]

    browser, node = browser_and_node(browser_name, corpus, cases(), tmp_path)
    fine, vec, logs, point, panic, demo, exit3 = browser
    assert fine["out"] == {"data": "fine"} and vec["out"] == {"data": [0, 1, 2]}
    assert (logs["stdout"], logs["stderr"]) == ("out: hi \u2713\nweb-sys: hi \u2713\n", "err: hi \u2713\n")
    assert point["exitCode"] == 0 and point["out"] == {"data": {"x": 1.5, "y": 2}}
    assert panic["exitCode"] == 1 and "boom at the end" in panic["stderr"]
    assert demo["exitCode"] == 0, demo
    assert demo["stdout"].startswith("Hello from the packed filesystem, world!")
    assert base64.b64decode(demo["out"]["/output/result.txt"]) == b"world: sum=18 count=4\n"
    assert demo["out"]["data"]["params"] == [[1.5, 2], {"k": 3}]
    assert exit3["exitCode"] == 3
    # The browser and node agree on everything a driver receives (but the engine's own words
    # for a trap: SpiderMonkey says "unreachable executed" where V8 says "unreachable").
    assert same_but_trap_wording(browser) == same_but_trap_wording(node)
