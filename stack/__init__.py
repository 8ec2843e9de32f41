"""The local stack of `haulflow up` and its health check: Prefect server, deployments, sink."""
