"""Terminal presentation: the rich-based reporter and error rendering used by the CLI.

Only the CLI imports this module; capability modules talk to a
:class:`motivus_dev.reporter.Reporter` instead.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from .errors import MotivusError
from .textsafe import printable

# Piped output (CI logs) gets wide lines rather than rich's 80 columns, so that hashes and
# paths are never cut.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)


#: In a log, a step that prints nothing says it is still going this often (the promise is a line
#: at least every 10 s; the check runs every second).
HEARTBEAT_SECONDS = 8.0


class RichReporter:
    """Draws steps as a live progress display on a terminal (the step, the tool's own words
    for what it does now, and a timer that is never cut), and as plain lines with the
    elapsed time in a log, where a long step also says it is still going at least every
    :data:`HEARTBEAT_SECONDS`; subprocess output as dimmed lines with ``verbose``.
    ``quiet`` keeps warnings only (results and errors are printed by the CLI)."""

    def __init__(self, verbose: bool = False, quiet: bool = False) -> None:
        self.verbose = verbose and not quiet
        self.quiet = quiet
        self._progress: Optional[Progress] = None
        self._task: Optional[TaskID] = None
        self._started = time.monotonic()
        self._step: Optional[str] = None
        self._activity: Optional[str] = None
        self._last_line = self._started  # when the log last got a line
        self._stop = threading.Event()
        self._heartbeat: Optional[threading.Thread] = None

    def __enter__(self) -> "RichReporter":
        if self.quiet:
            return self
        if not err_console.is_terminal:
            # plain lines in logs (a live display would only print at the end), and a
            # heartbeat so that a log is never silent for long during a step
            self._heartbeat = threading.Thread(target=self._beat, name="motivus-heartbeat", daemon=True)
            self._heartbeat.start()
            return self
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")),
            BarColumn(bar_width=16),
            TimeElapsedColumn(table_column=Column(min_width=7, no_wrap=True)),
            console=err_console,
            transient=False,
            expand=True,
        )
        self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=2)
            self._heartbeat = None
        self._finish_step()
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _finish_step(self) -> None:
        if self._progress is not None and self._task is not None:
            task = self._progress.tasks[-1]
            self._progress.update(self._task, description=escape(task.fields.get("step", task.description)),
                                  completed=task.total or 1, total=task.total or 1)
        self._task = None

    def _elapsed(self) -> str:
        return f"[dim]{time.monotonic() - self._started:7.1f}s[/]"

    def _print(self, message: str) -> None:
        self._last_line = time.monotonic()
        (self._progress.console if self._progress else err_console).print(message)

    def _beat(self) -> None:
        while not self._stop.wait(1.0):
            if self._step is not None and time.monotonic() - self._last_line >= HEARTBEAT_SECONDS:
                doing = f" (now: {self._activity})" if self._activity else ""
                self._print(f"{self._elapsed()}    ... still {escape(printable(self._step))}{escape(printable(doing))}")

    # Messages can quote task output (a loader's stderr): printable() keeps its escape
    # sequences from acting on the terminal or the log.
    def info(self, message: str) -> None:
        if not self.quiet:
            self._print(escape(printable(message)))

    def warning(self, message: str) -> None:
        self._print(f"[yellow]warning:[/] {escape(printable(message))}")

    def step(self, name: str, total: Optional[float] = None) -> None:
        if self.quiet:
            return
        self._step, self._activity = name, None
        if self._progress is None:
            self._print(f"{self._elapsed()} [bold]>> {escape(name)}[/]")
            return
        self._finish_step()
        self._task = self._progress.add_task(escape(name), total=total, step=name)

    def advance(self, amount: float = 1.0) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, amount)

    def activity(self, text: str) -> None:
        if self.quiet:
            return
        self._activity = printable(text)
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=escape(f"{self._step}: {self._activity}"))
        elif self._progress is None and not self.verbose:  # with -v the line is printed as output already
            self._print(f"{self._elapsed()}    [dim]{escape(self._activity)}[/]")

    def output(self, line: str) -> None:
        if self.verbose:
            self._print(f"[dim]{escape(printable(line.rstrip()))}[/]")



def files_table(files: Sequence[Any], base: Path) -> Table:
    """A table of built files: path, size, sha256."""
    table = Table("file", "size", "sha256", box=None)
    for built in files:
        try:
            shown = built.path.relative_to(base)
        except ValueError:
            shown = built.path
        table.add_row(str(shown), f"{built.size:,} B", built.sha256)
    return table


def render_test_report(report: Any) -> None:
    """The cases of a `motivus test` run as a table, then each failure's account."""
    several = len(report.runners) > 1
    columns = ("case", "runner", "result", "time", "file") if several else ("case", "result", "time", "file")
    table = Table(*columns, box=None)
    for result in report.results:
        mark = "[green]PASS[/]" if result.verdict.passed else "[red]FAIL[/]"
        row = [escape(result.case.name), mark, f"{result.seconds * 1000:.0f} ms", escape(result.case.source.name)]
        if several:
            row.insert(1, result.runner)
        table.add_row(*row)
    console.print(table)
    for result in report.failures:
        where = f" in {result.runner}" if several else ""
        console.print(f"\n[red bold]FAILED[/] {escape(result.case.name)}{where} ({escape(str(result.case.source))})")
        for problem in result.verdict.problems:
            console.print(escape(printable(problem)), soft_wrap=True)
    if several:
        differences = report.differences()
        for case, first, other, parts in differences:
            console.print(f"[yellow]differs[/] {escape(case)}: {other} and {first} disagree on {', '.join(parts)}")
        if not differences:
            console.print(f"node and {', '.join(report.runners[1:])} agree on every case")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.2f} s"


