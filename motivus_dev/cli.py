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


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def build() -> None:
    """Build the project into a Motivus package."""
    _not_yet("build", "the mvrc/mvcc toolchains")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def clean() -> None:
    """Remove build outputs and caches."""
    _not_yet("clean", "the mvrc/mvcc toolchains")


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


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def toolchain() -> None:
    """Build, list and check the toolchains."""
    _not_yet("toolchain", "the mvrc/mvcc toolchains")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def marketplace() -> None:
    """Serve and administer a self-hosted marketplace."""
    _not_yet("marketplace", "the marketplace support")


def run(argv: Optional[List[str]] = None) -> None:
    """Console-script entry point."""
    main.main(args=argv, prog_name="motivus")
