//! What every method shares: configuration, paths, storage and its services, the outgoing
//! channel, lifecycle state.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::chat::ChatService;
use crate::config::Config;
use crate::history::History;
use crate::paths::Paths;
use crate::protocol::{AppError, ErrorCode};
use crate::transport::Outgoing;
use crate::vault::Vault;

/// The vault (with the database it vouches for) and the services built on it.
pub struct Storage {
    pub vault: Arc<Vault>,
    pub history: Arc<History>,
}

impl Storage {
    /// Open the vault and its database (or reach the chinwag that owns it).
    pub fn open(paths: &Paths, config: &Config) -> Result<Storage, String> {
        let vault = Vault::open(paths, config.vault.clone(), config.storage.cache_bytes).map_err(
            |error| {
                format!(
                    "cannot open the vault and database in {}: {error}; restart chinwag once \
                     this is fixed",
                    paths.data_dir.display()
                )
            },
        )?;
        let vault = Arc::new(vault);
        let history = Arc::new(History::new(vault.clone(), paths.home_dir.clone()));
        Ok(Storage { vault, history })
    }

    /// The privacy settings' on-exit duties (clear history and/or delete keys), when this
    /// process is the last chinwag using the database. A follower never runs them, and an
    /// owner with followers connected leaves them to the last one: clearing here would wipe
    /// a chat another editor is in the middle of.
    pub fn run_exit_duties(&self) {
        if self.is_last_user() {
            self.run_duties();
        }
    }

    /// At start, when this process is alone with the database (the owner, no follower
    /// connected): remove records a crash left without a key, and run the on-exit duties that
    /// a process which died could not run. A process starting beside another chinwag must not
    /// wipe that one's chat.
    pub fn run_missed_exit_duties(&self) {
        if self.is_last_user() {
            match self.vault.sweep_orphans() {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "removed records whose chat key is gone"),
                Err(error) => tracing::debug!(%error, "no sweep of orphaned records"),
            }
            self.run_duties();
        }
    }

    fn is_last_user(&self) -> bool {
        let store = match self.vault.store() {
            Ok(store) => store,
            Err(_) => return false,
        };
        match store.is_sole_user() {
            Ok(true) => true,
            Ok(false) => {
                tracing::info!(
                    "other chinwag processes use the database; the privacy duties are left to \
                     the last one"
                );
                false
            }
            Err(error) => {
                tracing::warn!(%error, "cannot reach the database for the privacy duties");
                false
            }
        }
    }

    /// The duties themselves. They need the vault open (the settings, like every key, are
    /// sealed in it): a locked password vault without `CHINWAG_PASSWORD` or
    /// `password_command` leaves them to the next start.
    fn run_duties(&self) {
        let settings = match self.vault.settings() {
            Ok(settings) => settings,
            Err(error) => {
                tracing::warn!(%error, "cannot read settings for the on-exit duties");
                return;
            }
        };
        if settings.clear_history_on_exit {
            match self.history.clear() {
                Ok(count) => tracing::info!(count, "history cleared (privacy setting)"),
                Err(error) => tracing::warn!(%error, "clearing history failed"),
            }
        }
        if settings.delete_keys_on_exit {
            match self.vault.delete_all_keys() {
                Ok(()) => tracing::info!("keys deleted (privacy setting)"),
                Err(error) => tracing::warn!(%error, "deleting keys failed"),
            }
        }
    }
}

/// The server's shared state, built once at start and handed to every method family.
pub struct App {
    pub paths: Paths,
    /// The config, with the problems found in the file (`config.problems`).
    pub config: Config,
    pub outgoing: Outgoing,
    storage: Result<Storage, String>,
    chat: Result<Arc<ChatService>, String>,
    method_names: OnceLock<Vec<String>>,
    shutdown_requested: AtomicBool,
}

impl App {
    pub fn new(paths: Paths, config: Config, outgoing: Outgoing) -> Self {
        let storage = Storage::open(&paths, &config);
        match &storage {
            Ok(storage) => storage.run_missed_exit_duties(),
            Err(error) => tracing::error!(%error, "storage unavailable"),
        }
        let chat = match &storage {
            Ok(storage) => ChatService::open(&config, storage.history.clone()).map(Arc::new),
            Err(error) => Err(error.clone()),
        };
        Self {
            paths,
            config,
            outgoing,
            storage,
            chat,
            method_names: OnceLock::new(),
            shutdown_requested: AtomicBool::new(false),
        }
    }

    /// The storage services, or the error that keeps them away.
    pub fn storage(&self) -> Result<&Storage, AppError> {
        self.storage
            .as_ref()
            .map_err(|error| AppError::new(ErrorCode::StorageError, error.clone()))
    }

    /// The chat service, or the error that keeps it away.
    pub fn chat(&self) -> Result<Arc<ChatService>, AppError> {
        self.chat
            .clone()
            .map_err(|error| AppError::new(ErrorCode::StorageError, error))
    }

    /// Record the names of the registered methods (once, after the dispatcher is built).
    pub fn set_method_names(&self, names: Vec<String>) {
        let _ = self.method_names.set(names);
    }

    /// The names of the registered methods, sorted.
    pub fn method_names(&self) -> Vec<String> {
        self.method_names.get().cloned().unwrap_or_default()
    }

    /// Mark that `shutdown` was received.
    pub fn request_shutdown(&self) {
        self.shutdown_requested.store(true, Ordering::SeqCst);
    }

    /// Whether `shutdown` was received.
    pub fn shutdown_requested(&self) -> bool {
        self.shutdown_requested.load(Ordering::SeqCst)
    }
}
