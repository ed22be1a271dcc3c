#!/usr/bin/env bash
# Run every test suite (`make test` runs `make setup` first, then this), continuing past
# failures, then print one closing line "N passed, N failed" summed over all suites and
# exit non-zero if anything failed. Logs: build/test-logs/NAME.log.
#
# Adding a suite: add a line to the list below:
#     suite NAME -- COMMAND [ARGS...]          a test suite (must report at least one test)
#     suite NAME --build -- COMMAND [ARGS...]  a build step (fails only if the command does)
# scripts/run-suite reads libtest-style "test result: ok. N passed; M failed" lines and
# node:test summaries ("# pass N" / "# fail N", or "ℹ pass N" / "ℹ fail N"); see its header.
# Guard a suite whose files may not exist yet with `[ -f FILE ] && suite ...`.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# npm's wasm-opt first (never Debian's binaryen), then cargo-installed tools.
export PATH="$root/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# wasm-bindgen-test's default of 20 s is tight when the machine is busy compiling.
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-300}
# The crate version, which the JS and page tests expect from the wasm module's version().
CIPHERDROP_VERSION=$(cargo metadata --no-deps --format-version 1 |
    node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () =>
        console.log(JSON.parse(s).packages.find(p => p.name === "cipherdrop").version))')
export CIPHERDROP_VERSION

