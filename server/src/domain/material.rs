//! Key specs and usages as AWS KMS names them, and the private-key work of keys that are not
//! for encryption: signing (RSA PSS and PKCS #1 v1.5, ECDSA), MACs (HMAC) and key agreement
//! (ECDH). Every operation goes through aws-lc-rs; failures of a primitive are opaque.

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
use aws_lc_rs::{agreement, hmac, rand, rsa};
use zeroize::Zeroizing;

use super::error::DomainError;

/// Key usages.
pub(crate) const ENCRYPT_DECRYPT: &str = "ENCRYPT_DECRYPT";
pub(crate) const SIGN_VERIFY: &str = "SIGN_VERIFY";
pub(crate) const GENERATE_VERIFY_MAC: &str = "GENERATE_VERIFY_MAC";
pub(crate) const KEY_AGREEMENT: &str = "KEY_AGREEMENT";

/// Longest message Sign, Verify, GenerateMac and VerifyMac take (AWS KMS: 4096 bytes).
pub(crate) const MAX_MESSAGE: usize = 4096;

/// The elliptic curves, as AWS KMS names their key specs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
    P521,
    Secp256k1,
}

/// What a key spec is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Symmetric,
    Rsa,
    Ecc(Curve),
    /// HMAC with a key of this many bytes (the digest's length, as AWS's specs).
    Hmac(usize),
}

fn kind(spec: &str) -> Option<Kind> {
    Some(match spec {
        "SYMMETRIC_DEFAULT" => Kind::Symmetric,
        "RSA_2048" | "RSA_3072" | "RSA_4096" => Kind::Rsa,
        "ECC_NIST_P256" => Kind::Ecc(Curve::P256),
        "ECC_NIST_P384" => Kind::Ecc(Curve::P384),
        "ECC_NIST_P521" => Kind::Ecc(Curve::P521),
        "ECC_SECG_P256K1" => Kind::Ecc(Curve::Secp256k1),
        "HMAC_224" => Kind::Hmac(28),
        "HMAC_256" => Kind::Hmac(32),
        "HMAC_384" => Kind::Hmac(48),
        "HMAC_512" => Kind::Hmac(64),
        _ => return None,
    })
}

/// Every key spec this server makes.
pub(crate) const KEY_SPECS: [&str; 12] = [
    "SYMMETRIC_DEFAULT",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
];

/// The specs of key pairs (RSA and ECC), which GenerateDataKeyPair also makes.
pub(crate) const KEY_PAIR_SPECS: &[&str] = KEY_SPECS.split_at(1).1.split_at(7).0;

/// Refuses a key spec and usage that AWS KMS does not pair (and unknown ones), before any key
/// is generated.
pub(crate) fn check(spec: &str, usage: &str) -> Result<(), DomainError> {
    let Some(kind) = kind(spec) else {
        return Err(DomainError::invalid(format!(
            "KeySpec must be one of {KEY_SPECS:?}, not {spec:?}"
        )));
    };
    let allowed: &[&str] = match kind {
        Kind::Symmetric => &[ENCRYPT_DECRYPT],
        Kind::Rsa => &[ENCRYPT_DECRYPT, SIGN_VERIFY],
        Kind::Ecc(Curve::Secp256k1) => &[SIGN_VERIFY],
        Kind::Ecc(_) => &[SIGN_VERIFY, KEY_AGREEMENT],
        Kind::Hmac(_) => &[GENERATE_VERIFY_MAC],
    };
    if allowed.contains(&usage) {
        Ok(())
    } else {
        Err(DomainError::invalid(format!(
            "KeyUsage {usage} is not compatible with KeySpec {spec}: it takes {allowed:?}"
        )))
    }
}

