"""Every problem of an import file is reported at once, located `FILE:LINE`, naming the entity."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import Session

from core.errors import InvalidFileError, Problem
from ingestion.importer import ImportReport, import_file

# Each test also runs with every item in a chunk of its own.
pytestmark = pytest.mark.usefixtures("every_chunk_size")

ImportText = Callable[..., ImportReport]

PARTIES = """\
parties:
  - reference: ACME
    kind: customer
    name: ACME SA
    country: FR
    language: fr
    timezone: Europe/Paris
  - reference: BETA
    kind: customer
    name: Beta BV
    country: NL
    language: nl
    timezone: Europe/Amsterdam
"""


@pytest.fixture
def problems_of(session: Session, tmp_path: Path) -> Callable[..., list[Problem]]:
    """The problems importing `text` reports (it must fail)."""

    def run(text: str, name: str = "entities.yaml") -> list[Problem]:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        with pytest.raises(InvalidFileError) as raised:
            import_file(path, session=session, by="tester")
        assert all(problem.file == str(path) for problem in raised.value.problems)
        assert str(raised.value).startswith(f"{path}:")
        return raised.value.problems

    return run


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the only line of `text` containing `needle`."""
    [line] = [n for n, content in enumerate(text.splitlines(), 1) if needle in content]
    return line


def only(problems: list[Problem]) -> tuple[int, str]:
    """The line and message of the single problem reported."""
    [problem] = problems
    return problem.line, problem.message


def test_unknown_party(problems_of: Callable[..., list[Problem]]) -> None:
    text = "orders:\n  - reference: ORD-1001\n    status: planned\n    customer: ACME\n"
    assert only(problems_of(text)) == (
        4,
        "order ORD-1001: customer 'ACME' is neither in this file nor in the database; "
        "add it under parties",
    )


def test_unknown_status_lists_the_allowed_ones(problems_of: Callable[..., list[Problem]]) -> None:
    text = PARTIES + "orders:\n  - {reference: ORD-1, customer: ACME, status: deliverd}\n"
    line, message = only(problems_of(text))
    assert line == line_of(text, "deliverd")
    assert message.startswith("order ORD-1: status: 'deliverd' is not allowed; use one of ")
    assert "planned, loaded, in_transit, delivered, cancelled" in message
    assert "did you mean 'delivered'?" in message


def test_bad_timezone_and_bad_email(problems_of: Callable[..., list[Problem]]) -> None:
    text = PARTIES.replace("Europe/Paris", "Europe/Pariss")
    text += "    contacts:\n      - {email: ops.beta.example, roles: [operations]}\n"
    problems = problems_of(text)
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [
        (line_of(text, "Pariss"), "party ACME"),
        (line_of(text, "ops.beta"), "party BETA"),
    ]
    assert "'Europe/Pariss' is not a timezone" in problems[0].message
    assert "did you mean 'Europe/Paris'?" in problems[0].message
    assert "'ops.beta.example' is not a valid e-mail address" in problems[1].message


def test_duplicate_reference(problems_of: Callable[..., list[Problem]]) -> None:
    text = (
        PARTIES
        + "orders:\n  - {reference: O1, customer: ACME}\n  - {reference: O1, customer: BETA}\n"
    )
    assert only(problems_of(text)) == (
        16,
        "order O1: appears twice in this file (first at line 15); keep one",
    )


def test_external_reference_is_unique_within_one_party_only(
    problems_of: Callable[..., list[Problem]], import_text: ImportText
) -> None:
    orders = """\
orders:
  - {reference: O1, customer: ACME, customer_reference: PO-77}
  - {reference: O2, customer: BETA, customer_reference: PO-77}
"""
    report = import_text(PARTIES + orders)
    assert report.counts["orders"].created == 2

    clash = PARTIES + orders + "  - {reference: O3, customer: ACME, customer_reference: PO-77}\n"
    clash += "  - {reference: O4, customer: BETA, customer_reference: PO-9}\n"
    clash += "  - {reference: O5, customer: BETA, customer_reference: PO-9}\n"
    first, second = problems_of(clash)
    assert (first.line, first.message) == (
        line_of(clash, "O3"),
        "order O3: customer_reference 'PO-77' is already used by order O1 of customer ACME "
        f"(line {line_of(clash, 'O1')}); it must be unique for each customer",
    )
    assert second.line == line_of(clash, "O5")

    database_clash = (
        PARTIES + "orders:\n  - {reference: O9, customer: ACME, customer_reference: PO-77}\n"
    )
    assert (
        "used by order O1 of customer ACME (the database)" in only(problems_of(database_clash))[1]
    )


def test_unknown_role_with_suggestion(problems_of: Callable[..., list[Problem]]) -> None:
    text = PARTIES + "    contacts:\n      - email: ops@beta.example\n        roles:\n"
    text += "          - operations\n          - cmr-pod\n"
    assert only(problems_of(text)) == (
        line_of(text, "- cmr-pod"),
        "party BETA: contact ops@beta.example: unknown role 'cmr-pod'; "
        "did you mean 'cmr-pod-processing'?",
    )


