//! The root of trust: the AES-256-GCM key that seals every private key at rest. It is either
//! 32 bytes the process holds (a file or the environment), or a secret-key object in a
//! PKCS#11 token (an HSM; SoftHSM2 in the tests) that seals and opens inside the token and
//! never leaves it.
//!
//! Both kinds write the same sealed form, `nonce || ciphertext || tag` with the row's name as
//! AAD, so material moves between them by re-sealing (`cipherdrop root rotate`). During a
//! rotation a server holds the new key and the previous one: it seals under the new key and
//! opens under whichever of the two sealed the row.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::error::DomainError;
use super::secrets;

/// GCM tag length.
const TAG_BITS: u64 = 128;

/// The root key in force, and during a rotation the one it replaces.
#[derive(Debug)]
pub struct RootKey {
    current: Sealer,
    previous: Option<Sealer>,
}

/// One AES-256-GCM key, held here or in a token.
enum Sealer {
    Local(LessSafeKey),
    Token(TokenKey),
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local(_) => f.write_str("Local(..)"),
            Self::Token(t) => write!(f, "Token({})", t.name),
        }
    }
}

/// Where a root key is: `pkcs11:…` (RFC 7512) or a file of 32 bytes (`file:PATH` or PATH).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootKeySpec {
    /// A file holding the 32 bytes.
    File(PathBuf),
    /// A secret-key object in a PKCS#11 token.
    Pkcs11(Pkcs11Uri),
}

impl std::str::FromStr for RootKeySpec {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, DomainError> {
        if s.starts_with("pkcs11:") {
            Ok(Self::Pkcs11(s.parse()?))
        } else {
            let path = s.strip_prefix("file:").unwrap_or(s);
            if path.is_empty() {
                return Err(DomainError::Misconfigured("root key: an empty path".into()));
            }
            Ok(Self::File(path.into()))
        }
    }
}

impl RootKey {
    /// A root key from its 32 bytes.
    pub fn new(bytes: &[u8]) -> Result<Self, DomainError> {
        Ok(Self { current: Sealer::local(bytes)?, previous: None })
    }

    /// The root key `spec` names (a token object must exist: `cipherdrop root init`).
    pub fn open(spec: &RootKeySpec) -> Result<Self, DomainError> {
        Ok(Self { current: Sealer::from_spec(spec)?, previous: None })
    }

    /// This key, also opening what `previous` sealed (for a rotation).
    pub fn with_previous(self, previous: RootKey) -> Self {
        Self { current: self.current, previous: Some(previous.current) }
    }

    /// `nonce || ciphertext || tag` under the current key, bound to `label` (key ID and
    /// version) as AAD, so a sealed key cannot be moved to another row.
    pub(crate) fn seal(&self, label: &str, plaintext: &[u8]) -> Result<Vec<u8>, DomainError> {
        self.current.seal(label, plaintext)
    }

    /// Opens what the current key, or else the previous one, sealed.
    pub(crate) fn open_sealed(
        &self,
        label: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, DomainError> {
        match (self.current.open(label, sealed), &self.previous) {
            (Ok(plain), _) => Ok(plain),
            (Err(_), Some(previous)) => previous.open(label, sealed),
            (Err(e), None) => Err(e),
        }
    }

    /// `sealed` re-sealed under the current key, or `None` if the current key sealed it.
    pub(crate) fn reseal(
        &self,
        label: &str,
        sealed: &[u8],
    ) -> Result<Option<Vec<u8>>, DomainError> {
        if self.current.open(label, sealed).is_ok() {
            return Ok(None);
        }
        let previous = self.previous.as_ref().ok_or_else(not_sealed)?;
        let plain = previous.open(label, sealed)?;
        self.current.seal(label, &plain).map(Some)
    }
}

fn not_sealed() -> DomainError {
    DomainError::internal("sealed private key does not open")
}

impl Sealer {
    fn local(bytes: &[u8]) -> Result<Self, DomainError> {
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| DomainError::Misconfigured("root key must be 32 bytes".into()))?;
        Ok(Self::Local(LessSafeKey::new(key)))
    }

    fn from_spec(spec: &RootKeySpec) -> Result<Self, DomainError> {
        match spec {
            RootKeySpec::File(path) => Self::local(&secrets::read_secret(path)?),
            RootKeySpec::Pkcs11(uri) => TokenKey::find(uri).map(Self::Token),
        }
    }

