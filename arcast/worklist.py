"""Collections worklist: which open invoices to chase first, how, in what tone and when.

**Priority** is the money at stake weighted by risk (amounts in base currency)::

    priority = p_late_30 × (amount_open + 0.1 × min(customer_exposure, 10 × amount_open))
               × age_factor
    age_factor = √(1 + min(max(days_overdue, 0), 90) / 90)

* ``amount_open × p_late_30`` is the expected amount that slips 30+ days: chasing a large invoice
  that will pay anyway, or a likely-late tiny one, is worth little.
* ``0.1 × customer_exposure`` (the customer's total open amount, this invoice included) adds a
  small concentration term: one contact with a big customer moves all its invoices, and a
  customer holding much of the AR is the larger loss if it fails. It is capped at the line's
  own amount: uncapped, a 0.05 residue of a customer owing 1.9M outranked a 138,000 invoice,
  and a customer's summed priority (the customer view) grew with its count of small lines.
* The age factor grows from 1 (not yet due) to √2 at 90+ days overdue: the older a debt, the
  less likely it is ever collected, so the same expected delay costs more. Capping at 90 days
  keeps stale write-off candidates from crowding out this month's large, recoverable invoices.

Every factor is non-negative and non-decreasing in p_late_30, amount_open and days_overdue, so
priority never decreases when any of them increases with all else equal.

**Action tier** (dunning queue) = age tier, moved up one tier when ``p_late_30 ≥ 0.5``:

==================  =============================  =============================
days overdue        p_late_30 < 0.5                p_late_30 ≥ 0.5
==================  =============================  =============================
≤ 0 (not yet due)   monitor                        friendly reminder
1-30                friendly reminder              firm reminder
31-60               firm reminder                  call
61-90               call                           escalate to finance manager
> 90                escalate to finance manager    escalate to finance manager
==================  =============================  =============================

Every tier but ``monitor`` *needs contact*. An open amount below ``SMALL_BALANCE`` (1.00 in base
currency: a rounding residue, a bank charge short-paid) is no debt to chase: its action is
``write off small balance`` whatever its age and risk, and no draft demands it.

Disputed invoices go to the ``dispute`` queue with action ``resolve dispute``: dunning a
customer over an amount it contests damages the relationship and collects nothing until the
dispute is settled. The dispute queue is ranked after the whole dunning queue, by the same
priority. Ranks run 1..n within each queue (a dispute handler's list starts at 1, like a
collector's); ties are broken by ``invoice_id``. Every open invoice is in exactly one queue.

**Tone** comes from the customer's record as known at the as-of date (paid invoices only, from
``customer_history``) and its rank by today's open AR (base currency, disputed included):

=========  ==================================================================================
tone       rule (first match)
=========  ==================================================================================
firm       chronic late payer: ≥ 5 paid invoices and (mean days late ≥ 20 or ≥ 25 % of them
           paid more than 30 days late); or, whatever the record, an undisputed invoice open
           more than 60 days past due today (a customer that has stopped paying)
soft       reliable and high value: ≥ 5 paid invoices, mean days late ≤ 5, ≤ 5 % paid more than
           30 days late, nothing undisputed more than 30 days past due today, and among the top
           10 % of customers by open AR (at least one customer; ties share the rank)
standard   everyone else, including customers with fewer than 5 paid invoices (too little
           record to judge)
=========  ==================================================================================

A reliable, valuable customer who slips once is better served by a gentle nudge than a demand;
a customer who is habitually very late has already ignored gentle ones. Tone changes the wording
of a draft, never the tier: lateness and risk decide *what* to do, the relationship *how*.
"High value" is a rank, not a fixed share of the open AR: reliable customers pay, so they hold
little open AR, and a few very large accounts dominate most books (demo ledger: 7 of 803
customers hold ≥ 1 % of it, 3 of them reliable), so a fixed share would call almost no reliable
customer valuable, and would mean something different in every ledger.

**Next contact** is always a business day of the customer's country (no weekend, no public
holiday from ``holidays``; unknown countries: weekends only):

====================================  ============================================================
line                                  next contact
====================================  ============================================================
monitor (not yet due, low risk)       first business day after the due date (check it was paid)
friendly reminder, not yet due        pre-due reminder 3 business days before the due date, or
                                      the next business day if that has passed, or if its
                                      customer's draft of the day covers it (below)
overdue tiers, resolve dispute        the next business day after the as-of date
====================================  ============================================================

**Contact log** (``contacts.csv``, optional: what collectors did, entries after the as-of date
not seen). An entry is about one invoice, or about all the customer's invoices issued by its
date (no ``invoice_id``); on one day the invoice's own counts. Without it the worklist would ask
for the same call every day, and draft a fresh demand for an invoice the customer has promised
to pay:

=====================================  =======================================================
entry                                  effect on the line
=====================================  =======================================================
contacted on d, the latest entry       next contact not before d + 7 days
promise on d to pay by p, the latest   until p + 2 days: next contact after that, in no draft;
promise or hold                        later, still open, *broken*: one action tier up, next
                                       contact the next business day unless chased since
promise on d to pay an amount by p     *kept* once the invoice's payments from d through p + 2
                                       days reach the amount (the invoice may stay open): next
                                       contact not before 7 days after the payment that did,
                                       then the usual rules; not reached by p + 2: broken
hold on d until u, the latest          until u: next contact on u, in no draft; then the
promise or hold                        usual rules
=====================================  =======================================================

A promise or a hold stands until the invoice is paid, it is kept, breaks or ends, or another
promise or hold replaces it: a later call only spaces the next contact. A customer-wide promise
covers the invoices due by its day (its amount: the payments on all of them, which the loader
keeps to one currency); for the others it counts as a call. A promise without an amount is for
the whole invoice. Most promises are for part of the money ("5,000 by Friday, the rest next
month"): a customer that pays what it promised has kept its word, and chasing it the next day
as a broken promise, one tier up, is the surest way to lose its goodwill. Once kept, the promise
has said all it says about the rest: the line goes back to the usual rules, spaced a week from
the payment like a call (``contact_plan`` "after a payment"). ``contact_status`` and
``contact_note`` say where each line stands ("promised on 3 March 2025 to pay by 10 March 2025;
contacted 5 March 2025", "promised on 3 March 2025 to pay EUR 5,000.00 by 10 March 2025: kept
(EUR 5,000.00 paid)", with the log's notes); a line kept waiting still ranks by its priority,
since the money is still at stake. Payments after the as-of date are never seen.

**Customer view.** A customer's action is its highest dunning tier (``resolve dispute`` if all its
open invoices are disputed), its next contact the earliest next contact of its lines that need
contact or wait on a promise or a hold (of all its lines if none do). Customers are ranked by
the summed priority of their dunning lines, then of their disputed lines.

**Reminder drafts** are the day's mail: each customer whose next contact is the next business
day and that has lines that need contact (any tier but monitor, not kept waiting) gets one
draft, ``NNNN-<customer_id>.eml`` (NNNN = its rank), covering exactly those lines, in the
template of their highest tier (`arcast.drafts`); disputed invoices are never in a draft.

**The day's contacts.** A collector's morning is whom to contact today, not the top of a list
ranked by money at stake, much of which waits on a promise or was called yesterday. Each
dunning line's ``contact_plan`` says where it stands: ``today`` (in its customer's draft),
``promised`` or ``on hold`` (waiting on the log), ``after a call`` (a logged call holds the
next contact back a week), ``after a payment`` (so does a kept promise's payment) or ``later``
(monitor, or a pre-due reminder still to come).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from data_contracts.schema import CONTACT_OUTCOMES, MONEY_DIGITS, PAYMENT_TOLERANCE
from features.matrix import Calendar
from features.warehouse import to_day

REQUIRED_COLUMNS = (
    "invoice_id",
    "customer_id",
    "currency",
    "invoice_amount",
    "amount_open",
    "amount_open_base",
    "issue_date",
    "due_date",
    "days_overdue",
    "pay_date_p10",
    "pay_date_p50",
    "pay_date_p90",
    "p_late_30",
    "p_paid_4w",
    "disputed",
    "reasons",
)
"""Per open invoice; ``amount_open`` and ``invoice_amount`` in invoice currency."""

STANDING_COLUMNS = (
    "customer_id",
    "name",
    "country",
    "email",
    "hist_n",
    "hist_mean_late",
    "hist_share_late30",
)
"""Per customer, as known at as-of (``features.warehouse.customer_standing``)."""

PAYMENT_COLUMNS = (
    "invoice_id",
    "customer_id",
    "issue_date",
    "due_date",
    "payment_date",
    "amount",
)
"""Per payment (``amount`` in invoice currency) with its invoice's customer and dates: what
keeps a promise of an amount. Only those of customers with such a promise are needed."""

OUTPUT_COLUMNS = [
    "rank",
    "queue",
    "invoice_id",
    "customer_id",
    "customer_name",
    "currency",
    "invoice_amount",
    "amount_open_in_currency",
    "amount_open",
    "issue_date",
    "due_date",
    "days_overdue",
    "pay_date_p10",
    "expected_pay_date",
    "pay_date_p90",
    "days_to_expected_pay",
    "p_late_30",
    "priority",
    "action",
    "tone",
    "next_contact",
    "contact_plan",
    "contact_status",
    "contact_note",
    "reason_1",
    "reason_2",
    "reason_3",
    "reasons",
    "customer_exposure",
    "expected_cash_4w",
    "draft",
]
"""Worklist lines; ``amount_open``, ``priority``, ``customer_exposure`` and
``expected_cash_4w`` in base currency (``amount_open`` kept so for existing readers)."""

BROKEN_PROMISE_COLUMNS = ["invoice_id", "made", "until", "amount", "paid", "wide"]
"""``made`` and ``until`` dates; ``amount`` promised (NaN: the whole invoice) and ``paid``
towards it, in the line's currency; ``wide``: a promise for all the customer's invoices due by
``until`` (its amount and payments are theirs together)."""

DISPUTE_COLUMNS = [
    *(c for c in OUTPUT_COLUMNS if c not in ("tone", "draft", "contact_plan")),
    "dispute_opened",
    "days_in_dispute",
    "dispute_reason",
]

CUSTOMER_COLUMNS = [
    "rank",
    "customer_id",
    "customer_name",
    "country",
    "email",
    "action",
    "tone",
    "next_contact",
    "contact_note",
    "invoices",
    "contact_invoices",
    "disputed_invoices",
    "open_amount",
    "overdue_amount",
    "disputed_amount",
    "oldest_days_overdue",
    "max_p_late_30",
    "expected_cash_4w",
    "share_of_open_ar",
    "paid_invoices",
    "mean_days_late",
    "share_paid_30_late",
    "priority",
    "dispute_priority",
    "draft",
]
"""Customer view; amounts in base currency. Customers are ranked by ``priority``, the sum over
their dunning lines, then by ``dispute_priority``, over their disputed ones: a dispute is
worked in its own queue, not by chasing the customer."""

EXPOSURE_WEIGHT = 0.1
AGE_CAP_DAYS = 90
HIGH_RISK = 0.5
SMALL_BALANCE = 1.0
"""Open amounts below this (base currency) are written off, not chased (module docstring)."""
WRITE_OFF = "write off small balance"
MONITOR = "monitor"
FRIENDLY = "friendly reminder"
RESOLVE_DISPUTE = "resolve dispute"
ACTIONS = (
    WRITE_OFF,
    MONITOR,
    FRIENDLY,
    "firm reminder",
    "call",
    "escalate to finance manager",
)
QUEUE_ORDER = {"dunning": 0, "dispute": 1}
NOTE_SEPARATOR = "; "
"""Between the parts of a ``contact_note`` (a promise or hold, a call)."""
AGE_TIER_UPPER_DAYS = (0, 30, 60, 90)
"""Last days-overdue of action tiers 0..3; anything later is tier 4."""

MIN_PAID_INVOICES = 5
RELIABLE_MAX_MEAN_LATE = 5.0
RELIABLE_MAX_SHARE_LATE30 = 0.05
CHRONIC_MIN_MEAN_LATE = 20.0
CHRONIC_MIN_SHARE_LATE30 = 0.25
STOPPED_PAYING_DAYS = 60
RELIABLE_MAX_DAYS_OVERDUE = 30
HIGH_VALUE_TOP_SHARE = 0.10
TONES = ("soft", "standard", "firm")
PRE_DUE_BUSINESS_DAYS = 3
FOLLOW_UP_DAYS = 7
"""After a logged contact, the customer's lines are not due another before a week has passed:
a reply takes days, and a demand repeated daily reads as harassment."""
CONTACTED, PROMISE, HOLD = CONTACT_OUTCOMES
PROMISE_KEPT = "promise kept"
CONTACT_PLANS = ("today", "promised", "on hold", "after a call", "after a payment", "later")
"""``contact_plan`` of a dunning line (the module docstring); "" in the dispute queue."""
PROMISE_GRACE_DAYS = 2
"""A payment promised for a day is looked for this many days later (a transfer in transit)
before the promise counts as broken."""
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
REASON_SEPARATOR = " | "
ROUNDING = {
    "priority": 2,
    "customer_exposure": 2,
    "expected_cash_4w": 2,
    "open_amount": 2,
    "overdue_amount": 2,
    "disputed_amount": 2,
    "max_p_late_30": 4,
    "share_of_open_ar": 6,
    "mean_days_late": 1,
    "share_paid_30_late": 4,
}
"""Output precision, applied after ranking and totals so it never changes an order or a sum."""


@dataclass(frozen=True)
class Worklist:
    """Every open invoice in exactly one queue, and the same invoices grouped by customer."""

    lines: pd.DataFrame
    """``OUTPUT_COLUMNS``, ranked: dunning queue first, each queue by descending priority."""
    disputes: pd.DataFrame
    """``DISPUTE_COLUMNS``: the dispute queue with the open dispute's date and reason."""
    customers: pd.DataFrame
    """``CUSTOMER_COLUMNS``, ranked by summed priority."""
    broken_promises: pd.DataFrame
    """``BROKEN_PROMISE_COLUMNS``: per dunning line whose standing promise is broken, the
    promise itself, which its draft reminds the customer of."""

    @property
    def dunning(self) -> pd.DataFrame:
        return self.lines[self.lines["queue"] == "dunning"]


