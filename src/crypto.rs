//! Keys and primitives: data keys, key derivation, AES-GCM and message signatures.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hkdf::{GenericHkdf, Hkdf, HmacImpl};
use sha2::{Digest, Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::error::{DecryptError, EncryptError};
#[cfg(feature = "signing")]
use crate::format::der;
use crate::suite::{AlgorithmSuite, IV_LEN, Kdf, Signing, TAG_LEN};

/// A plaintext data key. Zeroized on drop; never printed.
///
/// Keyrings receive one to wrap and return one when they unwrap.
#[derive(ZeroizeOnDrop)]
pub struct DataKey(Box<[u8]>);

impl DataKey {
    /// Copies key bytes, such as a keyring's unwrapped plaintext, into a data key. The caller
    /// SHOULD zeroize its own copy.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.into())
    }

    /// Generates a random data key of `len` bytes.
    pub(crate) fn generate(len: usize) -> Result<Self, getrandom::Error> {
        let mut key = alloc::vec![0u8; len].into_boxed_slice();
        getrandom::fill(&mut key)?;
        Ok(Self(key))
    }

    /// The key bytes. Whoever reads them MUST NOT log, store or keep them.
    pub fn dangerous_as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Key length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the key is empty (never true for a usable key).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey").field("len", &self.0.len()).finish_non_exhaustive()
    }
}

/// The AES-GCM cipher keyed with a message's derived encryption key. Natively it is
/// aws-lc-rs's, whose VAES / AVX-512 assembly outruns both the `aes-gcm` crate and `openssl
/// speed` on the machines we bench on; in wasm the `aes-gcm` crate (the only backend there).
/// This is the one place that picks the backend. Both wipe their expanded key on drop: aws-lc
/// frees the context with `OPENSSL_free`, which cleanses it; the `aes-gcm` crate has its
/// `zeroize` feature.
pub(crate) struct ContentCipher(Backend);

#[cfg(not(target_arch = "wasm32"))]
type Backend = aws_lc::Gcm;
#[cfg(all(target_arch = "wasm32", feature = "builtin-crypto"))]
type Backend = rust_crypto::Gcm;
#[cfg(all(target_arch = "wasm32", not(feature = "builtin-crypto")))]
type Backend = absent::Gcm;

/// A GCM failure: the tag did not verify, or the input exceeded GCM's limits.
#[derive(Debug)]
pub(crate) struct AeadFailed;

impl ContentCipher {
    pub(crate) fn new(key: &[u8]) -> Self {
        Self(Backend::new(key))
    }

    /// Encrypts `buf` in place and returns the tag.
    pub(crate) fn seal(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], AeadFailed> {
        self.0.seal(iv, aad, buf)
    }

    /// Verifies `tag` and decrypts `buf` in place. On failure `buf` holds no unauthenticated
    /// plaintext: aws-lc decrypts while it hashes but zeroes its output when the tag fails
    /// (`EVP_AEAD_CTX_open_gather`); the `aes-gcm` crate checks the tag first and leaves the
    /// ciphertext.
    pub(crate) fn open(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AeadFailed> {
        self.0.open(iv, aad, buf, tag)
    }
}

/// aws-lc-rs AES-GCM (AES-NI, VAES and carry-less multiply assembly), native builds.
#[cfg(not(target_arch = "wasm32"))]
mod aws_lc {
    use aws_lc_rs::aead::{AES_128_GCM, AES_192_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce};
    use aws_lc_rs::aead::{Algorithm, UnboundKey};

    use super::AeadFailed;
    use crate::suite::{IV_LEN, TAG_LEN};

    pub(super) struct Gcm(LessSafeKey);

    impl Gcm {
        pub(super) fn new(key: &[u8]) -> Self {
            // Lengths come from `AlgorithmSuite::key_len`, which only yields 16, 24 or 32.
            let algorithm: &'static Algorithm = match key.len() {
                16 => &AES_128_GCM,
                24 => &AES_192_GCM,
                _ => &AES_256_GCM,
            };
            let key = UnboundKey::new(algorithm, key).expect("a 16, 24 or 32-byte AES key");
            Self(LessSafeKey::new(key))
        }

