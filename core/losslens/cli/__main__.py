"""`python -m losslens.cli`: the same as the `losslens` command."""
import sys

from losslens.cli import main

sys.exit(main())
