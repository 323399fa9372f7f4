-- One row per invoice: the invoice's static facts plus its completion day.
-- Days are integers (days since 1970-01-01). completion_day is the first day cumulative payments
-- reach the invoice amount (within tolerance); it may lie after any particular as-of date, so every
-- consumer must compare it with its own knowledge time before using it.
CREATE OR REPLACE TABLE invoice_facts AS
WITH pay AS (
    SELECT
        invoice_id,
        (payment_date - DATE '1970-01-01')::INTEGER AS pay_day,
        SUM(amount) OVER (
            PARTITION BY invoice_id ORDER BY payment_date, payment_id ROWS UNBOUNDED PRECEDING
        ) AS cum_paid
    FROM payments
),
completion AS (
    SELECT pay.invoice_id, MIN(pay.pay_day) AS completion_day
    FROM pay JOIN invoices AS i USING (invoice_id)
    WHERE round(i.amount - pay.cum_paid, $money_digits) <= $tolerance
    GROUP BY pay.invoice_id
),
first_rate AS (
    SELECT currency, arg_min(rate_to_base, date) AS rate_to_base FROM fx_rates GROUP BY currency
),
priced AS (
    SELECT
        i.*,
        CASE
            WHEN i.currency = $base_currency THEN 1.0
            ELSE COALESCE(fx.rate_to_base, fr.rate_to_base)
        END AS fx_at_issue
    FROM invoices AS i
    ASOF LEFT JOIN fx_rates AS fx ON i.currency = fx.currency AND fx.date <= i.issue_date
    LEFT JOIN first_rate AS fr ON i.currency = fr.currency
)
SELECT
    p.invoice_id,
    p.customer_id,
    p.currency,
    (p.issue_date - DATE '1970-01-01')::INTEGER AS issue_day,
    (p.due_date - DATE '1970-01-01')::INTEGER AS due_day,
    p.amount,
    p.amount * p.fx_at_issue AS amount_base,
    lower(trim(p.delivery_channel)) AS channel,
    c.completion_day,
    cu.segment,
    cu.country,
    cu.payment_terms_days AS customer_terms_days,
    -- Amount norms use only invoices issued earlier (known at issue time).
    median(p.amount * p.fx_at_issue) OVER prior AS customer_prior_median_amount,
    count(*) OVER prior AS customer_prior_invoices
FROM priced AS p
LEFT JOIN completion AS c USING (invoice_id)
LEFT JOIN customers AS cu USING (customer_id)
WINDOW prior AS (
    PARTITION BY p.customer_id ORDER BY p.issue_date, p.invoice_id
    ROWS BETWEEN 24 PRECEDING AND 1 PRECEDING
);
