"""The mvcc toolchain on the host: the kit's mvcc toolchain (its decisions, then
toolchains/mvcc/build.sh's compile and bundle steps) builds the C and C++ test programs
(tests/data/c, tests/data/cpp) with Debian's emscripten, motivus_dev.packing packs
their filesystem, and the built loader runs in node worker_threads (eval: true) exactly as
/work/shared/spec/worker-contract.md describes (tests/integration/mvcc_harness.js)."""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from reference_worker import check_ascii, run_reference

from motivus_dev.errors import MotivusError
from motivus_dev.packing import pack_filesystem
from motivus_dev.reporter import NullReporter
from motivus_dev.toolchain import host
from motivus_dev.toolchain.mvcc import MVCC
from motivus_dev.toolchain.plan import BuildInput, make_plan

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BUILD_SH = REPO / "toolchains" / "mvcc" / "build.sh"
HARNESS = Path(__file__).resolve().parent / "mvcc_harness.js"
BROWSERLIKE = Path(__file__).resolve().parent / "mvcc_browserlike.js"
DATA = REPO / "tests" / "data"


def _require_tools() -> None:
    for tool, package in (("emcc", "emscripten"), ("em++", "emscripten"), ("esbuild", "esbuild"), ("node", "nodejs")):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian package '{package}')")


@dataclass
class Run:
    """What a build said: its exit status (0 or 1) and its output (or the kit's error)."""

    returncode: int
    stderr: str


def run_build(project: Path, lang: str, name: str = "demo", version: str = "1.0.0",
              profile: str = "release") -> Tuple[Run, Path]:
    """Run the mvcc build on the host as the kit does (the toolchain decides, build.sh
    compiles, each step in turn); returns what it said and MOTIVUS_OUT."""
    exclude = [project / name for name in ("filesystem", "build", ".motivus")]
    lines: List[str] = []
    try:
        env = MVCC.script_env(project, project, profile, lang, exclude)
        inp = BuildInput(project_dir=project, lang=lang, name=name, version=version, filesystem="filesystem",
                         profile=profile, extra_env=tuple(sorted(env.items())))
        plan = make_plan(inp, image="unused", host_script=BUILD_SH, uid=os.getuid(), gid=os.getgid())
        lines = host.run_plan(plan, NullReporter())
    except MotivusError as exc:
        return Run(1, "\n".join(lines + [str(exc)])), project / ".motivus" / "out" / "mvcc"
    return Run(0, "\n".join(lines)), plan.out_dir


class Built:
    """A project built into a tmp dir, with its packed filesystem."""

    def __init__(self, project: Path, out: Path, data_zip: Path) -> None:
        self.project = project
        self.wasm = out / "module.wasm"
        self.loader = out / "module.js"
        self.data_zip = data_zip


def build_project(lang: str, dest: Path) -> Built:
    project = dest / "proj"
    shutil.copytree(DATA / lang, project)
    proc, out = run_build(project, lang)
    assert proc.returncode == 0, proc.stderr
    data_zip = dest / "demo-1.0.0.data.zip"
    data_zip.write_bytes(pack_filesystem(project / "filesystem"))
    return Built(project, out, data_zip)


