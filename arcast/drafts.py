"""Reminder drafts: one ready-to-send message per customer, written as .eml files.

**arcast never sends anything.** A draft is a file a collector opens, checks and sends from their
own mail client; every .eml carries ``X-Arcast-Draft: never sent by arcast`` and ``X-Unsent: 1``
(Outlook opens such a file as an editable draft).

Templates are Jinja2 text files named after the action tier (``TEMPLATE_FILES``) whose first
line is ``Subject: ...`` and the rest the body. The shipped ones live in
``arcast/templates/reminders/``; a folder of the user's own templates takes precedence file by
file, so overriding one tier (or only ``_invoices.txt.j2``, the per-invoice sentences) is enough.
Variables: ``customer_name``, ``customer_id``, ``tone`` (soft / standard / firm), ``action``,
``invoices`` (each with ``invoice_id``, ``amount``, ``open``, ``partially_paid``, ``issue_date``,
``due_date``, ``days_overdue``, ``currency``), ``overdue_count``, ``total``, ``overdue_total`` and
``upcoming_total`` (open amounts per currency, e.g. "$1,200.00 and €300.00"; "" if none; only
overdue amounts are ever demanded), ``broken_promises`` (each with ``made``, ``until``,
``amount`` and ``paid``, "" for none, ``wide`` and the ``invoices`` of the draft it was for),
``next_contact``, ``as_of``, ``sender_name``; filters ``money(code)`` and ``longdate``. A
customer that broke its word is reminded of it: a letter that ignores the promise reads as if
nobody had listened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

import jinja2
import pandas as pd

from arcast.io import write_dir_atomic
from arcast.worklist import ACTIONS, Worklist, longdate

TEMPLATE_DIR = Path(__file__).parent / "templates" / "reminders"
TEMPLATE_FILES = {
    "friendly reminder": "friendly_reminder.txt.j2",
    "firm reminder": "firm_reminder.txt.j2",
    "call": "call.txt.j2",
    "escalate to finance manager": "escalate.txt.j2",
}
DEFAULT_SENDER = "Accounts Receivable <accounts.receivable@your-company.example>"
PLACEHOLDER_ADDRESS = "fill-in-contact@example.invalid"
"""Used when the ledger has no email for the customer: the ``.invalid`` domain can never
deliver, so a draft sent unedited bounces instead of reaching a stranger."""
DRAFT_HEADER = ("X-Arcast-Draft", "never sent by arcast")
SMTP_MAX_LINE = 998

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "INR": "₹"}
ZERO_DECIMALS = {"JPY", "KRW", "CLP", "ISK", "VND"}


class DraftTemplateError(ValueError):
    """A reminder template is missing, does not parse, or renders without a subject line."""


def money(amount: float, currency: str) -> str:
    """``$12,500.00``, ``€300.00``, ``¥1,200``; codes without a symbol: ``CHF 1,250.00``."""
    code = str(currency).upper()
    digits = 0 if code in ZERO_DECIMALS else 2
    number = f"{amount:,.{digits}f}"
    return f"{SYMBOLS[code]}{number}" if code in SYMBOLS else f"{code} {number}"


def reminder_environment(templates_dir: str | Path | None = None) -> jinja2.Environment:
    """Jinja2 environment over the user's templates (if any), then the shipped ones."""
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(str(TEMPLATE_DIR))]
    if templates_dir:
        folder = Path(templates_dir)
        if not folder.is_dir():
            raise DraftTemplateError(f"{folder}: template folder not found")
        loaders.insert(0, jinja2.FileSystemLoader(str(folder)))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # plain-text email, not HTML
    )
    env.filters["money"] = money
    env.filters["longdate"] = longdate
    return env


@dataclass(frozen=True)
class Draft:
    """One customer's reminder, ready to be checked and sent by a person."""

    file: str
    customer_id: str
    customer_name: str
    to: str
    subject: str
    body: str
    action: str
    tone: str
    next_contact: date
    invoices: tuple[str, ...]

    def message(self, sender: str) -> EmailMessage:
        msg = EmailMessage(policy=policy.SMTP)
        msg["From"] = sender
        msg["To"] = self.to
        msg["Subject"] = self.subject
        msg[DRAFT_HEADER[0]] = DRAFT_HEADER[1]
        msg["X-Unsent"] = "1"
        msg["X-Arcast-Customer"] = self.customer_id
        msg["X-Arcast-Next-Contact"] = self.next_contact.isoformat()
        longest = max((len(line.encode()) for line in self.body.splitlines()), default=0)
        # 8bit keeps the file readable in a text editor; SMTP allows it up to 998 bytes a line
        msg.set_content(self.body, cte="8bit" if longest <= SMTP_MAX_LINE else "quoted-printable")
        return msg


def _invoice(row: dict) -> dict:
    code = row["currency"]
    return {
        "invoice_id": row["invoice_id"],
        "currency": code,
        "amount": money(row["invoice_amount"], code),
        "open": money(row["amount_open_in_currency"], code),
        "partially_paid": row["amount_open_in_currency"] < row["invoice_amount"] - 0.005,
        "issue_date": longdate(row["issue_date"]),
        "due_date": longdate(row["due_date"]),
        "days_overdue": int(row["days_overdue"]),
    }


def _total(lines: list[dict]) -> str:
    """Open amount per currency, e.g. "$1,200.00 and €300.00" ("" for no lines)."""
    totals: dict[str, float] = {}
    for row in lines:
        totals[row["currency"]] = totals.get(row["currency"], 0.0) + row["amount_open_in_currency"]
    return " and ".join(money(totals[c], c) for c in sorted(totals))


