#!/usr/bin/env bash
# Installs the pinned gitleaks into <repo>/.tools/bin with `go install`, unless it is already there at the
# right version. Idempotent: a second run only checks the version. The version is injected with -ldflags
# because a plain `go install` build reports "version is set by build process" (gitleaks Makefile).
set -euo pipefail

VERSION="${GITLEAKS_VERSION:-v8.30.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${ROOT}/.tools/bin"
BIN="${BIN_DIR}/gitleaks"

if [ -x "${BIN}" ] && [ "$("${BIN}" version 2>/dev/null || true)" = "${VERSION}" ]; then
  echo "gitleaks ${VERSION} already installed at ${BIN}"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-gitleaks: Go is not installed. Install Go >= 1.24 or put gitleaks ${VERSION} at ${BIN} (or set GITLEAKS_BIN)." >&2
  exit 1
fi

mkdir -p "${BIN_DIR}"
echo "Installing gitleaks ${VERSION} into ${BIN_DIR} ..."
GOBIN="${BIN_DIR}" go install \
  -ldflags "-X=github.com/zricethezav/gitleaks/v8/version.Version=${VERSION}" \
  "github.com/zricethezav/gitleaks/v8@${VERSION}"

installed="$("${BIN}" version)"
if [ "${installed}" != "${VERSION}" ]; then
  echo "install-gitleaks: ${BIN} reports ${installed}, expected ${VERSION}" >&2
  exit 1
fi
echo "gitleaks ${installed} installed at ${BIN}"
