"""Who is calling: an anonymous citizen or the holder of a verified token.

The HTTP layer sets the caller for the duration of a request; the domain and
the pygeoapi processes read it (pygeoapi passes processes only their inputs).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

ROLES = ("officer", "coordinator", "partner", "admin")
POLICE_ROLES = ("officer", "coordinator")


@dataclass(frozen=True)
class Caller:
    subject: str | None = None
    role: str | None = None
    unit: str | None = None  # police unit code, for officers and coordinators
    institution: str | None = None  # for partners
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
