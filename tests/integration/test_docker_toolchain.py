"""The executors against a real Docker engine (and the host), with a probe build script.

The probe (tests/data/toolchain/probe.sh) follows the build-script interface and records
what it saw: uid, environment, network interfaces. Skipped, naming the missing piece, when
no engine answers or the base image is missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List

import pytest

from motivus_dev.errors import BuildError, ToolchainError
from motivus_dev.reporter import RecordingReporter
from motivus_dev.resources import toolchains_dir
from motivus_dev.toolchain import docker as docker_exec
from motivus_dev.toolchain import host as host_exec
from motivus_dev.toolchain import images
from motivus_dev.toolchain.kind import COMPILE
from motivus_dev.toolchain.plan import BuildInput, BuildPlan, make_plan

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = [pytest.mark.integration]

PROBE = Path(__file__).resolve().parent.parent / "data" / "toolchain" / "probe.sh"
UID, GID = 4242, 4343  # not the caller's: proves the container runs as the plan's ids


@pytest.fixture(scope="module")
def docker_client() -> Iterator[DockerClient]:
    reason = docker_exec.engine_available()
    if reason is not None:
        pytest.skip(f"no Docker engine ({reason}); start one with scripts/docker-engine.sh start")
    cli = docker_exec.client()
    yield cli
    cli.close()


@pytest.fixture(scope="module")
def base_image(docker_client: DockerClient) -> str:
    base = images.image_for("mvcc").base
    if not docker_exec.image_present(base, docker_client):
        pytest.skip(f"the base image {base} is missing; make it with scripts/base-image.sh")
    return base


def probe_plan(project: Path, image: str, name: str = "probe", uid: int = UID, gid: int = GID) -> BuildPlan:
    """A plan whose script is the probe, copied into the project (the base image has none),
    run as one step (the toolchain's own steps expect its script's outputs)."""
    shutil.copy(PROBE, project / "probe.sh")
    inp = BuildInput(project_dir=project, lang="c", name=name, version="0.0.1", source="src")
    plan = make_plan(inp, image=image, host_script=project / "probe.sh", uid=uid, gid=gid)
    return dataclasses.replace(plan, container_script="/project/probe.sh", steps=(COMPILE,))


def _containers_of(project: Path, docker_client: DockerClient) -> List[Any]:
    """The build containers left that mount ``project`` (another build on the same engine,
    a developer's, may have its own running)."""
    found = docker_client.containers.list(all=True, filters={"label": "org.motivus.build"})
    return [c for c in found if any(str(project) in str(m.get("Source", "")) for m in c.attrs.get("Mounts", []))]


def read_probe(plan: BuildPlan) -> Dict[str, str]:
    text = (plan.out_dir / "probe.txt").read_text()
    return dict(line.split("=", 1) for line in text.splitlines())


def give_to(path: Path, uid: int, gid: int) -> None:
    for root, dirs, files in os.walk(path):
        for entry in [root] + [os.path.join(root, d) for d in dirs + files]:
            os.chown(entry, uid, gid)


@pytest.mark.docker
def test_container_runs_as_the_plans_uid_without_network(tmp_path: Path, docker_client: DockerClient,
                                                         base_image: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("running the probe as another uid needs root (to hand it the project)")
    plan = probe_plan(tmp_path, base_image)
    for d in plan.dirs_to_create():
        d.mkdir(parents=True, exist_ok=True)
    give_to(tmp_path, UID, GID)
    reporter = RecordingReporter()
    output = docker_exec.run_plan(plan, reporter, docker_client)

    assert output == ["probe: project=/project", str(UID)]
    assert ("output", str(UID)) in reporter.events  # streamed line by line
    written = plan.out_dir / "probe.txt"
    assert (written.stat().st_uid, written.stat().st_gid) == (UID, GID)
    seen = read_probe(plan)
    assert seen["uid"] == str(UID) and seen["gid"] == str(GID)
    assert seen["interfaces"].split() == ["lo"]  # network off: loopback only
    assert seen["docker_socket"] == "absent"
    assert seen["home_in_cache"] == "yes" and seen["out_in_project"] == "yes"
    assert seen["source"] == "src" and seen["name"] == "probe"
    assert _containers_of(tmp_path, docker_client) == []


@pytest.mark.docker
def test_container_failure_is_a_build_error_with_the_compilers_message(
        tmp_path: Path, docker_client: DockerClient, base_image: str) -> None:
    plan = probe_plan(tmp_path, base_image, name="fail", uid=os.getuid(), gid=os.getgid())
    with pytest.raises(BuildError) as info:
        docker_exec.run_plan(plan, RecordingReporter(), docker_client)
    assert "exit code 3" in info.value.message
    assert "probe.c:1:1: error: expected ';'" in info.value.message
    assert _containers_of(tmp_path, docker_client) == []


@pytest.mark.docker
def test_an_image_the_kit_does_not_ship_is_named_with_the_way_out(tmp_path: Path, docker_client: DockerClient) -> None:
    plan = probe_plan(tmp_path, "motivus/mvcc:9.9.9", uid=os.getuid(), gid=os.getgid())
    with pytest.raises(ToolchainError) as info:
        docker_exec.run_plan(plan, RecordingReporter(), docker_client)
    pinned = images.image_for("mvcc").ref
    assert f"this kit ships only {pinned}" in info.value.message
    assert "remove build.toolchain_version" in (info.value.hint or "")


@contextlib.contextmanager
def pinned_image_removed(docker_client: DockerClient, toolchain: str) -> Iterator[str]:
    """The pinned image of ``toolchain`` gone from the engine for the block (a fresh runner);
    kept under a spare tag and put back afterwards if the block did not bring it back."""
    pinned = images.image_for(toolchain).ref
    if not docker_exec.image_present(pinned, docker_client):
        pytest.skip(f"{pinned} is not built: motivus toolchain build {toolchain}")
    spare = f"motivus/{toolchain}:spare-for-test"
    docker_client.images.get(pinned).tag(spare)
    try:
        docker_client.images.remove(pinned)
        yield pinned
    finally:
        if not docker_exec.image_present(pinned, docker_client):
            docker_client.images.get(spare).tag(pinned)
        docker_client.images.remove(spare)


@pytest.mark.docker
def test_a_missing_pinned_image_is_built_with_no_manual_step(tmp_path: Path, docker_client: DockerClient) -> None:
    """A release on a fresh runner: the image is not there, the build makes it (its layers are
    kept under a spare tag here, so that the rebuild is quick), then runs."""
    with pinned_image_removed(docker_client, "mvcc") as pinned:
        plan = probe_plan(tmp_path, pinned, uid=os.getuid(), gid=os.getgid())
        reporter = RecordingReporter()
        docker_exec.run_plan(plan, reporter, docker_client)
        assert docker_exec.image_present(pinned, docker_client)
        assert any("is not on this machine: building it now" in m for kind, m in reporter.events if kind == "warning")
        assert read_probe(plan)["uid"] == str(os.getuid())


def test_host_executor_runs_the_same_plan(tmp_path: Path) -> None:
    plan = probe_plan(tmp_path, "unused", uid=os.getuid(), gid=os.getgid())
    os.chmod(plan.host_script, 0o644)  # no exec bit, as package data may be installed
    reporter = RecordingReporter()
    output = host_exec.run_plan(plan, reporter)
    assert output == [f"probe: project={tmp_path}", str(os.getuid())]
    seen = read_probe(plan)
    assert seen["uid"] == str(os.getuid())
    assert seen["home_in_cache"] == "yes" and seen["out_in_project"] == "yes"


def test_host_failure_is_a_build_error(tmp_path: Path) -> None:
    plan = probe_plan(tmp_path, "unused", name="fail", uid=os.getuid(), gid=os.getgid())
    with pytest.raises(BuildError, match="probe.c:1:1: error"):
        host_exec.run_plan(plan, RecordingReporter())


@pytest.mark.docker
@pytest.mark.parametrize("toolchain", ["mvrc", "mvcc"])
def test_build_image_from_the_shipped_dockerfile(toolchain: str, docker_client: DockerClient,
                                                 base_image: str) -> None:
    """Builds (or refreshes from cache) the pinned image; it must carry the shipped script."""
    reporter = RecordingReporter()
    target = docker_exec.build_image(toolchain, reporter, docker_client)
    assert target == images.image_for(toolchain)
    assert any(kind == "output" and "Successfully" in line for kind, line in reporter.events)
    image = docker_client.images.get(target.ref)
    assert image.labels[images.LABEL_TOOLCHAIN] == toolchain
    assert image.labels[images.LABEL_VERSION] == target.version
    shipped = (toolchains_dir() / toolchain / "build.sh").read_bytes()
    inside = docker_client.containers.run(
        target.ref, ["cat", "/opt/motivus/toolchain/build.sh"], remove=True, network_disabled=True)
    assert inside == shipped
    listed = [i for i in docker_exec.list_images(docker_client) if i.ref == target.ref]
    assert len(listed) == 1 and listed[0].pinned and listed[0].toolchain == toolchain


@pytest.mark.docker
def test_a_missing_image_is_pulled_by_digest_from_the_registry_the_kit_pushed_to(
    tmp_path: Path, docker_client: DockerClient, docker_registry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pinned = images.image_for("mvcc").ref
    if not docker_exec.image_present(pinned, docker_client):
        pytest.skip(f"{pinned} is not built: motivus toolchain build mvcc")
    pushed = docker_exec.push_image("mvcc", docker_registry, RecordingReporter(), docker_client)
    assert pushed.startswith(f"{docker_registry}/motivus/mvcc@sha256:")
    monkeypatch.setenv(images.REGISTRY_ENV, docker_registry)
    with pinned_image_removed(docker_client, "mvcc"):
        plan = probe_plan(tmp_path, pinned, uid=os.getuid(), gid=os.getgid())
        reporter = RecordingReporter()
        docker_exec.run_plan(plan, reporter, docker_client)
        messages = [m for _, m in reporter.events]
        assert f"pulled {pushed} as {pinned}" in messages, messages
        assert not any("building" in m for m in messages), messages
        labels = docker_client.images.get(pinned).labels
        assert labels[images.LABEL_CONTEXT] == docker_exec.context_digest("mvcc")
        assert read_probe(plan)["uid"] == str(os.getuid())


@pytest.mark.docker
def test_an_image_in_the_registry_not_built_from_the_kits_files_is_not_used(
    docker_client: DockerClient, docker_registry: str, base_image: str
) -> None:
    """Someone pushed another image under the pinned name: the kit refuses it and builds."""
    base = base_image
    impostor = images.image_for("mvrc").in_registry(docker_registry)
    docker_client.images.get(base).tag(impostor)
    try:
        mvrc = images.image_for("mvrc")
        docker_client.images.push(mvrc.repository_in(docker_registry), tag=mvrc.version)
    finally:
        docker_client.images.remove(impostor)
    reporter = RecordingReporter()
    assert not docker_exec.pull_image("mvrc", docker_registry, reporter, docker_client)
    warnings = [m for kind, m in reporter.events if kind == "warning"]
    assert any("was not built from this kit's mvrc context" in m for m in warnings), warnings


def test_a_registry_that_does_not_answer_is_a_warning_not_an_error(docker_client: DockerClient) -> None:
    reporter = RecordingReporter()
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert not docker_exec.pull_image("mvcc", f"127.0.0.1:{port}", reporter, docker_client)
    assert any(f"could not pull 127.0.0.1:{port}/motivus/mvcc" in m for kind, m in reporter.events if kind == "warning")


def test_push_refuses_an_image_not_built_from_the_kits_files(
    docker_client: DockerClient, docker_registry: str, base_image: str
) -> None:
    with pinned_image_removed(docker_client, "mvcc") as pinned:
        docker_client.images.get(base_image).tag(pinned)
        try:
            with pytest.raises(ToolchainError) as info:
                docker_exec.push_image("mvcc", docker_registry, RecordingReporter(), docker_client)
            assert "was not built from this kit's mvcc context" in info.value.message
            assert "motivus toolchain build mvcc" in (info.value.hint or "")
        finally:
            docker_client.images.remove(pinned)


@pytest.mark.docker
def test_toolchain_push_command_reports_the_digest_as_json(docker_client: DockerClient, docker_registry: str) -> None:
    import json

    from click.testing import CliRunner

    from motivus_dev.cli import main

    pinned = images.image_for("mvcc").ref
    if not docker_exec.image_present(pinned, docker_client):
        pytest.skip(f"{pinned} is not built: motivus toolchain build mvcc")
    result = CliRunner().invoke(main, ["toolchain", "push", "mvcc", "--registry", docker_registry, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    again = docker_exec.push_image("mvcc", docker_registry, RecordingReporter(), docker_client)
    assert report["pushed"]["mvcc"] == again  # the same image, the same digest
    bad = CliRunner().invoke(main, ["toolchain", "push", "mvcc", "--registry", "127.0.0.1:1", "--json"])
    assert bad.exit_code != 0
    assert "could not push 127.0.0.1:1/motivus/mvcc" in json.loads(bad.stdout)["error"]["message"]
