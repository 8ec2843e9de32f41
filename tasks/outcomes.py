"""How a run ends when it could not do everything: a state an operator notices in the list.

Prefect's runs list shows a state's name in its type's colour. A run that sent everything
ends `Completed` (green); one that left something behind ends in a *failed* state (red)
named after what needs a look, most serious first:

- `Failed`: a task failed for good, or an e-mail was accepted but could not be recorded;
- `Held`: an uncertain delivery was handed to a person (`on_uncertain_delivery: hold`);
- `Postponed`: a temporary failure (4xx, timeout, refused connection, store unreachable);
  the task is retried later by itself.

Each problem is also a WARNING in the run's log naming the task, the entity and the reason,
and the run's name ends with what it sent, so the list reads without opening a run.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from prefect import get_run_logger
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

# The lists of `tasks.mail.summarize` that mean something was left behind, and the verb.
PROBLEM_LISTS = {
    "failed": "failed",
    "uncertain": "sent but not recorded",
    "held": "held for a person",
    "retrying": "postponed",
}
# Prefect shows at most this many characters of a run name comfortably.
RUN_NAME_LIMIT = 120

Problems = Mapping[str, Sequence[Mapping[str, Any]]]


class WorkLeftBehind(Exception):  # noqa: N818  (the outcome a failed state carries, not a bug)
    """What a run that ended `Postponed`, `Held` or `Failed` did; `result` holds its counts.

    `state.result()` raises it, like any failed state's; `raise_on_failure=False` returns it.
    """

    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        self.result = result


def result_of(state: State[Any]) -> Any:
    """A finished run's result, also when it ended in a failed state of `final_state`."""
    result = state.result(raise_on_failure=False)
    return result.result if isinstance(result, WorkLeftBehind) else result


def warn_problems(problems: Problems) -> None:
    """One WARNING per problem: `send-pod on order:ORD-1 postponed: 451 greylisted`."""
    logger = get_run_logger()
    for kind, verb in PROBLEM_LISTS.items():
        for problem in problems.get(kind, ()):
            logger.warning(
                "%s on %s %s: %s", problem["task key"], problem["entity"], verb, problem["error"]
            )


def final_state(problems: Problems, *, summary: str, result: Any) -> State[Any]:
    """`Completed`, or a failed state named after the most serious problem, with `result`."""
    counts = {kind: len(problems.get(kind, ())) for kind in PROBLEM_LISTS}
    left = [f"{count} {PROBLEM_LISTS[kind]}" for kind, count in counts.items() if count]
    if not left:
        return Completed(message=summary, data=result)
    message = f"{summary}; {', '.join(left)}: see the WARNING lines of the log"
    if counts["failed"] or counts["uncertain"]:
        name = "Failed"
    elif counts["held"]:
        name = "Held"
    else:
        name = "Postponed"
    return Failed(name=name, message=message, data=WorkLeftBehind(message, result))


def carried(state: State[Any], *, summary: str, result: Any, inner: State[Any]) -> State[Any]:
    """`state`, or the inner run's failed state when it is the more serious, with `result`."""
    if not inner.is_failed() or _SEVERITY.index(inner.name or "Failed") >= _SEVERITY.index(
        state.name or "Completed"
    ):
        return state
    message = f"{summary}; {inner.message}"
    return Failed(name=inner.name, message=message, data=WorkLeftBehind(message, result))


# State names, most serious first.
_SEVERITY = ("Failed", "Held", "Postponed", "Completed")


async def rename_run(name: str) -> None:
    """Give the current flow run a name that says what it did."""
    from prefect.client.orchestration import get_client

    current = flow_run.get_id()
    if current is None:
        return
    if len(name) > RUN_NAME_LIMIT:
        name = name[: RUN_NAME_LIMIT - 1] + "…"
    async with get_client() as client:
        await client.update_flow_run(uuid.UUID(current), name=name)


def shown(items: Sequence[str], limit: int = 3) -> str:
    """`ORD-1, ORD-2, ORD-3 +4`: a few items of a list, and how many more."""
    more = f" +{len(items) - limit}" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
