#!/usr/bin/env bash
# Installs Hemingway's Debian dependencies listed in third_party/packages.txt.
# Idempotent: packages already installed are skipped, and apt is not touched
# when nothing is missing.
#
# Usage: third_party/install.sh [GROUP...]   (groups: build data bench; default: build data)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
manifest="$here/packages.txt"
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(build data)

for g in "${groups[@]}"; do
  case "$g" in build|data|bench) ;; *)
    echo "install.sh: unknown group '$g' (expected build, data or bench)" >&2; exit 2 ;;
  esac
done

wanted=()
while read -r group pkg _; do
  [[ -z "${group:-}" || "$group" == \#* ]] && continue
  for g in "${groups[@]}"; do
    [ "$g" = "$group" ] && wanted+=("$pkg")
  done
done <"$manifest"

missing=()
for pkg in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install.sh: all ${#wanted[@]} packages for groups '${groups[*]}' are installed"
  exit 0
fi

echo "install.sh: missing packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=""
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo_cmd="sudo"
  else
    echo "install.sh: not running as root and sudo is not available without a password." >&2
    echo "install.sh: run as root:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
else
  sudo_cmd=""
fi

export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when apt cannot see a missing package.
if ! apt-cache show "${missing[0]}" >/dev/null 2>&1 || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ]; then
  $sudo_cmd apt-get update -q
fi
if ! $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  $sudo_cmd apt-get update -q
  $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "install.sh: installed ${missing[*]}"
