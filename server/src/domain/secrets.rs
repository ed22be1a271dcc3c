//! Key material: the root key that seals private keys at rest, RSA key generation and
//! OAEP decryption. Every private-key operation goes through aws-lc-rs (constant time).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey,
    PrivateDecryptingKey,
};
use zeroize::Zeroizing;

use crate::error::AppError;

/// RSA key specs, as AWS KMS names them.
pub(crate) const KEY_SPECS: [&str; 3] = ["RSA_2048", "RSA_3072", "RSA_4096"];

/// The encryption algorithms a key allows, as AWS KMS names them.
pub(crate) const ENCRYPTION_ALGORITHMS: [&str; 2] = ["RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1"];

/// AES-256-GCM key that seals every private key in the database.
pub struct RootKey(LessSafeKey);

impl RootKey {
    /// A root key from its 32 bytes.
    pub fn new(bytes: &[u8]) -> Result<Self, AppError> {
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| AppError::internal("root key must be 32 bytes"))?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// `nonce || ciphertext || tag`, bound to `label` (key ID and version) as AAD, so a sealed
    /// key cannot be moved to another row.
    pub(crate) fn seal(&self, label: &str, plaintext: &[u8]) -> Result<Vec<u8>, AppError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| AppError::internal("random failed"))?;
        let mut out = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(label),
                &mut out,
            )
            .map_err(|_| AppError::internal("seal failed"))?;
        let mut sealed = nonce.to_vec();
        sealed.append(&mut out);
        Ok(sealed)
    }

    pub(crate) fn open(&self, label: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, AppError> {
        let corrupt = || AppError::internal("sealed private key does not open");
        let (nonce, body) = sealed.split_at_checked(NONCE_LEN).ok_or_else(corrupt)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| corrupt())?;
        let mut buf = Zeroizing::new(body.to_vec());
        let len =
            self.0.open_in_place(nonce, Aad::from(label), &mut buf).map_err(|_| corrupt())?.len();
        buf.truncate(len);
        Ok(buf)
    }
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey(..)")
    }
}

/// A new RSA key: (PKCS#8 DER private key, SPKI DER public key).
pub(crate) fn generate(spec: &str) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), AppError> {
    let size = match spec {
        "RSA_2048" => KeySize::Rsa2048,
        "RSA_3072" => KeySize::Rsa3072,
        "RSA_4096" => KeySize::Rsa4096,
        _ => return Err(AppError::invalid(format!("keySpec must be one of {KEY_SPECS:?}"))),
    };
    let key =
        PrivateDecryptingKey::generate(size).map_err(|_| AppError::internal("keygen failed"))?;
    let pkcs8: Pkcs8V1Der<'static> =
        key.as_der().map_err(|_| AppError::internal("encode failed"))?;
    let public = key.public_key();
    let spki = public.as_der().map_err(|_| AppError::internal("encode failed"))?;
    Ok((Zeroizing::new(pkcs8.as_ref().to_vec()), spki.as_ref().to_vec()))
}

/// RSA-OAEP decryption with a sealed private key. Every failure is the same opaque error.
pub(crate) fn decrypt(
    pkcs8: &[u8],
    sha1: bool,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, AppError> {
    let opaque = || AppError::InvalidCiphertext;
    let key = PrivateDecryptingKey::from_pkcs8(pkcs8).map_err(|_| AppError::internal("bad key"))?;
    let key = OaepPrivateDecryptingKey::new(key).map_err(|_| AppError::internal("bad key"))?;
    let algorithm = if sha1 { &OAEP_SHA1_MGF1SHA1 } else { &OAEP_SHA256_MGF1SHA256 };
    let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
    let len = key.decrypt(algorithm, ciphertext, &mut out, None).map_err(|_| opaque())?.len();
    out.truncate(len);
    Ok(out)
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
pub(crate) fn random<const N: usize>() -> Result<[u8; N], AppError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| AppError::internal("random failed"))?;
    Ok(out)
}