    fn seal(&self, label: &str, plaintext: &[u8]) -> Result<Vec<u8>, DomainError> {
        let mut nonce = secrets::random::<NONCE_LEN>()?;
        let body = match self {
            Self::Local(key) => {
                let mut out = plaintext.to_vec();
                key.seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(label),
                    &mut out,
                )
                .map_err(|_| DomainError::internal("seal failed"))?;
                out
            }
            Self::Token(token) => token.seal(&mut nonce, label, plaintext)?,
        };
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&body);
        Ok(sealed)
    }

    fn open(&self, label: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, DomainError> {
        let (nonce, body) = sealed.split_at_checked(NONCE_LEN).ok_or_else(not_sealed)?;
        match self {
            Self::Local(key) => {
                let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| not_sealed())?;
                let mut buf = Zeroizing::new(body.to_vec());
                let len = key
                    .open_in_place(nonce, Aad::from(label), &mut buf)
                    .map_err(|_| not_sealed())?
                    .len();
                buf.truncate(len);
                Ok(buf)
            }
            Self::Token(token) => {
                let mut nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| not_sealed())?;
                token.open(&mut nonce, label, body)
            }
        }
    }
}

/// A PKCS#11 URI (RFC 7512) naming the root key's token and object, the module that drives
/// the token and the user PIN. Path attributes: `token`, `serial`, `slot-id` (the token),
/// `object`, `id` (the object), `type` (must be `secret-key`); query attributes:
/// `module-path` (the module file; else CIPHERDROP_PKCS11_MODULE), `pin-value` or
/// `pin-source` (a file; else CIPHERDROP_PKCS11_PIN). Unknown attributes are refused, so
/// that a typo never selects another token or object.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkcs11Uri {
    token: Option<String>,
    serial: Option<String>,
    slot_id: Option<u64>,
    object: Option<String>,
    id: Option<Vec<u8>>,
    module: Option<PathBuf>,
    pin_value: Option<Zeroizing<String>>,
    pin_source: Option<PathBuf>,
}

impl std::fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

impl std::str::FromStr for Pkcs11Uri {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, DomainError> {
        let bad = |why: String| DomainError::Misconfigured(format!("PKCS#11 URI: {why}"));
        let rest =
            s.strip_prefix("pkcs11:").ok_or_else(|| bad("must start with pkcs11:".into()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut uri = Pkcs11Uri {
            token: None,
            serial: None,
            slot_id: None,
            object: None,
            id: None,
            module: None,
            pin_value: None,
            pin_source: None,
        };
        let attributes = path
            .split(';')
            .map(|a| (a, true))
            .chain(query.split('&').map(|a| (a, false)))
            .filter(|(a, _)| !a.is_empty());
        for (attribute, in_path) in attributes {
            let (name, value) = attribute.split_once('=').ok_or_else(|| {
                bad(format!(
                    "{name:?} has no value",
                    name = attribute.split('=').next().unwrap_or("")
                ))
            })?;
            let bytes =
                percent_decode(value).ok_or_else(|| bad(format!("{name}: bad %-escape")))?;
            let text =
                || String::from_utf8(bytes.clone()).map_err(|_| bad(format!("{name}: not UTF-8")));
            let duplicate = || bad(format!("{name} given twice"));
            let slot = match (in_path, name) {
                (true, "token") => set(&mut uri.token, text()?),
                (true, "serial") => set(&mut uri.serial, text()?),
                (true, "slot-id") => {
                    let id = text()?.parse().map_err(|_| bad("slot-id: not a number".into()))?;
                    set(&mut uri.slot_id, id)
                }
                (true, "object") => set(&mut uri.object, text()?),
                (true, "id") => set(&mut uri.id, bytes.clone()),
                (true, "type") if text()? == "secret-key" => true,
                (true, "type") => return Err(bad("type: the root key is a secret-key".into())),
                (false, "module-path") => set(&mut uri.module, PathBuf::from(text()?)),
                (false, "pin-value") => set(&mut uri.pin_value, Zeroizing::new(text()?)),
                (false, "pin-source") => {
                    let source = text()?;
                    let path = source.strip_prefix("file:").unwrap_or(&source);
                    set(&mut uri.pin_source, PathBuf::from(path))
                }
                _ => return Err(bad(format!("unknown attribute {name:?}"))),
            };
            if !slot {
                return Err(duplicate());
            }
        }
        if uri.pin_value.is_some() && uri.pin_source.is_some() {
            return Err(bad("pin-value and pin-source both given".into()));
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(bad("name the key with object= or id=".into()));
        }
        if uri.token.is_none() && uri.serial.is_none() && uri.slot_id.is_none() {
            return Err(bad("name the token with token=, serial= or slot-id=".into()));
        }
        Ok(uri)
    }
}

/// Sets an attribute once; false if it was set already.
fn set<T>(field: &mut Option<T>, value: T) -> bool {
    field.replace(value).is_none()
}

/// RFC 3986 percent-decoding; `None` for a malformed escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    Some(out)
}

impl Pkcs11Uri {
    /// The URI as it may be logged: without the PIN.
    pub fn shown(&self) -> String {
        let mut parts = Vec::new();
        for (name, value) in
            [("token", &self.token), ("serial", &self.serial), ("object", &self.object)]
        {
            if let Some(v) = value {
                parts.push(format!("{name}={v}"));
            }
        }
        if let Some(slot) = self.slot_id {
            parts.push(format!("slot-id={slot}"));
        }
        if let Some(id) = &self.id {
            parts
                .push(format!("id={}", id.iter().map(|b| format!("%{b:02x}")).collect::<String>()));
        }
        format!("pkcs11:{}", parts.join(";"))
    }

