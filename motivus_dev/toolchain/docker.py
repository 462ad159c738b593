"""Run build plans in the toolchain images, and build those images (docker SDK, 7.x).

The SDK is imported lazily: the host executor and everything else work without it.
Foreign errors (``docker.errors.*``, connection errors) become :class:`ToolchainError` (no
usable engine or image) or :class:`BuildError` (the build script failed).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Optional, Set

from motivus_dev.errors import ToolchainError
from motivus_dev.reporter import Reporter
from motivus_dev.resources import toolchains_dir
from motivus_dev.toolchain import images
from motivus_dev.toolchain.kind import Step
from motivus_dev.toolchain.plan import BuildPlan, build_failure

if TYPE_CHECKING:  # pragma: no cover - typing only
    import docker as docker_sdk

#: How many trailing lines of the script's output a BuildError message repeats.
def engine_hint() -> str:
    """How to get an engine: where ``DOCKER_HOST`` names one, that one; else the local one."""
    remote = os.environ.get("DOCKER_HOST")
    if remote:
        return (f"DOCKER_HOST is {remote}: check that the engine there runs and answers, or unset "
                "DOCKER_HOST to use this machine's; or build on the host: --toolchain host")
    return ("start the Docker engine (sudo systemctl start docker, or sudo dockerd &), "
            "or build on the host: --toolchain host")


def _sdk() -> Any:
    try:
        import docker  # lazy on purpose: the SDK is optional at run time
    except ImportError as exc:
        raise ToolchainError(
            "the Python package 'docker' is not installed", hint="pip install 'docker>=7'"
        ) from exc
    return docker


def engine_address() -> str:
    """Where the SDK looks for the engine: ``DOCKER_HOST`` when set, else the local socket."""
    host = os.environ.get("DOCKER_HOST")
    return f"DOCKER_HOST={host}" if host else "unix:///var/run/docker.sock"


def _why_no_engine(exc: BaseException) -> str:
    """The reason an engine did not answer, in words: the SDK's message is a chain of
    requests' and urllib3's exception reprs (``('Connection aborted.', FileNotFoundError(2,
    ...))``); the OS error inside says it plainly."""
    seen: Set[int] = set()
    pending: List[Optional[BaseException]] = [exc]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, FileNotFoundError):
            return f"nothing at {engine_address()} (no such socket)"
        if isinstance(error, ConnectionRefusedError):
            return f"nothing listens at {engine_address()}"
        if isinstance(error, PermissionError):
            return f"no permission to use {engine_address()} (join the docker group, or run as root)"
        pending += [arg for arg in getattr(error, "args", ()) if isinstance(arg, BaseException)]
        pending += [error.__cause__, error.__context__]
    text = " ".join(str(exc).split())
    return f"{engine_address()}: {text[:200]}"


def client() -> "docker_sdk.DockerClient":
    """A client for the engine in the environment (DOCKER_HOST or the default socket)."""
    sdk = _sdk()
    try:
        cli = sdk.from_env(timeout=int(os.environ.get("MOTIVUS_DOCKER_TIMEOUT", "60")))
        cli.ping()
    except (sdk.errors.DockerException, OSError, ConnectionError) as exc:  # requests' errors are OSErrors
        raise ToolchainError(f"no Docker engine answers: {_why_no_engine(exc)}", hint=engine_hint()) from exc
    return cli


def engine_available() -> Optional[str]:
    """None when a Docker engine answers, else why not (one line, for `--toolchain auto`)."""
    try:
        client().close()
    except ToolchainError as exc:
        return exc.message
    return None


class _LineSplitter:
    """Turns a stream of byte chunks into text lines (a chunk may end mid-line)."""

    def __init__(self) -> None:
        self._rest = ""

    def feed(self, chunk: bytes) -> Iterator[str]:
        text = self._rest + chunk.decode("utf-8", errors="replace")
        *lines, self._rest = text.split("\n")
        for line in lines:
            yield line.rstrip("\r")

    def close(self) -> Iterator[str]:
        if self._rest:
            yield self._rest.rstrip("\r")
        self._rest = ""


def _prepare_dirs(plan: BuildPlan) -> None:
    """Create the script's output/cache dirs before the container starts.

    Created here, as the caller, so the container's uid can write them even when it may not
    create entries in the project root. When the caller is root and the plan runs as another
    uid (CI), hand the new directories to that uid, or the script could not write them.
    """
    uid_text, _, gid_text = plan.user.partition(":")
    for path in plan.dirs_to_create():
        created = []
        probe = path
        while not probe.exists() and probe != plan.project_dir:
            created.append(probe)
            probe = probe.parent
        path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0 and uid_text != "0":
            for new_dir in created:
                os.chown(new_dir, int(uid_text), int(gid_text or uid_text))


def run_plan(plan: BuildPlan, reporter: Reporter,
             docker_client: Optional["docker_sdk.DockerClient"] = None) -> List[str]:
    """Run ``plan`` in its image and return the script's output lines.

    Each step runs in a fresh container, removed afterwards: the project bind-mounted at
    ``/project`` and the user's shared cache at ``/motivus-shared``, as the plan's uid:gid, no
    docker socket, and the network only for a download step. The output streams to
    ``reporter.output``. A step's non-zero exit raises :class:`BuildError`.
    """
    sdk = _sdk()
    cli = docker_client or client()
    ensure_image(plan, reporter, cli)
    _prepare_dirs(plan)
    volumes = {
        str(m.source): {"bind": m.target, "mode": "ro" if m.read_only else "rw"} for m in plan.mounts
    }
    output: List[str] = []
    for step in plan.steps:
        reporter.step(step.title or step.name)
        plan.kind.prepare_step(step, plan)
        exit_code = _run_step(plan, step, volumes, cli, sdk, reporter, output)
        if exit_code != 0:
            raise build_failure(plan, exit_code, output)
    return output


def _run_step(plan: BuildPlan, step: Step, volumes: Dict[str, Dict[str, str]],
              cli: "docker_sdk.DockerClient", sdk: Any, reporter: Reporter, output: List[str]) -> int:
    """Run one step of ``plan`` in a fresh container; its output lines go to ``output``."""
    network = plan.network_for(step)
    container = None
    try:
        container = cli.containers.create(
            plan.image,
            command=[plan.container_script, step.name],
            environment=dict(plan.container_env),
            user=plan.user,
            working_dir=plan.workdir,
            volumes=volumes,
            # A download step uses the host's network as the image build does (a proxy on
            # the host's loopback works); the others have none.
            network_disabled=not network,
            network_mode="host" if network else "none",
            labels={"org.motivus.build": plan.toolchain},
        )
        container.start()
        splitter = _LineSplitter()
        for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
            for line in splitter.feed(chunk):
                output.append(line)
                reporter.output(line)
        for line in splitter.close():
            output.append(line)
            reporter.output(line)
        return int(container.wait().get("StatusCode", -1))
    except sdk.errors.ImageNotFound as exc:  # removed while we ran: say what to do
        raise ToolchainError(
            f"the toolchain image {plan.image} went away during the build",
            hint=f"motivus toolchain build {plan.toolchain}",
        ) from exc
    except sdk.errors.DockerException as exc:
        raise ToolchainError(f"Docker could not run the {plan.toolchain} build: {exc}",
                             hint=engine_hint()) from exc
    except (OSError, ConnectionError) as exc:
        raise ToolchainError(f"lost the Docker engine during the {plan.toolchain} build: {exc}",
                             hint=engine_hint()) from exc
    finally:
        if container is not None:
            try:
                container.remove(force=True)
            except (sdk.errors.DockerException, OSError):
                pass  # best effort: the build result matters more than the cleanup


@dataclass(frozen=True)
class ImageInfo:
    """A toolchain image present on the engine."""

    toolchain: str
    ref: str
    version: str
    image_id: str
    size: int
    pinned: bool


def list_images(docker_client: Optional["docker_sdk.DockerClient"] = None) -> List[ImageInfo]:
    """The toolchain images on the engine (labelled ``org.motivus.toolchain``)."""
    sdk = _sdk()
    cli = docker_client or client()
    pinned = {img.ref for img in images.pinned_images().values()}
    result: List[ImageInfo] = []
    try:
        found = cli.images.list(filters={"label": images.LABEL_TOOLCHAIN})
    except sdk.errors.DockerException as exc:
        raise ToolchainError(f"cannot list the Docker images: {exc}", hint=engine_hint()) from exc
    for image in found:
        labels = image.labels or {}
        for tag in image.tags or [f"<untagged>@{image.short_id}"]:
            result.append(ImageInfo(
                toolchain=labels.get(images.LABEL_TOOLCHAIN, "?"),
                ref=tag,
                version=labels.get(images.LABEL_VERSION, "?"),
                image_id=image.short_id,
                size=int(image.attrs.get("Size", 0)),
                pinned=tag in pinned,
            ))
    return sorted(result, key=lambda i: (i.toolchain, i.ref))


def ensure_image(
    plan: BuildPlan, reporter: Reporter, docker_client: Optional["docker_sdk.DockerClient"] = None
) -> None:
    """Obtain the plan's image when the engine lacks it, with no manual step: the kit's
    pinned version is built from the shipped Dockerfile (a release on a fresh CI runner);
    a version motivus.yml pins that this kit does not ship cannot be, and says so."""
    if image_present(plan.image, docker_client):
        return
    pinned = images.image_for(plan.toolchain)
    if plan.image != pinned.ref:
        raise ToolchainError(
            f"the toolchain image {plan.image} is not on this machine, and this kit ships only {pinned.ref}",
            hint=f"remove build.toolchain_version from motivus.yml to build with {pinned.version}, or install "
            "the kit release that ships the version it names",
        )
    registry = os.environ.get(images.REGISTRY_ENV, "").strip()
    if registry and pull_image(plan.toolchain, registry, reporter, docker_client):
        return
    reporter.warning(f"the toolchain image {plan.image} is not on this machine: building it now (once)")
    build_image(plan.toolchain, reporter, docker_client)


def _shipped_context(toolchain: str) -> io.BytesIO:
    return _context_tar(build_context_files(toolchain, toolchains_dir()))


def _digest(context: io.BytesIO) -> str:
    return "sha256:" + hashlib.sha256(context.getvalue()).hexdigest()


def context_digest(toolchain: str) -> str:
    """The sha256 of the image's build context as this kit ships it (pure: fixed tar metadata)."""
    return _digest(_shipped_context(toolchain))


