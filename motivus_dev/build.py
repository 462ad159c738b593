"""`motivus build`: from a project to a deterministic Motivus package.

The toolchain's build script runs in its container or on the host (the same script; the
container's pinned tools, or the host's own); everything after the compiler runs here,
identically in both modes: the toolchain wraps the compiler's glue (wasm-bindgen's for
Rust, emscripten's for C/C++) in the Motivus loader, every module is validated with
wasmtime, checked to load on node 16 and its imports checked against the glue, the
filesystem is packed and checked as the pool will check it, and the outputs are written
atomically to ``build/``.

A build is skipped when its inputs (sources, filesystem, motivus.yml, toolchain pin, kit
version) have the fingerprint of the last successful build and the outputs are intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Set, Tuple

from . import __version__
from .config import ProjectConfig, load_config
from .errors import BuildError, ConfigError, ToolchainError
from .reporter import Reporter
from .toolchain.kind import TOOLCHAIN_MODES, Executor

if TYPE_CHECKING:
    from .toolchain.doctor import Check
    from .toolchain.plan import BuildPlan

#: Above this, a build warns about the package's size (the hosted marketplace takes 100 MB).
PACKAGE_WARN_BYTES = 100 * 1000 * 1000
STAMP = Path(".motivus") / "build-stamp.json"
#: A build that keeps the module's function names (for ``motivus profile``) goes here, with its
#: own stamp, so that it never stands in for the package ``build/`` holds.
NAMED = Path(".motivus") / "profile"


def package_dir(config: ProjectConfig, keep_names: bool = False) -> Path:
    """Where a build writes its package: ``build/``, or for a build with function names
    ``.motivus/profile/``."""
    return config.project_dir / NAMED if keep_names else config.build_dir


def _stamp_path(config: ProjectConfig, keep_names: bool) -> Path:
    return config.project_dir / (NAMED / "build-stamp.json" if keep_names else STAMP)


#: How many compiler warnings a successful build lists (-v shows the whole output).
WARNINGS_SHOWN = 3


@dataclass(frozen=True)
class BuiltFile:
    """One output file of a build."""

    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class BuildResult:
    """What `motivus build` did."""

    config: ProjectConfig
    files: List[BuiltFile]
    toolchain: str  # "docker", "host", or "" when up to date
    reason: str
    up_to_date: bool
    seconds: float
    warnings: List[str] = field(default_factory=list)  # the compiler's, paths relative to the project

    @property
    def package(self) -> Path:
        """The ``NAME-VERSION.zip`` the marketplace takes."""
        return self.config.build_dir / self.config.layout.archive


def output_names(config: ProjectConfig) -> Dict[str, str]:
    """The output files of a build, by kind: wasm, js, data (if any), zip."""
    layout = config.layout
    names = {"wasm": layout.wasm, "js": layout.loader, "zip": layout.archive}
    if has_filesystem(config):
        names["data"] = layout.data_zip
    return names


def has_filesystem(config: ProjectConfig) -> bool:
    """Whether the package carries a starting filesystem (the toolchain packs one, and
    motivus.yml names its directory)."""
    return config.toolchain.has_filesystem and config.build.filesystem is not None


# --------------------------------------------------------------------------- fingerprint


def fingerprint(config: ProjectConfig, toolchain_ref: str) -> str:
    """A digest of everything a build reads (and the kit and toolchain that build it): the
    files the toolchain reads from the sources, the filesystem it packs, motivus.yml. Not
    fixtures, docs, ``.env``, the driver or outputs: editing those needs no build."""
    from .resources import loader_js_dir, toolchains_dir
    from .toolchain.kind import walk

    digest = hashlib.sha256()
    digest.update(f"kit {__version__}\ntoolchain {toolchain_ref}\n".encode())
    digest.update(config.path.read_bytes())
    project = config.project_dir
    kind = config.toolchain
    files: List[Path] = list(kind.input_files(project, project / config.build.source, not_sources(config)))
    if has_filesystem(config):
        files += walk(project / str(config.build.filesystem), _not_inputs(config))  # packed whole
    # The toolchain's own files (build script, loader runtime) are inputs too.
    files += walk(toolchains_dir() / config.build.compiler)
    files += walk(loader_js_dir())
    seen: Set[Path] = set()
    for path in files:
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        try:
            label = path.relative_to(project).as_posix()
        except ValueError:
            label = path.name
        digest.update(f"\0{label}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _not_inputs(config: ProjectConfig) -> List[Path]:
    """Directories of the project that no build reads: fixtures and the kit's outputs."""
    project = config.project_dir
    return [project / config.tests.fixtures, project / "build", project / ".motivus"]


