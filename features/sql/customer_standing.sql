-- Every customer with an invoice issued by the as-of day: contact details and its payment record
-- as known at the end of that day (the latest customer_history row with day <= as-of, so only
-- invoices paid by then count). Customers without a paid invoice have hist_n = 0.
WITH seen AS (
    SELECT DISTINCT customer_id, $as_of_day AS k
    FROM invoice_facts
    WHERE issue_day <= $as_of_day
)
SELECT
    s.customer_id,
    c.name,
    c.country,
    c.email,
    COALESCE(h.hist_n, 0) AS hist_n,
    h.hist_mean_late,
    h.hist_share_late30
FROM seen AS s
ASOF LEFT JOIN customer_history AS h ON s.customer_id = h.customer_id AND h.day <= s.k
LEFT JOIN customers AS c ON s.customer_id = c.customer_id
ORDER BY s.customer_id
