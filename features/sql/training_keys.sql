-- Training rows for the discrete-time hazard model, as (invoice, day d, knowledge day k) keys.
-- On large ledgers a deterministic sample of invoices is used (all of their days); customer
-- history features still come from every invoice.
-- Each invoice issued before the cutoff is at risk on every day d from the day after issue until
-- it completes (event) or the cutoff / age cap is reached (right-censored: it still contributes
-- the days it survived). Non-event days are subsampled deterministically (hash of id and day) and
-- reweighted by 1/keep_rate. The knowledge day k = d - lead, with lead drawn per row in
-- [1, min(horizon, d - issue_day)], mirrors scoring, where everything is known as of one day and
-- the model predicts up to `horizon` days ahead.
CREATE OR REPLACE TEMP TABLE feature_keys AS
WITH spans AS (
    SELECT
        invoice_id,
        issue_day,
        CASE WHEN completion_day <= $cutoff THEN completion_day END AS event_day,
        LEAST(COALESCE(CASE WHEN completion_day <= $cutoff THEN completion_day END, $cutoff),
              due_day + $max_days_late) AS end_day
    FROM invoice_facts
    WHERE issue_day < $cutoff AND hash(invoice_id, $seed + 2) % 1000000 < $invoice_ppm
),
days AS (
    SELECT invoice_id, issue_day, event_day, unnest(range(issue_day + 1, end_day + 1)) AS d
    FROM spans
    WHERE end_day > issue_day
),
kept AS (
    SELECT
        invoice_id,
        issue_day,
        d,
        d IS NOT DISTINCT FROM event_day AS event
    FROM days
    WHERE d IS NOT DISTINCT FROM event_day OR hash(invoice_id, d, $seed) % 1000000 < $keep_ppm
)
SELECT
    row_number() OVER (ORDER BY invoice_id, d) - 1 AS row_id,
    invoice_id,
    d,
    d - 1 - (hash(invoice_id, d, $seed + 1) % LEAST($horizon, d - issue_day))::INTEGER AS k,
    event,
    CASE WHEN event THEN 1.0 ELSE 1000000.0 / $keep_ppm END AS weight
FROM kept;
