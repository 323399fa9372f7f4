-- Size of the full at-risk panel before subsampling, to choose the keep rate.
WITH spans AS (
    SELECT
        issue_day,
        due_day,
        completion_day,
        completion_day <= $cutoff AS paid,
        LEAST(COALESCE(CASE WHEN completion_day <= $cutoff THEN completion_day END, $cutoff),
              due_day + $max_days_late) AS end_day
    FROM invoice_facts
    WHERE issue_day < $cutoff
)
SELECT
    COALESCE(sum(GREATEST(end_day - issue_day, 0)), 0) AS at_risk_days,
    COALESCE(count(*) FILTER (WHERE paid AND end_day > issue_day), 0) AS events,
    -- the latest an invoice was paid past its due date among the panel's events
    max(completion_day - due_day) FILTER (WHERE paid AND end_day = completion_day)
        AS oldest_paid_days_late,
    -- paid later than the panel follows an invoice: censored there, never seen paid
    count(*) FILTER (WHERE paid AND completion_day > due_day + $max_days_late)
        AS paid_past_panel
FROM spans;
