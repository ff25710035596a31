//! The vault header: the data keys, wrapped under the user's secret.
//!
//! Unlocking runs in a fixed order, each step refusing before the next costs anything:
//! the format, then the Argon2 parameters (before any derivation, since they are stored
//! and so attacker-controlled), then the presence of a required key file, then one
//! derivation, then the check value (constant time, before any decryption), and last the
//! unwrapping of each data key, whose tag covers the header's settings and the key's
//! generation. See [`super::descriptor`] for what exactly is bound.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::descriptor::{self, FORMAT, Scheme};
use super::{CryptoError, DataKey, KdfParams, KeyRing, aead, kdf, random};

/// The stored header, serialised as JSON by [`VaultHeader::to_bytes`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaultHeader {
    /// Header format; only 1 exists.
    pub format: u32,
    /// How the wrap key is obtained.
    pub protection: HeaderProtection,
    /// Base64 of the 32-byte check value that proves the secret right before decrypting.
    pub check: String,
    /// Every data key in the ring, wrapped.
    pub keys: Vec<WrappedKey>,
}

/// How a header is unlocked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum HeaderProtection {
    /// A password stretched with Argon2id, optionally mixed with the local key file.
    Password {
        /// Argon2id costs used when this header was sealed.
        kdf: KdfParams,
        /// Base64 of the 16-byte Argon2 salt, fresh for every seal.
        salt: String,
        /// Whether the local key file is Argon2's secret input.
        key_file: bool,
    },
    /// The local key file alone (no password set): as safe as that file's permissions.
    LocalKey,
}

/// One data key encrypted with AES-256-GCM under the header's wrap key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// The data key's generation, also bound into the tag.
    pub generation: u32,
    /// Base64 of the 12-byte nonce.
    pub nonce: String,
    /// Base64 of the wrapped key and its tag (48 bytes).
    pub ciphertext: String,
}

/// The secret that seals or opens a header.
#[derive(Clone, Copy)]
pub enum Unlock<'a> {
    /// A password, with the local key file when it is part of the secret. Opening a header
    /// that does not use a key file ignores one given here; opening a local-key header with
    /// this variant uses the key file and ignores the password, which that vault lacks.
    Password {
        /// The password as typed (UTF-8 bytes).
        password: &'a [u8],
        /// The local key file's 32 bytes, when it is part of the secret.
        key_file: Option<&'a [u8; 32]>,
    },
    /// The local key file alone.
    LocalKey(&'a [u8; 32]),
}

impl fmt::Debug for Unlock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unlock::Password { key_file, .. } => f
                .debug_struct("Password")
                .field("password", &"<redacted>")
                .field("key_file", &key_file.map(|_| "<redacted>"))
                .finish(),
            Unlock::LocalKey(_) => f.debug_tuple("LocalKey").field(&"<redacted>").finish(),
        }
    }
}

impl VaultHeader {
    /// Wrap every key of `ring` under `unlock`. A password gets a fresh salt and `kdf`'s
    /// costs (refused if out of range); `kdf` is ignored for the local key.
    pub fn seal(
        ring: &KeyRing,
        unlock: &Unlock<'_>,
        kdf: &KdfParams,
    ) -> Result<VaultHeader, CryptoError> {
        let stretched;
        let (scheme, secret) = match *unlock {
            Unlock::Password { password, key_file } => {
                let salt = random::array::<16>()?;
                stretched = kdf::derive(password, &salt, key_file, kdf)?;
                let scheme = Scheme::Password {
                    kdf: *kdf,
                    salt,
                    key_file: key_file.is_some(),
                };
                (scheme, &*stretched)
            }
            Unlock::LocalKey(key) => (Scheme::LocalKey, key),
        };
        let descriptor = descriptor::encode(FORMAT, &scheme);
        let derived = descriptor::header_keys(secret, &descriptor)?;
        let keys = ring
            .keys()
            .iter()
            .map(|key| wrap(&derived.wrap, &descriptor, key))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(VaultHeader {
            format: FORMAT,
            protection: protection_of(&scheme),
            check: B64.encode(derived.check),
            keys,
        })
    }

