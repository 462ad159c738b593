"""Compatibility package: ``from motivus.client import Client`` as in the Motivus docs.

The implementation lives in :mod:`motivus_dev.client`.
"""
