"""The generation steps as plain functions: ids in, counts out, one committed batch each."""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from models import Category, Order, Task, TaskEvent
from tasks.generation import generate_batch, generate_pending
from tests.factories import apply_config, make_order
from tests.flows.conftest import CONFIG


def test_a_batch_of_ids_is_generated_and_committed(session: Session) -> None:
    apply_config(session, CONFIG)
    orders = [make_order(session) for _ in range(3)]
    session.commit()

    counts = generate_batch.fn("order", [str(order.id) for order in orders[:2]])

    assert counts == {
        "requested": 2,
        "entities": 2,
        "created": 4,
        "already_present": 0,
        "not_matching": 0,
    }
    assert session.exec(select(func.count()).select_from(Task)).one() == 4
    # Outside a flow run the history names the step itself.
    assert set(session.exec(select(TaskEvent.by)).all()) == {"generate-tasks"}
    again = generate_batch.fn("order", [str(orders[0].id)])
    assert (again["requested"], again["entities"], again["created"]) == (1, 0, 0)


def test_pending_entities_are_taken_oldest_first_up_to_the_limit(session: Session) -> None:
    apply_config(session, CONFIG)
    for _ in range(3):
        make_order(session)
    session.commit()

    first = generate_pending.fn(Category.ORDER.value, 2)
    second = generate_pending.fn(Category.ORDER.value, 2)
    third = generate_pending.fn(Category.ORDER.value, 2)

    assert [(c["requested"], c["created"]) for c in (first, second, third)] == [
        (2, 4),
        (1, 2),
        (0, 0),
    ]
    pending = select(func.count()).select_from(Order).where(col(Order.tasks_generated_at).is_(None))
    assert session.exec(pending).one() == 0
