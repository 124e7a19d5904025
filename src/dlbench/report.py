"""`python -m dlbench.report <sweep dir>`: make a sweep's comparison report again from its files."""

from __future__ import annotations

import argparse
import sys

from dlbench.reporting.comparison import write_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlbench.report", description=__doc__)
    parser.add_argument("sweep_dir", help="a multirun's sweep directory, e.g. multirun/2026-01-31/12-00-00-000000")
    args = parser.parse_args(argv)
    try:
        written = write_report(args.sweep_dir)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
