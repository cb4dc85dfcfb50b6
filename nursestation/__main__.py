"""`python -m nursestation` runs the same entry point as the `nursestation` command."""

import sys

from nursestation.cli import main

if __name__ == "__main__":
    sys.exit(main())
