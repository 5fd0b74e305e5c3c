-- Approval transactions (CD-Register by approval from an existing device)
-- are typed "Registration", the same name their XML Request carries
-- (<Request type="Registration">, dispatcher/cd_register.c), so clients see
-- one name in CD-List's Type and in the request they render. They were
-- typed "device-approval" before; owcp_cd_approval_start() creates them
-- so since (procedures/owcp_cd_approval_start.sql).
UPDATE transactions t SET type = 'Registration'
  FROM device_approvals d
 WHERE d.transaction_id = t.id AND t.type = 'device-approval';
