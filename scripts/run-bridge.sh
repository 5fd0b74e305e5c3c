#!/usr/bin/env bash
# The enrollment bridge demo: on loopback, with a throwaway PostgreSQL
# (scripts/with-pg.sh), starts the dispatcher, a FreeRADIUS with the demo
# user EXAMPLE\alice (one-time password 123456), a demo RA certificate and
# owcp-bridge with a demo configuration (MS-OTPCE on
# http://127.0.0.1:PORT/otpce and MS-WSTEP on /wstep with a demo issuing
# CA, confirm = required; MRAS TURN credentials over SIP on
# 127.0.0.1:15060 and at /mras, confirm = cached:480, with a coturn on
# 127.0.0.1:34780 when turnserver is installed), and prints how to
# register alice's device, how to send a SignCert and a WSTEP Issue /
# QueryTokenStatus with curl, and how to ask for TURN credentials and use
# them on coturn. Ctrl-C stops everything and removes the databases.
#
#   scripts/run-bridge.sh [PORT]      (default 8443; the dispatcher: 8480)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${1:-8443}

if [ "${OWCP_BRIDGE_DEMO_INSIDE:-}" != 1 ]; then
  scripts/install-deps.sh run
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc)" >/dev/null
  OWCP_BRIDGE_DEMO_INSIDE=1 exec scripts/with-pg.sh --durable "$0" "$PORT"
fi

# ---- inside the throwaway cluster (OWCP_TEST_DB, OWCP_PGHOST) ----------------
admin=build/dispatcher/owcp-admin
bridge=build/enrollment-bridge/owcp-bridge
db=$OWCP_TEST_DB
demo=$OWCP_PGHOST/demo
mkdir -m 0711 "$demo"
# FreeRADIUS (as root: the freerad user) must reach its configuration,
# which the cluster's directory (mode 0700) would hide.
raddir=$(mktemp -d "${TMPDIR:-/tmp}/owcp-radius.XXXXXX")
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait; rm -rf "$raddir"' EXIT
trap 'exit 130' INT TERM

# The dispatcher, its requestor account for the bridge and alice.
"$admin" --db "$db" migrate >/dev/null
token=$("$admin" --db "$db" requestor add enroll@example.com | tail -n 1)
"$admin" --db "$db" account add alice@example.com >/dev/null
code=$("$admin" --db "$db" code issue alice@example.com | tail -n 1)
dport=8480
dbase="http://127.0.0.1:$dport/owcp/0.1"
build/dispatcher/owcp-dispatcher --db "$db" --listen "127.0.0.1:$dport" \
  --domain example.com --insecure-http --key-dir "$demo/keys" \
  >"$demo/dispatcher.log" 2>&1 &
pids+=($!)

# FreeRADIUS: EXAMPLE\alice with the one-time password 123456.
rport=18120
secret=demo-radius-secret
printf "'EXAMPLE\\\\alice' Cleartext-Password := \"123456\"\n" |
  contrib/demo/freeradius-conf.sh "$raddir/raddb" "$rport" "$secret"
freeradius -X -d "$raddir/raddb" -l stdout >"$demo/freeradius.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  grep -q 'Ready to process requests' "$demo/freeradius.log" && break
  sleep 0.2
done

# The bridge's files: token, RADIUS secret, a demo RA (enrollment agent).
(
  umask 077
  printf '%s\n' "$token" >"$demo/bridge.token"
  printf '%s\n' "$secret" >"$demo/radius.secret"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Demo Enrollment Agent" \
    -keyout "$demo/ra.key" -out "$demo/ra.pem" 2>/dev/null
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=Demo Issuing CA" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$demo/issuing-ca.key" -out "$demo/issuing-ca.pem" 2>/dev/null
  # MRAS: alice's Digest/Basic password "wonderland" as an htdigest HA1,
  # and the TURN secret the bridge shares with coturn.
  printf 'alice@example.com:example.com:%s\n' \
    "$(printf '%s' 'alice@example.com:example.com:wonderland' | md5sum | cut -c1-32)" \
    >"$demo/mras.htdigest"
  openssl rand -hex 24 >"$demo/turn.secret"
  # coturn with that secret (--use-auth-secret), from a 0600 file, not argv.
  cat >"$demo/turnserver.conf" <<TURN
listening-ip=127.0.0.1
relay-ip=127.0.0.1
listening-port=34780
min-port=49160
max-port=49200
use-auth-secret
static-auth-secret=$(cat "$demo/turn.secret")
realm=example.com
allow-loopback-peers
no-tls
no-dtls
no-cli
userdb=$demo/turndb
TURN
)
turn="not started (install coturn: apt-get install coturn)"
if command -v turnserver >/dev/null; then
  turnserver -c "$demo/turnserver.conf" --log-file=stdout >"$demo/turnserver.log" 2>&1 &
  pids+=($!)
  turn="127.0.0.1:34780 (coturn --use-auth-secret, realm example.com)"
