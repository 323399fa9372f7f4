-- Features of each (invoice, knowledge day k) key in `feature_keys`, using only what was known at
-- the end of day k. Shared by training (many keys per invoice) and scoring (k = as-of), so both
-- see exactly the same definitions.
SELECT
    k.row_id,
    k.k,
    f.invoice_id,
    f.customer_id,
    f.currency,
    f.segment,
    f.country,
    f.channel,
    f.issue_day,
    f.due_day,
    f.amount_base,
    f.due_day - f.issue_day AS terms_days,
    f.customer_terms_days,
    f.amount_base / NULLIF(f.customer_prior_median_amount, 0) AS amount_vs_customer_median,
    f.customer_prior_invoices,
    h.* EXCLUDE (customer_id, day),
    k.k - h.day AS days_since_customer_payment,
    COALESCE(ch.channel_hist_n, 0) AS channel_hist_n,
    ch.channel_mean_late,
    ch.channel_last10_median_late,
    co.channel_offset,
    e.customer_open_count,
    e.customer_open_amount,
    e.customer_overdue_count,
    e.customer_overdue_amount,
    COALESCE(p.paid_to_date, 0) / f.amount AS paid_share,
    COALESCE(p.payments_to_date, 0) AS partial_payments,
    k.k - p.last_payment_day AS days_since_partial_payment,
    COALESCE(d.disputes_open, 0) > 0 AS dispute_open,
    COALESCE(d.disputes_total, 0) AS disputes_total,
    d.last_dispute_opened_day,
    d.last_dispute_resolved_day
FROM feature_keys AS k
JOIN invoice_facts AS f USING (invoice_id)
ASOF LEFT JOIN customer_history AS h ON f.customer_id = h.customer_id AND h.day <= k.k
ASOF LEFT JOIN customer_channel_history AS ch
    ON f.customer_id = ch.customer_id AND f.channel = ch.channel AND ch.day <= k.k
ASOF LEFT JOIN channel_offsets AS co ON f.channel = co.channel AND co.day <= k.k
ASOF LEFT JOIN customer_exposure AS e ON f.customer_id = e.customer_id AND e.day <= k.k
ASOF LEFT JOIN invoice_paid_to_date AS p ON k.invoice_id = p.invoice_id AND p.day <= k.k
ASOF LEFT JOIN invoice_dispute_state AS d ON k.invoice_id = d.invoice_id AND d.day <= k.k
ORDER BY k.row_id
