#!/usr/bin/env bash
# Build the npm package `cipherdrop` into build/pkg/ (used by the JS tests and `make demo`):
# - wasm-pack's ES module output (`--target web --no-pack`, release, wasm-opt from npm's
#   binaryen in tools/; never Debian's) of three modules of the crate, which the glue loads
#   on first use: the main (full) one (cipherdrop.js, cipherdrop_bg.wasm and
#   cipherdrop_nosimd_bg.wasm; the `wasm-message` bindings), the lite one (cipherdrop_lite.js,
#   cipherdrop_lite_bg.wasm; the same bindings without `signing`, for unsigned messages) and
#   the KMS one (cipherdrop_kms.js, cipherdrop_kms_bg.wasm; `wasm-kms`: the AWS KMS keyrings'
#   rules and the key server's JWE),
# - plus the hand-written files of pkg-template/ (package.json with its exports map, and the
#   JS tests in test/, copied so that they import the package by name through that map),
#   the repository's LICENSE and lib/version.js (the crate version, for version()).
# `npm pack build/pkg` would publish `files` from package.json only (not test/).
#
#   scripts/build-pkg.sh                      build build/pkg/ (the release package)
#   scripts/build-pkg.sh --pack               also write target/npm/cipherdrop-<version>.tgz
#                                             (`make package`)
#   scripts/build-pkg.sh --test-hooks [--pack]
#       the TEST build, for the tests that need the test hooks (fixed data keys, message IDs
#       and signing keys; the reference path; engine observers): build/pkg-test/ (and with
#       --pack target/npm-test/cipherdrop-test-hooks-<version>.tgz), named
#       `cipherdrop-test-hooks` and private (npm refuses to publish it). Its .wasm is built
#       with the crate's `test-hooks` feature and its lib/test-hooks.js is
#       pkg-template/test-hooks/lib/test-hooks.js; its test/ is pkg-template/test-hooks/test/.
# The release build never enables that feature nor copies pkg-template/test-hooks/, and
# checks at the end that its .wasm exports and its files have no hook in them.
set -euo pipefail
pack=0
hooks=0
for arg in "$@"; do
    case $arg in
        --pack) pack=1 ;;
        --test-hooks) hooks=1 ;;
        *) echo "usage: $0 [--test-hooks] [--pack]" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$0")/.."
export PATH="$PWD/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
if [ "$hooks" -eq 1 ]; then
    out=build/pkg-test
    pack_dir=target/npm-test
else
    out=build/pkg
    pack_dir=target/npm
fi

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
#   CIPHERDROP_WASM_FEATURES   the main module's crate features (default
#                              std,builtin-crypto,signing;
#                              --test-hooks adds test-hooks); the lite module below is always
#                              built without `signing` and `builtin-crypto`.
# Where the bytes are (2026-12-01, gzip -9 after wasm-opt -Oz; scripts/wasm_sizes.mjs on the
# wasm-pack output lists code bytes per crate and per module of ours):
#   std,signing, simd128 (the package)                                101.2 KB
#   std,signing, no simd128                                           104.8 KB
#   std (lite), no simd128, opt-level s, hot crates 3 or s            80.5 / 81.2 KB
#   std (lite), everything opt-level z                                79.7 KB
#   + without the KMS rules' and the JWE's bindings (experiment)     64.0 KB
#   + only suite 0x0478 (no format 1.0 KDFs, AES-128/192; experiment) 61.9 KB
#   ECDSA P-384 sign/verify + SHA-384 + AES-256-GCM alone (a separate
#   crate, simd128, hot crates 3: what an add-on module would weigh)  33.6 KB
# What is left in the last experiment (code bytes before wasm-opt): our crate 36 KB (decrypt,
# encrypt, format::read, the bindings), sha2 20 KB (SHA-512 for HKDF, SHA-256), alloc and
# core 18 KB, wasm-bindgen 12 KB, AES-256-GCM 11 KB (the header tag), dlmalloc 7 KB (since
# 2026-12-02 talc, 1.7 KB: src/wasm/mod.rs).
# Issue 18's split (2026-12-01, the same measure): the main module (`wasm-message`), simd128,
# 86.2 KB with -Oz and the two strip flags (custom sections nothing reads: 0.2 KB), 85.7 KB
# with --low-memory-unused as well (the default below), 85.4 KB with --converge too (4 to
# 6 s more per module, left out); the KMS module (`wasm-kms`, no simd128) 56.4 KB, of which
# SHA-2 19 KB, our crate 32 KB (the KMS rules, format::read for the header's context, the
# JWE), wasm-bindgen 15 KB of code before wasm-opt, and no encrypt/decrypt core.
# --low-memory-unused lets wasm-opt fold constant offsets into loads and stores, which
# changes only accesses whose address wraps around 2^32 into the first 1 KiB: Rust's wasm32
# layout puts the stack first (1 MiB, growing down to 0, the data above it) and no Rust
# pointer arithmetic wraps, so no such access exists.
opt_level=${CIPHERDROP_WASM_OPT_LEVEL:-s}
hot_level=${CIPHERDROP_WASM_HOT_LEVEL:-3}
wasm_opt=${CIPHERDROP_WASM_OPT:--Oz --low-memory-unused --strip-producers --strip-target-features}
simd=${CIPHERDROP_WASM_SIMD:-1}
hot_crates=(aes aes-gcm ghash polyval ctr cipher universal-hash inout sha2 digest
    block-buffer hybrid-array crypto-common)
