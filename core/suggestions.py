""" "Did you mean ...?" for every misspelt key, role, user or code a person types."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to a misspelt `word` (case aside), else its one completion, else None."""
    options = sorted(choices)
    lowered = {option.lower(): option for option in options}
    matches = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    if matches:
        return lowered[matches[0]]
    # A truncated name ("cmr-pod") is too short for difflib but has one obvious completion.
    completions = [option for option in options if word and option.startswith(word)]
    return completions[0] if len(completions) == 1 else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`; did you mean 'x'?` for the closest choice, or nothing when none is close."""
    match = closest(word, choices)
    return f"; did you mean '{match}'?" if match is not None else ""
