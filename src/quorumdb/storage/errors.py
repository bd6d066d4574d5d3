"""Errors about a data directory as a whole."""

from __future__ import annotations


class DataDirectoryError(Exception):
    """The data directory cannot be used as it is: another process has it, or what is
    in it is damaged. ``quorumdb serve`` reports it in one line and exits 1."""
