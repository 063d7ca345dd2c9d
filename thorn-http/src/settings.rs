//! The settings of the HTTP client, declared here and read from the
//! [`Config`](thorn_core::Config) by every [`HttpClient`](crate::HttpClient).

use std::path::PathBuf;

use thorn_core::config::{Setting, SettingDoc, parse};

/// A PEM file of CA certificates to trust besides the built-in roots
/// (`THORN_CA_FILE`), for receivers behind a private CA.
pub const CA_FILE: Setting<Option<PathBuf>> = Setting::new(
    "THORN_CA_FILE",
    "",
    "a PEM file of one or more CA certificates trusted besides the built-in (or system) roots, for receivers behind a private CA",
    parse::path,
);

/// Whether to trust the system's certificate store instead of the
/// built-in webpki roots (`THORN_TLS_NATIVE_ROOTS`).
pub const NATIVE_ROOTS: Setting<bool> = Setting::new(
    "THORN_TLS_NATIVE_ROOTS",
    "false",
    "trust the system's certificate store (`SSL_CERT_FILE`, `SSL_CERT_DIR` or the platform's) instead of the built-in webpki roots",
    parse::boolean,
);

/// Every setting of the HTTP client, in the order of the README's table.
pub const SETTINGS: &[SettingDoc] = &[CA_FILE.doc(), NATIVE_ROOTS.doc()];