def pull_image(toolchain: str, registry: str, reporter: Reporter,
               docker_client: Optional["docker_sdk.DockerClient"] = None) -> bool:
    """Pull the pinned image from ``registry``; keep it only if it was built from this kit's
    context. The tag is resolved to a digest once and the image is pulled by that digest,
    so what is checked is what is used. Returns whether the image is now present; a registry
    that is down or lacks the image is a warning (the caller builds instead), not an error."""
    sdk = _sdk()
    cli = docker_client or client()
    target = images.image_for(toolchain)
    remote = target.in_registry(registry)
    repository = target.repository_in(registry)
    reporter.step(f"pulling {remote}")
    try:
        digest = cli.images.get_registry_data(remote).id
        image = cli.images.pull(f"{repository}@{digest}")
    except (sdk.errors.DockerException, OSError, ConnectionError) as exc:
        reporter.warning(f"could not pull {remote} ({_first_line(exc)}): the image will be built")
        return False
    built_from = (image.labels or {}).get(images.LABEL_CONTEXT)
    expected = context_digest(toolchain)
    if built_from != expected:
        reporter.warning(
            f"{remote} was not built from this kit's {toolchain} context (its {images.LABEL_CONTEXT} "
            f"label is {built_from or 'missing'}): not used; the image will be built"
        )
        with contextlib.suppress(sdk.errors.DockerException):
            cli.images.remove(f"{repository}@{digest}")
        return False
    image.tag(target.repository, target.version)
    reporter.info(f"pulled {repository}@{digest} as {target.ref}")
    return True


