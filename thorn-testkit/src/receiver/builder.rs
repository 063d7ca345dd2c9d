//! Building a receiver: its secret and its certificate, then binding a port.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thorn_core::{Digest, Signer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::server::serve;
use super::{MockReceiver, Shared};

/// Builds a [`MockReceiver`].
#[derive(Default)]
#[must_use]
pub struct MockReceiverBuilder {
    secret: Option<(String, Digest)>,
    signer: Signer,
    tls: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

impl fmt::Debug for MockReceiverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockReceiverBuilder")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("signer", &self.signer)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl MockReceiverBuilder {
    /// Verifies every request's signatures under `secret` and `digest`,
    /// recording the result in
    /// [`ReceivedRequest::signature_ok`](super::ReceivedRequest::signature_ok).
    pub fn secret(mut self, secret: impl Into<String>, digest: Digest) -> Self {
        self.secret = Some((secret.into(), digest));
        self
    }

    /// Checks `Hook-HMAC` in the scheme of `signer` (plain HMAC by
    /// default; [`Signer::Compat`] for deliveries signed as Python Thorn
    /// signs).
    pub fn signer(mut self, signer: Signer) -> Self {
        self.signer = signer;
        self
    }

    /// Serves HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with this certificate
    /// chain (DER, leaf first) and private key (PKCS#8 DER).
    pub fn tls(mut self, chain: Vec<Vec<u8>>, pkcs8_key: Vec<u8>) -> Self {
        let chain = chain.into_iter().map(CertificateDer::from).collect();
        let key = PrivateKeyDer::Pkcs8(pkcs8_key.into());
        self.tls = Some((chain, key));
        self
    }

    /// Binds a random port of 127.0.0.1 and starts serving.
    pub async fn start(self) -> std::io::Result<MockReceiver> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let acceptor = match self.tls {
            None => None,
            Some((chain, key)) => {
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let mut config = rustls::ServerConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
                    .map_err(std::io::Error::other)?;
                config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
                Some(TlsAcceptor::from(Arc::new(config)))
            }
        };
        let https = acceptor.is_some();
        let shared = Arc::new(Shared {
            secret: self.secret,
            signer: self.signer,
            wanted: AtomicUsize::new(usize::MAX),
            ..Shared::default()
        });
        let task = tokio::spawn(serve(listener, Arc::clone(&shared), acceptor));
        Ok(MockReceiver {
            shared,
            addr,
            https,
            task,
        })
    }
}
