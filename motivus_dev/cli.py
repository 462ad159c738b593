"""The `motivus` command line: parse options, call one capability function, render its result.

Errors: capability modules raise :class:`~motivus_dev.errors.MotivusError` subclasses;
:class:`MotivusGroup` is the one place that turns them into a message and an exit code.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple

import click

from . import __version__
from .errors import MotivusError, UsageError
from .errors import ToolchainError as ToolchainError_
from .toolchain.kind import TOOLCHAIN_MODES
from .toolchain.registry import LANGS

# waterbear.CLUSTER_HOST, written out: importing the protocol package here would add about
# 45 ms to every command's start (tests/unit/test_named_options.py keeps them equal).
CLUSTER_HOST = "waterbear.api.motivus.cl"


@dataclass
class State:
    """Global options, shared with every subcommand through the click context."""

    debug: bool
    project_dir: Path
    quiet: bool = False
    verbose: bool = False
    json: bool = False  # the command answers with one JSON document on stdout, errors too


def _set_flag(name: str) -> Any:
    def store(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
        state = ctx.find_object(State)
        if state is not None and value:
            setattr(state, name, True)
        return value

    return store


class MotivusCommand(click.Command):
    """Every command takes -q (warnings, errors and results only) and -v (the tools' own
    output too), as CI logs and terminals need; they, and --json, may also come before the
    command (``motivus -q build``)."""

    def invoke(self, ctx: click.Context) -> Any:
        state = ctx.find_object(State)
        if state is not None and state.json and not any(param.name == "as_json" for param in self.params):
            path = " ".join(["motivus", *ctx.command_path.split()[1:]])
            raise UsageError(f"--json: `{path}` has no JSON output",
                             hint="--json is on build, test, profile, bench, info, push, toolchain list, "
                                  "toolchain doctor and toolchain push")
        return super().invoke(ctx)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        taken = {opt for param in self.params for opt in getattr(param, "opts", [])}
        if "-q" not in taken:
            self.params.append(click.Option(["-q", "--quiet"], is_flag=True, expose_value=False, is_eager=True,
                                            callback=_set_flag("quiet"),
                                            help="Only warnings, errors and the result."))
        if "-v" not in taken:
            self.params.append(click.Option(["-v", "--verbose"], is_flag=True, expose_value=False, is_eager=True,
                                            callback=_set_flag("verbose"),
                                            help="Also the output of the tools the command runs."))


def _json_flag(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    """``--json`` after the command, or before it (``motivus --json build``): either sets it."""
    state = ctx.find_object(State)
    if state is None:
        return value
    state.json = state.json or value
    return state.json


def json_option(fn: Any) -> Any:
    """``--json``: one JSON document on stdout, for success and failure alike."""
    return click.option("--json", "as_json", is_flag=True, is_eager=True, callback=_json_flag,
                        help="Print the result (or the error) as one JSON document on stdout, for CI.")(fn)


def examples(*lines: str) -> str:
    """A command's ``--help`` epilog: examples, kept as written (``\\b`` stops rewrapping)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def unsandboxed_option(fn: Any) -> Any:
    """``--insecure-no-sandbox``: run task code although this machine cannot contain it."""
    return click.option("--insecure-no-sandbox", "allow_unsandboxed", is_flag=True,
                        help="Run task code even where it cannot be sandboxed (no bubblewrap or user "
                             "namespaces): it can then reach this machine's files, processes and services. "
                             "Only for code you trust.")(fn)


def reporter_for(ctx: click.Context, verbose: bool = False) -> Any:
    """The progress reporter of a command, with the -q / -v of its invocation."""
    from .ui import RichReporter

    state = _state(ctx)
    return RichReporter(verbose=verbose or state.verbose, quiet=state.quiet or state.json)


class MotivusGroup(click.Group):
    """A click group that renders MotivusError without a traceback (unless --debug)."""

    command_class = MotivusCommand
    group_class = type  # subgroups are MotivusGroups too

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MotivusError as error:
            if ctx.params.get("debug"):
                raise
            from .ui import render_error

            state = ctx.find_object(State)
            if state is not None and state.json:
                click.echo(json.dumps({"ok": False, "error": {
                    "kind": type(error).__name__, "message": error.message, "hint": error.hint,
                    "exit_code": error.exit_code,
                }}, indent=2))
            render_error(error)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # a bug in the kit, not a user mistake
            if ctx.params.get("debug"):
                raise
            click.echo(
                f"internal error: {type(exc).__name__}: {exc}\n"
                "  run again with --debug for the traceback, and please report it",
                err=True,
            )
            ctx.exit(70)


def _state(ctx: click.Context) -> State:
    state = ctx.find_object(State)
    assert state is not None
    return state


@click.group(cls=MotivusGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=examples("motivus new kmeans --lang rust", "motivus build", "motivus test",
                             "motivus help build", "motivus -q build --json"))
