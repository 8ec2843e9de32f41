"""The one Jinja environment for task e-mails, the context templates see, and template checks.

Templates are rendered in an immutable sandbox with `StrictUndefined`: a misspelt name fails
instead of silently rendering nothing, Python internals (`__class__`) are out of reach, and
time, memory and output are bounded (`sandbox.py`).
HTML bodies are autoescaped; subjects and text bodies are not.

The context of a task's e-mail, by category (entities are dicts of the category's own fields
from `catalog.py`; datetimes are timezone-aware `datetime`, amounts `Decimal`):

| name            | order            | booking          | trip                  | invoice        |
|-----------------|------------------|------------------|-----------------------|----------------|
| `carrier`       | `{name}`         | `{name}`         | `{name}`              | `{name}`       |
| `task`          | `{key, name, id}`| same             | same                  | same           |
| `order`         | the order        | -                | -                     | invoiced order |
| `customer`      | order's customer | -                | -                     | -              |
| `trips`         | trips carrying it| -                | -                     | -              |
| `booking`       | -                | the booking      | -                     | -              |
| `trip`          | -                | -                | the trip              | -              |
| `subcontractor` | -                | booking's party  | trip's (None if own)  | -              |
| `orders`        | -                | booked orders    | orders on the trip    | -              |
| `customers`     | -                | -                | customers of orders   | -              |
| `invoice`       | -                | -                | -                     | the invoice    |
| `party`         | -                | -                | -                     | invoiced party |
| `documents`     | `[{type, filename, uploaded_as, size, sha256}]` attached; none on bookings |

Parties are dicts of `reference, name, country, language, timezone`. Besides Jinja's built-in
filters, `in_timezone(zone)` converts a datetime to a zone: `order.delivery_at |
in_timezone(customer.timezone)`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Template, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError

from models.configuration.catalog import CATEGORIES, ORDER, TRIP, CategorySpec
from models.configuration.sandbox import (
    BoundedSandbox,
    TemplateLimitError,
    check_clock,
    render_deadline,
)

_INCLUDES = (nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)


# A body longer than this is refused: a loop in a template must not fill the mailbox or memory.
MAX_RENDERED_CHARS = 500_000


class SubjectError(ValueError):
    """A subject rendered to more than one line (a header-injection risk)."""


class OutputTooLargeError(ValueError):
    """A template rendered past `MAX_RENDERED_CHARS`; rendering stopped there."""


def in_timezone(value: dt.datetime | None, zone: str) -> dt.datetime:
    """The `in_timezone` filter: the same instant in the IANA time zone `zone`."""
    if value is None:
        raise ValueError(
            "in_timezone was given no date (this entity has none); "
            "write {% if the_date %}…{% endif %} around it"
        )
    return value.astimezone(ZoneInfo(zone))


@lru_cache(maxsize=2)
def template_environment(*, html: bool) -> BoundedSandbox:
    """The sandboxed environment for user templates; `html` turns autoescaping on."""
    environment = BoundedSandbox(autoescape=html, keep_trailing_newline=True)
    environment.filters["in_timezone"] = in_timezone
    return environment


def render_template(source: str, context: Mapping[str, Any], *, html: bool) -> str:
    """Render a user template (body) with the shared environment, bounded in size."""
    return _bounded(compiled(source, html=html), context)


@lru_cache(maxsize=1024)
def compiled(source: str, *, html: bool) -> Template:
    """A template compiled once per process: compiling costs about a millisecond, as much
    as rendering several, and the same few templates render for every e-mail. The sandbox
    checks happen when it renders, so a cached template is as bounded as a fresh one."""
    return template_environment(html=html).from_string(source)


def _bounded(template: Template, context: Mapping[str, Any]) -> str:
    # Rendering piece by piece stops a runaway loop early instead of after building it all.
    parts: list[str] = []
    size = 0
    with render_deadline():
        for part in template.generate(context):
            check_clock()
            size += len(part)
            if size > MAX_RENDERED_CHARS:
                raise OutputTooLargeError(
                    f"the template renders more than {MAX_RENDERED_CHARS:,} characters; "
                    "shorten it or bound its loops"
                )
            parts.append(part)
    return "".join(parts)


def render_subject(source: str, context: Mapping[str, Any]) -> str:
    """Render a subject, trimmed; raise SubjectError if it spans several lines."""
    return _single_line(render_template(source, context, html=False))


def _single_line(subject: str) -> str:
    subject = subject.strip()
    if "\r" in subject or "\n" in subject:
        raise SubjectError("the subject must render to a single line (it contains a line break)")
    return subject


def _own(spec: CategorySpec) -> dict[str, Any]:
    return {field.path: field.sample for field in spec.fields if "." not in field.path}


def _party(spec: CategorySpec, prefix: str | None = None) -> dict[str, Any]:
    prefix = prefix or spec.party
    return {
        field.path.removeprefix(f"{prefix}."): field.sample
        for field in spec.fields
        if field.path.startswith(f"{prefix}.")
    }


def _documents(reference: str) -> list[dict[str, Any]]:
    return [
        {
            "type": kind,
            "filename": f"{reference}-{kind}.pdf",
            "uploaded_as": f"scan-{kind}.pdf",
            "size": size,
            "sha256": digest * 64,
        }
        for kind, size, digest in (("pod", 183_204, "a"), ("cmr", 241_877, "b"))
    ]


# The entities of other categories a context carries, by name: a list of them, or one.
_CARRIED: dict[str, tuple[tuple[str, CategorySpec, bool], ...]] = {
    "order": (("trips", TRIP, True),),
    "booking": (("orders", ORDER, True),),
    "trip": (("orders", ORDER, True),),
    "invoice": (("order", ORDER, False),),
}


def sample_context(category: str, *, task_key: str, task_name: str, carrier: str) -> dict[str, Any]:
    """A context typed like the real one, for checking templates of a category's tasks."""
    spec = CATEGORIES[category]
    context: dict[str, Any] = {
        "carrier": {"name": carrier},
        "task": {"key": task_key, "name": task_name, "id": "5f0c6b1e-2a4d-4c8e-9b7a-3d2f1e0c9a88"},
        spec.name: _own(spec),
        "documents": _documents(str(_own(spec)["reference"])) if spec.has_documents else [],
    }
    for name, carried, many in _CARRIED[category]:
        context[name] = [_own(carried)] if many else _own(carried)
    if category == "order":
        context["customer"] = _party(spec)
    elif category in ("booking", "trip"):
        context["subcontractor"] = _party(spec)
        if category == "trip":
            context["customers"] = [_party(ORDER)]
    elif category == "invoice":
        context["party"] = _party(spec)
    return context


