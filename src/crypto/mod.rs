//! Encryption at rest: API keys and chat history are stored only as ciphertext.
//!
//! **Envelope encryption.** Records are sealed under random 256-bit *data keys*, and only
//! the data keys are encrypted ("wrapped") under the user's secret, in a small vault header
//! ([`envelope`]). The secret is a password stretched with Argon2id ([`kdf`]), optionally
//! mixed with the local key file as Argon2's secret input, or, when no password is set, the
//! local key file alone. Changing the password re-wraps the header and touches no record;
//! a stolen password-protected vault can only be attacked at Argon2's cost per guess.
//!
//! **The check value.** AES-GCM does not commit to its key, so a tag alone is a poor way to
//! tell a wrong password from tampering. HKDF derives two independent values from the
//! secret: the wrap key and a check value stored in the header. Opening compares the check
//! value in constant time before anything is decrypted; a mismatch is a wrong password (or
//! key file), anything failing after it is tampering.
//!
//! **What the associated data binds.** The header's settings (format, protection kind,
//! Argon2 costs, salt, key-file flag) go into both HKDF derivations and every wrapped key's
//! tag, so editing one to weaken the vault fails to open rather than silently downgrading
//! the next re-seal. Each record's tag covers its tree, its record key and its own version
//! and generation ([`record`]), so a ciphertext moved to another place fails.
//!
//! **Generations.** Every data key has a generation number and every record names the one
//! that sealed it. Rotation adds a new key to the [`KeyRing`], re-seals records one by one
//! and then drops the old key; a crash part way leaves a ring that still opens everything.
//!
//! Only RustCrypto crates do the cryptography (aes-gcm, argon2, hkdf, sha2, subtle); this
//! module composes them. Secrets live in zeroizing buffers and never appear in errors or
//! `Debug` output.

mod aead;
mod descriptor;
pub mod envelope;
mod error;
pub mod kdf;
mod keys;
mod process;
mod random;
pub mod record;
pub mod vault_file;

pub use envelope::{HeaderProtection, Unlock, VaultHeader, WrappedKey};
pub use error::CryptoError;
pub use kdf::KdfParams;
pub use keys::{DataKey, KeyRing};
pub use process::harden_process;
pub use vault_file::{OpenVault, SealedVault, record_digest};
