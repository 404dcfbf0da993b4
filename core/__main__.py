"""``python -m depthbench`` runs the CLI."""

import sys

from depthbench.cli import main

if __name__ == "__main__":
    sys.exit(main())