@click.version_option(__version__, "-V", "--version", prog_name="motivus", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug output.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings, errors and the result (any command).")
@click.option("-v", "--verbose", is_flag=True, help="Also the output of the tools a command runs (any command).")
@click.option("--json", "as_json", is_flag=True,
              help="The result (or the error) as one JSON document, for the commands that have one.")
@click.option(
    "-C",
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Run as if started in this directory.",
)
@click.pass_context
def main(ctx: click.Context, debug: bool, quiet: bool, verbose: bool, as_json: bool, project_dir: Path) -> None:
    """Motivus Dev Kit: write, build, test and publish Motivus algorithms."""
    from .envfile import load_dotenv

    if not project_dir.is_dir():
        raise UsageError(f"-C {project_dir}: no such directory")
    ctx.obj = State(debug=debug, project_dir=project_dir, quiet=quiet, verbose=verbose, json=as_json)
    load_dotenv(project_dir)


# --------------------------------------------------------------------------- new / update


@main.command(short_help="Create a project from a template (new --list shows them).", epilog=examples(
    "motivus new kmeans --lang rust",
    "motivus new kmeans -l c --defaults -d author=Ada",
    "motivus new --list"))
@click.argument("name", required=False)
@click.option("--lang", "-l", type=click.Choice(LANGS), default="rust", show_default=True,
              help="Language of the algorithm.")
@click.option("--list", "list_templates", is_flag=True, help="List the templates (one per language) and exit.")
@click.option("--defaults", is_flag=True, help="Answer every question with its default.")
@click.option("--data", "-d", "data", multiple=True, metavar="KEY=VALUE",
              help="Answer a template question (repeatable): description, author, license, url, "
                   "upstream_url, version.")
@click.option("--no-git", is_flag=True, help="Do not make the project a git repository.")
@click.pass_context
def new(ctx: click.Context, name: Optional[str], lang: str, list_templates: bool, defaults: bool,
        data: Tuple[str, ...], no_git: bool) -> None:
    """Create a project for the algorithm NAME from the kit's templates."""
    from .scaffold import new_project, parse_data, template_questions, template_summary, template_version
    from .ui import console

    if list_templates:
        for each in LANGS:
            console.print(f"{each:<5} {template_version(each):<7} {template_summary(each)}")
            console.print(f"      questions (--data KEY=VALUE): {', '.join(template_questions(each))}",
                          highlight=False)
        return
    if name is None:
        raise UsageError("motivus new needs the algorithm's NAME", hint="e.g. motivus new kmeans --lang rust "
                         "(motivus new --list shows the templates)")
    answers = parse_data(list(data))
    if not defaults and not sys.stdin.isatty():
        console.print("no terminal to ask questions on: using the default answers")
        defaults = True
    result = new_project(name, lang, _state(ctx).project_dir, data=answers, defaults=defaults, git=not no_git)
    console.print(f"[green]created[/] {result.project_dir} ({lang} template {result.template_version})")
    console.print(f"next: cd {result.project_dir.name} && motivus build && motivus test")


@main.command(short_help="Bring the project to the newest template, keeping edits.",
    epilog=examples("motivus update", "motivus update -d license=Apache-2.0"))
@click.option("--data", "-d", "data", multiple=True, metavar="KEY=VALUE", help="Change an answer.")
@click.pass_context
def update(ctx: click.Context, data: Tuple[str, ...]) -> None:
    """Bring the project to the kit's newest template, keeping your changes."""
    from .scaffold import parse_data, update_project
    from .ui import console

    result = update_project(_state(ctx).project_dir, data=parse_data(list(data)))
    if not result.changed:
        console.print(f"nothing changed: the project already is what template {result.to_version} makes")
        return
    if result.from_version == result.to_version:
        console.print(f"template {result.to_version}: re-applied, answers refreshed")
    else:
        console.print(f"[green]updated[/] template {result.from_version} -> {result.to_version}")
    for conflict in result.conflicts:
        rejected = conflict.with_name(conflict.name + ".rej")
        where = f"the hunks in {rejected.name}" if rejected.exists() else "the marked lines"
        console.print(f"[yellow]conflict:[/] {conflict} (resolve {where})")
    console.print("review the changes with 'git diff' and commit them")
    if result.conflicts:
        ctx.exit(1)


@main.command(epilog=examples("motivus info", "motivus info --field package.version", "motivus info --json"))
@click.option("--field", "field_name", metavar="KEY", help="Print one value, e.g. package.version.")
@json_option
@click.pass_context
def info(ctx: click.Context, field_name: Optional[str], as_json: bool) -> None:
    """Show the project's validated configuration."""
    from .config import load_config
    from .ui import console

    config = load_config(_state(ctx).project_dir)
    values = {
        "package.name": config.name,
        "package.version": config.package_version,
        "package.stem": config.package_stem,
        "build.compiler": config.build.compiler,
        "build.lang": config.build.lang,
        "build.source": config.build.source,
        "build.filesystem": config.build.filesystem or "",
        "tests.fixtures": config.tests.fixtures,
        "project_dir": str(config.project_dir),
    }
    if field_name:
        if field_name not in values:
            raise UsageError(f"--field {field_name!r} is not known", hint=f"use one of: {', '.join(values)}")
        click.echo(json.dumps({"ok": True, field_name: values[field_name]}) if as_json else values[field_name])
        return
    if as_json:
        click.echo(json.dumps(dict({"ok": True}, **values), indent=2))
        return
    for key, value in values.items():
        console.print(f"{key}: {value}")


# --------------------------------------------------------------------------- later issues


def watch_option(fn: Any) -> Any:
    """``--watch``: again on each saved change of the build's inputs, until Ctrl-C."""
    return click.option("--watch", "watching", is_flag=True,
                        help="Run again each time a build input is saved (sources, motivus.yml, the "
                             "filesystem; the fixtures for test), until Ctrl-C.")(fn)


def _watch(ctx: click.Context, cycle: Any, extra: Tuple[Path, ...] = ()) -> None:
    """Run ``cycle`` now and on each change; Ctrl-C ends it, cleanly (exit 0)."""
    from .ui import console, render_error
    from .watch import watch

    if _state(ctx).json:
        raise UsageError("--watch and --json do not go together", hint="--watch prints each cycle as it comes")

    def on_error(error: MotivusError) -> None:
        render_error(error)
        console.print("[dim]watching: the next saved change starts again (Ctrl-C ends)[/]")

    def each(changed: List[str]) -> None:
        if changed:
            shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
            console.print(f"[bold]changed:[/] {shown}")
        cycle()
        console.print("[dim]watching for changes (Ctrl-C ends)[/]")

    with reporter_for(ctx) as reporter:
        try:
            watch(_state(ctx).project_dir, each, reporter, extra=extra, on_error=on_error)
        except KeyboardInterrupt:
            pass
    console.print("stopped watching")


@main.command(short_help="Build the package: build/NAME-VERSION.wasm, .js, .zip.",
    epilog=examples("motivus build", "motivus build --toolchain host", "motivus build --watch",
                    "motivus build --force --json"))
@click.option("--toolchain", "-t", type=click.Choice(TOOLCHAIN_MODES), default="auto", show_default=True,
              help="Where to compile: the toolchain container, the host, or the container when an engine is reachable.")
@click.option("--force", is_flag=True, help="Rebuild even when nothing changed.")
@click.option("--offline", is_flag=True, envvar="MOTIVUS_OFFLINE",
              help="Download nothing: Rust crates come from vendor/ or the download cache.")
@click.option("--verbose", "-v", is_flag=True, help="Show the compiler's output.")
@watch_option
@json_option
@click.pass_context
def build(ctx: click.Context, toolchain: str, force: bool, offline: bool, verbose: bool, watching: bool,
          as_json: bool) -> None:
    """Build the project into build/NAME-VERSION.{wasm,js,data.zip,zip}."""
    from .build import build_project
    from .ui import console, files_table

    def once(force: bool) -> Any:
        with reporter_for(ctx, verbose) as reporter:
            result = build_project(_state(ctx).project_dir, reporter, toolchain=toolchain, force=force,
                                   offline=offline)
        if not as_json:
            if result.up_to_date:
                console.print(f"[green]up to date[/] {result.config.package_stem} ({result.reason})")
            else:
                console.print(f"[green]built[/] {result.config.package_stem} in {result.seconds:.1f} s "
                              f"on the {result.toolchain} toolchain ({result.reason})")
            console.print(files_table(result.files, result.config.project_dir))
        return result

    if watching:
        forced = [force]  # --force applies to the first cycle; a change is a reason of its own

        def cycle() -> None:
            once(forced.pop() if forced else False)

        _watch(ctx, cycle)
        return
    result = once(force)
    if as_json:
        click.echo(json.dumps({
            "ok": True, "package": result.config.package_stem, "up_to_date": result.up_to_date,
            "toolchain": result.toolchain, "reason": result.reason, "seconds": round(result.seconds, 3),
            "warnings": result.warnings,
            "files": [{"path": str(f.path.relative_to(result.config.project_dir)), "size": f.size,
                       "sha256": f.sha256} for f in result.files],
        }, indent=2))


@main.command(epilog=examples("motivus clean"))
@click.pass_context
def clean(ctx: click.Context) -> None:
    """Remove build outputs (build/) and caches (.motivus/)."""
    from .build import clean_project
    from .ui import console

    removed = clean_project(_state(ctx).project_dir)
    for path in removed:
        console.print(f"removed {path}")
    if not removed:
        console.print("nothing to clean")


@main.command(short_help="Run the fixture cases against the built package.", name="test", epilog=examples(
    "motivus test",
    "motivus test -k seed --browser all",
    "motivus test --watch",
    "motivus test --junit-xml report.xml"))
@click.option("-k", "pattern", metavar="PATTERN", help="Only the cases whose name or file contains PATTERN.")
@click.option("--junit-xml", type=click.Path(dir_okay=False, path_type=Path), help="Write a JUnit XML report.")
@click.option("--workers", type=click.IntRange(1, 256), help="Worker processes [default: CPU count].")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=300.0, show_default=True,
              help="Deadline per case, in seconds (a case's own 'timeout' wins).")
