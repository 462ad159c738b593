"""Publishing end to end, with real servers and a real build of the C template.

`motivus new` -> `motivus build --toolchain host` -> `motivus test` (once, module fixture)
-> `motivus push` to a local marketplace set up with the `motivus marketplace` admin commands
-> a driver naming ``algorithm`` + ``algorithm_version`` runs the published version through
loopback, with our client and with the published 2.4.0 client; and the templates' release
script (`ci/release.sh`, what `.github/workflows/release.yml` runs) publishes a version.

The C template has a filesystem (``filesystem/etc/kmeans.conf``), so its versions have a
``data_url``: every driver here also asks for ``/etc/kmeans.conf`` as a result file, which
the worker can only return if it fetched ``data_url`` and mounted it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Dict, Iterator, List, Optional

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result
from marketplace_helpers import CountingApp, RunningServer

from motivus_dev.cli import main
from motivus_dev.client import Client
from motivus_dev.config import load_config
from motivus_dev.errors import MarketplaceError
from motivus_dev.loopback.server import LoopbackServer
from motivus_dev.marketplace.client.api import ALGORITHMS_PATH
from motivus_dev.runtime.pool import WorkerPool

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NAME = "kmc"
LABELS = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
LABELS_TXT = "".join(f"{label}\n" for label in LABELS)
KIT_VARS = (
    "MOTIVUS_PERSONAL_ACCESS_TOKEN",
    "PERSONAL_ACCESS_TOKEN",
    "MOTIVUS_MARKETPLACE_URL",
    "ALGORITHM_REPO_HOST",
    "APPLICATION_TOKEN",
    "WEBSOCKET_URI",
    "MOTIVUS_MARKETPLACE_DATA",
    "GITHUB_REF_NAME",
    "RELEASE_TAG",
)


def motivus(*args: str, **env: str) -> Result:
    """Run the CLI in-process with only the given kit variables set."""
    environment: Dict[str, Optional[str]] = {name: None for name in KIT_VARS}
    environment.update(env)
    return CliRunner().invoke(main, [str(a) for a in args], env=environment)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def subprocess_env(**extra: str) -> Dict[str, str]:
    """The environment for a child process: ours, less the kit's variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in KIT_VARS and k != "PYTHONPATH"}
    env.update(extra)
    return env


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The C template, created, built on the host and tested: shared by every test here."""
    for tool, why in (("emcc", "the host C toolchain (Debian package emscripten)"), ("node", "the worker pool")):
        if shutil.which(tool) is None:
            pytest.skip(f"needs `{tool}` for {why}")
    parent = tmp_path_factory.mktemp("e2e")
    ok(motivus("-C", parent, "new", NAME, "--lang", "c", "--defaults", "--no-git"))
    root = parent / NAME
    ok(motivus("-C", root, "build", "--toolchain", "host"))
    tested = ok(motivus("-C", root, "test", "--toolchain", "host"))
    assert " 0 failed" in tested.output and "passed" in tested.output
    return root


@pytest.fixture(scope="module")
def version(project: Path) -> str:
    return load_config(project).package_version


@dataclass
class Registry:
    """A running local marketplace set up with the admin commands."""

    server: RunningServer
    counter: CountingApp
    personal: str  # alice's personal token: publishes NAME
    application: str  # alice's application token: drivers read and download

    @property
    def url(self) -> str:
        return self.server.url

    def versions(self) -> List[Dict[str, Any]]:
        """NAME's versions as an application token sees them (with hashes and URLs)."""
        response = httpx.get(
            self.url + ALGORITHMS_PATH, params={"name": NAME}, headers={"authorization": f"Bearer {self.application}"}
        )
        assert response.status_code == 200, response.text
        [algorithm] = response.json()["data"]
        return list(algorithm["versions"])


@pytest.fixture()
def registry(tmp_path: Path) -> Iterator[Registry]:
    """An empty marketplace where alice owns NAME, made with `motivus marketplace ...`."""
    data = str(tmp_path / "registry")
    ok(motivus("marketplace", "user", "add", "alice", "--data-dir", data))
    tokens = {}
    for kind in ("personal", "application"):
        created = ok(motivus("marketplace", "token", "create", "--user", "alice", "--kind", kind, "--data-dir", data))
        tokens[kind] = created.stdout.strip()
    ok(motivus("marketplace", "algorithm", "create", NAME, "--owner", "alice", "--data-dir", data))
    holder: List[CountingApp] = []

    def wrap(app: Any) -> Any:
        holder.append(CountingApp(app))
        return holder[0]

    server = RunningServer(Path(data), app_wrapper=wrap)
    try:
        yield Registry(server, holder[0], tokens["personal"], tokens["application"])
    finally:
        server.stop()


