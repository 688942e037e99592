"""HTTP → feed documents → articles → store: the remote ingest path.

:mod:`.ingest` decides which sources are due, fetches them and stores their
items, in three steps whose values are in :mod:`.plans`:

* fetching: :mod:`.fetch` makes polite conditional requests (libcurl's side
  in :mod:`.exchange`, the pure policy in :mod:`.politeness`);
* preparing (:mod:`.prepare`, no store): :mod:`.parse` turns an RSS or Atom
  document into the values of :mod:`.items` (entity tricks refused by
  :mod:`.xmlsafety`, odd documents read by :mod:`.fallback`, HTML cleaned by
  :mod:`.sanitize`, dates by :mod:`.dates`, links by :mod:`.links`), and
  :mod:`.keys` says how each entry is identified;
* storing: :mod:`.apply` decides what each entry is and writes it.

It shares the dedup decision with the seed path through
:mod:`feedsvc.deduper` and never imports it.
"""