def longdate(value: date | pd.Timestamp) -> str:
    """``1 April 2025``: unambiguous in every country, unlike 04/01/2025."""
    d = pd.Timestamp(value)
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def high_value(open_amount: pd.Series) -> np.ndarray:
    """Whether each customer is among the top 10 % by open AR (ties share the rank)."""
    top = max(math.ceil(HIGH_VALUE_TOP_SHARE * len(open_amount)), 1)
    return (open_amount.rank(method="min", ascending=False) <= top).to_numpy()


def customer_tone(
    paid_invoices: np.ndarray,
    mean_late: np.ndarray,
    share_late30: np.ndarray,
    valuable: np.ndarray,
    oldest_overdue: np.ndarray | None = None,
) -> np.ndarray:
    """Tone per customer (rules in the module docstring); NaN history counts as no history.

    ``oldest_overdue`` is each customer's largest days overdue among its undisputed open
    invoices today (None or NaN: nothing overdue): the record says how it paid, this says
    how it is paying now.
    """
    known = np.asarray(paid_invoices, dtype=float) >= MIN_PAID_INVOICES
    mean = np.nan_to_num(np.asarray(mean_late, dtype=float), nan=0.0)
    share30 = np.nan_to_num(np.asarray(share_late30, dtype=float), nan=0.0)
    oldest = np.zeros(len(known)) if oldest_overdue is None else np.asarray(oldest_overdue)
    oldest = np.nan_to_num(oldest.astype(float), nan=0.0)
    chronic = known & ((mean >= CHRONIC_MIN_MEAN_LATE) | (share30 >= CHRONIC_MIN_SHARE_LATE30))
    chronic |= oldest > STOPPED_PAYING_DAYS
    reliable = known & (mean <= RELIABLE_MAX_MEAN_LATE) & (share30 <= RELIABLE_MAX_SHARE_LATE30)
    reliable &= oldest <= RELIABLE_MAX_DAYS_OVERDUE
    return np.where(chronic, "firm", np.where(reliable & np.asarray(valuable), "soft", "standard"))


