"""A process description built from the database's vocabulary, once, when first asked for
(the enums, maxLength and limits of submit-threat and review-threat)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kmzb.db.pool import get_pool
from kmzb.domain import vocabulary
from kmzb.domain.vocabulary import Vocabulary


class VocabularyDescription:
    def __init__(self, build: Callable[[Vocabulary], dict[str, Any]]) -> None:
        self._build = build
        self._described: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> dict[str, Any]:
        """The description from the vocabulary this process read (once) from the database."""
        with self._lock:
            if self._described is None:
                with get_pool().connection() as conn:
                    self._described = self._build(vocabulary.load(conn))
            return self._described
