-- Disputes open at the end of the as-of day (opened by then, not resolved by then), one row per
-- invoice: the most recently opened one when several overlap.
SELECT invoice_id, opened_date AS dispute_opened, reason AS dispute_reason
FROM disputes
WHERE opened_date <= $as_of AND (resolved_date IS NULL OR resolved_date > $as_of)
QUALIFY row_number() OVER (
    PARTITION BY invoice_id ORDER BY opened_date DESC, reason NULLS LAST
) = 1
ORDER BY invoice_id
