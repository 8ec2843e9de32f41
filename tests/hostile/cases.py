"""Hostile and unusual input, each case as an attacker or a careless integrator would try it.

Each case runs the product the way its input arrives (an import file, a configuration file,
the console script, a dispatch of stored data, a template) and returns what happened as one
line. `test_hostile_input.py` runs them, bounds their time and memory, and keeps
docs/hostile-input.md, the table of cases, equal to what they returned.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, select

from core.errors import InvalidFileError
from ingestion.importer import import_file
from mail.compose import InvalidMessageError, OutgoingEmail, build_message, make_message_id
from models import Contact, Mailbox, Order, Task, utcnow
from models.configuration.templates import template_problem
from tests.factories import apply_config, configuration_from_text, make_order
from tests.mailroom import Mailroom, pdf

REPO = Path(__file__).resolve().parents[2]
INJECTION = "=?utf-8?q?x=0D=0ABcc:_spy@evil.example.com?="


@dataclass
class Bench:
    """What a case needs: a migrated SQLite database, a folder, a mail room."""

    session: Session
    folder: Path
    room: Mailroom

    def write(self, text: str, name: str = "input.yaml") -> Path:
        path = self.folder / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def import_text(self, text: str) -> str:
        """`haulflow import`'s core on `text`: the problems, or what it created."""
        try:
            report = import_file(self.write(text), session=self.session, by="hostile")
        except InvalidFileError as error:
            self.session.rollback()
            return "refused: " + "; ".join(p.message for p in error.problems)
        self.session.commit()
        return "imported: " + ", ".join(report.summarize())

    def cli(self, *args: str) -> str:
        """The console script in a subprocess: exit code and its last line."""
        process = subprocess.run(
            [sys.executable, "-m", "cli", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        output = " ".join((process.stdout + process.stderr).split())
        traceback = "Traceback" in output
        shown = output if len(output) <= 300 else output[:299] + "…"
        return f"exit {process.returncode}{', traceback' if traceback else ''}: {shown}"

    def validate(self, text: str) -> str:
        try:
            configuration_from_text(text)
        except AssertionError as error:
            return f"refused: {str(error).splitlines()[0]}"
        return "valid"


PARTY = """\
parties:
  - reference: ACME
    kind: customer
    name: {name}
    country: FR
    language: fr
    timezone: Europe/Paris
    contacts:
      - {{email: "{email}", name: "{contact}", roles: [cmr-pod-processing]}}
"""


def _party(name: str = "ACME SA", email: str = "pod@acme.example", contact: str = "Jean") -> str:
    return PARTY.format(name=name, email=email, contact=contact)


def _orders(reference: str, customer_reference: str = "PO-1") -> str:
    return f"""\
orders:
  - reference: "{reference}"
    customer: ACME
    customer_reference: "{customer_reference}"
    status: planned
    pickup: {{country: FR, at: "2026-12-01T08:00"}}
    delivery: {{country: BE, at: "2026-12-01T16:00"}}
"""


def encoded_word_contact(bench: Bench) -> str:
    return bench.import_text(_party(contact=INJECTION))


def encoded_word_reference(bench: Bench) -> str:
    return bench.import_text(_party() + _orders("ORD-1", INJECTION))


def encoded_word_in_a_message(bench: Bench) -> str:
    email = OutgoingEmail(
        from_address="Carrier <pod@carrier.example>",
        to=(f"{INJECTION} <jean@client.example>",),
        subject=f"POD {INJECTION}",
        message_id=make_message_id("t", domain="carrier.example"),
        text="hello",
    )
    try:
        build_message(email, date=utcnow(), max_bytes=10**6)
    except InvalidMessageError as error:
        return f"refused: {error}"
    return "built"


def international_address(bench: Bench) -> str:
    return bench.import_text(_party(email="jürgen@müller-transporte.example"))


def international_domain(bench: Bench) -> str:
    result = bench.import_text(_party(email="pod@müller-transporte.example"))
    emails = bench.session.exec(select(Contact.email)).all()
    return f"{result}; stored {', '.join(emails)}"


def separator_in_a_name(bench: Bench) -> str:
    return bench.import_text(_party(name='"ACME\\u2028SA"'))


def stranded_batch(bench: Bench) -> str:
    """Seven ready tasks, one whose order reference (stored by another system) has a \\x85,
    which its subject carries."""
    room = bench.room
    room.configure()
    orders = [room.order(contact=f"pod{n}@client.example", reference=f"ORD-B{n}") for n in range(7)]
    poisoned = orders[3]
    poisoned.reference = "ORD-B3\x85X"
    bench.session.add(poisoned)
    bench.session.commit()
    for order in orders:
        room.upload(order, "pod", pdf(f"pod {order.reference}"))
        room.upload(order, "cmr", pdf(f"cmr {order.reference}"))
    try:
        room.drain()
    except Exception as error:  # the defect: one task's error escaped the sender
        bench.session.rollback()
        statuses = sorted(t.status for t in bench.session.exec(select(Task)).all())
        return f"crashed: {type(error).__name__}; {len(room.sink.received)} sent, {statuses}"
    statuses = sorted(t.status for t in bench.session.exec(select(Task)).all())
    failed = bench.session.exec(select(Task).where(Task.status == "failed")).one_or_none()
    reason = failed.last_error if failed else ""
    return f"{len(room.sink.received)} sent, statuses {statuses}; failed: {reason}"


def _template(source: str) -> str:
    problem = template_problem(source, {"order": {"reference": "ORD-1"}}, html=False)
    return f"refused: {problem}" if problem else "rendered"


def huge_power(bench: Bench) -> str:
    return _template("{{ 9**(9**8) }}")


def huge_repeat(bench: Bench) -> str:
    return _template("{{ 'x' * 1000000000 }}")


def huge_padding(bench: Bench) -> str:
    return _template("{{ 'x'|center(200000000) }}")


def printed_function(bench: Bench) -> str:
    return "; ".join(_template(s) for s in ("{{ lipsum }}", "{{ self }}", "{{ order.items }}"))


def endless_loops(bench: Bench) -> str:
    return _template(
        "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}"
    )


MAILBOX = """
schema_version: 1
carrier: {name: Transports Test}
mailboxes:
  - key: pod
    from: "FROM"
    smtp: {host: smtp.carrier.example, port: 587, security: starttls}
"""


def bracketed_sender(bench: Bench) -> str:
    apply_config(
        bench.session, MAILBOX.replace("FROM", "Transports [/b] Martin <pod@carrier.example>")
    )
    bench.session.commit()
    mailbox = bench.session.get_one(Mailbox, "pod")
    return f"stored from {mailbox.from_name!r} <{mailbox.from_address}>"


def name_that_is_an_address(bench: Bench) -> str:
    return bench.validate(MAILBOX.replace("FROM", "ops@carrier.example <audit@carrier.example>"))


def long_local_part(bench: Bench) -> str:
    return bench.validate(MAILBOX.replace("FROM", "a" * 65 + "@carrier.example"))


def markup_in_a_reference(bench: Bench) -> str:
    make_order(bench.session, reference="ORD-[/x]")
    bench.session.commit()
    scan = bench.folder / "pod.pdf"
    scan.write_bytes(pdf("pod"))
    return bench.cli("documents", "upload", "order:ORD-[/x]", "pod", str(scan))


def markup_in_a_task_name(bench: Bench) -> str:
    text = MAILBOX.replace("FROM", "Transports [/b] <pod@carrier.example>") + (
        "tasks:\n  orders:\n    - {key: bad, name: 'Bad [/x]'}\n"
    )
    applied = bench.cli("config", "apply", str(bench.write(text, "tasks.yaml")))
    # The moment of the apply is today's: the table must read the same on any date.
    shown = re.sub(r"applied \S+ \S+ \S+ by", "applied WHEN by", bench.cli("config", "show"))
    return f"apply {applied}; show {shown}"


def alias_bomb(bench: Bench) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        previous = chr(ord("a") + level - 1)
        lines.append(
            f"{chr(ord('a') + level)}: &{chr(ord('a') + level)} [{', '.join(['*' + previous] * 9)}]"
        )
    path = bench.write("\n".join(lines) + "\norders: *j\n", "bomb.yaml")
    output = bench.cli("import", str(path))
    return f"{output.replace(str(path), 'FILE')} ({path.stat().st_size:,} bytes in)"


def megabyte_value(bench: Bench) -> str:
    result = bench.import_text(_party() + "orders:\n  - reference: " + "x" * 1_000_000 + "\n")
    return f"{len(result):,} characters of problems: {result[:160]}"


def oversized_import(bench: Bench) -> str:
    path = bench.folder / "big.yaml"
    with path.open("wb") as file:
        file.truncate(70_000_000)
    return bench.cli("import", str(path)).replace(str(path), "FILE")


def oversized_upload(bench: Bench) -> str:
    make_order(bench.session, reference="ORD-BIG")
    bench.session.commit()
    path = bench.folder / "scan.pdf"
    with path.open("wb") as file:
        file.write(b"%PDF-1.7\n")
        file.truncate(600_000_000)
    return bench.cli("documents", "upload", "order:ORD-BIG", "pod", str(path))


def deep_nesting(bench: Bench) -> str:
    # 500 levels: deep enough for a recursive reader, within the YAML parser's own limit.
    return bench.import_text("orders: " + "[" * 500 + "]" * 500 + "\n")


def unreachable_database(bench: Bench) -> str:
    import os

    url = os.environ["HAULFLOW_DATABASE_URL"]
    os.environ["HAULFLOW_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:9/unreachable"
    try:
        return bench.cli("tasks", "list", "order:ORD-1")
    finally:
        os.environ["HAULFLOW_DATABASE_URL"] = url


def look_alike_references(bench: Bench) -> str:
    first = bench.import_text(_party() + _orders("ORD-1"))
    results = [first]
    look_alikes = ("\u041eRD-1", "\uff2f\uff32\uff24-\uff11", "ORD-1\u200b")
    for number, reference in enumerate(look_alikes, start=2):
        results.append(bench.import_text(_party() + _orders(reference, f"PO-{number}")))
    orders = bench.session.exec(select(Order.reference)).all()
    return " | ".join(results) + f" | orders: {sorted(orders)}"


def look_alike_contact(bench: Bench) -> str:
    return bench.import_text(_party(email="p\u043ed@acme.example"))


def plain_login(bench: Bench) -> str:
    text = MAILBOX.replace("FROM", "pod@carrier.example").replace(
        "security: starttls}", "security: plain, username: pod, password_secret: SMTP_POD}"
    )
    return bench.validate(text)


def secret_naming_another_setting(bench: Bench) -> str:
    text = MAILBOX.replace("FROM", "pod@carrier.example").replace(
        "security: starttls}", "security: starttls, password_secret: HAULFLOW_DATABASE_URL}"
    )
    return bench.validate(text)


@dataclass(frozen=True)
class Case:
    """One hostile input: what it is, what must happen, and how to try it."""

    number: str
    name: str
    given: str
    expected: str
    run: Callable[[Bench], str]


CASES = [
    Case(
        "1a",
        "encoded word in a contact name",
        f"contact name `{INJECTION}`",
        "refused at import",
        encoded_word_contact,
    ),
    Case(
        "1b",
        "encoded word in a customer reference",
        f"customer_reference `{INJECTION}`",
        "refused at import",
        encoded_word_reference,
    ),
    Case(
        "1c",
        "encoded word reaching the builder",
        "the same in a recipient name and a subject",
        "message refused, no Bcc",
        encoded_word_in_a_message,
    ),
    Case(
        "2a",
        "internationalised local part",
        "`jürgen@müller-transporte.example`",
        "refused at import, saying why",
        international_address,
    ),
    Case(
        "2b",
        "internationalised domain",
        "`pod@müller-transporte.example`",
        "stored in ASCII (IDNA)",
        international_domain,
    ),
    Case(
        "2c",
        "line separator in a name",
        "party name with U+2028",
        "refused at import",
        separator_in_a_name,
    ),
    Case(
        "2d",
        "one bad task in a batch of seven",
        "a stored order reference with U+0085, in the subject",
        "6 sent, 1 failed, none left sending",
        stranded_batch,
    ),
    Case("3a", "huge power", "`{{ 9**(9**8) }}`", "refused at once", huge_power),
    Case("3b", "huge repetition", "`{{ 'x' * 1000000000 }}`", "refused at once", huge_repeat),
    Case("3c", "huge padding", "`{{ 'x'\\|center(200000000) }}`", "refused at once", huge_padding),
    Case(
        "3d",
        "functions printed",
        "`{{ lipsum }}`, `{{ self }}`, `{{ order.items }}`",
        "refused",
        printed_function,
    ),
    Case(
        "3e", "endless loops", "two nested `range(99999)` loops", "stopped after 2 s", endless_loops
    ),
    Case(
        "4a",
        "brackets in a sender name",
        "`Transports [/b] Martin <pod@…>`",
        "name and address kept",
        bracketed_sender,
    ),
    Case(
        "4b",
        "a name that is an address",
        "`ops@carrier.example <audit@carrier.example>`",
        "refused",
        name_that_is_an_address,
    ),
    Case("4c", "65-character local part", "`aaa…a@carrier.example`", "refused", long_local_part),
    Case(
        "5a",
        "markup in a reference",
        "`documents upload order:ORD-[/x]`",
        "exit 0, printed as is",
        markup_in_a_reference,
    ),
    Case(
        "5b",
        "markup in names",
        "a task `Bad [/x]`, a sender `[/b]`",
        "apply and show exit 0",
        markup_in_a_task_name,
    ),
    Case(
        "6a",
        "alias bomb",
        "ten levels of nine aliases (1.1 kB)",
        "refused quickly, one line",
        alias_bomb,
    ),
    Case(
        "6b",
        "a megabyte value",
        "a 1,000,000-character reference",
        "a short excerpt in the problem",
        megabyte_value,
    ),
    Case(
        "6c", "an import over the limit", "a 70 MB file", "refused before reading", oversized_import
    ),
    Case(
        "6d",
        "an upload over the limit",
        "a 600 MB file",
        "refused without reading it",
        oversized_upload,
    ),
    Case("6e", "deep nesting", "500 nested lists", "a located problem", deep_nesting),
    Case(
        "6f",
        "unreachable database",
        "`HAULFLOW_DATABASE_URL` on a closed port",
        "a message, no traceback",
        unreachable_database,
    ),
    Case(
        "7a",
        "look-alike references",
        "`ОRD-1` (Cyrillic), `ＯＲＤ-１`, `ORD-1` + U+200B",
        "one order: look-alikes refused, fullwidth is ORD-1",
        look_alike_references,
    ),
    Case(
        "7b", "look-alike contact", "`pоd@acme.example` (Cyrillic о)", "refused", look_alike_contact
    ),
    Case(
        "8a",
        "a password over plain SMTP",
        "`security: plain` with a username",
        "refused unless allowed",
        plain_login,
    ),
    Case(
        "8b",
        "a secret naming another setting",
        "`password_secret: HAULFLOW_DATABASE_URL`",
        "refused",
        secret_naming_another_setting,
    ),
]
