//! Frames on every core for `cipherdrop encrypt` and `decrypt`: the main thread reads, drives
//! the core's detached frames (header, frame order, heads, signature) and writes, in order;
//! worker threads run the AES-GCM of batches of frames with the core's [`FrameCipher`].
//!
//! Memory stays constant: at most [`IN_FLIGHT`] batches per worker and the one being filled,
//! each about [`BATCH`] bytes, or one frame if frames are larger (a message of 64 MiB frames,
//! the decryptor's default bound, may hold five on two cores).

use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::{self, Scope};

use cipherdrop::{FrameCipher, FrameJob};

use crate::error::Error;

/// Plaintext per hand-off to a worker: large enough that a hand-off costs little against
/// AES-GCM, small enough that a batch and its output stay in a core's L2 cache.
pub(crate) const BATCH: usize = 256 << 10;
/// Batches a worker may hold, queued or in progress: one to work on, one to start next.
const IN_FLIGHT: usize = 2;

/// Frames whose AES-GCM runs on a worker.
#[derive(Default)]
pub(crate) struct Batch {
    pub(crate) jobs: Vec<FrameJob>,
    /// Each frame's sealed bytes, ciphertext then tag, one after another. Encrypt: the
    /// plaintext is read into each frame's place, and sealed there by the worker. Decrypt:
    /// the worker opens each body in place (its first `plaintext_len` bytes are then the
    /// plaintext). The caller fills it (`clear` leaves it).
    pub(crate) sealed: Vec<u8>,
    /// Decrypt: how many frames, from the first, opened; the next one failed, if any.
    pub(crate) opened: usize,
    pub(crate) failure: Option<Error>,
}

impl Batch {
    /// The frames' sealed bytes, each with its job.
    pub(crate) fn frames(&self) -> impl Iterator<Item = (&FrameJob, &[u8])> {
        let mut rest = self.sealed.as_slice();
        self.jobs.iter().map(move |job| {
            let (frame, tail) = rest.split_at(job.sealed_len());
            rest = tail;
            (job, frame)
        })
    }

    /// The same, to seal or open in place.
    fn frames_mut(&mut self) -> impl Iterator<Item = (&FrameJob, &mut [u8])> {
        let mut rest = self.sealed.as_mut_slice();
        self.jobs.iter().map(move |job| {
            let (frame, tail) = std::mem::take(&mut rest).split_at_mut(job.sealed_len());
            rest = tail;
            (job, frame)
        })
    }

    fn seal(&mut self, cipher: &FrameCipher) {
        let mut failure = None;
        for (job, frame) in self.frames_mut() {
            let (content, tag_room) = frame.split_at_mut(job.plaintext_len());
            match cipher.seal(job, content) {
                Ok(tag) => tag_room.copy_from_slice(&tag),
                Err(e) => {
                    failure = Some(e.into());
                    break;
                }
            }
        }
        self.failure = failure;
    }

    fn open(&mut self, cipher: &FrameCipher) {
        let (mut opened, mut failure) = (0, None);
        for (job, frame) in self.frames_mut() {
            if let Err(e) = cipher.open(job, frame) {
                failure = Some(e.into());
                break;
            }
            opened += 1;
        }
        (self.opened, self.failure) = (opened, failure);
    }

    /// Empties the batch for reuse but for `sealed`, which its filler clears.
    pub(crate) fn clear(&mut self) {
        self.jobs.clear();
        self.opened = 0;
        self.failure = None;
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Work {
    Seal,
    Open,
}

/// One worker thread per core, each fed in turn, so that batches come back in the order they
/// were sent without reordering.
pub(crate) struct Workers {
    to: Vec<SyncSender<Batch>>,
    from: Vec<Receiver<Batch>>,
    sent: usize,
    received: usize,
}

impl Workers {
    /// Starts the workers in `scope`. They wait for `cipher`, which the caller sets before it
    /// sends the first batch (a decryptor has it only once the header is verified).
    pub(crate) fn spawn<'scope>(
        scope: &'scope Scope<'scope, '_>,
        cipher: &'scope OnceLock<FrameCipher>,
        work: Work,
    ) -> Self {
        let count = thread::available_parallelism().map_or(1, |n| n.get());
        let (mut to, mut from) = (Vec::new(), Vec::new());
        for _ in 0..count {
            let (batch_tx, batch_rx) = sync_channel::<Batch>(IN_FLIGHT);
            let (done_tx, done_rx) = sync_channel::<Batch>(IN_FLIGHT);
            scope.spawn(move || {
                for mut batch in batch_rx {
                    let cipher = cipher.get().expect("the cipher is set before any batch");
                    match work {
                        Work::Seal => batch.seal(cipher),
                        Work::Open => batch.open(cipher),
                    }
                    if done_tx.send(batch).is_err() {
                        return;
                    }
                }
            });
            to.push(batch_tx);
            from.push(done_rx);
        }
        Self { to, from, sent: 0, received: 0 }
    }

    /// Hands `batch` to the next worker. When every worker holds as many batches as it may,
    /// first waits for the oldest one and returns it.
    pub(crate) fn send(&mut self, batch: Batch) -> Option<Batch> {
        let done = match self.sent - self.received == IN_FLIGHT * self.to.len() {
            true => self.next(),
            false => None,
        };
        let worker = self.sent % self.to.len();
        self.to[worker].send(batch).expect("a frame worker stopped");
        self.sent += 1;
        done
    }

    /// Waits for every batch in flight; returns the first failure among them, if any.
    pub(crate) fn first_failure(&mut self) -> Option<Error> {
        let mut first = None;
        while let Some(batch) = self.next() {
            first = first.or(batch.failure);
        }
        first
    }

    /// The oldest batch sent and not yet returned, once done; `None` if there is none.
    pub(crate) fn next(&mut self) -> Option<Batch> {
        if self.received == self.sent {
            return None;
        }
        let worker = self.received % self.from.len();
        let batch = self.from[worker].recv().expect("a frame worker stopped");
        self.received += 1;
        Some(batch)
    }
}
