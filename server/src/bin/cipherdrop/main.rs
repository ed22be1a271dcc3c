//! `cipherdrop`: encrypt/decrypt (raw RSA keys and key-server keys), the key server, and its
//! admin commands.
#![forbid(unsafe_code)]

mod admin;
mod cli;
mod crypt;
mod error;
mod serve;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::Error;

fn main() -> Result<(), Error> {
    match Cli::parse().command {
        Command::Encrypt(args) => crypt::encrypt(&args),
        Command::Decrypt(args) => crypt::decrypt(&args),
        Command::Serve(settings) => serve::run(*settings),
        Command::Demo(args) => serve::run(serve::demo_settings(args)),
        Command::Backup(args) => serve::backup(&args),
        Command::Restore(args) => serve::restore(&args),
        Command::Root(command) => serve::root(command),
        admin => admin::run(admin),
    }
}
