-- Per-invoice state that changes over its life: partial payments received and dispute status,
-- as step functions of time (one row per invoice and event day) for ASOF lookups.
CREATE OR REPLACE TABLE invoice_paid_to_date AS
SELECT
    invoice_id,
    day,
    sum(paid) OVER w AS paid_to_date,
    sum(n) OVER w AS payments_to_date,
    day AS last_payment_day
FROM (
    SELECT invoice_id, (payment_date - DATE '1970-01-01')::INTEGER AS day, sum(amount) AS paid, count(*) AS n
    FROM payments GROUP BY ALL
)
WINDOW w AS (PARTITION BY invoice_id ORDER BY day ROWS UNBOUNDED PRECEDING);

CREATE OR REPLACE TABLE invoice_dispute_state AS
WITH events AS (
    SELECT invoice_id, (opened_date - DATE '1970-01-01')::INTEGER AS day, 1 AS d_open, 1 AS d_count,
           (opened_date - DATE '1970-01-01')::INTEGER AS opened_day, NULL::INTEGER AS resolved_day
    FROM disputes
    UNION ALL
    SELECT invoice_id, (resolved_date - DATE '1970-01-01')::INTEGER, -1, 0, NULL,
           (resolved_date - DATE '1970-01-01')::INTEGER
    FROM disputes WHERE resolved_date IS NOT NULL
),
daily AS (
    SELECT invoice_id, day, sum(d_open) AS d_open, sum(d_count) AS d_count,
           max(opened_day) AS opened_day, max(resolved_day) AS resolved_day
    FROM events GROUP BY ALL
)
SELECT
    invoice_id,
    day,
    sum(d_open) OVER w AS disputes_open,
    sum(d_count) OVER w AS disputes_total,
    max(opened_day) OVER w AS last_dispute_opened_day,
    max(resolved_day) OVER w AS last_dispute_resolved_day
FROM daily
WINDOW w AS (PARTITION BY invoice_id ORDER BY day ROWS UNBOUNDED PRECEDING);
