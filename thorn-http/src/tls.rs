//! TLS settings: rustls with the `ring` provider, the webpki roots, and any
//! extra roots for private CAs. Certificate checks cannot be turned off.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use thorn_core::{Error, Result};

/// Extra trusted root certificates (DER), for receivers behind a private CA.
/// Put it in [`Config::extensions`](thorn_core::Config::extensions) and every
/// [`HttpClient`](crate::HttpClient) built from that config trusts them, on
/// top of the webpki roots.
///
/// ```
/// use thorn_core::Config;
/// use thorn_http::TrustedRoots;
/// let mut config = Config::default();
/// config.extensions.insert(TrustedRoots::default());
/// assert!(config.extensions.get::<TrustedRoots>().is_some());
/// ```
#[derive(Clone, Debug, Default)]
pub struct TrustedRoots {
    certs: Vec<CertificateDer<'static>>,
}

impl TrustedRoots {
    /// No extra roots.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a DER-encoded CA certificate.
    pub fn add_der(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.certs.push(CertificateDer::from(der.into()));
        self
    }

    /// The certificates.
    pub fn certs(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }
}

/// A rustls client config trusting the webpki roots and `extra`, with ALPN
/// left to the connector.
pub(crate) fn client_config(extra: Option<&TrustedRoots>) -> Result<rustls::ClientConfig> {
    let tls_error =
        |what: &str, e: rustls::Error| Error::dispatch("http", false, format!("{what}: {e}"));
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in extra.map(TrustedRoots::certs).unwrap_or_default() {
        roots.add(cert.clone()).map_err(|e| {
            tls_error(
                "a certificate of TrustedRoots is not a valid CA certificate",
                e,
            )
        })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("TLS protocol versions", e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
