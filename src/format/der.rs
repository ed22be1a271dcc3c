//! The DER form of the footer's ECDSA signature (`data-format/message-footer.md`
//! "Signature"): `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` (RFC 3279 section
//! 2.2.3, SEC 1 v2 section C.5), in DER (X.690 section 10).
//!
//! Written by hand because two positive INTEGERs in a SEQUENCE are all a message holds: the
//! `der` crate's general encoder and decoder (through `ecdsa::der::Signature`) were about
//! 10 KB of the wasm module's code. The tests below check both directions against that
//! crate's implementation.
//!
//! Every length here is below 128 (at most 2 × (2 + 1 + 66) bytes for the largest curves,
//! 2 × 51 for P-384), so DER allows only the short length form: a long form is always
//! non-minimal and refused.

use alloc::vec::Vec;

/// ASN.1 tags (X.690 section 8.1.2): universal INTEGER, and constructed SEQUENCE.
const INTEGER: u8 = 0x02;
const SEQUENCE: u8 = 0x30;
/// Lengths of 128 and up take the long form; the short form stops below it.
const SHORT_LENGTH_END: usize = 0x80;

/// The DER encoding of the signature with scalars `r` and `s` (big-endian, of the curve's
/// width, at most 61 bytes each so that every length stays in the short form).
pub(crate) fn encode_signature(r: &[u8], s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + 2 * (3 + r.len().max(s.len())));
    out.extend_from_slice(&[SEQUENCE, 0]);
    integer(r, &mut out);
    integer(s, &mut out);
    // Both integers fit the short form, and so does their sum for scalars of at most 61 bytes.
    out[1] = u8::try_from(out.len() - 2).expect("scalars of at most 61 bytes");
    out
}

/// Appends `value` (big-endian, unsigned) as a DER INTEGER: no leading zero byte unless
/// the next one has its high bit set (which would make the value negative); zero is `00`.
fn integer(value: &[u8], out: &mut Vec<u8>) {
    let first = value.iter().position(|&b| b != 0).unwrap_or(value.len().saturating_sub(1));
    let digits = value.get(first..).unwrap_or_default();
    let pad = digits.first().is_none_or(|&b| b & 0x80 != 0);
    let len = digits.len() + usize::from(pad);
    out.extend_from_slice(&[INTEGER, u8::try_from(len).expect("scalars of at most 61 bytes")]);
    if pad {
        out.push(0);
    }
    out.extend_from_slice(digits);
}

/// The scalars `(r, s)` of a DER-encoded signature, each left-padded to `N` bytes; `None`
/// unless `der` is exactly one SEQUENCE of two INTEGERs in DER: short-form lengths that
/// match, minimal integers (no superfluous leading zero byte), none negative, none wider
/// than `N` bytes, nothing after them. Whether the scalars are in range is for the curve
/// to check.
pub(crate) fn decode_signature<const N: usize>(der: &[u8]) -> Option<([u8; N], [u8; N])> {
    let (&tag, rest) = der.split_first()?;
    let (&len, body) = rest.split_first()?;
    if tag != SEQUENCE || usize::from(len) >= SHORT_LENGTH_END || usize::from(len) != body.len() {
        return None;
    }
    let (r, body) = decode_integer::<N>(body)?;
    let (s, body) = decode_integer::<N>(body)?;
    body.is_empty().then_some((r, s))
}

