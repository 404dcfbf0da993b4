"""``python -m depthbench`` runs the CLI."""

import sys

from depthbench.cli import main

sys.exit(main())
