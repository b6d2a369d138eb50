# SecBot: `make up` runs everything, `make test` tests everything. Both install what is missing first.
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/.tools/bin:$(PATH)

.PHONY: up test demo bench bench-projection bench-scanner install lint typecheck test-unit test-int test-e2e test-deploy bundles clean

install:
	@scripts/bootstrap.sh

up: install
	@node scripts/up.ts

test: install
	@scripts/test.sh

# With `make up` running: a repository with a planted fake AWS key, served by a local fake GitLab, pushed.
demo: install
	@node services/scanner-gitleaks/src/demo.ts

bench: install
	@scripts/ensure-services.sh && node bench/run.ts

bench-projection: install
	@scripts/ensure-services.sh && node bench/projection.ts

bench-scanner: install
	@scripts/ensure-services.sh && node bench/scanner.ts --commits 20000

lint: install
	@eslint .

typecheck: install
	@tsc -p tsconfig.json

test-unit: install
	@vitest run --project unit

test-int: install
	@scripts/ensure-services.sh && vitest run --project int

test-e2e: install
	@scripts/ensure-services.sh && vitest run --project e2e

bundles: install
	@node scripts/build-bundles.ts

test-deploy: install
	@scripts/install-deploy-tools.sh && scripts/ensure-services.sh && vitest run --project int test/deploy

clean:
	rm -rf .data .ci/vitest.json dist
