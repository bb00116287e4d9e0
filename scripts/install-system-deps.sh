#!/usr/bin/env bash
# Install the Debian packages the product and its tests need (list file as $1).
# As root: installs what is missing. Otherwise: prints the one command to run.
set -euo pipefail
list=${1:-scripts/system-deps.txt}
mapfile -t pkgs < <(grep -vE '^\s*(#|$)' "$list")
# A name an installed package provides counts as installed (NodeSource's nodejs provides npm and
# conflicts with Debian's npm package).
provided=$(dpkg-query -W -f='${db:Status-Abbrev}|${Provides}\n' 2>/dev/null | awk -F'|' '$1 ~ /^ii/ && $2 != "" {print $2}' \
  | tr ',' '\n' | sed -E 's/\(.*\)//; s/:any//; s/^ +| +$//g' | sort -u)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
  grep -qxF "$p" <<<"$provided" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Brokers and databases are started by the tests on free ports, never as system services.
  for svc in mosquitto postgresql; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || service "$svc" stop >/dev/null 2>&1 || true
  done
else
  echo "missing Debian packages; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
