"""Client addresses for the tests' citizens: one allocator for the whole session.

The tests share one database and the daily limit counts per address, so two
modules drawing from their own counters would hand the same address to two
citizens. Every module that submits as a new citizen takes its address here.
Fixed addresses that a test reasons about (tests/test_privacy.py) live in
203.0.113.0/24 and 2001:db8::/32, which this allocator never hands out.
"""

from __future__ import annotations

import itertools

_counter = itertools.count(1)


def new_address() -> str:
    """A distinct IPv4 address in 100.64.0.0/10 (shared address space) per call."""
    n = next(_counter)
    return f"100.{64 + n // 65536}.{(n // 256) % 256}.{n % 256}"
