#!/usr/bin/env bash
# Installs relish's build and test dependencies (Debian bookworm), only if some are missing.
# Uses sudo when not run as root. Sourced or run by scripts/test.sh and scripts/run_example.sh.
set -euo pipefail

RELISH_APT_PACKAGES=(g++ cmake make libabsl-dev libxxhash-dev libmimalloc-dev catch2
                     libbenchmark-dev)

missing=()
# Node.js and npm, for the language-server test (tests/lsp): Debian's when none is installed.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  RELISH_APT_PACKAGES+=(nodejs npm)
  missing+=(nodejs npm)
fi
for pkg in "${RELISH_APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "installing missing packages: ${missing[*]}"
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update
  "${sudo[@]}" apt-get install -y --no-install-recommends "${RELISH_APT_PACKAGES[@]}"
fi
