"""What `haulflow status` reports: checks with a verdict, details and what to do."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from services.health import Check


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
