"""Reading a raw wasm-bindgen (0.2.83) module's ABI and generating its Motivus loader.

The wasm-bindgen command-line tool is not available to the kit, so this package does its
job for the subset of types Motivus algorithms use: it runs the module's describe exports
with wasmtime, decodes them, plans each export's call, and fills the loader runtime
(``motivus_dev/loader_js/rust.js``) with those plans.
"""

from __future__ import annotations

from motivus_dev.wasm_bindgen.abi import CallPlan, plan_call
from motivus_dev.wasm_bindgen.descriptor import FunctionSig, WbType, decode_function
from motivus_dev.wasm_bindgen.loader import (
    RUST_PROVIDED_IMPORTS,
    RustLoader,
    check_imports,
    generate_rust_loader,
    plan_module,
)
from motivus_dev.wasm_bindgen.reader import read_descriptors, read_signatures

__all__ = [
    "CallPlan",
    "FunctionSig",
    "RUST_PROVIDED_IMPORTS",
    "RustLoader",
    "WbType",
    "check_imports",
    "decode_function",
    "generate_rust_loader",
    "plan_call",
    "plan_module",
    "read_descriptors",
    "read_signatures",
]
