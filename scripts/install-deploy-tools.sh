#!/usr/bin/env bash
# Installs the pinned tools that validate deploy/ without a Docker engine or a Kubernetes cluster, into
# <repo>/.tools/bin (Go programs, built with `go install` through the Go module proxy) and <repo>/.tools/npm
# (a Dockerfile linter from the npm registry). Idempotent: a second run only checks what is there.
#
#   helm                 helm lint --strict / helm template of deploy/helm/secbot
#   compose-spec         the Compose Specification's reference loader and validator (compose-go, the library
#                        `docker compose` itself uses): `compose-spec docker-compose.yml` = `docker compose config`
#   k8s-manifest-check   deploy/tools/k8s-manifest-check: strict decoding of rendered manifests into the
#                        Kubernetes API types (a schema check that needs no downloaded JSON schemas)
#   dockerfile-utils     (npm) parses and lints the Dockerfiles in deploy/docker
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
COMPOSE_GO_VERSION="${COMPOSE_GO_VERSION:-v2.16.2}"
DOCKERFILE_UTILS_VERSION="${DOCKERFILE_UTILS_VERSION:-0.16.3}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ROOT}/.tools/bin"
NPM_PREFIX="${ROOT}/.tools/npm"
mkdir -p "${BIN}"
say() { printf '\033[1;34m[deploy-tools]\033[0m %s\n' "$*" >&2; }

if ! command -v go >/dev/null 2>&1; then
  say "Go is not installed: cannot build helm, compose-spec and k8s-manifest-check (install Go >= 1.24)"
  exit 1
fi

# Each Go tool is rebuilt only when its stamp (name@version, or a hash of its sources) changed.
stamp_ok() { [ -x "${BIN}/$1" ] && [ -f "${BIN}/.$1.stamp" ] && [ "$(cat "${BIN}/.$1.stamp")" = "$2" ]; }

if ! stamp_ok helm "${HELM_VERSION}"; then
  say "building helm ${HELM_VERSION} (go install)"
  tmp=$(mktemp -d)
  GOBIN="${tmp}" go install \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" \
    "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
  mv "${tmp}/helm" "${BIN}/helm"; rmdir "${tmp}"
  echo "${HELM_VERSION}" > "${BIN}/.helm.stamp"
fi

if ! stamp_ok compose-spec "${COMPOSE_GO_VERSION}"; then
  say "building compose-spec (compose-go ${COMPOSE_GO_VERSION}, go install)"
  tmp=$(mktemp -d)
  GOBIN="${tmp}" go install -ldflags "-s -w" "github.com/compose-spec/compose-go/v2/cmd@${COMPOSE_GO_VERSION}"
  mv "${tmp}/cmd" "${BIN}/compose-spec"; rmdir "${tmp}"
  echo "${COMPOSE_GO_VERSION}" > "${BIN}/.compose-spec.stamp"
fi

checker_src="${ROOT}/deploy/tools/k8s-manifest-check"
checker_hash=$(cat "${checker_src}/go.mod" "${checker_src}/go.sum" "${checker_src}"/*.go | sha256sum | cut -c1-64)
if ! stamp_ok k8s-manifest-check "${checker_hash}"; then
  say "building k8s-manifest-check (deploy/tools/k8s-manifest-check)"
  (cd "${checker_src}" && go build -ldflags "-s -w" -o "${BIN}/k8s-manifest-check" .)
  echo "${checker_hash}" > "${BIN}/.k8s-manifest-check.stamp"
fi

if [ ! -f "${NPM_PREFIX}/node_modules/dockerfile-utils/package.json" ] ||
  [ "$(node -p "require('${NPM_PREFIX}/node_modules/dockerfile-utils/package.json').version" 2>/dev/null)" != "${DOCKERFILE_UTILS_VERSION}" ]; then
  say "installing dockerfile-utils ${DOCKERFILE_UTILS_VERSION} (npm) into .tools/npm"
  mkdir -p "${NPM_PREFIX}"
  [ -f "${NPM_PREFIX}/package.json" ] || echo '{"private":true}' > "${NPM_PREFIX}/package.json"
  npm install --prefix "${NPM_PREFIX}" --no-fund --no-audit --loglevel=error --save-exact \
    "dockerfile-utils@${DOCKERFILE_UTILS_VERSION}" >/dev/null
fi

say "helm $("${BIN}/helm" version --template '{{.Version}}'), compose-spec ${COMPOSE_GO_VERSION}, k8s-manifest-check, dockerfile-utils ${DOCKERFILE_UTILS_VERSION}: ready"
