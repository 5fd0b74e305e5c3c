-- Gives claimed rows back without counting an attempt: rows the sender did
-- not start (their host is busy or backed off) or abandoned at shutdown.
-- Row i becomes due p_delays_ms[i] milliseconds from now, but only while
-- it is still under the lease its claim set (p_leases_us[i], as
-- owcp_outbox_claim returned it): a row whose lease ran out may already be
-- another sender's. Returns how many rows were released.
CREATE OR REPLACE FUNCTION owcp_outbox_release(p_ids bigint[],
                                    p_leases_us bigint[],
                                    p_delays_ms integer[])
RETURNS integer
LANGUAGE sql AS $$
  WITH r AS (
    UPDATE outbox o
       SET next_attempt_at = now() + make_interval(secs => x.delay_ms / 1000.0)
      FROM unnest(p_ids, p_leases_us, p_delays_ms) AS x(id, lease_us, delay_ms)
     WHERE o.id = x.id
       AND o.delivered_at IS NULL AND o.failed_at IS NULL
       AND (extract(epoch FROM o.next_attempt_at) * 1000000)::bigint = x.lease_us
    RETURNING 1)
  SELECT count(*)::integer FROM r;
$$;
