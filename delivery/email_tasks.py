"""Which definitions send e-mail, and what a hand run may offer: task keys and usernames.

A hand run (`haulflow tasks run`, the Prefect UI's `run-<category>-task`) takes a definition
that sends e-mail; the UI's form offers these keys and the active usernames as choices.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from core.errors import ConflictError, NotFoundError
from core.suggestions import did_you_mean
from lifecycle.generation import active_definitions
from models import Category, TaskDefinition, User


def sends_email(definition: TaskDefinition) -> bool:
    """Whether a definition's tasks are e-mails (a mailbox and an e-mail are configured)."""
    return bool(definition.mailbox_key and definition.task_spec.email)


def email_task_keys(*, session: Session) -> dict[Category, list[str]]:
    """The keys of the current e-mail definitions, per category, in configured order."""
    return {
        category: [
            definition.key
            for definition in active_definitions(session=session, category=category)
            if sends_email(definition)
        ]
        for category in Category
    }


def active_usernames(*, session: Session) -> list[str]:
    """Who may run a task by hand: the active users, by username."""
    statement = select(User.username).where(col(User.active)).order_by(col(User.username))
    return list(session.exec(statement).all())


def find_definition(
    *, session: Session, key: str, category: Category | None = None
) -> TaskDefinition:
    """The current definition of `key`; refuse one that cannot send e-mail, or of another
    category than `category` when given."""
    matches = [
        definition
        for current in Category
        for definition in active_definitions(session=session, category=current)
        if definition.key == key
    ]
    keys = email_task_keys(session=session)
    if not matches:
        known = session.exec(select(TaskDefinition).where(TaskDefinition.key == key)).first()
        hint = " (it is no longer in the current configuration)" if known else ""
        offered = keys[category] if category else [k for ks in keys.values() for k in ks]
        listed = ", ".join(offered) or "none"
        where = f"{category.value} " if category else ""
        raise NotFoundError(
            f"no task definition '{key}'{hint}{did_you_mean(key, offered)}; the {where}e-mail "
            f"tasks are: {listed} (`haulflow config show` lists them all)"
        )
    definition = matches[0]
    if category is not None and definition.category != category.value:
        raise ConflictError(
            f"'{key}' is a {definition.category} task, not a {category.value} task: run it "
            f"from run-{definition.category}-task (or `haulflow tasks run {key}`)"
        )
    if not sends_email(definition):
        raise ConflictError(
            f"'{key}' sends no e-mail (no mailbox or email in the configuration): "
            "a person completes it with `haulflow tasks done`"
        )
    return definition
