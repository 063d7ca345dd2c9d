//! A private certificate authority for TLS tests (feature `pki`): a CA
//! and a certificate it signed for `localhost` and 127.0.0.1, to serve a
//! [`MockReceiver`](crate::receiver::MockReceiver) over https that only a
//! client trusting the CA accepts.

/// A test CA and one server certificate it signed.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA's certificate, DER.
    pub ca_der: Vec<u8>,
    /// The CA's certificate, PEM (what `THORN_CA_FILE` holds).
    pub ca_pem: String,
    /// The server's certificate chain, DER.
    pub chain: Vec<Vec<u8>>,
    /// The server's private key, PKCS#8 DER.
    pub key: Vec<u8>,
}

impl TestPki {
    /// A new CA and server certificate, with fresh keys.
    ///
    /// ```
    /// let pki = thorn_testkit::pki::TestPki::new();
    /// assert!(pki.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    /// assert_eq!(pki.chain.len(), 1);
    /// ```
    ///
    /// # Panics
    ///
    /// If key generation fails, which only a broken random source causes.
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose, SanType};
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("a CA key");
        let ca_cert = ca.self_signed(&ca_key).expect("the CA certificate");
        let mut leaf =
            CertificateParams::new(vec!["localhost".to_owned()]).expect("server parameters");
        leaf.subject_alt_names
            .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
        let key = KeyPair::generate().expect("a server key");
        let cert = leaf
            .signed_by(&key, &ca_cert, &ca_key)
            .expect("the server certificate");
        TestPki {
            ca_der: ca_cert.der().to_vec(),
            ca_pem: ca_cert.pem(),
            chain: vec![cert.der().to_vec()],
            key: key.serialize_der(),
        }
    }
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}
