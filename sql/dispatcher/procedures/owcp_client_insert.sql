CREATE OR REPLACE FUNCTION owcp_client_insert(p_account_id bigint, p_account text,
                                   p_client text, p_description text,
                                   p_token_hash bytea, p_cert bytea,
                                   p_now timestamptz, p_how text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO clients (id, account_id, description, token_hash, cert_der,
                       created_at)
  VALUES (p_client, p_account_id, p_description, p_token_hash, p_cert, p_now);
  PERFORM owcp_log_append('client.registered', p_account, NULL, NULL,
                          p_client, 'by=' || p_how);
END $$;
