"""The Rust loader: wasm-bindgen's glue wrapped in the Motivus harness, 7-bit ASCII."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from motivus_dev.errors import BuildError
from motivus_dev.toolchain.mvrc import rust_loader

GLUE = """let wasm_bindgen = (function(exports) {
    function main(s) { return "h\u00e9llo \U0001F600 " + s; }  // a comment: \u2713
    exports.main = main;
    return Object.assign(function () {}, { initSync: function () {} }, exports);
})({ __proto__: null });
"""


def test_the_loader_is_ascii_and_means_the_same() -> None:
    loader = rust_loader(GLUE, "demo-1.0.0")
    assert loader.isascii()
    assert '"h\\u00e9llo \\ud83d\\ude00 "' in loader
    assert loader.startswith("/* demo-1.0.0: a Motivus package loader")
    assert "function motivusBindgen(console) {\nlet wasm_bindgen = " in loader
    assert "motivus-loader:reusable" in loader  # a local pool may keep it warm
    assert "The contract this follows" not in loader  # common.js's documentation stays in the kit
    if shutil.which("node") is None:
        pytest.skip("node is missing (apt-get install nodejs)")
    # The escaped glue says the same as the original, to a JavaScript engine.
    call = "\nconsole.log(JSON.stringify(wasm_bindgen.main('x')));"
    escaped = loader[loader.index("let wasm_bindgen"):loader.index("\nreturn wasm_bindgen;")]
    outputs = [subprocess.run(["node", "-e", glue + call], capture_output=True, text=True, check=True).stdout
               for glue in (GLUE, escaped)]
    assert outputs[0] == outputs[1] and json.loads(outputs[0]) == "h\u00e9llo \U0001F600 x"


def test_the_older_glue_shape_is_taken_too() -> None:
    """wasm-bindgen 0.2.106 declares the name first and assigns it in a closure."""
    older = "let wasm_bindgen;\n(function() {\n    wasm_bindgen = Object.assign(function () {}, {});\n})();\n"
    assert "let wasm_bindgen;" in rust_loader(older, "demo-1.0.0")


def test_glue_of_another_target_is_refused_with_the_reason() -> None:
    with pytest.raises(BuildError, match="not of the --target no-modules shape"):
        rust_loader("export function main() {}\n", "demo-1.0.0")