@pytest.fixture(scope="module", params=["c", "cpp"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Built:
    _require_tools()
    return build_project(request.param, tmp_path_factory.mktemp(f"mvcc-{request.param}"))


def run_tasks(loader: Path, tasks: List[Dict[str, Any]], harness: Path = HARNESS, prelude: str = "") -> Dict[str, Any]:
    """Post the tasks, one after another, to ONE worker running the loader; decoded replies."""
    spec = {"loader": str(loader), "tasks": tasks, "timeout_ms": 60000, "prelude": prelude}
    proc = subprocess.run(["node", str(harness)], input=json.dumps(spec), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result: Dict[str, Any] = json.loads(proc.stdout)
    assert result["worker_error"] is None, result["worker_error"]
    assert result["extra_messages"] == 0, "the loader posted more than one message for a task"
    for reply in result["replies"]:
        assert reply is not None, "the loader did not reply"
        assert reply["raw_keys"] == ["body", "exitCode", "stderr", "stdout"]
        assert reply.get("body_error") is None, reply.get("body_error")
    return result


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def task(built: Built, **fields: Any) -> Dict[str, Any]:
    body: Dict[str, Any] = {"wasm_file": str(built.wasm), "data_link": str(built.data_zip)}
    body.update(fields)
    return body


def test_full_task_on_the_reference_worker_as_the_240_client_reads_it(built: Built) -> None:
    """argv + the packed filesystem (data_link) + a preloaded file + a result file, run as the
    platform's worker runs it (a new worker per task, ASCII loader, env {}), twice."""
    check_ascii(built.loader)
    body = {
        "arguments": ["world"],
        "data_link": str(built.data_zip),
        "preload_files": {"/input/numbers.txt": b64(b"5 3 9\n1\n")},
        "result_files": {"/output/result.txt": "local/result.txt"},
        "params": [[1.5, 2], {"k": 3}],
    }
    for reply in run_reference(built.loader, built.wasm, [body, dict(body, arguments=["again"])]):
        assert reply["exitCode"] == 0, reply
        assert reply["stdout"].startswith("Hello from the packed filesystem, ")
        assert set(reply["out"]) == {"data", "/output/result.txt"}
        assert reply["value"]["sum"] == 18 and reply["value"]["params"] == [[1.5, 2], {"k": 3}]
        assert base64.b64decode(reply["out"]["/output/result.txt"]).endswith(b": sum=18 count=4\n")


def test_full_task(built: Built) -> None:
    numbers = b"5 3 9\n1\n"
    reply = run_tasks(
        built.loader,
        [
            task(
                built,
                arguments=["world"],
                preload_files={"/input/numbers.txt": b64(numbers)},
                result_files={"/output/result.txt": "local/result.txt"},
                params=[[1.5, 2], {"k": 3}],
            )
        ],
    )["replies"][0]
    assert reply["exitCode"] == 0, reply["stderr"]
    assert reply["stdout"] == ("Hello from the packed filesystem, world!\nstate: fresh\nsum=18 count=4\n")
    assert reply["stderr"] == "working on world\n"
    out = reply["out"]
    assert set(out) == {"data", "/output/result.txt"}
    assert base64.b64decode(out["/output/result.txt"]) == b"world: sum=18 count=4\n"
    data = out["data"]
    assert data["name"] == "world" and data["sum"] == 18 and data["count"] == 4
    assert data["params"] == [[1.5, 2], {"k": 3}]
    if data["lang"] == "cpp":
        assert data["sorted"] == [1, 3, 5, 9]
        # "Hello from the packed filesystem": word lengths 5, 4, 3, 6, 10.
        assert data["word_lengths"] == {"3": 1, "4": 1, "5": 1, "6": 1, "10": 1}


def test_buffwasm_data_zip_and_string_arguments(built: Built) -> None:
    """buffWasm (bytes) instead of wasm, the filesystem handed over as data_zip bytes, and
    arguments given as one string: a non-zero exit is the task's exitCode."""
    reply = run_tasks(
        built.loader,
        [
            {
                "buffWasm_file": str(built.wasm),
                "data_zip_file": str(built.data_zip),
                "arguments": "'Ada Lovelace' --exit 3",
                "result_files": {"/output/result.txt": "r"},
            }
        ],
    )["replies"][0]
    assert reply["exitCode"] == 3
    assert reply["stdout"].startswith("Hello from the packed filesystem, Ada Lovelace!\n")
    assert "no input" in reply["stdout"]
    assert base64.b64decode(reply["out"]["/output/result.txt"]) == b"Ada Lovelace: sum=0 count=0\n"
    assert reply["out"]["data"]["params"] is None


def test_data_link_file_url(built: Built) -> None:
    reply = run_tasks(built.loader, [task(built, data_link=built.data_zip.as_uri(), arguments=["x"])])["replies"][0]
    assert reply["exitCode"] == 0, reply["stderr"]
    assert reply["stdout"].startswith("Hello from the packed filesystem, x!")


@pytest.fixture(scope="module")
def http_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[str, Path]]:
    """A local HTTP server (port 0) serving a directory: the data_link of a real cluster."""
    root = tmp_path_factory.mktemp("http")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_data_link_over_http_in_node_and_in_a_browser_like_worker(built: Built, http_root: Tuple[str, Path]) -> None:
    base, root = http_root
    name = f"{built.project.parent.name}.data.zip"
    shutil.copy(built.data_zip, root / name)
    body = {
        "wasm_file": str(built.wasm),
        "data_link": f"{base}/{name}",
        "arguments": "'from http'",
        "preload_files": {"/input/numbers.txt": b64(b"40 2")},
        "result_files": ["/output/result.txt"],
        "params": {"p": 1},
    }
    missing = dict(body, data_link=f"{base}/nope.data.zip")
    for harness in (HARNESS, BROWSERLIKE):
        replies = run_tasks(built.loader, [body, missing], harness=harness)["replies"]
        assert replies[0]["exitCode"] == 0, (harness.name, replies[0]["stderr"])
        assert replies[0]["stdout"].startswith("Hello from the packed filesystem, from http!\n")
        assert base64.b64decode(replies[0]["out"]["/output/result.txt"]) == b"from http: sum=42 count=2\n"
        assert replies[0]["out"]["data"]["params"] == {"p": 1}
        assert replies[1]["exitCode"] == 1
        assert "HTTP 404" in replies[1]["stderr"], (harness.name, replies[1]["stderr"])


def test_browser_like_worker_warm_tasks(built: Built) -> None:
    """No process/require/Buffer: the Web Worker code paths (atob/btoa, CompressionStream,
    DecompressionStream, self.onmessage), with a crash in between tasks."""
    tasks: List[Dict[str, Any]] = [
        {
            "buffWasm_file": str(built.wasm),
            "data_zip_file": str(built.data_zip),
            "arguments": ["a"],
            "preload_files": {"/input/numbers.txt": b64(b"1 2")},
            "result_files": {"/output/result.txt": "r"},
        },
        {"wasm_file": str(built.wasm), "data_zip_file": str(built.data_zip), "arguments": ["b", "--abort"]},
        {"wasm_file": str(built.wasm), "data_zip_file": str(built.data_zip), "arguments": ["c", "--exit", "3"]},
    ]
    replies = run_tasks(built.loader, tasks, harness=BROWSERLIKE)["replies"]
    assert [r["exitCode"] for r in replies] == [0, 134, 3]
    assert base64.b64decode(replies[0]["out"]["/output/result.txt"]) == b"a: sum=3 count=2\n"
    assert "state: fresh" in replies[2]["stdout"] and "no input" in replies[2]["stdout"]


def test_inflate_falls_back_to_zlib_without_decompression_stream(built: Built) -> None:
    prelude = "globalThis.DecompressionStream = undefined;\n"
    reply = run_tasks(built.loader, [task(built, arguments=["z"])], prelude=prelude)["replies"][0]
    assert reply["exitCode"] == 0, reply["stderr"]
    assert reply["stdout"].startswith("Hello from the packed filesystem, z!")


def test_missing_result_file_fails_naming_it(built: Built) -> None:
    reply = run_tasks(
        built.loader,
        [
            task(
                built,
                arguments=["x"],
                result_files={"/output/result.txt": "a", "/output/never.txt": "b"},
            )
        ],
    )["replies"][0]
    assert reply["exitCode"] != 0
    assert "/output/never.txt" in reply["stderr"]
    assert "/output/result.txt" in reply["out"]


def test_abort_is_a_failed_task(built: Built) -> None:
    reply = run_tasks(built.loader, [task(built, arguments=["x", "--abort"])])["replies"][0]
    assert reply["exitCode"] == 134
    assert "aborting on request" in reply["stderr"]
    assert "crashed" in reply["stderr"]
    assert reply["out"] == {}


def test_no_filesystem_is_reported_by_the_program(built: Built) -> None:
    """Without data_link the guest has no /share/greeting.txt: the program says so and fails."""
    reply = run_tasks(built.loader, [{"wasm_file": str(built.wasm), "arguments": ["x"]}])["replies"][0]
    assert reply["exitCode"] == 2
    assert "/share/greeting.txt" in reply["stderr"]


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"wasm_file": None}, "neither wasm"),
        ({"preload_files": {"/in.txt": "not base64!"}}, "preload_files[/in.txt]"),
        ({"preload_files": {"relative.txt": "aGk="}}, "not absolute"),
        ({"result_files": {"/a/../b": "x"}}, "contains .."),
        ({"data_link": "/nonexistent/dir/demo.data.zip"}, "data_link"),
        ({"arguments": {"not": "a list"}}, "arguments"),
    ],
)
def test_bad_input_still_replies_once(built: Built, fields: Dict[str, Any], expected: str) -> None:
    body = task(built, arguments=["x"])
    for key, value in fields.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    reply = run_tasks(built.loader, [body])["replies"][0]
    assert reply["exitCode"] == 1
    assert expected in reply["stderr"]
    assert reply["out"] == {}


