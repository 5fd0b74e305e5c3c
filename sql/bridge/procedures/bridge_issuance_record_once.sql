-- Records one thing handed out from an accepted confirmation that must
-- cover exactly one issuance (OTPCE under confirm = required): the
-- confirmation row is locked, so that of two requests holding the same
-- Accept (the client's retry and the request that asked) only the first
-- records; the other gets o_status 409 and hands out nothing. Otherwise
-- as bridge_issuance_record (whose foreign key refuses a transaction that
-- is not an accepted one of the same front, account and scope); o_status
-- 200 and o_id the new row's id.
CREATE OR REPLACE FUNCTION bridge_issuance_record_once(
  p_front text, p_account text, p_scope text, p_kind text,
  p_description text, p_details jsonb, p_tx text, p_now timestamptz,
  OUT o_status integer, OUT o_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_id bigint := bridge_confirmation_id(p_tx);
BEGIN
  IF v_id IS NULL THEN
    RAISE EXCEPTION 'an issuance that consumes an Accept needs its transaction'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- Serialises every consumer of this Accept; the EXISTS below runs with
  -- a snapshot taken after the lock was granted (READ COMMITTED, a new
  -- statement), so it sees a row committed by the previous holder.
  PERFORM 1 FROM confirmations WHERE id = v_id FOR UPDATE;
  IF EXISTS (SELECT 1 FROM issuances WHERE confirmation_id = v_id) THEN
    o_status := 409;
    RETURN;
  END IF;
  o_id := bridge_issuance_record(p_front, p_account, p_scope, p_kind,
                                 p_description, p_details, p_tx, NULL, p_now);
  o_status := 200;
END $$;
COMMENT ON FUNCTION bridge_issuance_record_once(text, text, text, text, text, jsonb, text, timestamptz) IS
  'Records what was handed out from an Accept that covers one issuance only: 200 with the new id, or 409 when something was issued from that transaction already.';
