//! Key lifecycle, policy, audit and key material: plain functions that handlers call.

pub mod audit;
pub(crate) mod keys;
pub mod policy;
pub mod secrets;
