#!/usr/bin/env bash
# Installs the Debian packages that the tests use, when they are missing:
# Chromium for the browser tests of the verification page and htpasswd for
# bcrypt files as users write them. Does nothing when all are there.
set -euo pipefail

# command name -> Debian package that provides it
declare -A packages=(
  [chromium]=chromium
  [htpasswd]=apache2-utils
  [git]=git
)
missing=()
for cmd in "${!packages[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${packages[$cmd]}")
done
((${#missing[@]} == 0)) && exit 0

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "The tests need ${missing[*]}; install them as root with: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi
echo "Installing ${missing[*]} for the tests" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y "${missing[@]}"
