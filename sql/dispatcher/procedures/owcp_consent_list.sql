-- `owcp-admin consent list [ACCOUNT]` (007_consent.sql): the recorded
-- registrations with how they were consented to, then the active consent
-- requests still pending or refused (an accepted one shows as its
-- registration). p_account NULL: every account. A function rather than a
-- prepared query so that a dispatcher or owcp-admin connected to a database
-- not yet migrated to 007 prepares it without error.
CREATE OR REPLACE FUNCTION owcp_consent_list(p_account text)
RETURNS TABLE (account text, requestor text, state text, by text,
               transaction text, at text)
LANGUAGE sql STABLE AS $$
  SELECT a.address, q.address,
         CASE WHEN r.consent IS NULL THEN 'registered-without-consent'
              ELSE 'consented' END,
         coalesce(r.consent, '-'), r.consent_tx,
         coalesce(r.consented_at, r.created_at)::text
    FROM registrations r JOIN accounts a ON a.id = r.account_id
    JOIN requestors q ON q.id = r.requestor_id
   WHERE p_account IS NULL OR a.address = p_account
  UNION ALL
  SELECT a.address, q.address,
         CASE WHEN t.state = 'answered' THEN 'rejected' ELSE 'pending' END,
         'user', t.id, coalesce(t.responded_at, t.created_at)::text
    FROM consent_requests cr JOIN transactions t ON t.id = cr.transaction_id
    JOIN accounts a ON a.id = cr.account_id
    JOIN requestors q ON q.id = cr.requestor_id
   WHERE cr.active AND (p_account IS NULL OR a.address = p_account)
     AND ((t.state = 'pending' AND t.expires_at > now())
          OR (t.state = 'answered' AND t.response <> 'Accept'))
   ORDER BY 1, 2, 6;
$$;