def push_image(toolchain: str, registry: str, reporter: Reporter,
               docker_client: Optional["docker_sdk.DockerClient"] = None) -> str:
    """Push the pinned image to ``registry`` so that fresh machines pull it instead of building
    it; refuses an image not built from this kit's context. Returns the pushed reference by
    digest."""
    sdk = _sdk()
    cli = docker_client or client()
    target = images.image_for(toolchain)
    if not image_present(target.ref, cli):
        raise ToolchainError(f"{target.ref} is not on this machine",
                             hint=f"build it first: motivus toolchain build {toolchain}")
    image = cli.images.get(target.ref)
    if (image.labels or {}).get(images.LABEL_CONTEXT) != context_digest(toolchain):
        raise ToolchainError(
            f"{target.ref} on this machine was not built from this kit's {toolchain} context",
            hint=f"rebuild it: motivus toolchain build {toolchain}",
        )
    remote = target.in_registry(registry)
    repository = target.repository_in(registry)
    reporter.step(f"pushing {remote}")
    try:
        image.tag(repository, target.version)
        error = None
        for message in cli.images.push(repository, tag=target.version, stream=True, decode=True):
            if "error" in message:
                error = str(message.get("errorDetail", {}).get("message") or message["error"]).strip()
            elif message.get("status"):
                reporter.output(" ".join(str(message[k]) for k in ("id", "status") if message.get(k)))
        digest = cli.images.get_registry_data(remote).id if error is None else ""
    except (sdk.errors.DockerException, OSError, ConnectionError) as exc:
        raise ToolchainError(f"could not push {remote}: {_first_line(exc)}",
                             hint=f"check that a registry answers at {registry}") from exc
    finally:
        with contextlib.suppress(sdk.errors.DockerException):
            cli.images.remove(remote)
    if error is not None:
        raise ToolchainError(f"could not push {remote}: {error}",
                             hint=f"check that a registry answers at {registry}")
    reporter.info(f"pushed {repository}@{digest}")
    return f"{repository}@{digest}"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def image_present(ref: str, docker_client: Optional["docker_sdk.DockerClient"] = None) -> bool:
    """Whether the engine has the image ``ref``."""
    sdk = _sdk()
    cli = docker_client or client()
    try:
        cli.images.get(ref)
    except sdk.errors.ImageNotFound:
        return False
    except sdk.errors.DockerException as exc:
        raise ToolchainError(f"cannot inspect the image {ref}: {exc}", hint=engine_hint()) from exc
    return True


