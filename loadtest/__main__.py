"""`python -m intentd.loadtest`: the load generator without the `intentd` CLI."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
