//! The vault: every secret chinwag keeps, in one small file beside the database.
//!
//! The vault file (see `crate::crypto::vault_file`) holds, sealed as a whole under a vault key
//! that the user's password (Argon2id, with the local key file mixed in when present) or the
//! local key file alone wraps: the API keys, the settings, and for every chat its own key and
//! the digest of its current record. Nothing secret is ever written to sled: sled keeps every
//! byte it was given for a long time, so the database holds only records sealed under chat
//! keys that live here. Deleting a chat, clearing history, changing the password: each
//! replaces this file, after which what was removed cannot be decrypted from any old copy of
//! the database.
//!
//! Several chinwag processes (one per editor) share the data folder. Each caches the file's
//! contents and re-reads them whenever the file changed; every change runs under an exclusive
//! lock on `vault.lock`, every read under a shared one, so no process ever seals under a key
//! the file no longer holds. Methods here block (Argon2, fsync): call them from
//! `spawn_blocking`.

mod body;
mod file;
mod key_file;
mod legacy;
mod password_source;
mod provider_keys;
mod records;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use zeroize::Zeroizing;

use crate::config::VaultConfig;
use crate::crypto::{CryptoError, OpenVault, SealedVault, Unlock};
use crate::paths::Paths;
use crate::settings::{Settings, SettingsPatch};
use crate::store::shared::SharedStore;
use crate::store::{Backend, Op, StoreError, Tree, TreeEntries};
use body::Body;
use file::FileLock;

#[doc(hidden)]
pub use body::chat_keys_for_carving;
pub use password_source::PASSWORD_ENV;
pub use provider_keys::{KeyFormatError, mask};
pub use records::{Damage, Messages, OpenedChat, Tx, View, message_key};

/// Where the database's id sits in its `meta` tree (the vault body names the same id).
const STORE_ID_KEY: &[u8] = b"store.id";

/// The epoch of the vault body each database write went with: a vault file older than this
/// was put back from an older copy.
const EPOCH_KEY: &[u8] = b"vault.epoch";

/// The op recording `epoch` in the database, in the same batch as the records it vouches for.
fn epoch_op(epoch: u64) -> Op {
    Op::Insert {
        tree: Tree::Meta,
        key: EPOCH_KEY.to_vec(),
        value: epoch.to_be_bytes().to_vec(),
    }
}

/// The newest vault epoch the database has seen (0 if none).
fn stored_epoch(store: &dyn Backend) -> Result<u64, VaultError> {
    Ok(store
        .get(Tree::Meta, EPOCH_KEY)?
        .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0))
}

/// How many chats one rotation step re-seals before writing the vault file.
const ROTATION_BATCH: usize = 64;

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
    /// Stored data failed a check: tampered, rolled back, truncated or missing. Never
    /// answered by replacing anything.
    #[error("the stored data failed its integrity check: {0}")]
    Damaged(String),
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

impl From<CryptoError> for VaultError {
    fn from(error: CryptoError) -> Self {
        match error {
            CryptoError::WrongPassword => VaultError::WrongPassword,
            CryptoError::Integrity(what) => VaultError::Damaged(what.to_string()),
            other => VaultError::Crypto(other),
        }
    }
}

impl From<crate::store::sealed::SealedError> for VaultError {
    fn from(error: crate::store::sealed::SealedError) -> Self {
        use crate::store::sealed::SealedError;
        match error {
            SealedError::Store(error) => VaultError::Store(error),
            SealedError::Crypto(error) => VaultError::from(error),
            SealedError::Shape(message) => VaultError::Shape(message),
        }
    }
}

/// What protects the vault.
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

/// The vault file's contents as this process last read them, with the key that opens them.
struct Session {
    open: Arc<OpenVault>,
    body: Body,
    version: file::Version,
}

enum State {
    Locked,
    Unlocked(Arc<Session>),
}

/// The files the vault uses.
#[derive(Debug, Clone)]
struct Files {
    vault: PathBuf,
    lock: PathBuf,
    key_file: PathBuf,
    store_dir: PathBuf,
    socket: PathBuf,
    legacy_db: PathBuf,
    legacy_socket: PathBuf,
    cache_bytes: u64,
}

/// The vault service.
pub struct Vault {
    files: Files,
    config: VaultConfig,
    store: OnceLock<Arc<SharedStore>>,
    /// The first write that failed (a full disk, a read-only file system): every later call
    /// answers it until chinwag restarts, so nothing a failed write left half done is shown.
    failure: OnceLock<String>,
    /// Why the database would not open (damaged beyond what sled reads): every call says so,
    /// and `vault/reset` or `history/restore` replace it.
    store_error: Mutex<Option<StoreError>>,
    state: Mutex<State>,
    /// One Argon2 derivation (and one re-read of the file) at a time.
    unlocking: Mutex<()>,
    /// One writer at a time in this process (the file lock orders processes).
    writing: Mutex<()>,
    /// A store of chinwag 0.1 waiting for its password to be migrated.
    legacy: Mutex<Option<crate::crypto::VaultHeader>>,
    /// The newest body epoch seen: an older one is a rolled-back vault file.
    high_water: AtomicU64,
    /// The environment/command password failed; do not retry it until the next lock/unlock.
    automatic_failed: AtomicBool,
    last_used: Mutex<Instant>,
}

