"""mvrc: Rust (wasm-bindgen) to a Motivus package.

The build script (toolchains/mvrc/build.sh) runs in two steps, as Cargo users expect:
``fetch`` with the network (resolve the lock if there is none, download the crates into the
user's shared cache, build the wasm-bindgen CLI of the lock's version once), then
``compile`` offline (``cargo build --frozen``, the wasm-bindgen CLI, wasm-opt). It leaves
``module.wasm`` and wasm-bindgen's own ``--target no-modules`` glue, ``module.js``; the kit
wraps the glue in the Motivus worker harness (loader_js/rust/harness.js and the shared
modules, assembled by :mod:`.loader`), checks that
the glue provides every import and that node 16 can load the module.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Iterable, Iterator, Optional, Sequence

from motivus_dev.errors import BuildError, ConfigError
from motivus_dev.toolchain.kind import HostTool, Packaged, Progress, Step, Toolchain
from motivus_dev.toolchain.loader import REUSABLE_MARK, ascii_escaped, assemble
from motivus_dev.toolchain.module_checks import check_glue_imports, check_node16_features, validate_module

if TYPE_CHECKING:
    from motivus_dev.reporter import Reporter
    from motivus_dev.toolchain.plan import BuildPlan

_CARGO_STATUS = re.compile(r"^\s*(Compiling|Downloaded|Downloading|Updating|Locking|Adding|Installing)\s+(\S.*)$")
_CARGO_FINISHED = re.compile(r"^\s*Finished\s")

#: The glue of ``--target no-modules`` defines this one name (0.2.108: ``let wasm_bindgen =
#: (function(exports) {...})``; 0.2.106: ``let wasm_bindgen;`` then an assignment in a closure).
_GLUE_NAME = re.compile(r"^let wasm_bindgen\b", re.MULTILINE)


#: The step `motivus bench --native` runs alone: the crate built for this machine under the
#: harness the kit writes (:func:`write_native_harness`), and run.
NATIVE = Step("native", title="building and running the crate natively")

_HARNESS_MAIN = """\
//! Written by the Motivus Dev Kit for `motivus bench --native`: the crate's own code, built
//! for this machine with cargo's release defaults, timed around `motivus_native(params)`.
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let params = std::fs::read_to_string(args.next().expect("PARAMS.json")).expect("cannot read the params");
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);
    let result_path = args.next().expect("RESULT.json");
    for run in 1..=runs {
        let began = Instant::now();
        let result = algorithm::motivus_native(&params);
        let seconds = began.elapsed().as_secs_f64();
        println!("motivus-native: run {} {:.9} s", run, seconds);
        if run == 1 {
            std::fs::write(&result_path, result).expect("cannot write the result");
        }
    }
}
"""


def write_native_harness(plan: "BuildPlan") -> None:
    """The harness crate of the ``native`` step, in the project's mvrc cache: a bin that
    depends on the project's crate by a relative path (the same in the container and on the
    host), with the crate's own Cargo.lock so that it builds offline with the same versions."""
    import os

    import tomlkit

    source = plan.project_dir / plan.host_env["MOTIVUS_SOURCE"]
    try:
        manifest: Any = tomlkit.parse((source / "Cargo.toml").read_text(encoding="utf-8"))
        crate = str(manifest["package"]["name"])
    except (OSError, UnicodeDecodeError, KeyError, tomlkit.exceptions.TOMLKitError) as exc:
        raise BuildError(f"cannot read the crate's name from {source / 'Cargo.toml'}: {exc}") from exc
    harness = plan.cache_dir / "native"
    (harness / "src").mkdir(parents=True, exist_ok=True)
    relative = Path(os.path.relpath(source, harness)).as_posix()
    (harness / "Cargo.toml").write_text(
        '[package]\nname = "motivus-native"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n'
        f'[dependencies]\nalgorithm = {{ package = {tomlkit.string(crate).as_string()}, path = '
        f'{tomlkit.string(relative).as_string()} }}\n\n[workspace]\n', encoding="utf-8")
    (harness / "src" / "main.rs").write_text(_HARNESS_MAIN, encoding="utf-8")
    lock = source / "Cargo.lock"
    if lock.is_file() and not (harness / "Cargo.lock").is_file():
        (harness / "Cargo.lock").write_bytes(lock.read_bytes())