/// The algorithms a key of `spec` and `usage` offers, by operation: (encryption, signing,
/// MAC, key agreement), as DescribeKey lists them.
pub(crate) fn algorithms(
    spec: &str,
    usage: &str,
) -> (
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
) {
    const NONE: &[&str] = &[];
    match (kind(spec), usage) {
        (Some(Kind::Symmetric), _) => (&["SYMMETRIC_DEFAULT"], NONE, NONE, NONE),
        (Some(Kind::Rsa), SIGN_VERIFY) => (NONE, &RSA_SIGNING, NONE, NONE),
        (Some(Kind::Rsa), _) => (&["RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1"], NONE, NONE, NONE),
        (Some(Kind::Ecc(_)), KEY_AGREEMENT) => (NONE, NONE, NONE, &["ECDH"]),
        (Some(Kind::Ecc(Curve::P256 | Curve::Secp256k1)), _) => {
            (NONE, &["ECDSA_SHA_256"], NONE, NONE)
        }
        (Some(Kind::Ecc(Curve::P384)), _) => (NONE, &["ECDSA_SHA_384"], NONE, NONE),
        (Some(Kind::Ecc(Curve::P521)), _) => (NONE, &["ECDSA_SHA_512"], NONE, NONE),
        (Some(Kind::Hmac(28)), _) => (NONE, NONE, &["HMAC_SHA_224"], NONE),
        (Some(Kind::Hmac(32)), _) => (NONE, NONE, &["HMAC_SHA_256"], NONE),
        (Some(Kind::Hmac(48)), _) => (NONE, NONE, &["HMAC_SHA_384"], NONE),
        (Some(Kind::Hmac(_)), _) => (NONE, NONE, &["HMAC_SHA_512"], NONE),
        (None, _) => (NONE, NONE, NONE, NONE),
    }
}

const RSA_SIGNING: [&str; 6] = [
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
];

fn failed(what: &str) -> DomainError {
    DomainError::internal(format!("{what} failed"))
}

/// New key material for `spec`: (secret: AES or HMAC key, or PKCS#8 private key; SPKI DER
/// public key, empty for secret keys).
pub(crate) fn generate(spec: &str) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), DomainError> {
    let random = |len: usize| {
        let mut key = Zeroizing::new(vec![0u8; len]);
        getrandom::fill(&mut key).map_err(|_| failed("random"))?;
        Ok::<_, DomainError>((key, Vec::new()))
    };
    match kind(spec) {
        Some(Kind::Symmetric) => random(32),
        Some(Kind::Hmac(len)) => random(len),
        Some(Kind::Rsa) => {
            let size = match spec {
                "RSA_2048" => rsa::KeySize::Rsa2048,
                "RSA_3072" => rsa::KeySize::Rsa3072,
                _ => rsa::KeySize::Rsa4096,
            };
            let key = rsa::PrivateDecryptingKey::generate(size).map_err(|_| failed("keygen"))?;
            let pkcs8: aws_lc_rs::encoding::Pkcs8V1Der<'static> =
                key.as_der().map_err(|_| failed("encoding"))?;
            let spki = key.public_key().as_der().map_err(|_| failed("encoding"))?;
            Ok((Zeroizing::new(pkcs8.as_ref().to_vec()), spki.as_ref().to_vec()))
        }
        Some(Kind::Ecc(curve)) => {
            let alg = ecdsa(curve);
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rand::SystemRandom::new())
                .map_err(|_| failed("keygen"))?;
            let pair =
                EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).map_err(|_| failed("keygen"))?;
            let spki: aws_lc_rs::encoding::PublicKeyX509Der<'static> =
                pair.public_key().as_der().map_err(|_| failed("encoding"))?;
            Ok((Zeroizing::new(pkcs8.as_ref().to_vec()), spki.as_ref().to_vec()))
        }
        None => Err(DomainError::invalid(format!("unknown KeySpec {spec:?}"))),
    }
}

fn ecdsa(curve: Curve) -> &'static signature::EcdsaSigningAlgorithm {
    match curve {
        Curve::P256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        Curve::P384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        Curve::P521 => &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
        Curve::Secp256k1 => &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
    }
}

