//! How clients reach the server: plain HTTP on loopback, HTTPS (rustls with aws-lc-rs, ALPN
//! h2 and http/1.1) anywhere. An adapter around the listener: the router and the handlers
//! never know which one carried a request.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{Signal, SignalKind};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::domain::DomainError;
use crate::settings::Settings;

/// Longest a client may take over its TLS handshake: a client that connects and stays silent
/// holds its own task until then, never the accept loop.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections past their handshake that wait for the HTTP server, which takes each at once:
/// the bound only keeps a stalled server from piling them up.
const ACCEPT_QUEUE: usize = 64;

/// Refuses plain HTTP on an address other than loopback without `--insecure-http`: bearer
/// tokens and data keys would cross the network in clear.
pub(crate) fn check_plain_http(settings: &Settings) -> Result<(), DomainError> {
    if settings.insecure_http {
        return Ok(());
    }
    let api = settings.tls_cert.is_none().then_some(("--listen", &settings.listen));
    let metrics = settings.metrics_listen.as_ref().map(|addr| ("--metrics-listen", addr));
    match api.into_iter().chain(metrics).find(|(_, addr)| !is_loopback(addr)) {
        Some((flag, addr)) => {
            let fix = match flag {
                _ if settings.demo => "the demo serves loopback only",
                "--listen" => "give --tls-cert and --tls-key, or --insecure-http",
                _ => "it has no TLS: give --insecure-http, or a loopback address",
            };
            Err(DomainError::Misconfigured(format!(
                "refusing plain HTTP on {flag} {addr}, which is not a loopback address: {fix}"
            )))
        }
        None => Ok(()),
    }
}

/// Whether `addr` (`HOST:PORT`) is on loopback: 127.0.0.0/8, ::1 or `localhost`.
fn is_loopback(addr: &str) -> bool {
    match addr.parse::<SocketAddr>() {
        Ok(addr) => addr.ip().to_canonical().is_loopback(),
        Err(_) => {
            addr.rsplit_once(':').is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost"))
        }
    }
}

/// The server's TLS, from `--tls-cert` and `--tls-key`, if given.
pub(crate) fn tls(settings: &Settings) -> Result<Option<Tls>, DomainError> {
    match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => Tls::load(cert, key).map(Some),
        (None, None) => Ok(None),
        _ => Err(DomainError::Misconfigured("--tls-cert and --tls-key go together".into())),
    }
}

/// The TLS configuration, and the certificate that SIGHUP reloads.
pub(crate) struct Tls {
    acceptor: TlsAcceptor,
    certificate: Arc<Certificate>,
    hangup: Signal,
}

impl Tls {
    /// Loads the pair, and takes over SIGHUP now: from the ready line on, a SIGHUP reloads
    /// (its default action would end the process).
    fn load(cert: &Path, key: &Path) -> Result<Self, DomainError> {
        let misconfigured = |e: &dyn fmt::Display| DomainError::Misconfigured(format!("TLS: {e}"));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let certificate = Arc::new(
            Certificate::load(cert, key, provider.clone()).map_err(|e| misconfigured(&e))?,
        );
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| misconfigured(&e))?
            .with_no_client_auth()
            .with_cert_resolver(certificate.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let hangup =
            tokio::signal::unix::signal(SignalKind::hangup()).map_err(|e| misconfigured(&e))?;
        Ok(Self { acceptor: Arc::new(config).into(), certificate, hangup })
    }

    /// Serves TLS on `tcp`, and reloads the certificate on SIGHUP, while the listener lives.
    pub(crate) fn listen(self, tcp: TcpListener) -> io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (sender, handshaken) = mpsc::channel(ACCEPT_QUEUE);
        let task = tokio::spawn(async move {
            tokio::join!(
                accept(tcp, self.acceptor, sender),
                reload_on_hangup(self.certificate, self.hangup)
            );
        });
        Ok(TlsListener { local, handshaken, task })
    }
}

/// Connections whose TLS handshake is done, for `axum::serve`. Each handshake runs in its own
/// task, so a slow or silent client delays only itself.
pub(crate) struct TlsListener {
    local: SocketAddr,
    handshaken: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let next = self.handshaken.recv().await;
        next.expect("the accept task, which never returns, holds a sender while we live")
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

async fn accept(
    mut tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshaken: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        // axum's own accept, which retries (and logs) what a failed accept(2) returns.
        let (stream, peer) = axum::serve::Listener::accept(&mut tcp).await;
        let (acceptor, handshaken) = (acceptor.clone(), handshaken.clone());
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                // A send fails only once the server stopped accepting: it is shutting down.
                Ok(Ok(tls)) => drop(handshaken.send((tls, peer)).await),
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

async fn reload_on_hangup(certificate: Arc<Certificate>, mut hangup: Signal) {
    while hangup.recv().await.is_some() {
        match certificate.reload() {
            Ok(()) => tracing::info!("TLS certificate reloaded"),
            Err(e) => tracing::error!(
                error = %e,
                "TLS certificate reload failed; the previous certificate is still served"
            ),
        }
    }
}

/// The certificate and key files, and the pair last loaded from them, which every new
/// handshake gets.
#[derive(Debug)]
struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificate {
    fn load(cert: &Path, key: &Path, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        let current = RwLock::new(read_pair(cert, key, &provider)?);
        Ok(Self { cert: cert.to_path_buf(), key: key.to_path_buf(), provider, current })
    }

    /// Reads both files again; the pair in use changes only if the new one loads.
    fn reload(&self) -> Result<(), TlsError> {
        let pair = read_pair(&self.cert, &self.key, &self.provider)?;
        // A writer only swaps an Arc: a poisoned lock still holds a whole pair.
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = pair;
        Ok(())
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(PoisonError::into_inner).clone())
    }
}

/// The chain in `cert` and the key in `key`, checked to belong together.
fn read_pair(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let unreadable = |path: &Path| {
        let path = path.to_path_buf();
        move |error| TlsError::Read { path, error }
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(unreadable(cert))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert.to_path_buf()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(unreadable(key))?;
    CertifiedKey::from_der(chain, key, provider).map(Arc::new).map_err(TlsError::Pair)
}

/// Why a certificate and key did not load.
#[derive(Debug)]
enum TlsError {
    /// The certificate file holds no certificate.
    NoCertificate(PathBuf),
    /// The key does not belong to the certificate, or is of a kind rustls cannot use.
    Pair(rustls::Error),
    /// A file could not be read, or is not PEM.
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: rustls::pki_types::pem::Error,
    },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCertificate(path) => write!(f, "{}: no certificate in it", path.display()),
            Self::Pair(e) => write!(f, "the key and the certificate do not make a pair: {e}"),
            Self::Read { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::NoCertificate(_) => None,
            Self::Pair(e) => Some(e),
            Self::Read { error, .. } => Some(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_addresses() {
        for addr in ["127.0.0.1:8700", "127.1.2.3:0", "[::1]:8700", "localhost:8700", "LOCALHOST:1"]
        {
            assert!(is_loopback(addr), "{addr}");
        }
        for addr in ["0.0.0.0:8700", "[::]:0", "10.0.0.1:80", "example.com:443", "localhost"] {
            assert!(!is_loopback(addr), "{addr}");
        }
    }
}
