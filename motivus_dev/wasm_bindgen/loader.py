"""Generating the Rust loader (``NAME-VERSION.js``) and checking the module's imports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Set, Tuple

from motivus_dev.errors import BuildError
from motivus_dev.wasm_bindgen.abi import CallPlan, plan_call
from motivus_dev.wasm_bindgen.reader import DESCRIBE_PREFIX, PLACEHOLDER_MODULE, read_signatures
from motivus_dev.wasm_bindgen.wasmfile import parse_module, rewrite_module

PLAN_PLACEHOLDER = "/*__MOTIVUS_RUST_PLAN__*/ null"
BINDGEN_SECTION = "__wasm_bindgen_unstable"

#: The wasm-bindgen 0.2.83 intrinsics the runtime implements (``I`` in loader_js/rust.js).
RUST_PROVIDED_INTRINSICS: FrozenSet[str] = frozenset(
    """
    __wbindgen_object_clone_ref __wbindgen_object_drop_ref __wbindgen_string_new
    __wbindgen_number_new __wbindgen_bigint_from_str __wbindgen_bigint_from_i64
    __wbindgen_bigint_from_u64 __wbindgen_bigint_from_i128 __wbindgen_bigint_from_u128
    __wbindgen_symbol_named_new __wbindgen_symbol_anonymous_new
    __wbindgen_externref_heap_live_count __wbindgen_is_null __wbindgen_is_undefined
    __wbindgen_is_symbol __wbindgen_is_object __wbindgen_is_function __wbindgen_is_string
    __wbindgen_is_bigint __wbindgen_typeof __wbindgen_in __wbindgen_is_falsy
    __wbindgen_as_number __wbindgen_try_into_number __wbindgen_neg __wbindgen_bit_and
    __wbindgen_bit_or __wbindgen_bit_xor __wbindgen_bit_not __wbindgen_shl __wbindgen_shr
    __wbindgen_unsigned_shr __wbindgen_add __wbindgen_sub __wbindgen_div
    __wbindgen_checked_div __wbindgen_mul __wbindgen_rem __wbindgen_pow __wbindgen_lt
    __wbindgen_le __wbindgen_ge __wbindgen_gt __wbindgen_number_get __wbindgen_boolean_get
    __wbindgen_string_get __wbindgen_bigint_get_as_i64 __wbindgen_debug_string
    __wbindgen_throw __wbindgen_rethrow __wbindgen_error_new __wbindgen_cb_drop
    __wbindgen_describe __wbindgen_describe_closure __wbindgen_json_parse
    __wbindgen_json_serialize __wbindgen_jsval_eq __wbindgen_jsval_loose_eq __wbindgen_not
    __wbindgen_memory __wbindgen_module __wbindgen_function_table
    """.split()
)

#: Every import the Rust loader provides, as (module, name).
RUST_PROVIDED_IMPORTS: FrozenSet[Tuple[str, str]] = frozenset(
    {(PLACEHOLDER_MODULE, name) for name in RUST_PROVIDED_INTRINSICS}
    | {
        ("__wbindgen_externref_xform__", "__wbindgen_externref_table_grow"),
        ("__wbindgen_externref_xform__", "__wbindgen_externref_table_set_null"),
        ("motivus", "log"),
    }
)


@dataclass(frozen=True)
class RustLoader:
    """A generated loader, the module to ship with it, and the imports the loader provides."""

    loader_js: str
    wasm: bytes
    provided_imports: Set[Tuple[str, str]]
    plans: Dict[str, CallPlan]


def runtime_source() -> str:
    """The loader runtime template shipped in ``motivus_dev/loader_js/rust.js``."""
    # A plain path (not importlib.resources): loader_js is package data, not a package.
    path = Path(__file__).resolve().parent.parent / "loader_js" / "rust.js"
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BuildError(f"the Rust loader runtime {path} is missing (a broken kit install)") from exc


def check_imports(wasm: bytes, provided: Iterable[Tuple[str, str]]) -> None:
    """Raise :class:`BuildError` listing every import of ``wasm`` not in ``provided``."""
    provided_set = set(provided)
    missing = sorted(
        f"{imp.module}.{imp.name}" for imp in parse_module(wasm).imports if (imp.module, imp.name) not in provided_set
    )
    if missing:
        wbg = [m for m in missing if m.startswith(PLACEHOLDER_MODULE + ".__wbg_")]
        hint = "remove the code that needs them, or provide them in the loader"
        if wbg:
            hint = (
                "#[wasm_bindgen] extern blocks (web-sys, js-sys, console bindings) are not "
                "supported: log with the motivus helper (src/motivus.rs: log!/elog!) instead"
            )
        raise BuildError(
            f"the module imports {len(missing)} function(s) that the loader does not provide: " + ", ".join(missing),
            hint=hint,
        )


def plan_module(wasm: bytes) -> Dict[str, CallPlan]:
    """Read and check the signatures of every export; map each name to its call plan.

    Raises :class:`BuildError` for an unsupported type (naming it and the function) or when
    the export's real wasm type differs from the one the ABI model predicts.
    """
    module = parse_module(wasm)
    plans: Dict[str, CallPlan] = {}
    for name, sig in sorted(read_signatures(wasm).items()):
        plan = plan_call(sig)
        actual = module.export_func_type(name)
        if actual != plan.wasm_type:
            raise BuildError(
                f"the wasm type of {name!r} ({_render_type(actual.params, actual.results)}) does not "
                f"match the wasm-bindgen 0.2.83 ABI of {sig.render()} "
                f"({_render_type(plan.wasm_type.params, plan.wasm_type.results)})",
                hint="the crate must use wasm-bindgen 0.2.83 (the version in the toolchain)",
            )
        plans[name] = plan
    return plans


def _render_type(params: Tuple[str, ...], results: Tuple[str, ...]) -> str:
    return f"({', '.join(params)}) -> ({', '.join(results)})"


def generate_rust_loader(wasm: bytes, name: str, version: str) -> RustLoader:
    """Generate the loader for the module built by mvrc.

    The returned module has the describe exports and the ``__wasm_bindgen_unstable`` custom
    section removed (the functions stay, so indices do not change); its imports are checked
    against what the loader provides. Deterministic: same input, same bytes.
    """
    plans = plan_module(wasm)
    if "main" not in plans:
        raise BuildError(
            f"{name} {version} exports no #[wasm_bindgen] function called main",
            hint="add `#[wasm_bindgen] pub fn main(...)` to src/lib.rs",
        )
    plan_json = json.dumps(
        {
            "package": f"{name}-{version}",
            "functions": {fname: plans[fname].to_json() for fname in sorted(plans)},
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    template = runtime_source()
    if template.count(PLAN_PLACEHOLDER) != 1:
        raise BuildError("the Rust loader runtime has no plan placeholder (a broken kit install)")
    loader_js = template.replace(PLAN_PLACEHOLDER, plan_json)

    describe_exports: List[str] = [e for e in parse_module(wasm).export_names("func") if e.startswith(DESCRIBE_PREFIX)]
    stripped = rewrite_module(wasm, drop_exports=describe_exports, drop_custom_sections=[BINDGEN_SECTION])
    provided = set(RUST_PROVIDED_IMPORTS)
    check_imports(stripped, provided)
    return RustLoader(loader_js=loader_js, wasm=stripped, provided_imports=provided, plans=plans)
