//! `cipherdrop`: encrypt/decrypt (raw RSA keys and key-server keys), the key server, and its
//! admin commands.
#![forbid(unsafe_code)]

mod admin;
mod cli;
mod crypt;
mod error;
mod frames;
mod serve;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::Error;

fn main() -> Result<(), Error> {
    let cli = Cli::parse();
    match cli.command {
        Command::Encrypt(args) => crypt::encrypt(&args, &cli.key_server),
        Command::Decrypt(args) => crypt::decrypt(&args, &cli.key_server),
        Command::Serve(settings) => serve::run(*settings),
        Command::Demo(args) => serve::run(serve::demo_settings(args)),
        Command::Backup(args) => serve::backup(&args),
        Command::Restore(args) => serve::restore(&args),
        Command::Root(command) => serve::root(command),
        admin => admin::run(admin, &cli.key_server),
    }
}