    /// Unwrap the key ring. Wrong secrets are told apart from tampering: a wrong password
    /// or key file fails the check value, anything else that was edited fails integrity.
    pub fn open(&self, unlock: &Unlock<'_>) -> Result<KeyRing, CryptoError> {
        if self.format != FORMAT {
            return Err(CryptoError::Integrity("unknown vault header format"));
        }
        let scheme = self.scheme()?;
        let check: [u8; 32] = decode_array(&self.check, "vault header check value")?;
        let descriptor = descriptor::encode(self.format, &scheme);
        let stretched;
        let (secret, mismatch) = match (&scheme, *unlock) {
            (
                Scheme::Password {
                    kdf,
                    salt,
                    key_file,
                },
                Unlock::Password {
                    password,
                    key_file: given,
                },
            ) => {
                kdf.check()?;
                let mixed_in = match (key_file, given) {
                    (true, None) => return Err(CryptoError::KeyFileMissing),
                    (true, Some(file)) => Some(file),
                    (false, _) => None,
                };
                stretched = kdf::derive(password, salt, mixed_in, kdf)?;
                (&*stretched, CryptoError::WrongPassword)
            }
            (Scheme::Password { .. }, Unlock::LocalKey(_)) => {
                return Err(CryptoError::WrongPassword);
            }
            (Scheme::LocalKey, Unlock::LocalKey(file))
            | (
                Scheme::LocalKey,
                Unlock::Password {
                    key_file: Some(file),
                    ..
                },
            ) => (file, CryptoError::KeyFileMismatch),
            (Scheme::LocalKey, Unlock::Password { key_file: None, .. }) => {
                return Err(CryptoError::KeyFileMissing);
            }
        };
        let derived = descriptor::header_keys(secret, &descriptor)?;
        // AES-GCM does not commit to its key, so a wrong key is caught here rather than
        // trusted to fail the tags; constant time so the comparison leaks nothing.
        if !bool::from(derived.check[..].ct_eq(&check[..])) {
            return Err(mismatch);
        }
        let keys = self
            .keys
            .iter()
            .map(|wrapped| unwrap(&derived.wrap, &descriptor, wrapped))
            .collect::<Result<Vec<_>, _>>()?;
        KeyRing::new(keys)
    }

    /// The header as stored: JSON.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CryptoError> {
        // Strings, numbers and enums serialise into memory without fail; should that ever
        // change, refuse rather than store an empty header.
        serde_json::to_vec(self)
            .map_err(|_| CryptoError::Integrity("the vault header cannot be written"))
    }

    /// Read a stored header; anything unreadable is an integrity failure.
    pub fn from_bytes(bytes: &[u8]) -> Result<VaultHeader, CryptoError> {
        serde_json::from_slice(bytes).map_err(|_| CryptoError::Integrity("unreadable vault header"))
    }

    /// Whether a password protects this vault.
    pub fn is_password(&self) -> bool {
        matches!(self.protection, HeaderProtection::Password { .. })
    }

    /// Whether the local key file is part of the password's secret (false for local-key
    /// vaults, whose key file is the whole secret).
    pub fn uses_key_file(&self) -> bool {
        matches!(
            self.protection,
            HeaderProtection::Password { key_file: true, .. }
        )
    }

    /// The Argon2 costs of a password vault.
    pub fn kdf(&self) -> Option<KdfParams> {
        match self.protection {
            HeaderProtection::Password { kdf, .. } => Some(kdf),
            HeaderProtection::LocalKey => None,
        }
    }

    fn scheme(&self) -> Result<Scheme, CryptoError> {
        Ok(match &self.protection {
            HeaderProtection::Password {
                kdf,
                salt,
                key_file,
            } => Scheme::Password {
                kdf: *kdf,
                salt: decode_array(salt, "vault header salt")?,
                key_file: *key_file,
            },
            HeaderProtection::LocalKey => Scheme::LocalKey,
        })
    }
}

fn protection_of(scheme: &Scheme) -> HeaderProtection {
    match scheme {
        Scheme::Password {
            kdf,
            salt,
            key_file,
        } => HeaderProtection::Password {
            kdf: *kdf,
            salt: B64.encode(salt),
            key_file: *key_file,
        },
        Scheme::LocalKey => HeaderProtection::LocalKey,
    }
}

/// Associated data of a wrapped key: the header's descriptor, then the key's generation.
fn wrap_aad(descriptor: &[u8], generation: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(descriptor.len() + 4);
    aad.extend_from_slice(descriptor);
    aad.extend_from_slice(&generation.to_be_bytes());
    aad
}

