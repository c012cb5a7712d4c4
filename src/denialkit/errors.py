"""The denialkit exception hierarchy.

Every message names where the problem is (file, segment ordinal, field) and what it is, and
never carries patient data: callers pass segment ids and element positions, not values from
patient segments.
"""

from __future__ import annotations


class DenialkitError(Exception):
    """Base class for every error denialkit raises on purpose.

    The message says what is wrong, in the library's words. ``parameter`` names the argument
    at fault and ``remedy`` what would fix it (a key: ``force``, ``partial`` ...); a caller
    with options of its own words them (``cli.worded``), so no message here quotes a flag.
    """

    exit_code = 1

    def __init__(
        self, *args: object, parameter: str | None = None, remedy: str | None = None
    ) -> None:
        super().__init__(*args)
        self.parameter, self.remedy = parameter, remedy


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


class MissingFields(TemplateError):
    """A finished letter needs values nobody supplied: staff fields, or practice details.

    The fields say which; how to supply them is the caller's to word (the CLI names its
    options)."""

    def __init__(
        self, denial_id: int, template: str, staff: list[str], practice: list[str]
    ) -> None:
        self.denial_id, self.template = denial_id, template
        self.staff, self.practice = staff, practice
        super().__init__(self.worded())

    def worded(self, staff_remedy: str = "", practice_remedy: str = "") -> str:
        """The message, with how to fill each kind of value appended when given."""
        parts = []
        if self.staff:
            parts.append(f"required fields not filled: {', '.join(self.staff)}{staff_remedy}")
        if self.practice:
            parts.append(
                f"practice details not configured: {', '.join(self.practice)}{practice_remedy}"
            )
        return f"denial {self.denial_id} ({self.template}): " + "; ".join(parts)


class StoreError(DenialkitError):
    """The database cannot be opened or is not a denialkit database."""


class NoDatabase(StoreError):
    """No denialkit database where one must exist (only creating commands make one)."""

    def __init__(self, where: str, *, engine: str = "sqlite") -> None:
        self.where, self.engine = where, engine
        super().__init__(f"no denialkit database at {where}")


class NotFound(DenialkitError):
    """A denial, claim or file that was asked for does not exist."""


class InvalidTransition(DenialkitError):
    """A denial status change that the lifecycle does not allow."""