def image_id(ref: str) -> Optional[str]:
    """The id (content digest) of the image ``ref`` on the engine, or None when it has none."""
    sdk = _sdk()
    cli = client()
    try:
        return str(cli.images.get(ref).id)
    except sdk.errors.ImageNotFound:
        return None
    except sdk.errors.DockerException as exc:
        raise ToolchainError(f"cannot inspect the image {ref}: {exc}", hint=engine_hint()) from exc
    finally:
        cli.close()


def build_context_files(toolchain: str, toolchain_root: Path) -> Dict[str, Path]:
    """The files of an image's build context: archive name -> file on disk (pure). The
    loaders are not among them: the kit assembles them on the host."""
    return {name: toolchain_root / toolchain / name for name in ("Dockerfile", "packages.txt", "build.sh")}


def _context_tar(files: Dict[str, Path]) -> io.BytesIO:
    """A tar of the build context with fixed metadata, so that unchanged files hit the cache."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in sorted(files):
            path = files[name]
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise ToolchainError(
                    f"the toolchain file {path} is missing: {exc}",
                    hint="the kit's installation is incomplete; reinstall motivus-dev",
                ) from exc
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if name.endswith(".sh") else 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def ensure_base_image(base: str, reporter: Reporter,
                      docker_client: Optional["docker_sdk.DockerClient"] = None) -> None:
    """Make sure the base image ``base`` (``debian:trixie``) exists: pull it, or make it with
    debootstrap (the shipped script)."""
    if image_present(base, docker_client):
        return
    script = toolchains_dir() / "base" / "make-base-image.sh"
    reporter.step(f"making the base image {base}")
    env = dict(os.environ, MOTIVUS_BASE_IMAGE=base)
    try:
        proc = subprocess.Popen(["sh", str(script)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
    except OSError as exc:
        raise ToolchainError(f"cannot run {script}: {exc}") from exc
    lines: List[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        reporter.output(lines[-1])
    if proc.wait() != 0:
        raise ToolchainError(
            f"could not make the base image {base}:\n" + "\n".join(lines[-20:]),
            hint=f"run 'sudo sh {script}' (it needs root and debootstrap)",
        )


#: Where Debian and Ubuntu keep the certificate authorities a machine adds to the system's
#: (a TLS-inspecting proxy's, say): update-ca-certificates reads them from here.
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")


def extra_ca_certificates(directory: Path = LOCAL_CA_DIR) -> str:
    """The PEM text of the host's local certificate authorities (none: ``""``).

    An image build downloads over TLS; behind a proxy that inspects TLS, the base image does
    not trust the proxy's certificate, and the host does. Passed as a build argument, used
    for that download only: the image does not keep it.
    """
    texts = []
    for path in sorted(directory.glob("**/*.crt")) if directory.is_dir() else []:
        try:
            texts.append(path.read_text(encoding="ascii").strip())
        except (OSError, UnicodeDecodeError):
            continue  # not a PEM file the build could use
    return "\n".join(texts)


def _build_messages(stream: Iterable[Dict[str, Any]], reporter: Reporter) -> Optional[str]:
    """Forward the engine's build messages; return the error message, if any."""
    splitter_rest = ""
    for message in stream:
        if "error" in message:
            detail = message.get("errorDetail", {}).get("message") or message["error"]
            return str(detail).strip()
        text = message.get("stream")
        if text:
            lines = (splitter_rest + str(text)).split("\n")
            splitter_rest = lines.pop()
            for line in lines:
                reporter.output(line.rstrip("\r"))
    if splitter_rest:
        reporter.output(splitter_rest)
    return None