# No P-256 (format 1.0 suite 0x0214 only): 11 KB of the gzipped module. The test hooks only
# in the test build (--test-hooks).
# The main module has the message bindings (`wasm-message`); the KMS module below the others.
features=${CIPHERDROP_WASM_FEATURES:-std,builtin-crypto,signing}
[ "$hooks" -eq 1 ] && features=$features,test-hooks
profile_config=()
if [ -n "${CIPHERDROP_WASM_CORE_LEVEL:-}" ]; then
    profile_config+=(--config "profile.release.package.cipherdrop.opt-level=$CIPHERDROP_WASM_CORE_LEVEL")
fi
for crate in "${hot_crates[@]}"; do
    profile_config+=(--config "profile.release.package.$crate.opt-level=$hot_level")
done
cargo_config=(--no-default-features --features "$features,wasm-message" "${profile_config[@]}")
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
echo "build-pkg: $out: features $features, opt-level $opt_level (hot crates $hot_level), wasm-opt $wasm_opt, simd128 $simd"

# The same module without simd128, for engines without WebAssembly SIMD (Safari before 16.4,
# ...): lib/wasm.js loads it when WebAssembly.validate refuses a SIMD instruction. Its own
# target directory keeps both builds incremental; its JS glue must be the same as the
# SIMD build's (one cipherdrop.js serves both).
if [ "$simd" = 1 ]; then
    nosimd=target/wasm-nosimd/pkg
    [ "$hooks" -eq 1 ] && nosimd=target/wasm-nosimd/pkg-test
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

# The second module, cipherdrop_kms (the `wasm-kms` bindings: the AWS KMS keyrings' rules and
# the key server's JWE, no message core), which lib/kms-module.js loads the first time a
# KmsKeyring, KmsRsaKeyring or KeyServerKeyring needs it. No SIMD build: it hashes and seals
# a few hundred bytes per call. It shares the non-SIMD target directory (same dependencies,
# same flags: only the cipherdrop crate is built again). Never with the test hooks (it has
# none): the release and the test package ship the same one.
kms_pkg=target/wasm-nosimd/pkg-kms
rm -rf "$kms_pkg"
CARGO_TARGET_DIR=target/wasm-nosimd \
CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt_level \
    wasm-pack build --release --no-opt --target web --no-pack --out-dir "$kms_pkg" --out-name cipherdrop_kms . -- \
    --no-default-features --features std,signing,wasm-kms "${profile_config[@]}"
# shellcheck disable=SC2086
wasm-opt $wasm_opt "$kms_pkg/cipherdrop_kms_bg.wasm" -o "$out/cipherdrop_kms_bg.wasm"
cp "$kms_pkg/cipherdrop_kms.js" "$out/"
echo "build-pkg: also cipherdrop_kms.js and cipherdrop_kms_bg.wasm (the KMS and JWE bindings)"

