"""Tests for the synthetic ledger generator and its oracle."""

from __future__ import annotations

import re
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from arcast.generate import (
    NEVER_PAID,
    GeneratedLedger,
    GeneratorConfig,
    generate_ledger,
    load_truth,
    oracle_sample_pay_dates,
    write_ledger,
)
from data_contracts.schema import PAYMENT_TOLERANCE, TABLES

CONFIG = GeneratorConfig(n_customers=80, seed=7)


@pytest.fixture(scope="module")
def ledger() -> GeneratedLedger:
    return generate_ledger(CONFIG)


def _day(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def _paid_totals(ledger: GeneratedLedger) -> pd.Series:
    inv = ledger.tables["invoices"]
    totals = ledger.tables["payments"].groupby("invoice_id")["amount"].sum()
    return totals.reindex(inv["invoice_id"], fill_value=0.0).set_axis(inv.index)


def test_same_seed_gives_identical_tables_and_bytes(ledger, tmp_path) -> None:
    again = generate_ledger(CONFIG)
    for name, df in ledger.tables.items():
        pd.testing.assert_frame_equal(df, again.tables[name])
    for name, df in ledger.truth.items():
        pd.testing.assert_frame_equal(df, again.truth[name])
    a = write_ledger(ledger, tmp_path / "a")
    b = write_ledger(again, tmp_path / "b")
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].read_bytes() == b[key].read_bytes(), key


def test_different_seed_differs(ledger) -> None:
    other = generate_ledger(GeneratorConfig(n_customers=CONFIG.n_customers, seed=CONFIG.seed + 1))
    assert not ledger.tables["invoices"].equals(other.tables["invoices"])
    assert not ledger.tables["payments"].equals(other.tables["payments"])


def test_columns_and_types_follow_the_schema(ledger) -> None:
    for table in TABLES:
        df = ledger.tables[table.name]
        assert list(df.columns) == [c for c in table.column_names if c in df.columns], table.name
        assert set(table.required_columns) <= set(df.columns), table.name
        assert len(df) > 0, table.name
        for col in table.required_columns:
            assert df[col].notna().all(), (table.name, col)
        for col in (c for c in table.columns if c.name in df.columns):
            kind = df[col.name].dtype
            if col.type == "date":
                assert pd.api.types.is_datetime64_any_dtype(kind), (table.name, col.name)
            elif col.type == "float":
                assert pd.api.types.is_float_dtype(kind), (table.name, col.name)
            elif col.type == "int":
                assert pd.api.types.is_integer_dtype(kind), (table.name, col.name)
            elif col.type == "bool":
                assert pd.api.types.is_bool_dtype(kind), (table.name, col.name)
            else:
                assert pd.api.types.is_string_dtype(kind), (table.name, col.name)
    for name, prefix, key in (
        ("customers", "C", "customer_id"),
        ("invoices", "INV", "invoice_id"),
        ("payments", "P", "payment_id"),
    ):
        ids = ledger.tables[name][key]
        assert ids.is_unique
        assert ids.map(lambda s, p=prefix: re.fullmatch(rf"{p}\d{{5,}}", s) is not None).all()


def test_contact_log_follows_the_collection_process(ledger) -> None:
    """The log the worklist schedules from: a quarter of weekly-at-most contacts about invoices
    overdue and still open that day, holds on disputed ones, promises both kept and broken."""
    log = ledger.tables["contacts"]
    inv = ledger.tables["invoices"].set_index("invoice_id")
    truth = ledger.truth["invoice_truth"].set_index("invoice_id")
    export = pd.Timestamp(ledger.export_date)
    assert log["contact_date"].between(export - pd.Timedelta(days=90), export).all()
    assert (log["contact_date"].dt.dayofweek < 5).all()
    gaps = log.sort_values("contact_date").groupby("customer_id")["contact_date"].diff().dropna()
    assert gaps.min() >= pd.Timedelta(days=7)
    about = log.dropna(subset=["invoice_id"])
    assert set(about["outcome"]) == {"promise", "hold"}
    assert log.loc[log["invoice_id"].isna(), "outcome"].eq("contacted").all()
    assert (inv.loc[about["invoice_id"], "customer_id"].to_numpy() == about["customer_id"]).all()
    overdue = about["contact_date"].to_numpy() - inv.loc[about["invoice_id"], "due_date"].to_numpy()
    assert (overdue >= np.timedelta64(10, "D")).all()
    completed = truth.loc[about["invoice_id"], "completion_date"].to_numpy()
    assert not (completed <= about["contact_date"].to_numpy()).any()  # open that day
    holds = about[about["outcome"] == "hold"]
    opened = truth.loc[holds["invoice_id"], "dispute_opened_date"].to_numpy()
    assert (opened <= holds["contact_date"].to_numpy()).all()
    promises = about[about["outcome"] == "promise"]
    assert (promises["until"] > promises["contact_date"]).all()
    paid = truth.loc[promises["invoice_id"], "completion_date"].to_numpy()
    kept = paid <= (promises["until"] + pd.Timedelta(days=2)).to_numpy()
    assert 0.2 < kept.mean() < 0.9, kept.mean()