fn ecdsa_verify(curve: Curve) -> &'static signature::EcdsaVerificationAlgorithm {
    match curve {
        Curve::P256 => &signature::ECDSA_P256_SHA256_ASN1,
        Curve::P384 => &signature::ECDSA_P384_SHA384_ASN1,
        Curve::P521 => &signature::ECDSA_P521_SHA512_ASN1,
        Curve::Secp256k1 => &signature::ECDSA_P256K1_SHA256_ASN1,
    }
}

/// What a message is: the message itself, or its digest (`MessageType` DIGEST).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Message<'a> {
    /// RAW: the server hashes it.
    Raw(&'a [u8]),
    /// DIGEST: already hashed with the algorithm's hash.
    Digest(&'a [u8]),
}

/// The signing scheme of an algorithm name on a key spec, or why it does not fit.
enum Scheme {
    Rsa(&'static dyn signature::RsaEncoding, &'static signature::RsaParameters),
    Ecdsa(Curve),
}

fn scheme(
    spec: &str,
    algorithm: &str,
) -> Result<(Scheme, &'static digest::Algorithm), DomainError> {
    use signature as s;
    let unfit = || {
        DomainError::InvalidKeyUsage(format!(
            "SigningAlgorithm {algorithm} is not one of KeySpec {spec}'s"
        ))
    };
    let rsa = |enc: &'static dyn signature::RsaEncoding, params, hash| {
        Ok((Scheme::Rsa(enc, params), hash))
    };
    match (kind(spec), algorithm) {
        (Some(Kind::Rsa), "RSASSA_PSS_SHA_256") => {
            rsa(&s::RSA_PSS_SHA256, &s::RSA_PSS_2048_8192_SHA256, &digest::SHA256)
        }
        (Some(Kind::Rsa), "RSASSA_PSS_SHA_384") => {
            rsa(&s::RSA_PSS_SHA384, &s::RSA_PSS_2048_8192_SHA384, &digest::SHA384)
        }
        (Some(Kind::Rsa), "RSASSA_PSS_SHA_512") => {
            rsa(&s::RSA_PSS_SHA512, &s::RSA_PSS_2048_8192_SHA512, &digest::SHA512)
        }
        (Some(Kind::Rsa), "RSASSA_PKCS1_V1_5_SHA_256") => {
            rsa(&s::RSA_PKCS1_SHA256, &s::RSA_PKCS1_2048_8192_SHA256, &digest::SHA256)
        }
        (Some(Kind::Rsa), "RSASSA_PKCS1_V1_5_SHA_384") => {
            rsa(&s::RSA_PKCS1_SHA384, &s::RSA_PKCS1_2048_8192_SHA384, &digest::SHA384)
        }
        (Some(Kind::Rsa), "RSASSA_PKCS1_V1_5_SHA_512") => {
            rsa(&s::RSA_PKCS1_SHA512, &s::RSA_PKCS1_2048_8192_SHA512, &digest::SHA512)
        }
        (Some(Kind::Ecc(c @ (Curve::P256 | Curve::Secp256k1))), "ECDSA_SHA_256") => {
            Ok((Scheme::Ecdsa(c), &digest::SHA256))
        }
        (Some(Kind::Ecc(Curve::P384)), "ECDSA_SHA_384") => {
            Ok((Scheme::Ecdsa(Curve::P384), &digest::SHA384))
        }
        (Some(Kind::Ecc(Curve::P521)), "ECDSA_SHA_512") => {
            Ok((Scheme::Ecdsa(Curve::P521), &digest::SHA512))
        }
        _ => Err(unfit()),
    }
}

