#!/usr/bin/env bash
# `make fuzz`: runs every cargo-fuzz target for FUZZ_SECONDS (default 120) each, one after
# another, from its seeds (fuzz/seeds/TARGET) and saved crashes (fuzz/regressions/TARGET), with
# fuzz/Cargo.lock used as `--locked` would. New corpus entries go to build/fuzz/corpus/TARGET
# (kept between runs); crashes to fuzz/artifacts/TARGET/. Fails if the lock file is stale, a
# build fails, or any target finds a crash.
#
#   FUZZ_SECONDS=60 fuzz/run.sh                 # shorter runs
#   FUZZ_TARGETS="policy" fuzz/run.sh           # some targets only
#   FUZZ_ARGS="-rss_limit_mb=4096" fuzz/run.sh  # more libFuzzer options
set -euo pipefail

FUZZ_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$FUZZ_DIR")
MANIFEST="$FUZZ_DIR/Cargo.toml"
SECONDS_EACH=${FUZZ_SECONDS:-120}
read -r -a TARGETS <<<"${FUZZ_TARGETS:-decrypt policy unwrap_header}"
read -r -a EXTRA <<<"${FUZZ_ARGS:-}"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: needs a nightly toolchain: rustup toolchain install nightly --profile minimal" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: needs cargo-fuzz: cargo install cargo-fuzz" >&2
    exit 1
fi

# cargo-fuzz has no --locked (and runs `cargo build` itself). `cargo metadata --locked`
# resolves the same graph as the build and fails, naming the reason, if Cargo.lock would
# change; the checksum afterwards makes sure nothing rewrote it anyway.
echo "fuzz: checking fuzz/Cargo.lock (--locked)"
if ! cargo +nightly metadata --locked --format-version 1 --manifest-path "$MANIFEST" >/dev/null; then
    echo "fuzz: fuzz/Cargo.lock is out of date: regenerate it (cp Cargo.lock fuzz/ && cargo +nightly metadata --manifest-path fuzz/Cargo.toml >/dev/null, as README describes) and commit it" >&2
    exit 1
fi
lock_sum=$(sha256sum "$FUZZ_DIR/Cargo.lock")

cd "$FUZZ_DIR"
cargo +nightly fuzz build

failed=()
for target in "${TARGETS[@]}"; do
    corpus="$ROOT/build/fuzz/corpus/$target"
    mkdir -p "$corpus"
    dirs=("$corpus" "$FUZZ_DIR/seeds/$target")
    [[ -d "$FUZZ_DIR/regressions/$target" ]] && dirs+=("$FUZZ_DIR/regressions/$target")
    echo "fuzz: $target for ${SECONDS_EACH}s"
    if ! cargo +nightly fuzz run "$target" "${dirs[@]}" -- \
        -max_total_time="$SECONDS_EACH" -timeout=30 -print_final_stats=1 "${EXTRA[@]}"; then
        failed+=("$target")
    fi
done

if [[ "$(sha256sum "$FUZZ_DIR/Cargo.lock")" != "$lock_sum" ]]; then
    echo "fuzz: the build changed fuzz/Cargo.lock" >&2
    exit 1
fi
if ((${#failed[@]})); then
    echo "fuzz: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: ${TARGETS[*]}: no crash in ${SECONDS_EACH}s each"
