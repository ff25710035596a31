//! Randomness from the operating system, the only source of keys, salts and nonces.

use super::CryptoError;

/// Fill `buffer` with bytes from the OS generator (getrandom), never from a userspace PRNG.
pub(super) fn fill(buffer: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buffer).map_err(|error| CryptoError::Random(error.to_string()))
}

/// A fresh random array, for values that are not secret (salts, nonces).
pub(super) fn array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut bytes = [0u8; N];
    fill(&mut bytes)?;
    Ok(bytes)
}
