#!/usr/bin/env bash
# Debian/Ubuntu packages Qt needs on a fresh machine (offscreen and X11), fonts, and the tools the
# tests and screenshots use, libpulse0 for QtMultimedia's alarm tones (PulseAudio/PipeWire).
# Installs only what is missing; uses sudo when not root.
# `--with-postgresql` adds Debian's PostgreSQL server, which the tests run on beside SQLite
# (scripts/test.sh starts a throw-away cluster with scripts/pg-dev.sh); a station does not need it.
set -euo pipefail
PKGS=(python3 python3-venv python3-pip libegl1 libgl1 libfontconfig1 libxkbcommon0 libdbus-1-3
      libglib2.0-0 fonts-dejavu-core libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
      libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 libx11-xcb1
      poppler-utils libpulse0)
if [ "${1:-}" = "--with-postgresql" ]; then PKGS+=(postgresql); fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "Installing system packages: ${missing[*]}"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
