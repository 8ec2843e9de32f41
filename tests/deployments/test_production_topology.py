"""Two workers drain a backlog faster than one, every e-mail once, on the production topology.

The topology of `benchmarks.topology`: Prefect server on PostgreSQL with the Redis broker,
`prefect deploy` onto a process work pool, `prefect worker` processes, haulflow on
PostgreSQL, an SMTP server that takes 50 ms a message. Needs PostgreSQL
(HAULFLOW_TEST_DATABASE_URL) and Redis on 127.0.0.1:6379; under CI both are required.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.topology import drain, make_backlog, running_topology

# The reduced run of CI; `python -m benchmarks` drains 2,000 e-mails.
BACKLOG = 400
ACCEPT_SECONDS = 0.05
# Two dispatchers on two workers against one: the target is 1.6; this floor leaves room for
# a loaded CI machine (docs/benchmarks.md).
FLOOR = 1.4
REDIS_URL = "redis://127.0.0.1:6379/7"


@pytest.fixture
def postgresql_server() -> str:
    url = os.environ.get("HAULFLOW_TEST_DATABASE_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI must run the production topology: set HAULFLOW_TEST_DATABASE_URL")
        pytest.skip("the production topology needs HAULFLOW_TEST_DATABASE_URL")
    return url


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as error:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the production topology: Redis is not reachable ({error})")
        pytest.skip(f"the production topology needs Redis on 127.0.0.1:6379 ({error})")
    return REDIS_URL


def test_two_workers_drain_the_backlog_faster_than_one_each_email_once(
    tmp_path: Path, postgresql_server: str, redis_url: str
) -> None:
    with running_topology(
        tmp_path / "topology",
        postgresql=postgresql_server,
        redis_url=redis_url,
        accept_seconds=ACCEPT_SECONDS,
    ) as topology:
        topology.start_worker()
        one = drain(topology, make_backlog(BACKLOG, "ONE"), dispatchers=1, timeout=300)
        topology.start_worker()
        two = drain(topology, make_backlog(BACKLOG, "TWO"), dispatchers=2, timeout=300)

    for run in (one, two):
        assert (run.emails, run.missing, run.duplicates) == (BACKLOG, 0, 0), run
    ratio = two.per_second / one.per_second
    print(  # noqa: T201 - the figures belong in the CI log
        f"one worker {one.per_second:.1f} e-mails/s, two {two.per_second:.1f}: x{ratio:.2f}"
    )
    assert ratio >= FLOOR, (one, two)
