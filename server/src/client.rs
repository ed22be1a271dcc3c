//! HTTP client of the key server, for the admin CLI and the key-server keyring.
