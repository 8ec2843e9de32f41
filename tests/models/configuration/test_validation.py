"""Each class of configuration problem is reported with its file, line and a helpful message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from core.errors import InvalidFileError, Problem
from models.configuration import load_configuration, validate_configuration

Check = Callable[..., list[Problem]]
LineOf = Callable[[str, str], int]

EXAMPLE = Path(__file__).parents[3] / "examples" / "tasks.yaml"


def single(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


def task(body: str, section: str = "orders") -> str:
    """A `tasks:` section holding one task whose lines are given without indentation."""
    lines = body.strip("\n").splitlines()
    indented = "\n".join(
        ("    - " if index == 0 else "      ") + line for index, line in enumerate(lines)
    )
    return f"tasks:\n  {section}:\n{indented}\n"


def test_example_validates_without_problems() -> None:
    configuration, problems = validate_configuration(EXAMPLE)

    assert problems == []
    assert configuration is not None
    keys = [entry.definition.key for entry in configuration.definitions()]
    assert keys[:2] == ["send-pod-manual", "send-pod"]
    assert {entry.category for entry in configuration.definitions()} == {
        "order",
        "booking",
        "trip",
        "invoice",
    }


def test_unknown_role_is_reported_with_a_suggestion(
    check: Check, header: str, line_of: LineOf
) -> None:
    text = header + task("key: a\nname: A\nintended_for: {roles: [operatons]}")

    problem = single(check(text))

    assert problem.line == line_of(text, "operatons")
    assert "task 'a', intended_for.roles[0]: unknown role 'operatons'" in problem.message
    assert "did you mean 'operations'?" in problem.message


def test_duplicate_yaml_key_is_reported_at_the_second_occurrence(
    check: Check, header: str, line_of: LineOf
) -> None:
    text = header + task("key: a\nname: First\nname: Second")

    problem = single(check(text))

    assert problem.line == line_of(text, "Second")
    assert f"duplicate key 'name' (first at line {line_of(text, 'First')})" in problem.message


def test_template_with_an_undefined_name(check: Check, header: str, line_of: LineOf) -> None:
    email = (
        "email:\n  default_language: en\n  languages:\n"
        "    en: {subject: 'POD {{ ordr.reference }}', text: Hello}"
    )
    text = header + task("key: a\nname: A\n" + email)

    problem = single(check(text))

    assert problem.line == line_of(text, "ordr")
    assert "email.languages.en.subject: template uses an undefined name 'ordr'" in problem.message


def test_template_with_an_undefined_attribute_names_the_template_line(
    check: Check, header: str, line_of: LineOf
) -> None:
    body = "text: |\n        Hello\n        {{ customer.name }}\n        {{ order.refrence }}"
    email = (
        f"email:\n  default_language: en\n  languages:\n    en:\n      subject: POD\n      {body}"
    )
    text = header + task("key: a\nname: A\n" + email)

    problem = single(check(text))

    assert problem.line == line_of(text, "text: |")
    assert "(template line 3)" in problem.message
    assert "refrence" in problem.message


def _email(text: str, subject: str = "POD") -> str:
    return (
        f'email:\n  default_language: en\n  languages:\n    en:\n      subject: "{subject}"\n'
        f'      text: "{text}"\n'
    )


@pytest.mark.parametrize(
    ("section", "text", "named"),
    [
        (
            "orders",
            "{{ order.delivery_at.strftime('%d/%m') }}",
            "fails when order.delivery_at is empty",
        ),
        (
            "orders",
            "{{ order.pickup_at | in_timezone('UTC') }}",
            "fails when order.pickup_at is empty",
        ),
        ("trips", "{{ subcontractor.name | upper }}", "fails when there is no subcontractor"),
        ("invoices", "{{ order.reference | lower }}", "fails when there is no order"),
        ("trips", "Vehicle: {{ trip.vehicle }}", "prints 'None' when trip.vehicle is empty"),
        # The entities a context carries: an order on no trip yet, an order of a trip whose
        # customer gave no reference.
        ("orders", "{{ trips[0].reference | lower }}", "fails when trips is empty"),
        (
            "trips",
            "{% for o in orders %}{{ o.customer_reference }}{% endfor %}",
            "prints 'None' when customer_reference is empty on one of orders",
        ),
        (
            "bookings",
            "{% for o in orders %}{{ o.delivery_at.strftime('%d') }}{% endfor %}",
            "fails when delivery_at is empty on one of orders",
        ),
    ],
)
def test_a_template_that_fails_on_a_value_real_data_may_lack_is_named(
    check: Check, header: str, line_of: LineOf, section: str, text: str, named: str
) -> None:
    """Works on the sample, fails on an order without a delivery date: found now, not when
    the e-mail should go out."""
    config = header + task("key: a\nname: A\n" + _email(text), section)

    problem = single(check(config))

    assert problem.line == line_of(config, "text: ")
    assert f"template {named}, as real data may have it" in problem.message
    assert "{% if " in problem.message, problem.message


def test_a_guarded_template_and_the_date_a_task_waits_for_are_fine(
    check: Check, header: str
) -> None:
    guarded = "{% if order.delivery_at %}{{ order.delivery_at.strftime('%d/%m') }}{% endif %}"
    worded = "{{ order.customer_reference or 'None given' }}"  # the word itself, not a None
    waits = "key: b\nname: B\nschedule: {on: date, date: delivery_at}\n" + _email(
        "{{ order.delivery_at.strftime('%d/%m') }}"
    )

    assert check(header + task("key: a\nname: A\n" + _email(guarded))) == []
    assert check(header + task("key: a\nname: A\n" + _email(worded))) == []
    looped = (
        "{% for o in orders %}{% if o.delivery_at %}{{ o.delivery_at.day }}{% endif %}{% endfor %}"
    )
    assert check(header + task("key: c\nname: C\n" + _email(looped), "trips")) == []
    assert check(header + task(waits)) == []


@pytest.mark.parametrize(
    "expression", ["{{ order.__class__ }}", "{{ ''.__class__.__mro__ }}", "{{ order['_x'] }}"]
)
def test_template_reaching_for_python_internals(
    check: Check, header: str, line_of: LineOf, expression: str
) -> None:
    email = "email:\n  default_language: en\n  languages:\n"
    email += f'    en: {{subject: POD, html: "{expression}"}}'
    text = header + task("key: a\nname: A\n" + email)

    problem = single(check(text))

    assert problem.line == line_of(text, "html:")
    assert "reaches for Python internals" in problem.message


def test_template_that_does_not_compile(check: Check, header: str, line_of: LineOf) -> None:
    body = "text: |\n        Hello\n        {% if order.international %}"
    email = (
        f"email:\n  default_language: en\n  languages:\n    en:\n      subject: POD\n      {body}"
    )
    text = header + task("key: a\nname: A\n" + email)

    problem = single(check(text))

    assert problem.line == line_of(text, "text: |")
    assert "template does not compile (template line 2)" in problem.message


def test_subject_must_render_to_one_line(check: Check, header: str, line_of: LineOf) -> None:
    subject = 'subject: "POD {{ order.reference }}\\nBcc: x@evil.example"'
    email = (
        f"email:\n  default_language: en\n  languages:\n    en:\n      {subject}\n      text: Hi"
    )
    text = header + task("key: a\nname: A\n" + email)

    problem = single(check(text))

    assert problem.line == line_of(text, "subject:")
    assert "contains U+000A LINE FEED (a line break)" in problem.message


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("'=?utf-8?q?TM=0d=0aBcc:_evil@x.example?='", "hides U+000D CARRIAGE RETURN"),
        ('"Martin\\e[31mRED"', "contains U+001B ESCAPE"),
        ('"Service\\u202e client"', "contains U+202E"),
    ],
)
@pytest.mark.parametrize("where", ["Transports Test", "Service client", "Alice", "Night desk"])
def test_names_are_one_visible_line(
    check: Check, header: str, line_of: LineOf, name: str, reason: str, where: str
) -> None:
    """The carrier's, a team's, a user's or a role's name reaches e-mail headers and
    command output: one line of visible characters, also once its encoded words decode."""
    text = header.replace(f"name: {where}", f"name: {name}") + task("key: a\nname: A")

    problem = single(check(text))

    assert problem.line == line_of(text, name)
    assert reason in problem.message


def test_line_break_in_reply_to_is_rejected(check: Check, header: str, line_of: LineOf) -> None:
    text = header + task('key: a\nname: A\nreply_to: "a@carrier.example\\r\\nBcc: x@evil.example"')

    problem = single(check(text))

    assert problem.line == line_of(text, "reply_to")
    assert (
        "task 'a', reply_to: 'a@carrier.example\\r\\nBcc: x@evil.example' contains U+000D "
        "CARRIAGE RETURN (a line break)" in problem.message
    )


def test_invalid_addresses_are_rejected(check: Check, header: str, line_of: LineOf) -> None:
    text = header + task("key: a\nname: A\nintended_for: {addresses: [ops@carrier, 'x y@a.fr']}")

    problems = check(text)

    assert [problem.line for problem in problems] == [line_of(text, "addresses")] * 2
    assert "'ops@carrier' is not a valid e-mail address" in problems[0].message


def test_condition_on_a_field_the_category_lacks(
    check: Check, header: str, line_of: LineOf
) -> None:
    text = header + task(
        "key: a\nname: A\nconditions:\n  all:\n    - {field: kind, op: eq, value: revenue}\n"
        "    - {field: customer.vat_number, op: exists}",
        section="invoices",
    )

    problem = single(check(text))

    assert problem.line == line_of(text, "vat_number")
    assert (
        "conditions.all[1].field: invoices have no field 'customer.vat_number'" in problem.message
    )


@pytest.mark.parametrize(
    ("condition", "words"),
    [
        (
            "{field: amount, op: gt, value: abc}",
            "field 'amount' (decimal) takes a number, not 'abc'",
        ),
        ("{field: reference, op: gt, value: A}", "operator 'gt' compares numbers and dates"),
        ("{field: customer.country, op: eq, value: NO}", "put the value in quotes"),
        ("{field: delivery_country, op: in, value: [FR, UK]}", "'UK' is not an ISO 3166"),
        ("{field: status, op: eq, value: deliverd}", "did you mean 'delivered'?"),
        ("{field: created_at, op: lt, value: yesterday}", "takes an ISO date"),
        ("{field: international, op: contains, value: x}", "'contains' searches text"),
        ("{field: status, op: in, value: []}", "non-empty list"),
        ("{field: status, op: eq}", "operator 'eq' needs a 'value'"),
        ("{field: status, op: equals, value: x}", "must be 'eq', 'ne'"),
    ],
)
def test_condition_operator_and_value_types(
    check: Check, header: str, line_of: LineOf, condition: str, words: str
) -> None:
    text = header + task(f"key: a\nname: A\nconditions: {condition}")

    problem = single(check(text))

    assert problem.line == line_of(text, "conditions")
    assert words in problem.message


def test_schedule_on_a_date_the_category_lacks(check: Check, header: str, line_of: LineOf) -> None:
    text = header + task("key: a\nname: A\nschedule:\n  on: date\n  date: due_at")

    problem = single(check(text))

    assert problem.line == line_of(text, "due_at")
    assert "schedule.date: orders have no date 'due_at'" in problem.message


def test_schedule_on_a_status_the_category_lacks(
    check: Check, header: str, line_of: LineOf
) -> None:
    text = header + task("key: a\nname: A\nschedule: {on: status, status: shipped}", "trips")

    problem = single(check(text))

    assert problem.line == line_of(text, "shipped")
    assert "trips have no status 'shipped'" in problem.message


def test_bad_offset_is_located(check: Check, header: str, line_of: LineOf) -> None:
    text = header + task(
        "key: a\nname: A\nschedule:\n  on: date\n  date: pickup_at\n  offset: 3 days"
    )

    problem = single(check(text))

    assert problem.line == line_of(text, "offset")
    assert "'3 days' is not an offset" in problem.message


def test_documents_on_invoices_are_rejected(check: Check, header: str, line_of: LineOf) -> None:
    text = header + task("key: a\nname: A\nrequired_documents: [pod]", section="invoices")

    problem = single(check(text))

    assert problem.line == line_of(text, "required_documents")
    assert "invoices have no documents" in problem.message


def test_documents_trigger_needs_required_documents(
    check: Check, header: str, line_of: LineOf
) -> None:
    text = header + task("key: a\nname: A\nschedule:\n  on: documents")

    problem = single(check(text))

    assert problem.line == line_of(text, "on: documents")
    assert "needs required_documents" in problem.message


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("recipent_roles: [customer]", "did you mean 'intended_for'?"),
        ("nmae: A", "did you mean 'name'?"),
        ("colour: blue", "allowed keys: key, name, responsible"),
    ],
)
def test_unknown_key_with_suggestion(
    check: Check, header: str, line_of: LineOf, key: str, suggestion: str
) -> None:
    text = header + task(f"key: a\nname: A\n{key}")

    problem = single(check(text))

    assert problem.line == line_of(text, key)
    assert f"task 'a': unknown key '{key.split(':')[0]}'" in problem.message
    assert suggestion in problem.message


def test_yaml_syntax_error_is_a_located_problem(check: Check, header: str, line_of: LineOf) -> None:
    text = header + task("key: a\nname: [A\nexecution: manual")

    problem = single(check(text))

    assert problem.line == line_of(text, "execution")
    assert problem.message.startswith("invalid YAML:")


def test_clear_text_password_is_rejected_without_echoing_it(
    check: Check, header: str, line_of: LineOf
) -> None:
    text = header.replace("password_secret: SMTP_POD_PASSWORD", "password: hunter2")

    problem = single(check(text))

    assert problem.line == line_of(text, "hunter2")
    assert "put the password in an environment variable" in problem.message
    assert "password_secret" in problem.message
    assert "hunter2" not in problem.message


def test_password_secret_must_be_a_name(check: Check, header: str, line_of: LineOf) -> None:
    text = header.replace("SMTP_POD_PASSWORD", "'s3cr3t!'")

    problem = single(check(text))

    assert problem.line == line_of(text, "s3cr3t")
    assert "environment variable" in problem.message
    assert "s3cr3t" not in problem.message


def test_smtp_settings_are_checked(check: Check, header: str, line_of: LineOf) -> None:
    smtp = "smtp: {host: smtp.carrier.example, port: 0, security: tls}\n    max_message_bytes: 0"
    text = header.replace(
        "smtp: {host: smtp.carrier.example, password_secret: SMTP_POD_PASSWORD}", smtp
    )

    problems = check(text)

    messages = [problem.message for problem in problems]
    assert "mailbox 'pod', smtp.port: must be at least 1" in messages
    assert (
        "mailbox 'pod', smtp.security: must be 'plain', 'starttls' or 'ssl'; got 'tls'" in messages
    )
    assert "mailbox 'pod', max_message_bytes: must be greater than 0" in messages
    assert {problem.line for problem in problems} == {
        line_of(text, "security"),
        line_of(text, "max_message_bytes"),
    }


def test_automatic_task_needs_email_mailbox_and_recipients(
    check: Check, header: str, line_of: LineOf
) -> None:
    text = header + task("key: a\nname: A\nexecution: automatic")

    problems = check(text)

    assert {problem.line for problem in problems} == {line_of(text, "automatic")}
    messages = " / ".join(problem.message for problem in problems)
    assert "add 'email'" in messages and "'mailbox'" in messages and "recipients" in messages


def test_references_to_unknown_mailbox_user_and_team(
    check: Check, header: str, line_of: LineOf
) -> None:
    text = header.replace("teams: [customer-service]", "teams: [customer-servce]") + task(
        "key: a\nname: A\nresponsible: 'user:alcie'\nmailbox: pdo"
    )

    problems = check(text)

    assert [(problem.line, problem.message) for problem in problems] == [
        (
            line_of(text, "alice@"),
            "user 'alice', teams[0]: unknown team 'customer-servce'; "
            "did you mean 'customer-service'?",
        ),
        (
            line_of(text, "alcie"),
            "task 'a', responsible: unknown user 'alcie'; did you mean 'alice'?",
        ),
        (line_of(text, "pdo"), "task 'a', mailbox: unknown mailbox 'pdo'; did you mean 'pod'?"),
    ]


def test_trip_contacts_must_be_enabled_and_exist_on_the_category(
    check: Check, header: str, line_of: LineOf
) -> None:
    disabled = header.replace("contact_emails: true", "contact_emails: false")
    text = disabled + task("key: a\nname: A\nintended_for: {trip_contacts: true}")
    problem = single(check(text))
    assert problem.line == line_of(text, "trip_contacts")
    assert "extra_fields: {trips: {contact_emails: true}}" in problem.message

    text = header + task("key: a\nname: A\nintended_for: {trip_contacts: true}", "bookings")
    assert "exist only on trips and orders" in single(check(text)).message


def test_email_languages_and_default_language(check: Check, header: str, line_of: LineOf) -> None:
    email = (
        "email:\n  default_language: de\n  languages:\n"
        "    en: {subject: POD, text: Hi}\n    FR: {subject: POD, text: Salut}"
    )
    text = header + task("key: a\nname: A\n" + email)

    problems = check(text)

    assert [problem.line for problem in problems] == [
        line_of(text, "default_language"),
        line_of(text, "FR:"),
    ]
    assert "default_language 'de' has no template (given: en)" in problems[0].message
    assert "'FR' is not a language code" in problems[1].message


def test_duplicate_keys_of_tasks_and_declarations(
    check: Check, header: str, line_of: LineOf
) -> None:
    text = header.replace("teams:\n", "teams:\n  - {key: customer-service, name: Twice}\n")
    text += "tasks:\n  orders:\n    - {key: a, name: One}\n  trips:\n    - {key: a, name: Two}\n"

    problems = check(text)

    assert [problem.line for problem in problems] == [
        line_of(text, "name: Service client"),
        line_of(text, "name: Two"),
    ]
    assert "duplicate key 'customer-service' (first at line" in problems[0].message
    assert "unique across all categories" in problems[1].message


def test_bad_keys_and_builtin_role_redefinition(check: Check, header: str, line_of: LineOf) -> None:
    text = header.replace("key: night-desk", "key: operations") + task("key: Send_POD\nname: A")

    problems = check(text)

    assert [problem.line for problem in problems] == [
        line_of(text, "key: operations"),
        line_of(text, "Send_POD"),
    ]
    assert "role 'operations' is built in" in problems[0].message
    assert "'Send_POD' is not a valid key" in problems[1].message


def test_template_files_are_read_next_to_the_configuration(
    check: Check, header: str, line_of: LineOf, tmp_path: Path
) -> None:
    (tmp_path / "pod.txt").write_text("POD of {{ order.reference }}\n", encoding="utf-8")
    email = (
        "email:\n  default_language: en\n  languages:\n"
        "    en: {subject: POD, text_path: pod.txt}\n"
        "    fr: {subject: POD, text_path: missing.txt}\n"
        "    nl: {subject: POD, text_path: ../outside.txt}"
    )
    text = header + task("key: a\nname: A\n" + email)

    problems = check(text)

    assert [problem.line for problem in problems] == [line_of(text, "fr:"), line_of(text, "nl:")]
    assert "template file 'missing.txt' not found" in problems[0].message
    assert "must be a path inside the folder of this file" in problems[1].message
    with pytest.raises(InvalidFileError, match="missing.txt"):
        load_configuration(tmp_path / "tasks.yaml")


def test_load_configuration_inlines_template_files(header: str, tmp_path: Path) -> None:
    (tmp_path / "pod.txt").write_text("POD of {{ order.reference }}\n", encoding="utf-8")
    email = (
        "email:\n  default_language: en\n  languages:\n    en: {subject: POD, text_path: pod.txt}"
    )
    (tmp_path / "tasks.yaml").write_text(header + task("key: a\nname: A\n" + email), "utf-8")

    configuration = load_configuration(tmp_path / "tasks.yaml")

    entry = configuration.definition("a")
    assert entry is not None and entry.definition.email is not None
    template = entry.definition.email.languages["en"]
    assert (template.text, template.text_path) == ("POD of {{ order.reference }}\n", "pod.txt")


def test_several_problems_are_all_reported(check: Check, header: str) -> None:
    text = (
        header
        + task(
            "key: a\nname: A\nexecution: sometimes\nrecipent_roles: [customer]\n"
            "schedule: {on: status, status: gone}\nreply_to: not-an-address\n"
            "conditions: {field: colour, op: eq, value: red}"
        )
        + "  invoices:\n    - {key: b, name: B, attachments: [pod], mailbox: nowhere}\n"
    )

    problems = check(text)

    assert len(problems) == 7, "\n".join(map(str, problems))
    assert problems == sorted(problems)
    assert len({problem.line for problem in problems}) == 6


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    _, problems = validate_configuration(tmp_path / "nope.yaml")
    assert [(problem.line, problem.message) for problem in problems] == [
        (0, "file not found; check the path (relative to where you are)")
    ]

    (tmp_path / "empty.yaml").write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(InvalidFileError, match="empty.yaml:1: the file is empty"):
        load_configuration(tmp_path / "empty.yaml")


def test_missing_schema_version_and_wrong_top_level(check: Check) -> None:
    problem = single(check("carrier: {name: X}\n"))
    assert (
        problem.message
        == "missing required key 'schema_version'; add 'schema_version: 1' at the top"
    )

    problem = single(check("- just\n- a list\n"))
    assert problem.line == 1 and "must be a mapping" in problem.message


def test_json_files_are_validated_with_lines(check: Check, line_of: LineOf) -> None:
    text = '{\n\t"schema_version": 1,\n\t"carrier": {"name": "X"},\n'
    text += '\t"fallback_role": "opertions"\n}\n'

    problem = single(check(text, name="tasks.json"))

    assert problem.line == line_of(text, "opertions")
    assert "did you mean 'operations'?" in problem.message
