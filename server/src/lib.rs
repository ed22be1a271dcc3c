//! The cipherdrop key server (see the `cipherdrop serve` subcommand).
#![forbid(unsafe_code)]