def test_some_promises_are_for_part_of_the_money(ledger) -> None:
    """A promise of an amount is one the invoice is not paid in full by: either the customer
    paid just that in time (its part payments from the promise's day through its day + 2), or
    nothing; the amount is never more than the invoice."""
    log = ledger.tables["contacts"]
    assert log.loc[log["outcome"] != "promise", "amount"].isna().all()
    named = log[log["amount"].notna()].reset_index(names="entry")
    assert len(named) > 0.1 * (log["outcome"] == "promise").sum() and (named["amount"] > 0).all()
    inv = ledger.tables["invoices"].set_index("invoice_id")
    assert (named["amount"] <= inv.loc[named["invoice_id"], "amount"].to_numpy()).all()
    window = named.merge(ledger.tables["payments"], on="invoice_id", suffixes=("", "_paid"))
    day = window["payment_date"]
    window = window[
        (day >= window["contact_date"]) & (day <= window["until"] + pd.Timedelta(2, "D"))
    ]
    paid = window.groupby("entry")["amount_paid"].sum().reindex(named["entry"], fill_value=0.0)
    kept = np.isclose(paid.to_numpy(), named["amount"].to_numpy())
    assert (kept | (paid.to_numpy() == 0)).all()
    truth = ledger.truth["invoice_truth"].set_index("invoice_id")
    done = truth.loc[named["invoice_id"], "completion_date"].to_numpy()
    assert not (done <= (named["until"] + pd.Timedelta(2, "D")).to_numpy()).any()


def test_contact_log_leaves_the_ledger_unchanged(ledger, monkeypatch) -> None:
    """The log is drawn from its own stream after the payments: without it the ledger is the
    same to the last byte, so the models' figures do not move with it."""
    from arcast import generate

    monkeypatch.setattr(generate, "_make_contacts", lambda *args: ledger.tables["contacts"][:0])
    without = generate_ledger(CONFIG)
    assert without.tables["contacts"].empty
    for name in ("customers", "invoices", "payments", "disputes", "fx_rates"):
        pd.testing.assert_frame_equal(without.tables[name], ledger.tables[name])
    for name, df in ledger.truth.items():
        pd.testing.assert_frame_equal(without.truth[name], df)


def test_csv_files_use_iso_dates_and_no_index(ledger, tmp_path) -> None:
    paths = write_ledger(ledger, tmp_path)
    assert {p.name for k, p in paths.items() if not k.startswith("_truth")} == {
        f"{t.name}.csv" for t in TABLES
    }
    assert (tmp_path / "_truth" / "customer_profiles.csv").exists()
    header, first = (tmp_path / "invoices.csv").read_text().splitlines()[:2]
    assert header.split(",") == ledger.tables["invoices"].columns.tolist()
    assert re.fullmatch(r"INV\d{7},C\d{5},\d{4}-\d{2}-\d{2},\d{4}-\d{2}-\d{2},.*", first)


def test_invoices_cover_the_period_and_due_dates_follow_terms(ledger) -> None:
    inv = ledger.tables["invoices"]
    cust = ledger.tables["customers"].set_index("customer_id")
    assert set(inv["customer_id"]) <= set(cust.index)
    assert inv["issue_date"].min() < pd.Timestamp(CONFIG.start) + pd.Timedelta(days=31)
    assert inv["issue_date"].max() > pd.Timestamp(ledger.export_date) - pd.Timedelta(days=31)
    assert inv["issue_date"].max() <= pd.Timestamp(ledger.export_date)
    assert (inv["amount"] > 0).all()
    terms = (inv["due_date"] - inv["issue_date"]).dt.days
    assert (terms >= 0).all()
    on_terms = terms.to_numpy() == cust.loc[inv["customer_id"], "payment_terms_days"].to_numpy()
    assert 0.9 < on_terms.mean() < 1.0  # a few invoices deviate
    assert set(cust["payment_terms_days"]) <= {15, 30, 45, 60}
    per_customer = inv.groupby("customer_id").size()
    assert per_customer.max() > 5 * per_customer.median()  # a few very large accounts