def test_warm_worker_runs_each_task_in_a_fresh_instance(built: Built) -> None:
    first = task(
        built,
        arguments=["one"],
        preload_files={"/input/numbers.txt": b64(b"1 2 3")},
        result_files={"/output/result.txt": "r"},
    )
    second = task(built, arguments=["two"], result_files={"/output/result.txt": "r"})
    failing = task(built, arguments=["three", "--abort"])
    third = {"buffWasm_file": str(built.wasm), "data_link": str(built.data_zip), "arguments": ["four"]}
    replies = run_tasks(built.loader, [first, second, failing, third])["replies"]
    assert [r["exitCode"] for r in replies] == [0, 0, 134, 0]
    # The first task wrote /state.txt and had /input/numbers.txt; later tasks see neither.
    assert "state: fresh" in replies[0]["stdout"] and "sum=6 count=3" in replies[0]["stdout"]
    assert "state: fresh" in replies[1]["stdout"] and "no input" in replies[1]["stdout"]
    assert base64.b64decode(replies[1]["out"]["/output/result.txt"]) == b"two: sum=0 count=0\n"
    assert replies[1]["out"]["data"]["name"] == "two"
    # A crashed task does not poison the worker.
    assert "state: fresh" in replies[3]["stdout"]
    assert replies[3]["stdout"].startswith("Hello from the packed filesystem, four!")


