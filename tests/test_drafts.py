"""Reminder drafts, the .eml files and the Excel workbook, on hand-made worklists."""

from __future__ import annotations

import email
import time
from datetime import date, datetime
from email import policy
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from arcast.drafts import (
    DRAFT_HEADER,
    PLACEHOLDER_ADDRESS,
    DraftTemplateError,
    drafts_frame,
    longdate,
    money,
    render_drafts,
    write_drafts,
)
from arcast.workbook import TIER_COLOURS, write_workbook
from arcast.worklist import build_worklist

AS_OF = date(2025, 5, 15)
SENDER = "Jane Collector <jane@seller.example>"


def invoice(invoice_id: str, customer_id: str, amount: float, issued: str, due: str, **kw):
    days = (pd.Timestamp(AS_OF) - pd.Timestamp(due)).days
    row = {
        "invoice_id": invoice_id,
        "customer_id": customer_id,
        "currency": "USD",
        "invoice_amount": amount,
        "amount_open": amount,
        "amount_open_base": amount,
        "issue_date": pd.Timestamp(issued),
        "due_date": pd.Timestamp(due),
        "days_overdue": days,
        "pay_date_p10": pd.Timestamp("2025-05-20"),
        "pay_date_p50": pd.Timestamp("2025-06-01"),
        "pay_date_p90": pd.Timestamp("2025-07-01"),
        "p_late_30": 0.2,
        "p_paid_4w": 0.5,
        "disputed": False,
        "reasons": "overdue 15 days | customer pays late | larger than usual",
    }
    return row | kw


LEDGER = pd.DataFrame(
    [
        # Acme: two invoices that need contact, one not yet due and low risk (monitor), one
        # disputed; reliable and large -> soft tone
        invoice("INV-5678", "ACME", 12_500.0, "2025-04-01", "2025-04-30"),
        invoice("INV-5690", "ACME", 3_000.0, "2025-04-20", "2025-05-20", p_late_30=0.7),
        invoice("INV-5701", "ACME", 800.0, "2025-05-10", "2025-06-09"),
        invoice("INV-5650", "ACME", 4_000.0, "2025-03-01", "2025-03-31", disputed=True),
        # Müller: partly paid euro invoice, 75 days overdue, chronic late payer, no email
        invoice(
            "R-17",
            "MUE",
            2_000.0,
            "2025-01-30",
            "2025-03-01",
            currency="EUR",
            amount_open=750.5,
            amount_open_base=810.0,
        ),
        # only a disputed invoice: dispute queue, no draft
        invoice("D-1", "DISP", 9_000.0, "2025-02-01", "2025-03-01", disputed=True),
    ]
)
STANDING = pd.DataFrame(
    {
        "customer_id": ["ACME", "MUE", "DISP"],
        "name": ["Acme Inc.", "Müller GmbH", "Disputer Ltd"],
        "country": ["US", "DE", "GB"],
        "email": ["ap@acme.example", None, "ap@disputer.example"],
        "hist_n": [30, 12, 3],
        "hist_mean_late": [1.5, 35.0, 0.0],
        "hist_share_late30": [0.0, 0.5, 0.0],
    }
)


@pytest.fixture(scope="module")
def worklist():
    return build_worklist(LEDGER, AS_OF, STANDING)


@pytest.fixture(scope="module")
def drafts(worklist):
    return {d.customer_id: d for d in render_drafts(worklist, AS_OF, SENDER)}


def test_one_draft_per_customer_covering_exactly_its_contact_lines(worklist, drafts) -> None:
    assert sorted(drafts) == ["ACME", "MUE"]
    assert drafts["ACME"].invoices == ("INV-5678", "INV-5690")
    assert drafts["MUE"].invoices == ("R-17",)
    for customer_id, draft in drafts.items():
        lines = worklist.lines
        mine = lines[(lines["customer_id"] == customer_id) & (lines["draft"] != "")]
        expected = mine["invoice_id"]
        assert sorted(draft.invoices) == sorted(expected)
        assert draft.file == worklist.customers.set_index("customer_id").loc[customer_id, "draft"]
    text = drafts["ACME"].body
    assert (
        "Invoice INV-5678 for $12,500.00 dated 1 April 2025 is now 15 days overdue; "
        "payment was expected by 30 April 2025." in text
    )
    assert "Invoice INV-5690 for $3,000.00 dated 20 April 2025 falls due on 20 May 2025." in text
    assert "INV-5701" not in text  # monitor: no contact needed yet
    assert "$15,500.00" in drafts["ACME"].subject


