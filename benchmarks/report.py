"""The benchmark's report: every figure as JSON, and a Markdown page a person reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write(result: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """`report.json` and `report.md` under `folder`; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "report.json"
    data.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    page = folder / "report.md"
    page.write_text(markdown(result), encoding="utf-8")
    return data, page


def markdown(result: dict[str, Any]) -> str:
    """The report as Markdown: the targets first, then each scenario's figures."""
    machine = result.get("machine", {})
    lines = [
        f"# haulflow benchmark ({result.get('profile')} profile)",
        "",
        f"Run {result.get('started')} on {machine.get('cpus')} CPUs, Python "
        f"{machine.get('python')}, {machine.get('system')}; engines: "
        f"{', '.join(result.get('engines', []))}. Produced by `python -m benchmarks`; every "
        "figure below was measured in this same run.",
        "",
        "## Targets",
        "",
        "| target | measured | limit | met |",
        "|---|---|---|---|",
    ]
    for row in result.get("targets", []):
        met = {True: "yes", False: "**no**", None: "not measured"}[row["met"]]
        lines.append(f"| {row['target']} | {_figure(row['measured'])} | {row['limit']} | {met} |")
    for name, title in SECTIONS:
        if name not in result:
            continue
        lines += ["", f"## {title}", "", "```json", json.dumps(result[name], indent=2), "```"]
    return "\n".join(lines) + "\n"


SECTIONS = (
    ("raw", "Raw limits of this machine"),
    ("steady", "Steady uploads, haulflow (upload → SMTP accept)"),
    ("naive_steady", "Steady uploads, the naive design"),
    ("listen", "Steady drops through S3 → SQS → listen"),
    ("burst", "A burst of uploads, haulflow"),
    ("naive_burst", "A burst of uploads, the naive design"),
    ("retro", "Retroactive hand run over older orders"),
    ("sweep", "Sweep over waiting tasks"),
    ("generation", "Generation for new orders"),
    ("workers", "One worker against two (production topology)"),
    ("import", "Import of one large file"),
)


def _figure(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, list):
        return ", ".join(_figure(item) for item in value)
    return "–" if value is None else str(value)
