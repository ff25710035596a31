//! Persisted user settings (privacy choices), kept in the `meta` tree. They hold nothing about
//! any conversation, so they are stored as plain JSON and readable while the vault is locked:
//! the on-exit duties must run even then.

use serde::{Deserialize, Serialize};

use crate::store::{Backend, Op, StoreError, Tree};

const SETTINGS_KEY: &[u8] = b"settings";

/// Every setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// Delete every chat when chinwag stops.
    pub clear_history_on_exit: bool,
    /// Delete every stored API key when chinwag stops.
    pub delete_keys_on_exit: bool,
}

/// `settings/set` params: any subset.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsPatch {
    pub clear_history_on_exit: Option<bool>,
    pub delete_keys_on_exit: Option<bool>,
}

/// The stored settings (defaults when none are stored or they are unreadable).
pub fn load(backend: &dyn Backend) -> Result<Settings, StoreError> {
    Ok(backend
        .get(Tree::Meta, SETTINGS_KEY)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default())
}

/// Apply `patch` and store the result.
pub fn update(backend: &dyn Backend, patch: SettingsPatch) -> Result<Settings, StoreError> {
    let mut settings = load(backend)?;
    if let Some(value) = patch.clear_history_on_exit {
        settings.clear_history_on_exit = value;
    }
    if let Some(value) = patch.delete_keys_on_exit {
        settings.delete_keys_on_exit = value;
    }
    let value = serde_json::to_vec(&settings).unwrap_or_default();
    backend.apply(vec![Op::Insert {
        tree: Tree::Meta,
        key: SETTINGS_KEY.to_vec(),
        value,
    }])?;
    Ok(settings)
}
