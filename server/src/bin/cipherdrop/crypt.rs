//! `cipherdrop encrypt` and `cipherdrop decrypt`: stream IN to OUT in constant memory.

use std::fs::File;
use std::io::{self, IoSlice, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::thread;

use cipherdrop::{
    AlgorithmSuite, AwsKmsKeyring, AwsKmsRsaKeyring, CommitmentPolicy, DecryptOptions,
    DecryptState, Decryptor, EncryptOptions, EncryptionContext, Encryptor, Keyring,
    KmsEncryptionAlgorithm, KmsRsaRules, KmsSymmetricRules, Limits, MultiKeyring, OaepHash,
    RawRsaKeyring, TAG_LEN,
};

use cipherdrop_server::client::KeyServerKeyring;
use cipherdrop_server::kms_client::KmsHttpClient;
use zeroize::Zeroizing;

use crate::cli::{CommonArgs, DecryptArgs, EncryptArgs, KeyServerArgs};
use crate::error::Error;
use crate::frames::{BATCH, Batch, Work, Workers};

/// Decrypt's read size: large enough to amortise system calls, and small enough to stay in
/// the main thread's L2 cache until its frame bodies are copied into their batches.
const CHUNK: usize = 256 << 10;
/// Inputs at least this large show progress on a terminal.
const PROGRESS_THRESHOLD: u64 = 64 << 20;

pub(crate) fn encrypt(args: &EncryptArgs, key_server: &KeyServerArgs) -> Result<(), Error> {
    let Keyrings { keyring, kms_rsa } = keyring(&args.common, key_server, Purpose::Encrypt)?;
    // The AWS KMS RSA keyring refuses signed suites; the symmetric one takes either.
    let default_suite = if kms_rsa { "0x0478" } else { "0x0578" };
    let suite = args.suite.as_deref().unwrap_or(default_suite);
    let suite = match suite.to_ascii_lowercase().as_str() {
        "0x0578" | "578" => AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
        "0x0478" | "478" => AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        other => return Err(Error::Usage(format!("unknown --suite {other:?} (0x0578 or 0x0478)"))),
    };
    let options = EncryptOptions {
        suite,
        frame_length: args.frame_length,
        encryption_context: context(&args.common.context)?,
    };
    let mut encryptor = Encryptor::new(keyring.as_ref(), &options)?;
    let (mut input, size) = open_input(args.common.input.as_ref())?;
    let mut output = Output::create(args.common.output.as_ref())?;
    let mut progress = Progress::new(size);
    let frame = options.frame_length as usize;
    // Whole frames per batch; the final frame is what is left, possibly nothing (as the
    // core's own `update` and `finish` cut them). Each is read into its place in the batch,
    // where its worker seals it.
    let per_batch = (BATCH / frame).max(1);
    let cipher = OnceLock::from(encryptor.frame_cipher().expect("a new encryptor has its key"));
    let mut out = Vec::new();
    thread::scope(|scope| -> Result<(), Error> {
        let mut workers = Workers::spawn(scope, &cipher, Work::Seal);
        let mut spare = Batch::default();
        // Heads from the core, written with each sealed frame in one vectored write.
        let mut heads = Vec::new();
        let mut ends = Vec::new();
        let mut write = |batch: &mut Batch, encryptor: &mut Encryptor| -> Result<(), Error> {
            if let Some(e) = batch.failure.take() {
                return Err(e);
            }
            heads.clear();
            ends.clear();
            for (_, sealed) in batch.frames() {
                encryptor.frame_sealed(Some(sealed), &mut heads)?;
                ends.push(heads.len());
            }
            let mut start = 0;
            let mut slices = Vec::with_capacity(2 * ends.len());
            for ((_, sealed), &end) in batch.frames().zip(&ends) {
                slices.push(IoSlice::new(&heads[start..end]));
                slices.push(IoSlice::new(sealed));
                start = end;
            }
            output.write_vectored(&mut slices)?;
            batch.clear();
            Ok(())
        };
        loop {
            let mut batch = std::mem::take(&mut spare);
            batch.sealed.clear();
            // Room for a batch of small frames; a larger frame grows as it is read, so that
            // a huge frame length costs only the bytes the input has.
            batch.sealed.reserve(per_batch * (frame + TAG_LEN));
            let mut last = false;
            for _ in 0..per_batch {
                let at = batch.sealed.len();
                let n = input
                    .by_ref()
                    .take(frame as u64)
                    .read_to_end(&mut batch.sealed)
                    .map_err(Error::io("cannot read", args.common.input.as_ref()))?;
                batch.sealed.resize(at + n + TAG_LEN, 0);
                progress.add(n);
                batch.jobs.push(encryptor.frame_job(n, n < frame)?);
                if n < frame {
                    last = true;
                    break;
                }
            }
            if let Some(mut done) = workers.send(batch) {
                write(&mut done, &mut encryptor)?;
                spare = done;
            }
            if last {
                break;
            }
        }
        while let Some(mut done) = workers.next() {
            write(&mut done, &mut encryptor)?;
        }
        Ok(())
    })?;
    encryptor.finish(&mut out)?;
    output.write(&out)?;
    progress.done();
    output.commit()
}

pub(crate) fn decrypt(args: &DecryptArgs, key_server: &KeyServerArgs) -> Result<(), Error> {
    let Keyrings { keyring, .. } = keyring(&args.common, key_server, Purpose::Decrypt)?;
    let options = DecryptOptions {
        commitment_policy: if args.allow_legacy {
            CommitmentPolicy::RequireEncryptAllowDecrypt
        } else {
            CommitmentPolicy::RequireEncryptRequireDecrypt
        },
        expected_context: context(&args.common.context)?,
        limits: Limits {
            max_encrypted_data_keys: args.max_encrypted_data_keys,
            ..Limits::default()
        },
        ..DecryptOptions::default()
    };
    let mut decryptor = Decryptor::with_detached_frames(options);
    let (mut input, size) = open_input(args.common.input.as_ref())?;
    // Plaintext goes to a temporary file beside OUT, renamed only once every check passed.
    let mut output = Output::create(args.common.output.as_ref())?;
    let mut progress = Progress::new(size);
    let cipher = OnceLock::new();
    // A signed message's final frame, released only once the signature verifies.
    let mut held = Zeroizing::new(Vec::new());
    thread::scope(|scope| -> Result<(), Error> {
        let mut workers = Workers::spawn(scope, &cipher, Work::Open);
        // The opened frames' plaintext, released in one vectored write once the core took
        // each as opened.
        let mut write = |batch: &mut Batch, decryptor: &mut Decryptor| -> Result<(), Error> {
            let mut slices = Vec::with_capacity(batch.opened);
            for (job, frame) in batch.frames().take(batch.opened) {
                decryptor.frame_opened(job.sequence(), true)?;
                let plaintext = &frame[..job.plaintext_len()];
                match job.hold() {
                    true => held.extend_from_slice(plaintext),
                    false => slices.push(IoSlice::new(plaintext)),
                }
            }
            output.write_vectored(&mut slices)?;
            if let Some(e) = batch.failure.take() {
                return Err(e);
            }
            batch.clear();
            Ok(())
        };
        let mut buf = vec![0u8; CHUNK];
        let mut bodies = Bodies::default();
        let mut scratch = Vec::new();
        // A failure found while frames are in flight (the signature, say, which covers a
        // frame that fails its tag) yields to theirs: the first in the message is reported.
        let fed = (|| -> Result<(), Error> {
            loop {
                let n = read(&mut input, &mut buf, args.common.input.as_ref())?;
                let mut rest = &buf[..n];
                while !rest.is_empty() {
                    if bodies.awaited() {
                        if let Some(full) = bodies.take(&mut rest, &mut decryptor)?
                            && let Some(mut done) = workers.send(full)
                        {
                            write(&mut done, &mut decryptor)?;
                            bodies.reuse(done);
                        }
                        continue;
                    }
                    let step = decryptor.update(rest, &mut scratch)?;
                    debug_assert!(scratch.is_empty(), "detached frames release no plaintext");
                    rest = &rest[step.consumed..];
                    match step.state {
                        DecryptState::NeedDataKey => {
                            decryptor.unwrap_with(keyring.as_ref())?;
                            let key = decryptor.frame_cipher().expect("the header is verified");
                            cipher.get_or_init(|| key);
                        }
                        DecryptState::FrameBody => bodies.expect(&decryptor),
                        _ => {}
                    }
                }
                progress.add(n);
                if n == 0 {
                    return Ok(());
                }
            }
        })();
        if let Err(e) = fed {
            return Err(workers.first_failure().unwrap_or(e));
        }
        if let Some(rest) = bodies.complete()
            && let Some(mut done) = workers.send(rest)
        {
            write(&mut done, &mut decryptor)?;
        }
        while let Some(mut done) = workers.next() {
            write(&mut done, &mut decryptor)?;
        }
        Ok(())
    })?;
    decryptor.finish()?;
    output.write(&held)?;
    progress.done();
    output.commit()
}

/// Decrypt: frame bodies copied from the input into the batch being filled.
#[derive(Default)]
struct Bodies {
    batch: Batch,
    /// Bytes of the awaited body still to come, if one is awaited.
    left: Option<usize>,
}

impl Bodies {
    fn awaited(&self) -> bool {
        self.left.is_some()
    }

    /// At [`DecryptState::FrameBody`]: the body of the decryptor's job comes next.
    fn expect(&mut self, decryptor: &Decryptor) {
        let job = decryptor.frame_job().expect("a frame body is awaited").clone();
        self.left = Some(job.sealed_len());
        self.batch.jobs.push(job);
    }

    /// Takes what `rest` holds of the awaited body, and gives the decryptor a body once whole
    /// (a signed message hashes it). Returns the batch once it is full or ends the message.
    fn take(
        &mut self,
        rest: &mut &[u8],
        decryptor: &mut Decryptor,
    ) -> Result<Option<Batch>, Error> {
        let left = self.left.expect("a body is awaited");
        let take = left.min(rest.len());
        self.batch.sealed.extend_from_slice(&rest[..take]);
        *rest = &rest[take..];
        if take < left {
            self.left = Some(left - take);
            return Ok(None);
        }
        self.left = None;
        let sealed = &self.batch.sealed;
        let job = self.batch.jobs.last().expect("the awaited job");
        decryptor.frame_body(Some(&sealed[sealed.len() - job.sealed_len()..]))?;
        Ok((sealed.len() >= BATCH || job.is_final()).then(|| std::mem::take(&mut self.batch)))
    }

    /// A batch done with, to fill again.
    fn reuse(&mut self, mut batch: Batch) {
        batch.sealed.clear();
        self.batch = batch;
    }

    /// At the end of the input: the whole bodies not yet sent, if any. A body cut short is
    /// left out: the decryptor reports the truncation.
    fn complete(mut self) -> Option<Batch> {
        if self.left.is_some() {
            self.batch.jobs.pop();
        }
        (!self.batch.jobs.is_empty()).then_some(self.batch)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Encrypt,
    Decrypt,
}

/// The keyring of all keys, and whether an AWS KMS RSA key is among them (encrypt).
struct Keyrings {
    keyring: Box<dyn Keyring>,
    kms_rsa: bool,
}

/// One keyring for all keys: `--server-key`s first (the first one generates), then
/// `--kms-key`s, then `--rsa-key`s.
///
/// A `--kms-key` is described (DescribeKey) to encrypt: `SYMMETRIC_DEFAULT` makes the AWS KMS
/// keyring (GenerateDataKey when it is the generator, else Encrypt), `RSA_*` the AWS KMS RSA
/// keyring (its public key fetched now). To decrypt, nothing is asked before the message's
/// EDKs: each key gets both keyrings, and an EDK goes to the one of its provider ID (`aws-kms`
/// or `aws-kms-rsa`), so a caller allowed only `Decrypt` (a grant, say) can decrypt.
///
/// To encrypt, each server key's public key is fetched now, so that a refused or unknown key
/// fails before any input is read. To decrypt, one server keyring is enough: it sends every
/// key-server EDK to the server, whichever key it names, and nothing is fetched.
fn keyring(
    args: &CommonArgs,
    key_server: &KeyServerArgs,
    purpose: Purpose,
) -> Result<Keyrings, Error> {
    let mut keyrings: Vec<Box<dyn Keyring>> = Vec::new();
    let mut kms_rsa = false;
    if !args.server_keys.is_empty() {
        let client = key_server.client()?;
        let keys = match purpose {
            Purpose::Encrypt => &args.server_keys[..],
            Purpose::Decrypt => &args.server_keys[..1],
        };
        for key in keys {
            let keyring = KeyServerKeyring::new(client.clone(), key);
            if purpose == Purpose::Encrypt {
                keyring.fetch_public_key()?;
            }
            keyrings.push(Box::new(keyring));
        }
    }
    if !args.kms_keys.is_empty() {
        let algorithm: KmsEncryptionAlgorithm =
            args.kms_encryption_algorithm.parse().map_err(|e| Error::Kms(format!("{e}")))?;
        let kms = |e: cipherdrop::KmsKeyError| Error::Kms(e.to_string());
        for arn in &args.kms_keys {
            let rules = KmsSymmetricRules::new(arn, args.kms_grant_tokens.clone()).map_err(kms)?;
            let client = KmsHttpClient::for_region(rules.region()).map_err(Error::Kms)?;
            let symmetric = |client: &KmsHttpClient| {
                AwsKmsKeyring::new(arn, rules.grant_tokens().to_vec(), Box::new(client.clone()))
            };
            match purpose {
                Purpose::Encrypt => {
                    let spec = client.key_spec(arn).map_err(Error::Kms)?;
                    if spec == "SYMMETRIC_DEFAULT" {
                        keyrings.push(Box::new(symmetric(&client).map_err(kms)?));
                    } else if spec.starts_with("RSA_") {
                        let rsa = KmsRsaRules::new(arn, algorithm).map_err(kms)?;
                        let public = client.public_key(&rsa).map_err(Error::Kms)?;
                        let keyring = AwsKmsRsaKeyring::new(
                            arn,
                            algorithm,
                            Some(&public),
                            Some(Box::new(client)),
                        )
                        .map_err(kms)?;
                        keyrings.push(Box::new(keyring));
                        kms_rsa = true;
                    } else {
                        return Err(Error::Kms(format!(
                            "{arn} has KeySpec {spec}: only SYMMETRIC_DEFAULT and RSA_* keys \
                             encrypt data keys"
                        )));
                    }
                }
                Purpose::Decrypt => {
                    keyrings.push(Box::new(symmetric(&client).map_err(kms)?));
                    let keyring =
                        AwsKmsRsaKeyring::new(arn, algorithm, None, Some(Box::new(client)))
                            .map_err(kms)?;
                    keyrings.push(Box::new(keyring));
                }
            }
        }
    }
    if !args.rsa_keys.is_empty() {
        let hash: OaepHash =
            args.oaep.parse().map_err(|e| Error::Key(format!("--oaep {}", args.oaep), e))?;
        for spec in &args.rsa_keys {
            let (namespace, rest) = spec.split_once('/').ok_or_else(|| bad_key(spec))?;
            let (name, path) = rest.split_once('=').ok_or_else(|| bad_key(spec))?;
            let pem =
                std::fs::read(path).map_err(Error::io("cannot read key", Some(&path.into())))?;
            let keyring = RawRsaKeyring::from_pem(namespace, name, &pem, hash)
                .map_err(|e| Error::Key(format!("{namespace}/{name}"), e))?;
            keyrings.push(Box::new(keyring));
        }
    }
    if keyrings.is_empty() {
        return Err(Error::Usage("give at least one --rsa-key, --server-key or --kms-key".into()));
    }
    let generator = keyrings.remove(0);
    let keyring = if keyrings.is_empty() {
        generator
    } else {
        Box::new(MultiKeyring::new(generator, keyrings))
    };
    Ok(Keyrings { keyring, kms_rsa })
}

fn bad_key(spec: &str) -> Error {
    Error::Usage(format!("--rsa-key {spec:?}: expected NAMESPACE/NAME=PEM"))
}

fn context(pairs: &[String]) -> Result<EncryptionContext, Error> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
            None => Err(Error::Usage(format!("--context {pair:?}: expected KEY=VALUE"))),
        })
        .collect()
}

