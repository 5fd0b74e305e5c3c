#!/usr/bin/env bash
# Installs every Debian 12 package the project needs, from this one list.
# Safe to run any number of times: apt-get skips what is already installed,
# and the package index is refreshed only when a package is missing.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  clang-format clang-tidy cppcheck
  # libraries
  libmicrohttpd-dev libjansson-dev libxml2-dev libssl-dev libc-ares-dev
  libpq-dev libcmocka-dev libcurl4-openssl-dev
  # real components used by the run command, tests and benchmarks
  postgresql-15 postgresql-contrib openssl dnsmasq-base tmux procps curl
  # independent oracles of the enrollment bridge's OTPCE tests
  python3-asn1crypto python3-cryptography libxml2-utils
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