logs=build/test-logs
mkdir -p "$logs"
rm -f "$logs"/*.result
suites=()
suite() { suites+=("$1"); scripts/run-suite "$@"; }

# --- The suites, in order -----------------------------------------------------------------
# Native Rust: unit, integration and doc tests of the whole workspace.
suite cargo -- cargo test --workspace --no-fail-fast
# The key server's suites again with PostgreSQL as its database: each test starts its own
# cluster (initdb as the postgres user, a free loopback port) and stops it after.
suite server-postgres -- env CIPHERDROP_TEST_BACKEND=postgres \
    cargo test -p cipherdrop-server --no-fail-fast
# wasm32 in headless Chromium: tests/web.rs (run_in_browser).
suite wasm-chromium -- wasm-pack test --headless --chrome -- --test web
# wasm32 in Node: tests/node.rs (no run_in_browser; `--node` silently skips browser files).
suite wasm-node -- wasm-pack test --node -- --test node
# The npm package (build/pkg, also served by `make demo`, packed into target/npm/) and its JS
# tests in place. The release build has no test hooks; the test build (build/pkg-test, the
# crate's `test-hooks` feature and pkg-template/test-hooks/, packed into target/npm-test/ as
# the private `cipherdrop-test-hooks`) serves only the tests that need them: its test/
# (byte identity of the SIMD and non-SIMD modules) and cases.js hookCases in tests/npm.
suite pkg-build --build -- scripts/build-pkg.sh --pack
suite pkg-test-build --build -- scripts/build-pkg.sh --test-hooks --pack
suite pkg-js -- node --test --test-reporter=spec build/pkg/test/ build/pkg-test/test/
# The package's lite module (cipherdrop_lite_bg.wasm: the crate without `signing` and
# `builtin-crypto`) against its full module, both as shipped in build/pkg: unsigned messages
# go both ways (the caller deriving the keys and running AES-GCM for the lite one, which
# checks its commit key and header tag), every signed suite is refused with UNSUPPORTED_SUITE
# right after the header and before a key is asked for (what lets the glue move the message
# to the full module), and no ECDSA P-384, SHA-512 or core AES-GCM binding is in it.
suite lite-js -- node --test --test-reporter=spec tests/lite/
# The packed .tgz installed into a fresh project (build/npm-consumer/), as a user would: the
# shared cases (round trips, streams, negative cases, interop with @aws-crypto/client-node
# and the Python SDK) in Node; the cases that need test hooks against the test build.
suite npm-node -- node tests/npm/run.mjs node.test.mjs
# The packed release .tgz has no test hook: no wasm export, JS file or symbol key of one.
suite npm-release -- node tests/npm/run.mjs release.test.mjs
# The same cases in headless Chromium, the package loaded by a plain <script type="module">.
suite npm-chromium -- node tests/npm/run.mjs browser.test.mjs
# The same cases and worker-fault pages in Firefox ESR and in WebKit (WebKitGTK's MiniBrowser
# on a virtual X display): tests/npm/consumer/engines.mjs drives each engine.
suite npm-firefox -- env CIPHERDROP_ENGINE=firefox node tests/npm/run.mjs browser.test.mjs
suite npm-webkit -- env CIPHERDROP_ENGINE=webkit node tests/npm/run.mjs browser.test.mjs
# index.d.ts as installed: a strict TypeScript consumer (typescript pinned in tests/npm/).
suite npm-types -- node tests/npm/run.mjs types.test.mjs
# A tiny app using the package built by Vite, webpack, esbuild and Rollup (pinned in
# tests/bundlers/; the last two with the README's recipe), each run in Chromium: a round trip
# with the hash on the worker, and a coded LoadError naming the URL when its .wasm 404s. Built
# on each entry: `cipherdrop`'s bundles have no lite module and fetch only the full one;
# `cipherdrop/lite`'s 0x0478 app fetches only the lite one, and the full one for a signed message.
suite npm-bundlers -- node tests/npm/run.mjs bundlers.test.mjs
# 512 MiB through encryptStream/decryptStream in Chromium: JS heap + wasm memory must stay
# under 64 MiB above baseline, the renderers' RSS under 256 MiB (numbers in
# build/test-logs/npm-memory.log). The same in Firefox ESR and WebKit, which have no heap
# figure: the wasm memory under 64 MiB; the content processes' RSS under 256 MiB in Firefox
# (the test asks them to collect before each sample), the web processes' under 448 MiB in
# WebKit (it cannot be made to collect); measurements in tests/npm/consumer/memory.test.mjs.
suite npm-memory -- node tests/npm/run.mjs memory.test.mjs
suite npm-memory-firefox -- env CIPHERDROP_ENGINE=firefox node tests/npm/run.mjs memory.test.mjs
suite npm-memory-webkit -- env CIPHERDROP_ENGINE=webkit node tests/npm/run.mjs memory.test.mjs
# The CLI binary, then the suites that drive it.
suite cli-build --build -- cargo build -p cipherdrop-server
# The archive demo: the page built with Vite (www-demo/dist, from build/pkg), then end to end
# in headless Chromium against a real `cipherdrop demo` on a free loopback port (uploads,
# streamed downloads through the service worker and the File System Access API, stored
# ciphertext, escrow recovery with the Python SDK, refusals, key disable/enable, tampering,
# cancel, and a 1 GiB file downloaded with live memory under 64 MiB above baseline, about 1 min
# of the run); screenshots build/demo{,-bob,-phone}.png.
# S3 mode skips the 1 GiB file (moto keeps objects in memory).
suite demo-build --build -- npm --prefix www-demo run --silent build
suite demo-page -- node --test --test-reporter=spec www-demo/test/
# The same with the archive on a real S3-compatible server: moto (build/venv) on a free loopback
# port, the demo run with --archive-url s3://BUCKET/demo; stored objects read and tampered with
# through boto3 (www-demo/test/s3.py); screenshots build/demo-s3{,-bob,-phone}.png.
suite demo-page-s3 -- env CIPHERDROP_DEMO_ARCHIVE=s3 node --test --test-reporter=spec www-demo/test/
[ -f tests/interop/run.py ] &&
    suite interop -- build/venv/bin/python tests/interop/run.py --cli target/debug/cipherdrop
# The key server's API contract: schemathesis (build/venv) with every check against a real
# `cipherdrop serve` on a free loopback port, with real keys, alias, policy, message header
# and archive object, once with the admin's token and once with a non-admin's.
# The AWS KMS API (JSON 1.1 at POST /, SigV4) judged by boto3, the AWS CLI and the official
# Encryption SDK for Python (KMS master key provider, Material Providers KMS keyring).
[ -f tests/kms/run.py ] &&
    suite kms -- build/venv/bin/python tests/kms/run.py --cli target/debug/cipherdrop
[ -f tests/api/run.py ] &&
    suite api-contract -- build/venv/bin/python tests/api/run.py --cli target/debug/cipherdrop
# The AWS vector files may not be committed (they come from a fetched public repository):
# the suite runs where a copy exists (see tests/vectors/README.md) and says so where not.
vectors_data=${CIPHERDROP_VECTORS_DIR:-}
for d in ../shared/awses-vectors build/awses-vectors; do
    [ -z "$vectors_data" ] && [ -d "$d" ] && vectors_data=$d
done
if [ -n "$vectors_data" ]; then
    suite vectors -- build/venv/bin/python tests/vectors/run.py --cli target/debug/cipherdrop \
        --data "$vectors_data"
else
    echo "vectors: SKIPPED: no copy of the AWS decrypt vectors (tests/vectors/README.md)"
fi
# -------------------------------------------------------------------------------------------

total_passed=0
total_failed=0
printf '\n%-18s %8s %8s %6s\n' suite passed failed exit
for name in "${suites[@]}"; do
    if read -r p f s <"$logs/$name.result" 2>/dev/null; then :; else p=0 f=1 s=crashed; fi
    printf '%-18s %8s %8s %6s\n' "$name" "$p" "$f" "$s"
    total_passed=$((total_passed + p))
    total_failed=$((total_failed + f))
done
printf '%d passed, %d failed\n' "$total_passed" "$total_failed"
[ "$total_failed" -eq 0 ]