fn is_stdio(path: Option<&PathBuf>) -> bool {
    path.is_none_or(|p| p.as_os_str() == "-")
}

/// The input stream and its size, when it is a regular file.
fn open_input(path: Option<&PathBuf>) -> Result<(Box<dyn Read>, Option<u64>), Error> {
    if is_stdio(path) {
        return Ok((Box::new(io::stdin().lock()), None));
    }
    let file = File::open(path.expect("not stdin")).map_err(Error::io("cannot open", path))?;
    let size = file.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
    Ok((Box::new(file), size))
}

fn read(input: &mut dyn Read, buf: &mut [u8], path: Option<&PathBuf>) -> Result<usize, Error> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r.map_err(Error::io("cannot read", path)),
        }
    }
}

/// Standard output; a temporary file beside OUT that becomes OUT on `commit` (dropped without
/// `commit`, the temporary file is deleted); or, when OUT exists and is not a regular file (a
/// pipe, a device such as /dev/null), OUT itself: renaming over it would replace the device.
enum Output {
    Stdout(io::StdoutLock<'static>),
    File { temp: tempfile::NamedTempFile, path: PathBuf },
    Special { file: File, path: PathBuf },
}

impl Output {
    fn create(path: Option<&PathBuf>) -> Result<Self, Error> {
        if is_stdio(path) {
            return Ok(Self::Stdout(io::stdout().lock()));
        }
        let path = path.expect("not stdout").clone();
        if std::fs::metadata(&path).is_ok_and(|m| !m.is_file()) {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(Error::io("cannot open", Some(&path)))?;
            return Ok(Self::Special { file, path });
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".cipherdrop-")
            .tempfile_in(dir)
            .map_err(Error::io("cannot create a temporary file in", Some(&dir.to_path_buf())))?;
        Ok(Self::File { temp, path })
    }

