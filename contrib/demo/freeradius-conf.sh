#!/usr/bin/env bash
# freeradius-conf.sh RADDB PORT SECRET < USERS — a private FreeRADIUS 3.2
# configuration for the bridge's demo (scripts/run-bridge.sh): a copy of
# /etc/freeradius/3.0 in RADDB (created) whose only virtual server answers
# PAP on 127.0.0.1:PORT from the users file read on standard input
# (mods-config/files/authorize syntax; single-quote names with a
# backslash), signs every reply (FreeRADIUS 3.2.1 predates the BlastRADIUS
# fixes and adds Message-Authenticator only when told to), requires
# Message-Authenticator from its one client (127.0.0.1, SECRET) and has no
# reject delay. The same configuration as tests/integration/
# test_radius_freeradius.c. Start it with: freeradius -X -d RADDB -l stdout
set -euo pipefail
raddb=$1 port=$2 secret=$3
mkdir -m 0700 "$raddb"
cp -a /etc/freeradius/3.0/. "$raddb"
rm -f "$raddb/sites-enabled/inner-tunnel" "$raddb/sites-enabled/default" \
  "$raddb/mods-enabled/eap"
umask 077
cat >"$raddb/sites-enabled/default" <<SITE
server default {
  listen {
    type = auth
    ipaddr = 127.0.0.1
    port = $port
  }
  authorize {
    files
    pap
    update reply {
      Message-Authenticator := 0x00
    }
  }
  authenticate {
    Auth-Type PAP {
      pap
    }
  }
  post-auth {
  }
}
SITE
cat >"$raddb/clients.conf" <<CLIENTS
client localhost {
  ipaddr = 127.0.0.1
  secret = $secret
  require_message_authenticator = yes
}
CLIENTS
cat >"$raddb/mods-config/files/authorize"
sed -i 's/reject_delay = 1/reject_delay = 0/' "$raddb/radiusd.conf"
# As root FreeRADIUS drops to freerad before loading modules: hand it the
# copy. As anyone else it cannot switch users: remove the user/group lines.
if [ "$(id -u)" -eq 0 ]; then
  chmod 0711 "$(dirname "$raddb")"
  chown -R freerad:freerad "$raddb"
else
  sed -i 's/^\([[:space:]]*\)\(user\|group\) = freerad/\1# \2 = freerad/' "$raddb/radiusd.conf"
fi