def test_payments_reference_invoices_and_stop_at_export(ledger) -> None:
    inv = ledger.tables["invoices"].set_index("invoice_id")
    pay = ledger.tables["payments"]
    assert pay["invoice_id"].isin(inv.index).all()
    assert (
        pay["customer_id"].to_numpy() == inv.loc[pay["invoice_id"], "customer_id"].to_numpy()
    ).all()
    assert (pay["payment_date"] <= pd.Timestamp(ledger.export_date)).all()
    assert (pay["payment_date"] > inv.loc[pay["invoice_id"], "issue_date"].to_numpy()).all()
    assert (pay["amount"] > 0).all()
    business = pay["payment_date"].dt.dayofweek < 5
    assert business.mean() > 0.95


def test_payment_totals_match_amounts_and_truth(ledger) -> None:
    inv = ledger.tables["invoices"]
    paid = _paid_totals(ledger)
    assert (paid <= inv["amount"] + PAYMENT_TOLERANCE).all()
    truth = ledger.truth["invoice_truth"].set_index("invoice_id").loc[inv["invoice_id"]]
    completed = (truth["completion_date"] <= pd.Timestamp(ledger.export_date)).to_numpy()
    fully = (paid >= inv["amount"] - PAYMENT_TOLERANCE).to_numpy()
    assert (completed == fully).all()


def test_open_partial_and_disputed_invoices_exist(ledger) -> None:
    inv = ledger.tables["invoices"]
    paid = _paid_totals(ledger)
    open_ = paid < inv["amount"] - PAYMENT_TOLERANCE
    assert open_.sum() > 0.02 * len(inv)
    assert (open_ & (paid > 0)).sum() > 0  # partially paid at export
    truth = ledger.truth["invoice_truth"]
    assert (truth["n_instalments"] > 1).sum() > 0
    assert set(truth["outcome"]) >= {"paid", "write_off"}

    disputes = ledger.tables["disputes"]
    assert len(disputes) > 0
    assert disputes["invoice_id"].isin(inv["invoice_id"]).all()
    issue = inv.set_index("invoice_id").loc[disputes["invoice_id"], "issue_date"].to_numpy()
    assert (disputes["opened_date"].to_numpy() > issue).all()
    resolved = disputes["resolved_date"].notna()
    assert resolved.any()
    assert (disputes.loc[resolved, "resolved_date"] > disputes.loc[resolved, "opened_date"]).all()
    still_open = set(disputes.loc[~resolved, "invoice_id"])
    assert set(inv.loc[inv["disputed"], "invoice_id"]) == still_open
    # payment of a disputed invoice comes after the dispute is resolved
    pay = ledger.tables["payments"].merge(disputes[resolved], on="invoice_id")
    last = pay.groupby("invoice_id")[["payment_date", "resolved_date"]].max()
    assert (last["payment_date"] > last["resolved_date"]).all()


