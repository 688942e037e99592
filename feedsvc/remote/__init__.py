"""HTTP → feed documents → articles → store: the remote ingest path.

:mod:`.fetch` makes polite conditional requests, :mod:`.parse` turns an RSS
or Atom document into sanitised items (pure), and :mod:`.ingest` decides
which sources are due, fetches them and stores their items.  It shares the
dedup decision with the seed path through :mod:`feedsvc.deduper` and never
imports it.
"""