/// One unsigned DER INTEGER at the start of `der`, left-padded to `N` bytes, and what
/// follows it.
fn decode_integer<const N: usize>(der: &[u8]) -> Option<([u8; N], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let len = usize::from(len);
    if tag != INTEGER || len >= SHORT_LENGTH_END || len > rest.len() {
        return None;
    }
    let (content, rest) = rest.split_at(len);
    let digits = match content {
        // Empty: not an integer. A high first bit: negative.
        [] => return None,
        [first, ..] if first & 0x80 != 0 => return None,
        // A leading zero byte is allowed only before a byte with its high bit set.
        [0, next, ..] if next & 0x80 == 0 => return None,
        [0, digits @ ..] if !digits.is_empty() => digits,
        _ => content,
    };
    let mut value = [0u8; N];
    let at = N.checked_sub(digits.len())?;
    value.get_mut(at..)?.copy_from_slice(digits);
    Some((value, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use p384::ecdsa::signature::hazmat::PrehashSigner;
    use p384::ecdsa::{DerSignature, Signature, SigningKey};

    /// A deterministic byte stream (xorshift64*): no dependency, same cases every run.
    struct Bytes(u64);
    impl Bytes {
        fn next(&mut self) -> u8 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        }
        fn fill(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next()).collect()
        }
    }

    /// The `der` crate's verdict (through `ecdsa`, as the verifier used it): the signature,
    /// if the bytes are DER and its scalars in range.
    fn reference(der: &[u8]) -> Option<Signature> {
        Signature::try_from(DerSignature::try_from(der).ok()?).ok()
    }

    /// Ours, as the verifier uses it.
    fn ours(der: &[u8]) -> Option<Signature> {
        decode_signature::<48>(der).and_then(|(r, s)| Signature::from_scalars(r, s).ok())
    }

    fn same_as_reference(der: &[u8]) {
        assert_eq!(ours(der), reference(der), "decoding {der:02x?}");
    }

    /// Signatures of the real signer, plus scalars at the edges of the encoding (leading
    /// zero bytes, high bits set, tiny values) put together by the crate's encoder.
    fn valid_signatures() -> Vec<Vec<u8>> {
        let mut rng = Bytes(0x9E37_79B9_7F4A_7C15);
        let key = SigningKey::from_slice(&[7u8; 48]).expect("a valid scalar");
        let mut out = Vec::new();
        for _ in 0..100 {
            let sig: DerSignature = key.sign_prehash(&rng.fill(48)).expect("48-byte prehash");
            out.push(sig.as_bytes().to_vec());
        }
        let mut edges: Vec<[u8; 48]> = vec![[0x80; 48], [0x7f; 48], [0xff; 48]];
        for zeros in [1, 2, 47] {
            let mut high = [0xc3u8; 48];
            high[..zeros].fill(0);
            let mut low = [0x3cu8; 48];
            low[..zeros].fill(0);
            edges.extend([high, low]);
        }
        let mut one = [0u8; 48];
        one[47] = 1;
        edges.push(one);
        for r in &edges {
            for s in &edges {
                // 0xff.. is not below the group order: no Signature to encode.
                if let Ok(sig) = Signature::from_scalars(*r, *s) {
                    out.push(sig.to_der().as_bytes().to_vec());
                }
            }
        }
        out
    }

    #[test]
    fn encodes_as_the_der_crate_does() {
        let sigs = valid_signatures();
        assert!(sigs.len() > 150);
        for der in &sigs {
            let (r, s) = reference(der).expect("the crate's own encoding").split_bytes();
            assert_eq!(&encode_signature(&r, &s), der);
            assert_eq!(decode_signature::<48>(der), Some((r.into(), s.into())));
        }
        // Zero and empty scalars (no signature has them) still give valid DER.
        assert_eq!(encode_signature(&[0; 48], &[0; 48]), [0x30, 6, 2, 1, 0, 2, 1, 0]);
        assert_eq!(encode_signature(&[], &[0x80]), [0x30, 7, 2, 1, 0, 2, 2, 0, 0x80]);
    }

    #[test]
    fn refuses_what_is_not_strict_der() {
        let one = [0x02, 0x01, 0x01];
        let seq = |body: &[u8]| {
            let mut v = vec![0x30, u8::try_from(body.len()).expect("short")];
            v.extend_from_slice(body);
            v
        };
        let good = seq(&[one, one].concat());
        assert_eq!(decode_signature::<48>(&good).map(|(r, s)| (r[47], s[47])), Some((1, 1)));
        let bad: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x30],
            vec![0x30, 0x00],
            // Long-form lengths of short values (non-minimal), indefinite length.
            [&[0x30, 0x81, 0x06][..], &one, &one].concat(),
            [&[0x30, 0x80][..], &one, &one, &[0, 0]].concat(),
            seq(&[&[0x02, 0x81, 0x01, 0x01][..], &one].concat()),
            // Superfluous leading zero, negative values, an empty integer.
            seq(&[&[0x02, 0x02, 0x00, 0x01][..], &one].concat()),
            seq(&[&[0x02, 0x02, 0x00, 0x00][..], &one].concat()),
            seq(&[&one[..], &[0x02, 0x01, 0x80]].concat()),
            seq(&[&one[..], &[0x02, 0x02, 0xff, 0x01]].concat()),
            seq(&[&[0x02, 0x00][..], &one].concat()),
            // 49 significant bytes: wider than a P-384 scalar.
            seq(&[&[0x02, 49][..], &[0x01; 49], &one].concat()),
            seq(&[&[0x02, 50, 0x00][..], &[0x81; 49], &one].concat()),
            // Wrong tags, one integer, three, bytes after the sequence or inside it.
            [&[0x31, 0x06][..], &one, &one].concat(),
            seq(&[&[0x03, 0x01, 0x01][..], &one].concat()),
            seq(&one),
            seq(&[one, one, one].concat()),
            [&good[..], &[0x00]].concat(),
            seq(&[&one[..], &one, &[0x00]].concat()),
            // A length past the end, of the sequence or of an integer.
            [&[0x30, 0x07][..], &one, &one].concat(),
            seq(&[&one[..], &[0x02, 0x02, 0x01]].concat()),
        ];
        for der in &bad {
            assert_eq!(decode_signature::<48>(der), None, "accepted {der:02x?}");
            same_as_reference(der);
        }
    }

    /// Every truncation and single-byte change of valid signatures, inserted bytes, and
    /// random bytes: the same verdict as the `der` crate's, and no panic.
    #[test]
    fn agrees_with_the_der_crate_on_mutations_and_noise() {
        let mut rng = Bytes(0x0123_4567_89AB_CDEF);
        for der in valid_signatures().iter().take(40) {
            for n in 0..der.len() {
                same_as_reference(&der[..n]);
            }
            for i in 0..der.len() {
                for x in [0x00, 0x01, 0x02, 0x30, 0x7f, 0x80, 0x81, 0xff, rng.next()] {
                    let mut m = der.clone();
                    m[i] = x;
                    same_as_reference(&m);
                    m[i] = der[i].wrapping_add(x);
                    same_as_reference(&m);
                    let mut inserted = der.clone();
                    inserted.insert(i, x);
                    same_as_reference(&inserted);
                }
            }
        }
        for _ in 0..20_000 {
            let n = usize::from(rng.next() % 112);
            let mut noise = rng.fill(n);
            // Mostly plausible skeletons, so that the inner checks get reached.
            if n >= 2 && rng.next() & 1 == 0 {
                noise[0] = 0x30;
                noise[1] = u8::try_from(n - 2).expect("below 112");
                if n >= 4 {
                    noise[2] = 0x02;
                    noise[3] %= u8::try_from(n - 2).expect("below 112");
                }
            }
            same_as_reference(&noise);
            assert!(decode_signature::<32>(&noise).is_none() || noise[0] == 0x30);
        }
    }

    /// P-256 (format 1.0's suite 0x0214): the same code at 32 bytes.
    #[cfg(feature = "legacy-p256")]
    #[test]
    fn p256_signatures_round_trip() {
        let mut rng = Bytes(42);
        let key = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).expect("a valid scalar");
        for _ in 0..100 {
            let sig: p256::ecdsa::Signature = key.sign_prehash(&rng.fill(32)).expect("prehash");
            let (r, s) = sig.split_bytes();
            let der = encode_signature(&r, &s);
            assert_eq!(der, sig.to_der().as_bytes());
            assert_eq!(decode_signature::<32>(&der), Some((r.into(), s.into())));
        }
    }
}
