"""The denialkit exception hierarchy.

Every message names where the problem is (file, segment ordinal, field) and what it is, and
never carries patient data: callers pass segment ids and element positions, not values from
patient segments.
"""

from __future__ import annotations


class DenialkitError(Exception):
    """Base class for every error denialkit raises on purpose."""

    exit_code = 1


class UsageError(DenialkitError):
    """The command was called wrongly (bad option value, missing argument)."""

    exit_code = 2


class X12Error(DenialkitError):
    """An X12 file whose structure cannot be read."""

    def __init__(
        self, message: str, *, file: str = "", segment: int | None = None, segment_id: str = ""
    ) -> None:
        self.file = file
        self.segment = segment
        self.segment_id = segment_id
        self.reason = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = self.file or "<input>"
        if self.segment is not None:
            where += f": segment {self.segment}"
            if self.segment_id:
                where += f" ({self.segment_id})"
        return f"{where}: {self.reason}"

    def with_file(self, file: str) -> X12Error:
        """Return the same error, naming the file (the tokenizer may not know it)."""
        self.file = file
        self.args = (self._format(),)
        return self


class RulesError(DenialkitError):
    """A rules file is missing, unreadable, or fails validation."""


class TemplateError(DenialkitError):
    """An appeal template is missing, invalid, or needs a value that was not given."""


class StoreError(DenialkitError):
    """The database cannot be opened or is not a denialkit database."""


class NotFound(DenialkitError):
    """A denial, claim or file that was asked for does not exist."""


class InvalidTransition(DenialkitError):
    """A denial status change that the lifecycle does not allow."""