class Mvrc(Toolchain):
    name = "mvrc"
    langs = ("rust",)
    has_filesystem = False
    steps = (Step("fetch", network=True, title="fetching crates"), Step("compile", title="compiling crates"))
    host_tools = (
        HostTool("cargo", ("cargo", "--version"), r"^cargo 1\.(8[4-9]|9\d|\d{3,})\.", ("cargo",)),
        HostTool("rustc", ("rustc", "--version"), r"^rustc 1\.(8[4-9]|9\d|\d{3,})\.", ("rustc",)),
        # The std of the rustc on PATH (rustup's or the distribution's), not any std on disk.
        HostTool("wasm32 std", ("sh", "-c", 'ls "$(rustc --print target-libdir --target wasm32-unknown-unknown)" '
                                            '| grep -m1 "^libstd-"'),
                 r"^libstd-", ("libstd-rust-dev-wasm32",),
                 fix="rustup target add wasm32-unknown-unknown  "
                     "# or, with the distribution's rustc: apt-get install -y libstd-rust-dev-wasm32"),
        # The wasm32 linker: Debian's rust-llvm puts it on PATH, rustup keeps it in the sysroot.
        HostTool("rust-lld", ("sh", "-c", "command -v rust-lld || "
                                          'ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/rust-lld'),
                 r"rust-lld$", ("rust-llvm",)),
        HostTool("wasm-opt", ("wasm-opt", "--version"), r"version (10[89]|1[1-9]\d|[2-9]\d\d)\b", ("binaryen",)),
    )

    def read_line(self, line: str) -> Optional[Progress]:
        """cargo's status lines (``Downloaded``, ``Compiling nalgebra v0.33.2``, one unit per
        crate), its ``Finished`` line (then wasm-bindgen and wasm-opt run, silent), and the
        script's own ``mvrc:`` lines (building a wasm-bindgen CLI is a phase of minutes)."""
        status = _CARGO_STATUS.match(line)
        if status:
            return Progress(activity=f"{status.group(1)} {status.group(2)}", unit=status.group(1) == "Compiling")
        if _CARGO_FINISHED.match(line):
            return Progress(phase="wasm-bindgen and wasm-opt")
        if line.startswith("mvrc: building the wasm-bindgen CLI"):
            return Progress(phase=line[len("mvrc: "):])
        if line.startswith("mvrc: "):
            return Progress(activity=line[len("mvrc: "):])
        return None

    def reads(self, relative: Path) -> bool:
        """The manifest, the lock, build.rs, everything under src/ (include_str! may read any
        of it), any .rs file (#[path] modules), vendored crates and cargo's project config."""
        return (
            relative.as_posix() in ("Cargo.toml", "Cargo.lock", "build.rs", ".cargo/config.toml", ".cargo/config")
            or relative.parts[0] in ("src", "vendor")
            or relative.suffix == ".rs"
        )

    def input_files(self, project_dir: Path, source_dir: Path, exclude: Iterable[Path] = ()) -> Iterator[Path]:
        """As every toolchain's, plus ``.cargo/config.toml`` (hidden directories are skipped
        otherwise): it may point cargo at ``vendor/``."""
        yield from super().input_files(project_dir, source_dir, exclude)
        for name in ("config.toml", "config"):
            if (source_dir / ".cargo" / name).is_file():
                yield source_dir / ".cargo" / name

    def check_project(self, project_dir: Path, source_dir: Path) -> None:
        """The fetch step has the network and must run no project code. ``cargo fetch`` and
        ``generate-lockfile`` run no build script or proc macro, but Cargo runs programs a
        project's ``.cargo/config`` names (``build.rustc-wrapper`` ran with the host's
        network and reached a listener on its 127.0.0.1). So a project's config may set only
        what :data:`FETCH_ALLOWED` lists, which names no program; anything else is refused
        here, naming the key, before any step runs."""
        import tomlkit

        project_dir, source_dir = project_dir.resolve(), source_dir.resolve()
        for directory in (source_dir, *source_dir.parents):
            for name in ("config.toml", "config"):
                path = directory / ".cargo" / name
                if not path.is_file():
                    continue
                try:
                    config = tomlkit.parse(path.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, tomlkit.exceptions.TOMLKitError) as exc:
                    raise ConfigError(f"cannot read {path}: {exc}", hint="fix the TOML syntax") from exc
                for key in _refused_keys(config.unwrap()):
                    raise ConfigError(
                        f"{path} sets `{key}`: Cargo would run a program it names while the build "
                        "downloads crates, with the network",
                        hint="remove the setting (the kit's builds need no wrapper, custom rustc or credential "
                        "provider); what a project's .cargo/config may set: docs/rust.md",
                    )
            if directory == project_dir:
                break

    def prepare_project(self, source_dir: Path, version: str, reporter: "Reporter") -> None:
        """The crate's version is written twice, in Cargo.toml and motivus.yml (the package
        is published as motivus.yml's): say so when they disagree. And a release bump
        (``version`` in Cargo.toml) leaves Cargo.lock naming the old version, which the fetch
        step's ``cargo fetch --locked`` refuses: update the crate's own entry, as ``cargo
        update --workspace`` would, and nothing else (no dependency moves, no network)."""
        import tomlkit

        try:
            manifest = tomlkit.parse((source_dir / "Cargo.toml").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomlkit.exceptions.TOMLKitError):
            return  # cargo says what is wrong with it, in its own words
        package: Any = manifest.get("package")
        name = package.get("name") if isinstance(package, dict) else None
        crate_version = package.get("version") if isinstance(package, dict) else None
        if not isinstance(name, str) or not isinstance(crate_version, str):
            return  # a workspace root, or a version inherited from it: cargo's to resolve
        if crate_version != version:
            reporter.warning(f"Cargo.toml says version {crate_version}, motivus.yml {version}: the package is "
                             f"built and published as {version}; bump both together")
        lock = source_dir / "Cargo.lock"
        try:
            locked = tomlkit.parse(lock.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return  # the fetch step resolves one
        except (OSError, UnicodeDecodeError, tomlkit.exceptions.TOMLKitError):
            return  # cargo says what is wrong with it
        entries: Any = locked.get("package")
        own = [entry for entry in entries or () if isinstance(entry, dict)
               and entry.get("name") == name and "source" not in entry]
        if len(own) != 1 or own[0].get("version") == crate_version:
            return
        old = own[0]["version"]
        own[0]["version"] = crate_version
        from motivus_dev.packing import atomic_write

        atomic_write(lock, tomlkit.dumps(locked).encode("utf-8"))
        reporter.info(f"Cargo.lock: {name} {old} -> {crate_version} (the crate's own version; no dependency moved)")

    def script_env(self, project_dir: Path, source_dir: Path, profile: str, lang: str,
                   exclude: Sequence[Path] = ()) -> Dict[str, str]:
        """``MOTIVUS_CARGO_PROFILE_SET``: the keys the crate's own ``[profile.release]`` (or
        ``[profile.dev]`` for a debug build) sets; build.sh gives its defaults (opt-level 3,
        LTO, one codegen unit, ...) only for the others, so the project's choices stand."""
        import tomlkit

        section = "release" if profile == "release" else "dev"
        try:
            manifest = tomlkit.parse((source_dir / "Cargo.toml").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomlkit.exceptions.TOMLKitError) as exc:
            raise BuildError(
                f"cannot read {source_dir / 'Cargo.toml'}: {exc}", hint="fix the crate's Cargo.toml"
            ) from exc
        profiles: Any = manifest.get("profile") or {}
        table: Any = profiles.get(section) if isinstance(profiles, dict) else None
        keys = sorted(str(key) for key in table) if isinstance(table, dict) else []
        return {"MOTIVUS_CARGO_PROFILE_SET": " ".join(keys)}

    def prepare_step(self, step: Step, plan: "BuildPlan") -> None:
        """Before ``native``: the harness crate (:func:`write_native_harness`)."""
        if step == NATIVE:
            write_native_harness(plan)

    def package(self, out_dir: Path, name: str, version: str, filesystem: Optional[str] = None) -> Packaged:
        try:
            wasm = (out_dir / "module.wasm").read_bytes()
            glue = (out_dir / "module.js").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BuildError(f"the build script left no usable module.wasm/module.js in {out_dir}: {exc}") from exc
        what = f"{name}-{version}"
        validate_module(wasm, what)
        check_node16_features(wasm, what)
        check_glue_imports(wasm, glue, hint="the wasm-bindgen glue does not match the module: rebuild with --force")
        return Packaged(wasm, rust_loader(glue, what))


#: What a project's ``.cargo/config`` may set (an allow-list: none of it names a program
#: Cargo runs while it resolves or downloads): a table name with ``None`` for any key, or
#: the keys allowed in it; ``registries`` has a table per registry.
FETCH_ALLOWED: Dict[str, Optional[FrozenSet[str]]] = {
    "source": None, "net": None, "http": None, "profile": None, "env": None, "term": None, "alias": None,
    "patch": None, "unstable": None, "doc": None, "cargo-new": None, "future-incompat-report": None,
    "resolver": None, "install": None, "paths": None, "target": None,
    "build": frozenset({"target", "rustflags", "rustdocflags", "jobs", "target-dir", "incremental",
                        "dep-info-basedir", "pipelining"}),
    "registry": frozenset({"default", "index", "token"}),
    "registries": frozenset({"index", "protocol", "token"}),
}


def _refused_keys(config: Dict[str, Any]) -> Iterator[str]:
    """The dotted keys of a Cargo config that :data:`FETCH_ALLOWED` does not allow."""
    for table, value in config.items():
        if table not in FETCH_ALLOWED:
            yield table
            continue
        allowed = FETCH_ALLOWED[table]
        if allowed is None or not isinstance(value, dict):
            continue
        if table == "registries":
            for registry, keys in value.items():
                for key in keys if isinstance(keys, dict) else ():
                    if key not in allowed:
                        yield f"registries.{registry}.{key}"
            continue
        for key in value:
            if key not in allowed:
                yield f"{table}.{key}"


def rust_loader(glue: str, what: str) -> str:
    """The package's loader: the kit's modules with wasm-bindgen's glue as the module
    ``rust/bindgen``, a factory that takes the task's console; 7-bit ASCII (non-ASCII
    characters of the glue become ``\\uXXXX`` escapes)."""
    if not _GLUE_NAME.search(glue):
        raise BuildError(
            f"the wasm-bindgen glue of {what} is not of the --target no-modules shape (no 'let wasm_bindgen')",
            hint="the image's build script passes --target no-modules; rebuild the toolchain image",
        )
    bindgen = f"module.exports = function motivusBindgen(console) {{\n{glue}\nreturn wasm_bindgen;\n}};\n"
    main = 'require("./rust/harness").motivusStartRust(require("./rust/bindgen"));\n'
    banner = f"/* {what}: a Motivus package loader (wasm-bindgen glue + the Motivus harness); {REUSABLE_MARK} */\n"
    return ascii_escaped(banner + assemble({"main": main, "rust/bindgen": bindgen}))


MVRC = Mvrc()
