"""mvrc: Rust (wasm-bindgen style) to a Motivus package.

The build script (toolchains/mvrc/build.sh) leaves the raw ``module.wasm``; the kit reads
its wasm-bindgen descriptors and generates the loader (motivus_dev/wasm_bindgen), then the
module is validated and its imports checked against what the loader provides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from motivus_dev.errors import BuildError
from motivus_dev.toolchain.kind import HostFile, HostTool, Packaged, Toolchain
from motivus_dev.toolchain.module_checks import validate_module


class Mvrc(Toolchain):
    name = "mvrc"
    langs = ("rust",)
    has_filesystem = False
    host_tools = (
        HostTool("cargo", ("/usr/bin/cargo", "--version"), r"^cargo 1\.65\.", ("cargo",)),
        HostTool("rustc", ("/usr/bin/rustc", "--version"), r"^rustc 1\.63\.", ("rustc",)),
        HostTool("wasm-opt", ("wasm-opt", "--version"), r"version 108\b", ("binaryen",)),
    )
    host_files = (
        HostFile("wasm32 std", "/usr/lib/rustlib/wasm32-unknown-unknown/lib", ("libstd-rust-dev-wasm32",)),
        HostFile("crate registry", "/usr/share/cargo/registry", ("librust-wasm-bindgen-dev", "librust-serde-json-dev")),
    )

    def reads(self, relative: Path) -> bool:
        """The manifest, the lock, build.rs, everything under src/ (include_str! may read any
        of it) and any .rs file (#[path] modules)."""
        return (
            relative.as_posix() in ("Cargo.toml", "Cargo.lock", "build.rs")
            or relative.parts[0] == "src"
            or relative.suffix == ".rs"
        )

    def script_env(self, source_dir: Path, profile: str) -> Dict[str, str]:
        """``MOTIVUS_CARGO_PROFILE_SET``: the keys the crate's own ``[profile.release]`` (or
        ``[profile.dev]`` for a debug build) sets; build.sh gives its defaults (opt-level s,
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

    def package(self, out_dir: Path, name: str, version: str) -> Packaged:
        from motivus_dev.wasm_bindgen.loader import check_imports, generate_rust_loader

        try:
            raw = (out_dir / "module.wasm").read_bytes()
        except OSError as exc:
            raise BuildError(f"the build script left no module.wasm in {out_dir}: {exc.strerror}") from exc
        loader = generate_rust_loader(raw, name, version)
        validate_module(loader.wasm, f"{name}-{version}")
        check_imports(loader.wasm, loader.provided_imports)
        return Packaged(loader.wasm, loader.loader_js)


MVRC = Mvrc()
