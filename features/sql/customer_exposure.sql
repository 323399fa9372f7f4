-- The customer's open and overdue exposure as a step function of time, built from dated events
-- (issue: +open; completion: -open; day after due while unpaid: +overdue; late completion:
-- -overdue). Every event is dated on the day it becomes knowable, so an ASOF lookup at day k sees
-- exactly the state known at the end of day k. Amounts are summed as DECIMAL: exact, so the
-- totals do not depend on the order the rows are added in (nor, through it, on the ids).
CREATE OR REPLACE TABLE customer_exposure AS
WITH events AS (
    SELECT customer_id, issue_day AS day, 1 AS d_open, amount_base::DECIMAL(38, 4) AS d_open_amount,
           0 AS d_overdue, 0::DECIMAL(38, 4) AS d_overdue_amount
    FROM invoice_facts
    UNION ALL
    SELECT customer_id, completion_day, -1, -amount_base::DECIMAL(38, 4), 0, 0
    FROM invoice_facts WHERE completion_day IS NOT NULL
    UNION ALL
    SELECT customer_id, due_day + 1, 0, 0, 1, amount_base::DECIMAL(38, 4)
    FROM invoice_facts WHERE completion_day IS NULL OR completion_day > due_day
    UNION ALL
    SELECT customer_id, completion_day, 0, 0, -1, -amount_base::DECIMAL(38, 4)
    FROM invoice_facts WHERE completion_day > due_day
),
daily AS (
    SELECT customer_id, day, sum(d_open) AS d_open, sum(d_open_amount) AS d_open_amount,
           sum(d_overdue) AS d_overdue, sum(d_overdue_amount) AS d_overdue_amount
    FROM events GROUP BY customer_id, day
)
SELECT
    customer_id,
    day,
    sum(d_open) OVER w AS customer_open_count,
    (sum(d_open_amount) OVER w)::DOUBLE AS customer_open_amount,
    sum(d_overdue) OVER w AS customer_overdue_count,
    (sum(d_overdue_amount) OVER w)::DOUBLE AS customer_overdue_amount
FROM daily
WINDOW w AS (PARTITION BY customer_id ORDER BY day ROWS UNBOUNDED PRECEDING);
