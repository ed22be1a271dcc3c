//! What the detached-frame tests share: an external AES-256-GCM opening a frame job, as
//! WebCrypto would.
#![allow(dead_code, clippy::unwrap_used)]

use aes_gcm::aead::array::Array;
use aes_gcm::{AeadInOut, Aes256Gcm};
use cipherdrop::FrameJob;

/// Opens `body` (ciphertext then tag) of `job` in place; true if the tag verified. The
/// plaintext is then the first `job.plaintext_len()` bytes.
pub fn open_job(cipher: &Aes256Gcm, job: &FrameJob, body: &mut [u8]) -> bool {
    let (content, tag) = body.split_at_mut(job.plaintext_len());
    cipher
        .decrypt_inout_detached(
            &Array::from(*job.iv()),
            job.aad(),
            content.into(),
            &Array::try_from(&*tag).unwrap(),
        )
        .is_ok()
}