        pub(super) fn seal(
            &self,
            iv: &[u8; IV_LEN],
            aad: &[u8],
            buf: &mut [u8],
        ) -> Result<[u8; TAG_LEN], AeadFailed> {
            let nonce = Nonce::assume_unique_for_key(*iv);
            let tag = self
                .0
                .seal_in_place_separate_tag(nonce, Aad::from(aad), buf)
                .map_err(|_| AeadFailed)?;
            Ok(tag.as_ref().try_into().expect("AES-GCM tags have 16 bytes"))
        }

        pub(super) fn open(
            &self,
            iv: &[u8; IV_LEN],
            aad: &[u8],
            buf: &mut [u8],
            tag: &[u8; TAG_LEN],
        ) -> Result<(), AeadFailed> {
            let nonce = Nonce::assume_unique_for_key(*iv);
            self.0
                .open_in_place_separate_tag(nonce, Aad::from(aad), tag, buf)
                .map(drop)
                .map_err(|_| AeadFailed)
        }
    }
}

/// No AES-GCM in the core: a wasm build without `builtin-crypto`, where `derive_keys` answers
/// `None` before any cipher would be made (callers derive the keys: `KeyDerivation`).
#[cfg(all(target_arch = "wasm32", not(feature = "builtin-crypto")))]
mod absent {
    use super::AeadFailed;
    use crate::suite::{IV_LEN, TAG_LEN};

    const NO_KEY: &str = "no cipher exists in a build without builtin-crypto";

    /// Never made: `derive_keys`, its only maker, returns before.
    pub(super) struct Gcm;

    impl Gcm {
        pub(super) fn new(_: &[u8]) -> Self {
            unreachable!("{NO_KEY}")
        }

        pub(super) fn seal(
            &self,
            _: &[u8; IV_LEN],
            _: &[u8],
            _: &mut [u8],
        ) -> Result<[u8; TAG_LEN], AeadFailed> {
            unreachable!("{NO_KEY}")
        }

        pub(super) fn open(
            &self,
            _: &[u8; IV_LEN],
            _: &[u8],
            _: &mut [u8],
            _: &[u8; TAG_LEN],
        ) -> Result<(), AeadFailed> {
            unreachable!("{NO_KEY}")
        }
    }
}

/// The `aes-gcm` crate: the wasm backend, and natively the reference the tests compare
/// aws-lc with.
#[cfg(any(all(target_arch = "wasm32", feature = "builtin-crypto"), test))]
mod rust_crypto {
    use alloc::boxed::Box;

    use aes_gcm::aead::array::Array;
    use aes_gcm::aead::consts::U12;
    use aes_gcm::aes::Aes192;
    use aes_gcm::{AeadInOut, Aes128Gcm, Aes256Gcm, AesGcm, KeyInit};

    use super::AeadFailed;
    use crate::suite::{IV_LEN, TAG_LEN};

    pub(super) enum Gcm {
        Aes128(Box<Aes128Gcm>),
        Aes192(Box<AesGcm<Aes192, U12>>),
        Aes256(Box<Aes256Gcm>),
    }

    impl Gcm {
        pub(super) fn new(key: &[u8]) -> Self {
            // Lengths come from `AlgorithmSuite::key_len`, which only yields 16, 24 or 32.
            match key.len() {
                16 => Self::Aes128(Box::new(Aes128Gcm::new(key.try_into().expect("16-byte key")))),
                24 => Self::Aes192(Box::new(AesGcm::new(key.try_into().expect("24-byte key")))),
                _ => Self::Aes256(Box::new(Aes256Gcm::new(key.try_into().expect("32-byte key")))),
            }
        }

        pub(super) fn seal(
            &self,
            iv: &[u8; IV_LEN],
            aad: &[u8],
            buf: &mut [u8],
        ) -> Result<[u8; TAG_LEN], AeadFailed> {
            let nonce = Array::from(*iv);
            let tag = match self {
                Self::Aes128(c) => c.encrypt_inout_detached(&nonce, aad, buf.into()),
                Self::Aes192(c) => c.encrypt_inout_detached(&nonce, aad, buf.into()),
                Self::Aes256(c) => c.encrypt_inout_detached(&nonce, aad, buf.into()),
            }
            .map_err(|_| AeadFailed)?;
            Ok(tag.into())
        }

