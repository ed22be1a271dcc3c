#!/usr/bin/env bash
# Install everything cipherdrop builds and tests with, from the package registries only
# (crates.io, npm, PyPI, Debian). Run it as `make setup`; `make test` and `make demo` do.
#
# Idempotent: every step checks first, so a second run only looks and takes seconds.
# Targets a Debian 12 machine with rustup (Rust 1.95), Node 20, npm and Python 3.11.
#
# Not installed on purpose:
# - Debian's `binaryen`: its wasm-opt (108) produces modules that fail at load in Chromium
#   (`WebAssembly.Table.set()` in `__wbindgen_init_externref_table`), and a plain
#   `wasm-pack build` picks /usr/bin/wasm-opt silently. We use npm's binaryen from tools/
#   (the Makefile and scripts put tools/node_modules/.bin first on PATH). If Debian's is
#   present, this script stops and tells you to remove it.
# - cargo-nextest: `cargo test` does the job, and installing it takes 4.5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every npm project of the repo: each has a committed package-lock.json and gets `npm ci`.
# A listed directory that does not exist (yet) is skipped.
NPM_PROJECTS=(
    tools
    tests/interop/node
    tests/kms/node
    tests/npm
    tests/bundlers
    tests/bench-web
    www-demo
)
# Python packages for the interop and vector runners and the API contract suite, installed
# into build/venv together (one resolution, so their shared pins must agree).
PY_REQUIREMENTS=(tests/interop/requirements.txt tests/api/requirements.txt)
VENV=build/venv
# Debian packages: Chromium and its WebDriver for wasm-bindgen browser tests and the demo
# screenshot, a font so pages render text, and faketime, with which the key-server tests
# move a real server's clock past a deletion date (no test clock in the binary), and
# SoftHSM2, the PKCS#11 token the root-key tests keep the root key in. Firefox ESR and
# WebKitGTK's WebDriver run the npm package's browser cases in the other two engines; WebKit's
# MiniBrowser has no headless mode, so it runs on a virtual X display (xvfb-run needs xauth).
APT_PACKAGES=(chromium chromium-driver fonts-dejavu-core faketime softhsm2
    firefox-esr webkit2gtk-driver xvfb xauth)

STAMPS=build/stamps
START=$SECONDS

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

export PATH="$HOME/.cargo/bin:$PATH"
for tool in rustup cargo node npm python3; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH (expected on this kind of machine)"
done
mkdir -p "$STAMPS"

# --- Rust: wasm target, wasm-pack, wasm-bindgen-cli -------------------------------------

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding Rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
fi

# The lite module's pinned nightly, with the std sources -Zbuild-std rebuilds.
. scripts/lite-toolchain.sh
if ! rustup run "$LITE_TOOLCHAIN" rustc --version >/dev/null 2>&1 \
    || ! rustup component list --installed --toolchain "$LITE_TOOLCHAIN" | grep -q '^rust-src'; then
    say "installing Rust $LITE_TOOLCHAIN (the lite module's build)"
    rustup toolchain install "$LITE_TOOLCHAIN" --profile minimal --component rust-src
fi

if ! command -v wasm-pack >/dev/null; then
    say "installing wasm-pack"
    cargo install wasm-pack
fi

# wasm-bindgen-cli must be exactly the version of the `wasm-bindgen` crate in Cargo.lock,
# or wasm-pack tries to download another one (and fails: no network here).
lock_version=$(awk '
    /^\[\[package\]\]/ { name = "" }
    /^name = / { name = $3 }
    /^version = / && name == "\"wasm-bindgen\"" { gsub(/"/, "", $3); print $3; exit }
' Cargo.lock)
[ -n "$lock_version" ] || die "no wasm-bindgen package in Cargo.lock"
pin_version=$(sed -n 's/^wasm-bindgen = "=\([^"]*\)".*/\1/p' Cargo.toml | head -n1)
if [ -n "$pin_version" ] && [ "$pin_version" != "$lock_version" ]; then
    die "Cargo.toml pins wasm-bindgen =$pin_version but Cargo.lock has $lock_version; make them
agree first (e.g. \`cargo update -p wasm-bindgen --precise $pin_version\`), then rerun"
fi
installed_version=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$installed_version" != "$lock_version" ] || ! command -v wasm-bindgen-test-runner >/dev/null; then
    say "installing wasm-bindgen-cli $lock_version (found: ${installed_version:-none})"
    # No --locked: its lockfile pins a crate release the registry mirror lacks.
    cargo install wasm-bindgen-cli --version "$lock_version" --force
fi

# --- Debian: Chromium, ChromeDriver; never binaryen -------------------------------------

if [ -e /usr/bin/wasm-opt ]; then
    owner=$(dpkg-query -S /usr/bin/wasm-opt 2>/dev/null | cut -d: -f1 || true)
    die "/usr/bin/wasm-opt exists (package: ${owner:-unknown}). Debian's binaryen is too old:
modules it optimizes fail to load in Chromium, and wasm-pack picks it silently. Remove it
(\`apt-get remove -y binaryen\`) and rerun; we use npm's binaryen from tools/ instead."
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    say "installing Debian packages: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# --- npm projects ------------------------------------------------------------------------

for dir in "${NPM_PROJECTS[@]}"; do
    [ -f "$dir/package.json" ] || continue
    [ -f "$dir/package-lock.json" ] || die "$dir/package.json has no package-lock.json: run npm install there and commit the lock"
    stamp="$STAMPS/npm-$(printf '%s' "$dir" | tr '/' '_').sha256"
    want=$(sha "$dir/package-lock.json")
    if [ -d "$dir/node_modules" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        continue
    fi
    say "npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund)
    printf '%s\n' "$want" >"$stamp"
done

# --- Python venv for the interop and vector runners --------------------------------------

if ! "$VENV/bin/python" -c '' 2>/dev/null; then
    say "creating Python venv $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
fi
requirements=()
for file in "${PY_REQUIREMENTS[@]}"; do
    [ -f "$file" ] && requirements+=("$file")
done
if [ ${#requirements[@]} -gt 0 ]; then
    stamp="$VENV/.requirements.sha256"
    want=$(cat "${requirements[@]}" | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        say "pip install${requirements[*]/#/ -r }"
        "$VENV/bin/python" -m pip install --quiet "${requirements[@]/#/-r}"
        printf '%s\n' "$want" >"$stamp"
    fi
fi

say "ready ($((SECONDS - START)) s): wasm-bindgen $lock_version, $(wasm-pack --version 2>/dev/null), $(chromium --version 2>/dev/null)"
