"""Packages in the platform's own loader styles (fixtures written by us from the worker
contract, tests/data/platform/), and the ways the tests run them: the reference worker,
``motivus test --package`` and ``motivus loopback`` with both driver clients."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

from click.testing import CliRunner

from motivus_dev.cli import main as motivus_main
from motivus_dev.loopback.server import LoopbackServer
from motivus_dev.runtime.pool import WorkerPool

PLATFORM = Path(__file__).resolve().parent / "data" / "platform"
DRIVER = PLATFORM / "driver.py"


def fixture_project(parent: Path, name: str, lang: str, cases: List[Dict[str, Any]]) -> Path:
    """A project made by ``motivus new`` whose fixtures are ``cases`` (one file)."""
    args = ["-C", str(parent), "new", name, "--lang", lang, "--defaults", "--no-git"]
    result = CliRunner().invoke(motivus_main, args)
    assert result.exit_code == 0, result.output
    project = parent / name
    fixtures = project / "tests" / "fixtures"
    for old in fixtures.glob("*.yml"):
        old.unlink()
    (fixtures / "platform.yml").write_text(json.dumps({"cases": cases}))  # JSON is YAML
    return project


def motivus_test(project: Path, package: Path) -> Any:
    """``motivus test --package PACKAGE`` in ``project`` (a click result)."""
    return CliRunner().invoke(motivus_main, ["-C", str(project), "test", "--package", str(package)])


def run_driver(python: Path, tasks: List[Dict[str, Any]], work: Path, uri: str) -> List[Dict[str, Any]]:
    """Run tests/data/platform/driver.py with ``python`` against ``uri``; its per-task answers."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "tasks.json").write_text(json.dumps(tasks))
    env = dict(os.environ, WEBSOCKET_URI=uri, APPLICATION_TOKEN="any-token")
    done = subprocess.run([str(python), str(DRIVER), "tasks.json"], cwd=str(work), env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def with_loopback(body: Any, workers: int = 2, timeout: float = 60.0) -> Any:
    """Run ``body(url)`` (blocking, in a thread) while a loopback server serves on port 0."""

    async def go() -> Any:
        pool = WorkerPool(workers, timeout, 512)
        await pool.start()
        server = LoopbackServer(pool, "127.0.0.1", 0)
        await server.start()
        try:
            return await asyncio.get_running_loop().run_in_executor(None, body, server.url)
        finally:
            await server.close()

    return asyncio.run(go())


# Our client runs drivers under the kit's own interpreter (its `motivus` package is ours).
OUR_PYTHON = Path(sys.executable)