fi
bridge_db="host=$OWCP_PGHOST user=postgres dbname=owcp_bridge"
"$OWCP_PGBIN/createdb" -h "$OWCP_PGHOST" -U postgres owcp_bridge
cat >"$demo/bridge.conf" <<CONF
# owcp-bridge demo configuration (scripts/run-bridge.sh)
[bridge]
listen = 127.0.0.1:$PORT
insecure_http = yes
public_url = http://127.0.0.1:$PORT
db = $bridge_db
[owcp]
requestor = enroll@example.com
token_file = bridge.token
dispatcher = $dbase
insecure_http = yes
timeout = 120
[identity]
map = EXAMPLE\\* -> *@example.com
map = sip:*@example.com -> *@example.com
upn_suffix = EXAMPLE = example.com
[otpce]
path = /otpce
template = SmartcardLogon
ra_cert = ra.pem
ra_key = ra.key
issuing_ca = ca1.example.com\\Example Issuing CA
confirm = required
[radius]
server = 127.0.0.1:$rport
secret_file = radius.secret
[wstep]
path = /wstep
auth = username
ca_cert = issuing-ca.pem
ca_key = issuing-ca.key
confirm = required
[wstep.template.User]
validity_days = 365
key_usage = digitalSignature, keyEncipherment
extended_key_usage = clientAuth
subject_from = upn
[mras]
enabled = yes
sip_udp = 127.0.0.1:15060
sip_tcp = 127.0.0.1:15060
http_path = /mras
realm = example.com
digest_users_file = mras.htdigest
challenge = 407
token_format = rest
turn_secret_file = turn.secret
turn_host = 127.0.0.1
turn_udp_port = 34780
turn_tcp_port = 34780
max_duration = 480
confirm = cached:480
CONF
# A WSTEP Issue as Windows sends it (seed example 4.1.1.1) with a
# UsernameToken, and a QueryTokenStatus (4.1.3.1); TOKEN and ID are
# filled in by the commands printed below.
wsa='xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
sec='<o:Security xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><o:UsernameToken><o:Username>EXAMPLE\alice</o:Username><o:Password>123456</o:Password></o:UsernameToken></o:Security>'
rst='<RequestSecurityToken xmlns="http://docs.oasis-open.org/ws-sx/ws-trust/200512"><TokenType>http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3</TokenType>'
cat >"$demo/wstep-issue.xml" <<XML
<s:Envelope $wsa><s:Header><a:Action s:mustUnderstand="1">http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep</a:Action><a:MessageID>urn:uuid:b5d1a601-5091-4a7d-b34b-5204c18b5919</a:MessageID>$sec</s:Header><s:Body>$rst<RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</RequestType><BinarySecurityToken EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary" ValueType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#PKCS7" xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">TOKEN</BinarySecurityToken></RequestSecurityToken></s:Body></s:Envelope>
XML
cat >"$demo/wstep-query.xml" <<XML
<s:Envelope $wsa><s:Header><a:Action s:mustUnderstand="1">http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep</a:Action><a:MessageID>urn:uuid:ce330bb2-0ca2-473b-a29a-19e9264666ff</a:MessageID>$sec</s:Header><s:Body>$rst<RequestType>http://schemas.microsoft.com/windows/pki/2009/01/enrollment/QueryTokenStatus</RequestType><RequestID xmlns="http://schemas.microsoft.com/windows/pki/2009/01/enrollment">ID</RequestID></RequestSecurityToken></s:Body></s:Envelope>
XML
"$bridge" --config "$demo/bridge.conf" migrate >/dev/null

client="build/client-lib/owcp-client --state-dir $demo/client --dispatcher $dbase --insecure-http"
cat <<EOT