impl Vault {
    /// Open the vault of `paths`, creating a new one (and its database) on first use: under
    /// `CHINWAG_PASSWORD` when set, else under a new local key file. A store of chinwag 0.1 is
    /// migrated, at once when its secret is at hand, else at the first unlock. Anything
    /// damaged or missing is reported, never replaced.
    pub fn open(paths: &Paths, config: VaultConfig, cache_bytes: u64) -> Result<Vault, VaultError> {
        let vault = Vault {
            files: Files {
                vault: paths.vault_file.clone(),
                lock: paths.vault_lock.clone(),
                key_file: paths.key_file.clone(),
                store_dir: paths.database_dir.clone(),
                socket: paths.owner_socket.clone(),
                legacy_db: paths.legacy_database_dir.clone(),
                legacy_socket: paths.legacy_owner_socket.clone(),
                cache_bytes,
            },
            config,
            store: OnceLock::new(),
            failure: OnceLock::new(),
            store_error: Mutex::new(None),
            state: Mutex::new(State::Locked),
            unlocking: Mutex::new(()),
            writing: Mutex::new(()),
            legacy: Mutex::new(None),
            high_water: AtomicU64::new(0),
            automatic_failed: AtomicBool::new(false),
            last_used: Mutex::new(Instant::now()),
        };
        let _lock = vault.file_lock(true)?;
        vault.remove_leftovers();
        if file::version(&vault.files.vault)
            .map_err(|error| vault.io_error(error))?
            .is_some()
        {
            // An upgrade cut short after its vault file was written: the 0.1 database is
            // upgraded already and must not stay readable under the old key.
            if vault.files.legacy_db.exists() {
                legacy::discard(&vault)?;
            }
            match vault.open_store() {
                Ok(_) => {}
                // Unreadable: keep the vault file (never a fresh one) and report it on every
                // call until the user restores a backup or resets.
                Err(VaultError::Store(StoreError::Database(why))) if !environmental(&why) => {
                    tracing::error!(%why, "the database does not open");
                    *lock(&vault.store_error) = Some(StoreError::Database(format!(
                        "the database in {} does not open ({why}): restore a backup \
                         or reset the vault (which starts afresh)",
                        vault.files.store_dir.display()
                    )));
                }
                Err(other) => return Err(other),
            }
            return Ok(vault);
        }
        if vault.files.legacy_db.join("db").exists() {
            let header = legacy::read_header(&vault.files.legacy_db, cache_bytes)?;
            let upgraded = match vault.automatic_secret(&header) {
                Ok(Some(secret)) => match legacy::migrate(&vault, &header, &secret) {
                    Ok(()) => true,
                    Err(VaultError::WrongPassword) => {
                        vault.automatic_failed.store(true, Ordering::SeqCst);
                        tracing::warn!("the password from the environment or command is wrong");
                        false
                    }
                    Err(other) => return Err(other),
                },
                Ok(None) | Err(VaultError::PasswordCommand(_)) => false,
                Err(other) => return Err(other),
            };
            if upgraded {
                vault.open_store()?;
            } else {
                tracing::info!("a chinwag 0.1 store waits for its password to be upgraded");
                *lock(&vault.legacy) = Some(header);
            }
            return Ok(vault);
        }
        let store = vault.open_store()?;
        if store.get(Tree::Meta, STORE_ID_KEY)?.is_some() {
            // A database without its vault file: never paper over it with a new vault.
            return Ok(vault);
        }
        vault.create(store.as_ref())?;
        Ok(vault)
    }

    /// A brand-new vault and store id.
    fn create(&self, store: &dyn Backend) -> Result<(), VaultError> {
        let store_id = crate::store::sealed::new_id()?;
        let open = match password_source::from_env() {
            Some(password) => {
                check_new_password(&password)?;
                let key_file = self.read_key_file()?;
                OpenVault::create(
                    &Unlock::Password {
                        password: password.as_bytes(),
                        key_file: key_file.as_deref(),
                    },
                    &self.config.kdf,
                )?
            }
            None => {
                let key_file = self.read_or_create_key_file()?;
                OpenVault::create(&Unlock::LocalKey(&key_file), &self.config.kdf)?
            }
        };
        let mut body = Body::new(store_id.clone(), Settings::default());
        body.epoch = next_epoch(0);
        store.apply(vec![Op::Insert {
            tree: Tree::Meta,
            key: STORE_ID_KEY.to_vec(),
            value: store_id.into_bytes(),
        }])?;
        let version = self.write_body(&open, &body)?;
        self.install(Arc::new(open), body, version);
        tracing::info!("created a new vault");
        Ok(())
    }

    /// The database, opened once (shared with other chinwag processes).
    fn open_store(&self) -> Result<Arc<SharedStore>, VaultError> {
        if let Some(store) = self.store.get() {
            return Ok(store.clone());
        }
        let store = SharedStore::open(
            &self.files.store_dir,
            &self.files.socket,
            self.files.cache_bytes,
        )?;
        let store = Arc::new(store);
        Ok(self.store.get_or_init(|| store).clone())
    }

