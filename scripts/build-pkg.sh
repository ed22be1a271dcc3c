#!/usr/bin/env bash
# Build the npm package `cipherdrop` into build/pkg/ (used by the JS tests and `make demo`):
# - wasm-pack's ES module output (`--target web --no-pack`, release, wasm-opt from npm's
#   binaryen in tools/; never Debian's),
# - plus the hand-written files of pkg-template/ (package.json with its exports map, and the
#   JS tests in test/, copied so that they import the package by name through that map).
# `npm pack build/pkg` would publish `files` from package.json only (not test/).
#
#   scripts/build-pkg.sh           build build/pkg/
#   scripts/build-pkg.sh --pack    also write target/npm/cipherdrop-<version>.tgz (`make package`)
set -euo pipefail
pack=0
case ${1:-} in
    --pack) pack=1 ;;
    "") ;;
    *) echo "usage: $0 [--pack]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
export PATH="$PWD/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
out=build/pkg

case $(command -v wasm-opt || true) in
    "$PWD"/tools/node_modules/.bin/wasm-opt) ;;
    *) echo "build-pkg: npm's wasm-opt is missing from tools/node_modules: run make setup" >&2; exit 1 ;;
esac

cargo_version=$(cargo metadata --no-deps --format-version 1 |
    node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () =>
        console.log(JSON.parse(s).packages.find(p => p.name === "cipherdrop").version))')
pkg_version=$(node -p 'require("./pkg-template/package.json").version')
if [ "$cargo_version" != "$pkg_version" ]; then
    echo "build-pkg: pkg-template/package.json has version $pkg_version but the crate is $cargo_version: make them equal" >&2
    exit 1
fi

# Release settings of the .wasm: small first, since every page load pays for it; speed where
# bytes are hashed or sealed. Measured with tests/npm/bench.mjs (Node 20, 32 MiB one-shot,
# best of 5, three interleaved rounds; MB/s encrypt/decrypt 0x0578, 0x0478; gzip -9 of the
# .wasm), 2026-11-23, when the module still held RSA (the `rsa` crate) and P-256:
#   opt-level 3, wasm-opt -O3                       69/69, 82/82   159.4 KB
#   opt-level 3, wasm-opt -O3, simd128              71/71, 83/82   148.5 KB
#   opt-level s, hot crates 3, -Oz                  68/67, 80/80   142.9 KB
#   opt-level s, hot crates 3, -Oz, simd128         70/70, 82/82   132.7 KB
#   opt-level s, -Oz (everything)                   47/49, 55/55   125.4 KB
#   opt-level z, hot crates 3, -Oz                  41/44, 52/55   146.3 KB
#   opt-level z, -Oz (everything)                   13/13, 13/15   128.3 KB
# Then RSA moved to WebCrypto and P-256 out of the package (the `legacy-p256` feature):
# 111 KB with the cipherdrop crate among the hot ones, 86 KB without it (it is where the
# generic ECDSA and AES-GCM code is instantiated). That costs the wasm AES-GCM fallback about
# a fifth (Node 70 → 57 MB/s 0x0578, Chromium 89 → 74 MB/s 0x0478); the SHA-384 of signed
# messages (the sha2 crate, still hot) keeps its speed (Chromium 535 MB/s).
#   CIPHERDROP_WASM_CORE_LEVEL=3: 98.1 KB, fallback 70 MB/s; =2: 97.7 KB, 65 MB/s.
# simd128 needs Chrome 91+, Firefox 89+, Safari 16.4+, Node 16.4+.
# Overridable for measurements:
#   CIPHERDROP_WASM_OPT_LEVEL  rustc opt-level of the wasm build (the native release
#                              profile keeps its own; only this build's is overridden)
#   CIPHERDROP_WASM_OPT        wasm-opt flags (npm binaryen from tools/)
#   CIPHERDROP_WASM_SIMD       1: build with the wasm simd128 target feature
#   CIPHERDROP_WASM_HOT_LEVEL  opt-level of the crates on the per-byte path (AES-GCM, SHA-2),
#                              whatever the rest gets
#   CIPHERDROP_WASM_CORE_LEVEL opt-level of the cipherdrop crate itself (default: the rest's)
opt_level=${CIPHERDROP_WASM_OPT_LEVEL:-s}
hot_level=${CIPHERDROP_WASM_HOT_LEVEL:-3}
wasm_opt=${CIPHERDROP_WASM_OPT:--Oz}
simd=${CIPHERDROP_WASM_SIMD:-1}
hot_crates=(aes aes-gcm ghash polyval ctr cipher universal-hash inout sha2 digest
    block-buffer hybrid-array crypto-common)