        pub(super) fn open(
            &self,
            iv: &[u8; IV_LEN],
            aad: &[u8],
            buf: &mut [u8],
            tag: &[u8; TAG_LEN],
        ) -> Result<(), AeadFailed> {
            let nonce = Array::from(*iv);
            let tag = Array::from(*tag);
            match self {
                Self::Aes128(c) => c.decrypt_inout_detached(&nonce, aad, buf.into(), &tag),
                Self::Aes192(c) => c.decrypt_inout_detached(&nonce, aad, buf.into(), &tag),
                Self::Aes256(c) => c.decrypt_inout_detached(&nonce, aad, buf.into(), &tag),
            }
            .map_err(|_| AeadFailed)
        }
    }
}

/// Info string of the commit key (`transitive-requirements.md` "HKDF Commit Key").
const COMMIT_KEY_INFO: &[u8] = b"COMMITKEY";
/// Suffix of the encryption key info for committing suites ("HKDF Encryption Key").
const DERIVE_KEY_INFO: &[u8] = b"DERIVEKEY";

/// The derived content encryption key as bytes, zeroized on drop. Kept only so that a caller
/// of the detached-frame API can hand it, once, to an external AES-GCM (WebCrypto); see
/// [`crate::Encryptor::dangerous_take_content_key`].
pub(crate) type ContentKey = Zeroizing<Vec<u8>>;

/// The hash of a suite's HKDF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KdfHash {
    /// HKDF-SHA256 (format 1.0, AES-GCM without signature).
    Sha256,
    /// HKDF-SHA384 (format 1.0, signed).
    Sha384,
    /// HKDF-SHA512 (format 2.0, committing).
    Sha512,
}

impl KdfHash {
    /// The WebCrypto name of the hash.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }
}

/// How a message's content key (and, format 2.0, its commit key) comes from its data key:
/// the suite's rule, for a caller that runs HKDF itself (the npm package's lite module hands
/// it to WebCrypto or node:crypto, and keeps no HKDF or AES code of its own). The core's own
/// derivation follows the same recipe.
///
/// Source: `framework/transitive-requirements.md` "HKDF Encryption Key" and "HKDF Commit Key",
/// `framework/algorithm-suites.md` "Key Derivation Algorithm".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyDerivation {
    /// `None`: no KDF, the content key is the data key (format 1.0 suites 0x0014-0x0078).
    pub hash: Option<KdfHash>,
    /// The HKDF salt: the message ID for committing suites, `None` (HashLen zero bytes,
    /// RFC 5869; an empty salt is the same HMAC key) otherwise.
    pub salt: Option<Vec<u8>>,
    /// The HKDF info of the content key.
    pub key_info: Vec<u8>,
    /// The HKDF info of the commit key (committing suites; same extract as the content key).
    pub commit_info: Option<&'static [u8]>,
    /// Content key length in bytes (16, 24 or 32), also the data key's.
    pub key_len: usize,
}

/// Length of a format 2.0 commit key.
pub(crate) const COMMIT_KEY_LEN: usize = 32;

impl KeyDerivation {
    /// The recipe of `suite` for the message `message_id`.
    pub(crate) fn new(suite: AlgorithmSuite, message_id: &[u8]) -> Self {
        let suite_id = suite.id().to_be_bytes();
        let (hash, salt, key_info, commit_info) = match suite.kdf() {
            Kdf::Identity => (None, None, Vec::new(), None),
            Kdf::HkdfSha256 => {
                (Some(KdfHash::Sha256), None, [&suite_id, message_id].concat(), None)
            }
            Kdf::HkdfSha384 => {
                (Some(KdfHash::Sha384), None, [&suite_id, message_id].concat(), None)
            }
            Kdf::HkdfSha512Commit => (
                Some(KdfHash::Sha512),
                Some(message_id.to_vec()),
                [&suite_id[..], DERIVE_KEY_INFO].concat(),
                Some(COMMIT_KEY_INFO),
            ),
        };
        Self { hash, salt, key_info, commit_info, key_len: suite.key_len() }
    }
}

