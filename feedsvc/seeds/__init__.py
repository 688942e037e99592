"""Seed files → articles → store: the local ingest path.

:mod:`.scan` lists the seed files of the seeds folder, :mod:`.decode` and
:mod:`.parse` read one seed file's bytes into an
:class:`~feedsvc.models.Article` (pure), :mod:`.prepare` decodes, parses and
fingerprints files in worker processes, and :mod:`.ingest` scans the folder,
skips what the store already has and records each file's decision.  It
shares the dedup decision with the remote path through
:mod:`feedsvc.deduper` and never imports it.
"""
