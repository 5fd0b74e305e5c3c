#!/usr/bin/env bash
# Installs the Debian 12 packages the project needs, from these two lists.
#
#   scripts/install-deps.sh run    to build, install and run owcp (and the
#                                  demo database of scripts/run.sh)
#   scripts/install-deps.sh test   that, plus the test tooling (the default)
#
# Safe to run any number of times: only missing packages are installed, and
# the package index is refreshed only when one is missing. As root it runs
# apt-get itself, otherwise through sudo; with neither it names the missing
# packages and the command to run as root, and exits 1.
#
# OWCP_DEPS_EXTRA="pkg ...": more packages to require on top of the list
# (to try one before adding it here; the tests use it to check the message
# for a package that is missing).
set -euo pipefail

# Build, run, and the PostgreSQL that scripts/run.sh provisions.
RUN_PACKAGES=(
  # build
  build-essential cmake pkg-config scdoc
  # libraries
  libmicrohttpd-dev libjansson-dev libxml2-dev libssl-dev libc-ares-dev
  libpq-dev libcurl4-openssl-dev libinih-dev
  # service layer: systemd notification (sd_notify)
  libsystemd-dev
  # service layer: the TLS client certificate (gnutls_certificate_get_peers)
  libgnutls28-dev
  # the PAM module (pam/)
  libpam0g-dev
  # owcp-admin passwd / serve: yescrypt (crypt_gensalt_ra, crypt_ra)
  libcrypt-dev
  # the database
  postgresql-15
  # the enrollment bridge MRAS front: the SIP parser (libosip2)
  libosip2-dev
  # the enrollment bridge demo (scripts/run-bridge.sh): OTP server, openssl, curl
  freeradius openssl curl
)

# What only the tests, static analysis, fuzzing and benchmarks use.
TEST_PACKAGES=(
  # static analysis and fuzzing
  clang libclang-rt-14-dev clang-format clang-tidy cppcheck
  # unit tests
  libcmocka-dev
  # real components the tests and benchmarks run (pgbench is in contrib)
  postgresql-contrib openssl dnsmasq-base tmux procps curl
  # packaging tests: systemd-analyze verify, systemd-sysusers, man -l
  systemd man-db
  # the enrollment bridge's peers: RADIUS test client (freeradius is a run package)
  freeradius-utils
  # independent oracles of the enrollment bridge's OTPCE tests
  python3-asn1crypto python3-cryptography libxml2-utils
  # JSON in the shell integration tests (test_log_heads.sh, test_completion.sh)
  jq
  # the enrollment bridge MRAS front's peers: SIP clients, a TURN server, TLS relay
  sip-tester sipsak coturn socat
  # an ordinary PAM application, for the PAM module's tests
  pamtester
  # a real browser for the audit console's test (test_console, DevTools
  # protocol driven by python3's standard library)
  chromium python3
  # the benchmark's CIBA peer (bench/run.sh; ../shared/peers/ciba); npm
  # is added below
  nodejs
)

mode=${1:-test}
case $mode in
  run) packages=("${RUN_PACKAGES[@]}") ;;
  test) packages=("${RUN_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
  *)
    echo "usage: scripts/install-deps.sh [run|test]" >&2
    exit 2
    ;;
esac
# npm for the CIBA peer: Debian's nodejs leaves it to the npm package,
# NodeSource's nodejs carries it itself (and conflicts with that package).
node_provides=$(dpkg-query -W -f='${Status}|${Provides}' nodejs 2>/dev/null || true)
provides_npm='^install ok installed\|(.*[ ,])?npm([ ,(]|$)'
if [ "$mode" = test ] && ! [[ $node_provides =~ $provides_npm ]]; then
  packages+=(npm)
fi
# Word splitting is the point: a space-separated list of package names.
# shellcheck disable=SC2206
packages+=(${OWCP_DEPS_EXTRA:-})

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  if [ "$status" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

# Says what is missing, why it was not installed, and the command that
# installs it, then fails.
cannot_install() {
  printf '%s\n' "install-deps: missing packages: ${missing[*]}" \
    "install-deps: cannot install them: $1." "Run as root:" \
    "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
}

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 ||
    cannot_install "this needs root, and sudo is not available"
  SUDO=(sudo)
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq || cannot_install "apt-get update failed"
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
  cannot_install "apt-get install failed"