def test_currencies_countries_and_daily_fx(ledger) -> None:
    cust = ledger.tables["customers"]
    expected = {"US": "USD", "CA": "CAD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "NL": "EUR"}
    expected["AU"] = "AUD"
    assert (cust["currency"].to_numpy() == cust["country"].map(expected).to_numpy()).all()
    inv_currencies = set(ledger.tables["invoices"]["currency"])
    assert {"USD", "EUR", "GBP", "CAD"} <= inv_currencies
    fx = ledger.tables["fx_rates"]
    assert "USD" not in set(fx["currency"])
    assert inv_currencies - {"USD"} <= set(fx["currency"])
    n_days = (ledger.export_date - CONFIG.start).days + 1
    per_currency = fx.groupby("currency")["date"].agg(["nunique", "size", "min", "max"])
    assert (per_currency["nunique"] == n_days).all() and (per_currency["size"] == n_days).all()
    assert (fx["rate_to_base"] > 0).all()
    eur = fx[fx["currency"] == "EUR"]["rate_to_base"]
    assert eur.min() > 0.8 and eur.max() < 1.4 and eur.nunique() > 100


def test_weekday_runners_pay_on_their_run_day(ledger) -> None:
    prof = ledger.truth["customer_profiles"][["customer_id", "pay_mode", "run_weekday"]]
    pay = ledger.tables["payments"].merge(prof, on="customer_id")
    pay["weekday"] = pay["payment_date"].dt.dayofweek
    busy = pay.groupby("customer_id").filter(lambda g: len(g) >= 10)
    runners = busy[busy["pay_mode"] == "weekday_run"]
    others = busy[busy["pay_mode"] == "any_day"]
    assert runners["customer_id"].nunique() >= 3
    on_run = runners.groupby("customer_id").apply(
        lambda g: (g["weekday"] == g["run_weekday"]).mean(), include_groups=False
    )
    assert (on_run > 0.7).all()
    top_share = others.groupby("customer_id")["weekday"].agg(
        lambda w: w.value_counts(normalize=True).max()
    )
    assert top_share.median() < 0.45


def test_late_payers_pay_later_than_prompt_payers(ledger) -> None:
    inv = ledger.tables["invoices"].set_index("invoice_id")
    last = ledger.tables["payments"].groupby("invoice_id")["payment_date"].max()
    late = (last - inv.loc[last.index, "due_date"]).dt.days
    arche = ledger.truth["customer_profiles"].set_index("customer_id")["archetype"]
    by = late.groupby(arche.loc[inv.loc[last.index, "customer_id"]].to_numpy()).median()
    assert by["prompt"] <= 2 < by["steady_late"] < by["chronic_late"]


def test_oracle_samples_after_cutoff_and_is_deterministic(ledger) -> None:
    cutoff = ledger.export_date - timedelta(days=90)
    cut = pd.Timestamp(cutoff)
    truth = ledger.truth["invoice_truth"]
    issued = truth[truth["issue_date"] <= cut]
    open_ = issued["completion_date"].isna() | (issued["completion_date"] > cut)
    invoices = ledger.tables["invoices"].set_index("invoice_id").loc[issued["invoice_id"]]
    invoices = invoices.reset_index()

    samples = oracle_sample_pay_dates(ledger.truth, invoices, cutoff, 100, seed=3)
    assert samples.shape == (len(invoices), 100) and samples.dtype == np.int64
    open_rows = samples[open_.to_numpy()]
    assert open_rows.size > 0
    assert (open_rows > _day(cutoff)).all()
    assert (open_rows == NEVER_PAID).any() and (open_rows < NEVER_PAID).any()
    done = issued.loc[~open_, "completion_date"].to_numpy().astype("datetime64[D]").astype(int)
    assert (samples[~open_.to_numpy()] == done[:, None]).all()

    again = oracle_sample_pay_dates(ledger.truth, invoices, cutoff, 100, seed=3)
    np.testing.assert_array_equal(samples, again)
    other = oracle_sample_pay_dates(ledger.truth, invoices, cutoff, 100, seed=4)
    assert not np.array_equal(samples, other)

    # the oracle is calibrated: predicted and realised 30-day payment rates agree
    actual = issued.loc[open_, "completion_date"] <= cut + pd.Timedelta(days=30)
    predicted = (open_rows <= _day(cutoff) + 30).mean()
    assert abs(predicted - actual.mean()) < 0.05


def test_oracle_reads_written_truth(ledger, tmp_path) -> None:
    write_ledger(ledger, tmp_path)
    truth = load_truth(tmp_path)
    invoices = pd.read_csv(tmp_path / "invoices.csv")
    cutoff = ledger.export_date
    from_disk = oracle_sample_pay_dates(truth, invoices, cutoff, 20, seed=1)
    in_memory = oracle_sample_pay_dates(ledger.truth, ledger.tables["invoices"], cutoff, 20, seed=1)
    np.testing.assert_array_equal(from_disk, in_memory)


def test_oracle_rejects_unknown_invoices(ledger) -> None:
    bogus = pd.DataFrame({"invoice_id": ["INV9999999"]})
    with pytest.raises(KeyError):
        oracle_sample_pay_dates(ledger.truth, bogus, ledger.export_date, 5, seed=0)
