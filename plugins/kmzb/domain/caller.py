"""Who is calling: an anonymous citizen or the holder of a verified token.

The HTTP layer sets the caller for the duration of a request; the domain and
the pygeoapi processes read it (pygeoapi passes processes only their inputs).
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass

ROLES = ("officer", "coordinator", "partner", "admin")
POLICE_ROLES = ("officer", "coordinator")
# An institution's code, as kmzb.institutions.code's CHECK has it (sql/035_institutions.sql).
INSTITUTION_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}$")


@dataclass(frozen=True)
class Caller:
    subject: str | None = None
    role: str | None = None
    unit: str | None = None  # police unit code, for officers and coordinators
    institution: str | None = None  # for partners: an institution code, e.g. SM-KRAKOW
    address: str | None = None  # client address, for the daily limit only

    @property
    def anonymous(self) -> bool:
        return self.role is None

    @property
    def is_police(self) -> bool:
        return self.role in POLICE_ROLES

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.subject}" if self.role else "citizen"


ANONYMOUS = Caller()
current_caller: ContextVar[Caller] = ContextVar("kmzb_caller", default=ANONYMOUS)
