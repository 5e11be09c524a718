"""The HTTP service: the composition root, routes, webhook ingest, auth, Slack interactions, the console."""