    /// Remove temporary vault files a crash left before their rename: each may hold an older
    /// body, readable under the protection of its day. Only called under the exclusive lock,
    /// when no write is under way.
    fn remove_leftovers(&self) {
        let Some(folder) = self.files.vault.parent() else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(folder) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".vault.") && name.ends_with(".tmp") {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => tracing::info!("removed a vault file a crash left behind"),
                    Err(error) => tracing::warn!(%error, "cannot remove a leftover vault file"),
                }
            }
        }
    }

    /// The database, once it is open (after a pending upgrade: once unlocked).
    pub fn store(&self) -> Result<Arc<SharedStore>, VaultError> {
        if let Some(store) = self.store.get() {
            return Ok(store.clone());
        }
        match lock(&self.store_error).clone() {
            Some(error) => Err(VaultError::Store(error)),
            None => Err(VaultError::Locked),
        }
    }

    /// The database, replacing one that would not open by an empty one (a reset or a
    /// restore replaces everything in it anyway).
    fn store_or_fresh(&self) -> Result<Arc<SharedStore>, VaultError> {
        if lock(&self.store_error).is_some() && self.store.get().is_none() {
            std::fs::remove_dir_all(&self.files.store_dir).map_err(|error| {
                VaultError::Store(StoreError::Database(format!(
                    "cannot remove the damaged database {}: {error}",
                    self.files.store_dir.display()
                )))
            })?;
            let store = self.open_store()?;
            *lock(&self.store_error) = None;
            return Ok(store);
        }
        self.open_store()
    }

    /// The vault's state and protection.
    ///
    /// A vault under the local key file needs nothing from the user, so it is never reported
    /// locked: asking for its status opens it.
    pub fn status(&self) -> Result<VaultStatus, VaultError> {
        let legacy = lock(&self.legacy).clone();
        let (is_password, uses_key_file) = match legacy {
            Some(header) => (header.is_password(), header.uses_key_file()),
            None => {
                // An open session whose file did not change knows the header: no second read
                // of the whole vault file.
                let version = file::version(&self.files.vault).map_err(|e| self.io_error(e))?;
                let current = match &*self.lock_state() {
                    State::Unlocked(session) if Some(session.version) == version => {
                        Some(session.open.clone())
                    }
                    _ => None,
                };
                match current {
                    Some(open) => (open.header().is_password(), open.header().uses_key_file()),
                    None => {
                        let (sealed, _) = self.read_sealed()?;
                        let header = sealed.header();
                        if !header.is_password() {
                            self.session()?;
                        }
                        (header.is_password(), header.uses_key_file())
                    }
                }
            }
        };
        let unlocked = matches!(*self.lock_state(), State::Unlocked(_));
        let (protection, warning) = if is_password {
            (Protection::Password, None)
        } else {
            (
                Protection::LocalKey,
                Some(format!(
                    "No password is set: your keys and history are protected only by the key file {}. \
                     Anyone who can read your config folder can read them. Set a password to protect them properly.",
                    self.files.key_file.display()
                )),
            )
        };
        Ok(VaultStatus {
            state: if unlocked { "unlocked" } else { "locked" },
            protection,
            key_file: uses_key_file || !is_password,
            auto_lock_minutes: self.config.auto_lock_minutes,
            warning,
        })
    }

    /// Make sure the vault is open, unlocking without the user when possible (local key
    /// file, `CHINWAG_PASSWORD`, `password_command`).
    pub fn ensure_unlocked(&self) -> Result<(), VaultError> {
        self.session().map(|_| ())
    }

    /// Unlock with a password from the editor.
    pub fn unlock(&self, password: &str) -> Result<VaultStatus, VaultError> {
        let legacy = lock(&self.legacy).clone();
        if let Some(header) = legacy {
            // Lock order everywhere: writing, then the file lock, then unlocking.
            let _writing = lock(&self.writing);
            let _lock = self.file_lock(true)?;
            let _gate = lock(&self.unlocking);
            self.remove_leftovers();
            let key_file = if header.uses_key_file() {
                Some(self.require_key_file()?)
            } else {
                None
            };
            let secret = Secret::Password(Zeroizing::new(password.to_string()), key_file);
            if file::version(&self.files.vault)
                .map_err(|error| self.io_error(error))?
                .is_none()
            {
                legacy::migrate(self, &header, &secret)?;
            }
            *lock(&self.legacy) = None;
            self.open_store()?;
        }
        {
            let _gate = lock(&self.unlocking);
            let (sealed, version) = self.read_sealed()?;
            let secret = self.secret_for(sealed.header(), Some(password))?;
            let session = self.open_session(&sealed, &secret, version)?;
            *self.lock_state() = State::Unlocked(session);
            self.automatic_failed.store(false, Ordering::SeqCst);
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
        let idle = lock(&self.last_used).elapsed();
        let mut state = self.lock_state();
        let is_password = match &*state {
            State::Unlocked(session) => session.open.header().is_password(),
            State::Locked => return false,
        };
        if is_password && idle >= limit {
            *state = State::Locked;
            tracing::info!(idle_secs = idle.as_secs(), "vault locked after idling");
            return true;
        }
        false
    }

    /// Set, change (with the current one) or remove (`new: None`) the password. The vault key
    /// and every chat key are replaced and every record re-sealed, so nothing on disk stays
    /// readable under the old protection.
    pub fn set_password(
        &self,
        current: Option<&str>,
        new: Option<&str>,
    ) -> Result<VaultStatus, VaultError> {
        if let Some(password) = new {
            check_new_password(password)?;
        }
        self.finish_legacy_upgrade(current)?;
        {
            let _writing = lock(&self.writing);
            let _lock = self.file_lock(true)?;
            let _gate = lock(&self.unlocking);
            self.remove_leftovers();
            let (sealed, version) = self.read_sealed()?;
            let secret = self.secret_for(sealed.header(), current)?;
            let session = self.open_session(&sealed, &secret, version)?;
            let key_file = match new {
                Some(_) => self.read_key_file()?,
                None => Some(self.read_or_create_key_file()?),
            };
            let unlock = match (new, key_file.as_deref()) {
                (Some(password), key_file) => Unlock::Password {
                    password: password.as_bytes(),
                    key_file,
                },
                (None, Some(key_file)) => Unlock::LocalKey(key_file),
                (None, None) => return Err(VaultError::Crypto(CryptoError::KeyFileMissing)),
            };
            let count = self.rotate_into(&session, &unlock)?;
            tracing::info!(password = new.is_some(), count, "vault protection changed");
        }
        self.status()
    }

    /// Replace the vault key and every chat key, re-sealing every record, under the same
    /// protection (a new salt). Needs the password when one is set. Returns how many records
    /// were re-sealed.
    pub fn rotate(&self, password: Option<&str>) -> Result<usize, VaultError> {
        self.finish_legacy_upgrade(password)?;
        let _writing = lock(&self.writing);
        let _lock = self.file_lock(true)?;
        let _gate = lock(&self.unlocking);
        self.remove_leftovers();
        let (sealed, version) = self.read_sealed()?;
        let secret = self.secret_for(sealed.header(), password)?;
        let session = self.open_session(&sealed, &secret, version)?;
        self.rotate_into(&session, &secret.unlock())
    }

    /// Wipe keys and history and start a fresh vault (a lost password cannot be recovered).
    /// The new vault is protected by the local key file; set a password afterwards. Settings
    /// are kept when they can be read. Also the way out of a damaged or missing vault file.
    pub fn reset(&self) -> Result<VaultStatus, VaultError> {
        {
            let _writing = lock(&self.writing);
            let _lock = self.file_lock(true)?;
            let _gate = lock(&self.unlocking);
            self.remove_leftovers();
            let settings = match &*self.lock_state() {
                State::Unlocked(session) => session.body.settings,
                State::Locked => Settings::default(),
            };
            if lock(&self.legacy).take().is_some() {
                legacy::discard(self)?;
            }
            let store = self.store_or_fresh()?;
            let key_file = self.read_or_create_key_file()?;
            let open = OpenVault::create(&Unlock::LocalKey(&key_file), &self.config.kdf)?;
            // The database keeps its id, so a crash between the two writes below leaves a
            // vault that still belongs to it, with every old record to purge.
            let store_id = match store.get(Tree::Meta, STORE_ID_KEY)? {
                Some(id) => String::from_utf8(id)
                    .map_err(|_| VaultError::Damaged("the database id".into()))?,
                None => crate::store::sealed::new_id()?,
            };
            let mut body = Body::new(store_id.clone(), settings);
            body.epoch = next_epoch(
                self.high_water
                    .load(Ordering::SeqCst)
                    .max(stored_epoch(store.as_ref())?),
            );
            body.purge = vec!["*".to_string()];
            // The new file first: from this moment no old key exists anywhere.
            let version = self.write_body(&open, &body)?;
            // Clearing several trees is not one atomic step: the database id is never taken
            // out, so a crash in the middle still leaves a database that belongs to the new
            // vault file (whose purge finishes the job).
            let records: Vec<Tree> = Tree::ALL
                .into_iter()
                .filter(|tree| *tree != Tree::Meta)
                .collect();
            store
                .clear(&records)
                .map_err(|error| self.stop(error.into()))?;
            let mut meta: Vec<Op> = store
                .scan(Tree::Meta, b"")?
                .into_iter()
                .filter(|(key, _)| key.as_slice() != STORE_ID_KEY)
                .map(|(key, _)| Op::Remove {
                    tree: Tree::Meta,
                    key,
                })
                .collect();
            meta.push(Op::Insert {
                tree: Tree::Meta,
                key: STORE_ID_KEY.to_vec(),
                value: store_id.into_bytes(),
            });
            meta.push(epoch_op(body.epoch));
            store.apply(meta).map_err(|error| self.stop(error.into()))?;
            body.purge.clear();
            body.epoch = next_epoch(body.epoch);
            let version = self.write_body(&open, &body).unwrap_or(version);
            self.install(Arc::new(open), body, version);
            tracing::warn!("vault reset: keys and history wiped");
        }
        self.status()
    }

    /// Read under the shared lock: the body and the records it vouches for stay consistent
    /// for the length of `work`.
    pub fn read<T, E: From<VaultError>>(
        &self,
        work: impl FnOnce(&View<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        *lock(&self.last_used) = Instant::now();
        let _lock = self.file_lock(false)?;
        let session = self.session()?;
        let store = self.store()?;
        work(&View {
            body: &session.body,
            backend: store.as_ref(),
        })
    }

    /// Change the body and the records together, under the exclusive lock. Records are
    /// written between two writes of the vault file: the first names their digests as
    /// pending, the second settles them, so a crash at any point leaves a vault that vouches
    /// for whatever the database holds.
    pub fn write<T, E: From<VaultError>>(
        &self,
        work: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        *lock(&self.last_used) = Instant::now();
        let _writing = lock(&self.writing);
        let _lock = self.file_lock(true)?;
        let session = self.session()?;
        let store = self.store()?;
        let mut tx = Tx::new(session.body.clone(), store.as_ref());
        tx.reconcile()?;
        tx.sweep_purged()?;
        let value = work(&mut tx)?;
        self.commit(&session, tx)?;
        Ok(value)
    }

    fn commit(&self, session: &Session, mut tx: Tx<'_>) -> Result<(), VaultError> {
        self.stopped()?;
        let pending = tx.seal_staged()?;
        if !tx.body_changed && tx.ops.is_empty() && !tx.clear_records {
            return Ok(());
        }
        let backend = tx.backend;
        let mut ops = std::mem::take(&mut tx.ops);
        let clear_records = tx.clear_records;
        let mut body = tx.body;
        body.epoch = next_epoch(body.epoch);
        ops.push(epoch_op(body.epoch));
        let version = self.write_body(&session.open, &body)?;
        self.install(session.open.clone(), body.clone(), version);
        if clear_records {
            backend
                .clear(&[Tree::Chats, Tree::Messages])
                .map_err(|error| self.stop(error.into()))?;
        }
        backend
            .apply(ops)
            .map_err(|error| self.stop(error.into()))?;
        if !pending.is_empty() || !body.purge.is_empty() {
            for chat_id in &pending {
                if let Some(entry) = body.chats.get_mut(chat_id) {
                    entry.settle();
                }
            }
            body.purge.clear();
            body.epoch = next_epoch(body.epoch);
            let version = self.write_body(&session.open, &body)?;
            self.install(session.open.clone(), body, version);
        }
        Ok(())
    }

    /// Store an API key for `provider`, replacing any earlier one. Returns it masked.
    pub fn set_key(&self, provider: &str, key: &str) -> Result<String, VaultError> {
        provider_keys::check(provider, key).map_err(|error| VaultError::InvalidKey {
            provider: provider.to_string(),
            expected: error.expected,
            reason: error.reason,
        })?;
        self.write(|tx| {
            tx.body
                .keys
                .insert(provider.to_string(), Zeroizing::new(key.to_string()));
            tx.body_changed = true;
            Ok::<_, VaultError>(())
        })?;
        Ok(mask(key))
    }

    /// The stored keys, masked.
    pub fn list_keys(&self) -> Result<Vec<StoredKey>, VaultError> {
        self.with_body(|body| {
            body.keys
                .iter()
                .map(|(provider, key)| StoredKey {
                    provider: provider.clone(),
                    masked: mask(key),
                })
                .collect()
        })
    }

    /// The stored key for `provider`.
    pub fn key_for(&self, provider: &str) -> Result<Option<Zeroizing<String>>, VaultError> {
        self.with_body(|body| body.keys.get(provider).cloned())
    }

    /// Delete the stored key for `provider`: the vault file is replaced without it. Returns
    /// whether there was one.
    pub fn delete_key(&self, provider: &str) -> Result<bool, VaultError> {
        self.write(|tx| {
            let found = tx.body.keys.remove(provider).is_some();
            tx.body_changed |= found;
            Ok::<_, VaultError>(found)
        })
    }

    /// Delete every stored key (a privacy setting on exit).
    pub fn delete_all_keys(&self) -> Result<(), VaultError> {
        self.write(|tx| {
            if !tx.body.keys.is_empty() {
                tx.body.keys.clear();
                tx.body_changed = true;
            }
            Ok::<_, VaultError>(())
        })
    }

    /// The settings (sealed in the vault like everything else).
    pub fn settings(&self) -> Result<Settings, VaultError> {
        self.with_body(|body| body.settings)
    }

    /// Whether project instructions with this fingerprint were trusted.
    pub fn is_trusted(&self, fingerprint: &str) -> Result<bool, VaultError> {
        let fingerprint = fingerprint.to_string();
        self.with_body(move |body| body.trusted.contains(&fingerprint))
    }

    /// Remember that the user trusted project instructions with this fingerprint.
    pub fn trust(&self, fingerprint: &str) -> Result<(), VaultError> {
        self.write(|tx| {
            tx.body_changed |= tx.body.trusted.insert(fingerprint.to_string());
            Ok::<_, VaultError>(())
        })
    }

    /// Change some settings; returns them all.
    pub fn update_settings(&self, patch: SettingsPatch) -> Result<Settings, VaultError> {
        self.write(|tx| {
            let before = tx.body.settings;
            patch.apply_to(&mut tx.body.settings);
            tx.body_changed |= before != tx.body.settings;
            Ok::<_, VaultError>(tx.body.settings)
        })
    }

    /// The vault file and every record, exactly as stored: what a backup holds. Chats that
    /// fail their checks are left out (and returned), so the backup restores: the vault
    /// file is then sealed again without them, under the same key.
    pub fn snapshot(&self) -> Result<(Vec<u8>, TreeEntries, Vec<Damage>), VaultError> {
        let _lock = self.file_lock(false)?;
        let session = self.session()?;
        let store = self.store()?;
        let (_, damage) = View {
            body: &session.body,
            backend: store.as_ref(),
        }
        .all_chats()?;
        let bytes = if damage.is_empty() {
            file::read(&self.files.vault)
                .map_err(|error| self.io_error(error))?
                .ok_or_else(|| missing_vault_file(&self.files.vault))?
                .0
        } else {
            let mut body = session.body.clone();
            for damaged in &damage {
                body.chats.remove(&damaged.chat_id);
            }
            session.open.seal(&body.encode()?)?
        };
        let left_out = |key: &[u8]| {
            let chat_id = key.split(|&byte| byte == b'/').next().unwrap_or(&[]);
            damage
                .iter()
                .any(|damaged| damaged.chat_id.as_bytes() == chat_id)
        };
        let mut entries = Vec::new();
        for tree in [Tree::Meta, Tree::Chats, Tree::Messages] {
            for (key, value) in store.scan(tree, b"")? {
                if tree == Tree::Meta || !left_out(&key) {
                    entries.push((tree, key, value));
                }
            }
        }
        Ok((bytes, entries, damage))
    }

    /// Replace the vault file and every record with a backup's, but only once the backup's
    /// vault opens with `password` (or the local key file) and every record in it is the one
    /// its vault vouches for. Nothing changes on failure. Returns how many chats it holds.
    pub fn restore(
        &self,
        vault_bytes: &[u8],
        entries: TreeEntries,
        password: Option<&str>,
    ) -> Result<usize, VaultError> {
        let _writing = lock(&self.writing);
        let _lock = self.file_lock(true)?;
        let _gate = lock(&self.unlocking);
        self.remove_leftovers();
        if lock(&self.legacy).take().is_some() {
            legacy::discard(self)?;
        }
        let sealed = SealedVault::parse(vault_bytes)?;
        let secret = self.secret_for(sealed.header(), password)?;
        self.check_costs(&sealed)?;
        let open = sealed.unlock(&secret.unlock())?;
        let body = Body::decode(&open.open(&sealed)?)?;
        let memory = MemoryStore::new(&entries);
        let store_id = memory.get(Tree::Meta, STORE_ID_KEY)?;
        if store_id.as_deref() != Some(body.store_id.as_bytes()) {
            return Err(VaultError::Damaged(
                "the backup's records do not belong to its vault".into(),
            ));
        }
        let (_, damage) = View {
            body: &body,
            backend: &memory,
        }
        .all_chats()?;
        if let Some(first) = damage.first() {
            return Err(VaultError::Damaged(format!(
                "the backup is damaged: {} (and {} more)",
                first.reason,
                damage.len() - 1
            )));
        }
        let store = self.store_or_fresh()?;
        let incoming: std::collections::HashSet<(Tree, &[u8])> = entries
            .iter()
            .map(|(tree, key, _)| (*tree, key.as_slice()))
            .collect();
        let mut ops = Vec::new();
        for tree in Tree::ALL {
            for (key, _) in store.scan(tree, b"")? {
                if !incoming.contains(&(tree, key.as_slice())) {
                    ops.push(Op::Remove { tree, key });
                }
            }
        }
        drop(incoming);
        let chats = body.chats.len();
        ops.extend(
            entries
                .into_iter()
                .map(|(tree, key, value)| Op::Insert { tree, key, value }),
        );
        let mut body = body;
        body.epoch = next_epoch(
            body.epoch
                .max(self.high_water.load(Ordering::SeqCst))
                .max(stored_epoch(store.as_ref())?),
        );
        // After the backup's own `meta` entries, so the newer epoch wins.
        ops.push(epoch_op(body.epoch));
        // One atomic batch for the records, then the vault file: a crash in between leaves
        // a vault that does not vouch for the records (reported), and restoring again mends it.
        store.apply(ops).map_err(|error| self.stop(error.into()))?;
        let version = self.write_body(&open, &body)?;
        self.high_water.store(body.epoch, Ordering::SeqCst);
        self.install(Arc::new(open), body, version);
        tracing::info!(chats, "store restored from a backup");
        Ok(chats)
    }

    /// Remove records no chat in the vault owns, where a deletion was cut short by a crash
    /// (the vault file lists where). They cannot be decrypted (their key is gone); this only
    /// frees the space. Also settles writes a crash cut short. Cheap when there is nothing to
    /// do: no scan of the database. Returns how many chat records were removed.
    pub fn sweep_orphans(&self) -> Result<usize, VaultError> {
        if self.with_body(|body| {
            body.purge.is_empty() && body.chats.values().all(|entry| entry.pending.is_none())
        })? {
            return Ok(0);
        }
        // Every write starts by settling and sweeping what a crash left.
        let before = self.store()?.scan(Tree::Chats, b"")?.len();
        self.write(|_| Ok::<_, VaultError>(()))?;
        let after = self.store()?.scan(Tree::Chats, b"")?.len();
        Ok(before.saturating_sub(after))
    }

    // --- internals

    fn with_body<T>(&self, work: impl FnOnce(&Body) -> T) -> Result<T, VaultError> {
        *lock(&self.last_used) = Instant::now();
        let _lock = self.file_lock(false)?;
        let session = self.session()?;
        Ok(work(&session.body))
    }

    /// The current session: the cached one if the file did not change, else the file read
    /// again (with the key in memory when its header is unchanged, else unlocking without the
    /// user when possible).
    fn session(&self) -> Result<Arc<Session>, VaultError> {
        self.stopped()?;
        if lock(&self.legacy).is_some() {
            return self.legacy_session();
        }
        let version = file::version(&self.files.vault).map_err(|error| self.io_error(error))?;
        if let State::Unlocked(session) = &*self.lock_state()
            && Some(session.version) == version
        {
            return Ok(session.clone());
        }
        let _gate = lock(&self.unlocking);
        let (sealed, version) = self.read_sealed()?;
        let cached = match &*self.lock_state() {
            State::Unlocked(session) => Some(session.open.clone()),
            State::Locked => None,
        };
        if let Some(open) = cached
            && open.same_header(&sealed)
        {
            return self.session_from(open, &sealed, version);
        }
        let secret = match self.automatic_secret(sealed.header())? {
            Some(secret) => secret,
            None => {
                *self.lock_state() = State::Locked;
                return Err(VaultError::Locked);
            }
        };
        match self.open_session(&sealed, &secret, version) {
            Ok(session) => {
                *self.lock_state() = State::Unlocked(session.clone());
                Ok(session)
            }
            Err(VaultError::WrongPassword) => {
                self.automatic_failed.store(true, Ordering::SeqCst);
                *self.lock_state() = State::Locked;
                tracing::warn!("the password from the environment or command is wrong");
                Err(VaultError::Locked)
            }
            Err(other) => Err(other),
        }
    }

    /// A 0.1 store waiting for its password: unlock (and upgrade) it with the automatic
    /// password if one appeared, else report it locked.
    fn legacy_session(&self) -> Result<Arc<Session>, VaultError> {
        if file::version(&self.files.vault)
            .map_err(|error| self.io_error(error))?
            .is_some()
        {
            // Another chinwag upgraded it meanwhile.
            *lock(&self.legacy) = None;
            self.open_store()?;
            return self.session();
        }
        Err(VaultError::Locked)
    }

    /// Upgrade a waiting 0.1 store with `password` before a call that needs the vault open.
    fn finish_legacy_upgrade(&self, password: Option<&str>) -> Result<(), VaultError> {
        if lock(&self.legacy).is_none() {
            return Ok(());
        }
        let password = password.ok_or(VaultError::CurrentPasswordNeeded)?;
        self.unlock(password).map(|_| ())
    }

    fn session_from(
        &self,
        open: Arc<OpenVault>,
        sealed: &SealedVault,
        version: file::Version,
    ) -> Result<Arc<Session>, VaultError> {
        let body = Body::decode(&open.open(sealed)?)?;
        self.check_body(&body)?;
        let session = Arc::new(Session {
            open,
            body,
            version,
        });
        self.high_water
            .fetch_max(session.body.epoch, Ordering::SeqCst);
        *self.lock_state() = State::Unlocked(session.clone());
        Ok(session)
    }

    /// Unlock `sealed` with `secret` into a session (not installed).
    fn open_session(
        &self,
        sealed: &SealedVault,
        secret: &Secret,
        version: file::Version,
    ) -> Result<Arc<Session>, VaultError> {
        self.check_costs(sealed)?;
        let open = sealed.unlock(&secret.unlock()).map_err(|error| match error {
            CryptoError::KeyFileMismatch => VaultError::Damaged(
                "the vault file does not match the local key file (altered, or the key file was replaced)"
                    .into(),
            ),
            other => VaultError::from(other),
        })?;
        let body = Body::decode(&open.open(sealed)?)?;
        self.check_body(&body)?;
        self.high_water.fetch_max(body.epoch, Ordering::SeqCst);
        Ok(Arc::new(Session {
            open: Arc::new(open),
            body,
            version,
        }))
    }

    /// Argon2 costs read from disk must be within what the config allows (with a margin):
    /// refused before any derivation.
    fn check_costs(&self, sealed: &SealedVault) -> Result<(), VaultError> {
        if let Some(kdf) = sealed.header().kdf()
            && !kdf.within_reach_of(&self.config.kdf)
        {
            return Err(VaultError::Damaged(format!(
                "the vault file asks for Argon2 costs ({} KiB, {} passes, {} lanes) far above the \
                 configured ones: refused before any work",
                kdf.memory_kib, kdf.iterations, kdf.parallelism
            )));
        }
        Ok(())
    }

    /// A body must be no older than one already seen and belong to this database.
    fn check_body(&self, body: &Body) -> Result<(), VaultError> {
        if body.epoch < self.high_water.load(Ordering::SeqCst) {
            return Err(VaultError::Damaged(
                "the vault file was replaced by an older copy".into(),
            ));
        }
        let store = self.store()?;
        if stored_epoch(store.as_ref())? > body.epoch {
            return Err(VaultError::Damaged(
                "the vault file is older than its database (put back from an older copy)".into(),
            ));
        }
        let store_id = store.get(Tree::Meta, STORE_ID_KEY)?;
        if store_id.as_deref() != Some(body.store_id.as_bytes()) {
            return Err(VaultError::Damaged(format!(
                "the database in {} does not belong to the vault file {} (missing, replaced or \
                 damaged): restore a backup or reset the vault (which starts afresh)",
                self.files.store_dir.display(),
                self.files.vault.display()
            )));
        }
        Ok(())
    }

    /// The vault file parsed, with the version of exactly those bytes.
    fn read_sealed(&self) -> Result<(SealedVault, file::Version), VaultError> {
        let (bytes, version) = file::read(&self.files.vault)
            .map_err(|error| self.io_error(error))?
            .ok_or_else(|| missing_vault_file(&self.files.vault))?;
        Ok((SealedVault::parse(&bytes)?, version))
    }

    fn write_body(&self, open: &OpenVault, body: &Body) -> Result<file::Version, VaultError> {
        let plain = body.encode()?;
        let bytes = open.seal(&plain)?;
        file::replace(&self.files.vault, &bytes).map_err(|error| self.stop(self.io_error(error)))
    }

    /// Remember a failed write (the first cause wins) and return it.
    fn stop(&self, error: VaultError) -> VaultError {
        if let VaultError::Store(StoreError::Database(why)) = &error {
            let _ = self.failure.set(why.clone());
        }
        error
    }

    /// The failure that stopped storage, if any.
    fn stopped(&self) -> Result<(), VaultError> {
        match self.failure.get() {
            Some(why) => Err(VaultError::Store(StoreError::Database(why.clone()))),
            None => Ok(()),
        }
    }

    fn install(&self, open: Arc<OpenVault>, body: Body, version: file::Version) {
        self.high_water.fetch_max(body.epoch, Ordering::SeqCst);
        *self.lock_state() = State::Unlocked(Arc::new(Session {
            open,
            body,
            version,
        }));
    }

    /// Move every chat to a new key and the vault to a new vault key under `unlock`. Runs under
    /// the exclusive lock. Each chat first gets its next key in the (old) vault file, then its
    /// records are re-sealed in batches, then a new vault file under the new protection holds
    /// only the new keys: a crash at any point leaves a file that opens every record.
    fn rotate_into(&self, session: &Session, unlock: &Unlock<'_>) -> Result<usize, VaultError> {
        let store = self.store()?;
        let mut body = session.body.clone();
        for entry in body.chats.values_mut() {
            if entry.next_key.is_none() {
                let next = entry.generation.checked_add(1).ok_or_else(|| {
                    VaultError::Shape("a chat key generation is exhausted".into())
                })?;
                entry.next_key = Some(crate::crypto::DataKey::generate(next)?.raw());
            }
        }
        body.epoch = next_epoch(body.epoch);
        self.write_body(&session.open, &body)?;
        let ids: Vec<String> = body.chats.keys().cloned().collect();
        let mut count = 0;
        for batch in ids.chunks(ROTATION_BATCH) {
            let mut ops = Vec::new();
            for chat_id in batch {
                let Some(entry) = body.chats.get(chat_id) else {
                    continue;
                };
                match records::reseal_chat(store.as_ref(), chat_id, entry) {
                    Ok((chat_ops, digest)) => {
                        count += chat_ops.len();
                        ops.extend(chat_ops);
                        if let Some(entry) = body.chats.get_mut(chat_id) {
                            entry.pending = Some(digest);
                        }
                    }
                    // A chat that fails its checks cannot be moved to a new key, and keeping its
                    // old one would leave it readable under the old protection: stop here (the
                    // vault file holds both keys of every chat, so nothing is lost) and say so.
                    Err(VaultError::Damaged(reason)) => {
                        return Err(VaultError::Damaged(format!(
                            "{reason}; it cannot be moved to a new key: delete it or restore a \
                             backup, then try again"
                        )));
                    }
                    Err(other) => return Err(other),
                }
            }
            body.epoch = next_epoch(body.epoch);
            self.write_body(&session.open, &body)?;
            store.apply(ops)?;
        }
        for entry in body.chats.values_mut() {
            if let Some(next) = entry.next_key.take() {
                entry.key = next;
                entry.generation += 1;
            }
            entry.settle();
        }
        let open = OpenVault::create(unlock, &self.config.kdf)?;
        body.epoch = next_epoch(body.epoch);
        let version = self.write_body(&open, &body)?;
        self.install(Arc::new(open), body, version);
        tracing::info!(count, "vault and chat keys rotated");
        Ok(count)
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn file_lock(&self, exclusive: bool) -> Result<FileLock, VaultError> {
        FileLock::acquire(&self.files.lock, exclusive).map_err(|error| self.io_error(error))
    }

    fn io_error(&self, error: std::io::Error) -> VaultError {
        VaultError::Store(StoreError::Database(format!(
            "{} ({}); nothing saved before is lost: restart chinwag once this is fixed",
            crate::store::sled_backend::describe_io(&error),
            self.files.vault.display()
        )))
    }

    /// The secret that opens `header` without asking the user, if there is one.
    fn automatic_secret(
        &self,
        header: &crate::crypto::VaultHeader,
    ) -> Result<Option<Secret>, VaultError> {
        if !header.is_password() {
            return Ok(Some(Secret::LocalKey(self.require_key_file()?)));
        }
        if self.automatic_failed.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let password = match password_source::from_env() {
            Some(password) => password,
            None => match &self.config.password_command {
                Some(command) => match password_source::from_command(command) {
                    Ok(password) => password,
                    Err(message) => {
                        self.automatic_failed.store(true, Ordering::SeqCst);
                        tracing::warn!(%message, "password command failed");
                        return Err(VaultError::PasswordCommand(message));
                    }
                },
                None => return Ok(None),
            },
        };
        Ok(Some(self.secret_for(header, Some(&password))?))
    }

    fn secret_for(
        &self,
        header: &crate::crypto::VaultHeader,
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

    fn read_key_file(&self) -> Result<Option<Zeroizing<[u8; 32]>>, VaultError> {
        key_file::read(&self.files.key_file).map_err(|error| self.key_file_error(error.to_string()))
    }

    fn require_key_file(&self) -> Result<Zeroizing<[u8; 32]>, VaultError> {
        self.read_key_file()?
            .ok_or(VaultError::Crypto(CryptoError::KeyFileMissing))
    }

    fn read_or_create_key_file(&self) -> Result<Zeroizing<[u8; 32]>, VaultError> {
        if let Some(bytes) = self.read_key_file()? {
            return Ok(bytes);
        }
        match key_file::create(&self.files.key_file) {
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
            path: self.files.key_file.clone(),
            message,
        }
    }
}

/// Whether a storage error comes from the machine (a full disk, a read-only file system,
/// permissions), not from damaged data: then fixing the machine and restarting is the way
/// out, never a reset.
fn environmental(why: &str) -> bool {
    ["disk is full", "read-only", "permission denied", "quota"]
        .iter()
        .any(|cause| why.contains(cause))
}

fn missing_vault_file(path: &std::path::Path) -> VaultError {
    VaultError::Damaged(format!(
        "the vault file {} is missing while its database exists: restore a backup \
         or reset the vault (which starts afresh)",
        path.display()
    ))
}

/// The epoch of the next body: one more than `previous`, and never behind the clock (in
/// milliseconds). A reset or restore in another process writes a new vault without knowing
/// the last epoch (it may not be able to open that file); the clock keeps its epoch ahead of
/// every body written before, so no process mistakes it for a rollback.
pub(crate) fn next_epoch(previous: u64) -> u64 {
    let now = u64::try_from(crate::clock::now_millis()).unwrap_or(0);
    previous.saturating_add(1).max(now)
}

fn check_new_password(password: &str) -> Result<(), VaultError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(VaultError::WeakPassword);
    }
    Ok(())
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

/// Records held in memory: a backup being checked before it replaces anything.
struct MemoryStore {
    trees: std::collections::HashMap<Tree, std::collections::BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl MemoryStore {
    fn new(entries: &TreeEntries) -> Self {
        let mut trees: std::collections::HashMap<Tree, std::collections::BTreeMap<_, _>> =
            std::collections::HashMap::new();
        for (tree, key, value) in entries {
            trees
                .entry(*tree)
                .or_default()
                .insert(key.clone(), value.clone());
        }
        Self { trees }
    }
}

impl Backend for MemoryStore {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.trees.get(&tree).and_then(|t| t.get(key).cloned()))
    }
    fn scan(&self, tree: Tree, prefix: &[u8]) -> Result<crate::store::Entries, StoreError> {
        Ok(self
            .trees
            .get(&tree)
            .map(|t| {
                t.range(prefix.to_vec()..)
                    .take_while(|(key, _)| key.starts_with(prefix))
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }
    fn apply(&self, _ops: Vec<Op>) -> Result<(), StoreError> {
        Err(StoreError::Database(
            "a backup being checked is read-only".into(),
        ))
    }
    fn clear(&self, _trees: &[Tree]) -> Result<(), StoreError> {
        Err(StoreError::Database(
            "a backup being checked is read-only".into(),
        ))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
