#!/usr/bin/env bash
# Installs the software Vulkan adapter (Mesa lavapipe from bookworm-backports) that Dawn runs on
# when the machine has no GPU. Idempotent; needs root (or sudo).
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
src=/etc/apt/sources.list.d/backports.sources
if [ ! -f "$src" ]; then
  mirror=$(awk '/^URIs:/ && $2 ~ /debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  $SUDO tee "$src" >/dev/null <<EOS
Types: deb
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
# GLES fallback adapter and the browser used by the web test.
$SUDO apt-get install -y -qq libegl1 libegl-mesa0 libgles2 chromium >/dev/null
echo "install-system: $(dpkg-query -W -f='${Package} ${Version}\n' mesa-vulkan-drivers)"
