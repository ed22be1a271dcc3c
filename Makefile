# cipherdrop: `make demo` serves the demo page, `make test` runs every test suite.
# Generated files go to build/ and Cargo's target/ (both gitignored).
SHELL := /bin/bash

# npm's wasm-opt (tools/) first: never Debian's binaryen; then cargo-installed tools.
export PATH := $(CURDIR)/tools/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: setup test demo pkg package bench fuzz

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

## demo: build the package, the page (www-demo/dist) and the server, then run `cipherdrop demo`
## (key server, archive store and page on one port) on $CIPHERDROP_LISTEN (default
## 127.0.0.1:8700) with its data in build/demo-data; Ctrl-C stops it
CIPHERDROP_LISTEN ?= 127.0.0.1:8700
demo: setup pkg
	@cd www-demo && npm run --silent build
	@cargo build -p cipherdrop-server
	@echo "cipherdrop demo: open http://$(CIPHERDROP_LISTEN)/ (Ctrl-C stops)"
	@exec target/debug/cipherdrop demo --listen '$(CIPHERDROP_LISTEN)' \
		--data-dir build/demo-data --static-dir www-demo/dist

## bench: benchmarks (not tests): native CLI throughput against openssl, memory; key-server
## unwraps/s on SQLite, PostgreSQL and two replicas against raw RSA; the npm package
## in headless Chromium and Node against WebCrypto and the official JS SDKs, bundle sizes;
## results merged into target/bench/results.json
bench: setup
	@build/venv/bin/python scripts/bench_native.py
	@build/venv/bin/python scripts/bench_keyserver.py
	@scripts/build-pkg.sh >/dev/null
	@node scripts/bench_web.mjs

## fuzz: every cargo-fuzz target (decrypt, policy, unwrap_header) for $FUZZ_SECONDS seconds
## each (default 120), one after another, from fuzz/seeds, with fuzz/Cargo.lock checked as
## --locked would (a stale lock fails); not part of `make test`. Needs the nightly toolchain and
## cargo-fuzz; crashes land in fuzz/artifacts/ (fuzz/run.sh)
FUZZ_SECONDS ?= 120
fuzz:
	@FUZZ_SECONDS='$(FUZZ_SECONDS)' fuzz/run.sh