def _template_line(error: BaseException) -> int | None:
    # Jinja rewrites tracebacks so that template frames carry the template's own line numbers.
    line = None
    trace = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == "<template>":
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


def _at(line: int | None) -> str:
    return f" (template line {line})" if line else ""


def template_problem(
    source: str,
    context: Mapping[str, Any],
    *,
    html: bool,
    subject: bool = False,
    absent: list[str] | None = None,
) -> str | None:
    """What is wrong with a template, checked statically then rendered; None if it is fine.

    With `absent` (`absent_values`), it is rendered again with each of those values empty:
    a template that works on the sample but fails on an order without a delivery date is
    found when the configuration is checked, not when the e-mail should go out."""
    environment = template_environment(html=html)
    try:
        tree = environment.parse(source)
        # Compiling finds what parsing does not, such as an unknown filter.
        template = environment.from_string(tree)
    except TemplateSyntaxError as error:
        return f"does not compile{_at(error.lineno)}: {error.message}"
    for node in tree.find_all(_INCLUDES):
        return f"cannot include or import other templates{_at(node.lineno)}"
    for access in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = getattr(access, "attr", None) or getattr(getattr(access, "arg", None), "value", None)
        if isinstance(name, str) and name.startswith("_"):
            return (
                f"reaches for Python internals ('{name}'){_at(access.lineno)}; "
                "templates may only use the values they are given"
            )
    undefined = sorted(meta.find_undeclared_variables(tree) - set(context))
    if undefined:
        return f"uses an undefined name '{undefined[0]}'; available: {', '.join(sorted(context))}"
    problem = _render_problem(template, context, subject=subject)
    if problem is not None or absent is None:
        return problem
    # Then as real data may come: each value the TMS may leave empty, empty in turn.
    for path in absent:
        when, guard = _absence(path)
        try:
            rendered = _bounded(template, _without(context, path))
            if subject:
                _single_line(rendered)
        except Exception as error:  # what the template raises on that data: the file's fault
            detail = error.message if isinstance(error, UndefinedError) else error
            return (
                f"fails when {when}, as real data may have it"
                f"{_at(_template_line(error))}: {type(error).__name__}: {detail}"
                + ("" if "{% if" in str(detail) else f"; {guard}")
            )
        # The sample holds no "None": one in the output is the empty value printed (unless
        # the template writes the word itself).
        if "None" in rendered and "None" not in source:
            return f"prints 'None' when {when}, as real data may have it; {guard}"
    return None


