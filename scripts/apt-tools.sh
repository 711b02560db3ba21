#!/usr/bin/env bash
# Installs the named commands from Debian's packages when they are missing.
# Usage: scripts/apt-tools.sh COMMAND[=PACKAGE]... (PACKAGE defaults to COMMAND)
set -euo pipefail
missing=()
for tool in "$@"; do
  command -v "${tool%%=*}" >/dev/null || missing+=("${tool#*=}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "apt-tools: missing ${missing[*]}: install them with apt-get (needs root)" >&2
  exit 1
fi
echo "apt-tools: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq "${missing[@]}" >&2
