"""``python -m golive``: the same as the ``golive`` command."""

import sys

from golive.cli import main

if __name__ == "__main__":
    sys.exit(main())
