"""``python -m feedsvc``: the same command as the ``feedsvc`` script (:mod:`feedsvc.cli`)."""

from .cli import main

main()
