-- Customer payment behaviour, as a step function of time: one row per (customer, day on which at
-- least one of its invoices was completed), holding statistics over all invoices the customer had
-- completed up to and including that day. A feature lookup at knowledge day k takes the latest row
-- with day <= k (ASOF join), so only invoices *paid before the scoring time* ever contribute.
CREATE OR REPLACE TABLE customer_history AS
WITH done AS (
    SELECT
        customer_id,
        invoice_id,
        completion_day AS day,
        (completion_day - due_day)::DOUBLE AS late,
        (completion_day - issue_day)::DOUBLE AS days_to_pay,
        isodow(DATE '1970-01-01' + completion_day) - 1 AS weekday,
        day(DATE '1970-01-01' + completion_day) AS month_day,
        day(last_day(DATE '1970-01-01' + completion_day))
            - day(DATE '1970-01-01' + completion_day) <= $month_end_days AS month_end
    FROM invoice_facts
    WHERE completion_day IS NOT NULL
),
stats AS (
    SELECT
        customer_id,
        day,
        count(*) OVER cum AS hist_n,
        avg(late) OVER cum AS hist_mean_late,
        -- from exact integer sums: a floating-point stddev depends on the order DuckDB combines
        -- partial results in, and a feature must not change when only the ids do
        sqrt(
            greatest(count(*) OVER cum * sum(late::BIGINT ^ 2) OVER cum
                - sum(late::BIGINT) OVER cum ^ 2, 0)
            / nullif(count(*) OVER cum * (count(*) OVER cum - 1), 0)
        ) AS hist_std_late,
        avg((late > 0)::DOUBLE) OVER cum AS hist_share_late,
        avg((late > 30)::DOUBLE) OVER cum AS hist_share_late30,
        avg(days_to_pay) OVER cum AS hist_mean_days_to_pay,
        late AS last_late,
        avg(late) OVER last3 AS last3_mean_late,
        avg(late) OVER last6 AS last6_mean_late,
        quantile_cont(late, 0.5) OVER last10 AS last10_median_late,
        quantile_cont(late, 0.9) OVER last10 AS last10_p90_late,
        regr_slope(late, day) OVER last10 * 30 AS trend_late_per_30d,
        {ewm_expr} AS ewm_late,
        {weekday_share_exprs},
        {month_day_share_exprs},
        avg(month_end::DOUBLE) OVER cum AS month_end_share,
        row_number() OVER (PARTITION BY customer_id, day ORDER BY invoice_id DESC) AS rn_desc
    FROM done
    WINDOW
        cum AS (PARTITION BY customer_id ORDER BY day, invoice_id ROWS UNBOUNDED PRECEDING),
        last3 AS (PARTITION BY customer_id ORDER BY day, invoice_id ROWS 2 PRECEDING),
        last6 AS (PARTITION BY customer_id ORDER BY day, invoice_id ROWS 5 PRECEDING),
        last10 AS (PARTITION BY customer_id ORDER BY day, invoice_id ROWS 9 PRECEDING),
        seq AS (PARTITION BY customer_id ORDER BY day, invoice_id)
)
SELECT * EXCLUDE (rn_desc) FROM stats WHERE rn_desc = 1;
