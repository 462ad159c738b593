"""The `motivus` command line: parse options, call one capability function, render its result.

Errors: capability modules raise :class:`~motivus_dev.errors.MotivusError` subclasses;
:class:`MotivusGroup` is the one place that turns them into a message and an exit code.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple

import click

from . import __version__
from .errors import MotivusError, UsageError
from .errors import ToolchainError as ToolchainError_

LANG_CHOICES = ("rust", "c", "cpp")


@dataclass
class State:
    """Global options, shared with every subcommand through the click context."""

    debug: bool
    project_dir: Path


class MotivusGroup(click.Group):
    """A click group that renders MotivusError without a traceback (unless --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MotivusError as error:
            if ctx.params.get("debug"):
                raise
            from .ui import render_error

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


@click.group(cls=MotivusGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="motivus", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug output.")
@click.option(
    "-C",
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Run as if started in this directory.",
)
@click.pass_context
def main(ctx: click.Context, debug: bool, project_dir: Path) -> None:
    """Motivus Dev Kit: write, build, test and publish Motivus algorithms."""
    from .envfile import load_dotenv

    if not project_dir.is_dir():
        raise UsageError(f"-C {project_dir}: no such directory")
    ctx.obj = State(debug=debug, project_dir=project_dir)
    load_dotenv(project_dir)


def _not_yet(command: str, arrives_with: str) -> None:
    raise UsageError(
        f"'motivus {command}' is not available in this version of the kit yet",
        hint=f"it arrives with {arrives_with}",
    )


# --------------------------------------------------------------------------- new / update


@main.command()
@click.argument("name")
@click.option("--lang", "-l", type=click.Choice(LANG_CHOICES), default="rust", show_default=True,
              help="Language of the algorithm.")
@click.option("--defaults", is_flag=True, help="Answer every question with its default.")
@click.option("--data", "-d", "data", multiple=True, metavar="KEY=VALUE",
              help="Answer a template question (repeatable): description, author, license, url, "
                   "upstream_url, version.")
@click.option("--no-git", is_flag=True, help="Do not make the project a git repository.")
@click.pass_context
def new(ctx: click.Context, name: str, lang: str, defaults: bool, data: Tuple[str, ...], no_git: bool) -> None:
    """Create a project for the algorithm NAME from the kit's templates."""
    from .scaffold import new_project, parse_data
    from .ui import console

    answers = parse_data(list(data))
    if not defaults and not sys.stdin.isatty():
        console.print("no terminal to ask questions on: using the default answers")
        defaults = True
    result = new_project(name, lang, _state(ctx).project_dir, data=answers, defaults=defaults, git=not no_git)
    console.print(f"[green]created[/] {result.project_dir} ({lang} template {result.template_version})")
    console.print(f"next: cd {result.project_dir.name} && motivus build && motivus test")


@main.command()
@click.option("--data", "-d", "data", multiple=True, metavar="KEY=VALUE", help="Change an answer.")
@click.pass_context
def update(ctx: click.Context, data: Tuple[str, ...]) -> None:
    """Bring the project to the kit's newest template, keeping your changes."""
    from .scaffold import parse_data, update_project
    from .ui import console

    result = update_project(_state(ctx).project_dir, data=parse_data(list(data)))
    if result.from_version == result.to_version:
        console.print(f"template {result.to_version}: re-applied, answers refreshed")
    else:
        console.print(f"[green]updated[/] template {result.from_version} -> {result.to_version}")
    for conflict in result.conflicts:
        console.print(f"[yellow]conflict:[/] {conflict} (resolve the marked lines)")
    console.print("review the changes with 'git diff' and commit them")
    if result.conflicts:
        ctx.exit(1)


@main.command()
@click.option("--field", "field_name", metavar="KEY", help="Print one value, e.g. package.version.")
@click.pass_context
def info(ctx: click.Context, field_name: Optional[str]) -> None:
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
        click.echo(values[field_name])
        return
    for key, value in values.items():
        console.print(f"{key}: {value}")


# --------------------------------------------------------------------------- later issues


@main.command()
@click.option("--toolchain", "-t", type=click.Choice(["auto", "docker", "host"]), default="auto", show_default=True,
              help="Where to compile: the toolchain container, the host, or the container when an engine is reachable.")
@click.option("--force", is_flag=True, help="Rebuild even when nothing changed.")
@click.option("--verbose", "-v", is_flag=True, help="Show the compiler's output.")
@click.pass_context
def build(ctx: click.Context, toolchain: str, force: bool, verbose: bool) -> None:
    """Build the project into build/NAME-VERSION.{wasm,js,data.zip,zip}."""
    from .build import build_project
    from .ui import RichReporter, console, files_table

    with RichReporter(verbose=verbose) as reporter:
        result = build_project(_state(ctx).project_dir, reporter, toolchain=toolchain, force=force)
    if result.up_to_date:
        console.print(f"[green]up to date[/] {result.config.package_stem} ({result.reason})")
    else:
        console.print(f"[green]built[/] {result.config.package_stem} in {result.seconds:.1f} s "
                      f"on the {result.toolchain} toolchain ({result.reason})")
    console.print(files_table(result.files, result.config.project_dir))


@main.command()
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


@main.command(name="test", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def test_cmd() -> None:
    """Run the project's fixture cases against the built package."""
    _not_yet("test", "the local worker pool")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def loopback() -> None:
    """Run a local stand-in for the Motivus cluster."""
    _not_yet("loopback", "the local worker pool")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def push() -> None:
    """Publish the built version to a marketplace."""
    _not_yet("push", "the marketplace support")


@main.group()
def toolchain() -> None:
    """Build, list and check the toolchains (mvrc for Rust, mvcc for C/C++)."""


TOOLCHAIN_CHOICE = click.Choice(["mvrc", "mvcc"])


@toolchain.command(name="build")
@click.argument("names", nargs=-1, type=TOOLCHAIN_CHOICE)
@click.option("--verbose", "-v", is_flag=True, help="Show the image build's output.")
def toolchain_build(names: Tuple[str, ...], verbose: bool) -> None:
    """Build the toolchain images (default: both) from the shipped Dockerfiles."""
    from .toolchain.docker import build_image
    from .ui import RichReporter, console

    for name in names or ("mvrc", "mvcc"):
        with RichReporter(verbose=verbose) as reporter:
            image = build_image(name, reporter)
        console.print(f"[green]ready[/] {image.ref}")


@toolchain.command(name="list")
def toolchain_list() -> None:
    """The toolchain images this kit pins, and those the engine has."""
    from rich.table import Table

    from .toolchain.docker import engine_available, list_images
    from .toolchain.images import pinned_images
    from .ui import console

    reason = engine_available()
    present = {} if reason else {info.ref: info for info in list_images()}
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


@toolchain.command(name="doctor")
def toolchain_doctor() -> None:
    """Check the engine, the images and the host tools; print the fix for each missing piece."""
    from rich.markup import escape

    from .toolchain.doctor import run_doctor
    from .ui import console

    checks = run_doctor()
    for check in checks:
        mark = "[green]ok[/]  " if check.ok else "[red]MISSING[/]"
        console.print(f"{mark} {escape(check.name)}: {escape(check.detail)}")
        if not check.ok and check.fix_command:
            console.print(f"        fix: {escape(check.fix_command)}")
    docker_ok = all(c.ok for c in checks if not c.name.startswith("host"))
    host_ok = all(c.ok for c in checks if c.name.startswith("host"))
    console.print(
        f"container builds: {'ready' if docker_ok else 'not ready'}; host builds: {'ready' if host_ok else 'not ready'}"
    )
    if not (docker_ok or host_ok):
        raise ToolchainError_("no toolchain is ready", hint="run the fix commands above")


@toolchain.command(name="install")
@click.option("--host", "host", is_flag=True, required=True, help="Install the host tools (Debian/Ubuntu, apt).")
@click.option("--print", "print_only", is_flag=True, help="Only print the command.")
def toolchain_install(host: bool, print_only: bool) -> None:
    """Install the pinned toolchain tools on this machine (apt-get)."""
    from .toolchain.doctor import host_install_command, install_host_tools
    from .ui import RichReporter, console

    if print_only:
        click.echo(host_install_command())
        return
    with RichReporter(verbose=True) as reporter:
        install_host_tools(reporter)
    console.print("[green]host tools installed[/]; check with: motivus toolchain doctor")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def marketplace() -> None:
    """Serve and administer a self-hosted marketplace."""
    _not_yet("marketplace", "the marketplace support")


def run(argv: Optional[List[str]] = None) -> None:
    """Console-script entry point."""
    main.main(args=argv, prog_name="motivus")
