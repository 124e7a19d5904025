"""`python -m dlbench.experiments ...`: see dlbench.experiments.cli."""

import sys

from dlbench.experiments.cli import main

if __name__ == "__main__":
    sys.exit(main())
