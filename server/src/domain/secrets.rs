//! RSA-OAEP encryption and decryption, the cache of opened private keys, randomness, the
//! crypto pool and secret files. Every private-key operation goes through aws-lc-rs (constant
//! time); key generation and the other key kinds are in [`super::material`].

use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, PrivateDecryptingKey,
};
use zeroize::Zeroizing;

use super::error::DomainError;
use super::root::RootKey;

/// RSA-OAEP encryption to a stored public key (Encrypt with an RSA key), within the
/// padding's limit for the key size.
pub(crate) fn encrypt_to(
    spki: &[u8],
    sha1: bool,
    plaintext: &[u8],
) -> Result<Vec<u8>, DomainError> {
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey};
    let bad = || DomainError::internal("stored public key unreadable");
    let key = PublicEncryptingKey::from_der(spki).map_err(|_| bad())?;
    let key = OaepPublicEncryptingKey::new(key).map_err(|_| bad())?;
    let algorithm = if sha1 { &OAEP_SHA1_MGF1SHA1 } else { &OAEP_SHA256_MGF1SHA256 };
    let max = key.max_plaintext_size(algorithm);
    if plaintext.len() > max {
        return Err(DomainError::invalid(format!(
            "Plaintext is at most {max} bytes for this key and algorithm"
        )));
    }
    let mut out = vec![0u8; key.ciphertext_size()];
    let len = key
        .encrypt(algorithm, plaintext, &mut out, None)
        .map_err(|_| DomainError::internal("RSA encryption failed"))?
        .len();
    out.truncate(len);
    Ok(out)
}

/// RSA-OAEP decryption. Every failure is the same opaque error.
pub(crate) fn decrypt(
    key: &OaepPrivateDecryptingKey,
    sha1: bool,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DomainError> {
    let algorithm = if sha1 { &OAEP_SHA1_MGF1SHA1 } else { &OAEP_SHA256_MGF1SHA256 };
    let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
    let len = key
        .decrypt(algorithm, ciphertext, &mut out, None)
        .map_err(|_| DomainError::InvalidCiphertext)?
        .len();
    out.truncate(len);
    Ok(out)
}

/// Opened private keys, so that an unwrap does not parse PKCS#8 and rebuild the key's
/// Montgomery and blinding state each time (measured: that doubled its CPU cost).
///
/// This holds key material only, never state: every use first reads the key, its state,
/// policy and sealed version from the database, and an entry is used only for the exact
/// sealed bytes that row holds now. Entries idle for [`KEY_CACHE_IDLE`] go, the cache never
/// holds more than [`KEY_CACHE_SIZE`], and keys this process deletes are dropped at once.
#[derive(Debug, Default)]
pub(crate) struct KeyCache {
    entries: std::sync::Mutex<std::collections::HashMap<(String, i64), CachedKey>>,
}

#[derive(Debug)]
struct CachedKey {
    sealed_digest: [u8; 32],
    key: std::sync::Arc<OaepPrivateDecryptingKey>,
    used: std::time::Instant,
}

/// Most keys kept open.
const KEY_CACHE_SIZE: usize = 256;
/// How long an unused open key is kept.
const KEY_CACHE_IDLE: std::time::Duration = std::time::Duration::from_secs(300);

impl KeyCache {
    /// The opened key of a sealed version, opening (and caching) it if needed.
    pub(crate) fn open(
        &self,
        root: &RootKey,
        name: &str,
        key_id: &str,
        version: i64,
        sealed: &[u8],
    ) -> Result<std::sync::Arc<OaepPrivateDecryptingKey>, DomainError> {
        use sha2::Digest as _;
        let digest: [u8; 32] = sha2::Sha256::digest(sealed).into();
        let id = (key_id.to_string(), version);
        let now = std::time::Instant::now();
        if let Ok(mut entries) = self.entries.lock()
            && let Some(entry) = entries.get_mut(&id)
            && entry.sealed_digest == digest
        {
            entry.used = now;
            return Ok(entry.key.clone());
        }
        let pkcs8 = root.open_sealed(name, sealed)?;
        let bad = || DomainError::internal("stored private key unreadable");
        let key = PrivateDecryptingKey::from_pkcs8(&pkcs8).map_err(|_| bad())?;
        let key = std::sync::Arc::new(OaepPrivateDecryptingKey::new(key).map_err(|_| bad())?);
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, e| now.duration_since(e.used) < KEY_CACHE_IDLE);
            if entries.len() >= KEY_CACHE_SIZE
                && let Some(oldest) =
                    entries.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
            entries.insert(id, CachedKey { sealed_digest: digest, key: key.clone(), used: now });
        }
        Ok(key)
    }

    /// Drops every opened version of `key_id`.
    pub(crate) fn forget(&self, key_id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|(id, _), _| id != key_id);
        }
    }
}

