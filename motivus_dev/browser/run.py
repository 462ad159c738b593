"""One run of task bodies in a headless browser, with the page and the package served from
127.0.0.1."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from motivus_dev.browser.launch import BROWSERS, RunningBrowser, require_browser
from motivus_dev.browser.page_server import PageServer
from motivus_dev.errors import RuntimeFailure
from motivus_dev.layout import PackageLayout

PAGE_DIR = Path(__file__).resolve().parent / "page"


@dataclass(frozen=True)
class BrowserPackage:
    """A package to run: its NAME-VERSION stem and the bytes of its files."""

    stem: str
    wasm: bytes
    loader: bytes
    data_zip: Optional[bytes] = None


def run_in_browser(
    name: str,
    packages: List[BrowserPackage],
    tasks: List[Dict[str, Any]],
    *,
    timeout: float = 300.0,
    home: Optional[Path] = None,
    executable: Optional[str] = None,
) -> List[Dict[str, Any]]:
    """Run ``tasks`` (each ``{"package": stem, "body": task body, "timeout_s"?: N}``) in
    browser ``name``; one entry per task: ``{"out", "stdout", "stderr", "exitCode"}``, or
    ``{"harnessError": why}`` for a task that got no usable answer.

    A body's ``data_link`` of ``True`` means the package's own data zip, which the page
    fetches from the same server (a browser cannot read a local path). Bodies alternate
    between the two forms of ``buffWasm`` a browser worker may get (Uint8Array, ArrayBuffer).
    """
    browser = BROWSERS[name]
    executable = executable or require_browser(name)
    files: Dict[str, bytes] = {f"/{p.name}": p.read_bytes() for p in PAGE_DIR.iterdir() if p.is_file()}
    for package in packages:
        layout = PackageLayout(package.stem)
        files[f"/pkg/{layout.wasm}"] = package.wasm
        files[f"/pkg/{layout.loader}"] = package.loader
        if package.data_zip is not None:
            files[f"/pkg/{layout.data_zip}"] = package.data_zip
    with tempfile.TemporaryDirectory(prefix=f"motivus-{name}-") as scratch, PageServer(files) as server:
        listed = []
        for i, task in enumerate(tasks):
            body = dict(task["body"])
            layout = PackageLayout(task["package"])
            if body.get("data_link") is True:
                body["data_link"] = f"{server.base_url}/pkg/{layout.data_zip}"
            listed.append({
                "loader": f"pkg/{layout.loader}",
                "wasm": f"pkg/{layout.wasm}",
                "buffWasmAs": "Uint8Array" if i % 2 == 0 else "ArrayBuffer",
                "timeout_ms": int(1000 * float(task.get("timeout_s") or timeout)),
                "body": body,
            })
        server.files["/tasks.json"] = json.dumps(listed).encode()
        budget = 60.0 + sum(float(t.get("timeout_s") or timeout) for t in tasks)
        running = RunningBrowser(browser, executable, f"{server.base_url}/index.html", home or Path(scratch))
        try:
            deadline = time.monotonic() + budget
            exited: Optional[int] = None
            while not server.reported.wait(0.2) and exited is None and time.monotonic() < deadline:
                exited = running.proc.poll()
        finally:
            running.stop()
        if server.report is None:
            why = f"{name} exited with {exited}" if exited is not None else f"no report within {budget:.0f} s"
            raise RuntimeFailure(
                f"the {name} page did not report its results ({why})",
                hint=f"{name}'s log ends with:\n{running.log_tail()}",
            )
        report = server.report
    if "fatal" in report:
        raise RuntimeFailure(f"the {name} page failed: {report['fatal']}")
    results = report.get("results")
    if not isinstance(results, list) or len(results) != len(tasks):
        raise RuntimeFailure(f"the {name} page reported {results!r} for {len(tasks)} task(s)")
    return results
