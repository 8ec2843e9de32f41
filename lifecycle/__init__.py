"""Task lifecycle rules as plain functions: generation, schedules, recipients, actions, views.

Nothing here imports Prefect: the CLI and the Prefect steps in `tasks/` both call these
functions, and unit tests run them without an engine.
"""
