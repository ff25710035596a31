//! The vault: the data key ring that encrypts everything, and the API keys stored under it.
//!
//! The ring is wrapped in a header (see `crate::crypto::envelope`) kept in the `meta` tree,
//! either under the user's password (Argon2id, with the local key file mixed in as a second
//! factor when present) or under the local key file alone. Unlocking reads only: a wrong
//! password leaves every file as it was. Methods here block (Argon2, fsync): call them from
//! `spawn_blocking`.

mod key_file;
mod password_source;
mod provider_keys;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::config::VaultConfig;
use crate::crypto::{CryptoError, KeyRing, Unlock, VaultHeader, record};
use crate::store::sealed::{Sealed, SealedError, new_id};
use crate::store::{Backend, Op, StoreError, Tree, TreeEntries};

pub use password_source::PASSWORD_ENV;
pub use provider_keys::{KeyFormatError, mask};

/// Where the header lives in the `meta` tree.
const HEADER_KEY: &[u8] = b"vault.header";

/// How many records have been sealed under the current data key (approximate across processes).
const SEALED_COUNT_KEY: &[u8] = b"vault.sealedCount";

/// Rotate the data key after this many encryptions: far below AES-GCM's 2^32 limit for random
/// nonces.
const ROTATE_AFTER: u64 = 1 << 30;

/// The trees whose records are encrypted.
const SEALED_TREES: [Tree; 3] = [Tree::Keys, Tree::Chats, Tree::Messages];

/// Minimum password length.
const MIN_PASSWORD_CHARS: usize = 8;

/// Why a vault call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("the vault is locked: unlock it with your password")]
    Locked,
    #[error("wrong password")]
    WrongPassword,
    #[error(transparent)]
    Crypto(CryptoError),
    #[error("invalid API key for {provider}: {reason} (expected {expected})")]
    InvalidKey {
        provider: String,
        expected: String,
        reason: String,
    },
    #[error("the current password is needed for this")]
    CurrentPasswordNeeded,
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    WeakPassword,
    #[error("this needs `confirm: true`: it cannot be undone")]
    ConfirmationRequired,
    #[error("no key stored for {0}")]
    NoSuchKey(String),
    #[error("the local key file {path}: {message}")]
    KeyFile { path: PathBuf, message: String },
    #[error("password command: {0}")]
    PasswordCommand(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a stored record has an unexpected shape: {0}")]
    Shape(String),
}

impl From<SealedError> for VaultError {
    fn from(error: SealedError) -> Self {
        match error {
            SealedError::Store(error) => VaultError::Store(error),
            SealedError::Crypto(error) => VaultError::from(error),
            SealedError::Shape(message) => VaultError::Shape(message),
        }
    }
}

impl From<CryptoError> for VaultError {
    fn from(error: CryptoError) -> Self {
        match error {
            CryptoError::WrongPassword => VaultError::WrongPassword,
            // Records sealed under a key this process does not hold: another chinwag rotated
            // the data key. Unlocking again picks up the new ring.
            CryptoError::UnknownGeneration(_) => VaultError::Locked,
            other => VaultError::Crypto(other),
        }
    }
}

/// What protects the data key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Protection {
    Password,
    LocalKey,
}

/// `vault/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultStatus {
    /// `locked` or `unlocked`.
    pub state: &'static str,
    pub protection: Protection,
    /// Whether the local key file is part of the protection.
    pub key_file: bool,
    pub auto_lock_minutes: Option<u64>,
    /// Said plainly when the protection is weaker than a password.
    pub warning: Option<String>,
}

/// One stored API key, as listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredKey {
    pub provider: String,
    pub masked: String,
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct KeyRecord {
    provider: String,
    key: String,
}

enum State {
    Locked,
    Unlocked(Arc<KeyRing>),
}

/// The vault service.
pub struct Vault {
    backend: Arc<dyn Backend>,
    key_file_path: PathBuf,
    config: VaultConfig,
    state: Mutex<State>,
    /// One Argon2 derivation at a time.
    unlocking: Mutex<()>,
    /// The environment/command password failed; do not retry it until the next lock/unlock.
    automatic_failed: AtomicBool,
    last_used: Mutex<Instant>,
}

