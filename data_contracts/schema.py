"""The canonical arcast ledger: which files, which columns, which types.

Every other module (loader, GX suites, generator, importers, features) reads column names from
here, so the contract has exactly one definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnType = Literal["str", "date", "float", "int", "bool"]

DEFAULT_BASE_CURRENCY = "USD"
PAYMENT_TOLERANCE = 0.01
"""An invoice is paid on the day cumulative payments reach ``amount - PAYMENT_TOLERANCE``.
Every comparison with it rounds the difference to ``MONEY_DIGITS`` decimals first: in binary
floating point 226.49 − 226.48 is 0.01000000000002, which would leave an invoice paid a cent
short open for ever."""
MONEY_DIGITS = 6


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    required: bool
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    """Columns whose values together identify a row; a later row repeating them is refused."""
    derives: tuple[Column, ...] = ()
    """Columns its file may hold only to derive another table from (an invoices file's paid
    dates, its payments): not among ``columns``, so no check, warehouse table or model feature
    ever sees them."""

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def read_names(self) -> list[str]:
        """The columns read from its file: its own, then those it `derives` another from."""
        return [*self.column_names, *(c.name for c in self.derives)]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


CUSTOMERS = Table(
    name="customers",
    required=False,
    key=("customer_id",),
    columns=(
        Column("customer_id", "str", True, "Unique customer identifier"),
        Column("name", "str"),
        Column("segment", "str", description="Free-text segment, e.g. Enterprise / SMB"),
        Column("country", "str", description="ISO 3166-1 alpha-2 country code (holiday calendar)"),
        Column("currency", "str", description="Customer's usual invoicing currency (ISO 4217)"),
        Column("payment_terms_days", "int", description="Contractual terms, e.g. 30 for net 30"),
        Column("credit_limit", "float", description="Credit limit in base currency"),
        Column(
            "email",
            "str",
            description="Accounts-payable contact address; reminder drafts are addressed to it",
        ),
    ),
)

PAID_DATE = Column(
    "paid_date",
    "date",
    description="The day the invoice was settled (empty = open), in an export without a payments "
    "file: read only to derive one full payment per paid invoice, never kept as an invoice column, "
    "since it is what the model predicts",
)

INVOICES = Table(
    name="invoices",
    required=True,
    key=("invoice_id",),
    derives=(PAID_DATE,),
    columns=(
        Column("invoice_id", "str", True, "Unique invoice identifier"),
        Column("customer_id", "str", True, "Must exist in customers.csv when it is given"),
        Column("issue_date", "date", True),
        Column("due_date", "date", True, "On or after issue_date"),
        Column("amount", "float", True, "Invoice total in invoice currency, > 0"),
        Column("currency", "str", description="ISO 4217; defaults to the base currency"),
        Column(
            "delivery_channel",
            "str",
            description="How the invoice reached the customer at issue (e.g. paper, email, "
            "portal, edi); e-invoices are usually paid sooner",
        ),
        Column(
            "disputed",
            "bool",
            description="Current dispute flag; not point-in-time, so never a model feature",
        ),
    ),
)

PAYMENTS = Table(
    name="payments",
    required=True,
    key=("payment_id", "invoice_id"),
    columns=(
        Column(
            "payment_id",
            "str",
            True,
            "Payment identifier; a payment applied to several invoices repeats it, a row each",
        ),
        Column("invoice_id", "str", True, "Must exist in invoices"),
        Column("customer_id", "str", description="If given, must match the invoice's customer"),
        Column("payment_date", "date", True),
        Column("amount", "float", True, "In the invoice's currency, > 0"),
    ),
)

DISPUTES = Table(
    name="disputes",
    required=False,
    columns=(
        Column("invoice_id", "str", True, "Must exist in invoices"),
        Column("opened_date", "date", True),
        Column("resolved_date", "date", description="Empty while the dispute is open"),
        Column("reason", "str"),
    ),
)

FX_RATES = Table(
    name="fx_rates",
    required=False,
    columns=(
        Column("date", "date", True),
        Column("currency", "str", True, "ISO 4217"),
        Column("rate_to_base", "float", True, "Units of base currency per unit of currency, > 0"),
    ),
)

CONTACT_OUTCOMES = ("contacted", "promise", "hold")
"""A contact made (default), a promise to pay by ``until``, or a hold on chasing until ``until``."""

CONTACTS = Table(
    name="contacts",
    required=False,
    columns=(
        Column("customer_id", "str", True, "Must have an invoice in invoices"),
        Column("contact_date", "date", True, "When the customer was contacted"),
        Column("outcome", "str", description="contacted (default), promise or hold"),
        Column(
            "invoice_id",
            "str",
            description="The invoice it concerns (must be the customer's); empty = all of them",
        ),
        Column("until", "date", description="promise: the date promised; hold: chase again then"),
        Column(
            "amount",
            "float",
            description="promise only, > 0: the amount promised, in the invoice's currency (an "
            "entry for all the customer's invoices: in theirs); empty = the whole invoice",
        ),
        Column("note", "str", description="Free text, shown in the worklist"),
    ),
)
"""The collectors' log, from a CRM or kept by hand: never a model feature (what a collector
did says nothing the ledger does not about when a customer pays), only what the worklist
schedules from (``arcast/worklist.py``)."""

TABLES: tuple[Table, ...] = (CUSTOMERS, INVOICES, PAYMENTS, DISPUTES, FX_RATES, CONTACTS)
TABLES_BY_NAME = {t.name: t for t in TABLES}
