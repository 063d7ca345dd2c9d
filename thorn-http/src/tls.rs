//! TLS settings: rustls with the `ring` provider; the webpki roots or the
//! system's; and any extra roots for private CAs. Certificate checks
//! cannot be turned off.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use thorn_core::{Config, Error, Result};

use crate::settings::{CA_FILE, NATIVE_ROOTS};

/// Extra trusted root certificates (DER), for receivers behind a private CA.
/// Put it in [`Config::extensions`](thorn_core::Config::extensions) and every
/// [`HttpClient`](crate::HttpClient) built from that config trusts them, on
/// top of the other roots. `THORN_CA_FILE` does the same from a PEM file.
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

    /// Adds every certificate of a PEM file; an error names the file and
    /// says what is wrong with it.
    pub fn add_pem_file(mut self, path: &Path) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidSetting {
            name: CA_FILE.name(),
            value: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| invalid(format!("cannot read it: {e}")))?;
        let before = self.certs.len();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| invalid(format!("not a PEM file of certificates: {e}")))?;
            self.certs.push(cert.into_owned());
        }
        if self.certs.len() == before {
            return Err(invalid(
                "it holds no `-----BEGIN CERTIFICATE-----` block; give a PEM file of CA certificates"
                    .into(),
            ));
        }
        Ok(self)
    }

    /// The certificates.
    pub fn certs(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }
}

/// The roots `config` asks for: the webpki roots, or the system's with
/// `THORN_TLS_NATIVE_ROOTS`, plus `THORN_CA_FILE`'s and `extra`'s.
fn roots(config: &Config, extra: Option<&TrustedRoots>) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    if config.get(&NATIVE_ROOTS)? {
        let native = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            let errors: Vec<String> = native.errors.iter().map(ToString::to_string).collect();
            return Err(Error::InvalidSetting {
                name: NATIVE_ROOTS.name(),
                value: "true".into(),
                reason: format!(
                    "the system's certificate store holds no usable certificate ({}); install ca-certificates, point SSL_CERT_FILE at a bundle, or unset it to use the built-in roots",
                    if errors.is_empty() {
                        "none found".into()
                    } else {
                        errors.join("; ")
                    }
                ),
            });
        }
    } else {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    let from_file = match config.get(&CA_FILE)? {
        Some(path) => Some(TrustedRoots::new().add_pem_file(&path)?),
        None => None,
    };
    for cert in [from_file.as_ref(), extra]
        .into_iter()
        .flatten()
        .flat_map(TrustedRoots::certs)
    {
        roots.add(cert.clone()).map_err(|e| {
            Error::dispatch(
                "http",
                false,
                format!("a trusted root is not a valid CA certificate: {e}"),
            )
        })?;
    }
    Ok(roots)
}

/// A rustls client config trusting the roots `config` asks for and
/// `extra`, with ALPN left to the connector.
pub(crate) fn client_config(
    config: &Config,
    extra: Option<&TrustedRoots>,
) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::dispatch("http", false, format!("TLS protocol versions: {e}")))?
        .with_root_certificates(roots(config, extra)?)
        .with_no_client_auth();
    Ok(config)
}