impl Vault {
    /// Open the vault kept in `backend`, creating one on first use: under `CHINWAG_PASSWORD`
    /// when set, else under a new local key file at `key_file_path`.
    pub fn open(
        backend: Arc<dyn Backend>,
        key_file_path: PathBuf,
        config: VaultConfig,
    ) -> Result<Vault, VaultError> {
        let vault = Vault {
            backend,
            key_file_path,
            config,
            state: Mutex::new(State::Locked),
            unlocking: Mutex::new(()),
            automatic_failed: AtomicBool::new(false),
            last_used: Mutex::new(Instant::now()),
        };
        if vault.header()?.is_none() {
            vault.create()?;
        }
        Ok(vault)
    }

    /// Create the first header, holding a file lock so two processes starting at once agree.
    fn create(&self) -> Result<(), VaultError> {
        let lock_path = self.key_file_path.with_extension("init.lock");
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|error| self.key_file_error(error.to_string()))?;
        // Released when `lock_file` is dropped.
        lock_file
            .lock()
            .map_err(|error| self.key_file_error(error.to_string()))?;
        if self.header()?.is_some() {
            return Ok(());
        }
        let ring = KeyRing::new(vec![crate::crypto::DataKey::generate(1)?])?;
        let header = match password_source::from_env() {
            Some(password) => {
                self.check_new_password(&password)?;
                let key_file = self.read_key_file()?;
                self.seal_password(&ring, &password, key_file.as_ref())?
            }
            None => {
                let key_file = self.read_or_create_key_file()?;
                VaultHeader::seal(&ring, &Unlock::LocalKey(&key_file), &self.config.kdf)?
            }
        };
        self.write_header(&header, Vec::new())?;
        tracing::info!("created a new vault");
        *self.lock_state() = State::Unlocked(Arc::new(ring));
        Ok(())
    }

    /// The vault's state and protection.
    ///
    /// A vault under the local key file needs nothing from the user, so it is never reported
    /// locked: asking for its status opens it.
    pub fn status(&self) -> Result<VaultStatus, VaultError> {
        let header = self.require_header()?;
        if !header.is_password() {
            self.ring()?;
        }
        let unlocked = matches!(*self.lock_state(), State::Unlocked(_));
        let (protection, warning) = if header.is_password() {
            (Protection::Password, None)
        } else {
            (
                Protection::LocalKey,
                Some(format!(
                    "No password is set: your keys and history are protected only by the key file {}. \
                     Anyone who can read your config folder can read them. Set a password to protect them properly.",
                    self.key_file_path.display()
                )),
            )
        };
        Ok(VaultStatus {
            state: if unlocked { "unlocked" } else { "locked" },
            protection,
            key_file: header.uses_key_file() || !header.is_password(),
            auto_lock_minutes: self.config.auto_lock_minutes,
            warning,
        })
    }

    /// The unlocked key ring, unlocking without the user when possible (local key file,
    /// `CHINWAG_PASSWORD`, `password_command`).
    pub fn ring(&self) -> Result<Arc<KeyRing>, VaultError> {
        *lock(&self.last_used) = Instant::now();
        if let State::Unlocked(ring) = &*self.lock_state() {
            return Ok(ring.clone());
        }
        let _gate = lock(&self.unlocking);
        if let State::Unlocked(ring) = &*self.lock_state() {
            return Ok(ring.clone());
        }
        let header = self.require_header()?;
        if !header.is_password() {
            let key_file = self.require_key_file()?;
            let ring = header.open(&Unlock::LocalKey(&key_file))?;
            return Ok(self.set_unlocked(ring));
        }
        if self.automatic_failed.load(Ordering::SeqCst) {
            return Err(VaultError::Locked);
        }
        let password = match password_source::from_env() {
            Some(password) => Some(password),
            None => match &self.config.password_command {
                Some(command) => match password_source::from_command(command) {
                    Ok(password) => Some(password),
                    Err(message) => {
                        self.automatic_failed.store(true, Ordering::SeqCst);
                        tracing::warn!(%message, "password command failed");
                        return Err(VaultError::PasswordCommand(message));
                    }
                },
                None => None,
            },
        };
        let Some(password) = password else {
            return Err(VaultError::Locked);
        };
        match self.open_with_password(&header, &password) {
            Ok(ring) => {
                let ring = self.set_unlocked(ring);
                self.rotate_if_worn(&header, &password, &ring);
                Ok(self.current_ring().unwrap_or(ring))
            }
            Err(VaultError::WrongPassword) => {
                self.automatic_failed.store(true, Ordering::SeqCst);
                tracing::warn!("the password from the environment or command is wrong");
                Err(VaultError::Locked)
            }
            Err(other) => Err(other),
        }
    }

    /// Unlock with a password from the editor.
    pub fn unlock(&self, password: &str) -> Result<VaultStatus, VaultError> {
        let _gate = lock(&self.unlocking);
        let header = self.require_header()?;
        if header.is_password() {
            let ring = self.open_with_password(&header, password)?;
            let ring = self.set_unlocked(ring);
            self.rotate_if_worn(&header, password, &ring);
        } else {
            let key_file = self.require_key_file()?;
            self.set_unlocked(header.open(&Unlock::LocalKey(&key_file))?);
        }
        *lock(&self.last_used) = Instant::now();
        self.status()
    }

    /// Forget the keys in memory.
    pub fn lock(&self) -> Result<VaultStatus, VaultError> {
        *self.lock_state() = State::Locked;
        self.automatic_failed.store(false, Ordering::SeqCst);
        self.status()
    }

    /// Lock if idle for longer than the configured minutes. Returns whether it locked.
    pub fn auto_lock_if_idle(&self) -> bool {
        match self.config.auto_lock_minutes {
            Some(minutes) => self.lock_if_idle_for(Duration::from_secs(minutes * 60)),
            None => false,
        }
    }

    /// Lock a password vault unused for `limit`. Returns whether it locked. (A vault under the
    /// local key file would reopen by itself at once, so it is left alone.)
    fn lock_if_idle_for(&self, limit: Duration) -> bool {
        if !self
            .header()
            .ok()
            .flatten()
            .is_some_and(|h| h.is_password())
        {
            return false;
        }
        let idle = lock(&self.last_used).elapsed();
        let mut state = self.lock_state();
        if matches!(*state, State::Unlocked(_)) && idle >= limit {
            *state = State::Locked;
            tracing::info!(idle_secs = idle.as_secs(), "vault locked after idling");
            return true;
        }
        false
    }

    /// Set, change (with the current one) or remove (`new: None`) the password. Only the data
    /// key's wrapping changes.
    pub fn set_password(
        &self,
        current: Option<&str>,
        new: Option<&str>,
    ) -> Result<VaultStatus, VaultError> {
        let _gate = lock(&self.unlocking);
        let header = self.require_header()?;
        let ring = if header.is_password() {
            let current = current.ok_or(VaultError::CurrentPasswordNeeded)?;
            self.open_with_password(&header, current)?
        } else {
            header.open(&Unlock::LocalKey(&*self.require_key_file()?))?
        };
        let new_header = match new {
            Some(password) => {
                self.check_new_password(password)?;
                let key_file = self.read_key_file()?;
                self.seal_password(&ring, password, key_file.as_ref())?
            }
            None => {
                let key_file = self.read_or_create_key_file()?;
                VaultHeader::seal(&ring, &Unlock::LocalKey(&key_file), &self.config.kdf)?
            }
        };
        self.write_header(&new_header, Vec::new())?;
        self.set_unlocked(ring);
        tracing::info!(password = new.is_some(), "vault protection changed");
        self.status()
    }

    /// Re-encrypt every record under a new data key. Needs the password when one is set.
    /// Returns how many records were re-encrypted.
    pub fn rotate(&self, password: Option<&str>) -> Result<usize, VaultError> {
        let _gate = lock(&self.unlocking);
        let header = self.require_header()?;
        let secret = self.secret_for(&header, password)?;
        let ring = header.open(&secret.unlock())?;
        let count = self.rotate_with(&ring, &secret)?;
        Ok(count)
    }

    /// Wipe keys and history and start a fresh vault (a lost password cannot be recovered).
    /// The new vault is protected by the local key file; set a password afterwards.
    pub fn reset(&self) -> Result<VaultStatus, VaultError> {
        let _gate = lock(&self.unlocking);
        self.backend.clear(&SEALED_TREES)?;
        let key_file = self.read_or_create_key_file()?;
        let ring = KeyRing::new(vec![crate::crypto::DataKey::generate(1)?])?;
        let header = VaultHeader::seal(&ring, &Unlock::LocalKey(&key_file), &self.config.kdf)?;
        self.write_header(&header, Vec::new())?;
        self.set_unlocked(ring);
        tracing::warn!("vault reset: keys and history wiped");
        self.status()
    }

    /// Store an API key for `provider`, replacing any earlier one. Returns it masked.
    pub fn set_key(&self, provider: &str, key: &str) -> Result<String, VaultError> {
        provider_keys::check(provider, key).map_err(|error| VaultError::InvalidKey {
            provider: provider.to_string(),
            expected: error.expected,
            reason: error.reason,
        })?;
        let ring = self.ring()?;
        let sealed = Sealed::new(self.backend.as_ref(), &ring);
        let mut ops: Vec<Op> = self
            .key_records(&sealed)?
            .into_iter()
            .filter(|(_, record)| record.provider == provider)
            .map(|(id, _)| Op::Remove {
                tree: Tree::Keys,
                key: id,
            })
            .collect();
        let record = KeyRecord {
            provider: provider.to_string(),
            key: key.to_string(),
        };
        ops.push(sealed.insert(Tree::Keys, new_id()?.as_bytes(), &record)?);
        self.commit(ops)?;
        Ok(mask(key))
    }

    /// The stored keys, masked.
    pub fn list_keys(&self) -> Result<Vec<StoredKey>, VaultError> {
        let ring = self.ring()?;
        let sealed = Sealed::new(self.backend.as_ref(), &ring);
        let mut keys: Vec<StoredKey> = self
            .key_records(&sealed)?
            .into_iter()
            .map(|(_, record)| StoredKey {
                provider: record.provider.clone(),
                masked: mask(&record.key),
            })
            .collect();
        keys.sort_by(|a, b| a.provider.cmp(&b.provider));
        Ok(keys)
    }

    /// The stored key for `provider`.
    pub fn key_for(&self, provider: &str) -> Result<Option<Zeroizing<String>>, VaultError> {
        let ring = self.ring()?;
        let sealed = Sealed::new(self.backend.as_ref(), &ring);
        Ok(self
            .key_records(&sealed)?
            .into_iter()
            .find(|(_, record)| record.provider == provider)
            .map(|(_, record)| Zeroizing::new(record.key.clone())))
    }

    /// Delete the stored key for `provider`. Returns whether there was one.
    pub fn delete_key(&self, provider: &str) -> Result<bool, VaultError> {
        let ring = self.ring()?;
        let sealed = Sealed::new(self.backend.as_ref(), &ring);
        let ops: Vec<Op> = self
            .key_records(&sealed)?
            .into_iter()
            .filter(|(_, record)| record.provider == provider)
            .map(|(id, _)| Op::Remove {
                tree: Tree::Keys,
                key: id,
            })
            .collect();
        let found = !ops.is_empty();
        if found {
            self.backend.apply(ops)?;
        }
        Ok(found)
    }

    /// Delete every stored key without unlocking (a privacy setting on exit).
    pub fn delete_all_keys(&self) -> Result<(), VaultError> {
        Ok(self.backend.clear(&[Tree::Keys])?)
    }

    /// Apply a batch of sealed writes, counting the encryptions toward the next rotation.
    pub fn commit(&self, mut ops: Vec<Op>) -> Result<(), VaultError> {
        let sealed = ops
            .iter()
            .filter(|op| matches!(op, Op::Insert { tree, .. } if SEALED_TREES.contains(tree)))
            .count() as u64;
        if sealed > 0 {
            let count = self.sealed_count()?.saturating_add(sealed);
            ops.push(Op::Insert {
                tree: Tree::Meta,
                key: SEALED_COUNT_KEY.to_vec(),
                value: count.to_be_bytes().to_vec(),
            });
        }
        self.backend.apply(ops)?;
        Ok(())
    }

    /// Replace the whole store with `entries` (a backup), but only if the backup's header
    /// opens with `password` (password vaults) or the local key file. Nothing changes on failure.
    pub fn replace_all(
        &self,
        entries: TreeEntries,
        password: Option<&str>,
    ) -> Result<(), VaultError> {
        let _gate = lock(&self.unlocking);
        let header_bytes = entries
            .iter()
            .find(|(tree, key, _)| *tree == Tree::Meta && key.as_slice() == HEADER_KEY)
            .map(|(_, _, value)| value.clone())
            .ok_or(VaultError::Crypto(CryptoError::Integrity(
                "the backup has no vault header",
            )))?;
        let header = VaultHeader::from_bytes(&header_bytes)?;
        let secret = self.secret_for(&header, password)?;
        let ring = header.open(&secret.unlock())?;
        // Every sealed record must open before anything is replaced.
        for (tree, key, value) in &entries {
            if SEALED_TREES.contains(tree) {
                record::open(&ring, tree.name(), key, value)?;
            }
        }
        // One atomic batch: a crash leaves either the old store or the restored one.
        let incoming: std::collections::HashSet<(Tree, &[u8])> = entries
            .iter()
            .map(|(tree, key, _)| (*tree, key.as_slice()))
            .collect();
        let mut ops = Vec::new();
        for tree in Tree::ALL {
            for (key, _) in self.backend.scan(tree, b"")? {
                if !incoming.contains(&(tree, key.as_slice())) {
                    ops.push(Op::Remove { tree, key });
                }
            }
        }
        drop(incoming);
        ops.extend(
            entries
                .into_iter()
                .map(|(tree, key, value)| Op::Insert { tree, key, value }),
        );
        self.backend.apply(ops)?;
        self.set_unlocked(ring);
        tracing::info!("store restored from a backup");
        Ok(())
    }

    /// The backend, for services that store sealed records (history).
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    // --- internals

    fn key_records(&self, sealed: &Sealed<'_>) -> Result<Vec<(Vec<u8>, KeyRecord)>, VaultError> {
        Ok(sealed.scan::<KeyRecord>(Tree::Keys, b"")?)
    }

    fn header(&self) -> Result<Option<VaultHeader>, VaultError> {
        match self.backend.get(Tree::Meta, HEADER_KEY)? {
            Some(bytes) => Ok(Some(VaultHeader::from_bytes(&bytes)?)),
            None => Ok(None),
        }
    }

    fn require_header(&self) -> Result<VaultHeader, VaultError> {
        self.header()?
            .ok_or(VaultError::Crypto(CryptoError::Integrity(
                "the vault header is missing",
            )))
    }

    fn write_header(&self, header: &VaultHeader, mut ops: Vec<Op>) -> Result<(), VaultError> {
        ops.push(Op::Insert {
            tree: Tree::Meta,
            key: HEADER_KEY.to_vec(),
            value: header.to_bytes()?,
        });
        self.backend.apply(ops)?;
        Ok(())
    }

    fn sealed_count(&self) -> Result<u64, VaultError> {
        Ok(self
            .backend
            .get(Tree::Meta, SEALED_COUNT_KEY)?
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn current_ring(&self) -> Option<Arc<KeyRing>> {
        match &*self.lock_state() {
            State::Unlocked(ring) => Some(ring.clone()),
            State::Locked => None,
        }
    }

    fn set_unlocked(&self, ring: KeyRing) -> Arc<KeyRing> {
        let ring = Arc::new(ring);
        *self.lock_state() = State::Unlocked(ring.clone());
        self.automatic_failed.store(false, Ordering::SeqCst);
        ring
    }

    fn check_new_password(&self, password: &str) -> Result<(), VaultError> {
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(VaultError::WeakPassword);
        }
        Ok(())
    }

    fn seal_password(
        &self,
        ring: &KeyRing,
        password: &str,
        key_file: Option<&Zeroizing<[u8; 32]>>,
    ) -> Result<VaultHeader, VaultError> {
        let unlock = Unlock::Password {
            password: password.as_bytes(),
            key_file: key_file.map(|k| &**k),
        };
        Ok(VaultHeader::seal(ring, &unlock, &self.config.kdf)?)
    }

    fn open_with_password(
        &self,
        header: &VaultHeader,
        password: &str,
    ) -> Result<KeyRing, VaultError> {
        let secret = self.secret_for(header, Some(password))?;
        Ok(header.open(&secret.unlock())?)
    }

    fn secret_for(
        &self,
        header: &VaultHeader,
        password: Option<&str>,
    ) -> Result<Secret, VaultError> {
        if header.is_password() {
            let password = password.ok_or(VaultError::CurrentPasswordNeeded)?;
            let key_file = if header.uses_key_file() {
                Some(self.require_key_file()?)
            } else {
                None
            };
            Ok(Secret::Password(
                Zeroizing::new(password.to_string()),
                key_file,
            ))
        } else {
            Ok(Secret::LocalKey(self.require_key_file()?))
        }
    }

    /// Rotate when the current key has sealed too many records (checked at unlock).
    fn rotate_if_worn(&self, header: &VaultHeader, password: &str, ring: &KeyRing) {
        if self.sealed_count().unwrap_or(0) < ROTATE_AFTER {
            return;
        }
        let Ok(secret) = self.secret_for(header, Some(password)) else {
            return;
        };
        match self.rotate_with(ring, &secret) {
            Ok(count) => tracing::info!(count, "data key rotated after heavy use"),
            Err(error) => tracing::warn!(%error, "automatic data key rotation failed"),
        }
    }

    /// The rotation itself: a header holding old and new keys, every record re-sealed under
    /// the new key, then a header with the new key only. A crash in between leaves a header
    /// that opens every record; the next rotation finishes the job.
    fn rotate_with(&self, ring: &KeyRing, secret: &Secret) -> Result<usize, VaultError> {
        let both = ring.with_new_key()?;
        let generation = both.current().generation();
        let header = VaultHeader::seal(&both, &secret.unlock(), &self.config.kdf)?;
        self.write_header(&header, Vec::new())?;
        let sealed = Sealed::new(self.backend.as_ref(), &both);
        let mut count = 0;
        for tree in SEALED_TREES {
            let mut batch = Vec::new();
            for (key, value) in self.backend.scan(tree, b"")? {
                if record::generation_of(&value) == Some(generation) {
                    continue;
                }
                batch.push(sealed.reseal(tree, &key, &value)?);
                if batch.len() == 512 {
                    count += batch.len();
                    self.backend.apply(std::mem::take(&mut batch))?;
                }
            }
            count += batch.len();
            if !batch.is_empty() {
                self.backend.apply(batch)?;
            }
        }
        let new_ring = both.without_older_than(generation);
        let header = VaultHeader::seal(&new_ring, &secret.unlock(), &self.config.kdf)?;
        let reset_count = Op::Insert {
            tree: Tree::Meta,
            key: SEALED_COUNT_KEY.to_vec(),
            value: 0u64.to_be_bytes().to_vec(),
        };
        self.write_header(&header, vec![reset_count])?;
        self.set_unlocked(new_ring);
        tracing::info!(count, generation, "data key rotated");
        Ok(count)
    }

    fn read_key_file(&self) -> Result<Option<Zeroizing<[u8; 32]>>, VaultError> {
        key_file::read(&self.key_file_path).map_err(|error| self.key_file_error(error.to_string()))
    }

    fn require_key_file(&self) -> Result<Zeroizing<[u8; 32]>, VaultError> {
        self.read_key_file()?
            .ok_or(VaultError::Crypto(CryptoError::KeyFileMissing))
    }

    fn read_or_create_key_file(&self) -> Result<Zeroizing<[u8; 32]>, VaultError> {
        if let Some(bytes) = self.read_key_file()? {
            return Ok(bytes);
        }
        match key_file::create(&self.key_file_path) {
            Ok(bytes) => Ok(bytes),
            // Another chinwag created it a moment ago.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                self.require_key_file()
            }
            Err(error) => Err(self.key_file_error(error.to_string())),
        }
    }

    fn key_file_error(&self, message: String) -> VaultError {
        VaultError::KeyFile {
            path: self.key_file_path.clone(),
            message,
        }
    }
}