/// The digest of `message` under `hash`; a DIGEST message must have the hash's length.
fn digest_of(
    message: Message<'_>,
    hash: &'static digest::Algorithm,
) -> Result<Digest, DomainError> {
    match message {
        Message::Raw(m) => Ok(digest::digest(hash, m)),
        Message::Digest(d) => Digest::import_less_safe(d, hash).map_err(|_| {
            DomainError::invalid(format!(
                "a DIGEST message for this algorithm is {} bytes",
                hash.output_len()
            ))
        }),
    }
}

/// Checks an algorithm against a key spec before any private-key work (DryRun, policy).
pub(crate) fn check_signing(spec: &str, algorithm: &str) -> Result<(), DomainError> {
    scheme(spec, algorithm).map(|_| ())
}

/// Signs with the PKCS#8 private key of a SIGN_VERIFY key.
pub(crate) fn sign(
    spec: &str,
    pkcs8: &[u8],
    algorithm: &str,
    message: Message<'_>,
) -> Result<Vec<u8>, DomainError> {
    let (scheme, hash) = scheme(spec, algorithm)?;
    let digest = digest_of(message, hash)?;
    let bad = || DomainError::internal("stored private key unreadable");
    match scheme {
        Scheme::Rsa(encoding, _) => {
            let key = rsa::KeyPair::from_pkcs8(pkcs8).map_err(|_| bad())?;
            let mut signature = vec![0u8; key.public_modulus_len()];
            key.sign_digest(encoding, &digest, &mut signature).map_err(|_| failed("signing"))?;
            Ok(signature)
        }
        Scheme::Ecdsa(curve) => {
            let key = EcdsaKeyPair::from_pkcs8(ecdsa(curve), pkcs8).map_err(|_| bad())?;
            Ok(key.sign_digest(&digest).map_err(|_| failed("signing"))?.as_ref().to_vec())
        }
    }
}

/// Whether `signature` is one of the key's (its SPKI) over `message`.
pub(crate) fn verify(
    spec: &str,
    spki: &[u8],
    algorithm: &str,
    message: Message<'_>,
    signature: &[u8],
) -> Result<bool, DomainError> {
    let (scheme, hash) = scheme(spec, algorithm)?;
    let digest = digest_of(message, hash)?;
    Ok(match scheme {
        Scheme::Rsa(_, params) => signature::UnparsedPublicKey::new(params, spki)
            .verify_digest(&digest, signature)
            .is_ok(),
        Scheme::Ecdsa(curve) => signature::UnparsedPublicKey::new(ecdsa_verify(curve), spki)
            .verify_digest(&digest, signature)
            .is_ok(),
    })
}

/// The HMAC algorithm of a MAC algorithm name on a key spec.
fn mac_algorithm(spec: &str, algorithm: &str) -> Result<hmac::Algorithm, DomainError> {
    match (kind(spec), algorithm) {
        (Some(Kind::Hmac(28)), "HMAC_SHA_224") => Ok(hmac::HMAC_SHA224),
        (Some(Kind::Hmac(32)), "HMAC_SHA_256") => Ok(hmac::HMAC_SHA256),
        (Some(Kind::Hmac(48)), "HMAC_SHA_384") => Ok(hmac::HMAC_SHA384),
        (Some(Kind::Hmac(64)), "HMAC_SHA_512") => Ok(hmac::HMAC_SHA512),
        _ => Err(DomainError::InvalidKeyUsage(format!(
            "MacAlgorithm {algorithm} is not KeySpec {spec}'s"
        ))),
    }
}

/// Checks a MAC algorithm against a key spec before any work.
pub(crate) fn check_mac(spec: &str, algorithm: &str) -> Result<(), DomainError> {
    mac_algorithm(spec, algorithm).map(|_| ())
}

/// The HMAC of `message` under the key.
pub(crate) fn mac(
    spec: &str,
    key: &[u8],
    algorithm: &str,
    message: &[u8],
) -> Result<Vec<u8>, DomainError> {
    let key = hmac::Key::new(mac_algorithm(spec, algorithm)?, key);
    Ok(hmac::sign(&key, message).as_ref().to_vec())
}

