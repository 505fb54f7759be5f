"""The fuzz run (issue 20): every property test of tests/fuzz with many generated cases,
seeded and reproducible; the counts go to docs/reliability.md.

    .venv/bin/python bench/fuzz.py [--examples 10000] [--seed 20261202] [--json OUT] [TEST...]

Runs pytest on tests/fuzz (or the given tests) with Hypothesis's ``fuzz`` profile
(tests/fuzz/conftest.py): ``--examples`` valid cases per test, generated from ``--seed``, so
the same command generates the same cases again. The suite itself runs the same tests with a
small derandomized sample. Prints one row per test: the cases that passed, failed and were
discarded as invalid by the strategy, and the time; exit status 1 if any test failed (its
falsifying example is in pytest's output above the table).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent

# --hypothesis-show-statistics: "tests/fuzz/x.py::test_y:" then one line per phase
_TEST = re.compile(r"^(tests/fuzz/\S+::\S+?):$")
_CASES = re.compile(r"- (\d+) passing, (\d+) failing, and (\d+) invalid test cases")
_PHASE = re.compile(r"- during (\w+) phase \(([\d.]+) seconds\)")


class Row(NamedTuple):
    test: str
    passing: int
    failing: int
    invalid: int
    seconds: float


def parse_statistics(text: str) -> list[Row]:
    """One row per test from pytest's Hypothesis statistics: the generate phase's counts
    (the cases made from the seed; shrinking a failure is not counted) and all phases' time."""
    rows: list[Row] = []
    test, counts, seconds, phase = "", (0, 0, 0), 0.0, ""
    for line in text.splitlines():
        stripped = line.strip()
        if m := _TEST.match(stripped):
            if test:
                rows.append(Row(test, *counts, seconds))
            test, counts, seconds, phase = m.group(1), (0, 0, 0), 0.0, ""
        elif test and (m := _PHASE.search(stripped)):
            phase, seconds = m.group(1), seconds + float(m.group(2))
        elif test and phase == "generate" and (m := _CASES.search(stripped)):
            counts = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
        elif stripped.startswith("=" * 10) and test:
            rows.append(Row(test, *counts, seconds))
            test = ""
    if test:
        rows.append(Row(test, *counts, seconds))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--json", type=Path, help="write the rows here too")
    parser.add_argument("tests", nargs="*", default=["tests/fuzz"])
    args = parser.parse_args()
    env = dict(os.environ, ARMROOT_FUZZ_PROFILE="fuzz", ARMROOT_FUZZ_EXAMPLES=str(args.examples))
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--timeout=0",
            "--hypothesis-show-statistics",
            f"--hypothesis-seed={args.seed}",
            *args.tests,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.monotonic() - started
    rows = parse_statistics(proc.stdout)
    if proc.returncode != 0 or not rows:  # all of it: the falsifying example can be anywhere
        sys.stdout.write(proc.stdout + proc.stderr)
    print(f"\nseed {args.seed}, {args.examples} cases per test, {took / 60:.1f} min in all\n")
    print("| test | cases passed | failed | invalid (discarded) | time |")
    print("|---|---|---|---|---|")
    for row in rows:
        name = row.test.removeprefix("tests/fuzz/")
        print(f"| {name} | {row.passing} | {row.failing} | {row.invalid} | {row.seconds:.0f} s |")
    if args.json:
        args.json.write_text(json.dumps([r._asdict() for r in rows], indent=1) + "\n")
    return 1 if proc.returncode != 0 or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