    fn module(&self) -> Result<PathBuf, DomainError> {
        self.module
            .clone()
            .or_else(|| std::env::var_os("CIPHERDROP_PKCS11_MODULE").map(PathBuf::from))
            .ok_or_else(|| {
                DomainError::Misconfigured(
                    "PKCS#11: no module: give module-path= in the URI or CIPHERDROP_PKCS11_MODULE"
                        .into(),
                )
            })
    }

    fn pin(&self) -> Result<AuthPin, DomainError> {
        if let Some(pin) = &self.pin_value {
            return Ok(AuthPin::from(pin.as_str()));
        }
        if let Some(path) = &self.pin_source {
            let pin = secrets::read_secret(path)?;
            let pin = std::str::from_utf8(&pin)
                .map_err(|_| DomainError::Misconfigured("PKCS#11 PIN file: not UTF-8".into()))?;
            return Ok(AuthPin::from(pin.trim_end_matches(['\r', '\n'])));
        }
        match std::env::var("CIPHERDROP_PKCS11_PIN") {
            Ok(pin) => Ok(AuthPin::from(Zeroizing::new(pin).as_str())),
            Err(_) => Err(DomainError::Misconfigured(
                "PKCS#11: no PIN: give pin-source= in the URI or CIPHERDROP_PKCS11_PIN".into(),
            )),
        }
    }
}

/// The root key's object in a token, with sessions kept open for reuse (a session serves one
/// operation at a time; the crypto pool runs one per thread).
struct TokenKey {
    name: String,
    context: Pkcs11,
    slot: Slot,
    key: ObjectHandle,
    pin: AuthPin,
    sessions: Mutex<Vec<Session>>,
}

/// One context per module: PKCS#11 allows one C_Initialize per process.
fn context(module: &Path) -> Result<Pkcs11, DomainError> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut contexts = CONTEXTS
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| DomainError::internal("PKCS#11 contexts poisoned"))?;
    if let Some(context) = contexts.get(module) {
        return Ok(context.clone());
    }
    let failed = |e: P11Error| {
        DomainError::Misconfigured(format!("PKCS#11 module {}: {e}", module.display()))
    };
    let context = Pkcs11::new(module).map_err(failed)?;
    context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).map_err(failed)?;
    contexts.insert(module.to_path_buf(), context.clone());
    Ok(context)
}

/// What a token said, for the operator (never the PIN).
fn token_error(what: &str, e: P11Error) -> DomainError {
    DomainError::Misconfigured(format!("PKCS#11 {what}: {e}"))
}

impl TokenKey {
    /// Finds the token and the one AES key object `uri` names, logged in as the user.
    fn find(uri: &Pkcs11Uri) -> Result<Self, DomainError> {
        let (context, slot, pin) = Self::login_target(uri)?;
        let session = context.open_ro_session(slot).map_err(|e| token_error("session", e))?;
        login(&session, &pin)?;
        let mut template = vec![Attribute::Class(ObjectClass::SECRET_KEY)];
        template.extend(object_attributes(uri));
        let found = session.find_objects(&template).map_err(|e| token_error("find", e))?;
        let key = match found.as_slice() {
            [key] => *key,
            [] => {
                return Err(DomainError::Misconfigured(format!(
                    "{}: no such key in the token (make it with `cipherdrop root init`)",
                    uri.shown()
                )));
            }
            _ => {
                return Err(DomainError::Misconfigured(format!(
                    "{}: names {} keys; name one (id=)",
                    uri.shown(),
                    found.len()
                )));
            }
        };
        check_key(&session, key, uri)?;
        Ok(Self { name: uri.shown(), context, slot, key, pin, sessions: Mutex::new(vec![session]) })
    }

