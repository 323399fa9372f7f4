-- customer_history split by delivery channel: a customer that moves from paper to e-invoicing
-- usually pays on a different rhythm, and its old paper history would mislead the new invoices.
CREATE OR REPLACE TABLE customer_channel_history AS
WITH done AS (
    SELECT
        customer_id,
        channel,
        invoice_id,
        completion_day AS day,
        (completion_day - due_day)::DOUBLE AS late
    FROM invoice_facts
    WHERE completion_day IS NOT NULL AND channel IS NOT NULL
),
stats AS (
    SELECT
        customer_id,
        channel,
        day,
        count(*) OVER cum AS channel_hist_n,
        avg(late) OVER cum AS channel_mean_late,
        quantile_cont(late, 0.5) OVER last10 AS channel_last10_median_late,
        row_number() OVER (PARTITION BY customer_id, channel, day ORDER BY invoice_id DESC) AS rn
    FROM done
    WINDOW
        cum AS (PARTITION BY customer_id, channel ORDER BY day, invoice_id ROWS UNBOUNDED PRECEDING),
        last10 AS (PARTITION BY customer_id, channel ORDER BY day, invoice_id ROWS 9 PRECEDING)
)
SELECT * EXCLUDE (rn) FROM stats WHERE rn = 1;
