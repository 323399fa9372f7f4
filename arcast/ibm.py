"""Convert the IBM "Accounts Receivable" sample into a canonical arcast ledger folder.

Mapping (source columns in ``/work/shared/data/README.md``):

* customers.csv: ``customer_id`` = customerID; ``segment`` = countryCode as given (e.g. "391").
  The codes are numeric and match no ISO 3166 alpha-2 country, and ``country`` drives the holiday
  calendar, so they go to the free-text segment and ``country`` stays empty.
  ``payment_terms_days`` = the customer's usual DueDate - InvoiceDate (30 for every customer),
  known at invoice time.
* invoices.csv: ``invoice_id`` = invoiceNumber read as text (leading zeros kept); dates from
  M/D/YYYY; ``currency`` = USD. ``disputed`` = Disputed == "Yes" is the dispute state at the
  end of the data, NOT point-in-time (the schema keeps it out of model features).
  ``delivery_channel`` = "electronic" if InvoiceDate >= PaperlessDate (the day the customer
  switched to paperless billing) else "paper": the billing mode in force when the invoice was
  sent, known at issue. PaperlessBill is the mode at the end of the data, so it is not used.
* payments.csv: one full payment per settled invoice on SettledDate, ``payment_id`` = "P" +
  invoiceNumber.

DaysToSettle and DaysLate are not carried over: they are the target, leaked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from arcast.io import write_csv

SOURCE_COLUMNS = [
    "countryCode",
    "customerID",
    "invoiceNumber",
    "InvoiceDate",
    "DueDate",
    "InvoiceAmount",
    "PaperlessDate",
    "Disputed",
    "SettledDate",
]


def _dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, format="%m/%d/%Y")


def convert_ibm(src_csv: Path, out_dir: Path) -> dict[str, int]:
    """Write customers.csv, invoices.csv and payments.csv to ``out_dir``; returns row counts.

    Raises ValueError when the source lacks a column or holds an unparseable date or amount:
    the sample is fixed, so anything unexpected means a wrong file rather than bad rows.
    """
    src = pd.read_csv(src_csv, dtype=str, keep_default_na=False)
    missing = [c for c in SOURCE_COLUMNS if c not in src.columns]
    if missing:
        raise ValueError(f"{Path(src_csv).name}: not the IBM AR sample, missing {missing}")
    src = src.apply(lambda s: s.str.strip())
    issue, due = _dates(src["InvoiceDate"]), _dates(src["DueDate"])

    invoices = pd.DataFrame(
        {
            "invoice_id": src["invoiceNumber"],
            "customer_id": src["customerID"],
            "issue_date": issue,
            "due_date": due,
            "amount": pd.to_numeric(src["InvoiceAmount"]),
            "currency": "USD",
            "delivery_channel": np.where(
                issue >= _dates(src["PaperlessDate"]), "electronic", "paper"
            ),
            "disputed": src["Disputed"].str.lower().eq("yes"),
        }
    )
    settled = src["SettledDate"] != ""  # the published sample has no open invoice; be safe
    payments = pd.DataFrame(
        {
            "payment_id": "P" + src["invoiceNumber"],
            "invoice_id": src["invoiceNumber"],
            "customer_id": src["customerID"],
            "payment_date": _dates(src["SettledDate"]),
            "amount": invoices["amount"],
        }
    )[settled]
    terms = (due - issue).dt.days.groupby(src["customerID"]).agg(lambda d: d.mode().iloc[0])
    customers = (
        src.groupby("customerID", sort=True)["countryCode"]
        .agg(lambda c: c.mode().iloc[0])
        .rename("segment")
        .to_frame()
        .join(terms.rename("payment_terms_days"))
        .rename_axis("customer_id")
        .reset_index()
        .assign(currency="USD")[["customer_id", "segment", "currency", "payment_terms_days"]]
    )

    out_dir = Path(out_dir)
    for name, df in (("customers", customers), ("invoices", invoices), ("payments", payments)):
        write_csv(df, out_dir / f"{name}.csv")
    return {"customers": len(customers), "invoices": len(invoices), "payments": len(payments)}
