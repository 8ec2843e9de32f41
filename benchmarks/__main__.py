"""`python -m benchmarks [--profile full|ci] [--only a,b] [--out DIR]`: one run, one report.

Measures side by side, in the same run, the raw limits of this machine, the naive design
(one flow run per event, one task run per e-mail) and haulflow's, and writes
`DIR/report.json` and `DIR/report.md` (default `var/benchmarks/`). Exits 0 when it ran;
the report says which targets are met.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from rich.console import Console

from benchmarks.report import write
from benchmarks.suite import PROFILES, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--only", help="comma-separated scenarios (raw, steady, burst, ...)")
    parser.add_argument("--out", type=Path, default=Path("var/benchmarks"))
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    only = set(args.only.split(",")) if args.only else None
    with tempfile.TemporaryDirectory(prefix="haulflow-benchmarks-") as work:
        result = run(PROFILES[args.profile], Path(work), console.print, only)
    data, page = write(result, args.out)
    console.print(f"report: {page} (and {data})")
    for row in result["targets"]:
        mark = {True: "met", False: "NOT MET", None: "not measured"}[row["met"]]
        console.print(f"  {mark:>12}  {row['target']}: {row['measured']} ({row['limit']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