def _broken_promises(lines: list[dict], promises: pd.DataFrame) -> list[dict]:
    """The broken promises behind a draft's ``lines``, each once: a customer-wide promise stands
    behind several of them and is said once, naming those it was for."""
    terms = promises.set_index("invoice_id")
    said: dict[tuple, dict] = {}
    for row in lines:
        if row["invoice_id"] not in terms.index:
            continue
        promise = terms.loc[row["invoice_id"]]
        amount = promise["amount"]
        promised = None if pd.isna(amount) else float(amount)  # NaN is not equal to itself
        wide = bool(promise["wide"])
        key = (promise["made"], promise["until"], promised, wide, wide or row["invoice_id"])
        code = row["currency"]
        entry = said.setdefault(
            key,
            {
                "made": longdate(promise["made"]),
                "until": longdate(promise["until"]),
                "amount": "" if promised is None else money(promised, code),
                "paid": money(promise["paid"], code) if promise["paid"] > 0 else "",
                "wide": wide,
                "invoices": [],
            },
        )
        entry["invoices"].append(row["invoice_id"])
    return list(said.values())


def load_templates(templates_dir: str | Path | None = None) -> dict[str, jinja2.Template]:
    """The template of every action tier that needs contact; a broken one fails here, before any
    draft is written, with the file and the problem."""
    env = reminder_environment(templates_dir)
    templates = {}
    for action, name in TEMPLATE_FILES.items():
        try:
            templates[action] = env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise DraftTemplateError(f"{exc.filename or name}, line {exc.lineno}: {exc}") from None
        except jinja2.TemplateError as exc:
            raise DraftTemplateError(f"{name}: {exc}") from None
    return templates


def _render(template: jinja2.Template, context: dict) -> tuple[str, str]:
    try:
        text = template.render(context)
    except jinja2.TemplateError as exc:
        raise DraftTemplateError(f"{template.filename or template.name}: {exc}") from None
    first, _, body = text.partition("\n")
    if not first.startswith("Subject:"):
        raise DraftTemplateError(f"{template.filename}: the first line must be 'Subject: ...'")
    return first.removeprefix("Subject:").strip(), body.strip("\n") + "\n"


def render_drafts(
    worklist: Worklist,
    as_of: date,
    sender: str = DEFAULT_SENDER,
    templates_dir: str | Path | None = None,
) -> list[Draft]:
    """One draft per customer with lines that need contact, in customer rank order, covering
    exactly those lines, in the template of their highest action tier and the customer's tone.
    Not the customer's own tier: that may come from invoices a promise or a hold keeps out of
    the draft, and an escalation letter about invoices not yet due demands nothing."""
    templates = load_templates(templates_dir)
    sender_name = parseaddr(sender)[0] or sender
    contact = worklist.lines[worklist.lines["draft"] != ""].sort_values(
        ["due_date", "invoice_id"], kind="stable"
    )
    by_customer: dict[str, list[dict]] = {}
    for row in contact.to_dict("records"):
        by_customer.setdefault(row["customer_id"], []).append(row)
    drafts = []
    for customer in worklist.customers[worklist.customers["draft"] != ""].to_dict("records"):
        lines = by_customer[customer["customer_id"]]
        action = max((row["action"] for row in lines), key=ACTIONS.index)
        name = customer["customer_name"]
        context = {
            "customer_name": name or customer["customer_id"],
            "customer_id": customer["customer_id"],
            "tone": customer["tone"],
            "action": action,
            "invoices": [_invoice(row) for row in lines],
            "overdue_count": sum(row["days_overdue"] > 0 for row in lines),
            "total": _total(lines),
            "overdue_total": _total([r for r in lines if r["days_overdue"] > 0]),
            "upcoming_total": _total([r for r in lines if r["days_overdue"] <= 0]),
            "broken_promises": _broken_promises(lines, worklist.broken_promises),
            "next_contact": longdate(customer["next_contact"]),
            "as_of": longdate(as_of),
            "sender_name": sender_name,
        }
        subject, body = _render(templates[action], context)
        email = customer["email"] if isinstance(customer["email"], str) else ""
        drafts.append(
            Draft(
                file=customer["draft"],
                customer_id=customer["customer_id"],
                customer_name=name,
                to=str(Address(name, addr_spec=email or PLACEHOLDER_ADDRESS)),
                subject=subject,
                body=body,
                action=action,
                tone=customer["tone"],
                next_contact=pd.Timestamp(customer["next_contact"]).date(),
                invoices=tuple(row["invoice_id"] for row in lines),
            )
        )
    return drafts


def drafts_frame(drafts: Iterable[Draft]) -> pd.DataFrame:
    """The drafts as rows, for the workbook's Drafts sheet."""
    columns = ["file", "customer_id", "customer_name", "to", "action", "tone", "next_contact"]
    rows = [
        {c: getattr(d, c) for c in columns}
        | {"invoices": ", ".join(d.invoices), "subject": d.subject, "body": d.body}
        for d in drafts
    ]
    return pd.DataFrame(rows, columns=[*columns, "invoices", "subject", "body"])


def write_drafts(drafts: Iterable[Draft], folder: str | Path, sender: str) -> Path:
    """Write every draft as ``folder/<file>``; the folder is replaced as a whole, atomically."""

    def _write(tmp: Path) -> None:
        for draft in drafts:
            (tmp / draft.file).write_bytes(draft.message(sender).as_bytes())

    return write_dir_atomic(folder, _write)