@click.option("--toolchain", "-t", type=click.Choice(TOOLCHAIN_MODES), default="auto",
              show_default=True, help="Where to build when the package is stale.")
@click.option("--package", "package", type=click.Path(exists=True, path_type=Path), metavar="PATH",
              help="Test this package instead of building: a NAME-VERSION.zip, or a directory with "
                   "NAME-VERSION.wasm and .js (e.g. one built by another packager).")
@click.option("--browser", type=click.Choice(["chromium", "firefox", "all"]),
              help="Run the cases in a headless browser's Web Worker, as the platform's browser workers do "
                   "(all: node and every browser found, showing where results differ).")
@unsandboxed_option
@watch_option
@json_option
@click.pass_context
def test_cmd(ctx: click.Context, pattern: Optional[str], junit_xml: Optional[Path], workers: Optional[int],
             timeout: float, toolchain: str, package: Optional[Path], browser: Optional[str],
             allow_unsandboxed: bool, watching: bool, as_json: bool) -> None:
    """Run tests/fixtures/*.yml against the built package (building it first if stale)."""
    from .errors import TestFailure
    from .testing import run_tests
    from .ui import console, render_test_report

    def once() -> Any:
        with reporter_for(ctx) as reporter:
            return run_tests(_state(ctx).project_dir, reporter, pattern=pattern, workers=workers, timeout=timeout,
                             toolchain=toolchain, junit_xml=junit_xml, package=package, browser=browser,
                             allow_unsandboxed=allow_unsandboxed)

    def shown(report: Any) -> int:
        render_test_report(report)
        failed = len(report.failures)
        console.print(f"{len(report.results) - failed} passed, {failed} failed")
        return failed

    if watching:
        if package is not None:
            raise UsageError("--watch rebuilds the project: it does not go with --package")
        from .config import load_config

        config = load_config(_state(ctx).project_dir)
        fixtures = config.project_dir / config.tests.fixtures

        def cycle() -> None:
            shown(once())

        _watch(ctx, cycle, extra=(fixtures,))
        return
    report = once()
    failed = len(report.failures)
    if as_json:
        click.echo(json.dumps({
            "ok": not failed, "passed": len(report.results) - failed, "failed": failed,
            "package": report.package.stem, "runners": list(report.runners),
            "cases": [{"name": r.case.name, "file": str(r.case.source), "runner": r.runner,
                       "passed": r.verdict.passed, "seconds": round(r.seconds, 3), "problems": r.verdict.problems}
                      for r in report.results],
            "differences": [{"case": c, "runner": a, "other": b, "parts": parts}
                            for c, a, b, parts in report.differences()],
        }, indent=2))
        ctx.exit(1 if failed else 0)
    if shown(report):
        raise TestFailure(f"{failed} of {len(report.results)} case(s) failed")


def run_timeout_option(fn: Any) -> Any:
    """``--timeout`` of the commands that run one case again and again (profile, bench)."""
    return click.option("--timeout", type=click.FloatRange(min=0.1), default=600.0, show_default=True,
                        help="Deadline per run, in seconds (a case's own 'timeout' wins).")(fn)


