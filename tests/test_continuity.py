"""Export continuity: rows the serving model learnt from must not vanish from the next export."""

from __future__ import annotations

from datetime import date

from data_contracts.continuity import Vanished, compared_from, vanished_rows


def _counts(invoices: dict[str, int], payments: dict[str, int]) -> dict:
    return {"invoices_by_month": invoices, "payments_by_month": payments}


FILES = {"invoices": "invoices.csv", "payments": "AR payments.csv"}
BEFORE = _counts(
    {"2024-01": 50, "2024-02": 60, "2024-03": 55, "2024-04": 40},
    {"2024-02|2024-03": 50, "2024-03|2024-04": 45, "2024-01|2024-02": 48},
)


def test_a_grown_export_and_a_rolling_window_are_continuous() -> None:
    grown = _counts(
        BEFORE["invoices_by_month"] | {"2024-04": 58, "2024-05": 61},
        BEFORE["payments_by_month"] | {"2024-04|2024-05": 50},
    )
    assert vanished_rows(BEFORE, grown, date(2024, 4, 20), date(2024, 5, 20), FILES) == []
    rolled = _counts(  # January dropped, with its invoices' payments
        {"2024-02": 60, "2024-03": 55, "2024-04": 58},
        {"2024-02|2024-03": 50, "2024-03|2024-04": 45},
    )
    assert vanished_rows(BEFORE, rolled, date(2024, 4, 20), date(2024, 4, 30), FILES) == []
    corrected = _counts(BEFORE["invoices_by_month"] | {"2024-03": 52}, BEFORE["payments_by_month"])
    # 3 invoices fewer: corrections, not a cut file
    assert vanished_rows(BEFORE, corrected, date(2024, 4, 20), date(2024, 4, 20), FILES) == []


def test_a_cut_export_names_the_months_that_lost_rows() -> None:
    cut = _counts(BEFORE["invoices_by_month"], {"2024-02|2024-03": 50, "2024-03|2024-04": 12})
    april = Vanished("payments", "AR payments.csv: 2024-04 holds 12 payments, the export before 45")
    assert vanished_rows(BEFORE, cut, date(2024, 5, 2), date(2024, 5, 2), FILES) == [april]
    # the earlier export held April up to the 20th, and the later one must hold that too
    assert vanished_rows(BEFORE, cut, date(2024, 4, 20), date(2024, 5, 2), FILES) == [april]
    filling = _counts(BEFORE["invoices_by_month"] | {"2024-04": 20}, BEFORE["payments_by_month"])
    assert vanished_rows(BEFORE, filling, date(2024, 4, 30), date(2024, 4, 10), FILES) == []
    single = _counts(BEFORE["invoices_by_month"] | {"2024-03": 1}, BEFORE["payments_by_month"])
    assert vanished_rows(BEFORE, single, date(2024, 5, 2), date(2024, 5, 2), FILES) == [
        Vanished("invoices", "invoices.csv: 2024-03 holds 1 invoice, the export before 55")
    ]
    older = _counts({"2024-01": 50, "2024-02": 60}, {"2024-01|2024-02": 48})
    assert (
        vanished_rows(BEFORE, older, date(2024, 5, 2), date(2024, 2, 29), FILES) == []
    )  # not yet seen


def test_a_cut_invoices_file_is_not_reported_as_a_cut_payments_file() -> None:
    """The payments of the invoices gone are quarantined with them (no invoice): the table cut
    short is the invoices', and only a loss among the other invoices' payments is the payments'."""
    cut = _counts(
        BEFORE["invoices_by_month"] | {"2024-03": 20},
        BEFORE["payments_by_month"] | {"2024-03|2024-04": 16},
    )
    assert vanished_rows(BEFORE, cut, date(2024, 5, 2), date(2024, 5, 2), FILES) == [
        Vanished("invoices", "invoices.csv: 2024-03 holds 20 invoices, the export before 55")
    ]
    both = _counts(cut["invoices_by_month"], cut["payments_by_month"] | {"2024-02|2024-03": 30})
    assert [
        v.table for v in vanished_rows(BEFORE, both, date(2024, 5, 2), date(2024, 5, 2), FILES)
    ] == [
        "invoices",
        "payments",
    ]


def test_the_first_compared_month_follows_the_later_first_month() -> None:
    rolled = _counts({"2024-02": 60, "2024-03": 55}, {})
    assert compared_from(BEFORE, rolled) == "2024-03"
    assert compared_from(BEFORE, BEFORE) == "2024-02"
    assert compared_from(BEFORE, _counts({}, {})) is None
