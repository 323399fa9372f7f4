-- Invoices open at the end of the as-of day: issued on or before it and not completed by it.
CREATE OR REPLACE TEMP TABLE feature_keys AS
SELECT
    row_number() OVER (ORDER BY invoice_id) - 1 AS row_id,
    invoice_id,
    $as_of AS k
FROM invoice_facts
WHERE issue_day <= $as_of AND (completion_day IS NULL OR completion_day > $as_of);