def test_disputed_invoices_are_in_no_draft(worklist, drafts) -> None:
    disputed = set(worklist.disputes["invoice_id"])
    assert disputed == {"INV-5650", "D-1"}
    for draft in drafts.values():
        assert not disputed & set(draft.invoices)
        assert not any(i in draft.body or i in draft.subject for i in disputed)


def test_tone_and_tier_choose_the_wording(drafts) -> None:
    acme, mueller = drafts["ACME"], drafts["MUE"]
    assert (acme.action, acme.tone) == ("friendly reminder", "soft")
    assert "Thank you for being such a reliable partner" in acme.body
    assert (mueller.action, mueller.tone) == ("call", "firm")
    assert "I will call you on 16 May 2025" in mueller.body
    assert "firm payment date" in mueller.body
    assert (
        "Invoice R-17 for €2,000.00 dated 30 January 2025, of which €750.50 remains open, "
        "is now 75 days overdue; payment was expected by 1 March 2025." in mueller.body
    )
    assert mueller.body.rstrip().endswith("Jane Collector")


def test_eml_parses_back_with_the_never_sent_header(drafts, tmp_path: Path) -> None:
    folder = write_drafts(drafts.values(), tmp_path / "drafts", SENDER)
    files = sorted(p.name for p in folder.iterdir())
    assert files == sorted(d.file for d in drafts.values())
    for draft in drafts.values():
        msg = email.message_from_bytes((folder / draft.file).read_bytes(), policy=policy.default)
        assert msg[DRAFT_HEADER[0]] == DRAFT_HEADER[1] == "never sent by arcast"
        assert msg["X-Unsent"] == "1"
        assert msg["From"] == SENDER
        assert msg["Subject"] == draft.subject
        assert msg.get_content().replace("\r\n", "\n") == draft.body  # CRLF on disk
    acme = email.message_from_bytes(
        (folder / drafts["ACME"].file).read_bytes(), policy=policy.default
    )
    assert acme["To"].addresses[0].addr_spec == "ap@acme.example"
    mue = email.message_from_bytes(
        (folder / drafts["MUE"].file).read_bytes(), policy=policy.default
    )
    assert mue["To"].addresses[0].addr_spec == PLACEHOLDER_ADDRESS
    assert mue["To"].addresses[0].display_name == "Müller GmbH"


def test_user_templates_override_file_by_file(worklist, tmp_path: Path) -> None:
    (tmp_path / "call.txt.j2").write_text(
        "Subject: Ring {{ customer_name }}\n"
        "Call {{ invoices|map(attribute='invoice_id')|join(',') }} ({{ tone }}) about {{ total }}\n"
    )
    drafts = {d.customer_id: d for d in render_drafts(worklist, AS_OF, SENDER, tmp_path)}
    assert drafts["MUE"].subject == "Ring Müller GmbH"
    assert drafts["MUE"].body == "Call R-17 (firm) about €750.50\n"
    assert "reliable partner" in drafts["ACME"].body  # the shipped friendly reminder


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Subject: {{ oops\n", "call.txt.j2"),
        ("Subject: hi {{ no_such_variable }}\n", "no_such_variable"),
        ("Dear {{ customer_name }}\n", "Subject"),
    ],
)
def test_broken_template_is_a_one_line_error(worklist, tmp_path: Path, text, problem) -> None:
    (tmp_path / "call.txt.j2").write_text(text)
    with pytest.raises(DraftTemplateError, match=problem):
        render_drafts(worklist, AS_OF, SENDER, tmp_path)


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (12500, "USD", "$12,500.00"),
        (1234.5, "EUR", "€1,234.50"),
        (99.999, "GBP", "£100.00"),
        (120000, "JPY", "¥120,000"),
        (1250, "CHF", "CHF 1,250.00"),
        (10, "cad", "CA$10.00"),
    ],
)
def test_money(amount: float, currency: str, text: str) -> None:
    assert money(amount, currency) == text