/// A derived commit key, zeroized on drop (it is public once in a header, not before).
pub(crate) type CommitKey = Zeroizing<[u8; COMMIT_KEY_LEN]>;

/// Whether the core has HKDF and AES-GCM of its own (not in a wasm build without
/// `builtin-crypto`, whose callers derive the keys: [`KeyDerivation`]).
const BUILTIN_CRYPTO: bool = cfg!(any(not(target_arch = "wasm32"), feature = "builtin-crypto"));

/// What the core's own derivation answers in a build without it.
pub(crate) const NO_BUILTIN_CRYPTO: &str =
    "this build has no HKDF or AES-GCM of its own: the caller derives the keys";

/// Derives the content cipher, the content key bytes it was built from and, for committing
/// suites, the commit key, by the recipe of [`KeyDerivation`]; `None` in a build without
/// the core's own crypto (see `BUILTIN_CRYPTO`).
pub(crate) fn derive_keys(
    suite: AlgorithmSuite,
    data_key: &DataKey,
    message_id: &[u8],
) -> Option<(ContentCipher, ContentKey, Option<CommitKey>)> {
    if !BUILTIN_CRYPTO {
        return None;
    }
    let recipe = KeyDerivation::new(suite, message_id);
    let mut key = Zeroizing::new([0u8; 32]);
    let okm = &mut key[..recipe.key_len];
    let mut commit = Zeroizing::new([0u8; COMMIT_KEY_LEN]);
    let ikm = data_key.dangerous_as_bytes();
    let commit_out = recipe.commit_info.map(|info| (info, &mut commit[..]));
    let salt = recipe.salt.as_deref();
    match recipe.hash {
        None => okm.copy_from_slice(ikm),
        Some(KdfHash::Sha256) => hkdf(Hkdf::<Sha256>::new(salt, ikm), &recipe, okm, commit_out),
        Some(KdfHash::Sha384) => hkdf(Hkdf::<Sha384>::new(salt, ikm), &recipe, okm, commit_out),
        Some(KdfHash::Sha512) => hkdf(Hkdf::<Sha512>::new(salt, ikm), &recipe, okm, commit_out),
    }
    let content_key = Zeroizing::new(okm.to_vec());
    let cipher = ContentCipher::new(okm);
    Some((cipher, content_key, recipe.commit_info.map(|_| commit)))
}

/// The content key's and (if asked) the commit key's expansions of one extract, as the
/// specification recommends.
fn hkdf<M: HmacImpl>(
    hkdf: GenericHkdf<M>,
    recipe: &KeyDerivation,
    okm: &mut [u8],
    commit: Option<(&[u8], &mut [u8])>,
) {
    // Output lengths are at most 32 bytes, far below HKDF's 255 * HashLen limit.
    const OKM_LEN: &str = "HKDF output length is within bounds";
    hkdf.expand(&recipe.key_info, okm).expect(OKM_LEN);
    if let Some((info, out)) = commit {
        hkdf.expand(info, out).expect(OKM_LEN);
    }
}

/// Compares a derived commit key or a computed header tag with the header's, in constant time.
pub(crate) fn ct_equal(derived: &[u8], stored: &[u8]) -> bool {
    derived.ct_eq(stored).into()
}

/// The running hash of a signed message: SHA-384 for the ECDSA P-384 suites, SHA-256 for the
/// P-256 suite (`framework/algorithm-suites.md` "Signature Algorithm"). The core keeps one in
/// its signer and verifier; with delegated hashing ([`crate::Encryptor::delegate_hash`],
/// [`crate::Decryptor::delegate_hash`]) the caller runs one elsewhere, such as in another
/// thread, over the same bytes, and passes the digest back.
pub struct MessageHasher(Hasher);

enum Hasher {
    Sha256(Sha256),
    Sha384(MessageHash),
}