    /// The stream to write to, and its path for errors.
    fn writer(&mut self) -> (&mut dyn Write, Option<&PathBuf>) {
        match self {
            Self::Stdout(s) => (s, None),
            Self::File { temp, path } => (temp, Some(&*path)),
            Self::Special { file, path } => (file, Some(&*path)),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let (writer, path) = self.writer();
        writer.write_all(bytes).map_err(Error::io("cannot write", path))
    }

    /// Writes every slice, in order, with as few system calls as the writer allows.
    fn write_vectored(&mut self, mut slices: &mut [IoSlice<'_>]) -> Result<(), Error> {
        let (writer, path) = self.writer();
        // Empty slices (an empty final frame) left out: a write of nothing returns 0.
        IoSlice::advance_slices(&mut slices, 0);
        while !slices.is_empty() {
            match writer.write_vectored(slices) {
                Ok(0) => {
                    let e = io::Error::from(io::ErrorKind::WriteZero);
                    return Err(Error::io("cannot write", path)(e));
                }
                Ok(n) => IoSlice::advance_slices(&mut slices, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("cannot write", path)(e)),
            }
        }
        Ok(())
    }

    fn commit(self) -> Result<(), Error> {
        match self {
            Self::Stdout(mut s) => s.flush().map_err(Error::io("cannot write", None)),
            Self::File { temp, path } => {
                temp.as_file().sync_all().map_err(Error::io("cannot write", Some(&path)))?;
                temp.persist(&path)
                    .map_err(|e| Error::io("cannot rename to", Some(&path))(e.error))?;
                Ok(())
            }
            Self::Special { mut file, path } => {
                file.flush().map_err(Error::io("cannot write", Some(&path)))
            }
        }
    }
}

/// Percentage on stderr for large inputs, only when stderr is a terminal.
struct Progress {
    total: Option<u64>,
    done: u64,
    shown: u64,
}

impl Progress {
    fn new(total: Option<u64>) -> Self {
        let total = total.filter(|t| *t >= PROGRESS_THRESHOLD && io::stderr().is_terminal());
        Self { total, done: 0, shown: 0 }
    }

    fn add(&mut self, n: usize) {
        self.done += n as u64;
        if let Some(total) = self.total {
            let percent = self.done * 100 / total;
            if percent > self.shown {
                self.shown = percent;
                eprint!("\r{percent:3}%");
            }
        }
    }

    fn done(&self) {
        if self.total.is_some() {
            eprintln!();
        }
    }
}