/// A secret kept only for the length of one operation.
enum Secret {
    Password(Zeroizing<String>, Option<Zeroizing<[u8; 32]>>),
    LocalKey(Zeroizing<[u8; 32]>),
}

impl Secret {
    fn unlock(&self) -> Unlock<'_> {
        match self {
            Secret::Password(password, key_file) => Unlock::Password {
                password: password.as_bytes(),
                key_file: key_file.as_deref(),
            },
            Secret::LocalKey(key) => Unlock::LocalKey(key),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KdfParams;
    use crate::store::sled_backend::SledBackend;

    fn vault(dir: &std::path::Path) -> Vault {
        let backend: Arc<dyn Backend> =
            Arc::new(SledBackend::open(&dir.join("db"), 1 << 20).unwrap());
        let config = VaultConfig {
            password_command: None,
            auto_lock_minutes: Some(1),
            kdf: KdfParams::FLOOR,
        };
        Vault::open(backend, dir.join("vault.key"), config).unwrap()
    }

    #[test]
    fn an_idle_password_vault_locks_itself() {
        let dir = tempfile::tempdir().unwrap();
        let vault = vault(dir.path());
        assert!(
            !vault.lock_if_idle_for(Duration::ZERO),
            "a local-key vault is left alone"
        );
        vault.set_password(None, Some("correct horse")).unwrap();
        assert!(
            !vault.lock_if_idle_for(Duration::from_secs(3600)),
            "not idle long enough"
        );
        assert_eq!(vault.status().unwrap().state, "unlocked");
        assert!(vault.lock_if_idle_for(Duration::ZERO));
        assert_eq!(vault.status().unwrap().state, "locked");
        assert_eq!(vault.list_keys().unwrap_err(), VaultError::Locked);
        vault.unlock("correct horse").unwrap();
        assert!(vault.list_keys().is_ok());
    }
}
