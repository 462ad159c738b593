"""Run packages through the reference worker (tests/harness/reference_worker.js) and read its
answers the way the published 2.4.0 client reads a ``result`` frame.

``decode_240`` does what the 2.4.0 client's listener does with a result payload (written
by us from its behaviour): ``json.loads(gzip.decompress(base64.b64decode(body)))``, the
task's value ``result.get("data", result)``, and ``base64.b64decode`` of stdout and stderr
when they are not None. Anything that would kill its listener raises here too.
"""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_WORKER = ROOT / "tests" / "harness" / "reference_worker.js"


def decode_240(payload: Dict[str, Any]) -> Dict[str, Any]:
    """The result payload as the 2.4.0 client sees it: the loader's body (``out``), the
    task's value, stdout/stderr text and the exit code (None when nobody set one)."""
    out = json.loads(gzip.decompress(base64.b64decode(payload["body"])).decode())
    stdout, stderr = payload["stdout"], payload["stderr"]  # KeyError kills its listener too
    text = {
        key: (base64.b64decode(value).decode("utf-8") if value is not None else "")
        for key, value in (("stdout", stdout), ("stderr", stderr))
    }
    return {
        "out": out,
        "value": out.get("data", out) if isinstance(out, dict) else out,
        "stdout": text["stdout"],
        "stderr": text["stderr"],
        "exitCode": payload.get("exitCode"),
    }


def run_reference(
    loader: Path, wasm: Path, tasks: List[Dict[str, Any]], *options: str, timeout: Optional[float] = 300
) -> List[Dict[str, Any]]:
    """Run each task through the reference worker under ``node --no-experimental-fetch``.

    Returns one entry per task: :func:`decode_240` of its payload plus ``payload`` and ``ms``;
    an entry that has ``harnessError`` is a task that got no answer.
    """
    done = subprocess.run(
        ["node", "--no-experimental-fetch", str(REFERENCE_WORKER), str(loader), str(wasm), "-", *options],
        input=json.dumps(tasks),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    entries = json.loads(done.stdout)
    for entry in entries:
        if "payload" in entry:
            entry.update(decode_240(entry["payload"]))
    return entries


def check_ascii(loader: Path) -> None:
    """The platform's worker decodes loaders as ASCII, and node 16 has no structuredClone."""
    text = loader.read_bytes()
    bad = [i for i, b in enumerate(text) if b >= 0x80]
    assert not bad, f"{loader} has {len(bad)} non-ASCII byte(s), first at {bad[0]}"
    assert b"structuredClone" not in text, f"{loader} uses structuredClone, which node 16 lacks"
