"""Answers questions from source documents and cites the exact passages it used."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("assistant")
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0.0.0+unknown"