owcp enrollment bridge (demo; the databases are removed when you stop it)
  bridge:       http://127.0.0.1:$PORT/otpce   (health: /healthz, /metrics)
  MRAS:         sip:127.0.0.1:15060 (UDP, TCP), http://127.0.0.1:$PORT/mras
  TURN:         $turn
  dispatcher:   $dbase
  FreeRADIUS:   127.0.0.1:$rport, user EXAMPLE\\alice, one-time password 123456
  files, logs:  $demo

  1. In another terminal, register alice's device and answer requests:
       mkdir -m 700 $demo/client
       $client register alice@example.com --code $code --pin
       $client watch

  2. In a third, a Windows-like request (SHA-1, v1 template, UPN) and a
     SignCert with curl; the bridge asks alice (accept in step 1):
       cd $demo
       openssl req -new -newkey rsa:2048 -nodes -sha1 -keyout alice.key \\
         -subj "/DC=com/DC=example/CN=Users/CN=Alice Example" \\
         -addext "1.3.6.1.4.1.311.20.2=ASN1:BMPSTRING:SmartcardLogon" \\
         -addext "subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:alice@example.com" \\
         -addext "extendedKeyUsage=1.3.6.1.4.1.311.20.2.2" -outform DER -out alice.csr
       printf '<signCertRequest xmlns="http://schemas.microsoft.com/otpcep/1.0/protocol" username="EXAMPLE\\\\alice" oneTimePassword="123456" certRequest="%s"/>' "\$(base64 -w0 alice.csr)" >signcert.xml
       curl -sS -H 'X-OTPCEP-version: 1.0' -H 'Content-Type: application/xml; charset=utf-8' \\
         --data-binary @signcert.xml http://127.0.0.1:$PORT/otpce
     The answer is statusCode="Success" with the RA-signed CMC request
     (SignedCertRequest) and the IssuingCA, once alice accepted.

  3. WSTEP: an Issue (template User, v1 name) answers "Taken Under
     Submission" with a RequestID at once; accept in step 1, then a
     QueryTokenStatus with that RequestID answers Issued with the
     certificate, which openssl verifies under the demo CA:
       cd $demo
       openssl req -new -newkey rsa:2048 -nodes -keyout user.key -subj "/CN=Alice" \\
         -addext "1.3.6.1.4.1.311.20.2=ASN1:BMPSTRING:User" -outform DER -out user.csr
       sed "s|TOKEN|\$(base64 -w0 user.csr)|" wstep-issue.xml >issue.xml
       curl -sS -H 'Content-Type: application/soap+xml; charset=utf-8' \\
         --data-binary @issue.xml http://127.0.0.1:$PORT/wstep
       sed "s|>ID<|>1<|" wstep-query.xml >query.xml     # 1: the RequestID above
       curl -sS -H 'Content-Type: application/soap+xml; charset=utf-8' \\
         --data-binary @query.xml http://127.0.0.1:$PORT/wstep | xmllint --format -
     The certificate is the BinarySecurityToken inside RequestedSecurityToken;
     \`$bridge --config $demo/bridge.conf certificates\` lists it.

  4. TURN credentials (MRAS) for sip:alice@example.com, password
     wonderland; the first request asks alice (accept in step 1, within
     30 s, or retry after the Time Out), later ones use the cached Accept:
       cd $demo
       printf '<request requestID="1" from="sip:alice@example.com" version="1.0" to="sip:MRASLoc.example.com@example.com" xmlns="http://schemas.microsoft.com/2006/09/sip/mrasp"><credentialsRequest credentialsRequestID="1"><identity>sip:alice@example.com</identity><location>internet</location><duration>480</duration></credentialsRequest></request>' >mras.xml
       curl -sS -u alice@example.com -H 'Content-Type: application/msrtc-media-relay-auth+xml' \\
         --data-binary @mras.xml http://127.0.0.1:$PORT/mras      # curl asks for the password
     or over SIP (sipsak answers the Digest challenge):
       printf 'SERVICE sip:alice@127.0.0.1:15060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:15070;branch=z9hG4bKdemo\r\nFrom: <sip:alice@example.com>;tag=demo\r\nTo: <sip:MRASLoc.example.com@example.com>\r\nCall-ID: demo@example.com\r\nCSeq: 1 SERVICE\r\nContent-Type: application/msrtc-media-relay-auth+xml\r\nContent-Length: %s\r\n\r\n%s' "\$(wc -c <mras.xml)" "\$(cat mras.xml)" >service.sip
       sipsak -f service.sip -s sip:alice@127.0.0.1:15060 -u alice@example.com -a wonderland -l 15070 -vv
     The answer has reasonPhrase="OK", <username>EXPIRY:sip:alice@example.com</username>
     and <password>. coturn: $turn
     accepts them (a UDP echo peer, then an allocation relaying to it):
       turnutils_peer -L 127.0.0.1 -p 34800 &
       turnutils_uclient -p 34780 -e 127.0.0.1 -r 34800 -n 3 -u 'USERNAME' -w 'PASSWORD' 127.0.0.1
     (exit 0, "Total lost packets 0"; after the expiry it cannot allocate).
Ctrl-C stops it.

EOT
"$bridge" --config "$demo/bridge.conf" &
pids+=($!)
wait "$!"
