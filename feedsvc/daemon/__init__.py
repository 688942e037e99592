"""The long-running service: the scheduler of ingest and publish jobs, the
seeds-folder watcher and the heartbeat ``feedsvc status`` reads."""
