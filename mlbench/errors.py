"""User-facing errors.

Every problem a user can cause (bad input, missing data, unreachable mirror, ...) is raised as
:class:`MlbenchError` with a one-line message naming the problem and the fix. The CLI prints
that line and exits non-zero, without a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MlbenchError(Exception):
    """An error whose message is shown to the user as a single line."""

    exit_code = 2


def suggest(name: str, choices: Iterable[str], what: str) -> str:
    """Message for an unknown ``name``: 'unknown <what> 'x'; did you mean ...? Known: ...'."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name.lower(), choices, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {what} {name!r}.{hint} Known: {', '.join(choices)}."
