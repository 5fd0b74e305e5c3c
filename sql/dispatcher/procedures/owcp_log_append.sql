CREATE OR REPLACE FUNCTION owcp_log_append(p_event text, p_account text,
                                p_requestor text, p_transaction text,
                                p_client text, p_detail text)
RETURNS void LANGUAGE sql AS $$
  INSERT INTO log (event, account, requestor, transaction, client, detail)
  VALUES (p_event, p_account, p_requestor, p_transaction, p_client, p_detail);
$$;