    /// Makes the AES-256 key `uri` names in its token: sensitive and never extractable, so
    /// its value never leaves the token; usable only to encrypt and decrypt.
    pub(crate) fn create(uri: &Pkcs11Uri) -> Result<String, DomainError> {
        let (context, slot, pin) = Self::login_target(uri)?;
        let session = context.open_rw_session(slot).map_err(|e| token_error("session", e))?;
        login(&session, &pin)?;
        let mut template = vec![Attribute::Class(ObjectClass::SECRET_KEY)];
        template.extend(object_attributes(uri));
        if !session.find_objects(&template).map_err(|e| token_error("find", e))?.is_empty() {
            return Err(DomainError::InvalidState(format!(
                "{}: the token has that key already",
                uri.shown()
            )));
        }
        template.extend([
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Modifiable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Derive(false),
        ]);
        session
            .generate_key(&Mechanism::AesKeyGen, &template)
            .map_err(|e| token_error("key generation", e))?;
        Ok(uri.shown())
    }

    fn login_target(uri: &Pkcs11Uri) -> Result<(Pkcs11, Slot, AuthPin), DomainError> {
        let context = context(&uri.module()?)?;
        let pin = uri.pin()?;
        let slots = context.get_slots_with_token().map_err(|e| token_error("slots", e))?;
        let mut matching = Vec::new();
        for slot in slots {
            let info = context.get_token_info(slot).map_err(|e| token_error("token info", e))?;
            let fits = uri.token.as_deref().is_none_or(|t| info.label() == t)
                && uri.serial.as_deref().is_none_or(|s| info.serial_number() == s)
                && uri.slot_id.is_none_or(|id| slot.id() == id);
            if fits {
                matching.push(slot);
            }
        }
        match matching.as_slice() {
            [slot] => Ok((context, *slot, pin)),
            [] => Err(DomainError::Misconfigured(format!("{}: no such token", uri.shown()))),
            _ => Err(DomainError::Misconfigured(format!(
                "{}: names {} tokens; name one (serial=)",
                uri.shown(),
                matching.len()
            ))),
        }
    }

    fn seal(
        &self,
        nonce: &mut [u8; NONCE_LEN],
        label: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, DomainError> {
        self.with_session(|session| {
            let params = GcmParams::new(nonce, label.as_bytes(), TAG_BITS.into())?;
            session.encrypt(&Mechanism::AesGcm(params), self.key, plaintext)
        })
        .map_err(|e| DomainError::internal(format!("PKCS#11 seal: {e}")))
    }

    fn open(
        &self,
        nonce: &mut [u8; NONCE_LEN],
        label: &str,
        body: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, DomainError> {
        self.with_session(|session| {
            let params = GcmParams::new(nonce, label.as_bytes(), TAG_BITS.into())?;
            session.decrypt(&Mechanism::AesGcm(params), self.key, body).map(Zeroizing::new)
        })
        .map_err(|_| not_sealed())
    }

    /// Runs `op` on a free session (opening one if none is). A session the token dropped
    /// (token reset, logged out) is replaced once.
    fn with_session<T>(
        &self,
        mut op: impl FnMut(&Session) -> Result<T, P11Error>,
    ) -> Result<T, P11Error> {
        let pooled = self.sessions.lock().ok().and_then(|mut s| s.pop());
        let session = match pooled {
            Some(session) => session,
            None => self.new_session()?,
        };
        match op(&session) {
            Err(P11Error::Pkcs11(
                RvError::SessionHandleInvalid | RvError::SessionClosed | RvError::UserNotLoggedIn,
                _,
            )) => {
                drop(session);
                let session = self.new_session()?;
                let result = op(&session);
                self.put_back(session);
                result
            }
            result => {
                self.put_back(session);
                result
            }
        }
    }

    fn new_session(&self) -> Result<Session, P11Error> {
        let session = self.context.open_ro_session(self.slot)?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e) => Err(e),
        }
    }

    fn put_back(&self, session: Session) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.push(session);
        }
    }
}

