"""Domain errors: each carries the HTTP status an adapter answers with.

Messages a citizen may read are given in Polish and English, as a pair that
crosses the wire whole: an error body is the OGC exception (`code`, and
`description` in English) plus `"message": {"pl": ..., "en": ...}` and, where
the input was at fault, per-field `errors` ({field, pl, en}).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

# The rule everywhere (API, processes, WMS): no token or a bad one is 401 with this
# challenge; a valid token whose role or unit may not do it is 403.
AUTH_CHALLENGE = 'Bearer realm="kmzb"'


@dataclass(frozen=True)
class FieldError:
    field: str
    pl: str
    en: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "pl": self.pl, "en": self.en}


@dataclass
class DomainError(Exception):
    pl: str
    en: str
    status: HTTPStatus = HTTPStatus.BAD_REQUEST
    code: str = "InvalidParameterValue"
    errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.en

    def message(self) -> dict[str, str]:
        return {"pl": self.pl, "en": self.en}

    def body(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "code": self.code,
            "description": self.en,
            "message": self.message(),
        }
        if self.errors:
            answer["errors"] = [error.as_dict() for error in self.errors]
        return answer


def invalid(errors: list[FieldError]) -> DomainError:
    """A refused write: nothing was stored (submissions, reviews)."""
    return DomainError(
        pl="Zgłoszenie zawiera błędy; nic nie zapisano.",
        en="The request has errors; nothing was stored.",
        errors=errors,
    )


def invalid_query(errors: list[FieldError]) -> DomainError:
    """A refused read (a reference, filters): says what is wrong, claims nothing about storing."""
    return DomainError(
        pl="Zapytanie zawiera błędy; popraw wskazane pola.",
        en="The query has errors; correct the fields named.",
        errors=errors,
    )


def unauthorized(en: str, pl: str) -> DomainError:
    return DomainError(
        pl=pl,
        en=en,
        status=HTTPStatus.UNAUTHORIZED,
        code="Unauthorized",
        headers={"WWW-Authenticate": AUTH_CHALLENGE},
    )


def needs_token(error: DomainError) -> DomainError:
    """A 403 said to a caller with no token becomes the 401 that asks for one."""
    return DomainError(
        pl=f"Zaloguj się: to wymaga tokenu (Authorization: Bearer). {error.pl}",
        en=f"Sign in: this needs a token (Authorization: Bearer). {error.en}",
        status=HTTPStatus.UNAUTHORIZED,
        code="Unauthorized",
        headers={**error.headers, "WWW-Authenticate": AUTH_CHALLENGE},
    )


def forbidden(en: str, pl: str) -> DomainError:
    return DomainError(pl=pl, en=en, status=HTTPStatus.FORBIDDEN, code="Forbidden")


def not_found(en: str, pl: str) -> DomainError:
    return DomainError(pl=pl, en=en, status=HTTPStatus.NOT_FOUND, code="NotFound")


def conflict(en: str, pl: str) -> DomainError:
    return DomainError(pl=pl, en=en, status=HTTPStatus.CONFLICT, code="Conflict")