/// PEM text of `der` under `label` (RFC 7468: base64 in 64-column lines).
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Fills a fresh buffer with `N` random bytes.
/// Lowercase hex of `bytes` (IDs, tokens, digests).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn random<const N: usize>() -> Result<[u8; N], DomainError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| DomainError::internal("random failed"))?;
    Ok(out)
}

/// Runs private-key work (OAEP decryption, key generation) on its own threads, one per core:
/// RSA never stalls the async executor, and a burst of unwraps queues here instead of
/// oversubscribing the cores. A thread that finishes a job takes the next queued one without
/// sleeping (tokio's blocking pool, gated by a semaphore, put a thread to sleep and woke
/// one for every job: measured, that cost more than the rest of an unwrap's bookkeeping).
///
/// Dropping the pool waits until every thread has ended, thread-exit handlers included: a
/// PKCS#11 module's OpenSSL frees per-thread state there, and a crypto thread still doing so
/// while the process ran OpenSSL's exit cleanup crashed `cipherdrop root rotate` (a double
/// free, about once in 400 runs).
#[derive(Debug)]
pub(crate) struct CryptoPool {
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

type Job = Box<dyn FnOnce() + Send>;

impl CryptoPool {
    /// A pool as wide as the machine's cores.
    pub(crate) fn for_cores() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        let mut threads = Vec::with_capacity(cores);
        for i in 0..cores {
            let queue = queue.clone();
            let spawned =
                std::thread::Builder::new().name(format!("crypto-{i}")).spawn(move || {
                    loop {
                        // The lock is held only while waiting for a job, not while running it.
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(e) => tracing::error!(error = %e, "cannot start a crypto thread"),
            }
        }
        Self { jobs: Some(jobs), threads }
    }

    /// Runs `work` on a crypto thread and waits for its result.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, DomainError> + Send + 'static,
    ) -> Result<T, DomainError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        let stopped = || DomainError::internal("crypto pool stopped");
        self.jobs.as_ref().ok_or_else(stopped)?.send(job).map_err(|_| stopped())?;
        result.await.map_err(|_| DomainError::internal("crypto job lost"))?
    }
}

impl Drop for CryptoPool {
    fn drop(&mut self) {
        // Closing the queue ends each thread once its current job is done.
        drop(self.jobs.take());
        let this = std::thread::current().id();
        for thread in self.threads.drain(..) {
            // A job that held the last reference to the pool drops it on its own thread,
            // which cannot wait for itself.
            if thread.thread().id() != this {
                let _ = thread.join();
            }
        }
    }
}

/// File mode of the root key, the admin token and backups: readable by the owner only.
pub(crate) const SECRET_FILE_MODE: u32 = 0o600;

/// A secret file's bytes (root key, PIN), zeroized when dropped.
pub(crate) fn read_secret(path: &std::path::Path) -> Result<Zeroizing<Vec<u8>>, DomainError> {
    let bytes = std::fs::read(path)
        .map_err(|e| DomainError::Misconfigured(format!("{}: {e}", path.display())))?;
    Ok(Zeroizing::new(bytes))
}

/// Writes a new secret file (mode 0600); fails if `path` exists.
pub(crate) fn write_secret(path: &std::path::Path, bytes: &[u8]) -> Result<(), DomainError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let fail = |e: std::io::Error| DomainError::internal(format!("{}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(SECRET_FILE_MODE)
        .open(path)
        .map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)
}

/// Writes a secret file (mode 0600) beside `path`, then renames it over `path`: readers see
/// the old content or the new, never a part.
pub(crate) fn write_secret_replacing(
    path: &std::path::Path,
    bytes: &[u8],
) -> Result<(), DomainError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    write_secret(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
        .map_err(|e| DomainError::internal(format!("{}: {e}", path.display())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::CryptoPool;

    /// Set by a crypto thread's thread-exit handler, after a pause.
    struct ExitHandler(Arc<AtomicBool>);

    impl Drop for ExitHandler {
        fn drop(&mut self) {
            std::thread::sleep(std::time::Duration::from_millis(200));
            self.0.store(true, Ordering::SeqCst);
        }
    }

    thread_local! {
        static ON_EXIT: std::cell::RefCell<Option<ExitHandler>> = const { std::cell::RefCell::new(None) };
    }

    /// As a PKCS#11 module's OpenSSL does, a job leaves per-thread state behind; once the
    /// pool is dropped, its thread-exit handler has run, so that nothing of the pool still
    /// runs when the process exits.
    #[tokio::test]
    async fn dropping_the_pool_waits_for_its_threads_to_end() {
        let pool = CryptoPool::for_cores();
        let ended = Arc::new(AtomicBool::new(false));
        let flag = ended.clone();
        pool.run(move || {
            ON_EXIT.with(|h| *h.borrow_mut() = Some(ExitHandler(flag)));
            Ok(())
        })
        .await
        .unwrap();
        drop(pool);
        assert!(ended.load(Ordering::SeqCst), "a crypto thread outlived its pool");
    }
}