/// The attributes that select the object `uri` names.
fn object_attributes(uri: &Pkcs11Uri) -> Vec<Attribute> {
    let mut attributes = Vec::new();
    if let Some(label) = &uri.object {
        attributes.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        attributes.push(Attribute::Id(id.clone()));
    }
    attributes
}

fn login(session: &Session, pin: &AuthPin) -> Result<(), DomainError> {
    match session.login(UserType::User, Some(pin)) {
        Ok(()) | Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(e) => Err(token_error("login", e)),
    }
}

/// Refuses a root key that could leave the token or is not an AES-256 key.
fn check_key(session: &Session, key: ObjectHandle, uri: &Pkcs11Uri) -> Result<(), DomainError> {
    let attributes = session
        .get_attributes(
            key,
            &[
                AttributeType::KeyType,
                AttributeType::ValueLen,
                AttributeType::Sensitive,
                AttributeType::Extractable,
            ],
        )
        .map_err(|e| token_error("attributes", e))?;
    let (mut aes, mut len, mut sensitive, mut extractable) = (false, 0u64, false, true);
    for attribute in attributes {
        match attribute {
            Attribute::KeyType(t) => aes = t == KeyType::AES,
            Attribute::ValueLen(l) => len = l.into(),
            Attribute::Sensitive(s) => sensitive = s,
            Attribute::Extractable(e) => extractable = e,
            _ => {}
        }
    }
    if !aes || len != 32 {
        return Err(DomainError::Misconfigured(format!("{}: not an AES-256 key", uri.shown())));
    }
    if !sensitive || extractable {
        return Err(DomainError::Misconfigured(format!(
            "{}: the key may leave the token (sensitive={sensitive}, extractable={extractable}); \
             make one with `cipherdrop root init`",
            uri.shown()
        )));
    }
    Ok(())
}

/// `cipherdrop root init`: a new root key in a token.
pub fn create_in_token(uri: &Pkcs11Uri) -> Result<String, DomainError> {
    TokenKey::create(uri)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_strictly() {
        let uri: Pkcs11Uri =
            "pkcs11:token=my%20hsm;object=root?module-path=/m.so&pin-value=1234".parse().unwrap();
        assert_eq!(uri.token.as_deref(), Some("my hsm"));
        assert_eq!(uri.object.as_deref(), Some("root"));
        assert_eq!(uri.module.as_deref(), Some(Path::new("/m.so")));
        assert_eq!(uri.shown(), "pkcs11:token=my hsm;object=root");
        assert!(!format!("{uri:?}").contains("1234"));
        let id: Pkcs11Uri = "pkcs11:slot-id=3;id=%01%ff".parse().unwrap();
        assert_eq!(id.id, Some(vec![1, 0xff]));
        for bad in [
            "pkcs11:object=root",
            "pkcs11:token=t",
            "pkcs11:token=t;object=a;object=b",
            "pkcs11:token=t;object=r;tokn=x",
            "pkcs11:token=t;object=r?pin-value=1&pin-source=/p",
            "pkcs11:token=t;object=%zz",
            "pkcs11:token=t;object=%+f",
            "pkcs11:token=t;object=r;type=private",
            "pkcs11:token=t;object",
            "pkcs11:token=t;object=r?module-path",
        ] {
            assert!(bad.parse::<Pkcs11Uri>().is_err(), "{bad}");
        }
        assert_eq!("file:/k".parse::<RootKeySpec>().unwrap(), RootKeySpec::File("/k".into()));
        assert!(matches!("pkcs11:token=t;object=r".parse(), Ok(RootKeySpec::Pkcs11(_))));
    }

    #[test]
    fn a_rotation_opens_both_and_reseals_the_old() {
        let old = RootKey::new(&[1; 32]).unwrap();
        let sealed_old = old.seal("k/1", b"secret").unwrap();
        let both = RootKey::new(&[2; 32]).unwrap().with_previous(RootKey::new(&[1; 32]).unwrap());
        assert_eq!(&*both.open_sealed("k/1", &sealed_old).unwrap(), b"secret");
        let resealed = both.reseal("k/1", &sealed_old).unwrap().unwrap();
        assert!(both.reseal("k/1", &resealed).unwrap().is_none());
        assert!(old.open_sealed("k/1", &resealed).is_err());
        assert!(both.open_sealed("k/2", &resealed).is_err(), "bound to its label");
        let new_only = RootKey::new(&[2; 32]).unwrap();
        assert_eq!(&*new_only.open_sealed("k/1", &resealed).unwrap(), b"secret");
        assert!(new_only.open_sealed("k/1", &sealed_old).is_err());
    }
}
