"""``python -m gaussflow``: the command line (same as the ``gaussflow`` script)."""

from .cli import main

raise SystemExit(main())
