#!/bin/sh
# Installs the Debian packages named as arguments that are missing.
# As root it uses apt-get; otherwise it names what to install and fails.
missing=""
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || { echo "deps: apt-get update failed" >&2; exit 1; }
  apt-get install -y -q --no-install-recommends $missing || exit 1
else
  echo "deps: missing Debian packages:$missing" >&2
  echo "deps: install them with: sudo apt-get install$missing" >&2
  exit 1
fi
