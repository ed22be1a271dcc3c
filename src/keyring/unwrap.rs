//! The rules of the search for a message's data key, in one place for every caller: the
//! native [`Keyring::unwrap_any`](super::Keyring::unwrap_any), and the npm package, whose
//! keyrings are JS objects that the wasm bindings report on.
//!
//! Sans-IO: the caller asks its keyring about the EDK an [`UnwrapSession`] names and reports
//! the answer as an [`Attempt`]; the session decides what the answer counts as, when to stop,
//! and which error a search that found no key ends with. [`FirstAnswer`] is the
//! multi-keyring's rule for merging its keyrings' answers for one EDK.

use alloc::string::String;
use alloc::vec::Vec;

use crate::crypto::DataKey;
use crate::error::DecryptError;
use crate::format::Header;

/// One keyring's answer for one EDK. `R` is the caller's form of a refusal: a
/// [`DecryptError::Keyring`] natively, the error a JS keyring threw in the npm package (kept
/// as thrown, with its details, such as a key server's `serverCode`).
#[derive(Debug)]
pub enum Attempt<R> {
    /// The EDK is not for this keyring (another provider or key): it does not count.
    NotMine,
    /// The keyring unwrapped these bytes. A key of another length than the suite's is a
    /// failed attempt.
    Key(DataKey),
    /// The keyring refused for a reason it may tell (a key server's policy denial, a keyring
    /// that holds no private key): reported if no EDK unwraps, because it says more than "no
    /// key".
    Refused(R),
    /// The EDK did not unwrap (wrong key, bad padding: opaque): a failed attempt. `note` is
    /// what the keyring may say of its own setup (a raw RSA keyring's OAEP hash, the usual
    /// mistake), never of the ciphertext; [`DecryptError::NoDecryptableKey`] lists each
    /// distinct note once.
    Failed(Option<String>),
}

impl From<Option<Result<DataKey, DecryptError>>> for Attempt<DecryptError> {
    /// A native [`Keyring::unwrap`](super::Keyring::unwrap) answer: `None` is not mine,
    /// [`DecryptError::Keyring`] a refusal, every other error a failed attempt.
    fn from(answer: Option<Result<DataKey, DecryptError>>) -> Self {
        match answer {
            None => Self::NotMine,
            Some(Ok(key)) => Self::Key(key),
            Some(Err(err @ DecryptError::Keyring(_))) => Self::Refused(err),
            Some(Err(_)) => Self::Failed(None),
        }
    }
}

/// How a search that found no key ends.
#[derive(Debug, PartialEq, Eq)]
pub enum UnwrapError<R> {
    /// The first refusal, as the keyring gave it.
    Refused(R),
    /// [`DecryptError::NoDecryptableKey`], or [`DecryptError::InvalidState`] for a caller
    /// that asks or reports out of turn.
    Decrypt(DecryptError),
}

impl From<UnwrapError<DecryptError>> for DecryptError {
    fn from(err: UnwrapError<DecryptError>) -> Self {
        match err {
            UnwrapError::Refused(err) | UnwrapError::Decrypt(err) => err,
        }
    }
}

/// The search for one message's data key among its header's EDKs.
///
/// The caller MUST alternate [`UnwrapSession::next_candidate`] (which EDK to ask its keyring
/// about) and [`UnwrapSession::report`] (the keyring's answer) until `report` returns a key
/// (then verify it against the header: [`crate::Decryptor::provide_data_key`]) or
/// `next_candidate` returns the error to report. The rules:
/// - EDKs are asked in header order, each once;
/// - the first key of the suite's length ends the search; a key of another length is a failed
///   attempt (and is zeroized, as every [`DataKey`] is on drop);
/// - if nothing unwraps, the first refusal is the error; without one,
///   [`DecryptError::NoDecryptableKey`] with the count of failed attempts and their notes.
#[derive(Debug)]
pub struct UnwrapSession<R> {
    edks: usize,
    key_len: usize,
    /// Index of the next EDK to hand out.
    next: usize,
    /// Whether the EDK handed out last still awaits its report.
    asked: bool,
    /// Whether the search ended (a key was returned, or the error).
    ended: bool,
    failed_attempts: usize,
    notes: Vec<String>,
    refusal: Option<R>,
}

impl<R> UnwrapSession<R> {
    /// A search among `header`'s EDKs for a key of its suite's length.
    pub fn new(header: &Header) -> Self {
        Self {
            edks: header.encrypted_data_keys().len(),
            key_len: header.suite().key_len(),
            next: 0,
            asked: false,
            ended: false,
            failed_attempts: 0,
            notes: Vec::new(),
            refusal: None,
        }
    }

