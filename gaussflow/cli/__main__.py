"""``python -m gaussflow.cli``: the command line."""

from . import main

raise SystemExit(main())
