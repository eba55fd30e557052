"""``python -m svdwidgets.cli``: the ``svdwidgets`` command."""

import sys

from svdwidgets.cli.args import main

sys.exit(main())