    /// The index, in header order, of the EDK to ask about next; once none is left, the
    /// error the search ends with (the session is then spent).
    pub fn next_candidate(&mut self) -> Result<usize, UnwrapError<R>> {
        if self.ended || self.asked {
            return Err(UnwrapError::Decrypt(DecryptError::InvalidState(
                "report the last candidate's answer before asking for the next",
            )));
        }
        if self.next < self.edks {
            self.asked = true;
            self.next += 1;
            return Ok(self.next - 1);
        }
        self.ended = true;
        Err(match self.refusal.take() {
            Some(refusal) => UnwrapError::Refused(refusal),
            None => UnwrapError::Decrypt(DecryptError::NoDecryptableKey {
                failed_attempts: self.failed_attempts,
                notes: core::mem::take(&mut self.notes),
            }),
        })
    }

    /// Reports the answer for the last candidate; returns the data key that ends the search,
    /// if this answer is one.
    pub fn report(&mut self, attempt: Attempt<R>) -> Result<Option<DataKey>, DecryptError> {
        if !self.asked {
            return Err(DecryptError::InvalidState("no candidate EDK awaits an answer"));
        }
        self.asked = false;
        match attempt {
            Attempt::NotMine => {}
            Attempt::Key(key) if key.len() == self.key_len => {
                self.ended = true;
                return Ok(Some(key));
            }
            Attempt::Key(_) | Attempt::Failed(None) => self.failed_attempts += 1,
            Attempt::Failed(Some(note)) => {
                self.failed_attempts += 1;
                if !self.notes.contains(&note) {
                    self.notes.push(note);
                }
            }
            // The first refusal: a key server's denial, say, rather than a later keyring's
            // "only a public key".
            Attempt::Refused(refusal) => {
                self.refusal.get_or_insert(refusal);
            }
        }
        Ok(None)
    }
}

/// The multi-keyring's answer for one EDK (`framework/multi-keyring.md`, OnDecrypt): its
/// keyrings are asked in order, generator first, and the first key is the answer (the rest
/// are not asked); if none unwraps, the first keyring's error is; if none errs either, the
/// EDK is not the multi-keyring's. `K` and `E` are the caller's key and error types.
#[derive(Debug)]
pub struct FirstAnswer<E> {
    first_error: Option<E>,
}

impl<E> Default for FirstAnswer<E> {
    fn default() -> Self {
        Self { first_error: None }
    }
}

impl<E> FirstAnswer<E> {
    /// Adds the next keyring's answer (`None`: not its EDK); returns the key if it settles
    /// the EDK, in which case the caller MUST NOT ask the remaining keyrings.
    pub fn add<K>(&mut self, answer: Option<Result<K, E>>) -> Option<K> {
        match answer {
            Some(Ok(key)) => return Some(key),
            Some(Err(err)) if self.first_error.is_none() => self.first_error = Some(err),
            Some(Err(_)) | None => {}
        }
        None
    }

