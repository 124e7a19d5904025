"""`python -m dlbench.experiments ...`: see dlbench.experiments.command."""

import sys

from dlbench.experiments.command import main

if __name__ == "__main__":
    sys.exit(main())