impl MessageHasher {
    /// The hash of `suite`'s signature; `None` for an unsigned suite.
    pub fn for_suite(suite: AlgorithmSuite) -> Option<Self> {
        Some(Self(match suite.signing()? {
            Signing::EcdsaP256Sha256 => Hasher::Sha256(Sha256::new()),
            Signing::EcdsaP384Sha384 => Hasher::Sha384(MessageHash::new()),
        }))
    }

    /// Hashes the next bytes of the message.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha384(h) => h.update(bytes),
        }
    }

    /// The digest: 48 bytes (SHA-384) or 32 (SHA-256).
    pub fn finalize(self) -> Vec<u8> {
        match self.0 {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
        }
    }
}

impl fmt::Debug for MessageHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageHasher").finish_non_exhaustive()
    }
}

/// Without the `signing` feature this enum has no variant: no verifier exists, since the signed
/// suites are refused before one would be made.
enum VerifyingKey {
    #[cfg(feature = "legacy-p256")]
    P256(p256::ecdsa::VerifyingKey),
    #[cfg(feature = "signing")]
    P384(p384::ecdsa::VerifyingKey),
}

/// Running verification of a signed message (header, body, then the footer's signature).
pub(crate) struct Verifier {
    key: VerifyingKey,
    /// `None` once the hashing is delegated to the caller.
    hash: Option<MessageHasher>,
}

impl Verifier {
    /// The verifier for `suite`, from the `aws-crypto-public-key` context entry (base64 of a
    /// compressed SEC1 point).
    // Without `signing` every match arm below returns an error (or has no arm at all).
    #[cfg_attr(not(feature = "signing"), allow(unreachable_code, unused_variables))]
    pub(crate) fn new(suite: AlgorithmSuite, entry: &str) -> Result<Option<Self>, DecryptError> {
        let Some(signing) = suite.signing() else { return Ok(None) };
        // Leaves the base64 decoder out of a build that verifies nothing.
        if !cfg!(feature = "signing") {
            return Err(DecryptError::UnsupportedSuite(suite.id()));
        }
        let point = BASE64.decode(entry).map_err(|_| DecryptError::PublicKeyEntry)?;
        let key = match signing {
            #[cfg(feature = "legacy-p256")]
            Signing::EcdsaP256Sha256 => VerifyingKey::P256(
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                    .map_err(|_| DecryptError::PublicKeyEntry)?,
            ),
            #[cfg(not(feature = "legacy-p256"))]
            Signing::EcdsaP256Sha256 => return Err(DecryptError::UnsupportedSuite(suite.id())),
            #[cfg(feature = "signing")]
            Signing::EcdsaP384Sha384 => VerifyingKey::P384(
                p384::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                    .map_err(|_| DecryptError::PublicKeyEntry)?,
            ),
            #[cfg(not(feature = "signing"))]
            Signing::EcdsaP384Sha384 => return Err(DecryptError::UnsupportedSuite(suite.id())),
        };
        Ok(Some(Self { key, hash: MessageHasher::for_suite(suite) }))
    }

    /// Stops hashing: the caller hashes the message and passes the digest to
    /// [`Verifier::verify_digest`].
    pub(crate) fn delegate(&mut self) {
        self.hash = None;
    }

    pub(crate) fn is_delegated(&self) -> bool {
        self.hash.is_none()
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        if let Some(h) = &mut self.hash {
            h.update(bytes);
        }
    }

    /// Verifies a DER-encoded ECDSA signature over everything passed to `update`.
    pub(crate) fn verify(mut self, signature: &[u8]) -> Result<(), DecryptError> {
        let hash = self.hash.take().ok_or(DecryptError::InvalidState("the hash is delegated"))?;
        self.verify_digest(&hash.finalize(), signature)
    }