fn wrap(wrap_key: &[u8; 32], descriptor: &[u8], key: &DataKey) -> Result<WrappedKey, CryptoError> {
    let nonce = random::array::<{ aead::NONCE_LEN }>()?;
    let aad = wrap_aad(descriptor, key.generation());
    let mut ciphertext = Vec::new();
    aead::seal_into(wrap_key, &nonce, &aad, key.bytes(), &mut ciphertext)
        .map_err(|_| CryptoError::Integrity("wrapping a data key"))?;
    Ok(WrappedKey {
        generation: key.generation(),
        nonce: B64.encode(nonce),
        ciphertext: B64.encode(ciphertext),
    })
}

fn unwrap(
    wrap_key: &[u8; 32],
    descriptor: &[u8],
    wrapped: &WrappedKey,
) -> Result<DataKey, CryptoError> {
    const WHAT: &str = "wrapped data key";
    let nonce: [u8; aead::NONCE_LEN] = decode_array(&wrapped.nonce, WHAT)?;
    let ciphertext = B64
        .decode(&wrapped.ciphertext)
        .map_err(|_| CryptoError::Integrity(WHAT))?;
    let aad = wrap_aad(descriptor, wrapped.generation);
    let plain = aead::open(wrap_key, &nonce, &aad, &ciphertext)
        .map_err(|_| CryptoError::Integrity(WHAT))?;
    let bytes: &[u8; 32] = plain[..]
        .try_into()
        .map_err(|_| CryptoError::Integrity(WHAT))?;
    Ok(DataKey::from_bytes(wrapped.generation, bytes))
}

