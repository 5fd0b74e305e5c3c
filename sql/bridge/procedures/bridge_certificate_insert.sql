-- Records a certificate the built-in CA issued, and its issuance row
-- (front wstep, scope the template), in one transaction: a certificate is
-- never on record without the confirmation that allowed it. A duplicate
-- serial violates certificate_serial_unique.
CREATE OR REPLACE FUNCTION bridge_certificate_insert(
  p_serial text, p_subject text, p_template text, p_requester text,
  p_tx text, p_der bytea, p_not_before timestamptz, p_not_after timestamptz,
  p_now timestamptz)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
BEGIN
  INSERT INTO certificates (serial, subject, template, requester,
                            confirmation_id, der, not_before, not_after,
                            issued_at)
  VALUES (p_serial, p_subject, p_template, p_requester,
          bridge_confirmation_id(p_tx), p_der, p_not_before, p_not_after,
          v_now);
  PERFORM bridge_issuance_record(
    'wstep', p_requester, p_template, 'certificate',
    format('certificate %s for %s', p_serial, p_subject),
    jsonb_build_object('serial', p_serial, 'subject', p_subject,
                       'not_before', p_not_before, 'not_after', p_not_after),
    p_tx, p_serial, v_now);
END $$;
COMMENT ON FUNCTION bridge_certificate_insert(text, text, text, text, text, bytea, timestamptz, timestamptz, timestamptz) IS
  'Records an issued certificate and its issuance (with the allowing transaction) together.';
