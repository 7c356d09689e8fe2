"""``python -m finemotor``: the same as the ``finemotor`` command."""

from finemotor.cli import main

raise SystemExit(main())
