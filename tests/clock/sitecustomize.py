"""Moves this Python process's clock by `HAULFLOW_TEST_CLOCK_OFFSET_SECONDS`, ticking.

`./dev test` puts this folder on PYTHONPATH for its moved-clock passes, so every Python
process of the run (pytest, the CLI in a subprocess, the Prefect server, `haulflow serve`
and its flow runs) starts on the same moved clock. time-machine moves `time.time()` and
`datetime.now()`; monotonic clocks and sleeps are untouched, so timeouts keep their length.
"""

import os

_offset = os.environ.get("HAULFLOW_TEST_CLOCK_OFFSET_SECONDS")
if _offset:
    import time

    import time_machine

    time_machine.travel(time.time() + float(_offset), tick=True).start()
