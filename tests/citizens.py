"""Moved: new_address lives in tests/helpers.py (one allocator). This re-export goes once
no test imports it from here."""

from helpers import new_address

__all__ = ["new_address"]
