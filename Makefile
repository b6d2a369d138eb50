# SecBot: `make up` runs everything, `make test` tests everything. Both install what is missing first.
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/.tools/bin:$(PATH)

.PHONY: up test bench bench-projection install lint typecheck test-unit test-int test-e2e clean

install:
	@scripts/bootstrap.sh

up: install
	@node scripts/up.ts

test: install
	@scripts/test.sh

bench: install
	@scripts/ensure-services.sh && node bench/run.ts

bench-projection: install
	@scripts/ensure-services.sh && node bench/projection.ts

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

clean:
	rm -rf .data .ci/vitest.json