def test_builds_from_two_paths_are_byte_identical(built: Built, tmp_path: Path) -> None:
    lang = "cpp" if (built.project / "main.cpp").exists() else "c"
    other = tmp_path / "a" / "completely" / "different" / "place"
    other.mkdir(parents=True)
    again = build_project(lang, other)
    assert again.wasm.read_bytes() == built.wasm.read_bytes()
    assert again.loader.read_bytes() == built.loader.read_bytes()
    assert again.data_zip.read_bytes() == built.data_zip.read_bytes()
    # No build path leaks into the outputs.
    for blob in (again.wasm.read_bytes(), again.loader.read_bytes()):
        assert str(tmp_path).encode() not in blob
        assert str(built.project).encode() not in blob


def test_loader_is_self_contained(built: Built) -> None:
    text = built.loader.read_text()
    # Only node built-ins may be required; nothing else is loaded besides data_link.
    required = set(re.findall(r"require\(\"([^\"]+)\"\)", text)) | set(re.findall(r"require\('([^']+)'\)", text))
    assert required <= {"fs", "path", "zlib", "url", "worker_threads", "crypto"}, required
    assert "importScripts(" not in text
    # No file_packager output (it carries a random package uuid).
    assert "REMOTE_PACKAGE" not in text and "package_uuid" not in text
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text)


@pytest.fixture()
def scratch(tmp_path: Path) -> Path:
    _require_tools()
    project = tmp_path / "proj"
    shutil.copytree(DATA / "c", project)
    return project


def _build(project: Path) -> Run:
    return run_build(project, "c")[0]


def test_incremental_builds(scratch: Path) -> None:
    proc = _build(scratch)
    assert proc.returncode == 0, proc.stderr
    assert "compiling 2 of 2" in proc.stderr
    out = scratch / ".motivus" / "out" / "mvcc"
    wasm_before = (out / "module.wasm").read_bytes()

    proc = _build(scratch)
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stderr
    assert "compiling" not in proc.stderr and "linking" not in proc.stderr

    # A one-line change recompiles that file only, and changes the module.
    source = scratch / "numbers.c"
    source.write_text(source.read_text().replace("*sum += value;", "*sum += 2 * value;"))
    proc = _build(scratch)
    assert proc.returncode == 0, proc.stderr
    assert "compiling 1 of 2" in proc.stderr
    assert (out / "module.wasm").read_bytes() != wasm_before

    # A header change recompiles every file that includes it.
    os.utime(scratch / "numbers.h")
    proc = _build(scratch)
    assert "compiling 2 of 2" in proc.stderr


def test_compile_error_shows_compiler_message_and_leaves_no_output(scratch: Path) -> None:
    proc = _build(scratch)
    assert proc.returncode == 0, proc.stderr
    (scratch / "numbers.c").write_text("int sum_numbers(void) { return undefined_name; }\n")
    proc = _build(scratch)
    assert proc.returncode != 0
    assert "undefined_name" in proc.stderr and "error" in proc.stderr
    out = scratch / ".motivus" / "out" / "mvcc"
    assert not (out / "module.wasm").exists() and not (out / "module.js").exists()


def test_no_sources_is_a_clear_error(tmp_path: Path) -> None:
    _require_tools()
    project = tmp_path / "empty"
    project.mkdir()
    proc, _ = run_build(project, "c")
    assert proc.returncode != 0
    assert "no C/C++ sources" in proc.stderr


def test_a_data_zip_that_lies_about_its_sizes_is_refused_by_the_loader(built: Built, tmp_path: Path) -> None:
    """The loader inflates at most what an entry declares (node's maxOutputLength; the
    browser's stream is cut), so a lying archive fetched by the loader itself cannot exhaust
    a worker; the pool refuses such archives before they reach a loader, this is the second line."""
    from zips import lying_zip

    lie = tmp_path / "lie.zip"
    lie.write_bytes(lying_zip(real=64 << 20))
    for harness in (HARNESS, BROWSERLIKE):
        body = {"wasm_file": str(built.wasm), "arguments": ["x"], "data_zip_file": str(lie)}
        reply = run_tasks(built.loader, [body], harness=harness)["replies"][0]
        assert reply["exitCode"] == 1 and "inflates to more than the 100 bytes it declares" in reply["stderr"], reply