def action_tier(
    days_overdue: np.ndarray, p_late_30: np.ndarray, broken: np.ndarray | None = None
) -> np.ndarray:
    """Dunning action per line (table in the module docstring), one tier up where a promise
    to pay was ``broken``."""
    tier = np.searchsorted(AGE_TIER_UPPER_DAYS, days_overdue, side="left")
    tier = tier + (np.asarray(p_late_30) >= HIGH_RISK)
    if broken is not None:
        tier = tier + np.asarray(broken, dtype=bool)
    return np.asarray(ACTIONS)[np.minimum(tier + ACTIONS.index(MONITOR), len(ACTIONS) - 1)]


def next_contact(
    action: np.ndarray,
    due_date: pd.Series,
    country: pd.Series,
    as_of: date,
    not_before: np.ndarray | None = None,
    chase: np.ndarray | None = None,
) -> pd.Series:
    """Next-contact date per line (rules in the module docstring), a business day of the
    line's country: the next one where the contact log says to ``chase`` (a broken promise),
    and none before the line's ``not_before`` day (NaN: no such day) that the log sets."""
    today = to_day(as_of)
    due = (pd.to_datetime(due_date).to_numpy().astype("datetime64[D]").astype(np.int64)).copy()
    wait = np.full(len(due), np.nan) if not_before is None else np.asarray(not_before, float)
    latest = max(today, int(due.max()) if len(due) else today)
    if np.isfinite(wait).any():
        latest = max(latest, int(np.nanmax(wait)))
    last = latest + 60
    countries = sorted({c for c in country.dropna().astype(str)})
    calendar = Calendar(countries, today - PRE_DUE_BUSINESS_DAYS * 10, last)
    idx = calendar.country_index(country)

    def business(day: np.ndarray) -> np.ndarray:
        return calendar.business[idx, calendar.position(day)]

    def roll_forward(day: np.ndarray) -> np.ndarray:
        day = day.copy()
        while (off := ~business(day)).any():
            day[off] += 1
        return day

    pre_due = np.maximum(due, today)  # only not-yet-due lines get one: the walk stays in range
    left = np.full(len(due), PRE_DUE_BUSINESS_DAYS)
    while (stepping := left > 0).any():
        pre_due[stepping] -= 1
        left[stepping & business(pre_due)] -= 1
    tomorrow = roll_forward(np.full(len(due), today + 1))
    after_due = roll_forward(np.maximum(due + 1, today + 1))
    pre_due = np.where(pre_due > today, pre_due, tomorrow)
    not_due = due >= today
    day = np.where(
        action == MONITOR,
        after_due,
        np.where((action == FRIENDLY) & not_due, pre_due, tomorrow),
    )
    if chase is not None:
        day = np.where(chase, tomorrow, day)
    waiting = np.isfinite(wait) & (wait > day)
    if waiting.any():  # the other days are business days already: rolling keeps them
        day = roll_forward(np.where(waiting, wait, day).astype(np.int64))
    return pd.Series(pd.to_datetime(day, unit="D"), index=due_date.index)


