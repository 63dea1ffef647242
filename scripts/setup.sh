#!/usr/bin/env bash
# Installs the Debian packages the tests use (PIL reference images, promtool and Prometheus,
# kubectl, chromium for the playground's browser test, openssl for a test certificate) and the npm
# dependencies. Idempotent; safe to run on a machine that already has them.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(python3-pil python3-numpy python3-torch prometheus chromium openssl)
# kubectl renders deploy/k8s (kustomize); Debian's own package where none is installed.
command -v kubectl >/dev/null || apt_packages+=(kubernetes-client)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
echo "setup: done"