/// Whether `tag` is the HMAC of `message` (compared in constant time).
pub(crate) fn verify_mac(
    spec: &str,
    key: &[u8],
    algorithm: &str,
    message: &[u8],
    tag: &[u8],
) -> Result<bool, DomainError> {
    let key = hmac::Key::new(mac_algorithm(spec, algorithm)?, key);
    Ok(hmac::verify(&key, message, tag).is_ok())
}

/// ECDH between the key's private key and a peer's SPKI public key: the raw shared secret
/// (the x coordinate), as AWS KMS DeriveSharedSecret returns it.
pub(crate) fn derive(
    spec: &str,
    pkcs8: &[u8],
    peer_spki: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DomainError> {
    let alg = match kind(spec) {
        Some(Kind::Ecc(Curve::P256)) => &agreement::ECDH_P256,
        Some(Kind::Ecc(Curve::P384)) => &agreement::ECDH_P384,
        Some(Kind::Ecc(Curve::P521)) => &agreement::ECDH_P521,
        _ => {
            return Err(DomainError::InvalidKeyUsage(format!(
                "KeySpec {spec} does no key agreement"
            )));
        }
    };
    let key = agreement::PrivateKey::from_private_key_der(alg, pkcs8)
        .map_err(|_| DomainError::internal("stored private key unreadable"))?;
    let peer = agreement::UnparsedPublicKey::new(alg, peer_spki);
    agreement::agree(&key, peer, (), |z| Ok(Zeroizing::new(z.to_vec()))).map_err(|()| {
        DomainError::invalid("PublicKey is not a public key of this key's curve (X.509 DER)")
    })
}

/// The import wrapping algorithms GetParametersForImport offers (AWS KMS's, less SM2PKE).
pub(crate) const WRAPPING_ALGORITHMS: [&str; 4] = [
    "RSAES_OAEP_SHA_1",
    "RSAES_OAEP_SHA_256",
    "RSA_AES_KEY_WRAP_SHA_1",
    "RSA_AES_KEY_WRAP_SHA_256",
];

/// Opens `encrypted` key material with a wrapping key's PKCS#8: RSA-OAEP directly, or (the
/// RSA_AES_KEY_WRAP algorithms) an RSA-OAEP-wrapped AES key followed by the material under
/// AES key wrap with padding (RFC 5649), as `openssl enc -id-aes256-wrap-pad` writes it.
/// Every failure is the one opaque `InvalidCiphertext`.
pub(crate) fn unwrap_import(
    algorithm: &str,
    wrapping_pkcs8: &[u8],
    encrypted: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DomainError> {
    use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrapPadded as _};
    let opaque = || DomainError::InvalidCiphertext;
    let key = rsa::PrivateDecryptingKey::from_pkcs8(wrapping_pkcs8)
        .map_err(|_| DomainError::internal("stored wrapping key unreadable"))?;
    let split = key.key_size_bytes();
    let key = rsa::OaepPrivateDecryptingKey::new(key)
        .map_err(|_| DomainError::internal("stored wrapping key unreadable"))?;
    let sha1 = algorithm.ends_with("SHA_1");
    if algorithm.starts_with("RSAES_OAEP") {
        return super::secrets::decrypt(&key, sha1, encrypted);
    }
    if encrypted.len() <= split {
        return Err(opaque());
    }
    let aes = super::secrets::decrypt(&key, sha1, &encrypted[..split])?;
    let kek = AesKek::new(&AES_256, &aes).map_err(|_| opaque())?;
    let wrapped = &encrypted[split..];
    let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
    let len = kek.unwrap_with_padding(wrapped, &mut out).map_err(|_| opaque())?.len();
    out.truncate(len);
    Ok(out)
}

/// Imported material checked against the key's spec: (what the key version keeps, SPKI DER
/// public key or empty). An AES key is 32 bytes; an HMAC key from the digest's length to the
/// hash's block size; RSA and ECC keys are PKCS #8 of the spec's size or curve.
pub(crate) fn imported(
    spec: &str,
    material: &[u8],
) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), DomainError> {
    let wrong = |why: String| DomainError::IncorrectKeyMaterial(why);
    match kind(spec) {
        Some(Kind::Symmetric) if material.len() == 32 => {
            Ok((Zeroizing::new(material.to_vec()), Vec::new()))
        }
        Some(Kind::Symmetric) => Err(wrong("SYMMETRIC_DEFAULT material is 32 bytes".into())),
        Some(Kind::Hmac(len)) => {
            let most = if len <= 32 { 64 } else { 128 };
            if (len..=most).contains(&material.len()) {
                Ok((Zeroizing::new(material.to_vec()), Vec::new()))
            } else {
                Err(wrong(format!("{spec} material is {len} to {most} bytes")))
            }
        }
        Some(Kind::Rsa) => {
            let key = rsa::KeyPair::from_pkcs8(material)
                .map_err(|_| wrong("not an RSA private key in PKCS #8".into()))?;
            let bits = key.public_modulus_len() * 8;
            if spec != format!("RSA_{bits}") {
                return Err(wrong(format!("an RSA key of {bits} bits is not {spec}")));
            }
            let spki = key.public_key().as_der().map_err(|_| failed("encoding"))?;
            Ok((Zeroizing::new(material.to_vec()), spki.as_ref().to_vec()))
        }
        Some(Kind::Ecc(curve)) => {
            let pair = EcdsaKeyPair::from_pkcs8(ecdsa(curve), material)
                .map_err(|_| wrong(format!("not a {spec} private key in PKCS #8")))?;
            let spki: aws_lc_rs::encoding::PublicKeyX509Der<'static> =
                pair.public_key().as_der().map_err(|_| failed("encoding"))?;
            Ok((Zeroizing::new(material.to_vec()), spki.as_ref().to_vec()))
        }
        None => Err(DomainError::invalid(format!("unknown KeySpec {spec:?}"))),
    }
}