@main.command(short_help="Profile a fixture case: a flame graph and the time split.", epilog=examples(
    "motivus profile three-clusters",
    "motivus profile seed --warmup 0",
    "motivus profile three-clusters --out profiles --json"))
@click.argument("case", required=False)
@click.option("--warmup", type=click.IntRange(0, 100), default=1, show_default=True,
              help="Runs before the profiled one (a first call in a fresh worker runs in V8's baseline code).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write the flame graph [default: .motivus/profile].")
@run_timeout_option
@click.option("--toolchain", "-t", type=click.Choice(TOOLCHAIN_MODES), default="auto",
              show_default=True, help="Where to build the package with its function names.")
@unsandboxed_option
@json_option
@click.pass_context
def profile(ctx: click.Context, case: Optional[str], warmup: int, out: Optional[Path], timeout: float,
            toolchain: str, allow_unsandboxed: bool, as_json: bool) -> None:
    """Run CASE (a fixture case's name) in the worker pool with V8's profiler and write a
    flame graph to open in a browser (speedscope), with the time split and the hottest
    functions. The package is built with its function names in .motivus/profile/."""
    from .profiling import profile_case
    from .ui import render_profile

    with reporter_for(ctx) as reporter:
        report = profile_case(_state(ctx).project_dir, reporter, case, warmup=warmup, toolchain=toolchain,
                              out=out, timeout=timeout, allow_unsandboxed=allow_unsandboxed)
    if as_json:
        click.echo(json.dumps({
            "ok": True, "case": report.case, "passed": report.run.passed, "seconds": round(report.run.seconds, 6),
            "phases": {name: round(seconds, 6) for name, seconds in report.phases.items()},
            "files": {kind: str(path) for kind, path in report.files.items()},
            "functions": [{"name": f.name, "self_ms": round(f.self_ms, 3), "total_ms": round(f.total_ms, 3),
                           "wasm": f.wasm} for f in report.functions[:50]],
        }, indent=2))
        return
    render_profile(report)


@main.command(short_help="Time a fixture case, run after run (--native: against native code).", epilog=examples(
    "motivus bench three-clusters",
    "motivus bench three-clusters -n 20 --native",
    "motivus bench seed --json"))
@click.argument("case", required=False)
@click.option("-n", "--runs", type=click.IntRange(1, 10000), default=10, show_default=True, help="Runs counted.")
@click.option("--warmup", type=click.IntRange(0, 100), default=1, show_default=True, help="Runs before, not counted.")
@click.option("--native", is_flag=True,
              help="Also build the same code for this machine and run it as often: the wasm/native ratio.")
@run_timeout_option
@click.option("--toolchain", "-t", type=click.Choice(TOOLCHAIN_MODES), default="auto",
              show_default=True, help="Where to build when the package is stale (and the native Rust build).")
@unsandboxed_option
@json_option
@click.pass_context
def bench(ctx: click.Context, case: Optional[str], runs: int, warmup: int, native: bool, timeout: float,
          toolchain: str, allow_unsandboxed: bool, as_json: bool) -> None:
    """Run CASE (a fixture case's name) again and again in the worker pool and report min,
    median and max per task and per phase; with --native, the same code built natively."""
    from .benching import bench_case
    from .ui import render_bench

    with reporter_for(ctx) as reporter:
        report = bench_case(_state(ctx).project_dir, reporter, case, runs=runs, warmup=warmup, native=native,
                            toolchain=toolchain, timeout=timeout, allow_unsandboxed=allow_unsandboxed)
    if as_json:
        native_spread = report.native_spread
        click.echo(json.dumps({
            "ok": True, "case": report.case, "runs": len(report.runs), "warmup": len(report.warmups),
            "seconds": report.total.as_dict(),
            "phases": {name: spread.as_dict() for name, spread in report.phases.items()},
            "first_warmup_seconds": report.warmups[0].seconds if report.warmups else None,
            "native": None if report.native is None or native_spread is None else {
                "compiler": report.native.compiler, "seconds": native_spread.as_dict()},
            "ratio": report.ratio,
        }, indent=2))
        return
    render_bench(report)


@main.command(short_help="Run a local stand-in for the cluster, for drivers.",
    epilog=examples("motivus loopback", "motivus loopback --watch", "motivus loopback --port 7070 --workers 4",
                    "motivus loopback --cluster local:3", "motivus loopback --cluster tcp://10.0.0.5:8786"))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (other machines could send it code to run: keep it local).")
@click.option("--port", type=click.IntRange(0, 65535), default=7070, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--workers", type=click.IntRange(1, 256), help="Worker processes [default: CPU count].")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=None,
              help="Deadline per task, in seconds [default: none, as on the platform's workers: long "
                   "simulations run to the end].")
@click.option("--memory-mb", type=click.IntRange(64), default=2048, show_default=True,
              help="Memory cap of each worker process (an OS limit).")
@click.option("--max-size-mb", type=click.IntRange(1), default=256, show_default=True,
              help="Largest websocket frame accepted (tasks carry the package base64-encoded).")
@click.option("--token", "tokens", multiple=True, help="Accept only these application tokens (repeatable).")
@click.option("--allow-origin", "origins", multiple=True, metavar="ORIGIN",
              help="Also let browser pages of ORIGIN connect (default: local pages only; repeatable).")
@click.option("--data-dir", "data_dirs", multiple=True, metavar="DIR",
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Where a driver's data_link may name local files (default: the working directory; "
                   "repeatable). Browser pages may only give http(s) URLs.")
@unsandboxed_option
@click.option("--watch", "watching", is_flag=True,
              help="Also build the project (-C, or here) now and on each saved change of its inputs, so "
                   "that the driver's next task runs the new package.")
@click.option("--cluster", metavar="tcp://HOST:PORT|local:N", envvar="MOTIVUS_CLUSTER", default=None,
              help="Run the tasks on this Dask cluster (its scheduler's address), or on N local Dask worker "
                   "processes (local:N) [env MOTIVUS_CLUSTER]. Needs pip install 'motivus-dev[cluster]'.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the stats as a JSON line every 2 s on stdout (instead of the live view).")