def render_profile(report: Any) -> None:
    """`motivus profile`: the time split, the hottest functions, and the page to open."""
    split = Table("phase", Column("time", justify="right"), Column("share", justify="right"), box=None)
    total = sum(report.phases.values()) or 1.0
    for name, seconds in report.phases.items():
        split.add_row(name, _ms(seconds), f"{100 * seconds / total:.0f}%")
    console.print(f"[bold]{escape(report.case)}[/]: {_ms(report.run.seconds)} in the pool"
                  + ("" if report.run.passed else " [red](the case did not pass)[/]"))
    console.print(split)
    hot = Table(Column("self", justify="right"), Column("total", justify="right"), "function", box=None)
    for function in report.functions[:12]:
        hot.add_row(_ms(function.self_ms / 1000), _ms(function.total_ms / 1000),
                    escape(printable(function.name)[:110]) + ("" if function.wasm else " [dim](js)[/]"))
    console.print(hot)
    console.print(f"flame graph: [bold]{escape(str(report.files['page']))}[/] (open it in a browser; "
                  f"{escape(report.files['cpuprofile'].name)} opens in Chrome's DevTools too)")


def render_bench(report: Any) -> None:
    """`motivus bench`: min / median / max per task and per phase, and the native ratio."""
    table = Table("", Column("min", justify="right"), Column("median", justify="right"),
                  Column("max", justify="right"), box=None)
    for name, spread in [("task", report.total), *report.phases.items()]:
        table.add_row(name, _ms(spread.min), _ms(spread.median), _ms(spread.max))
    native = report.native_spread
    if native is not None:
        table.add_row(f"native ({escape(report.native.compiler)})", _ms(native.min), _ms(native.median),
                      _ms(native.max))
    warm = f", after {len(report.warmups)} warm-up run(s)" if report.warmups else ""
    console.print(f"[bold]{escape(report.case)}[/]: {len(report.runs)} run(s){warm}")
    console.print(table)
    if report.warmups:
        console.print(f"first warm-up run: {_ms(report.warmups[0].seconds)} (a fresh worker)")
    if report.ratio is not None:
        console.print(f"wasm / native: [bold]{report.ratio:.2f}x[/] (median call phase / median native run)")


def _loopback_view(stats: Any, url: str) -> Table:
    pool = stats.pool
    title = f"motivus loopback on {url}"
    if pool.cluster is not None:
        cluster = pool.cluster
        state = "" if cluster.connected else " [yellow](reconnecting)[/]"
        title += f"\ncluster {cluster.scheduler}{state}, dashboard {cluster.dashboard}"
    table = Table(title=title, box=None, title_justify="left")
    table.add_column("drivers")
    table.add_column("queued")
    table.add_column("running")
    table.add_column("done")
    table.add_column("failed")
    table.add_column("workers")
    busy = " ".join(
        f"{w.host or '#' + str(w.index)}:{w.state.value}({w.tasks_done})"
        + (f"[red]x{w.restarts}[/]" if w.restarts else "")
        for w in pool.workers
    )
    table.add_row(str(stats.connections), str(pool.queued), str(pool.running), str(pool.done),
                  f"[red]{pool.failed}[/]" if pool.failed else "0", busy)
    return table


def _rebuild_on_change(project: Path, stop: "threading.Event", toolchain: str) -> threading.Thread:
    """`motivus loopback --watch`: a thread that builds ``project`` now and after each saved
    change of its inputs, so that the driver's next task (which reads build/ afresh) gets
    the new package; a failed build is said and the last good package stays."""
    from .build import build_project
    from .watch import watch

    reporter = RichReporter()

    def cycle(changed: List[str]) -> None:
        if changed:
            err_console.print(f"[bold]changed:[/] {escape(', '.join(changed[:5]))}")
        result = build_project(project, reporter, toolchain=toolchain)
        if changed or not result.up_to_date:
            err_console.print(f"[green]rebuilt[/] {result.config.package_stem}: the next task gets it")

    def on_error(error: MotivusError) -> None:
        render_error(error)
        err_console.print("[dim]the last good package stays; the next saved change builds again[/]")

    def run() -> None:
        with reporter:
            watch(project, cycle, reporter, stop=stop, on_error=on_error)

    thread = threading.Thread(target=run, name="motivus-watch", daemon=True)
    thread.start()
    return thread


