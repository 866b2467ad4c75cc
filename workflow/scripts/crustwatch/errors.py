"""Errors that reach users: each names the file, the sheet row and the problem."""

from __future__ import annotations


class CrustWatchError(Exception):
    """Base class of every error CrustWatch raises on purpose."""


class InputError(CrustWatchError):
    """A problem with a user's input (sheet, photo, mask or config).

    Args:
        problem: what is wrong, in plain words, ideally with the fix.
        file: the file concerned, if any.
        row: the 1-based line number in the image sheet (header is line 1), if any.
        image_id: the sheet's ``image_id`` of that row, if known.
    """

    def __init__(
        self,
        problem: str,
        file: str | None = None,
        row: int | None = None,
        image_id: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = file
        self.row = row
        self.image_id = image_id
        where = []
        if row is not None:
            where.append(f"sheet line {row}")
        if image_id:
            where.append(f"image_id '{image_id}'")
        if file:
            where.append(f"file '{file}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {problem}" if prefix else problem)


class InputErrors(CrustWatchError):
    """Several input problems, reported together so users fix them in one pass."""

    #: problems listed in the message; the rest are counted (all are in ``errors``)
    SHOWN = 12

    def __init__(self, errors: list[InputError], source: str = "", hint: str = "") -> None:
        self.errors = errors
        head = f"{len(errors)} problem(s) in {source}" if source else f"{len(errors)} problem(s)"
        lines = [f"  - {e}" for e in errors[: self.SHOWN]]
        if len(errors) > self.SHOWN:
            lines.append(f"  ... and {len(errors) - self.SHOWN} more of the same kinds")
        if hint:
            lines.append(f"  hint: {hint}")
        super().__init__(head + ":\n" + "\n".join(lines))
