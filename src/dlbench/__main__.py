"""`python -m dlbench <command> ...`: the same as the `dlbench` console script (see dlbench.commands)."""

import sys

from dlbench.commands import main

if __name__ == "__main__":
    sys.exit(main())
