"""Country and language codes, one list for the configuration file and the import file."""

from __future__ import annotations

import re
from importlib.resources import files


def _iso_3166_codes() -> frozenset[str]:
    # The tz database ships the ISO 3166-1 alpha-2 table; XK is added because every
    # European TMS uses it for Kosovo.
    table = (files("tzdata") / "zoneinfo" / "iso3166.tab").read_text(encoding="utf-8")
    codes = {line.split("\t", 1)[0] for line in table.splitlines() if line[:1] not in ("", "#")}
    return frozenset(codes | {"XK"})


COUNTRY_CODES = _iso_3166_codes()

# ISO 639-1, optionally with a region: fr, nl-BE.
LANGUAGE_CODE = re.compile(r"[a-z]{2}(-[A-Z]{2})?")
