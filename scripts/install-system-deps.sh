#!/usr/bin/env bash
# Install the Debian packages the product and its tests need (list file as $1).
# As root: installs what is missing. Otherwise: prints the one command to run.
set -euo pipefail
list=${1:-scripts/system-deps.txt}
mapfile -t pkgs < <(grep -vE '^\s*(#|$)' "$list")
# What installed packages provide counts as installed: NodeSource's nodejs provides npm, and asking
# apt for Debian's npm beside it fails on held broken packages.
provided=" $(dpkg-query -W -f='${db:Status-Abbrev} ${Provides}\n' 2>/dev/null | awk '$1 == "ii" {$1 = ""; print}' | tr -d ',' | tr '\n' ' ') "
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
  [[ "$provided" == *" $p "* ]] && continue
  missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Brokers and databases are started by the tests on free ports, never as system services.
  for svc in mosquitto postgresql; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || service "$svc" stop >/dev/null 2>&1 || true
  done
fi
# The arm64 tests run aarch64 binaries through qemu-user-static: the kernel hands them over
# through binfmt_misc, which a machine without systemd as PID 1 may not have mounted.
if [ "$(id -u)" -eq 0 ] && command -v update-binfmts >/dev/null; then
  [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
  grep -qs '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 || update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
fi