# No P-256 (format 1.0 suite 0x0214 only): 11 KB of the gzipped module.
cargo_config=(--no-default-features --features std)
if [ -n "${CIPHERDROP_WASM_CORE_LEVEL:-}" ]; then
    cargo_config+=(--config "profile.release.package.cipherdrop.opt-level=$CIPHERDROP_WASM_CORE_LEVEL")
fi
for crate in "${hot_crates[@]}"; do
    cargo_config+=(--config "profile.release.package.$crate.opt-level=$hot_level")
done
rustflags=""
wasm_opt_features=""
if [ "$simd" = 1 ]; then
    rustflags="-C target-feature=+simd128"
    wasm_opt_features="--enable-simd"
fi

# --out-dir is relative to the crate (the repo root). Start clean: no stale glue files.
# wasm-pack runs no wasm-opt (--no-opt); we run npm's binaryen ourselves, with our flags.
rm -rf "$out"
CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt_level \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS=$rustflags \
    wasm-pack build --release --no-opt --target web --no-pack --out-dir "$out" . -- "${cargo_config[@]}"
# shellcheck disable=SC2086 # word splitting of the flag lists is intended
wasm-opt $wasm_opt $wasm_opt_features "$out/cipherdrop_bg.wasm" -o "$out/cipherdrop_bg.wasm"
echo "build-pkg: opt-level $opt_level (hot crates $hot_level), wasm-opt $wasm_opt, simd128 $simd"

# The same module without simd128, for engines without WebAssembly SIMD (Safari before 16.4,
# ...): lib/wasm.js loads it when WebAssembly.validate refuses a SIMD instruction. Its own
# target directory keeps both builds incremental; its JS glue must be the same as the
# SIMD build's (one cipherdrop.js serves both).
if [ "$simd" = 1 ]; then
    nosimd=target/wasm-nosimd/pkg
    rm -rf "$nosimd"
    CARGO_TARGET_DIR=target/wasm-nosimd \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt_level \
        wasm-pack build --release --no-opt --target web --no-pack --out-dir "$nosimd" . -- "${cargo_config[@]}"
    # shellcheck disable=SC2086
    wasm-opt $wasm_opt "$nosimd/cipherdrop_bg.wasm" -o "$out/cipherdrop_nosimd_bg.wasm"
    if ! cmp -s "$nosimd/cipherdrop.js" "$out/cipherdrop.js"; then
        echo "build-pkg: the JS glue of the non-SIMD build differs from the SIMD build's" >&2
        exit 1
    fi
    echo "build-pkg: also cipherdrop_nosimd_bg.wasm (no simd128)"
else
    cp "$out/cipherdrop_bg.wasm" "$out/cipherdrop_nosimd_bg.wasm"
fi
cp -R pkg-template/. "$out/"
ls -l "$out"

if [ "$pack" -eq 1 ]; then
    mkdir -p target/npm
    tgz=$(cd "$out" && npm pack --pack-destination "$OLDPWD/target/npm" --json |
        node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => console.log(JSON.parse(s)[0].filename))')
    echo "build-pkg: wrote target/npm/$tgz"
fi