    /// Verifies a DER-encoded ECDSA signature over a message whose digest is `digest`.
    #[cfg_attr(not(feature = "signing"), allow(unreachable_code, unused_variables))]
    pub(crate) fn verify_digest(self, digest: &[u8], signature: &[u8]) -> Result<(), DecryptError> {
        #[cfg(feature = "signing")]
        use p384::ecdsa::signature::hazmat::PrehashVerifier;
        let ok = match self.key {
            #[cfg(feature = "legacy-p256")]
            VerifyingKey::P256(key) => {
                digest.len() == 32
                    && der::decode_signature::<32>(signature)
                        .and_then(|(r, s)| p256::ecdsa::Signature::from_scalars(r, s).ok())
                        .is_some_and(|sig| key.verify_prehash(digest, &sig).is_ok())
            }
            #[cfg(feature = "signing")]
            VerifyingKey::P384(key) => {
                digest.len() == 48
                    && der::decode_signature::<48>(signature)
                        .and_then(|(r, s)| p384::ecdsa::Signature::from_scalars(r, s).ok())
                        .is_some_and(|sig| key.verify_prehash(digest, &sig).is_ok())
            }
        };
        if ok { Ok(()) } else { Err(DecryptError::BadSignature) }
    }
}

/// The running SHA-384 over a whole message, the one sequential pass of a signed suite:
/// natively through aws-lc-rs's assembly (about twice the `sha2` crate's speed here), in wasm
/// through `sha2`.
pub(crate) struct MessageHash(
    #[cfg(not(target_arch = "wasm32"))] aws_lc_rs::digest::Context,
    #[cfg(target_arch = "wasm32")] Sha384,
);

impl MessageHash {
    fn new() -> Self {
        #[cfg(not(target_arch = "wasm32"))]
        return Self(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA384));
        #[cfg(target_arch = "wasm32")]
        return Self(Sha384::new());
    }

    fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finalize(self) -> [u8; 48] {
        let mut out = [0u8; 48];
        #[cfg(not(target_arch = "wasm32"))]
        out.copy_from_slice(self.0.finish().as_ref());
        #[cfg(target_arch = "wasm32")]
        out.copy_from_slice(&self.0.finalize());
        out
    }
}

#[cfg(feature = "signing")]
type SigningKey = p384::ecdsa::SigningKey;
/// Without the `signing` feature no signing key exists: the signed suites are refused (by the
/// options check) before one would be made.
#[cfg(not(feature = "signing"))]
enum SigningKey {}

/// Running ECDSA P-384 signature of a message being written (suite 0x0578). The signing key
/// lives only as long as the message and is zeroized on drop by `p384`.
pub(crate) struct Signer {
    key: SigningKey,
    /// `None` once the hashing is delegated to the caller.
    hash: Option<MessageHash>,
}