def test_longdate() -> None:
    assert longdate(date(2025, 4, 1)) == "1 April 2025"
    assert longdate(pd.Timestamp("2025-12-31")) == "31 December 2025"


def test_workbook_has_four_formatted_sheets(worklist, drafts, tmp_path: Path) -> None:
    path = write_workbook(
        {
            "Worklist": worklist.dunning,
            "Customers": worklist.customers,
            "Disputes": worklist.disputes,
            "Drafts": drafts_frame(drafts.values()),
        },
        tmp_path / "worklist.xlsx",
    )
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Worklist", "Customers", "Disputes", "Drafts"]
    for ws in wb.worksheets:
        assert all(cell.font.bold for cell in ws[1])
        assert ws.freeze_panes is not None and ws.freeze_panes.endswith("2")
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:")
    ws = wb["Worklist"]
    header = [c.value for c in ws[1]]
    assert ws.max_row == len(worklist.dunning) + 1
    first = {name: ws.cell(row=2, column=j + 1) for j, name in enumerate(header)}
    assert first["amount_open"].number_format == "#,##0.00"
    assert first["p_late_30"].number_format == "0.0%"
    changes = pd.DataFrame({"p_late_30_before": [0.4], "p_late_30": [0.6]})
    again = openpyxl.load_workbook(write_workbook({"Changes": changes}, tmp_path / "c.xlsx"))
    assert {c.number_format for c in again["Changes"][2]} == {"0.0%"}  # before as after
    assert first["due_date"].number_format == "yyyy-mm-dd"
    assert first["due_date"].is_date
    colour = first["action"].fill.fgColor.rgb
    assert colour.endswith(TIER_COLOURS[first["action"].value])
    drafts_sheet = wb["Drafts"]
    bodies = [c.value for c in drafts_sheet["J"][1:]]
    assert [c.value for c in drafts_sheet[1]][9] == "body"
    contact = drafts_sheet.cell(row=2, column=7)  # next_contact: date objects, shown as dates
    assert contact.is_date and contact.number_format == "yyyy-mm-dd"
    assert sorted(bodies) == sorted(d.body for d in drafts.values())
    customers = wb["Customers"]
    column = [c.value for c in customers[1]].index("open_amount") + 1
    opened = (customers.cell(row=r, column=column).value for r in range(2, customers.max_row + 1))
    assert np.isclose(sum(opened), LEDGER["amount_open_base"].sum())


def test_the_same_workbook_is_the_same_file(worklist, tmp_path: Path) -> None:
    """Written a second later, the same sheets give the same bytes: the file's creation time is
    the as-of date, not the clock's."""
    sheets = {"Worklist": worklist.dunning}
    first = write_workbook(sheets, tmp_path / "a.xlsx", created=date(2025, 3, 31)).read_bytes()
    time.sleep(1.1)  # the property has one-second resolution
    assert (
        write_workbook(sheets, tmp_path / "b.xlsx", created=date(2025, 3, 31)).read_bytes() == first
    )
    wb = openpyxl.load_workbook(tmp_path / "b.xlsx")
    assert wb.properties.created == datetime(2025, 3, 31)


def test_only_overdue_amounts_are_demanded() -> None:
    """An escalation lists a not-yet-due invoice that needs a pre-due reminder, but demands only
    the overdue amount within 7 days."""
    ledger = pd.DataFrame(
        [
            invoice("OLD-1", "LATE", 1_000.0, "2025-01-01", "2025-01-31"),
            invoice("NEW-1", "LATE", 400.0, "2025-05-01", "2025-05-31", p_late_30=0.9),
        ]
    )
    standing = STANDING.assign(customer_id=["LATE", "X", "Y"])
    worklist = build_worklist(ledger, AS_OF, standing)
    (draft,) = render_drafts(worklist, AS_OF, SENDER)
    # 104 days overdue: a good record does not soften an escalation of a customer not paying now
    assert draft.action == "escalate to finance manager" and draft.tone == "firm"
    assert draft.invoices == ("OLD-1", "NEW-1")
    assert "Invoice NEW-1 for $400.00 dated 1 May 2025 falls due on 31 May 2025." in draft.body
    assert "please pay them by their due dates" in draft.body
    assert "$1,400.00" not in draft.body + draft.subject
    assert "We require payment of the overdue $1,000.00 within 7 days" in draft.body


