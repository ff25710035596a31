//! What every method shares: configuration, paths, the outgoing channel, lifecycle state.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::{Config, ConfigError};
use crate::paths::Paths;
use crate::transport::Outgoing;

/// The server's shared state, built once at start and handed to every method family.
pub struct App {
    pub paths: Paths,
    pub config: Config,
    /// Why the config file could not be used (the defaults are in force then).
    pub config_error: Option<ConfigError>,
    pub outgoing: Outgoing,
    method_names: OnceLock<Vec<String>>,
    shutdown_requested: AtomicBool,
}

impl App {
    pub fn new(
        paths: Paths,
        config: Config,
        config_error: Option<ConfigError>,
        outgoing: Outgoing,
    ) -> Self {
        Self {
            paths,
            config,
            config_error,
            outgoing,
            method_names: OnceLock::new(),
            shutdown_requested: AtomicBool::new(false),
        }
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
