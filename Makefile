# cipherdrop: `make demo` serves the demo page, `make test` runs every test suite.
# Generated files go to build/ and Cargo's target/ (both gitignored).
SHELL := /bin/bash

# npm's wasm-opt (tools/) first: never Debian's binaryen; then cargo-installed tools.
export PATH := $(CURDIR)/tools/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: setup test demo pkg package bench

## setup: install the toolchain, browsers and npm/Python dependencies (idempotent)
setup:
	@scripts/setup.sh

## test: every suite (cargo, wasm in Chromium and Node, JS, demo page, interop, vectors)
test: setup
	@scripts/test.sh

## pkg: build the npm package into build/pkg
pkg:
	@scripts/build-pkg.sh

## package: build the npm package and pack it: target/npm/cipherdrop-<version>.tgz
package: setup
	@scripts/build-pkg.sh --pack

## demo: build the package and serve the demo on $CIPHERDROP_LISTEN (default 127.0.0.1:8700)
demo: setup pkg
	@exec node scripts/serve-demo.mjs

## bench: benchmarks (not tests): native CLI throughput against openssl, memory; see target/bench/
bench: setup
	@build/venv/bin/python scripts/bench_native.py