# The lite message module, cipherdrop_lite (the `wasm-message` bindings without the crate's
# `signing` and `builtin-crypto` features: no ECDSA P-384, no MessageHasher binding, every
# signed suite refused with UNSUPPORTED_SUITE before any key is made or unwrapped; and no
# HKDF, SHA-2 or AES-GCM: the glue derives the keys with WebCrypto or node:crypto from the
# core's recipe and runs every AES-GCM, the core checks the commit key and the header tag),
# which lib/wasm.js starts unsigned messages on; a signed one, or one that needs the core's
# AES-GCM, runs on the main module. The test build's has the test hooks too (the
# byte-identity tests cover both modules). With no per-byte code left in it, SIMD buys
# nothing: one build, without simd128 (every engine runs it). Gzipped (2026-12-02, the settings above): 40.1 KB, against 55.8 KB with the
# core's HKDF and AES-GCM fallback; 38.2 KB with talc as the allocator; 37.1 KB without the
# calls only signed messages make (src/wasm/mod.rs). Since 2026-12-05 it is built with the
# pinned nightly of scripts/lite-toolchain.sh, std rebuilt with core's `optimize_for_size`
# and panics trapping at once (no panic message formatting): 32.8 KB, against 37.0 KB with
# the stable toolchain (opt-level z: 0.5 KB more). Cargo and wasm-bindgen directly, not
# wasm-pack (which wants the wasm32 target installed in that toolchain; its wasm-bindgen
# call is this one, the same glue), in a target directory of its own (other rustc, other
# flags: no rebuild of the other modules' artifacts).
lite_pkg=target/wasm-lite/pkg
lite_features=std,wasm-message
if [ "$hooks" -eq 1 ]; then
    lite_pkg=target/wasm-lite/pkg-test
    lite_features=$lite_features,test-hooks
fi
. scripts/lite-toolchain.sh
rm -rf "$lite_pkg"
CARGO_TARGET_DIR=target/wasm-lite \
CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt_level \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort" \
    cargo "+$LITE_TOOLCHAIN" build --release --lib --target wasm32-unknown-unknown \
    -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size \
    --no-default-features --features "$lite_features" "${profile_config[@]}"
wasm-bindgen --target web --out-dir "$lite_pkg" --out-name cipherdrop_lite \
    target/wasm-lite/wasm32-unknown-unknown/release/cipherdrop.wasm
# shellcheck disable=SC2086
wasm-opt $wasm_opt "$lite_pkg/cipherdrop_lite_bg.wasm" -o "$out/cipherdrop_lite_bg.wasm"
cp "$lite_pkg/cipherdrop_lite.js" "$out/"
echo "build-pkg: also cipherdrop_lite.js and cipherdrop_lite_bg.wasm (the lite message module: features $lite_features)"

cp -R pkg-template/. "$out/"
cp LICENSE "$out/"
rm -rf "$out/test-hooks"
# version() answers before the module is loaded with the version it was built from.
printf '// Written by scripts/build-pkg.sh.\nexport const VERSION = %s;\n' "\"$cargo_version\"" >"$out/lib/version.js"
if [ "$hooks" -eq 1 ]; then
    # The test build: the hooks module instead of the release stub, only the tests that need
    # the hooks (the others run against build/pkg), and a name of its own, private.
    rm -rf "$out/test"
    cp -R pkg-template/test-hooks/. "$out/"
    node -e 'const fs = require("fs"); const f = process.argv[1]; const p = JSON.parse(fs.readFileSync(f, "utf8"));
        p.name = "cipherdrop-test-hooks"; p.private = true;
        p.description = "TEST BUILD of cipherdrop with its test hooks (fixed secrets): never publish, never serve";
        fs.writeFileSync(f, JSON.stringify(p, null, 2) + "\n")' "$out/package.json"
else
    # The release build has no test hook: no wasm export for one, no hook in its files (test/
    # is not packed). tests/npm/consumer/release.test.mjs checks the packed .tgz as well.
    node - "$out" <<'JS'
const fs = require('fs');
const path = require('path');
const out = process.argv[2];
const banned = /dangerous_?new_?with_?fixed_?secrets|dangerous_?with_?fixed_?secrets|cipherdrop\.(dangerous|testing)\.|ForTests|Symbol\.for\(/i;
const bad = [];
const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const f = path.join(dir, e.name);
        if (e.isDirectory()) {
            if (f !== path.join(out, 'test')) walk(f);
            continue;
        }
        const bytes = fs.readFileSync(f);
        if (f.endsWith('.wasm')) {
            for (const { name } of WebAssembly.Module.exports(new WebAssembly.Module(bytes))) {
                if (/fixed|dangerous/i.test(name)) bad.push(`${f}: export ${name}`);
            }
        }
        const m = bytes.toString('latin1').match(banned);
        if (m) bad.push(`${f}: ${m[0]}`);
    }
};
walk(out);
if (bad.length) {
    console.error(`build-pkg: test hooks in the release build:\n  ${bad.join('\n  ')}`);
    process.exit(1);
}
JS
fi
ls -l "$out"

if [ "$pack" -eq 1 ]; then
    mkdir -p "$pack_dir"
    tgz=$(cd "$out" && npm pack --pack-destination "$OLDPWD/$pack_dir" --json |
        node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => console.log(JSON.parse(s)[0].filename))')
    echo "build-pkg: wrote $pack_dir/$tgz"
fi
