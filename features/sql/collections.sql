-- Cash actually collected per forecast week after each past forecast origin, in base currency:
-- all payments (`total`), payments on invoices open at the origin (`open_ar`) and on invoices
-- issued after it (`projected_billing`). Payments are valued at the latest FX rate known at the
-- origin (the rate the forecast valued open AR and billing at), as the cash backtest does, so FX
-- moves since are no forecast error; a currency without a rate by then keeps the invoice's own
-- issue-date rate. Only payments dated by $as_of are read.
WITH origins AS (
    SELECT DISTINCT (origin::DATE - DATE '1970-01-01')::INTEGER AS origin_day, origin::DATE AS origin
    FROM _origins
),
origin_rate AS (
    SELECT o.origin_day, fx.currency, arg_max(fx.rate_to_base, fx.date) AS rate_to_base
    FROM origins AS o
    JOIN fx_rates AS fx ON fx.date <= o.origin
    GROUP BY ALL
),
pay AS (
    SELECT
        (p.payment_date - DATE '1970-01-01')::INTEGER AS pay_day,
        p.amount,
        f.currency,
        f.amount_base / f.amount AS issue_rate,
        f.issue_day,
        f.completion_day
    FROM payments AS p
    JOIN invoice_facts AS f USING (invoice_id)
    WHERE p.payment_date <= $as_of
),
valued AS (
    SELECT
        o.origin,
        o.origin_day,
        pay.pay_day,
        pay.amount * CASE
            WHEN pay.currency = $base_currency THEN 1.0
            ELSE COALESCE(r.rate_to_base, pay.issue_rate)
        END AS amount_base,
        pay.issue_day,
        pay.completion_day
    FROM origins AS o
    JOIN pay ON pay.pay_day > o.origin_day AND pay.pay_day <= o.origin_day + 7 * $weeks
    LEFT JOIN origin_rate AS r ON r.origin_day = o.origin_day AND r.currency = pay.currency
)
SELECT
    origin AS as_of,
    (pay_day - origin_day - 1) // 7 + 1 AS week,
    sum(amount_base) AS total,
    COALESCE(sum(amount_base) FILTER (
        WHERE issue_day <= origin_day AND (completion_day IS NULL OR completion_day > origin_day)
    ), 0) AS open_ar,
    COALESCE(sum(amount_base) FILTER (WHERE issue_day > origin_day), 0) AS projected_billing
FROM valued
GROUP BY ALL
ORDER BY as_of, week
