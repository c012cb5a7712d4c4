"""What every part of the store may rely on: the connection, the engine's dialect, and the
few methods one part calls on another. ``Store`` (core) provides them; the parts (schema,
denials, queries, reports) inherit this so that each is checked on its own."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .dialect import Dialect


class StoreBase:
    """The attributes and cross-part methods of ``Store``, declared for the type checker."""

    conn: Any  # sqlite3.Connection or PgConnection: the same calls on both
    dialect: Dialect
    path: Path | None
    url: str | None
    _errors: tuple[type[BaseException], ...]
    _db: Any

    if TYPE_CHECKING:

        def query(
            self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
        ) -> list[dict[str, Any]]: ...

        def transaction(self) -> AbstractContextManager[None]: ...

        def grew(self, rows: int) -> None: ...

        def denial(self, denial_id: int) -> dict[str, Any]: ...
