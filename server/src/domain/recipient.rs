//! Data keys answered to the caller's ephemeral P-256 key, never in the clear: the server
//! makes its own ephemeral key per answer, agrees on Z with the caller's (aws-lc-rs), and
//! seals the data key as a compact JWE (`ECDH-ES` + `A256GCM`, [`cipherdrop::jwe`]) whose
//! protected header names the key version that unwrapped it and the request.

use aws_lc_rs::agreement::{ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey, agree_ephemeral};
use aws_lc_rs::rand::SystemRandom;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cipherdrop::jwe;
use serde::Deserialize;
use serde_json::json;
use zeroize::Zeroizing;

use super::error::DomainError;
use super::secrets;

/// The caller's public key as a JWK (RFC 7517/7518 §6.2). Other members a JWK may carry
/// (`ext`, `key_ops`, `alg`, `use`, `kid`, as WebCrypto exports them) are ignored; a private
/// key (`d`) is refused: the caller's secret must never be sent.
#[derive(Debug, Deserialize)]
pub struct RecipientJwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
    #[serde(default)]
    d: Option<serde_json::Value>,
}

/// An agreed answer key: the shared secret with the caller and the server's ephemeral public
/// key, made before the data key is unwrapped (a bad key costs no RSA operation).
pub(crate) struct Recipient {
    z: Zeroizing<Vec<u8>>,
    epk: (String, String),
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recipient(..)")
    }
}

const COORDINATE: usize = 32;

/// The JWK coordinates (`x`, `y`, base64url) of an uncompressed P-256 point, as aws-lc-rs
/// computes one (`04 || x || y`).
pub(crate) fn jwk_coordinates(point: &[u8]) -> (String, String) {
    let (x, y) = point[1..].split_at(COORDINATE);
    (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y))
}

/// The uncompressed point of JWK coordinates `x` and `y`; `None` unless each is 32 bytes of
/// base64url (whether the point is on the curve, [`agree`] finds out).
pub(crate) fn jwk_point(x: &str, y: &str) -> Option<Vec<u8>> {
    let mut point = vec![4u8];
    for c in [x, y] {
        point.extend(URL_SAFE_NO_PAD.decode(c).ok().filter(|b| b.len() == COORDINATE)?);
    }
    Some(point)
}

/// The ECDH secret Z of `ours` with the peer's uncompressed `point`; `None` if the point is
/// not on P-256 (aws-lc-rs checks it: no invalid-curve attack).
pub(crate) fn agree(ours: EphemeralPrivateKey, point: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    agree_ephemeral(ours, UnparsedPublicKey::new(&ECDH_P256, point), (), |z| {
        Ok(Zeroizing::new(z.to_vec()))
    })
    .ok()
}

impl Recipient {
    /// Checks the caller's key and agrees on a secret with a fresh ephemeral key.
    pub(crate) fn agree(jwk: &RecipientJwk) -> Result<Self, DomainError> {
        let bad = |why: &str| DomainError::invalid(format!("recipient: {why}"));
        if jwk.d.is_some() {
            return Err(bad("holds a private key (d); send the public key only"));
        }
        if jwk.kty != "EC" || jwk.crv != jwe::CURVE {
            return Err(bad("must be an EC key on P-256"));
        }
        let point =
            jwk_point(&jwk.x, &jwk.y).ok_or_else(|| bad("x and y must be 32-byte base64url"))?;
        let rng = SystemRandom::new();
        let ours = EphemeralPrivateKey::generate(&ECDH_P256, &rng)
            .map_err(|_| DomainError::internal("ephemeral key generation failed"))?;
        let public = ours.compute_public_key().map_err(|_| DomainError::internal("public key"))?;
        let epk = jwk_coordinates(public.as_ref());
        let z = agree(ours, &point).ok_or_else(|| bad("not a point on P-256"))?;
        Ok(Self { z, epk })
    }

    /// `secret` as a compact JWE to this recipient; `kid` names the key version, `request`
    /// the request ID.
    pub(crate) fn seal(
        &self,
        kid: &str,
        request: &str,
        secret: &[u8],
    ) -> Result<String, DomainError> {
        let header = json!({
            "alg": jwe::ALG,
            "enc": jwe::ENC,
            "epk": { "kty": "EC", "crv": jwe::CURVE, "x": self.epk.0, "y": self.epk.1 },
            "kid": kid,
            "x-request-id": request,
        });
        Ok(jwe::seal(&header.to_string(), &self.z, secrets::random::<12>()?, secret))
    }
}
