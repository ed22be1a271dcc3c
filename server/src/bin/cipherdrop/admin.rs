//! Admin subcommands: talk to a key server over HTTP (CIPHERDROP_ADDR, CIPHERDROP_TOKEN).

use clap::Subcommand;

use crate::error::Error;

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {}
#[derive(Debug, Subcommand)]
pub(crate) enum AliasCommand {}
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {}
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {}
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {}

pub(crate) fn run(_command: crate::cli::Command) -> Result<(), Error> {
    Err(Error::Usage("admin commands are not implemented yet".into()))
}
