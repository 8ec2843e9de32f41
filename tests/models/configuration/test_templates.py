"""The shared sandboxed environment and the sample contexts templates are checked against."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from models.configuration.catalog import CATEGORIES
from models.configuration.templates import (
    OutputTooLargeError,
    SubjectError,
    render_subject,
    render_template,
    sample_context,
    template_environment,
    template_problem,
)


def context(category: str) -> dict[str, object]:
    return sample_context(category, task_key="k", task_name="Task", carrier="Transports Test")


@pytest.mark.parametrize("category", list(CATEGORIES))
def test_sample_context_has_every_catalog_field_with_its_type(category: str) -> None:
    spec = CATEGORIES[category]
    values = context(category)

    for field in spec.fields:
        head, _, tail = field.path.rpartition(".")
        holder = values[head or category]
        assert isinstance(holder, dict)
        assert isinstance(holder[tail], type(field.sample))
    assert values["carrier"] == {"name": "Transports Test"}
    assert bool(values["documents"]) is spec.has_documents


def test_typed_values_render_with_their_methods() -> None:
    values = context("invoice")
    source = "{{ invoice.amount + 1 }} {{ invoice.due_at.strftime('%d/%m/%Y') }}"

    assert render_template(source, values, html=False) == "1251.00 14/04/2025"
    assert isinstance(values["invoice"], dict)
    assert isinstance(values["invoice"]["amount"], Decimal)
    assert isinstance(values["invoice"]["due_at"], dt.datetime)


def test_in_timezone_filter_converts_to_the_party_zone() -> None:
    source = "{{ (order.delivery_at | in_timezone(customer.timezone)).strftime('%H:%M') }}"

    assert render_template(source, context("order"), html=False) == "10:15"


def test_in_timezone_on_an_absent_date_says_how_to_guard_it() -> None:
    source = "{{ (order.delivery_at | in_timezone(customer.timezone)).strftime('%H:%M') }}"
    values = context("order")
    values["order"] = values["order"] | {"delivery_at": None}

    with pytest.raises(ValueError, match=r"given no date .* write \{% if"):
        render_template(source, values, html=False)
    guarded = "{% if order.delivery_at %}" + source + "{% endif %}"
    assert render_template(guarded, values, html=False) == ""


def test_html_is_autoescaped_and_text_is_not() -> None:
    values = {"carrier": {"name": "Martin & Fils <SA>"}}

    assert (
        render_template("{{ carrier.name }}", values, html=True) == "Martin &amp; Fils &lt;SA&gt;"
    )
    assert render_template("{{ carrier.name }}", values, html=False) == "Martin & Fils <SA>"


def test_environment_is_shared_strict_and_sandboxed() -> None:
    assert template_environment(html=True) is template_environment(html=True)
    with pytest.raises(UndefinedError):
        render_template("{{ nothing }}", {}, html=False)
    with pytest.raises(SecurityError):
        render_template("{{ ''.__class__.__mro__ }}", {}, html=False)


def test_subject_is_trimmed_and_single_line() -> None:
    assert render_subject("  POD {{ order.reference }}\n", context("order")) == "POD ORD-1001"
    with pytest.raises(SubjectError):
        render_subject("POD\nBcc: x@evil.example", {})


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("{% include 'other.txt' %}", "cannot include or import"),
        ("{{ order.reference | nosuchfilter }}", "does not compile"),
        ("{% if x %}{{ y }}{% endif %}", "undefined name 'x'"),
        ("{{ order.amount / 0 }}", "fails on sample data"),
        ("{{ order.delivery_at | in_timezone('Mars/Olympus') }}", "fails on sample data"),
        ("{{ order.__class__ }}", "Python internals ('__class__')"),
    ],
)
def test_template_problems(source: str, words: str) -> None:
    problem = template_problem(source, context("order"), html=False)

    assert problem is not None and words in problem


def test_unrendered_branch_is_still_checked_for_names() -> None:
    source = "{% if order.international %}ok{% else %}{{ custmer.name }}{% endif %}"

    assert template_problem(source, context("order"), html=False) == (
        "uses an undefined name 'custmer'; available: carrier, customer, documents, order, "
        "task, trips"
    )


def test_unbounded_output_is_stopped_and_reported() -> None:
    runaway = (
        "{% for a in range(1000) %}{% for b in range(1000) %}xxxxxxxxxx{% endfor %}{% endfor %}"
    )

    with pytest.raises(OutputTooLargeError, match="more than 500,000 characters"):
        render_template(runaway, {}, html=False)
    problem = template_problem(runaway, context("order"), html=False)
    assert problem is not None and "more than 500,000 characters" in problem
    # Just under the bound renders in full.
    assert (
        len(render_template("{% for a in range(49999) %}xxxxxxxxxx{% endfor %}", {}, html=False))
        == 499_990
    )


@pytest.mark.parametrize(
    "source", ["{{ order.customer_id }}", "{{ order.metadata.tables }}", "{{ order.__table__ }}"]
)
def test_orm_attributes_are_not_in_the_context(source: str) -> None:
    # The context is plain data: what an ORM row would offer is simply not there.
    assert template_problem(source, context("order"), html=False) is not None
