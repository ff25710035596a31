//! What a vault header commits to, and the two values derived from its secret.
//!
//! The descriptor is a fixed binary encoding of every header setting that shapes the
//! unlocking: format, protection kind, Argon2 parameters, salt and key-file flag. It goes
//! into the HKDF `info` of both derived values and into the associated data of every
//! wrapped key, so editing any of those settings changes the check value (refused before
//! anything is decrypted) and breaks every wrapped key's tag.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{CryptoError, KdfParams};

/// The only header format this code reads or writes.
pub(super) const FORMAT: u32 = 1;

const WRAP_LABEL: &[u8] = b"chinwag/v1/wrap";
const CHECK_LABEL: &[u8] = b"chinwag/v1/check";

/// Tags for the protection kind in the descriptor; never reuse a retired number.
const KIND_PASSWORD: u8 = 1;
const KIND_LOCAL_KEY: u8 = 2;

/// A header's protection settings, decoded from their stored text form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scheme {
    Password {
        kdf: KdfParams,
        salt: [u8; 16],
        key_file: bool,
    },
    LocalKey,
}

/// The canonical bytes of `format` and `scheme`. Every field has a fixed width and the
/// kind tag comes before the fields that depend on it, so two different headers can never
/// encode to the same bytes.
pub(super) fn encode(format: u32, scheme: &Scheme) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(4 + 1 + 12 + 16 + 1);
    bytes.extend_from_slice(&format.to_be_bytes());
    match scheme {
        Scheme::Password {
            kdf,
            salt,
            key_file,
        } => {
            bytes.push(KIND_PASSWORD);
            bytes.extend_from_slice(&kdf.memory_kib.to_be_bytes());
            bytes.extend_from_slice(&kdf.iterations.to_be_bytes());
            bytes.extend_from_slice(&kdf.parallelism.to_be_bytes());
            bytes.extend_from_slice(salt);
            bytes.push(u8::from(*key_file));
        }
        Scheme::LocalKey => bytes.push(KIND_LOCAL_KEY),
    }
    bytes
}

/// The values HKDF derives from the unlocking secret for one header.
pub(super) struct HeaderKeys {
    /// Wraps and unwraps the data keys.
    pub(super) wrap: Zeroizing<[u8; 32]>,
    /// Stored in the header in the clear; proves the secret right before any decryption.
    pub(super) check: [u8; 32],
}

/// Derive the wrap key and the check value from `secret` (Argon2 output or the key file)
/// under a header's descriptor. Distinct labels keep the two independent: the check value
/// is public and says nothing about the wrap key.
pub(super) fn header_keys(secret: &[u8; 32], descriptor: &[u8]) -> Result<HeaderKeys, CryptoError> {
    let hkdf = Hkdf::<Sha256>::new(None, secret);
    let mut wrap = Zeroizing::new([0u8; 32]);
    let mut check = [0u8; 32];
    hkdf.expand_multi_info(&[WRAP_LABEL, &[0], descriptor], wrap.as_mut_slice())
        .and_then(|()| hkdf.expand_multi_info(&[CHECK_LABEL, &[0], descriptor], &mut check))
        .map_err(|_| CryptoError::Integrity("header key expansion"))?;
    Ok(HeaderKeys { wrap, check })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(kdf: KdfParams, salt: [u8; 16], key_file: bool) -> Scheme {
        Scheme::Password {
            kdf,
            salt,
            key_file,
        }
    }

    #[test]
    fn every_setting_changes_the_descriptor() {
        let base = password(KdfParams::FLOOR, [1; 16], false);
        let variants = [
            encode(2, &base),
            encode(FORMAT, &Scheme::LocalKey),
            encode(
                FORMAT,
                &password(
                    KdfParams {
                        memory_kib: 19457,
                        ..KdfParams::FLOOR
                    },
                    [1; 16],
                    false,
                ),
            ),
            encode(
                FORMAT,
                &password(
                    KdfParams {
                        iterations: 3,
                        ..KdfParams::FLOOR
                    },
                    [1; 16],
                    false,
                ),
            ),
            encode(
                FORMAT,
                &password(
                    KdfParams {
                        parallelism: 2,
                        ..KdfParams::FLOOR
                    },
                    [1; 16],
                    false,
                ),
            ),
            encode(FORMAT, &password(KdfParams::FLOOR, [2; 16], false)),
            encode(FORMAT, &password(KdfParams::FLOOR, [1; 16], true)),
        ];
        let original = encode(FORMAT, &base);
        for (index, variant) in variants.iter().enumerate() {
            assert_ne!(variant, &original, "variant {index}");
        }
    }

    #[test]
    fn wrap_key_and_check_are_independent_and_bound_to_the_descriptor() {
        let secret = [9u8; 32];
        let one = header_keys(&secret, &encode(FORMAT, &Scheme::LocalKey)).expect("hkdf");
        let two = header_keys(&secret, &encode(2, &Scheme::LocalKey)).expect("hkdf");
        assert_ne!(*one.wrap, one.check);
        assert_ne!(*one.wrap, *two.wrap);
        assert_ne!(one.check, two.check);
        let other = header_keys(&[8u8; 32], &encode(FORMAT, &Scheme::LocalKey)).expect("hkdf");
        assert_ne!(one.check, other.check);
    }

    #[test]
    fn expansion_is_plain_hkdf_sha256() {
        // Pin the labels and layout: the same expansion done by hand with the hkdf crate.
        let secret = [3u8; 32];
        let descriptor = encode(FORMAT, &Scheme::LocalKey);
        let keys = header_keys(&secret, &descriptor).expect("hkdf");
        let hkdf = Hkdf::<Sha256>::new(None, &secret);
        let mut wrap = [0u8; 32];
        hkdf.expand(b"chinwag/v1/wrap\x00\x00\x00\x00\x01\x02", &mut wrap)
            .expect("hkdf");
        let mut check = [0u8; 32];
        hkdf.expand(b"chinwag/v1/check\x00\x00\x00\x00\x01\x02", &mut check)
            .expect("hkdf");
        assert_eq!(*keys.wrap, wrap);
        assert_eq!(keys.check, check);
    }
}