def _render_problem(template: Template, context: Mapping[str, Any], *, subject: bool) -> str | None:
    try:
        rendered = _bounded(template, context)
        if subject:
            _single_line(rendered)
    except UndefinedError as error:
        return f"uses an undefined value{_at(_template_line(error))}: {error.message}"
    except TemplateLimitError as error:
        return f"is unbounded{_at(_template_line(error))}: {error}"
    except SecurityError as error:
        return f"reaches for Python internals{_at(_template_line(error))}: {error}"
    except (SubjectError, OutputTooLargeError) as error:
        return str(error)
    # Whatever a user template raises on sample data is a problem of the file, not a bug.
    except Exception as error:
        return f"fails on sample data{_at(_template_line(error))}: {type(error).__name__}: {error}"
    return None


def absent_values(category: str, *, kept: str | None = None) -> list[str]:
    """What real data of `category` may lack, as templates name it: its optional fields
    (`order.delivery_at`), the objects it may have none of (`subcontractor`), the entities it
    carries (`orders[]`, a trip with none yet) and their optional fields
    (`orders[].delivery_at`); not `kept`, the date a date-scheduled task waits for (it is
    there when the task runs)."""
    spec = CATEGORIES[category]
    fields = [f"{spec.name}.{field.path}" for field in spec.fields if field.optional]
    carried = []
    for name, other, many in _CARRIED[category]:
        prefix = f"{name}[]" if many else name
        carried += [prefix] if many else []
        carried += [f"{prefix}.{field.path}" for field in other.fields if field.optional]
    paths = [*fields, *spec.optional_objects, *carried]
    return [path for path in paths if path != f"{spec.name}.{kept}"]


def _absence(path: str) -> tuple[str, str]:
    """When `path` is absent, and how a template guards against it, in words."""
    name, many, field = path.partition("[]")
    if many and not field:
        return f"{name} is empty", f"write {{% if {name} %}} … {{% endif %}} around what uses it"
    if many:
        field = field.removeprefix(".")
        return (
            f"{field} is empty on one of {name}",
            f"write {{% if … %}} … {{% endif %}} around what uses {field} in the loop over {name}",
        )
    when = f"{path} is empty" if "." in path else f"there is no {path}"
    return when, f"write {{% if {path} %}} … {{% endif %}} around what uses it"


def _without(context: Mapping[str, Any], path: str) -> dict[str, Any]:
    """`context` with the value at `path` None: `order.delivery_at`, `subcontractor`;
    `orders[]` empty, `orders[].delivery_at` None on each of them."""
    name, many, field = path.partition("[]")
    if many:
        field = field.removeprefix(".")
        items = [{**item, field: None} for item in context[name]] if field else []
        return {**context, name: items}
    head, _, tail = path.partition(".")
    if not tail:
        return {**context, head: None}
    return {**context, head: {**context[head], tail: None}}