@click.pass_context
def loopback(ctx: click.Context, host: str, port: int, workers: Optional[int], timeout: Optional[float],
             memory_mb: int, max_size_mb: int, tokens: Tuple[str, ...], origins: Tuple[str, ...],
             data_dirs: Tuple[Path, ...], allow_unsandboxed: bool, watching: bool, cluster: Optional[str],
             as_json: bool) -> None:
    """Run a local stand-in for the Motivus cluster that drivers connect to (its tasks on this
    machine, or on a Dask cluster with --cluster)."""
    from .ui import serve_loopback

    project = None
    if watching:
        from .config import load_config

        project = load_config(_state(ctx).project_dir).project_dir  # a clear error now if there is none
    serve_loopback(host=host, port=port, workers=workers, timeout=timeout, memory_mb=memory_mb,
                   max_size=max_size_mb * 1024 * 1024, tokens=list(tokens) or None, allowed_origins=origins,
                   data_dirs=list(data_dirs) or None, allow_unsandboxed=allow_unsandboxed, watch_project=project,
                   cluster=cluster or None, as_json=as_json)


@main.group(short_help="Join a Dask cluster that a loopback runs tasks on.",
            epilog=examples("motivus cluster worker tcp://10.0.0.5:8786"))
def cluster() -> None:
    """Machines that run a loopback's tasks (motivus loopback --cluster)."""


@cluster.command(name="worker", epilog=examples("motivus cluster worker tcp://10.0.0.5:8786",
                                                "motivus cluster worker tcp://10.0.0.5:8786 --nworkers 4"))
@click.argument("scheduler")
@click.argument("dask_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- DASK WORKER OPTIONS]")
@click.option("--nworkers", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Dask worker processes to start (each runs one task at a time).")
@click.option("--name", default=None, help="The worker's name on the dashboard [default: Dask's].")
def cluster_worker(scheduler: str, dask_args: Tuple[str, ...], nworkers: int, name: Optional[str]) -> None:
    """Check that task code can be contained here (node and the sandbox, which cluster workers
    always use), then join the Dask scheduler SCHEDULER as a plain `dask worker` would; what
    follows `--` goes to `dask worker` (its TLS options, say)."""
    from .cluster.join import join_cluster

    join_cluster(scheduler, nworkers=nworkers, name=name, extra=dask_args)


@main.command(short_help="Join a Waterbear cluster as a worker and run its tasks.",
    epilog=examples("motivus worker", "motivus worker -t 4 --token $WB_WORKER_TOKEN"))
@click.option("-t", "threads", type=click.IntRange(1, 256), default=1, show_default=True, metavar="N",
              help="Run up to N tasks at a time.")
@click.option("--backend-host", default=CLUSTER_HOST, show_default=True, metavar="HOST",
              help="The cluster to ask for tasks (host[:port]).")
@click.option("--no-tls", is_flag=True, help="Connect with ws:// and http:// instead of wss:// and https://.")
@click.option("--token", metavar="TOKEN", envvar="WB_WORKER_TOKEN",
              help="The worker token [env WB_WORKER_TOKEN; default: work as a new guest user].")
@click.option("--memory-mb", type=click.IntRange(64), default=2048, show_default=True,
              help="Memory cap of each worker process (an OS limit).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=None,
              help="Deadline per task, in seconds [default: none, as the platform's workers].")
def worker(threads: int, backend_host: str, no_tls: bool, token: Optional[str], memory_mb: int,
           timeout: Optional[float]) -> None:
    """Join a Waterbear cluster as a worker and run its tasks (as the platform's node workers do)."""
    from .ui import serve_worker
    from .worker_client import WorkerOptions

    serve_worker(WorkerOptions(threads=threads, backend_host=backend_host, tls=not no_tls, token=token or None,
                               memory_mb=memory_mb, timeout=timeout))


@main.command(short_help="Publish the package as a new version on a marketplace.",
    epilog=examples("motivus push --dry-run", "motivus push --create-algorithm --public"))
@click.option("--registry", metavar="URL", help="Marketplace to publish to [env MOTIVUS_MARKETPLACE_URL; "
              "default: the hosted Motivus Marketplace].")
@click.option("--dry-run", is_flag=True, help="Check and show what would be sent; send nothing.")
@json_option
@click.option("--create-algorithm", is_flag=True,
              help="Create the algorithm first if it does not exist (with --cost, --charge-schema, --public).")
@click.option("--cost", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="With --create-algorithm: the algorithm's cost.")
@click.option("--charge-schema", type=click.Choice(["PER_EXECUTION", "PER_MINUTE"]), default="PER_EXECUTION",
              show_default=True, help="With --create-algorithm: how the cost is charged.")
@click.option("--public", "is_public", is_flag=True,
              help="With --create-algorithm: make it public (default: visible to its users only).")
@click.option("--retries", type=click.IntRange(0, 10), default=4, show_default=True,
              help="Retries of transient failures (connection errors, 502/503/504).")
@click.pass_context
def push(ctx: click.Context, registry: Optional[str], dry_run: bool, as_json: bool, create_algorithm: bool,
         cost: float, charge_schema: str, is_public: bool, retries: int) -> None:
    """Publish build/NAME-VERSION.zip as a new version on a marketplace."""
    from .marketplace.client.push import NewAlgorithm
    from .publish import publish_project
    from .ui import console

    terms = NewAlgorithm(cost, charge_schema, is_public) if create_algorithm else None
    with reporter_for(ctx) as reporter:
        result = publish_project(_state(ctx).project_dir, reporter, registry=registry, dry_run=dry_run,
                                 create_algorithm=terms, retries=retries)
    if as_json:
        click.echo(json.dumps(dict(result.to_json(), ok=True), indent=2, sort_keys=True))
    elif dry_run:
        console.print(f"dry run: {result.name} {result.version} would go to {result.registry_url}")
    else:
        console.print(f"[green]published[/] {result.name} {result.version} to {result.registry_url}"
                      f" (version id {result.version_id}, sha256 {result.package_sha256})")


@main.command(short_help="Show the help of motivus or of a command.",
    name="help", epilog=examples("motivus help", "motivus help build", "motivus help marketplace serve"))
@click.argument("command", nargs=-1)
@click.pass_context
def help_cmd(ctx: click.Context, command: Tuple[str, ...]) -> None:
    """Show the help of motivus, or of COMMAND (the same as COMMAND --help)."""
    target: click.Command = main
    target_ctx = ctx.find_root()
    for word in command:
        sub = target.get_command(target_ctx, word) if isinstance(target, click.Group) else None
        if sub is None:
            known = ", ".join(target.list_commands(target_ctx)) if isinstance(target, click.Group) else ""
            raise UsageError(f"no command `{' '.join(['motivus', *command])}`",
                             hint=f"{target_ctx.command_path} has: {known}" if known else "motivus help lists them")
        target_ctx = click.Context(sub, info_name=word, parent=target_ctx)
        target = sub
    click.echo(target.get_help(target_ctx))


@main.command(short_help="Print the shell completion script (bash, zsh, fish).",
    epilog=examples("motivus completion bash >> ~/.bashrc", "motivus completion zsh > ~/.zfunc/_motivus",
                              "motivus completion fish > ~/.config/fish/completions/motivus.fish"))
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL (commands, options, choices)."""
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # the three click ships
    click.echo(completer(main, {}, "motivus", "_MOTIVUS_COMPLETE").source())


@main.group(epilog=examples("motivus marketplace serve", "motivus marketplace user add alice",
                            "motivus marketplace token create --user alice --kind personal"))
def marketplace() -> None:
    """Serve and administer a self-hosted marketplace."""


def _default_data_dir() -> Path:
    """One registry per user by default, wherever the command runs (not ./something)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("motivus")) / "marketplace"


