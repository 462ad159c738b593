"""`python -m motivus_dev` runs the CLI."""

from .cli import run

run()
