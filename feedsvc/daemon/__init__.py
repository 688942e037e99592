"""The long-running service: the scheduler of ingest and publish jobs, the
seeds-folder watcher and the heartbeat ``feedsvc status`` reads.

:mod:`~feedsvc.daemon.scheduler` (the
:class:`~feedsvc.daemon.scheduler.Daemon`: what runs when) builds on
:mod:`~feedsvc.daemon.runner` (one job at a time under the locks, recorded
in the heartbeat).  :mod:`~feedsvc.daemon.jobs` is what each job does,
:mod:`~feedsvc.daemon.policy` decides when (pure functions),
:mod:`~feedsvc.daemon.heartbeat` is the status file,
:mod:`~feedsvc.daemon.watch` the seeds-folder watcher,
:mod:`~feedsvc.daemon.process` the signals and the one-daemon lock, and
:mod:`~feedsvc.daemon.logs` the log format."""