def test_unknown_keys_with_suggestion(problems_of: Callable[..., list[Problem]]) -> None:
    text = PARTIES + "orders:\n  - reference: O1\n    customer: ACME\n    costumer_ref: X\n"
    text += "    pickup: {country: FR, time: '2026-01-01T08:00'}\nsubcontractors: []\n"
    problems = problems_of(text)
    assert [(p.line, p.message) for p in problems] == [
        (17, "order O1: unknown key 'costumer_ref'; did you mean 'customer_reference'?"),
        (18, "order O1: pickup: unknown key 'time'; allowed keys: country, at"),
        (
            19,
            "unknown section 'subcontractors'; sections are parties, users, orders, bookings, "
            "trips, invoices",
        ),
    ]


def test_yaml_syntax_error(problems_of: Callable[..., list[Problem]]) -> None:
    text = PARTIES + "orders:\n  - reference: O1\n    customer: ACME\n   status: planned\n"
    line, message = only(problems_of(text))
    assert line == line_of(text, "status: planned")
    assert message.startswith("invalid YAML: ")


def test_every_problem_is_reported_at_once(problems_of: Callable[..., list[Problem]]) -> None:
    text = PARTIES.replace("country: FR", "country: fr").replace("name: Beta BV", 'name: "B\\nV"')
    text += """\
users:
  - {username: alice, name: Alice, email: alice@carrier}
orders:
  - {reference: O1, customer: NOPE, amount: "12.345", currency: EUR}
  - {reference: O2, customer: ACME, amount: "12", pickup: {at: "2026-02-30T08:00"}}
trips:
  - reference: T1
    stops:
      - {kind: pickup, order: O9}
invoices:
  - {reference: I1, kind: purchase, party: ACME, amount: 1, currency: euro}
"""
    found = sorted((problem.line, problem.message) for problem in problems_of(text))
    alice = line_of(text, "alice@carrier")
    [alice_message] = [message for line, message in found if line == alice]
    assert found == sorted(
        [
            (
                5,
                "party ACME: country: 'fr' is not an ISO 3166 country code such as FR, BE or "
                "NL; did you mean 'FR'?",
            ),
            (
                10,
                "party BETA: name: 'B\\nV' contains U+000A LINE FEED (a line break); write it "
                "on one line with visible characters only",
            ),
            (alice, alice_message),
            (
                line_of(text, "O1,"),
                "order O1: amount: decimal input should have no more than 2 decimal places",
            ),
            # A wrong field does not hide what the item refers to.
            (
                line_of(text, "O1,"),
                "order O1: customer 'NOPE' is neither in this file nor in the database; "
                "add it under parties",
            ),
            (
                line_of(text, "O2,"),
                "order O2: pickup.at: '2026-02-30T08:00' is not an ISO 8601 date-time such as "
                "2026-12-01T08:00 (local time) or 2026-12-01T08:00+01:00",
            ),
            (
                line_of(text, "O9"),
                "trip T1: order 'O9' (stop 1) is neither in this file nor in the database; "
                "add it under orders",
            ),
            (
                line_of(text, "euro"),
                "invoice I1: currency: 'euro' is not a currency code such as EUR, GBP or CHF",
            ),
        ]
    )
    assert alice_message.startswith("user alice: email: 'alice@carrier' is not a valid e-mail")


def test_reference_and_kind_checks_across_items(
    problems_of: Callable[..., list[Problem]],
) -> None:
    text = (
        PARTIES
        + """\
orders:
  - {reference: O1, customer: NOPE}
  - {reference: O2, customer: ACME, amount: 10}
bookings:
  - {reference: B1, subcontractor: ACME, orders: [O2, O7]}
invoices:
  - {reference: I1, kind: revenue, party: ACME, credits: I0, amount: 1, currency: EUR}
  - {reference: I2, kind: credit_note, party: ACME, credits: I0, amount: 1, currency: EUR}
"""
    )
    assert [(p.line, p.message) for p in problems_of(text)] == [
        (
            15,
            "order O1: customer 'NOPE' is neither in this file nor in the database; "
            "add it under parties",
        ),
        (16, "order O2: amount needs a currency (e.g. currency: EUR)"),
        (
            18,
            "booking B1: order 'O7' is neither in this file nor in the database; "
            "add it under orders",
        ),
        (18, "booking B1: subcontractor 'ACME' is a customer, not a subcontractor"),
        (20, "invoice I1: only a credit note (kind: credit_note) credits another invoice"),
        (
            21,
            "invoice I2: credited invoice 'I0' is neither in this file nor in the database; "
            "add it under invoices",
        ),
    ]


def test_references_into_the_database_resolve(
    import_text: ImportText, problems_of: Callable[..., list[Problem]]
) -> None:
    import_text(PARTIES + "orders:\n  - {reference: O1, customer: ACME}\n")

    report = import_text(
        "trips:\n  - reference: T1\n    stops:\n      - {kind: pickup, order: O1}\n"
    )

    assert report.counts["trips"].created == 1
    assert only(problems_of("orders:\n  - {reference: O2, customer: ACME, status: x}\n"))[0] == 2


def test_json_problems_are_located(problems_of: Callable[..., list[Problem]]) -> None:
    text = '{\n  "orders": [\n    {"reference": "O1",\n     "customer": "ACME"}\n  ]\n}\n'
    assert only(problems_of(text, "entities.json"))[0] == 4