def push(project: Path, registry: Registry) -> Dict[str, Any]:
    result = ok(
        motivus(
            "-C", project, "push", "--json",
            MOTIVUS_PERSONAL_ACCESS_TOKEN=registry.personal, MOTIVUS_MARKETPLACE_URL=registry.url,
        )
    )
    assert registry.personal not in result.output
    report: Dict[str, Any] = json.loads(result.stdout)
    return report


@contextlib.asynccontextmanager
async def loopback() -> AsyncIterator[LoopbackServer]:
    """`motivus loopback` in-process on a free port."""
    pool = WorkerPool(2, 60.0, 1024)
    await pool.start()
    server = LoopbackServer(pool, "127.0.0.1", 0)
    try:
        await server.start()
    except BaseException:
        await pool.close()
        raise
    try:
        yield server
    finally:
        await server.close()


async def run_driver(python: str, driver: Path, env: Dict[str, str], timeout: float = 180.0) -> str:
    """Run ``driver`` in its directory; return its stdout (the test fails on a non-zero exit)."""
    proc = await asyncio.create_subprocess_exec(
        python, driver.name, cwd=str(driver.parent), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode == 0, f"driver failed:\n{out.decode()}\n{err.decode()}"
    return out.decode()


def driver_dir(project: Path, parent: Path, source: str) -> Path:
    """A directory without the project's build/: the driver can only use the marketplace."""
    work = parent / "driver"
    (work / "tests" / "fixtures").mkdir(parents=True)
    shutil.copy(project / "tests" / "fixtures" / "points.txt", work / "tests" / "fixtures" / "points.txt")
    (work / "driver.py").write_text(source)
    return work


def published_driver(project: Path, version: str) -> str:
    """The project's driver.py switched to the published version, as its own comment says:
    the three local paths replaced by ``algorithm`` and ``algorithm_version``; plus the
    starting filesystem's /etc/kmeans.conf as a result file (only there if data_url was used)."""
    lines = (project / "driver.py").read_text().splitlines(keepends=True)
    out: List[str] = []
    replaced = 0
    for line in lines:
        key = line.strip().split(":", 1)[0].strip("'\"")
        if key in ("wasm_path", "loader_path", "data_link"):
            replaced += 1
            if key == "wasm_path":
                indent = line[: len(line) - len(line.lstrip())]
                out.append(f"{indent}'algorithm': {NAME!r},\n{indent}'algorithm_version': {version!r},\n")
            continue
        if key == "result_files":
            line = line.replace("{", "{'/etc/kmeans.conf': './results/kmeans.conf', ", 1)
        out.append(line)
    assert replaced == 3, "driver.py no longer names wasm_path, loader_path and data_link: update this test"
    source = "".join(out)
    assert "/etc/kmeans.conf" in source and "algorithm_version" in source
    return source


def check_results(work: Path, project: Path) -> None:
    assert (work / "results" / "labels.txt").read_text() == LABELS_TXT
    conf = project / "filesystem" / "etc" / "kmeans.conf"
    assert (work / "results" / "kmeans.conf").read_bytes() == conf.read_bytes()


# --------------------------------------------------------------------------- end to end


def test_push_then_a_driver_runs_the_published_version_through_loopback(
    project: Path, version: str, registry: Registry, tmp_path: Path
) -> None:
    report = push(project, registry)
    assert report["name"] == NAME and report["version"] == version and report["version_id"] is not None
    [published] = registry.versions()
    package = project / "build" / f"{NAME}-{version}.zip"
    assert published["name"] == version
    # hash: what push sent, the sha256 of the wasm (the server computes none)
    assert published["hash"] == hashlib.sha256(zipfile.ZipFile(package).read(f"{NAME}-{version}.wasm")).hexdigest()
    assert published["data_url"], "the C template has a filesystem: its version must have a data_url"
    data_zip = (project / "build" / f"{NAME}-{version}.data.zip").read_bytes()
    assert httpx.get(published["data_url"]).content == data_zip

    work = driver_dir(project, tmp_path, published_driver(project, version))

    async def go() -> str:
        async with loopback() as server:
            env = subprocess_env(
                WEBSOCKET_URI=server.url,
                APPLICATION_TOKEN=registry.application,
                MOTIVUS_MARKETPLACE_URL=registry.url,
                MOTIVUS_CACHE_DIR=str(tmp_path / "driver-cache"),
            )
            return await run_driver(sys.executable, work / "driver.py", env)

    out = asyncio.run(go())
    assert out.strip().splitlines()[-1] == str(LABELS)
    check_results(work, project)
    # the driver downloaded the files by URL: wasm and loader of this very version
    downloads = [r for r in registry.counter.requests if r.startswith("GET /api/package_registry/files/")]
    assert any(r.endswith(".wasm") for r in downloads) and any(r.endswith(".js") for r in downloads)
    assert registry.application not in out


def test_unknown_version_or_algorithm_is_a_clear_error(
    project: Path, version: str, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    push(project, registry)
    monkeypatch.setenv("MOTIVUS_MARKETPLACE_URL", registry.url)

    async def go() -> List[BaseException]:
        errors: List[BaseException] = []
        async with loopback() as server:
            client = await Client.connect(server.url, registry.application)
            try:
                for definition in (
                    {"algorithm": NAME, "algorithm_version": "9.9.9", "arguments": ["-k", "2"]},
                    {"algorithm": "no-such-algorithm", "algorithm_version": version},
                ):
                    task = client.call_async(definition)
                    try:
                        await client.select_task(task)
                    except MarketplaceError as exc:
                        errors.append(exc)
                assert server.stats().tasks_received == 0  # nothing was sent to the workers
            finally:
                await client.close()
        return errors

    unknown_version, unknown_algorithm = asyncio.run(go())
    assert "9.9.9" in str(unknown_version) and f"published versions: {version}" in str(unknown_version)
    assert "algorithm_version" in str(unknown_version)  # the hint says what to change
    assert "no-such-algorithm" in str(unknown_algorithm)
    assert registry.application not in str(unknown_version) + str(unknown_algorithm)


# --------------------------------------------------------------------------- compatibility


DRIVER_240 = textwrap.dedent("""
    import asyncio, json, sys
    from motivus.client import Client

    async def main():
        motivus = await Client.connect()
        task = {
            "algorithm": sys.argv[1],
            "algorithm_version": sys.argv[2],
            "arguments": ["-k", "2"],
            "preload_files": {"/input/points.txt": motivus.read_file("tests/fixtures/points.txt")},
            "result_files": {"/output/labels.txt": "results/labels.txt", "/etc/kmeans.conf": "results/kmeans.conf"},
        }
        return await motivus.select_task(motivus.call_async(task))

    print(json.dumps(asyncio.run(main())))
""")


def test_published_240_client_runs_the_published_algorithm_with_its_data_url(
    project: Path, version: str, registry: Registry, tmp_path: Path, motivus24: Path
) -> None:
    python = motivus24 / "python"
    push(project, registry)
    source = DRIVER_240.replace("sys.argv[1]", repr(NAME)).replace("sys.argv[2]", repr(version))
    work = driver_dir(project, tmp_path, source)
    host = registry.url.split("://", 1)[1]  # 127.0.0.1:PORT, as 2.4.0 reads ALGORITHM_REPO_HOST

    async def go() -> str:
        async with loopback() as server:
            env = subprocess_env(
                WEBSOCKET_URI=server.url, APPLICATION_TOKEN=registry.application, ALGORITHM_REPO_HOST=host
            )
            return await run_driver(str(python), work / "driver.py", env)

    out = asyncio.run(go())
    assert f"Download complete {NAME}-{version}" in out  # 2.4.0 itself fetched it from our registry
    assert json.loads(out.strip().splitlines()[-1]) == LABELS
    check_results(work, project)
    assert any(r.startswith("GET /api/package_registry/algorithms") for r in registry.counter.requests)


# --------------------------------------------------------------------------- release workflow


def _release(project: Path, registry: Registry, tag: str) -> subprocess.CompletedProcess:
    # In CI the kit is installed in the checkout's .venv: the `motivus` next to this Python.
    bin_dir = str(Path(sys.executable).parent)
    env = subprocess_env(
        PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
        MOTIVUS_TOOLCHAIN="host",
        MOTIVUS_PERSONAL_ACCESS_TOKEN=registry.personal,
        MOTIVUS_MARKETPLACE_URL=registry.url,
        RELEASE_TAG=tag,
    )
    return subprocess.run(
        ["bash", str(project / "ci" / "release.sh")], cwd=str(project / "src"), env=env,
        capture_output=True, text=True, timeout=600,
    )


def test_release_script_publishes_the_tagged_version(project: Path, version: str, registry: Registry) -> None:
    done = _release(project, registry, f"v{version}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert registry.personal not in done.stdout + done.stderr
    report = json.loads(done.stdout[done.stdout.index("{\n") :])  # push --json is the last output
    assert report["version"] == version and report["version_id"] is not None
    [published] = registry.versions()
    assert published["name"] == version and published["id"] == report["version_id"]
    assert published["hash"] == hashlib.sha256((project / "build" / f"{NAME}-{version}.wasm").read_bytes()).hexdigest()


@pytest.mark.docker
def test_release_on_a_fresh_runner_makes_the_image_caches_it_and_publishes(
    project: Path, registry: Registry, tmp_path: Path
) -> None:
    """What `.github/workflows/release.yml` does on a new runner: no toolchain image, an empty
    kit cache and an empty image cache. The build makes the image from the kit's Dockerfile
    (its layers are kept under a spare tag here, so that this is quick), the script saves it
    to the cache, and the version is published. A second fresh runner with that cache loads
    the image instead of building it."""
    from motivus_dev.toolchain import docker as docker_exec
    from motivus_dev.toolchain import images

    reason = docker_exec.engine_available()
    if reason is not None:
        pytest.skip(f"no Docker engine ({reason}); start one with scripts/docker-engine.sh start")
    client = docker_exec.client()
    pinned = images.image_for("mvcc").ref
    if not docker_exec.image_present(pinned, client):
        pytest.skip(f"{pinned} is not built: motivus toolchain build mvcc")
    copy = tmp_path / NAME
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("build", ".motivus"))
    image_cache = tmp_path / "image-cache"
    spare = "motivus/mvcc:spare-for-release-test"
    client.images.get(pinned).tag(spare)

    def release(version: str) -> subprocess.CompletedProcess:
        manifest = copy / "motivus.yml"
        config = yaml.safe_load(manifest.read_text())
        config["package"]["version"] = version
        manifest.write_text(yaml.safe_dump(config, sort_keys=False))
        client.images.remove(pinned)  # a fresh runner
        env = subprocess_env(
            PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
            MOTIVUS_TOOLCHAIN="docker",
            MOTIVUS_IMAGE_CACHE=str(image_cache),
            MOTIVUS_CACHE_DIR=str(tmp_path / f"kit-cache-{version}"),  # empty
            XDG_CACHE_HOME=str(tmp_path / f"xdg-cache-{version}"),
            MOTIVUS_PERSONAL_ACCESS_TOKEN=registry.personal,
            MOTIVUS_MARKETPLACE_URL=registry.url,
            RELEASE_TAG=f"v{version}",
        )
        done = subprocess.run(
            ["bash", str(copy / "ci" / "release.sh")], cwd=str(copy), env=env,
            capture_output=True, text=True, timeout=1200,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert docker_exec.image_present(pinned, client)
        return done

    try:
        first = release("7.0.0")
        assert "is not on this machine: building it now" in first.stderr
        [saved] = list(image_cache.iterdir())
        assert saved.suffix == ".tar" and saved.stat().st_size > 1_000_000
        second = release("7.0.1")
        assert "is not on this machine" not in second.stderr  # loaded from the cache
    finally:
        if not docker_exec.image_present(pinned, client):
            client.images.get(spare).tag(pinned)
        client.images.remove(spare)
        client.close()
    published = {v["name"]: v for v in registry.versions()}
    assert set(published) == {"7.0.0", "7.0.1"}
    for version, entry in published.items():
        wasm = copy / "build" / f"{NAME}-{version}.wasm"
        if version == "7.0.1":
            assert entry["hash"] == hashlib.sha256(wasm.read_bytes()).hexdigest()
        assert entry["wasm_url"]


def test_release_script_refuses_a_tag_that_is_not_the_version(project: Path, version: str, registry: Registry) -> None:
    build = project / "build"
    before = {p.name: p.stat().st_mtime_ns for p in build.iterdir()}
    done = _release(project, registry, "v9.9.9")
    assert done.returncode != 0
    assert "v9.9.9" in done.stderr and version in done.stderr
    assert registry.counter.requests == []  # failed before anything was sent
    assert {p.name: p.stat().st_mtime_ns for p in build.iterdir()} == before  # nor built
    assert registry.versions() == []


def test_release_workflow_runs_the_release_script_with_its_variables(project: Path) -> None:
    workflow = yaml.safe_load((project / ".github" / "workflows" / "release.yml").read_text())
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    [release] = [step for step in steps if "ci/release.sh" in str(step.get("run", ""))]
    assert {"MOTIVUS_PERSONAL_ACCESS_TOKEN", "MOTIVUS_MARKETPLACE_URL", "RELEASE_TAG"} <= set(release["env"])
    script = (project / "ci" / "release.sh").read_text()
    for variable in release["env"]:
        assert variable in script, f"release.yml sets {variable}, which ci/release.sh does not read"
    assert os.access(project / "ci" / "release.sh", os.X_OK), "ci/release.sh must be executable"