/// A key material's KeyMaterialId (64 hex digits, AWS's form), bound to the key: of imported
/// material, derived from its fingerprint (the same material comes back under the same ID,
/// and has another in another key); of material made here, from its version.
pub(crate) fn material_id(key_id: &str, material: MaterialOf<'_>) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"cipherdrop-key-material-id-1\0");
    ctx.update(key_id.as_bytes());
    match material {
        MaterialOf::Imported(fingerprint) => {
            ctx.update(b"\0imported\0");
            ctx.update(fingerprint.as_bytes());
        }
        MaterialOf::Version(version) => {
            ctx.update(b"\0version\0");
            ctx.update(&version.to_be_bytes());
        }
    }
    super::secrets::hex(ctx.finish().as_ref())
}

/// Which material a [`material_id`] names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum MaterialOf<'a> {
    /// Imported material, by fingerprint.
    Imported(&'a str),
    /// Material made here, by key version.
    Version(i64),
}

/// What recognises imported material when it comes back: SHA-256 of the public key, or of the
/// secret key with a label (a hash of a 256-bit random key reveals nothing of it).
pub(crate) fn fingerprint(secret: &[u8], public: &[u8]) -> String {
    let d = if public.is_empty() {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"cipherdrop-imported-material-1");
        ctx.update(secret);
        ctx.finish()
    } else {
        digest::digest(&digest::SHA256, public)
    };
    super::secrets::hex(d.as_ref())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_signs_or_macs_and_verifies_and_tampering_fails() {
        for (spec, algorithms) in [
            ("ECC_NIST_P256", &["ECDSA_SHA_256"][..]),
            ("ECC_NIST_P384", &["ECDSA_SHA_384"]),
            ("ECC_NIST_P521", &["ECDSA_SHA_512"]),
            ("ECC_SECG_P256K1", &["ECDSA_SHA_256"]),
            ("RSA_2048", &RSA_SIGNING),
        ] {
            let (pkcs8, spki) = generate(spec).unwrap();
            for alg in algorithms {
                let sig = sign(spec, &pkcs8, alg, Message::Raw(b"hello")).unwrap();
                assert!(verify(spec, &spki, alg, Message::Raw(b"hello"), &sig).unwrap());
                assert!(!verify(spec, &spki, alg, Message::Raw(b"hellO"), &sig).unwrap());
                let (_, hash) = scheme(spec, alg).unwrap();
                let d = digest::digest(hash, b"hello");
                assert!(verify(spec, &spki, alg, Message::Digest(d.as_ref()), &sig).unwrap());
                assert!(sign(spec, &pkcs8, alg, Message::Digest(b"short")).is_err());
            }
        }
        for (spec, alg) in [("HMAC_224", "HMAC_SHA_224"), ("HMAC_512", "HMAC_SHA_512")] {
            let (key, _) = generate(spec).unwrap();
            let tag = mac(spec, &key, alg, b"m").unwrap();
            assert!(verify_mac(spec, &key, alg, b"m", &tag).unwrap());
            assert!(!verify_mac(spec, &key, alg, b"n", &tag).unwrap());
            assert!(mac(spec, &key, "HMAC_SHA_256", b"m").is_err());
        }
    }

    #[test]
    fn key_pair_specs_are_the_rsa_and_ecc_specs() {
        let pairs: Vec<&str> = KEY_SPECS
            .iter()
            .copied()
            .filter(|s| matches!(kind(s), Some(Kind::Rsa | Kind::Ecc(_))))
            .collect();
        assert_eq!(KEY_PAIR_SPECS, pairs.as_slice());
    }

    #[test]
    fn specs_pair_with_usages_as_aws_pairs_them() {
        assert!(check("ECC_NIST_P256", KEY_AGREEMENT).is_ok());
        assert!(check("ECC_SECG_P256K1", KEY_AGREEMENT).is_err());
        assert!(check("ECC_NIST_P256", ENCRYPT_DECRYPT).is_err());
        assert!(check("HMAC_256", SIGN_VERIFY).is_err());
        assert!(check("RSA_3072", SIGN_VERIFY).is_ok());
        assert!(check("SYMMETRIC_DEFAULT", SIGN_VERIFY).is_err());
        assert!(check("RSA_1024", ENCRYPT_DECRYPT).is_err());
    }

    #[test]
    fn ecdh_agrees_both_ways() {
        let (a, a_pub) = generate("ECC_NIST_P384").unwrap();
        let (b, b_pub) = generate("ECC_NIST_P384").unwrap();
        let ab = derive("ECC_NIST_P384", &a, &b_pub).unwrap();
        assert_eq!(ab.as_slice(), derive("ECC_NIST_P384", &b, &a_pub).unwrap().as_slice());
        let (_, other_curve) = generate("ECC_NIST_P256").unwrap();
        assert!(derive("ECC_NIST_P384", &a, &other_curve).is_err());
    }

    #[test]
    fn material_ids_are_aws_shaped_and_bound_to_key_and_material() {
        let fp = fingerprint(&[7u8; 32], &[]);
        let id = material_id("k1", MaterialOf::Imported(&fp));
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(id, material_id("k1", MaterialOf::Imported(&fp)), "the same material again");
        assert_ne!(id, material_id("k2", MaterialOf::Imported(&fp)), "another key");
        let other = fingerprint(&[8u8; 32], &[]);
        assert_ne!(id, material_id("k1", MaterialOf::Imported(&other)), "other material");
        assert_ne!(
            material_id("k1", MaterialOf::Version(1)),
            material_id("k1", MaterialOf::Version(2))
        );
    }
}