def build_image(toolchain: str, reporter: Reporter,
                docker_client: Optional["docker_sdk.DockerClient"] = None) -> images.ToolchainImage:
    """Build the pinned image of ``toolchain`` from the shipped Dockerfile.

    Makes the Debian base first when the engine does not have it. The build uses the host's
    network (apt, and crates.io for the mvrc image's wasm-bindgen CLI), trusting what the host
    trusts (:func:`extra_ca_certificates`); compile runs never have network.
    """
    sdk = _sdk()
    cli = docker_client or client()
    target = images.image_for(toolchain)
    ensure_base_image(target.base, reporter, cli)
    context = _shipped_context(toolchain)
    digest = _digest(context)
    reporter.step(f"building {target.ref}")
    try:
        stream = cli.api.build(
            fileobj=context,
            custom_context=True,
            tag=target.ref,
            buildargs={"MOTIVUS_TOOLCHAIN_VERSION": target.version,
                       "MOTIVUS_EXTRA_CA_CERTS": extra_ca_certificates()},
            labels={images.LABEL_CONTEXT: digest},
            network_mode="host",
            rm=True,
            forcerm=True,
            decode=True,
        )
        error = _build_messages(stream, reporter)
    except sdk.errors.DockerException as exc:
        raise ToolchainError(f"Docker could not build {target.ref}: {exc}", hint=engine_hint()) from exc
    except (OSError, ConnectionError) as exc:
        raise ToolchainError(f"lost the Docker engine while building {target.ref}: {exc}",
                             hint=engine_hint()) from exc
    if error is not None:
        raise ToolchainError(
            f"building {target.ref} failed: {error}",
            hint="check that the Debian mirror is reachable (the image build runs apt-get)",
        )
    if not image_present(target.ref, cli):
        raise ToolchainError(f"the engine reported success but has no {target.ref}")
    reporter.info(f"built {target.ref}")
    return target
