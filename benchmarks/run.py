"""Run every benchmark in one go and print each figure, then a summary table.

usage: python benchmarks/run.py [--markdown FILE]
Each script also runs alone (python benchmarks/bench_NAME.py). Figures are printed as
``FIGURE name: value unit (target ...) [target met|TARGET MISSED]``. With --markdown, the
machine's description and the figures are written to FILE as a Markdown table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SCRIPTS = ["bench_loopback.py", "bench_memory.py", "bench_compute.py", "bench_kernels.py", "bench_build.py",
           "bench_size.py", "bench_bigio.py", "bench_marketplace.py", "bench_cluster.py"]


def main() -> int:
    md = None
    if "--markdown" in sys.argv:
        md = Path(sys.argv[sys.argv.index("--markdown") + 1])
    info = common.machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    fd, out = tempfile.mkstemp(suffix=".jsonl")
    os.close(fd)
    failed = []
    t0 = time.time()
    for script in SCRIPTS:
        rc = subprocess.call([sys.executable, str(common.BENCH / script)],
                             env=dict(os.environ, MOTIVUS_BENCH_JSON=out))
        if rc != 0:
            failed.append(script)
    figures: List[Dict[str, object]] = [json.loads(line) for line in Path(out).read_text().splitlines() if line]
    os.unlink(out)
    total = time.time() - t0
    print(f"\n== summary ({total:.0f} s)")
    rows = []
    for f in figures:
        value = float(f["value"])  # type: ignore[arg-type]
        shown = f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
        ok = f["ok"]
        verdict = "" if ok is None else ("met" if ok else "MISSED")
        rows.append(f"| {f['name']} | {shown} {f['unit']} | {f['target']} | {verdict} |")
    table = "| figure | value | target | |\n|---|---|---|---|\n" + "\n".join(rows)
    print(table)
    if failed:
        print(f"failed scripts: {', '.join(failed)}")
    if md:
        machine = "\n".join(f"- {k}: {v}" for k, v in info.items())
        md.write_text(f"Machine:\n{machine}\n\nTotal run time: {total:.0f} s\n\n{table}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
