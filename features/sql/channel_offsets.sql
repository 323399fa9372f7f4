-- How much later (days) a customer pays on one delivery channel than on its others, as a
-- portfolio step function at month ends: the median, over customers with paid invoices on both
-- (at least $min_customers of them), of (mean lateness on the channel - mean on the rest). A
-- customer that has just moved to e-invoicing has almost no history on it; its paper history,
-- shifted by this, is the best reference it has. A month-end row holds only invoices completed
-- by that day, so a lookup at day k (latest row with day <= k) sees nothing paid after k.
CREATE OR REPLACE TABLE channel_offsets AS
WITH monthly AS (
    SELECT
        customer_id,
        channel,
        (last_day(DATE '1970-01-01' + completion_day) - DATE '1970-01-01')::INTEGER AS day,
        sum(completion_day - due_day)::DOUBLE AS late_sum,
        count(*) AS n
    FROM invoice_facts
    WHERE completion_day IS NOT NULL AND channel IS NOT NULL
    GROUP BY ALL
),
cumulative AS (
    SELECT
        customer_id,
        channel,
        day,
        sum(late_sum) OVER w AS late_sum,
        sum(n) OVER w AS n
    FROM monthly
    WINDOW w AS (PARTITION BY customer_id, channel ORDER BY day)
),
pairs AS (SELECT DISTINCT customer_id, channel FROM monthly),
state AS (
    SELECT g.day, p.customer_id, p.channel, c.late_sum, c.n
    FROM (SELECT DISTINCT day FROM monthly) AS g
    CROSS JOIN pairs AS p
    ASOF JOIN cumulative AS c
        ON c.customer_id = p.customer_id AND c.channel = p.channel AND c.day <= g.day
),
customer_total AS (
    SELECT day, customer_id, sum(late_sum) AS late_sum, sum(n) AS n FROM state GROUP BY ALL
)
SELECT
    s.channel,
    s.day,
    median(s.late_sum / s.n - (t.late_sum - s.late_sum) / (t.n - s.n)) AS channel_offset,
    count(*) AS channel_offset_customers
FROM state AS s
JOIN customer_total AS t USING (day, customer_id)
WHERE t.n > s.n
GROUP BY ALL
HAVING count(*) >= $min_customers
ORDER BY s.channel, s.day;
