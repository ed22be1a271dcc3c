//! `cipherdrop`: key server, admin CLI and offline encrypt/decrypt.
#![forbid(unsafe_code)]

fn main() {
    println!("cipherdrop {}", env!("CARGO_PKG_VERSION"));
}
