"""Motivus Dev Kit: write, build, test and publish WebAssembly algorithms for Motivus."""

__version__ = "0.1.0"