fn decode_array<const N: usize>(text: &str, what: &'static str) -> Result<[u8; N], CryptoError> {
    B64.decode(text)
        .ok()
        .and_then(|bytes| <[u8; N]>::try_from(bytes).ok())
        .ok_or(CryptoError::Integrity(what))
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;
    use crate::crypto::record;

    const PASSWORD: &[u8] = b"correct horse battery staple";
    const KEY_FILE: [u8; 32] = [0x5A; 32];
    const OTHER_FILE: [u8; 32] = [0xA5; 32];

    struct Sealed {
        ring: KeyRing,
        header: VaultHeader,
    }

    fn two_key_ring() -> KeyRing {
        let keys = vec![
            DataKey::generate(1).expect("random"),
            DataKey::generate(2).expect("random"),
        ];
        KeyRing::new(keys).expect("ring")
    }

    fn sealed(unlock: Unlock<'_>) -> Sealed {
        let ring = two_key_ring();
        let header = VaultHeader::seal(&ring, &unlock, &KdfParams::FLOOR).expect("seal");
        Sealed { ring, header }
    }

    /// A password-and-key-file vault, sealed once for all tests: Argon2 is slow on purpose.
    fn with_key_file() -> &'static Sealed {
        static SEALED: OnceLock<Sealed> = OnceLock::new();
        SEALED.get_or_init(|| {
            sealed(Unlock::Password {
                password: PASSWORD,
                key_file: Some(&KEY_FILE),
            })
        })
    }

    /// A password-only vault, sealed once for all tests.
    fn password_only() -> &'static Sealed {
        static SEALED: OnceLock<Sealed> = OnceLock::new();
        SEALED.get_or_init(|| {
            sealed(Unlock::Password {
                password: PASSWORD,
                key_file: None,
            })
        })
    }

    fn local() -> Sealed {
        sealed(Unlock::LocalKey(&KEY_FILE))
    }

    fn password(password: &[u8]) -> Unlock<'_> {
        Unlock::Password {
            password,
            key_file: None,
        }
    }

    fn password_and_file<'a>(password: &'a [u8], key_file: &'a [u8; 32]) -> Unlock<'a> {
        Unlock::Password {
            password,
            key_file: Some(key_file),
        }
    }

    fn edited(header: &VaultHeader, edit: impl FnOnce(&mut VaultHeader)) -> VaultHeader {
        let mut header = header.clone();
        edit(&mut header);
        header
    }

    fn edit_password(
        header: &mut VaultHeader,
        edit: impl FnOnce(&mut KdfParams, &mut String, &mut bool),
    ) {
        match &mut header.protection {
            HeaderProtection::Password {
                kdf,
                salt,
                key_file,
            } => edit(kdf, salt, key_file),
            HeaderProtection::LocalKey => panic!("not a password header"),
        }
    }

    /// Same generations, and every key of `expected` opens a record only `actual` is given.
    fn assert_same_keys(expected: &KeyRing, actual: &KeyRing) {
        assert_eq!(expected.generations(), actual.generations());
        for generation in expected.generations() {
            let key = expected.get(generation).expect("generation");
            let sealed = record::seal(key, "keys", b"openai", b"sk-secret").expect("seal");
            let opened = record::open(actual, "keys", b"openai", &sealed).expect("open");
            assert_eq!(opened.as_slice(), b"sk-secret");
        }
    }

    fn assert_refused(header: &VaultHeader, unlock: &Unlock<'_>, expected: &CryptoError) {
        match header.open(unlock) {
            Ok(ring) => panic!("opened an edited header: {ring:?}"),
            Err(error) => assert_eq!(&error, expected),
        }
    }

    fn assert_integrity(header: &VaultHeader, unlock: &Unlock<'_>) {
        match header.open(unlock) {
            Ok(ring) => panic!("opened an edited header: {ring:?}"),
            Err(error) => assert!(matches!(error, CryptoError::Integrity(_)), "{error:?}"),
        }
    }

    #[test]
    fn password_with_key_file_round_trip() {
        let sealed = with_key_file();
        assert!(sealed.header.is_password());
        assert!(sealed.header.uses_key_file());
        assert_eq!(sealed.header.kdf(), Some(KdfParams::FLOOR));
        let ring = sealed
            .header
            .open(&password_and_file(PASSWORD, &KEY_FILE))
            .expect("open");
        assert_same_keys(&sealed.ring, &ring);
    }

    #[test]
    fn password_round_trip_ignores_an_unneeded_key_file() {
        let sealed = password_only();
        assert!(sealed.header.is_password());
        assert!(!sealed.header.uses_key_file());
        let ring = sealed.header.open(&password(PASSWORD)).expect("open");
        assert_same_keys(&sealed.ring, &ring);
        let ring = sealed
            .header
            .open(&password_and_file(PASSWORD, &KEY_FILE))
            .expect("open");
        assert_same_keys(&sealed.ring, &ring);
    }

    #[test]
    fn local_key_round_trip() {
        let sealed = local();
        assert!(!sealed.header.is_password());
        assert!(!sealed.header.uses_key_file());
        assert_eq!(sealed.header.kdf(), None);
        let ring = sealed
            .header
            .open(&Unlock::LocalKey(&KEY_FILE))
            .expect("open");
        assert_same_keys(&sealed.ring, &ring);
        // A local-key vault has no password: the key file given alongside one opens it.
        let ring = sealed
            .header
            .open(&password_and_file(b"anything", &KEY_FILE))
            .expect("open");
        assert_same_keys(&sealed.ring, &ring);
        assert_refused(
            &sealed.header,
            &password(PASSWORD),
            &CryptoError::KeyFileMissing,
        );
    }

    #[test]
    fn header_survives_its_byte_form() {
        for header in [&with_key_file().header, &local().header] {
            let bytes = header.to_bytes().unwrap();
            assert_eq!(&VaultHeader::from_bytes(&bytes).expect("parse"), header);
        }
        let json: serde_json::Value =
            serde_json::from_slice(&with_key_file().header.to_bytes().unwrap()).expect("json");
        assert_eq!(json["protection"]["kind"], "password");
        assert_eq!(json["protection"]["key_file"], true);
        let json: serde_json::Value =
            serde_json::from_slice(&local().header.to_bytes().unwrap()).expect("json");
        assert_eq!(json["protection"]["kind"], "localKey");
    }

    #[test]
    fn unreadable_bytes_are_an_integrity_failure() {
        for bytes in [&b""[..], b"{", b"null", b"{\"format\":1}", &[0xff, 0xfe]] {
            assert!(matches!(
                VaultHeader::from_bytes(bytes),
                Err(CryptoError::Integrity(_))
            ));
        }
    }

    #[test]
    fn wrong_password_is_reported_as_such() {
        assert_refused(
            &password_only().header,
            &password(b"correct horse battery stapler"),
            &CryptoError::WrongPassword,
        );
    }

    #[test]
    fn wrong_key_file_in_a_password_vault_looks_like_a_wrong_password() {
        // Both are inputs of one Argon2 run, so they cannot be told apart.
        assert_refused(
            &with_key_file().header,
            &password_and_file(PASSWORD, &OTHER_FILE),
            &CryptoError::WrongPassword,
        );
    }

    #[test]
    fn wrong_local_key_file_is_a_mismatch() {
        let sealed = local();
        assert_refused(
            &sealed.header,
            &Unlock::LocalKey(&OTHER_FILE),
            &CryptoError::KeyFileMismatch,
        );
    }

    #[test]
    fn missing_required_key_file_is_reported_before_deriving() {
        assert_refused(
            &with_key_file().header,
            &password(PASSWORD),
            &CryptoError::KeyFileMissing,
        );
    }

    #[test]
    fn a_password_vault_is_not_opened_by_a_key_file_alone() {
        assert_refused(
            &with_key_file().header,
            &Unlock::LocalKey(&KEY_FILE),
            &CryptoError::WrongPassword,
        );
    }

    #[test]
    fn edited_kdf_params_fail() {
        let sealed = with_key_file();
        let unlock = password_and_file(PASSWORD, &KEY_FILE);
        let more_iterations = edited(&sealed.header, |header| {
            edit_password(header, |kdf, _, _| kdf.iterations = 3);
        });
        assert_refused(&more_iterations, &unlock, &CryptoError::WrongPassword);
        let more_lanes = edited(&sealed.header, |header| {
            edit_password(header, |kdf, _, _| kdf.parallelism = 2);
        });
        assert_refused(&more_lanes, &unlock, &CryptoError::WrongPassword);
        // Out of range is refused outright, without deriving (this one would need 4 TiB).
        let huge = edited(&sealed.header, |header| {
            edit_password(header, |kdf, _, _| kdf.memory_kib = u32::MAX);
        });
        assert!(matches!(
            huge.open(&unlock),
            Err(CryptoError::ParamsOutOfRange(_))
        ));
        let weak = edited(&sealed.header, |header| {
            edit_password(header, |kdf, _, _| kdf.iterations = 1);
        });
        assert!(matches!(
            weak.open(&unlock),
            Err(CryptoError::ParamsOutOfRange(_))
        ));
    }

    #[test]
    fn edited_salt_fails() {
        let sealed = password_only();
        let other_salt = edited(&sealed.header, |header| {
            edit_password(header, |_, salt, _| *salt = B64.encode([0u8; 16]));
        });
        assert_refused(
            &other_salt,
            &password(PASSWORD),
            &CryptoError::WrongPassword,
        );
        for bad in [
            "",
            "not base64!",
            &B64.encode([0u8; 15]),
            &B64.encode([0u8; 17]),
        ] {
            let malformed = edited(&sealed.header, |header| {
                edit_password(header, |_, salt, _| *salt = bad.to_string());
            });
            assert_integrity(&malformed, &password(PASSWORD));
        }
    }

    #[test]
    fn flipped_key_file_flag_fails() {
        // Claiming no key file is needed: the key file is then left out and the check fails.
        let dropped = edited(&with_key_file().header, |header| {
            edit_password(header, |_, _, key_file| *key_file = false);
        });
        assert_refused(
            &dropped,
            &password_and_file(PASSWORD, &KEY_FILE),
            &CryptoError::WrongPassword,
        );
        // Claiming one is needed where none was used.
        let added = edited(&password_only().header, |header| {
            edit_password(header, |_, _, key_file| *key_file = true);
        });
        assert_refused(
            &added,
            &password_and_file(PASSWORD, &KEY_FILE),
            &CryptoError::WrongPassword,
        );
        assert_refused(&added, &password(PASSWORD), &CryptoError::KeyFileMissing);
    }

    #[test]
    fn swapped_protection_kind_fails() {
        let to_local = edited(&with_key_file().header, |header| {
            header.protection = HeaderProtection::LocalKey;
        });
        assert_refused(
            &to_local,
            &Unlock::LocalKey(&KEY_FILE),
            &CryptoError::KeyFileMismatch,
        );
        let to_password = edited(&local().header, |header| {
            header.protection = HeaderProtection::Password {
                kdf: KdfParams::FLOOR,
                salt: B64.encode([0u8; 16]),
                key_file: true,
            };
        });
        assert_refused(
            &to_password,
            &password_and_file(PASSWORD, &KEY_FILE),
            &CryptoError::WrongPassword,
        );
    }

    #[test]
    fn edited_format_fails_first() {
        let future = edited(&with_key_file().header, |header| header.format = 2);
        assert_integrity(&future, &password_and_file(PASSWORD, &KEY_FILE));
    }

    #[test]
    fn edited_check_value_fails() {
        let sealed = local();
        let zeroed = edited(&sealed.header, |header| {
            header.check = B64.encode([0u8; 32]);
        });
        assert_refused(
            &zeroed,
            &Unlock::LocalKey(&KEY_FILE),
            &CryptoError::KeyFileMismatch,
        );
        let short = edited(&sealed.header, |header| {
            header.check = B64.encode([0u8; 31]);
        });
        assert_integrity(&short, &Unlock::LocalKey(&KEY_FILE));
        let zeroed = edited(&password_only().header, |header| {
            header.check = B64.encode([0u8; 32]);
        });
        assert_refused(&zeroed, &password(PASSWORD), &CryptoError::WrongPassword);
    }

    #[test]
    fn edited_wrapped_key_in_a_password_vault_fails() {
        let sealed = password_only();
        let flipped = edited(&sealed.header, |header| {
            let mut bytes = B64.decode(&header.keys[0].ciphertext).expect("b64");
            bytes[0] ^= 1;
            header.keys[0].ciphertext = B64.encode(bytes);
        });
        assert_integrity(&flipped, &password(PASSWORD));
        let renumbered = edited(&sealed.header, |header| header.keys[1].generation = 3);
        assert_integrity(&renumbered, &password(PASSWORD));
    }

    #[test]
    fn every_edit_of_a_wrapped_key_fails() {
        let sealed = local();
        let unlock = Unlock::LocalKey(&KEY_FILE);
        let ciphertext = B64.decode(&sealed.header.keys[1].ciphertext).expect("b64");
        assert_eq!(ciphertext.len(), 32 + aead::TAG_LEN);
        for index in 0..ciphertext.len() {
            let flipped = edited(&sealed.header, |header| {
                let mut bytes = ciphertext.clone();
                bytes[index] ^= 0x80;
                header.keys[1].ciphertext = B64.encode(bytes);
            });
            assert_integrity(&flipped, &unlock);
        }
        for length in 0..ciphertext.len() {
            let truncated = edited(&sealed.header, |header| {
                header.keys[1].ciphertext = B64.encode(&ciphertext[..length]);
            });
            assert_integrity(&truncated, &unlock);
        }
        let nonce = B64.decode(&sealed.header.keys[1].nonce).expect("b64");
        for index in 0..nonce.len() {
            let flipped = edited(&sealed.header, |header| {
                let mut bytes = nonce.clone();
                bytes[index] ^= 1;
                header.keys[1].nonce = B64.encode(bytes);
            });
            assert_integrity(&flipped, &unlock);
        }
        let edits: [fn(&mut VaultHeader); 6] = [
            |header| header.keys[0].generation = 5,
            |header| {
                let first = header.keys[0].generation;
                header.keys[0].generation = header.keys[1].generation;
                header.keys[1].generation = first;
            },
            |header| header.keys[0].nonce = "!".into(),
            |header| header.keys[0].ciphertext = "!".into(),
            |header| header.keys.clear(),
            |header| {
                let copy = header.keys[0].clone();
                header.keys.push(copy);
            },
        ];
        for edit in edits {
            assert_integrity(&edited(&sealed.header, edit), &unlock);
        }
    }

    #[test]
    fn reseal_under_a_new_password_keeps_the_data_keys() {
        let old = with_key_file();
        let new_password: &[u8] = b"a whole new passphrase";
        let header =
            VaultHeader::seal(&old.ring, &password(new_password), &KdfParams::FLOOR).expect("seal");
        assert!(!header.uses_key_file());
        assert_ne!(header.protection, old.header.protection, "fresh salt");
        let ring = header.open(&password(new_password)).expect("open");
        assert_same_keys(&old.ring, &ring);
        assert_refused(&header, &password(PASSWORD), &CryptoError::WrongPassword);
    }

    #[test]
    fn resealing_the_local_key_uses_fresh_nonces() {
        let sealed = local();
        let again = VaultHeader::seal(
            &sealed.ring,
            &Unlock::LocalKey(&KEY_FILE),
            &KdfParams::FLOOR,
        )
        .expect("seal");
        assert_eq!(again.check, sealed.header.check);
        assert_ne!(again.keys, sealed.header.keys);
    }

    #[test]
    fn sealing_refuses_weak_params_only_when_they_are_used() {
        let ring = two_key_ring();
        let weak = KdfParams {
            memory_kib: 1024,
            ..KdfParams::FLOOR
        };
        assert!(matches!(
            VaultHeader::seal(&ring, &password(PASSWORD), &weak),
            Err(CryptoError::ParamsOutOfRange(_))
        ));
        let header = VaultHeader::seal(&ring, &Unlock::LocalKey(&KEY_FILE), &weak).expect("seal");
        assert_eq!(header.kdf(), None);
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let shown = format!(
            "{:?} {:?}",
            password_and_file(b"hunter2", &KEY_FILE),
            Unlock::LocalKey(&KEY_FILE)
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("90"), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
