-- Cash actually collected per forecast week after each past forecast origin, in base currency:
-- all payments (`total`), payments on invoices open at the origin (`open_ar`) and on invoices
-- issued after it (`projected_billing`). Payments are valued at the latest FX rate known on their
-- own date (the cash as it landed); only payments dated by $as_of are read.
WITH origins AS (
    SELECT DISTINCT (origin::DATE - DATE '1970-01-01')::INTEGER AS origin_day, origin::DATE AS origin
    FROM _origins
),
pay AS (
    SELECT
        (p.payment_date - DATE '1970-01-01')::INTEGER AS pay_day,
        p.amount * CASE
            WHEN f.currency = $base_currency THEN 1.0
            ELSE COALESCE(fx.rate_to_base, f.amount_base / f.amount)
        END AS amount_base,
        f.issue_day,
        f.completion_day
    FROM payments AS p
    JOIN invoice_facts AS f USING (invoice_id)
    ASOF LEFT JOIN fx_rates AS fx ON f.currency = fx.currency AND fx.date <= p.payment_date
    WHERE p.payment_date <= $as_of
)
SELECT
    o.origin AS as_of,
    (pay.pay_day - o.origin_day - 1) // 7 + 1 AS week,
    sum(pay.amount_base) AS total,
    COALESCE(sum(pay.amount_base) FILTER (
        WHERE pay.issue_day <= o.origin_day
            AND (pay.completion_day IS NULL OR pay.completion_day > o.origin_day)
    ), 0) AS open_ar,
    COALESCE(sum(pay.amount_base) FILTER (WHERE pay.issue_day > o.origin_day), 0)
        AS projected_billing
FROM origins AS o
JOIN pay ON pay.pay_day > o.origin_day AND pay.pay_day <= o.origin_day + 7 * $weeks
GROUP BY ALL
ORDER BY as_of, week
