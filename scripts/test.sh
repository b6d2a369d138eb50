#!/usr/bin/env bash
# Runs every check: type check, lint, then unit, integration and end-to-end tests (vitest), against the
# running NATS JetStream and PostgreSQL. Ends with one line `N passed, N failed` (the type check and the
# lint count as one check each).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .ci
passed=0; failed=0
step() { printf '\n\033[1;34m== %s\033[0m\n' "$1"; }

scripts/ensure-services.sh || { echo "0 passed, 1 failed"; exit 1; }
# helm, compose-go and the manifest checker for the deploy checks (built once, then cached in .tools/).
scripts/install-deploy-tools.sh || { echo "0 passed, 1 failed"; exit 1; }

step "type check (tsc)"
if tsc -p tsconfig.json; then passed=$((passed + 1)); echo "type check passed"; else failed=$((failed + 1)); echo "type check FAILED"; fi

step "lint (eslint)"
if eslint . ; then passed=$((passed + 1)); echo "lint passed"; else failed=$((failed + 1)); echo "lint FAILED"; fi

step "tests (vitest: unit, int, e2e)"
rm -f .ci/vitest.json
NO_COLOR=1 vitest run --reporter=default --reporter=json --outputFile.json=.ci/vitest.json "$@"
vitest_rc=$?
if [ -f .ci/vitest.json ]; then
  read -r vp vf vs < <(node -e '
    const r = JSON.parse(require("fs").readFileSync(".ci/vitest.json", "utf8"));
    // A file that fails to load has no test results; count it as a failure.
    const broken = r.testResults.filter((f) => f.status === "failed" && f.assertionResults.length === 0).length;
    console.log(r.numPassedTests, r.numFailedTests + broken, r.numPendingTests + r.numTodoTests);')
  passed=$((passed + vp)); failed=$((failed + vf))
  [ "$vitest_rc" -ne 0 ] && [ "$vf" -eq 0 ] && failed=$((failed + 1))
else
  failed=$((failed + 1)); vs=0
fi

echo
summary="$passed passed, $failed failed"
[ "${vs:-0}" -gt 0 ] && summary="$summary, $vs skipped"
echo "$summary" | tee .ci/summary.txt
[ "$failed" -eq 0 ]