DATA_DIR_OPTION = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="MOTIVUS_MARKETPLACE_DATA",
    default=None,
    help="Where the registry keeps its database and files unless --database/--blobs say otherwise "
         "[env MOTIVUS_MARKETPLACE_DATA; default: the user's data directory, e.g. "
         "~/.local/share/motivus/marketplace].",
)
REGISTRY_OPTIONS = (
    DATA_DIR_OPTION,
    click.option("--database", metavar="URL", envvar="MOTIVUS_MARKETPLACE_DATABASE", default=None,
                 help="The metadata database: postgresql://USER:PASSWORD@HOST:PORT/NAME or sqlite:///PATH "
                      "[env MOTIVUS_MARKETPLACE_DATABASE; default: DATA_DIR/marketplace.sqlite3]."),
    click.option("--blobs", metavar="DIR|s3://BUCKET/PREFIX", envvar="MOTIVUS_MARKETPLACE_BLOBS", default=None,
                 help="Where package files are stored: a directory or an S3-compatible bucket (credentials "
                      "from the AWS variables) [env MOTIVUS_MARKETPLACE_BLOBS; default: DATA_DIR/blobs]."),
    click.option("--s3-endpoint-url", metavar="URL", envvar="AWS_ENDPOINT_URL", default=None,
                 help="The S3-compatible server [env AWS_ENDPOINT_URL; default: AWS]."),
)


@dataclasses.dataclass(frozen=True)
class RegistryOptions:
    """The registry options as given (None: not given)."""

    data_dir: Optional[Path]
    database: Optional[str]
    blobs: Optional[str]
    s3_endpoint_url: Optional[str]

    def location(self) -> Any:
        """The RegistryLocation they name (the user's data directory for what is missing),
        said on stderr."""
        from .marketplace.server.location import RegistryLocation

        data_dir = self.data_dir
        if data_dir is None and (self.database is None or self.blobs is None):
            data_dir = _default_data_dir()
        where = RegistryLocation.of(data_dir, database=self.database, blobs=self.blobs,
                                    s3_endpoint_url=self.s3_endpoint_url)
        click.echo(f"marketplace: {where.describe()}", err=True)
        return where


def _registry_wrapper(func: Any, resolve: bool) -> Any:
    @functools.wraps(func)
    def wrapper(*args: Any, data_dir: Optional[Path], database: Optional[str], blobs: Optional[str],
                s3_endpoint_url: Optional[str], **kwargs: Any) -> Any:
        given = RegistryOptions(data_dir, database, blobs, s3_endpoint_url)
        if resolve:
            return func(*args, where=given.location(), **kwargs)
        return func(*args, registry=given, **kwargs)

    for option in reversed(REGISTRY_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def registry_options(func: Any) -> Any:
    """The options every ``motivus marketplace`` command takes, given to it as ``where``
    (a RegistryLocation), which is said on stderr."""
    return _registry_wrapper(func, True)


def registry_options_as_given(func: Any) -> Any:
    """The same options, given to the command as they came (``registry``: RegistryOptions)."""
    return _registry_wrapper(func, False)


@marketplace.command(name="serve", epilog=examples(
    "motivus marketplace serve",
    "motivus marketplace serve --port 4000 --data-dir ./registry"))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=4000, show_default=True)
@click.option("--public-url", metavar="URL", help="Base URL clients reach this server at (for download URLs).")
@click.option("--access-log", is_flag=True, help="Log every request.")
@click.option("--presign", "presign", is_flag=True,
              help="Hand out download URLs to the S3 store itself (short-lived, signed): package bytes "
                   "never pass through this server. Needs --blobs s3://...")
@click.option("--presign-expires", type=click.IntRange(60, 7 * 24 * 3600), default=3600, show_default=True,
              metavar="SECONDS", help="How long a presigned download URL stays valid.")
