"""Every `motivus ...` command line that a doc, the README or a message of the kit names
uses commands and options that exist (a hint that names `--create` or `--profile` where the
CLI has neither sends the author the wrong way)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Iterator, List, Tuple

import click

from motivus_dev.cli import main

ROOT = Path(__file__).resolve().parents[2]
# "motivus" then what follows on the line, up to a character that ends a command in prose.
MENTION = re.compile(r"(?<![\w/.-])motivus((?: +[^\s`'\"()\[\]{},;|>]+)+)")
# Command lines of the published 2.4.0 CLI, which the docs name on purpose.
PUBLISHED_240 = {"push -D"}


def texts() -> Iterator[Tuple[str, str]]:
    for path in sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")]):
        yield str(path.relative_to(ROOT)), path.read_text()
    for path in sorted((ROOT / "motivus_dev").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield f"{path.relative_to(ROOT)}:{node.lineno}", node.value
            elif isinstance(node, ast.JoinedStr):
                parts = [v.value if isinstance(v, ast.Constant) else "X" for v in node.values]
                yield f"{path.relative_to(ROOT)}:{node.lineno}", "".join(str(p) for p in parts)


def problems_in(words: List[str]) -> List[str]:
    """What is wrong with one mention's words (after `motivus`)."""
    command: click.Command = main
    found: List[str] = []
    options = {o for p in main.params for o in getattr(p, "opts", [])}
    for word in words:
        if word.startswith("-"):
            name = word.split("=", 1)[0]
            if re.fullmatch(r"--?[a-zA-Z][\w-]*", name) and name not in options:
                found.append(f"{name} is not an option of '{command.name}'")
            continue
        if isinstance(command, click.Group) and word in command.commands:
            command = command.commands[word]
            options |= {o for p in command.params for o in getattr(p, "opts", [])}
            continue
        if isinstance(command, click.Group) and command is not main and re.fullmatch(r"[a-z][a-z-]+", word):
            found.append(f"'{word}' is not a subcommand of '{command.name}'")
        if isinstance(command, click.Group):
            break  # prose ("motivus is ...", "motivus build and test")
    return found


def test_every_named_command_and_option_exists() -> None:
    problems = []
    for where, text in texts():
        for match in MENTION.finditer(text):
            words = match.group(1).split()
            if " ".join(words[:2]) in PUBLISHED_240:
                continue
            if words and words[0] in main.commands:
                for problem in problems_in(words):
                    problems.append(f"{where}: 'motivus{match.group(1)}': {problem}")
    assert not problems, "\n".join(problems)


def test_the_checker_catches_a_wrong_option() -> None:
    assert problems_in(["push", "--create"]) == ["--create is not an option of 'push'"]
    assert problems_in(["build", "--profile", "debug"]) == ["--profile is not an option of 'build'"]
    assert problems_in(["marketplace", "user", "add", "alice"]) == []
    assert problems_in(["toolchain", "bake"]) == ["'bake' is not a subcommand of 'toolchain'"]


def test_the_cli_offers_exactly_the_registered_toolchains() -> None:
    from motivus_dev.cli import TOOLCHAIN_CHOICE
    from motivus_dev.toolchain.registry import NAMES

    assert tuple(TOOLCHAIN_CHOICE.choices) == NAMES


def test_the_cli_names_the_platforms_cluster() -> None:
    from motivus_dev import cli, waterbear

    assert cli.CLUSTER_HOST == waterbear.CLUSTER_HOST
