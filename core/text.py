"""Text that comes from outside (files, the TMS, drivers' apps): one line, visible, short.

Every value that can reach an e-mail header, a page or a command's output is checked here:
no control character, no invisible formatting character (zero-width spaces, bidi overrides)
and no line or paragraph separator, whatever the encoding that carried it (RFC 2047
encoded words are decoded and checked again). Messages quote values through `excerpt`, so a
megabyte value costs a line, not a megabyte, of output.
"""

from __future__ import annotations

import re
import unicodedata
from email.errors import HeaderParseError
from email.header import decode_header, make_header

EXCERPT_LENGTH = 60
# An RFC 2047 encoded word: =?charset?B|Q?text?=
ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
# Control (Cc) but tab, format (Cf), line (Zl) and paragraph (Zp) separators, unassigned (Cn).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cn", "Co", "Cs"})


# Unicode gives control characters no name; these are the ones data carries.
_CONTROL_NAMES = {
    "\n": "LINE FEED",
    "\r": "CARRIAGE RETURN",
    "\v": "LINE TABULATION",
    "\f": "FORM FEED",
    "\x00": "NULL",
    "\x1b": "ESCAPE",
    "\x1c": "FILE SEPARATOR",
    "\x1d": "GROUP SEPARATOR",
    "\x1e": "RECORD SEPARATOR",
    "\x1f": "UNIT SEPARATOR",
    "\x7f": "DELETE",
    "\x85": "NEXT LINE",
}


def describe(character: str) -> str:
    """`U+2028 LINE SEPARATOR`: a character as a person can look it up."""
    name = _CONTROL_NAMES.get(character) or unicodedata.name(character, "CONTROL CHARACTER")
    return f"U+{ord(character):04X} {name}"


def excerpt(value: object, length: int = EXCERPT_LENGTH) -> str:
    """`value` as Python writes it (`'text'`, `12`), or its start and its size when long."""
    shown = repr(value)
    if len(shown) <= length + 2:
        return shown
    text = value if isinstance(value, str) else shown
    return f"{text[:length]!r}… ({len(text):,} characters)"


_LINE_BREAKS = frozenset("\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def first_unsafe(text: str) -> str | None:
    """The first character that may not stand in a one-line value, described; else None."""
    for character in text:
        if character != "\t" and unicodedata.category(character) in _REFUSED_CATEGORIES:
            kind = " (a line break)" if character in _LINE_BREAKS else ""
            return describe(character) + kind
    return None


def decoded_words(text: str) -> str | None:
    """`text` with its RFC 2047 encoded words decoded, or None when it has none."""
    if not ENCODED_WORD.search(text):
        return None
    # Word by word, the text around them left as it is: the text may hold non-ASCII
    # characters of its own (`Jérôme =?utf-8?q?Dupont?=`), which the stdlib's whole-header
    # decoder refuses.
    try:
        return ENCODED_WORD.sub(lambda word: str(make_header(decode_header(word[0]))), text)
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        return ""


def unsafe_reason(text: str) -> str | None:
    """Why `text` may not be a one-line value (in a header, on a page), or None when it may.

    Encoded words are decoded and checked again: `=?utf-8?q?x=0D=0ABcc:...?=` hides a CR LF.
    """
    found = first_unsafe(text)
    if found is not None:
        return f"contains {found}; write it on one line with visible characters only"
    decoded = decoded_words(text)
    if decoded is not None:
        hidden = first_unsafe(decoded)
        if hidden is not None or decoded == "":
            what = f"hides {hidden}" if hidden else "cannot be decoded"
            return f"contains an RFC 2047 encoded word that {what}; write the text as it reads"
    return None


class InvalidReferenceError(ValueError):
    """A reference that is not the plain text a carrier types."""


def normalize_reference(text: str) -> str:
    """A reference as stored and compared: NFKC, trimmed, ASCII; else `ValueError` saying why.

    Fullwidth `ＯＲＤ-１` is `ORD-1` (NFKC); an invisible character (a trailing zero-width
    space) or a letter of another script that looks Latin (`ОRD-1` with a Cyrillic О) is
    refused, naming the character, so a look-alike never creates a second order.
    """
    normalized = unicodedata.normalize("NFKC", text).strip()
    unsafe = first_unsafe(normalized)
    if unsafe is not None:
        raise InvalidReferenceError(
            f"reference {excerpt(text)} contains the invisible {unsafe}; remove it"
        )
    for character in normalized:
        if not character.isascii():
            raise InvalidReferenceError(
                f"reference {excerpt(text)} contains {describe(character)}, which is not a "
                "Latin letter, digit or ASCII sign (a look-alike?); write references in ASCII"
            )
    return normalized


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """`1 e-mail`, `1,200 e-mails`: a count and its noun, in the singular for one."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"
