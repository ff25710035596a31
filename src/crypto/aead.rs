//! AES-256-GCM with detached buffers, shared by key wrapping and record sealing.
//!
//! Both callers need the same care: ciphertext is written into a buffer reserved up front so
//! that growing it never leaves a copy of the plaintext in freed memory, and decrypted bytes
//! only ever live in a buffer that is wiped on drop.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use zeroize::Zeroizing;

/// Bytes in a GCM nonce.
pub(super) const NONCE_LEN: usize = 12;
/// Bytes in a GCM tag.
pub(super) const TAG_LEN: usize = 16;

/// Why an AEAD operation failed; callers turn it into an error naming what they were doing.
#[derive(Debug)]
pub(super) struct Failed;

/// Append `ciphertext || tag` of `plaintext` to `out`.
pub(super) fn seal_into(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Failed> {
    out.reserve_exact(plaintext.len() + TAG_LEN);
    let start = out.len();
    out.extend_from_slice(plaintext);
    let cipher = Aes256Gcm::new(key.into());
    match cipher.encrypt_in_place_detached(Nonce::from_slice(nonce), aad, &mut out[start..]) {
        Ok(tag) => {
            out.extend_from_slice(&tag);
            Ok(())
        }
        Err(_) => {
            // Too long to encrypt: nothing was encrypted, so wipe the plaintext copy.
            zeroize::Zeroize::zeroize(&mut out[start..]);
            out.truncate(start);
            Err(Failed)
        }
    }
}

/// Open `ciphertext || tag`. The tag is checked before anything is decrypted.
pub(super) fn open(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Failed> {
    let body_len = sealed.len().checked_sub(TAG_LEN).ok_or(Failed)?;
    let (body, tag) = sealed.split_at(body_len);
    let mut plain = Zeroizing::new(body.to_vec());
    let cipher = Aes256Gcm::new(key.into());
    cipher
        .decrypt_in_place_detached(
            Nonce::from_slice(nonce),
            aad,
            &mut plain,
            Tag::from_slice(tag),
        )
        .map_err(|_| Failed)?;
    Ok(plain)
}