def loopback_stats_json(stats: Any, url: str) -> Dict[str, Any]:
    """`motivus loopback --json`: one line of stats (the cluster's too, with --cluster)."""
    pool = stats.pool
    return {
        "websocket_uri": url,
        "drivers": stats.connections,
        "received": stats.tasks_received,
        "dropped": stats.tasks_dropped,
        "queued": pool.queued,
        "running": pool.running,
        "done": pool.done,
        "failed": pool.failed,
        "workers": [
            {"index": w.index, "host": w.host, "pid": w.pid, "state": w.state.value, "done": w.tasks_done,
             "restarts": w.restarts}
            for w in pool.workers
        ],
        "cluster": pool.cluster.to_json() if pool.cluster is not None else None,
    }


def serve_loopback(*, watch_project: Optional[Path] = None, watch_toolchain: str = "auto", as_json: bool = False,
                   **options: Any) -> None:
    """Run `motivus loopback` until Ctrl-C or SIGTERM, with a live view of the pool (or, with
    ``as_json``, a JSON line of stats every 2 s on stdout; and, with ``watch_project``, a
    rebuild of that project on each saved change)."""
    import asyncio
    import signal

    from rich.live import Live

    from .loopback.server import run_loopback

    watching = threading.Event()
    watcher = _rebuild_on_change(watch_project, watching, watch_toolchain) if watch_project is not None else None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        live: Optional[Live] = None
        refresher: Optional["asyncio.Task[None]"] = None

        async def refresh(server: Any) -> None:
            while True:
                if as_json:
                    print(json.dumps(loopback_stats_json(server.stats(), server.url)), flush=True)
                    await asyncio.sleep(2.0)
                    continue
                if live is not None:
                    live.update(_loopback_view(server.stats(), server.url))
                await asyncio.sleep(0.5)

        def on_ready(server: Any) -> None:
            nonlocal live, refresher
            # Plain print, flushed: scripts read this line from a pipe.
            print(f"export WEBSOCKET_URI={server.url}", flush=True)
            err_console.print("run your driver with that variable set; Ctrl-C stops the loopback")
            if err_console.is_terminal and not as_json:
                live = Live(_loopback_view(server.stats(), server.url), console=err_console, refresh_per_second=4)
                live.start()
            refresher = asyncio.ensure_future(refresh(server))

        try:
            # Pool and server warnings (a worker restarted, a loader breaking the contract, a
            # driver gone) print above the live view.
            await run_loopback(stop=stop, on_ready=on_ready, reporter=RichReporter(), **options)
        finally:
            if refresher is not None:
                refresher.cancel()
            if live is not None:
                live.stop()
        err_console.print("loopback stopped")

    try:
        asyncio.run(main())
    finally:
        watching.set()
        if watcher is not None:
            watcher.join(timeout=10)


def serve_worker(options: Any) -> None:
    """Run `motivus worker` until Ctrl-C or SIGTERM: one line per task, and a live status."""
    import asyncio
    import signal

    from rich.live import Live

    from .worker_client import ClusterWorker

    def view(worker: Any) -> Table:
        stats = worker.stats
        table = Table(title=f"motivus worker on {options.backend_host}", box=None, title_justify="left")
        for column in ("connection", "running", "done", "failed", "aborted"):
            table.add_column(column)
        table.add_row("[green]joined[/]" if stats.connected else "[yellow]connecting[/]", str(len(stats.running)),
                      str(stats.done), f"[red]{stats.failed}[/]" if stats.failed else "0", str(stats.aborted))
        return table

    async def main() -> None:
        worker = ClusterWorker(options, RichReporter())
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, worker.stop)
        live: Optional[Live] = None
        if err_console.is_terminal:
            live = Live(view(worker), console=err_console, refresh_per_second=2)
            live.start()

        async def refresh() -> None:
            while live is not None:
                live.update(view(worker))
                await asyncio.sleep(0.5)

        refresher = asyncio.ensure_future(refresh())
        try:
            await worker.run()
        finally:
            refresher.cancel()
            if live is not None:
                live.stop()
        stats = worker.stats
        err_console.print(f"worker stopped: {stats.done} done, {stats.failed} failed, {stats.aborted} aborted")

    asyncio.run(main())


def render_error(error: MotivusError) -> None:
    """Print a user-facing error: one message, an optional hint, no traceback."""
    err_console.print(f"[bold red]error:[/] {escape(error.message)}", soft_wrap=True)
    if error.hint:
        err_console.print(f"[dim]  hint:[/] {escape(error.hint)}", soft_wrap=True)
