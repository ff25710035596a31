//! User settings (privacy choices). They live in the vault file's sealed body, like every
//! other thing chinwag keeps: a plain copy could be switched off by anyone who can write the
//! data folder (the on-exit duties among them) without anything noticing.

use serde::{Deserialize, Serialize};

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

impl SettingsPatch {
    /// Apply the fields that are set.
    pub fn apply_to(&self, settings: &mut Settings) {
        if let Some(value) = self.clear_history_on_exit {
            settings.clear_history_on_exit = value;
        }
        if let Some(value) = self.delete_keys_on_exit {
            settings.delete_keys_on_exit = value;
        }
    }
}
