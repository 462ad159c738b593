"""A package's loader, assembled from the kit's JavaScript modules and a toolchain's glue.

The loader runtime lives in ``motivus_dev/loader_js/`` as small CommonJS modules with
explicit ``require("./...")`` imports (``env``, ``bytes``, ``inflate``, ``zip``, ``fetch``,
``serve``, then ``c/*`` and ``rust/*``), each tested on its own with ``node --test``
(``tests/js/``). A package's loader must be ONE classic script, 7-bit ASCII, that runs both
as a node ``worker_threads`` worker (``eval: true``) and as a browser Web Worker: the
platform's worker evaluates it as it is. :func:`assemble` makes that script: every module the
entry reaches, each as a function of ``(module, exports, require)``, and a 30-line
``require`` that resolves the modules' relative names among them and hands any other name
(``fs``, ``worker_threads``) to node's own ``require`` where there is one.

Why by hand and not a bundler: the Rust loader is assembled on the host, where no JS bundler
is installed (esbuild is a tool of the mvcc image only), and what is needed is this small
subset of CommonJS in a fixed, reproducible order.
"""

from __future__ import annotations

import re
from typing import Dict, Mapping

from motivus_dev.errors import ToolchainError

_REQUIRE = re.compile(r"""\brequire\("(\.{1,2}/[^"]+)"\)""")

_PRELUDE = """(function () {
var motivusHostRequire = typeof require === "function" ? require : null;
var motivusFactories = {};
var motivusLoaded = {};
function motivusResolve(from, name) {
  var parts = from.split("/").slice(0, -1);
  name.split("/").forEach(function (part) {
    if (part === "..") {
      parts.pop();
    } else if (part !== ".") {
      parts.push(part);
    }
  });
  return parts.join("/");
}
function motivusRequireFrom(from) {
  return function (name) {
    if (name.charAt(0) !== ".") {
      if (motivusHostRequire === null) {
        throw new Error("cannot load " + name + " here (not node)");
      }
      return motivusHostRequire(name);
    }
    return motivusLoad(motivusResolve(from, name));
  };
}
function motivusLoad(id) {
  if (!Object.prototype.hasOwnProperty.call(motivusLoaded, id)) {
    var module = { exports: {} };
    motivusLoaded[id] = module;
    motivusFactories[id](module, module.exports, motivusRequireFrom(id));
  }
  return motivusLoaded[id].exports;
}
"""

_ENTRY = "main"


def assemble(generated: Mapping[str, str]) -> str:
    """The loader script: the modules ``generated`` names (id -> source; ``main`` is the
    entry, the toolchain's glue is one of them) and every kit module ``main`` requires, and
    they require. A glue module's text is not searched for requires: it is foreign code."""
    from motivus_dev.resources import loader_js_dir

    if _ENTRY not in generated:
        raise ToolchainError("a loader needs a 'main' module", hint="a kit bug: report it")
    sources: Dict[str, str] = dict(generated)
    pending = [_ENTRY]
    while pending:
        module_id = pending.pop()
        for name in _REQUIRE.findall(sources[module_id]):
            target = _resolve(module_id, name)
            if target in sources:
                continue
            try:
                sources[target] = _without_leading_comment((loader_js_dir() / f"{target}.js").read_text("utf-8"))
            except OSError as exc:
                raise ToolchainError(f"the loader module {target!r} (required by {module_id!r}) is missing: {exc}",
                                     hint="the kit's installation is incomplete; reinstall motivus-dev") from exc
            pending.append(target)
    parts = [_PRELUDE]
    for module_id in sorted(sources):
        parts.append(f'motivusFactories["{module_id}"] = function (module, exports, require) {{\n')
        parts.append(sources[module_id])
        parts.append("\n};\n")
    parts.append(f'motivusLoad("{_ENTRY}");\n}})();\n')
    return "".join(parts)


def _resolve(from_id: str, name: str) -> str:
    """``name`` (``./x``, ``../x``) relative to the module ``from_id``, as node resolves it."""
    parts = from_id.split("/")[:-1]
    for part in name.split("/"):
        if part == "..":
            if not parts:
                raise ToolchainError(f"the loader module {from_id!r} requires {name!r}, outside the kit's modules")
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def _without_leading_comment(source: str) -> str:
    """``source`` without its leading ``/* ... */`` (the module's documentation, for readers
    of the kit, not of every package)."""
    stripped = source.lstrip()
    if stripped.startswith("/*") and "*/" in stripped:
        return stripped[stripped.index("*/") + 2:].lstrip("\n")
    return source


def ascii_escaped(text: str) -> str:
    """``text`` with every non-ASCII character as a JavaScript ``\\uXXXX`` escape (UTF-16
    units), which means the same in strings, identifiers and regular expressions: the
    platform's worker decodes loaders as ASCII."""
    if text.isascii():
        return text
    out = []
    for char in text:
        if char.isascii():
            out.append(char)
            continue
        units = char.encode("utf-16-be")
        for i in range(0, len(units), 2):
            out.append("\\u%04x" % int.from_bytes(units[i:i + 2], "big"))
    return "".join(out)


#: Loaders with this mark may stay warm in a local pool for the next task of their package
#: (runtime/node/pool.js looks for it); the platform's worker starts a new one per task.
REUSABLE_MARK = "motivus-loader:reusable"