def not_sources(config: ProjectConfig) -> List[Path]:
    """Directories the toolchain's sources never come from: those and the packed filesystem."""
    filesystem = [config.project_dir / str(config.build.filesystem)] if has_filesystem(config) else []
    return _not_inputs(config) + filesystem


def _read_stamp(config: ProjectConfig, keep_names: bool = False) -> Optional[Dict[str, object]]:
    try:
        data = json.loads(_stamp_path(config, keep_names).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def check_inside_project(config: ProjectConfig) -> None:
    """``build.source`` and ``build.filesystem``, symlinks resolved, must be inside the
    project: a filesystem that links to ``~/.ssh`` would be packed and published."""
    project = config.project_dir.resolve()
    for key, value in (("build.source", config.build.source), ("build.filesystem", config.build.filesystem)):
        if value is None:
            continue
        where = (config.project_dir / value).resolve()
        if where != project and project not in where.parents:
            raise ConfigError(
                f"{key} ({value}) resolves to {where}, outside the project {project}",
                hint="point it at a directory inside the project (copy the files in rather than linking them)",
            )


def toolchain_ref(config: ProjectConfig) -> str:
    """The toolchain image the project builds with: the kit's pinned one, or the version
    ``build.toolchain_version`` in motivus.yml pins."""
    from .toolchain.images import image_for

    image = image_for(config.build.compiler)
    pinned_version = config.build.toolchain_version
    return f"{image.repository}:{pinned_version}" if pinned_version else image.ref


def is_up_to_date(config: ProjectConfig, toolchain_ref: str, builder: Optional[str] = None,
                  keep_names: bool = False) -> bool:
    """True when build/ (or the named build's directory) holds intact outputs of exactly the
    current inputs (and, given ``builder``, built by that toolchain: see :func:`builder_identity`)."""
    stamp = _read_stamp(config, keep_names)
    if not stamp or stamp.get("fingerprint") != fingerprint(config, toolchain_ref):
        return False
    if builder is not None and stamp.get("builder") != builder:
        return False
    outputs = stamp.get("outputs")
    if not isinstance(outputs, dict) or set(outputs) != set(output_names(config).values()):
        return False
    for name, digest in outputs.items():
        path = package_dir(config, keep_names) / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            return False
    return True


def builder_identity(config: ProjectConfig, where: Executor, image_ref: str,
                     host_checks: Sequence["Check"] = ()) -> str:
    """What builds the package, for its stamp: the image and its id (a rebuilt image has
    another), or the host tools and their versions. A package another toolchain built is
    not up to date: its bytes differ (the host's emcc 3.1.6 against the image's 3.1.69)."""
    if where is Executor.DOCKER:
        from .toolchain.docker import image_id

        return f"docker {image_ref} {image_id(image_ref) or '(not on this machine yet)'}"
    return "host " + "; ".join(f"{check.name}: {check.detail}" for check in host_checks)


# --------------------------------------------------------------------------- toolchain choice


def choose_toolchain(mode: str) -> Tuple[Executor, str]:
    """Where the build's steps run, and why."""
    from .toolchain.docker import engine_available

    if mode not in TOOLCHAIN_MODES:
        raise ToolchainError(f"--toolchain {mode!r} is not one of {', '.join(TOOLCHAIN_MODES)}")
    if mode == Executor.HOST.value:
        return Executor.HOST, "asked for with --toolchain host"
    problem = engine_available()
    if problem is None:
        why = "a Docker engine is reachable" if mode == "auto" else "asked for with --toolchain docker"
        return Executor.DOCKER, why
    if mode == Executor.DOCKER.value:
        raise ToolchainError(
            f"--toolchain docker, but {problem}",
            hint="start the engine (see 'motivus toolchain doctor'), or build with --toolchain host",
        )
    return Executor.HOST, problem


def _check_host_tools(compiler: str) -> List["Check"]:
    """The host tools' checks (names and versions); raises when one is missing."""
    from .toolchain.doctor import check_host_tools

    checks = check_host_tools(toolchains=[compiler])
    missing = [c for c in checks if not c.ok]
    if missing:
        fixes = sorted({c.fix_command for c in missing if c.fix_command})
        raise ToolchainError(
            "no Docker engine to build in, and the host lacks: "
            + "; ".join(f"{c.name} ({c.detail})" for c in missing),
            hint="start a Docker engine (motivus toolchain doctor), or install the host tools: "
            + (" && ".join(fixes) or "motivus toolchain install --host"),
        )
    return checks


# --------------------------------------------------------------------------- the build


def check_output_dirs(config: ProjectConfig) -> None:
    """``build/`` and ``.motivus/`` must be real directories of the project (or absent): a
    symlink would make the build write, and ``motivus clean`` delete, outside it."""
    for path in (config.build_dir, config.project_dir / ".motivus"):
        if path.is_symlink():
            raise ConfigError(
                f"{path.name}/ is a symbolic link (to {os.readlink(path)}): the kit writes and deletes only "
                "inside the project",
                hint=f"remove the link (rm {path}); the kit makes the directory itself",
            )


def build_project(project_dir: Path, reporter: Reporter, *, toolchain: str = "auto",
                  force: bool = False, offline: bool = False, keep_names: bool = False) -> BuildResult:
    """Build the project at ``project_dir`` into ``build/NAME-VERSION.*``; ``offline``
    downloads nothing (Rust crates from ``vendor/`` or the user's download cache);
    ``keep_names`` builds the same package with its function names, for a profile, into
    ``.motivus/profile/`` (build/ is left alone)."""
    started = time.monotonic()
    config = load_config(project_dir)
    check_inside_project(config)
    check_output_dirs(config)
    image_ref = toolchain_ref(config)
    from .scaffold import KIT_DIR_RULE, ignore_kit_dir

    if ignore_kit_dir(config.project_dir):
        reporter.info(f"added {KIT_DIR_RULE} to .gitignore: the kit's caches (often over 100 MB) stay out of "
                      "version control")
    if config.build.filesystem is not None and not has_filesystem(config):
        reporter.warning(f"build.filesystem is ignored for {config.build.compiler}: its packages have no filesystem")
    where, reason = choose_toolchain(toolchain)
    host_checks = _check_host_tools(config.build.compiler) if where is Executor.HOST else []
    builder = builder_identity(config, where, image_ref, host_checks)
    if not force and is_up_to_date(config, image_ref, builder, keep_names):
        return BuildResult(config, _built_files(config, keep_names), "", "nothing changed since the last build", True,
                           time.monotonic() - started)
    if where is Executor.HOST and toolchain == "auto":
        reporter.warning(f"{reason}: building with the host's own tools, whose bytes differ from the pinned "
                         "image's (--toolchain docker never falls back)")
    names = output_names(config)
    # The last good package stays until a new one is complete: a failed or interrupted build
    # leaves build/ as it was (its stamp no longer matches the sources, so it is not taken for
    # current, and `motivus push` says so).
    config.toolchain.prepare_project(config.project_dir / config.build.source, config.package_version, reporter)
    plan = _plan(config, image_ref, where, offline, keep_names)
    reporter.info(f"building {config.package_stem} with {config.build.compiler} ({where.value}: {reason})")
    output = run_plan(plan, where, config, reporter)
    from .toolchain.plan import compiler_warnings

    warnings = compiler_warnings(plan, output)
    if warnings:
        shown = "\n".join(f"  {w}" for w in warnings[:WARNINGS_SHOWN])
        more = f"\n  ... and {len(warnings) - WARNINGS_SHOWN} more" if len(warnings) > WARNINGS_SHOWN else ""
        reporter.warning(f"{len(warnings)} compiler warning{'s' if len(warnings) != 1 else ''} "
                         f"(motivus build -v shows them in full):\n{shown}{more}")

    outputs = _package(config, plan.out_dir, reporter)
    from .packing import atomic_write, write_package

    target = package_dir(config, keep_names)
    target.mkdir(parents=True, exist_ok=True)
    for kind, data in outputs.items():
        atomic_write(target / names[kind], data)
    write_package(target, config.name, config.package_version,
                  {names[kind]: data for kind, data in sorted(outputs.items())})
    files = _built_files(config, keep_names)
    if where is Executor.DOCKER:  # the image may have been built or pulled by this build
        builder = builder_identity(config, where, image_ref)
    stamp = {"fingerprint": fingerprint(config, image_ref), "builder": builder,
             "outputs": {f.path.name: f.sha256 for f in files}}
    atomic_write(_stamp_path(config, keep_names), json.dumps(stamp, indent=1, sort_keys=True).encode())
    return BuildResult(config, files, where.value, reason, False, time.monotonic() - started, warnings)


def run_plan(plan: "BuildPlan", where: Executor, config: ProjectConfig, reporter: Reporter) -> List[str]:
    """Run ``plan`` with the executor ``where`` names (the toolchain's container or the
    host), its output read as the build's phases; the script's output lines."""
    if where is Executor.DOCKER:
        from .toolchain import docker as executor
    else:
        from .toolchain import host as executor  # type: ignore[no-redef]
    from .toolchain.progress import BuildProgress

    return executor.run_plan(plan, BuildProgress(reporter, config.toolchain))


#: The host's bundle of trusted certificate authorities (Debian/Ubuntu, then Fedora's): the
#: steps that download trust what the host trusts (a TLS-inspecting proxy's CA, say).
CA_BUNDLES = (Path("/etc/ssl/certs/ca-certificates.crt"), Path("/etc/pki/tls/certs/ca-bundle.crt"))


def shared_cache(compiler: str, where: Executor) -> Path:
    """The user's cache that every project's builds share: crates downloaded once, tools
    built once. One per toolchain and executor: a wasm-bindgen CLI built in the image does
    not run on an older host's C library."""
    from .resources import cache_dir

    return cache_dir() / "toolchains" / f"{compiler}-{where.value}"


def _plan(config: ProjectConfig, image_ref: str, where: Executor, offline: bool,
          keep_names: bool = False) -> "BuildPlan":
    from .toolchain.images import host_script
    from .toolchain.plan import BuildInput, make_plan

    kind = config.toolchain
    source_dir = config.project_dir / config.build.source
    kind.check_project(config.project_dir, source_dir)
    script_env = kind.script_env(config.project_dir, source_dir, config.build.profile, config.build.lang,
                                 not_sources(config))
    return make_plan(
        BuildInput(
            project_dir=config.project_dir.resolve(),
            lang=config.build.lang,
            name=config.name,
            version=config.package_version,
            source=config.build.source,
            filesystem=config.build.filesystem if has_filesystem(config) else None,
            profile=config.build.profile,
            cflags=" ".join(config.build.cflags),
            ldflags=" ".join(config.build.ldflags),
            simd=config.build.simd,
            keep_names=keep_names,
            extra_env=tuple(sorted(script_env.items())),
            shared_cache=shared_cache(config.build.compiler, where),
            ca_file=next((bundle for bundle in CA_BUNDLES if bundle.is_file()), None),
            offline=offline,
        ),
        image=image_ref,
        host_script=host_script(config.build.compiler),
        uid=os.getuid(),
        gid=os.getgid(),
    )


def _package(config: ProjectConfig, out_dir: Path, reporter: Reporter) -> Dict[str, bytes]:
    """The package's files (wasm, js, data) from the compiler's outputs, validated."""
    from .toolchain.module_checks import check_ascii_loader

    filesystem = config.build.filesystem if has_filesystem(config) else None
    reporter.step("checking the module (wasmtime, node 16, the glue's imports)")
    packaged = config.toolchain.package(out_dir, config.name, config.package_version, filesystem)
    reporter.step("packaging")
    outputs = {"wasm": packaged.wasm, "js": packaged.loader_js.encode("utf-8")}
    check_ascii_loader(outputs["js"], config.package_stem)
    if has_filesystem(config):
        from .packing import pack_filesystem, zip_entries
        from .runtime.datalink import check_zip
        from .runtime.paths import UnsafeInputError

        project = config.project_dir
        if packaged.preloaded is not None:
            # As the platform's packager did: the zip holds the program's own file package.
            outputs["data"] = zip_entries({config.layout.preloaded: packaged.preloaded})
        else:
            outputs["data"] = pack_filesystem(
                project / str(config.build.filesystem),
                exclude=[project / ".motivus", project / "build", project / ".git"],
            )
        try:
            # what `motivus test`, loopback and the workers' pool check
            check_zip(outputs["data"], what=f"the packed filesystem ({config.build.filesystem}) would be "
                      "refused when tasks run: ")
        except UnsafeInputError as exc:
            raise BuildError(
                exc.message,
                hint="make the filesystem directory smaller (fewer or smaller files), or ship big data "
                "as preload_files",
            ) from exc
    size = sum(len(data) for data in outputs.values())
    if size > PACKAGE_WARN_BYTES:
        reporter.warning(
            f"the package is {size / 1e6:.0f} MB: the hosted marketplace takes uploads of up to 100 MB, "
            "and every worker downloads the package for each task"
        )
    reporter.info(f"wasm {len(outputs['wasm']):,} bytes, loader {len(outputs['js']):,} bytes")
    return outputs


def _built_files(config: ProjectConfig, keep_names: bool = False) -> List[BuiltFile]:
    files = []
    for name in output_names(config).values():
        path = package_dir(config, keep_names) / name
        data = path.read_bytes()
        files.append(BuiltFile(path, len(data), hashlib.sha256(data).hexdigest()))
    return files


def clean_project(project_dir: Path) -> List[Path]:
    """Remove build outputs and caches (``build/`` and ``.motivus/``); returns what was removed."""
    config = load_config(project_dir)
    check_output_dirs(config)
    removed = []
    for path in (config.build_dir, config.project_dir / ".motivus"):
        if path.exists():
            shutil.rmtree(path)
            removed.append(path)
    return removed
