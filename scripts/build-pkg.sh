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

# --out-dir is relative to the crate (the repo root). Start clean: no stale glue files.
rm -rf "$out"
wasm-pack build --release --target web --no-pack --out-dir "$out" .
cp -R pkg-template/. "$out/"
ls -l "$out"

if [ "$pack" -eq 1 ]; then
    mkdir -p target/npm
    tgz=$(cd "$out" && npm pack --pack-destination "$OLDPWD/target/npm" --json |
        node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => console.log(JSON.parse(s)[0].filename))')
    echo "build-pkg: wrote target/npm/$tgz"
fi
