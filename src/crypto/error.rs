//! The one error type of the crypto module.
//!
//! Messages are written for the person at the editor: they say what went wrong and, where
//! it helps, what to do. None of them carries a secret, a key byte or a plaintext, so an
//! error can be logged or sent over the wire as it is.

/// Everything that can go wrong while deriving, wrapping, sealing or opening.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The password (or, for a password vault with a key file, the pair) does not open
    /// the vault. The two cannot be told apart: both go into the same derivation.
    #[error("wrong password")]
    WrongPassword,
    /// A vault protected by the local key file alone was given a different key file.
    #[error("the local key file does not match this vault")]
    KeyFileMismatch,
    /// The vault header says a key file is part of the secret, and none was given.
    #[error("this vault needs its local key file (~/.config/chinwag/vault.key), which is missing")]
    KeyFileMissing,
    /// Stored bytes were altered, truncated or are not ours. The text says which part.
    #[error("the stored data failed its integrity check (tampered or truncated): {0}")]
    Integrity(&'static str),
    /// Argon2 parameters below the safe floor or above what a machine can reasonably do.
    #[error("key derivation parameters out of range: {0}")]
    ParamsOutOfRange(String),
    /// A record was sealed under a data key generation the key ring does not hold.
    #[error("this record was sealed with data key generation {0}, which the vault no longer holds")]
    UnknownGeneration(u32),
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),
}