def test_a_draft_is_in_the_tier_of_the_invoices_it_covers() -> None:
    """A promise keeps the escalated invoice out of the draft, so the letter is the friendly
    pre-due reminder its one invoice needs, not an escalation with nothing overdue to demand."""
    ledger = pd.DataFrame(
        [
            invoice("OLD-1", "LATE", 1_000.0, "2025-01-01", "2025-01-31"),
            # its pre-due reminder, 3 business days before it is due, is tomorrow's
            invoice("NEW-1", "LATE", 400.0, "2025-05-01", "2025-05-21", p_late_30=0.9),
        ]
    )
    standing = STANDING.assign(customer_id=["LATE", "X", "Y"])
    contacts = pd.DataFrame(
        {
            "customer_id": ["LATE"],
            "contact_date": [pd.Timestamp("2025-05-14")],
            "outcome": ["promise"],
            "invoice_id": ["OLD-1"],
            "until": [pd.Timestamp("2025-05-20")],
            "note": [None],
        }
    )
    worklist = build_worklist(ledger, AS_OF, standing, contacts=contacts)
    assert worklist.customers.loc[0, "action"] == "escalate to finance manager"
    (draft,) = render_drafts(worklist, AS_OF, SENDER)
    assert draft.invoices == ("NEW-1",) and draft.action == "friendly reminder"
    assert "$400.00" in draft.body and "OLD-1" not in draft.body


def test_a_draft_reminds_the_customer_of_the_promise_it_broke() -> None:
    """A promise not kept puts its line in the next draft, one tier up: the letter says what was
    promised and what came of it, each customer-wide promise once, and nothing of a promise
    still standing or of another customer's."""
    ledger = pd.DataFrame(
        [
            invoice("A-1", "ACME", 8_000.0, "2025-03-01", "2025-03-31", amount_open=6_000.0),
            invoice("A-2", "ACME", 900.0, "2025-03-05", "2025-04-04"),
            invoice("A-3", "ACME", 700.0, "2025-03-10", "2025-04-09"),
            invoice("W-1", "WIDE", 1_000.0, "2025-03-01", "2025-03-31"),
            invoice("W-2", "WIDE", 2_000.0, "2025-03-02", "2025-04-01"),
        ]
    )
    contacts = pd.DataFrame(
        {
            "customer_id": ["ACME", "ACME", "ACME", "WIDE"],
            "contact_date": pd.to_datetime(
                ["2025-05-01", "2025-05-02", "2025-05-13", "2025-05-01"]
            ),
            "outcome": ["promise"] * 4,
            "invoice_id": ["A-1", "A-2", "A-3", None],
            "until": pd.to_datetime(["2025-05-08", "2025-05-09", "2025-05-20", "2025-05-09"]),
            "amount": [5_000.0, np.nan, np.nan, np.nan],
            "note": [None] * 4,
        }
    )
    payments = pd.DataFrame(
        {
            "invoice_id": ["A-1"],
            "customer_id": ["ACME"],
            "issue_date": pd.to_datetime(["2025-03-01"]),
            "due_date": pd.to_datetime(["2025-03-31"]),
            "payment_date": pd.to_datetime(["2025-05-05"]),
            "amount": [2_000.0],
        }
    )
    standing = STANDING.assign(customer_id=["ACME", "WIDE", "Y"])
    worklist = build_worklist(ledger, AS_OF, standing, contacts=contacts, payments=payments)
    assert sorted(worklist.broken_promises["invoice_id"]) == ["A-1", "A-2", "W-1", "W-2"]
    acme, wide = render_drafts(worklist, AS_OF, SENDER)
    assert acme.invoices == ("A-1", "A-2")  # A-3's promise still stands
    assert (
        "On 1 May 2025 you promised to pay $5,000.00 towards invoice A-1 by 8 May 2025; "
        "we have received $2,000.00 of it." in acme.body
    )
    assert "On 2 May 2025 you promised to pay invoice A-2 by 9 May 2025; it is still open." in (
        acme.body
    )
    assert "A-3" not in acme.body
    promise = "On 1 May 2025 you promised to pay invoices W-1 and W-2 by 9 May 2025; they are still"
    assert wide.body.count(promise) == 1 and acme.body.count("you promised") == 2
