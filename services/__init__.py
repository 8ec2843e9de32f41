"""Use cases, one function each, owning their transaction: what the CLI and the HTTP API call.

A use case takes typed input, opens and commits its own session, and returns a typed result
the caller prints or serialises; the wake-up of the dispatcher is the commit itself
(`core.wakeups`). Modules are imported one by one (this package imports nothing), so a
command pays only for what its use case needs.
"""
