//! Error codes sent to editors. The numbers are a contract (see `docs/protocol.md`): never
//! renumber one, only add.

use jsonrpsee::types::ErrorObjectOwned;
use serde_json::Value;

/// Every error code the server sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The frame was not valid JSON (or could not be delimited at all).
    ParseError,
    /// The JSON was not a valid JSON-RPC request.
    InvalidRequest,
    /// No such method.
    MethodNotFound,
    /// The params did not match the method's schema.
    InvalidParams,
    /// A bug on our side; details are in the log.
    InternalError,
    /// The request was cancelled by `$/cancelRequest` (or `chat/cancel`).
    RequestCancelled,
    /// The server received `shutdown` and takes no new requests.
    ShuttingDown,
    /// The vault is locked; unlock it with `vault/unlock`.
    VaultLocked,
    /// The password given does not open the vault.
    WrongPassword,
    /// A stored record failed its integrity check (tampered or truncated).
    IntegrityError,
    /// An API key does not have the format the provider uses.
    InvalidKeyFormat,
    /// No API key is known for the provider.
    KeyMissing,
    /// The provider answered with an error (`data.status` carries the HTTP status).
    ProviderError,
    /// The provider could not be reached (refused, DNS, TLS, timeout).
    ProviderUnreachable,
    /// The chat, message, key or provider named does not exist.
    NotFound,
    /// The database or a file could not be read or written.
    StorageError,
    /// The configuration is invalid (`data` names the key and line).
    ConfigError,
    /// A path given for export, import or backup was refused.
    PathRefused,
    /// A destructive call was made without its explicit confirmation.
    ConfirmationRequired,
    /// A context file was not sent: sensitive or ignored (to confirm), binary or too large.
    ContextRefused,
    /// Context could not be had: git failed or is missing, a web page could not be fetched.
    ContextUnavailable,
}

impl ErrorCode {
    /// The wire number of this code.
    pub const fn code(self) -> i32 {
        match self {
            ErrorCode::ParseError => -32700,
            ErrorCode::InvalidRequest => -32600,
            ErrorCode::MethodNotFound => -32601,
            ErrorCode::InvalidParams => -32602,
            ErrorCode::InternalError => -32603,
            ErrorCode::RequestCancelled => -32800,
            ErrorCode::ShuttingDown => -32001,
            ErrorCode::VaultLocked => 1001,
            ErrorCode::WrongPassword => 1002,
            ErrorCode::IntegrityError => 1003,
            ErrorCode::InvalidKeyFormat => 1004,
            ErrorCode::KeyMissing => 1005,
            ErrorCode::ProviderError => 1101,
            ErrorCode::ProviderUnreachable => 1102,
            ErrorCode::NotFound => 1201,
            ErrorCode::StorageError => 1301,
            ErrorCode::ConfigError => 1401,
            ErrorCode::PathRefused => 1402,
            ErrorCode::ConfirmationRequired => 1403,
            ErrorCode::ContextRefused => 1404,
            ErrorCode::ContextUnavailable => 1405,
        }
    }

    /// Every code, for documentation checks.
    pub const ALL: [ErrorCode; 21] = [
        ErrorCode::ParseError,
        ErrorCode::InvalidRequest,
        ErrorCode::MethodNotFound,
        ErrorCode::InvalidParams,
        ErrorCode::InternalError,
        ErrorCode::RequestCancelled,
        ErrorCode::ShuttingDown,
        ErrorCode::VaultLocked,
        ErrorCode::WrongPassword,
        ErrorCode::IntegrityError,
        ErrorCode::InvalidKeyFormat,
        ErrorCode::KeyMissing,
        ErrorCode::ProviderError,
        ErrorCode::ProviderUnreachable,
        ErrorCode::NotFound,
        ErrorCode::StorageError,
        ErrorCode::ConfigError,
        ErrorCode::PathRefused,
        ErrorCode::ConfirmationRequired,
        ErrorCode::ContextRefused,
        ErrorCode::ContextUnavailable,
    ];
}

/// An error on its way to the editor: a code, a message for people, optional structured data.
///
/// Messages must never contain a secret: they are shown in editors and written to logs.
#[derive(Debug, Clone, PartialEq)]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    pub data: Option<Value>,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code.code())
    }
}

impl std::error::Error for AppError {}

impl From<AppError> for ErrorObjectOwned {
    fn from(error: AppError) -> Self {
        ErrorObjectOwned::owned(error.code.code(), error.message, error.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique() {
        let mut codes: Vec<i32> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
    }
}