@dataclass(frozen=True)
class ContactState:
    """What the contact log says about each line."""

    not_before: np.ndarray
    """Day number before which the line is not contacted again; NaN: the usual rules."""
    chase: np.ndarray
    """A broken promise not chased since it broke: contact the next business day."""
    waiting: np.ndarray
    """A promise to pay not yet due, or a hold: the line is in no reminder draft."""
    broken: np.ndarray
    """A promise to pay whose day (and grace) has passed with the invoice still open, or the
    amount it promised not paid in time."""
    status: np.ndarray
    """"" (nothing logged), contacted, promised, promise kept (the amount paid, the invoice
    still open), promise broken, on hold."""
    note: np.ndarray
    """The entries in words, e.g. "promised on 3 March 2025 to pay by 10 March 2025"."""
    terms: pd.DataFrame
    """Per line, its standing entry as a promise (``BROKEN_PROMISE_COLUMNS`` but
    ``invoice_id``): what a draft says of a ``broken`` one."""


def _governing_entries(keys: pd.DataFrame, contacts: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Per line (``keys``: customer_id, invoice_id, issue_date, due_date), the latest log entry
    seen by ``as_of`` among those for its invoice and those for its whole customer (no
    invoice_id) made since it was issued; on one day the invoice's own, and of several the last
    in the file. A customer-wide promise covers what was due by its day: for a line due later,
    it counts as a contact. NaT ``contact_date`` where no entry applies; ``wide``: the entry
    is the customer-wide one."""
    fields = ["contact_date", "outcome", "until", "amount", "note"]
    seen = contacts[pd.to_datetime(contacts["contact_date"]) <= pd.Timestamp(as_of)]
    seen = seen.assign(_order=np.arange(len(seen))).sort_values(
        ["contact_date", "_order"], kind="stable"
    )
    own = seen[seen["invoice_id"].notna()].drop_duplicates(
        ["customer_id", "invoice_id"], keep="last"
    )
    wide = seen[seen["invoice_id"].isna()].drop_duplicates("customer_id", keep="last")
    lines = keys[["customer_id", "invoice_id", "issue_date", "due_date"]].reset_index(drop=True)
    mine = lines[["customer_id", "invoice_id"]].merge(
        own[["customer_id", "invoice_id", *fields]], how="left"
    )
    theirs = lines[["customer_id"]].merge(wide[["customer_id", *fields]], how="left")
    own_day = pd.to_datetime(mine["contact_date"])
    # the latest entry was made before the invoice existed: so were all others, none is about it
    wide_day = pd.to_datetime(theirs["contact_date"])
    wide_day = wide_day.where(wide_day >= pd.to_datetime(lines["issue_date"]))
    use_wide = wide_day.notna() & (own_day.isna() | (wide_day > own_day))
    entry = mine[fields].mask(use_wide, theirs[fields]).assign(wide=use_wide.to_numpy())
    due_later = pd.to_datetime(lines["due_date"]) > pd.to_datetime(entry["until"])
    entry.loc[use_wide & (entry["outcome"] == PROMISE) & due_later, "outcome"] = CONTACTED
    return entry


def _promised_payments(
    keys: pd.DataFrame, standing: pd.DataFrame, payments: pd.DataFrame | None, as_of: date
) -> tuple[np.ndarray, np.ndarray]:
    """Per line whose standing entry is a promise of an amount: what was paid towards it (from
    the promise's day through ``until`` + the grace days, by ``as_of``) and the day the payments
    reached the amount (NaN: not reached, or no amount). The invoice's own payments for its own
    promise; for a customer-wide one, those of the customer's invoices it covers (issued by its
    day, due by ``until``), all in one currency (the loader refuses the others)."""
    n = len(keys)
    paid, reached = np.zeros(n), np.full(n, np.nan)
    has_amount = (standing["outcome"] == PROMISE) & standing["amount"].notna()
    if payments is None or payments.empty or not has_amount.any():
        return paid, reached
    promises = standing[has_amount].assign(
        customer_id=keys.loc[has_amount.to_numpy(), "customer_id"].to_numpy(),
        invoice_id=keys.loc[has_amount.to_numpy(), "invoice_id"].to_numpy(),
    )
    promises.loc[promises["wide"], "invoice_id"] = None  # a wide promise is one for many lines
    promises = promises.assign(
        **{c: pd.to_datetime(promises[c]) for c in ("contact_date", "until")}
    )
    fields = ["customer_id", "invoice_id", "contact_date", "until", "amount"]
    one = promises[fields].drop_duplicates().reset_index(drop=True).rename_axis("_p")
    dates = ("issue_date", "due_date", "payment_date")
    seen = payments[list(PAYMENT_COLUMNS)].rename(columns={"amount": "_payment"})
    seen = seen.assign(**{c: pd.to_datetime(seen[c]) for c in dates})
    seen = seen[seen["payment_date"] <= pd.Timestamp(as_of)]
    own = (
        one.reset_index().dropna(subset="invoice_id").merge(seen, on=["customer_id", "invoice_id"])
    )
    wide = one[one["invoice_id"].isna()].reset_index().drop(columns="invoice_id")
    wide = wide.merge(seen, on="customer_id")
    wide = wide[(wide["issue_date"] <= wide["contact_date"]) & (wide["due_date"] <= wide["until"])]
    both = pd.concat([own, wide], ignore_index=True)
    day = both["payment_date"]
    both = both[
        (day >= both["contact_date"])
        & (day <= both["until"] + pd.Timedelta(days=PROMISE_GRACE_DAYS))
    ].sort_values(["_p", "payment_date"], kind="stable")
    both["_paid"] = both.groupby("_p")["_payment"].cumsum()
    total = both.groupby("_p")["_paid"].max().reindex(one.index, fill_value=0.0)
    done = both[(both["amount"] - both["_paid"]).round(MONEY_DIGITS) <= PAYMENT_TOLERANCE]
    first = _days(done.groupby("_p")["payment_date"].min().reindex(one.index))
    at = promises[fields].merge(one.reset_index(), on=fields, how="left")["_p"].to_numpy()
    paid[has_amount.to_numpy()] = total.to_numpy()[at]
    reached[has_amount.to_numpy()] = first[at]
    return paid, reached


def contact_state(
    keys: pd.DataFrame,
    contacts: pd.DataFrame | None,
    as_of: date,
    payments: pd.DataFrame | None = None,
) -> ContactState:
    """Apply the contact log (``contacts.csv``) to the lines; rules in the module docstring.

    A promise or a hold stands until it is kept (the invoice paid, or the amount promised paid
    in time), broken, ended or replaced by another one: a later call (a voicemail) spaces the
    next contact, but does not wipe out the promise it did not replace. ``payments``
    (``PAYMENT_COLUMNS``; None: none seen) keep promises of an amount."""
    n = len(keys)
    if contacts is None or contacts.empty or n == 0:
        nothing = np.zeros(n, bool)
        none = pd.DataFrame(
            {"made": pd.NaT, "until": pd.NaT, "amount": np.nan, "paid": 0.0, "wide": nothing},
            index=range(n),
        )
        return ContactState(
            np.full(n, np.nan), nothing, nothing, nothing, *np.full((2, n), ""), none
        )
    if "amount" not in contacts:  # a log from before promises had amounts
        contacts = contacts.assign(amount=np.nan)
    latest = _governing_entries(keys, contacts, as_of)
    standing = _governing_entries(keys, contacts[contacts["outcome"] != CONTACTED], as_of)
    today = to_day(as_of)
    promise = (standing["outcome"] == PROMISE).to_numpy()
    hold = (standing["outcome"] == HOLD).to_numpy()
    # a customer-wide promise about invoices due earlier stands for this line as a call only
    made = np.where(promise | hold, _days(standing["contact_date"]), np.nan)
    until = _days(standing["until"])
    paid, reached = _promised_payments(keys, standing, payments, as_of)
    kept = promise & np.isfinite(reached)
    promised = promise & ~kept & (today <= until + PROMISE_GRACE_DAYS)
    broken = promise & ~kept & ~promised
    held = hold & (today < until)
    called = _days(latest["contact_date"])
    call = (latest["outcome"] == CONTACTED).to_numpy() & ~(called <= made)  # after the promise
    not_before = np.fmax(
        np.fmax(
            np.where(call, called + FOLLOW_UP_DAYS, np.nan),
            np.where(kept, reached + FOLLOW_UP_DAYS, np.nan),
        ),
        np.fmax(
            np.where(promised, until + PROMISE_GRACE_DAYS + 1, np.nan),
            np.where(held, until, np.nan),
        ),
    )
    chase = broken & ~(call & (called > until + PROMISE_GRACE_DAYS))
    status = np.select(
        [held, kept, promised, broken, call | promise | hold],
        ["on hold", PROMISE_KEPT, "promised", "promise broken", "contacted"],
        "",
    )
    currency = keys["currency"] if "currency" in keys else pd.Series("", index=keys.index)
    note = []
    for i, (standing_row, latest_row, unit) in enumerate(
        zip(
            standing.itertuples(index=False),
            latest.itertuples(index=False),
            currency.fillna("").astype(str),
            strict=True,
        )
    ):
        parts = []
        if promise[i] or hold[i]:
            day, by = longdate(standing_row.contact_date), longdate(standing_row.until)
            if promise[i]:
                amount = standing_row.amount
                what = "" if pd.isna(amount) else f" {_money(amount, unit)}"
                outcome = ": kept" if kept[i] else ": broken" if broken[i] else ""
                if what and (outcome or paid[i] > 0):
                    outcome += f" ({_money(paid[i], unit)} paid{'' if outcome else ' so far'})"
                parts.append(f"promised on {day} to pay{what} by {by}{outcome}")
            else:
                parts.append(f"on hold since {day} until {by}" if held[i] else f"hold ended {by}")
            parts[-1] += _remark(standing_row.note)
        if call[i]:
            parts.append(f"contacted {longdate(latest_row.contact_date)}{_remark(latest_row.note)}")
        note.append(NOTE_SEPARATOR.join(parts))
    terms = pd.DataFrame(
        {
            "made": pd.to_datetime(standing["contact_date"]).to_numpy(),
            "until": pd.to_datetime(standing["until"]).to_numpy(),
            "amount": standing["amount"].astype(float).to_numpy(),
            "paid": paid,
            "wide": standing["wide"].fillna(False).astype(bool).to_numpy(),
        }
    )
    return ContactState(not_before, chase, promised | held, broken, status, np.asarray(note), terms)


def _money(amount: float, currency: str) -> str:
    return f"{currency} {amount:,.2f}".strip()


def _remark(note: object) -> str:
    return f" ({note})" if isinstance(note, str) and note else ""


def _days(dates: pd.Series) -> np.ndarray:
    """Day numbers of dates, NaN where missing."""
    stamps = pd.to_datetime(dates)
    days = (stamps - pd.Timestamp("1970-01-01")).dt.days.to_numpy(dtype=float)
    return np.where(stamps.notna().to_numpy(), days, np.nan)


def _validate(predictions: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions is missing columns: {missing}")
    amount = predictions["amount_open_base"].to_numpy(dtype=float)
    days = predictions["days_overdue"].to_numpy(dtype=float)
    p_late = predictions["p_late_30"].to_numpy(dtype=float)
    if not (np.isfinite(amount).all() and np.isfinite(days).all()) or (amount < 0).any():
        raise ValueError("amount_open_base must be finite and ≥ 0; days_overdue must be finite")
    if not ((p_late >= 0) & (p_late <= 1)).all():
        raise ValueError("p_late_30 must be a probability in [0, 1]")
    if predictions["invoice_id"].duplicated().any():
        raise ValueError("predictions has duplicate invoice_id values")


def _standing(standing: pd.DataFrame | None, customer_ids: pd.Series) -> pd.DataFrame:
    """One row per customer of the open invoices; customers unknown to ``standing`` have no
    name, country, email or history."""
    ids = pd.Index(customer_ids.drop_duplicates(), name="customer_id")
    if standing is None:
        standing = pd.DataFrame(columns=list(STANDING_COLUMNS))
    missing = [c for c in STANDING_COLUMNS if c not in standing.columns]
    if missing:
        raise ValueError(f"customer standing is missing columns: {missing}")
    return standing.drop_duplicates("customer_id").set_index("customer_id").reindex(ids)


def _split_reasons(reasons: pd.Series) -> pd.DataFrame:
    parts = reasons.fillna("").astype(str).str.split(REASON_SEPARATOR, regex=False)
    return pd.DataFrame(
        {f"reason_{i + 1}": parts.map(lambda p, i=i: p[i] if i < len(p) else "") for i in range(3)}
    )


def draft_file_name(rank: int, customer_id: str) -> str:
    """``NNNN-<customer_id>.eml``, accents dropped (``Café Müller`` → ``Cafe_Muller``) and
    anything else but letters, digits, ``.``, ``_``, ``-`` made ``_``, so that a customer id can
    never name a path outside the drafts folder."""
    plain = unicodedata.normalize("NFKD", str(customer_id))
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return f"{rank:04d}-{re.sub(r'[^A-Za-z0-9._-]', '_', plain)}.eml"


def build_worklist(
    predictions: pd.DataFrame,
    as_of: date,
    standing: pd.DataFrame | None = None,
    disputes: pd.DataFrame | None = None,
    contacts: pd.DataFrame | None = None,
    payments: pd.DataFrame | None = None,
) -> Worklist:
    """Rank open invoices into the dunning and dispute queues and group them by customer.

    ``predictions`` has one row per open invoice with ``REQUIRED_COLUMNS`` (``p_paid_4w`` = P(paid
    within the next four weeks)); ``standing`` one row per customer with ``STANDING_COLUMNS``
    (None: no names, countries or history known); ``disputes`` the open dispute per invoice
    (``invoice_id``, ``dispute_opened``, ``dispute_reason``); ``contacts`` the contact log
    (``contacts.csv``; entries after ``as_of`` are not seen); ``payments`` the payments that
    keep its promises of an amount (``PAYMENT_COLUMNS``; those after ``as_of`` are not seen).
    Rules in the module docstring.
    """
    _validate(predictions)
    pred = predictions.reset_index(drop=True)
    amount = pred["amount_open_base"].to_numpy(dtype=float)
    days = pred["days_overdue"].to_numpy(dtype=float)
    p_late = pred["p_late_30"].to_numpy(dtype=float)
    disputed = pred["disputed"].fillna(False).astype(bool).to_numpy()

    customers = _standing(standing, pred["customer_id"])
    exposure_by_customer = pred.groupby("customer_id", sort=False)["amount_open_base"].sum()
    total_open = float(amount.sum())
    share = exposure_by_customer / total_open if total_open > 0 else exposure_by_customer * 0.0
    customers["share_of_open_ar"] = share.reindex(customers.index).to_numpy()
    oldest = pd.Series(days[~disputed]).groupby(pred["customer_id"].to_numpy()[~disputed]).max()
    customers["tone"] = customer_tone(
        customers["hist_n"].fillna(0).to_numpy(dtype=float),
        customers["hist_mean_late"].to_numpy(dtype=float),
        customers["hist_share_late30"].to_numpy(dtype=float),
        high_value(exposure_by_customer.reindex(customers.index)),
        oldest.reindex(customers.index).to_numpy(dtype=float),
    )
    info = customers.loc[pred["customer_id"]]

    exposure = exposure_by_customer.loc[pred["customer_id"]].to_numpy(dtype=float)
    age_factor = np.sqrt(1 + np.clip(days, 0, AGE_CAP_DAYS) / AGE_CAP_DAYS)
    log = contact_state(pred, contacts, as_of, payments)
    action = np.where(
        disputed,
        RESOLVE_DISPUTE,
        np.where(amount < SMALL_BALANCE, WRITE_OFF, action_tier(days, p_late, log.broken)),
    )
    expected = pd.to_datetime(pred["pay_date_p50"])
    lines = pd.DataFrame(
        {
            "queue": np.where(disputed, "dispute", "dunning"),
            "invoice_id": pred["invoice_id"].to_numpy(),
            "customer_id": pred["customer_id"].to_numpy(),
            "customer_name": info["name"].fillna("").astype(str).to_numpy(),
            "currency": pred["currency"].to_numpy(),
            "invoice_amount": pred["invoice_amount"].to_numpy(dtype=float),
            "amount_open_in_currency": pred["amount_open"].to_numpy(dtype=float),
            "amount_open": amount,
            "issue_date": pd.to_datetime(pred["issue_date"]).to_numpy(),
            "due_date": pd.to_datetime(pred["due_date"]).to_numpy(),
            "days_overdue": pred["days_overdue"].to_numpy(),
            "pay_date_p10": pd.to_datetime(pred["pay_date_p10"]).to_numpy(),
            "expected_pay_date": expected.to_numpy(),
            "pay_date_p90": pd.to_datetime(pred["pay_date_p90"]).to_numpy(),
            "days_to_expected_pay": (expected - pd.Timestamp(as_of)).dt.days.astype("Int64").array,
            "p_late_30": p_late,
            "priority": p_late
            * (amount + EXPOSURE_WEIGHT * np.minimum(exposure, amount / EXPOSURE_WEIGHT))
            * age_factor,
            "action": action,
            "tone": info["tone"].to_numpy(),
            "next_contact": next_contact(
                action,
                pred["due_date"],
                info["country"].reset_index(drop=True),
                as_of,
                log.not_before,
                log.chase,
            ).to_numpy(),
            "_today": next_contact(  # the first business day after as-of, in its country
                np.full(len(pred), ACTIONS[-1]),
                pred["due_date"],
                info["country"].reset_index(drop=True),
                as_of,
            ).to_numpy(),
            "contact_status": log.status,
            "contact_note": log.note,
            "_waiting": log.waiting,
            "_not_before": log.not_before,
            "reasons": pred["reasons"].fillna("").astype(str).to_numpy(),
            "customer_exposure": exposure,
            "expected_cash_4w": amount * pred["p_paid_4w"].to_numpy(dtype=float),
        }
    )
    lines = pd.concat([lines, _split_reasons(lines["reasons"])], axis=1)
    lines = lines.sort_values(
        ["queue", "priority", "invoice_id"],
        ascending=[True, False, True],
        key=lambda col: col.map(QUEUE_ORDER) if col.name == "queue" else col,
        kind="stable",
    ).reset_index(drop=True)
    lines.insert(0, "rank", lines.groupby("queue", sort=False).cumcount() + 1)

    view = _customer_view(lines, customers)
    covered = _needs_contact(lines) & ~_spaced(lines)  # not a line just called or paid on
    lines["draft"] = np.where(
        covered, lines["customer_id"].map(view.set_index("customer_id")["draft"]), ""
    )
    # a pre-due reminder its customer's draft covers is contacted with it, not on its own day
    lines["next_contact"] = lines["next_contact"].where(lines["draft"] == "", lines["_today"])
    lines["contact_plan"] = _contact_plan(lines)
    lines = lines.round(ROUNDING)
    broken = log.broken & ~disputed
    return Worklist(
        lines=lines[OUTPUT_COLUMNS],
        disputes=_dispute_queue(lines, disputes, as_of),
        customers=view.round(ROUNDING),
        broken_promises=log.terms[broken]
        .assign(invoice_id=pred["invoice_id"].to_numpy()[broken])[BROKEN_PROMISE_COLUMNS]
        .reset_index(drop=True),
    )


def _needs_contact(lines: pd.DataFrame) -> pd.Series:
    """Dunning lines of a tier above monitor that no promise or hold keeps waiting."""
    chased = ~lines["action"].isin([WRITE_OFF, MONITOR])
    return (lines["queue"] == "dunning") & chased & ~lines["_waiting"]


def _spaced(lines: pd.DataFrame) -> pd.Series:
    """Lines that need contact but that a call or a kept promise's payment holds back past the
    next business day (promises and holds keep a line waiting instead): the customer was just
    spoken to, or just paid, about them, so its draft of the day must not demand them again."""
    return _needs_contact(lines) & (lines["_not_before"].to_numpy() > _days(lines["_today"]))


def _contact_plan(lines: pd.DataFrame) -> np.ndarray:
    """``CONTACT_PLANS`` per line, once drafts are assigned (`_spaced` lines get none)."""
    status = lines["contact_status"]
    spaced = _spaced(lines)
    kept = status == PROMISE_KEPT
    plan = np.select(
        [
            lines["draft"] != "",
            status == "promised",
            status == "on hold",
            spaced & ~kept,
            spaced & kept,
        ],
        CONTACT_PLANS[:-1],
        CONTACT_PLANS[-1],
    )
    return np.where(lines["queue"] == "dunning", plan, "")


def _customer_view(lines: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    dunning = lines["queue"] == "dunning"
    contact = _needs_contact(lines)
    tier = lines["action"].map({a: i for i, a in enumerate(ACTIONS)})
    frame = lines.assign(
        _tier=tier.where(dunning),
        _contact=contact,
        _due_now=contact & (lines["next_contact"] == lines["_today"]),
        _disputed=~dunning,
        _overdue=lines["amount_open"].where(lines["days_overdue"] > 0, 0.0),
        _disputed_amount=lines["amount_open"].where(~dunning, 0.0),
        _dunning_priority=lines["priority"].where(dunning, 0.0),
        _dispute_priority=lines["priority"].where(~dunning, 0.0),
        _contact_date=lines["next_contact"].where(contact | lines["_waiting"]),
    )
    grouped = frame.groupby("customer_id", sort=False)
    view = pd.DataFrame(
        {
            "invoices": grouped.size(),
            "contact_invoices": grouped["_contact"].sum(),
            "_due_now": grouped["_due_now"].sum(),
            "disputed_invoices": grouped["_disputed"].sum(),
            "open_amount": grouped["amount_open"].sum(),
            "overdue_amount": grouped["_overdue"].sum(),
            "disputed_amount": grouped["_disputed_amount"].sum(),
            "oldest_days_overdue": grouped["days_overdue"].max(),
            "max_p_late_30": grouped["p_late_30"].max(),
            "expected_cash_4w": grouped["expected_cash_4w"].sum(),
            "priority": grouped["_dunning_priority"].sum(),
            "dispute_priority": grouped["_dispute_priority"].sum(),
            "_tier": grouped["_tier"].max(),
            "_contact_date": grouped["_contact_date"].min(),
            "_any_date": grouped["next_contact"].min(),
            # a line's note joins its entries' parts; the customer's says each part once (a
            # customer-wide call shows in every line's note beside its own promise)
            "contact_note": grouped["contact_note"].agg(
                lambda notes: NOTE_SEPARATOR.join(
                    dict.fromkeys(part for n in notes if n for part in n.split(NOTE_SEPARATOR))
                )
            ),
        }
    )
    view["action"] = [
        RESOLVE_DISPUTE if pd.isna(t) else ACTIONS[int(t)] for t in view["_tier"].to_numpy()
    ]
    view["next_contact"] = view["_contact_date"].fillna(view["_any_date"])
    info = customers.loc[view.index]
    view["customer_name"] = info["name"].fillna("").astype(str)
    view["country"] = info["country"]
    view["email"] = info["email"]
    view["tone"] = info["tone"]
    view["share_of_open_ar"] = info["share_of_open_ar"]
    view["paid_invoices"] = info["hist_n"].fillna(0).astype("int64")
    view["mean_days_late"] = info["hist_mean_late"].astype(float)
    view["share_paid_30_late"] = info["hist_share_late30"].astype(float)
    view = view.reset_index().sort_values(
        ["priority", "dispute_priority", "customer_id"],
        ascending=[False, False, True],
        kind="stable",
    )
    view.insert(0, "rank", np.arange(1, len(view) + 1))
    view["draft"] = [
        draft_file_name(r, c) if n > 0 else ""
        for r, c, n in zip(view["rank"], view["customer_id"], view["_due_now"], strict=True)
    ]
    return view[CUSTOMER_COLUMNS].reset_index(drop=True)


def _dispute_queue(lines: pd.DataFrame, disputes: pd.DataFrame | None, as_of: date) -> pd.DataFrame:
    queue = lines[lines["queue"] == "dispute"].reset_index(drop=True)
    if disputes is None:
        disputes = pd.DataFrame(columns=["invoice_id", "dispute_opened", "dispute_reason"])
    known = disputes.drop_duplicates("invoice_id")[
        ["invoice_id", "dispute_opened", "dispute_reason"]
    ]
    # a merge, not Series.map: mapping onto an empty datetime column fails on a ledger whose
    # disputed invoices have no dated dispute (no disputes.csv, only the `disputed` flag)
    queue = queue.merge(known.astype({"invoice_id": str}), on="invoice_id", how="left")
    opened = pd.to_datetime(queue["dispute_opened"])
    queue["dispute_opened"] = opened
    queue["days_in_dispute"] = (pd.Timestamp(as_of) - opened).dt.days.astype("Int64")
    queue["dispute_reason"] = queue["dispute_reason"].fillna("")
    return queue[DISPUTE_COLUMNS]