@registry_options
@click.pass_context
def marketplace_serve(ctx: click.Context, host: str, port: int, public_url: Optional[str], access_log: bool,
                      presign: bool, presign_expires: int, where: Any) -> None:
    """Run the marketplace registry API (until Ctrl-C). Several servers may share one
    PostgreSQL database and one bucket: they are one registry."""
    from .marketplace.server.app import serve

    with reporter_for(ctx) as reporter:
        serve(host, port, where, reporter, public_url=public_url, access_log=access_log,
              presign=presign_expires if presign else None)


@marketplace.command(name="gc", epilog=examples("motivus marketplace gc"))
@registry_options
def marketplace_gc(where: Any) -> None:
    """Remove stored files that no published version references (left by lost uploads)."""
    from .marketplace.server.admin import collect_garbage
    from .ui import console

    blobs, freed = collect_garbage(where)
    console.print(f"removed {blobs} orphan file(s), {freed:,} bytes, from {where.blobs}")


@marketplace.command(name="migrate", epilog=examples(
    "motivus marketplace migrate --from ~/.local/share/motivus/marketplace "
    "--to postgresql://motivus@db/registry --blobs s3://packages/registry",
    "motivus marketplace migrate --from postgresql://motivus@db/registry --from-blobs s3://packages/registry "
    "--to ./registry-copy"))
@click.option("--from", "source", required=True, metavar="DATA_DIR|DATABASE_URL",
              help="The registry to copy: a data directory, or a database URL with --from-blobs.")
@click.option("--from-blobs", metavar="DIR|s3://BUCKET/PREFIX", default=None,
              help="The source's files, when --from is a database URL [default: DATA_DIR/blobs].")
@click.option("--to", "target", metavar="DATA_DIR|DATABASE_URL", default=None,
              help="Where to copy it: a data directory, or a database URL with --blobs "
                   "(instead of --data-dir / --database).")
@registry_options_as_given
@click.pass_context
def marketplace_migrate(ctx: click.Context, source: str, from_blobs: Optional[str], target: Optional[str],
                        registry: RegistryOptions) -> None:
    """Copy a whole registry (users, tokens, algorithms, versions and their files, each file's
    sha256 checked) to another database and blob store; running it again is harmless."""
    from .marketplace.server.location import RegistryLocation
    from .marketplace.server.transfer import copy_registry

    endpoint = registry.s3_endpoint_url
    if target is not None and "://" in target:
        if registry.blobs is None:
            raise UsageError("--to is a database URL: say where its files go with --blobs")
        where = RegistryLocation.of(None, database=target, blobs=registry.blobs, s3_endpoint_url=endpoint)
    elif target is not None:
        where = RegistryLocation.of(Path(target), blobs=registry.blobs, s3_endpoint_url=endpoint)
    else:
        where = registry.location()
    if "://" in source:
        if from_blobs is None:
            raise UsageError("--from is a database URL: say where its files are with --from-blobs")
        origin = RegistryLocation.of(None, database=source, blobs=from_blobs, s3_endpoint_url=endpoint)
    else:
        origin = RegistryLocation.of(Path(source), blobs=from_blobs, s3_endpoint_url=endpoint)
    with reporter_for(ctx) as reporter:
        copy_registry(origin, where, reporter)


@marketplace.group(name="user", epilog=examples("motivus marketplace user add alice"))
def marketplace_user() -> None:
    """Manage users."""


@marketplace_user.command(name="add", epilog=examples("motivus marketplace user add alice"))
@click.argument("name")
@registry_options
def marketplace_user_add(name: str, where: Any) -> None:
    """Add the user NAME."""
    from .marketplace.server.admin import add_user
    from .ui import console

    add_user(where, name)
    console.print(f"added user {name}")


@marketplace.group(name="token", epilog=examples("motivus marketplace token create --user alice --kind application"))
def marketplace_token() -> None:
    """Manage access tokens."""


@marketplace_token.command(name="create", epilog=examples(
    "motivus marketplace token create --user alice --kind personal"))
@click.option("--user", "user", required=True, help="The token's user.")
@click.option("--kind", type=click.Choice(["personal", "application"]), required=True,
              help="personal: publishes versions; application: runs drivers, reads and downloads.")
@registry_options
def marketplace_token_create(user: str, kind: str, where: Any) -> None:
    """Create a token; it is printed once (only its hash is stored)."""
    from .marketplace.server.admin import create_token

    result = create_token(where, user, kind)
    click.echo(result.token)
    article = "an" if kind[0] in "aeiou" else "a"
    click.echo(f"({article} {kind} token of {user}: keep it now, it cannot be shown again)", err=True)


@marketplace.group(name="algorithm", epilog=examples("motivus marketplace algorithm create kmeans --owner alice"))
def marketplace_algorithm() -> None:
    """Manage algorithms."""


@marketplace_algorithm.command(name="create", epilog=examples(
    "motivus marketplace algorithm create kmeans --owner alice"))
@click.argument("name")
@click.option("--owner", required=True, help="The user who owns it.")
@click.option("--private", is_flag=True, help="Visible only to its owner and maintainers.")
@registry_options
def marketplace_algorithm_create(name: str, owner: str, private: bool, where: Any) -> None:
    """Create the algorithm NAME, owned by --owner."""
    from .marketplace.server.admin import create_algorithm
    from .ui import console

    result = create_algorithm(where, name, owner, is_public=not private)
    console.print(f"created algorithm {result.name} (id {result.id}), owner {owner}")


@marketplace_algorithm.command(name="add-maintainer", epilog=examples(
    "motivus marketplace algorithm add-maintainer kmeans bob"))
@click.argument("algorithm")
@click.argument("user")
@registry_options
def marketplace_algorithm_add_maintainer(algorithm: str, user: str, where: Any) -> None:
    """Let USER publish versions of ALGORITHM."""
    from .marketplace.server.admin import add_maintainer
    from .ui import console

    add_maintainer(where, algorithm, user)
    console.print(f"{user} maintains {algorithm}")


@main.group(short_help="Build, list and check the toolchain images and tools.",
            epilog=examples("motivus toolchain doctor", "motivus toolchain build", "motivus toolchain list"))
def toolchain() -> None:
    """Build, list and check the toolchains (mvrc for Rust, mvcc for C/C++)."""


