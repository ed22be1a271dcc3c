//! Test PKI for TLS servers: a CA made at test time (rcgen) that issues server certificates for
//! 127.0.0.1 and localhost, and a raw TLS handshake that shows what a server presents.

use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};

/// The files of a TLS server: its certificate and key, and the CA its clients trust.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The CA certificate (PEM).
    pub ca: PathBuf,
    /// The server's certificate (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM, PKCS#8).
    pub key: PathBuf,
}

impl TlsFiles {
    /// The server's certificate now in `cert` (DER).
    pub fn certificate(&self) -> Vec<u8> {
        CertificateDer::from_pem_file(&self.cert).unwrap().to_vec()
    }
}

/// A certificate authority that lives for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// Its certificate (PEM).
    pub cert: PathBuf,
}

impl TestCa {
    /// A new CA named `name`, its certificate written to `DIR/NAME.pem`.
    pub fn new(dir: &Path, name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let cert = dir.join(format!("{name}.pem"));
        std::fs::write(&cert, issuer.pem()).unwrap();
        Self { issuer, cert }
    }

    /// Issues a server certificate for 127.0.0.1 and localhost named `common_name` (a new key
    /// each time) into `DIR/NAME.crt` and `DIR/NAME.key`.
    pub fn server(&self, dir: &Path, name: &str, common_name: &str) -> TlsFiles {
        let files = TlsFiles {
            ca: self.cert.clone(),
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        };
        self.reissue(&files, common_name);
        files
    }

    /// Replaces the certificate and key in `files` with new ones named `common_name`.
    pub fn reissue(&self, files: &TlsFiles, common_name: &str) {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, common_name);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
    }
}

/// What a TLS server presented in one handshake.
pub struct Handshake {
    /// Its certificate (DER).
    pub certificate: Vec<u8>,
    /// The application protocol agreed by ALPN (the client offers h2 and http/1.1).
    pub alpn: Option<Vec<u8>>,
}

/// A TLS handshake with the server at `addr` (`https://127.0.0.1:PORT`), trusting `ca` only.
pub fn handshake(addr: &str, ca: &Path) -> io::Result<Handshake> {
    let host_port = addr.strip_prefix("https://").expect("an https:// address");
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let host = host_port.rsplit_once(':').unwrap().0;
    let name = ServerName::try_from(host.to_string()).unwrap();
    let mut tls =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(io::Error::other)?;
    let mut tcp = TcpStream::connect(host_port)?;
    while tls.is_handshaking() {
        tls.complete_io(&mut tcp)?;
    }
    let certificate = tls.peer_certificates().and_then(|c| c.first()).unwrap().to_vec();
    Ok(Handshake { certificate, alpn: tls.alpn_protocol().map(<[u8]>::to_vec) })
}
