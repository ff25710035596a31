//! Params and results of the methods, as they travel on the wire (camelCase).

use serde::{Deserialize, Serialize};

use crate::paths::Paths;

/// The protocol version this server speaks. Bumped on an incompatible change only.
pub const PROTOCOL_VERSION: &str = "1.0";

/// `initialize` params. All optional: a client may send none.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeParams {
    pub client_info: Option<ClientInfo>,
    /// The protocol version the client was written for.
    pub protocol_version: Option<String>,
}

/// Who is talking to us, for the log.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ClientInfo {
    pub name: String,
    pub version: Option<String>,
}

/// `initialize` result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeResult {
    pub server_info: ServerInfo,
    pub protocol_version: &'static str,
    pub capabilities: Capabilities,
    pub paths: Paths,
    pub config: ConfigStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    pub name: &'static str,
    pub version: &'static str,
}

/// What this server can do, so clients can adapt to older or newer servers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// Every method the server answers.
    pub methods: Vec<String>,
    /// Every notification the server may send.
    pub notifications: Vec<&'static str>,
    /// The largest frame body accepted, in bytes.
    pub max_frame_bytes: usize,
}

/// Whether the config file was used, and what was wrong with it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigStatus {
    pub file: std::path::PathBuf,
    /// Whether the file exists.
    pub found: bool,
    /// The problem that made the server fall back to defaults, if any.
    pub error: Option<String>,
}

/// `$/test/sleep` params (test hooks only).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SleepParams {
    pub millis: u64,
}
