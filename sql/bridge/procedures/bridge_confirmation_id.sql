-- The internal id of the confirmation whose OWCP transaction is p_tx, for
-- the procedures that link a row to a confirmation; NULL for a NULL p_tx
-- (no confirmation: confirm = off). An unknown transaction is a caller's
-- fault, raised as a foreign key violation naming it.
CREATE OR REPLACE FUNCTION bridge_confirmation_id(p_tx text)
RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_id bigint;
BEGIN
  IF p_tx IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT id INTO v_id FROM confirmations WHERE transaction = p_tx;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no confirmation has OWCP transaction "%"', p_tx
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN v_id;
END $$;
COMMENT ON FUNCTION bridge_confirmation_id(text) IS
  'The confirmations.id of an OWCP transaction (NULL for NULL); raises 23503 naming an unknown one.';
