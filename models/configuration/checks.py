"""Checks across the file that the schema alone cannot make: declarations and references.

What the file declares (roles, teams, users, mailboxes, task keys) is read from the raw data,
so an item with a typo elsewhere still counts as declared and does not cause a second,
misleading "unknown" problem. Each task is then checked by `task_checks`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import Problem
from core.sourcefile import Loc, SourceDocument
from models.configuration.catalog import BUILTIN_ROLES, SECTIONS
from models.configuration.messages import did_you_mean, where
from models.configuration.salvage import salvage
from models.configuration.schema import ExtraFields
from models.configuration.task_checks import check_task


class Checker:
    """Collects the located problems of one configuration file and the template files it read."""

    def __init__(self, source: SourceDocument, base_dir: Path) -> None:
        self.source = source
        self.data: dict[str, Any] = source.data if isinstance(source.data, dict) else {}
        self.base_dir = base_dir
        self.problems: list[Problem] = []
        # Template bodies read from `*_path` files, by the location of their `*_path` key.
        self.bodies: dict[Loc, str] = {}
        self.roles = set(BUILTIN_ROLES) | set(self._declared("roles", "key"))
        self.teams = set(self._declared("teams", "key"))
        self.users = set(self._declared("users", "username"))
        self.mailboxes = set(self._declared("mailboxes", "key"))
        extra_fields, dropped = salvage(ExtraFields, self.data.get("extra_fields", {}))
        # Unknown when extra_fields is itself broken: the schema reports that instead.
        self.trip_contacts_disabled = (
            extra_fields is not None and not dropped and not extra_fields.trips.contact_emails
        )
        carrier = self.data.get("carrier")
        name = carrier.get("name") if isinstance(carrier, dict) else None
        self.carrier_name = name if isinstance(name, str) else "Carrier"

    def report(self, loc: Loc, message: str) -> None:
        """Record a problem at `loc`, prefixed with where it is (`task 'send-pod', mailbox`)."""
        place = where(loc, self.data)
        self.problems.append(self.source.problem(loc, f"{place}: {message}" if place else message))

    def unknown(self, kind: str, key: str, known: set[str]) -> str:
        """The message for a reference to something the file does not declare."""
        return f"unknown {kind} '{key}'{did_you_mean(key, known)}"

    def _items(self, section: str) -> list[tuple[Loc, Any]]:
        items = self.data.get(section)
        if not isinstance(items, list):
            return []
        return [((section, index), item) for index, item in enumerate(items)]

    def _declared(self, section: str, key_name: str) -> dict[str, Loc]:
        """Keys declared in a list section, reporting duplicates."""
        seen: dict[str, Loc] = {}
        for loc, item in self._items(section):
            key = item.get(key_name) if isinstance(item, dict) else None
            if not isinstance(key, str):
                continue
            if key in seen:
                first = self.source.line_of(seen[key])
                message = f"duplicate {key_name} '{key}' (first at line {first})"
                self.report((*loc, key_name), message)
            else:
                seen[key] = (*loc, key_name)
        return seen

    def run(self) -> None:
        """Run every check; problems accumulate in `self.problems`."""
        self._check_declarations()
        tasks = self.data.get("tasks")
        if not isinstance(tasks, dict):
            return
        seen: dict[str, Loc] = {}
        for section, items in tasks.items():
            spec = SECTIONS.get(section)
            if spec is None or not isinstance(items, list):
                continue  # the schema reports unknown sections and wrong types
            for index, item in enumerate(items):
                loc: Loc = ("tasks", section, index)
                key = item.get("key") if isinstance(item, dict) else None
                if isinstance(key, str) and key in seen:
                    first = self.source.line_of(seen[key])
                    message = (
                        f"duplicate task key '{key}' (first at line {first}); "
                        "task keys are unique across all categories"
                    )
                    self.report((*loc, "key"), message)
                elif isinstance(key, str):
                    seen[key] = (*loc, "key")
                check_task(self, spec, loc, item)

    def _check_declarations(self) -> None:
        for loc, item in self._items("roles"):
            key = item.get("key") if isinstance(item, dict) else None
            if isinstance(key, str) and key in BUILTIN_ROLES:
                self.report((*loc, "key"), f"role '{key}' is built in; remove it from roles")
        fallback = self.data.get("fallback_role")
        if isinstance(fallback, str) and fallback not in self.roles:
            self.report(("fallback_role",), self.unknown("role", fallback, self.roles))
        for loc, item in self._items("users"):
            teams = item.get("teams") if isinstance(item, dict) else None
            for index, team in enumerate(teams if isinstance(teams, list) else []):
                if isinstance(team, str) and team not in self.teams:
                    self.report((*loc, "teams", index), self.unknown("team", team, self.teams))

    def read_template(self, loc: Loc, relative: str) -> str | None:
        """Read a template file next to the configuration; report why it cannot be read."""
        base = self.base_dir.resolve()
        path = (base / relative).resolve()
        if Path(relative).is_absolute() or not path.is_relative_to(base):
            self.report(loc, f"'{relative}' must be a path inside the folder of this file")
            return None
        try:
            body = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.report(loc, f"template file '{relative}' not found (looked in {base})")
            return None
        except UnicodeDecodeError:
            self.report(loc, f"template file '{relative}' is not UTF-8 text")
            return None
        except OSError as error:
            self.report(loc, f"cannot read template file '{relative}': {error.strerror or error}")
            return None
        self.bodies[loc] = body
        return body
