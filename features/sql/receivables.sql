-- The receivables ledger seen at the end of the as-of day: every invoice issued by then, what was
-- paid on it by then, and what is still open, in invoice and base currency (open amounts valued
-- at the latest FX rate known at as-of), and the excess of an overpaid one (a credit balance, not
-- receivable), valued the same way.
WITH paid AS (
    SELECT invoice_id, sum(amount) AS paid_to_date
    FROM payments
    WHERE payment_date <= $as_of
    GROUP BY invoice_id
),
latest_rate AS (
    SELECT currency, arg_max(rate_to_base, date) AS rate_to_base
    FROM fx_rates
    WHERE date <= $as_of
    GROUP BY currency
)
SELECT
    f.invoice_id,
    f.customer_id,
    f.currency,
    DATE '1970-01-01' + f.issue_day AS issue_date,
    DATE '1970-01-01' + f.due_day AS due_date,
    f.amount,
    f.amount_base,
    COALESCE(p.paid_to_date, 0) AS paid_to_date,
    f.completion_day IS NOT NULL AND f.completion_day <= $as_of - DATE '1970-01-01' AS paid,
    CASE WHEN paid THEN 0.0 ELSE GREATEST(f.amount - COALESCE(p.paid_to_date, 0), 0) END
        AS amount_open,
    CASE
        WHEN f.currency = $base_currency THEN 1.0
        ELSE COALESCE(r.rate_to_base, f.amount_base / f.amount)
    END AS rate_at_as_of,
    amount_open * rate_at_as_of AS amount_open_base,
    round(COALESCE(p.paid_to_date, 0) - f.amount, $money_digits) > $tolerance AS overpaid,
    CASE WHEN overpaid THEN (p.paid_to_date - f.amount) * rate_at_as_of ELSE 0.0 END
        AS overpaid_base
FROM invoice_facts AS f
LEFT JOIN paid AS p USING (invoice_id)
LEFT JOIN latest_rate AS r USING (currency)
WHERE f.issue_day <= $as_of - DATE '1970-01-01'
ORDER BY f.invoice_id