impl Signer {
    /// A signer with the given private scalar (test hook: fixed signing keys);
    /// `InvalidSigningKey` if the bytes are not a valid P-384 scalar. Only with the
    /// `test-hooks` feature.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn from_bytes(
        suite: AlgorithmSuite,
        bytes: &[u8; 48],
    ) -> Result<Self, EncryptError> {
        #[cfg(feature = "signing")]
        {
            let _ = suite;
            let key = p384::ecdsa::SigningKey::from_slice(&bytes[..])
                .map_err(|_| EncryptError::InvalidSigningKey)?;
            Ok(Self { key, hash: Some(MessageHash::new()) })
        }
        #[cfg(not(feature = "signing"))]
        {
            let _ = bytes;
            Err(EncryptError::UnsupportedSuite(suite.id()))
        }
    }

    /// A fresh signing key for a message of `suite`.
    pub(crate) fn generate(suite: AlgorithmSuite) -> Result<Self, EncryptError> {
        #[cfg(feature = "signing")]
        {
            let _ = suite;
            loop {
                let mut bytes = Zeroizing::new([0u8; 48]);
                getrandom::fill(&mut bytes[..]).map_err(|_| EncryptError::Random)?;
                // Rejection sampling: a 48-byte string is a valid scalar with overwhelming odds.
                if let Ok(key) = p384::ecdsa::SigningKey::from_slice(&bytes[..]) {
                    return Ok(Self { key, hash: Some(MessageHash::new()) });
                }
            }
        }
        #[cfg(not(feature = "signing"))]
        Err(EncryptError::UnsupportedSuite(suite.id()))
    }

    /// The `aws-crypto-public-key` context value: base64 of the compressed public point.
    pub(crate) fn public_entry(&self) -> String {
        #[cfg(feature = "signing")]
        return BASE64.encode(self.key.verifying_key().to_sec1_point(true).as_bytes());
        #[cfg(not(feature = "signing"))]
        match self.key {}
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        if let Some(h) = &mut self.hash {
            h.update(bytes);
        }
    }

    /// Stops hashing: the caller hashes the message and signs with [`Signer::sign_digest`].
    pub(crate) fn delegate(&mut self) {
        self.hash = None;
    }

    pub(crate) fn is_delegated(&self) -> bool {
        self.hash.is_none()
    }

    /// The DER-encoded signature over everything passed to `update`; `None` if the hashing
    /// is delegated.
    pub(crate) fn sign(mut self) -> Option<Vec<u8>> {
        let digest = self.hash.take()?.finalize();
        Some(self.sign_digest(&digest))
    }

    /// The DER-encoded signature of a message whose SHA-384 is `digest`.
    pub(crate) fn sign_digest(self, digest: &[u8; 48]) -> Vec<u8> {
        #[cfg(feature = "signing")]
        {
            use p384::ecdsa::signature::hazmat::PrehashSigner;
            let sig: p384::ecdsa::Signature = self
                .key
                .sign_prehash(digest)
                .expect("a SHA-384 prehash has the length ECDSA P-384 accepts");
            let (r, s) = sig.split_bytes();
            der::encode_signature(&r, &s)
        }
        #[cfg(not(feature = "signing"))]
        {
            let _ = digest;
            match self.key {}
        }
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

/// Fills `buf` from the operating system's generator (`crypto.getRandomValues` in browsers).
pub(crate) fn random(buf: &mut [u8]) -> Result<(), getrandom::Error> {
    getrandom::fill(buf)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::format::{AAD_FINAL_FRAME, AAD_FRAME, BodyAad, frame_iv};

    /// A key of `len` bytes unlike any other length's.
    fn key(len: usize) -> Vec<u8> {
        (0..len).map(|i| u8::try_from((i * 7 + len) % 251).unwrap()).collect()
    }

    /// Sealed by aws-lc (what native builds write) and by the `aes-gcm` crate (what wasm
    /// builds write): the same ciphertext and tag, and each opens the other's, for every key
    /// length, for frames of a real message body (body AAD, frame IVs) from empty to 64 KiB
    /// and lengths around the 16-byte block and the backends' wider strides.
    #[test]
    fn aws_lc_seals_the_frames_the_aes_gcm_crate_seals() {
        let message_id = [0x42; 32];
        let lengths = [0, 1, 15, 16, 17, 63, 64, 65, 255, 256, 257, 4099, 65535, 65536];
        for key_len in [16, 24, 32] {
            let (native, reference) =
                (aws_lc::Gcm::new(&key(key_len)), rust_crypto::Gcm::new(&key(key_len)));
            for (i, &len) in lengths.iter().enumerate() {
                let sequence = u32::try_from(i + 1).unwrap();
                let content = if len % 2 == 0 { AAD_FRAME } else { AAD_FINAL_FRAME };
                let aad = BodyAad::new(&message_id, content, sequence, len as u64);
                let iv = frame_iv(sequence);
                let plaintext: Vec<u8> = (0..len).map(|b| (b % 251) as u8).collect();
                let (mut ours, mut theirs) = (plaintext.clone(), plaintext.clone());
                let tag = native.seal(&iv, aad.as_ref(), &mut ours).unwrap();
                let reference_tag = reference.seal(&iv, aad.as_ref(), &mut theirs).unwrap();
                assert_eq!(
                    (&ours, tag),
                    (&theirs, reference_tag),
                    "AES-{} {len} bytes",
                    key_len * 8
                );
                assert!(len == 0 || ours != plaintext, "the content is encrypted");
                native.open(&iv, aad.as_ref(), &mut theirs, &reference_tag).unwrap();
                reference.open(&iv, aad.as_ref(), &mut ours, &tag).unwrap();
                assert_eq!((&ours, &theirs), (&plaintext, &plaintext));
            }
        }
    }

    /// Both backends refuse a changed tag, ciphertext, AAD or IV, and leave no unauthenticated
    /// plaintext behind: aws-lc, which decrypts while it hashes, zeroes the buffer; the
    /// `aes-gcm` crate checks first and leaves the ciphertext.
    #[test]
    fn both_backends_reject_tampering() {
        let (iv, aad, plaintext) = ([9; IV_LEN], [3u8; 79], [0x5A; 1000]);
        let key = key(32);
        let (native, reference) = (aws_lc::Gcm::new(&key), rust_crypto::Gcm::new(&key));
        let mut sealed = plaintext;
        let tag = native.seal(&iv, &aad, &mut sealed).unwrap();
        type Case =
            (&'static str, fn(&mut [u8; IV_LEN], &mut [u8; 79], &mut [u8], &mut [u8; TAG_LEN]));
        let cases: [Case; 5] = [
            ("tag", |_, _, _, tag| tag[15] ^= 1),
            ("first ciphertext byte", |_, _, ct, _| ct[0] ^= 0x80),
            ("last ciphertext byte", |_, _, ct, _| ct[999] ^= 1),
            ("AAD", |_, aad, _, _| aad[40] ^= 1),
            ("IV", |iv, _, _, _| iv[11] ^= 1),
        ];
        for (what, tamper) in cases {
            let (mut iv, mut aad, mut buf, mut tag) = (iv, aad, sealed, tag);
            tamper(&mut iv, &mut aad, &mut buf, &mut tag);
            let mut ours = buf;
            assert!(native.open(&iv, &aad, &mut ours, &tag).is_err(), "aws-lc, {what}");
            assert_eq!(ours, [0; 1000], "aws-lc, {what}: the buffer is zeroed");
            let mut theirs = buf;
            assert!(reference.open(&iv, &aad, &mut theirs, &tag).is_err(), "aes-gcm, {what}");
            assert_eq!(theirs, buf, "aes-gcm, {what}: the ciphertext is left as it was");
        }
        let (mut ours, mut theirs) = (sealed, sealed);
        native.open(&iv, &aad, &mut ours, &tag).unwrap();
        reference.open(&iv, &aad, &mut theirs, &tag).unwrap();
        assert_eq!((ours, theirs), (plaintext, plaintext), "the untampered frame opens");
    }

    /// A known answer for both: NIST CAVS `gcmEncryptExtIV256.rsp` (a 51-byte plaintext,
    /// 90 bytes of AAD), as quoted in the `aes-gcm` crate's `tests/aes256gcm.rs`.
    #[test]
    fn both_backends_give_the_nist_answer() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
        };
        let key = hex("6be7f4d18ff0fbdd9b3b3cacaba4629a0c617387079add62f6ce1584b33faad1");
        let iv: [u8; IV_LEN] = hex("fda568c9cb13d9c176bcef03").try_into().unwrap();
        let plaintext =
            hex("4df668e99d5068604a48bcca5baa8245435928558a83d68d7b0b081861224e9bd39ea8f2d55a63\
             5949e66c6f6a7ff5cc34dd94");
        let aad =
            hex("11ebeb97dd4a9925c1fbe2b9af77392058d2d971e42db15da39f090d7bc132573c34bf7d92a2d7\
             2dc66ee6840c3ff07985b8976ee8d8f36bf47ae330b899fdc60652dd5a23c45f3680f11951f019\
             e0697c8acfcaa95f01b9c7dd");
        let ciphertext =
            hex("488b40ad594e1845ccdd9e9467fc5e1afbbfde34e57d45bfcd30b61cc326d57fe8e3f31a39cdeb\
             f00f60bbd2c3cdf69f756eff");
        let tag = hex("3bf3fbab9b48486fd08a5552604df639");
        let mut ours = plaintext.clone();
        let native_tag = aws_lc::Gcm::new(&key).seal(&iv, &aad, &mut ours).unwrap();
        let mut theirs = plaintext;
        let reference_tag = rust_crypto::Gcm::new(&key).seal(&iv, &aad, &mut theirs).unwrap();
        assert_eq!((&ours, &native_tag[..]), (&ciphertext, &tag[..]), "aws-lc");
        assert_eq!((&theirs, &reference_tag[..]), (&ciphertext, &tag[..]), "aes-gcm");
    }
}