# The names of toolchain.registry.NAMES, written out: importing the registry here would add
# about 45 ms to every command's start (tests/unit/test_named_options.py keeps them equal).
TOOLCHAIN_CHOICE = click.Choice(["mvrc", "mvcc"])
ALL_TOOLCHAINS = tuple(TOOLCHAIN_CHOICE.choices)


@toolchain.command(name="build", epilog=examples("motivus toolchain build", "motivus toolchain build mvcc -v"))
@click.argument("names", nargs=-1, type=TOOLCHAIN_CHOICE)
@click.option("--verbose", "-v", is_flag=True, help="Show the image build's output.")
@click.pass_context
def toolchain_build(ctx: click.Context, names: Tuple[str, ...], verbose: bool) -> None:
    """Build the toolchain images (default: both) from the shipped Dockerfiles."""
    from .toolchain.docker import build_image
    from .ui import console

    for name in names or ALL_TOOLCHAINS:
        with reporter_for(ctx, verbose) as reporter:
            image = build_image(name, reporter)
        console.print(f"[green]ready[/] {image.ref}")


@toolchain.command(name="push", epilog=examples("motivus toolchain push --registry localhost:5000"))
@click.argument("names", nargs=-1, type=TOOLCHAIN_CHOICE)
@click.option("--registry", required=True, metavar="HOST:PORT",
              help="The Docker registry to fill (fresh machines pull from it: MOTIVUS_TOOLCHAIN_REGISTRY).")
@click.option("--verbose", "-v", is_flag=True, help="Show the engine's push progress.")
@json_option
@click.pass_context
def toolchain_push(ctx: click.Context, names: Tuple[str, ...], registry: str, verbose: bool, as_json: bool) -> None:
    """Push the pinned toolchain images (default: both) to a registry, by digest."""
    from .toolchain.docker import push_image
    from .ui import console

    pushed = {}
    for name in names or ALL_TOOLCHAINS:
        with reporter_for(ctx, verbose) as reporter:
            pushed[name] = push_image(name, registry, reporter)
        if not as_json:
            console.print(f"[green]pushed[/] {pushed[name]}")
    if as_json:
        click.echo(json.dumps({"ok": True, "pushed": pushed}, indent=2))


@toolchain.command(name="list", epilog=examples("motivus toolchain list", "motivus toolchain list --json"))
@json_option
def toolchain_list(as_json: bool) -> None:
    """The toolchain images this kit pins, and those the engine has."""
    from rich.table import Table

    from .toolchain.docker import engine_available, list_images
    from .toolchain.images import pinned_images
    from .ui import console

    reason = engine_available()
    present = {} if reason else {info.ref: info for info in list_images()}
    if as_json:
        click.echo(json.dumps({
            "ok": True, "engine": reason or "reachable",
            "images": [{"toolchain": name, "image": image.ref, "pinned": True, "present": image.ref in present,
                        "size": present[image.ref].size if image.ref in present else None}
                       for name, image in pinned_images().items()]
            + [{"toolchain": info.toolchain, "image": ref, "pinned": False, "present": True, "size": info.size}
               for ref, info in present.items() if not info.pinned],
        }, indent=2))
        return
    table = Table("toolchain", "pinned image", "present", "size")
    for name, image in pinned_images().items():
        info = present.get(image.ref)
        state = "yes" if info else ("no engine" if reason else "no: motivus toolchain build " + name)
        size = f"{info.size / 1e6:.0f} MB" if info else ""
        table.add_row(name, image.ref, state, size)
    for ref, info in present.items():
        if not info.pinned:
            table.add_row(info.toolchain, ref, "yes (not pinned by this kit)", f"{info.size / 1e6:.0f} MB")
    console.print(table)
    if reason:
        console.print(f"[yellow]docker engine:[/] {reason}")


@toolchain.command(name="doctor", epilog=examples("motivus toolchain doctor"))
@json_option
def toolchain_doctor(as_json: bool) -> None:
    """Check the engine, the images and the host tools; print the fix for each missing piece."""
    from rich.markup import escape

    from .toolchain.doctor import run_doctor
    from .ui import console

    checks = run_doctor()
    docker_ok = all(c.ok for c in checks if c.name.startswith(("docker", "image")))
    host_ok = all(c.ok for c in checks if c.name.startswith("host"))
    if as_json:
        click.echo(json.dumps({
            "ok": docker_ok or host_ok, "container_builds": docker_ok, "host_builds": host_ok,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix_command} for c in checks],
        }, indent=2))
        if not (docker_ok or host_ok):
            sys.exit(ToolchainError_.exit_code)
        return
    for check in checks:
        mark = "[green]ok[/]  " if check.ok else "[red]MISSING[/]"
        console.print(f"{mark} {escape(check.name)}: {escape(check.detail)}")
        if not check.ok and check.fix_command:
            console.print(f"        fix: {escape(check.fix_command)}")
    console.print(
        f"container builds: {'ready' if docker_ok else 'not ready'}; host builds: {'ready' if host_ok else 'not ready'}"
    )
    if not (docker_ok or host_ok):
        raise ToolchainError_("no toolchain is ready", hint="run the fix commands above")


@toolchain.command(name="install", epilog=examples("motivus toolchain install --host"))
@click.option("--host", "host", is_flag=True, required=True, help="Install the host tools (Debian/Ubuntu, apt).")
@click.option("--print", "print_only", is_flag=True, help="Only print the command.")
@click.pass_context
def toolchain_install(ctx: click.Context, host: bool, print_only: bool) -> None:
    """Install the pinned toolchain tools on this machine (apt-get)."""
    from .toolchain.doctor import host_install_command, install_host_tools
    from .ui import console

    if print_only:
        click.echo(host_install_command())
        return
    with reporter_for(ctx, verbose=True) as reporter:
        install_host_tools(reporter)
    console.print("[green]host tools installed[/]; check with: motivus toolchain doctor")


def run(argv: Optional[List[str]] = None) -> None:
    """Console-script entry point."""
    main.main(args=argv, prog_name="motivus")
