//! Version 0 of the API (see `openapi.json`).

pub(crate) mod aliases;
pub(crate) mod audit;
pub(crate) mod credentials;
pub(crate) mod keys;
pub(crate) mod tokens;
pub(crate) mod unwrap;
