# The Rust toolchain the lite module is built with (sourced by scripts/setup.sh, which
# installs it, and scripts/build-pkg.sh): a pinned nightly, for two unstable flags that only
# a size-first build wants, std rebuilt (-Zbuild-std, with core's `optimize_for_size`) and
# panics that trap at once (-Cpanic=immediate-abort: no panic message formatting left in
# the module). Everything else is built with the stable toolchain.
LITE_TOOLCHAIN=nightly-2026-05-20