    /// The answer once every keyring was asked and none gave a key.
    pub fn finish<K>(self) -> Option<Result<K, E>> {
        self.first_error.map(Err)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::EncryptOptions;
    use crate::encrypt::PendingEncryptor;
    use crate::format::EncryptedDataKey;
    use crate::suite::AlgorithmSuite;

    /// A parsed header of the default suite (32-byte keys) with `edks` EDKs.
    fn header(edks: u8) -> Header {
        let options = EncryptOptions {
            suite: AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
            ..EncryptOptions::default()
        };
        let pending = PendingEncryptor::new(&options).unwrap();
        let edk = |i: u8| EncryptedDataKey {
            provider_id: "test".into(),
            provider_info: alloc::vec![i],
            ciphertext: alloc::vec![i; 4],
        };
        let encryptor = pending.with_encrypted_data_keys((0..edks).map(edk).collect());
        encryptor.unwrap().header().clone()
    }

    fn key(len: usize) -> DataKey {
        DataKey::from_slice(&alloc::vec![7; len])
    }

    fn refusal(what: &str) -> DecryptError {
        DecryptError::Keyring(what.into())
    }

    #[test]
    fn edks_are_asked_in_header_order_each_once_then_the_search_ends() {
        let mut session = UnwrapSession::<DecryptError>::new(&header(3));
        for expected in 0..3 {
            assert_eq!(session.next_candidate().unwrap(), expected);
            assert!(session.report(Attempt::NotMine).unwrap().is_none());
        }
        let err = session.next_candidate().unwrap_err();
        let none = DecryptError::NoDecryptableKey { failed_attempts: 0, notes: Vec::new() };
        assert_eq!(err, UnwrapError::Decrypt(none));
        assert!(matches!(
            session.next_candidate(),
            Err(UnwrapError::Decrypt(DecryptError::InvalidState(_)))
        ));
    }

    #[test]
    fn a_refusal_then_a_key_unwraps() {
        let mut session = UnwrapSession::new(&header(2));
        session.next_candidate().unwrap();
        assert!(session.report(Attempt::Refused(refusal("denied"))).unwrap().is_none());
        assert_eq!(session.next_candidate().unwrap(), 1);
        let found = session.report(Attempt::Key(key(32))).unwrap().unwrap();
        assert_eq!(found.dangerous_as_bytes(), &[7; 32]);
        assert!(session.next_candidate().is_err(), "the search ended with the key");
    }

    #[test]
    fn a_key_of_the_wrong_length_is_a_failed_attempt_and_the_search_goes_on() {
        let mut session = UnwrapSession::<DecryptError>::new(&header(3));
        session.next_candidate().unwrap();
        assert!(session.report(Attempt::Key(key(16))).unwrap().is_none());
        session.next_candidate().unwrap();
        assert!(session.report(Attempt::Key(key(33))).unwrap().is_none());
        session.next_candidate().unwrap();
        assert!(session.report(Attempt::Key(key(32))).unwrap().is_some());
    }

    #[test]
    fn when_all_fail_the_first_refusal_wins_else_the_failed_attempts_and_their_notes() {
        let mut session = UnwrapSession::new(&header(4));
        let answers = [
            Attempt::Failed(None),
            Attempt::Refused(refusal("first")),
            Attempt::Refused(refusal("second")),
            Attempt::Key(key(1)),
        ];
        for answer in answers {
            session.next_candidate().unwrap();
            assert!(session.report(answer).unwrap().is_none());
        }
        assert_eq!(session.next_candidate().unwrap_err(), UnwrapError::Refused(refusal("first")));

        let mut session = UnwrapSession::<DecryptError>::new(&header(4));
        let note = |s: &str| Attempt::Failed(Some(s.into()));
        for answer in [note("SHA-1"), Attempt::NotMine, note("SHA-1"), note("SHA-512")] {
            session.next_candidate().unwrap();
            assert!(session.report(answer).unwrap().is_none());
        }
        let err = DecryptError::from(session.next_candidate().unwrap_err());
        let notes = alloc::vec!["SHA-1".into(), "SHA-512".into()];
        assert_eq!(err, DecryptError::NoDecryptableKey { failed_attempts: 3, notes });
        assert_eq!(
            alloc::string::ToString::to_string(&err),
            "no encrypted data key could be unwrapped (3 failed attempts): SHA-1; SHA-512"
        );
    }

    #[test]
    fn asking_and_reporting_out_of_turn_is_misuse() {
        let mut session = UnwrapSession::<DecryptError>::new(&header(2));
        assert!(matches!(session.report(Attempt::NotMine), Err(DecryptError::InvalidState(_))));
        session.next_candidate().unwrap();
        assert!(matches!(
            session.next_candidate(),
            Err(UnwrapError::Decrypt(DecryptError::InvalidState(_)))
        ));
    }

    #[test]
    fn native_answers_map_to_attempts() {
        let attempt = |a: Option<Result<DataKey, DecryptError>>| Attempt::from(a);
        assert!(matches!(attempt(None), Attempt::NotMine));
        assert!(matches!(attempt(Some(Ok(key(32)))), Attempt::Key(_)));
        assert!(matches!(attempt(Some(Err(refusal("x")))), Attempt::Refused(_)));
        for err in
            [DecryptError::UnwrapFailed, DecryptError::Malformed(crate::Section::Header, "x")]
        {
            assert!(matches!(attempt(Some(Err(err))), Attempt::Failed(None)));
        }
    }

    #[test]
    fn the_multi_keyring_takes_the_first_key_else_the_first_error() {
        let mut answers = FirstAnswer::default();
        assert_eq!(answers.add::<u8>(None), None);
        assert_eq!(answers.add::<u8>(Some(Err("failed"))), None);
        assert_eq!(answers.add::<u8>(Some(Err("refused"))), None);
        assert_eq!(answers.add(Some(Ok(1u8))), Some(1));

        let mut answers = FirstAnswer::default();
        answers.add::<u8>(None);
        answers.add::<u8>(Some(Err("failed")));
        answers.add::<u8>(Some(Err("refused")));
        assert_eq!(answers.finish::<u8>(), Some(Err("failed")));

        let mut answers = FirstAnswer::<&str>::default();
        answers.add::<u8>(None);
        assert_eq!(answers.finish::<u8>(), None, "no keyring's EDK");
    }
}
