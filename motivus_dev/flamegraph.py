"""A CPU profile an author can open: speedscope's page around a V8 ``.cpuprofile``.

The profile is V8's own (Chrome DevTools' ``.cpuprofile`` format: a call tree of nodes,
the node each sample hit, the time between samples), so it also opens in Chrome's
DevTools and in any tool that reads that format. The page is speedscope
(https://github.com/jlfwong/speedscope, MIT), the flame-graph viewer the format's users
already know: its release files come from its npm package, once per user (integrity
checked against the version pinned here), and the page opens it on the profile in its
"left heavy" view, where the hottest paths come first. No renderer of our own.

:func:`self_times` reads the same profile for the terminal's summary.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple

from .errors import ToolchainError

SPEEDSCOPE = "speedscope@1.25.0"
#: npm's ``dist.integrity`` of that version
SPEEDSCOPE_INTEGRITY = "sha512-cpf9HWTZf1ijLXBJrk87Ve/54tnYx6rlf0gUThvn3ook6h63hLXVOQiMf44PT+XoV503cPfvfiT5gP5vojp6Ag=="

#: V8's pseudo-frames: time not spent in any function of the task.
_PSEUDO = {"(root)", "(program)", "(idle)", "(garbage collector)"}


def speedscope_dir() -> Path:
    """speedscope's release files (index.html and its bundle), fetched once with npm."""
    from .resources import cache_dir

    home = cache_dir() / "speedscope" / SPEEDSCOPE.split("@")[1]
    if (home / "index.html").is_file():
        return home
    npm = shutil.which("npm")
    if npm is None:
        raise ToolchainError("the flame graph page needs speedscope from npm, and npm is not installed",
                             hint="apt-get install -y npm (once; the page is kept in the kit's cache)")
    with tempfile.TemporaryDirectory(prefix="motivus-speedscope-") as tmp:
        try:
            done = subprocess.run([npm, "pack", "--silent", SPEEDSCOPE], cwd=tmp, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=300, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise ToolchainError(f"npm pack {SPEEDSCOPE} failed: {exc}") from exc
        tarballs = list(Path(tmp).glob("speedscope-*.tgz"))
        if done.returncode != 0 or len(tarballs) != 1:
            raise ToolchainError(f"npm pack {SPEEDSCOPE} failed: {(done.stderr or done.stdout).strip()[-500:]}",
                                 hint="check the network and npm's registry setting (npm config get registry)")
        digest = "sha512-" + base64.b64encode(hashlib.sha512(tarballs[0].read_bytes()).digest()).decode()
        if digest != SPEEDSCOPE_INTEGRITY:
            raise ToolchainError(f"npm handed over a {SPEEDSCOPE} whose checksum is not the pinned one ({digest})",
                                 hint="check npm's registry setting; the kit pins speedscope's published tarball")
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(tarballs[0]) as archive:
            archive.extractall(unpacked, filter="data")
        release = unpacked / "package" / "dist" / "release"
        if not (release / "index.html").is_file():
            raise ToolchainError(f"{SPEEDSCOPE} has no dist/release/index.html")
        home.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".speedscope-", dir=home.parent))
        shutil.copytree(release, staging, dirs_exist_ok=True)
        try:
            staging.rename(home)
        except OSError:  # another process won the race
            shutil.rmtree(staging, ignore_errors=True)
    return home


_PAGE = """<!DOCTYPE html>
<html><head><meta charset="UTF-8"><title>{title}</title></head>
<body>
<p>Opening the flame graph of {title} in speedscope...</p>
<script>
// speedscope loads a local profile as a script that calls speedscope.loadFileFromBase64
// (what its own command-line tool writes); the path is taken from where this page is.
var here = decodeURIComponent(location.pathname.replace(/[^/]*$/, ""));
location.replace({viewer} + "#localProfilePath=" + encodeURIComponent(here + {script}) + "&view=left-heavy");
</script>
</body></html>
"""


def write_page(profile: Mapping[str, Any], out_dir: Path, name: str) -> Dict[str, Path]:
    """``NAME.cpuprofile``, ``NAME.profile.js`` and ``NAME.html`` (open it) in ``out_dir``,
    with speedscope's files in ``out_dir/speedscope``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    viewer = out_dir / "speedscope"
    if not (viewer / "index.html").is_file():
        shutil.copytree(speedscope_dir(), viewer, dirs_exist_ok=True)
    text = json.dumps(profile, separators=(",", ":"))
    cpuprofile = out_dir / f"{name}.cpuprofile"
    cpuprofile.write_text(text, encoding="utf-8")
    script = out_dir / f"{name}.profile.js"
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    script.write_text(f"speedscope.loadFileFromBase64({json.dumps(cpuprofile.name)}, {json.dumps(encoded)});\n",
                      encoding="utf-8")
    page = out_dir / f"{name}.html"
    page.write_text(_PAGE.format(title=_html(name), viewer=_js("speedscope/index.html"), script=_js(script.name)),
                    encoding="utf-8")
    return {"page": page, "cpuprofile": cpuprofile, "script": script}


def _js(text: str) -> str:
    """A JavaScript string literal that is safe inside a <script> element."""
    return json.dumps(text).replace("<", "\\u003c").replace(">", "\\u003e")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class FunctionTime:
    """One function's share of a profile: where its samples stopped (self) and passed (total)."""

    name: str
    self_ms: float
    total_ms: float
    wasm: bool


def self_times(profile: Mapping[str, Any]) -> List[FunctionTime]:
    """The profile's functions by self time, most first. V8's pseudo-frames ((program),
    (garbage collector), (idle)) are left out; a function's total counts each sample once
    however deep it recurses."""
    nodes = {node["id"]: node for node in profile.get("nodes", [])}
    parent: Dict[int, int] = {}
    for node in nodes.values():
        for child in node.get("children", []):
            parent[child] = node["id"]
    samples: List[int] = profile.get("samples", [])
    deltas: List[float] = profile.get("timeDeltas", [])
    # A sample's time is the gap to the next sample (V8 writes the gap before each sample).
    weights = [max(0.0, deltas[i + 1]) / 1000.0 if i + 1 < len(deltas) else 0.0 for i in range(len(samples))]
    # A function is its name and whether it is the module's: wasm-bindgen's JS `main` calls
    # the module's `main`.
    self_ms: Dict[Tuple[str, bool], float] = {}
    total_ms: Dict[Tuple[str, bool], float] = {}
    for node_id, weight in zip(samples, weights):
        seen = set()
        current = node_id
        first = True
        while current in nodes:
            frame = nodes[current]["callFrame"]
            name = frame.get("functionName") or "(anonymous)"
            if name not in _PSEUDO:
                key = (name, str(frame.get("url", "")).startswith("wasm://"))
                if first:
                    self_ms[key] = self_ms.get(key, 0.0) + weight
                if key not in seen:
                    total_ms[key] = total_ms.get(key, 0.0) + weight
                    seen.add(key)
            first = False
            current = parent.get(current, -1)
    return sorted((FunctionTime(key[0], self_ms.get(key, 0.0), total_ms[key], key[1]) for key in total_ms),
                  key=lambda f: (-f.self_ms, -f.total_ms, f.name))
