"""What `haulflow status` reports: checks with a verdict, details and what to do."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["ok", "warning", "problem"]


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, the verdict, details, and what to do."""

    name: str
    severity: Severity
    summary: str
    details: list[str] = field(default_factory=list)
    advice: str | None = None


@dataclass(frozen=True)
class StatusReport:
    """Every check, and where the Prefect API URL came from."""

    api_url: str | None
    url_source: str | None
    checks: list[Check]

    @property
    def healthy(self) -> bool:
        """No check found a problem (warnings need a person, not a restart)."""
        return all(check.severity != "problem" for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data for `--json`."""
        return {"healthy": self.healthy, **asdict(self)}
