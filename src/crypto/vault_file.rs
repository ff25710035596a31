//! The vault file's bytes: a header that says how to unlock, then one sealed body.
//!
//! ```text
//! magic      "CHINWAG-VAULT/2\n"                      16 bytes
//! length     u32 BE                                   length of the header
//! header     JSON: a [`VaultHeader`] wrapping one vault key (protection, Argon2 costs, salt,
//!            check value, the wrapped key)
//! checksum   SHA-256 of everything above              32 bytes
//! mac        HMAC-SHA-256 of everything above the checksum, under a key derived from the
//!            local key file; 32 zero bytes when no key file is part of the secret
//! nonce      12 random bytes, fresh for every write
//! body       AES-256-GCM under the vault key; associated data: every byte before the nonce
//! ```
//!
//! Opening runs in a fixed order, each step refusing before the next costs anything, as KDBX4
//! does: the magic and lengths, the checksum (an accidental or naive edit of the header is
//! told apart from a wrong password before any Argon2 work), the Argon2 costs against the
//! caller's bounds, the key-file MAC (with a key file, a deliberate edit is caught before
//! Argon2 too), then one derivation and the check value (a wrong password), then the wrapped
//! key and the body's tag (anything else). Because the body's associated data is the whole
//! header, no header byte can change without the body failing.
//!
//! The header only changes when the protection does; every other write re-seals the body
//! under the same vault key with a fresh nonce.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::aead::{self, NONCE_LEN, TAG_LEN};
use super::{CryptoError, DataKey, KdfParams, KeyRing, Unlock, VaultHeader, random};

/// The first bytes of every vault file.
pub const MAGIC: &[u8; 16] = b"CHINWAG-VAULT/2\n";
/// Headers are a few hundred bytes; anything near this is not ours.
const MAX_HEADER: usize = 64 * 1024;
const DIGEST_LEN: usize = 32;
const MAC_LABEL: &[u8] = b"chinwag/v2/vault-header-mac";

/// A parsed, checksum-verified header, not yet unlocked.
#[derive(Debug, Clone)]
pub struct SealedVault {
    /// Everything before the nonce: magic, length, header, checksum, MAC.
    prefix: Vec<u8>,
    /// The header decoded from the prefix.
    header: VaultHeader,
    /// The MAC as stored.
    mac: [u8; DIGEST_LEN],
    /// Nonce and sealed body.
    body: Vec<u8>,
}

/// The unwrapped vault key with the header it belongs to: enough to read and write bodies
/// until the protection changes. Wiped on drop.
pub struct OpenVault {
    prefix: Vec<u8>,
    header: VaultHeader,
    key: DataKey,
}

impl std::fmt::Debug for OpenVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenVault")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl SealedVault {
    /// Parse `bytes` and verify the header checksum. Nothing secret is needed or touched.
    pub fn parse(bytes: &[u8]) -> Result<SealedVault, CryptoError> {
        const DAMAGED: CryptoError = CryptoError::Integrity("the vault file header is damaged");
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or(CryptoError::Integrity("not a chinwag vault file"))?;
        let (length, rest) = rest.split_at_checked(4).ok_or(DAMAGED)?;
        let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
        if length > MAX_HEADER {
            return Err(DAMAGED);
        }
        let (header_bytes, rest) = rest.split_at_checked(length).ok_or(DAMAGED)?;
        let (checksum, rest) = rest.split_at_checked(DIGEST_LEN).ok_or(DAMAGED)?;
        let (mac, body) = rest.split_at_checked(DIGEST_LEN).ok_or(DAMAGED)?;
        let covered = MAGIC.len() + 4 + length;
        let digest = Sha256::digest(&bytes[..covered]);
        if !bool::from(digest.as_slice().ct_eq(checksum)) {
            return Err(DAMAGED);
        }
        if body.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Integrity("the vault file body is truncated"));
        }
        let header = VaultHeader::from_bytes(header_bytes)?;
        if header.keys.len() != 1 {
            return Err(CryptoError::Integrity("the vault file header"));
        }
        let prefix_len = covered + 2 * DIGEST_LEN;
        Ok(SealedVault {
            prefix: bytes[..prefix_len].to_vec(),
            header,
            mac: mac.try_into().map_err(|_| DAMAGED)?,
            body: body.to_vec(),
        })
    }

    /// How this vault is protected (and with which Argon2 costs), to check before unlocking.
    pub fn header(&self) -> &VaultHeader {
        &self.header
    }

    /// Check the key-file MAC, when a key file is part of the secret. Cheap: call it before
    /// any Argon2 work so that an edited header is refused as tampering, not a wrong password.
    pub fn verify_key_file(&self, key_file: &[u8; 32]) -> Result<(), CryptoError> {
        if !self.header.uses_key_file() && self.header.is_password() {
            return Ok(());
        }
        let expected = header_mac(key_file, &self.prefix[..self.prefix.len() - 2 * DIGEST_LEN])?;
        if bool::from(expected.as_slice().ct_eq(&self.mac)) {
            Ok(())
        } else {
            Err(CryptoError::Integrity(
                "the vault file does not match the local key file (altered, or the key file was replaced)",
            ))
        }
    }

    /// Derive, check and unwrap: the vault key. `verify_key_file` must have passed when a key
    /// file is in use; `unlock` carries the same key file.
    pub fn unlock(&self, unlock: &Unlock<'_>) -> Result<OpenVault, CryptoError> {
        if let Unlock::Password {
            key_file: Some(file),
            ..
        }
        | Unlock::LocalKey(file) = *unlock
            && (self.header.uses_key_file() || !self.header.is_password())
        {
            self.verify_key_file(file)?;
        }
        let ring = self.header.open(unlock)?;
        let key = ring.current().duplicate();
        Ok(OpenVault {
            prefix: self.prefix.clone(),
            header: self.header.clone(),
            key,
        })
    }
}

impl OpenVault {
    /// A new vault key sealed under `unlock`: a new header, ready for its first body.
    pub fn create(unlock: &Unlock<'_>, kdf: &KdfParams) -> Result<OpenVault, CryptoError> {
        let ring = KeyRing::new(vec![DataKey::generate(1)?])?;
        let header = VaultHeader::seal(&ring, unlock, kdf)?;
        let header_bytes = header.to_bytes()?;
        let length =
            u32::try_from(header_bytes.len()).map_err(|_| CryptoError::Integrity("header"))?;
        let mut prefix = Vec::with_capacity(MAGIC.len() + 4 + header_bytes.len() + 64);
        prefix.extend_from_slice(MAGIC);
        prefix.extend_from_slice(&length.to_be_bytes());
        prefix.extend_from_slice(&header_bytes);
        let checksum = Sha256::digest(&prefix);
        let mac = match *unlock {
            Unlock::LocalKey(file)
            | Unlock::Password {
                key_file: Some(file),
                ..
            } => header_mac(file, &prefix)?,
            Unlock::Password { key_file: None, .. } => [0u8; DIGEST_LEN],
        };
        prefix.extend_from_slice(&checksum);
        prefix.extend_from_slice(&mac);
        let key = ring.current().duplicate();
        Ok(OpenVault {
            prefix,
            header,
            key,
        })
    }

    /// The whole file: header, then `body` sealed with a fresh nonce.
    pub fn seal(&self, body: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce = random::array::<NONCE_LEN>()?;
        let mut out = Vec::with_capacity(self.prefix.len() + NONCE_LEN + body.len() + TAG_LEN);
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(&nonce);
        aead::seal_into(self.key.bytes(), &nonce, &self.prefix, body, &mut out)
            .map_err(|_| CryptoError::Integrity("the vault body is too large"))?;
        Ok(out)
    }

    /// The plaintext body of `sealed`, which must carry this very header (the same vault key).
    pub fn open(&self, sealed: &SealedVault) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.prefix != self.prefix {
            return Err(CryptoError::UnknownGeneration(0));
        }
        let (nonce, body) = sealed.body.split_at(NONCE_LEN);
        let nonce: &[u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| CryptoError::Integrity("vault body"))?;
        aead::open(self.key.bytes(), nonce, &self.prefix, body)
            .map_err(|_| CryptoError::Integrity("the vault file body failed its check"))
    }

    /// The header, for status (protection, key-file use, Argon2 costs).
    pub fn header(&self) -> &VaultHeader {
        &self.header
    }

    /// The raw vault key. Nothing in chinwag calls this: it exists for the tests that carve
    /// the data folder with every key they ever knew.
    #[doc(hidden)]
    pub fn key_bytes_for_carving(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(*self.key.bytes())
    }

    /// Whether `sealed` was written under this very header (so this key opens its body).
    pub fn same_header(&self, sealed: &SealedVault) -> bool {
        self.prefix == sealed.prefix
    }
}

fn header_mac(key_file: &[u8; 32], covered: &[u8]) -> Result<[u8; DIGEST_LEN], CryptoError> {
    let hkdf = hkdf::Hkdf::<Sha256>::new(None, key_file);
    let mut mac_key = Zeroizing::new([0u8; 32]);
    hkdf.expand(MAC_LABEL, mac_key.as_mut_slice())
        .map_err(|_| CryptoError::Integrity("header MAC key"))?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(mac_key.as_slice())
        .map_err(|_| CryptoError::Integrity("header MAC key"))?;
    mac.update(covered);
    Ok(mac.finalize().into_bytes().into())
}

/// A 16-byte digest of a sealed record, kept in the vault file (chat records) or in a chat
/// record (its messages) to notice deletion, rollback and splicing.
pub fn record_digest(sealed: &[u8]) -> [u8; 16] {
    let digest = Sha256::digest(sealed);
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_FILE: [u8; 32] = [9; 32];
    const OTHER: [u8; 32] = [8; 32];

    fn local() -> (OpenVault, Vec<u8>) {
        let open = OpenVault::create(&Unlock::LocalKey(&KEY_FILE), &KdfParams::FLOOR).unwrap();
        let bytes = open.seal(b"{\"hello\":1}").unwrap();
        (open, bytes)
    }

    #[test]
    fn a_body_round_trips_and_each_write_has_a_fresh_nonce() {
        let (open, bytes) = local();
        let sealed = SealedVault::parse(&bytes).unwrap();
        let again = sealed.unlock(&Unlock::LocalKey(&KEY_FILE)).unwrap();
        assert_eq!(&again.open(&sealed).unwrap()[..], b"{\"hello\":1}");
        assert_ne!(open.seal(b"x").unwrap(), open.seal(b"x").unwrap());
    }

    #[test]
    fn every_flipped_bit_is_refused_and_never_opens_as_something_else() {
        let (_, bytes) = local();
        for index in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut copy = bytes.clone();
                copy[index] ^= bit;
                let result = SealedVault::parse(&copy)
                    .and_then(|sealed| {
                        let open = sealed.unlock(&Unlock::LocalKey(&KEY_FILE))?;
                        open.open(&sealed)
                    })
                    .map(|body| body.to_vec());
                match result {
                    Err(CryptoError::Integrity(_)) => {}
                    other => panic!("byte {index} bit {bit:#x}: {other:?}"),
                }
            }
        }
        for cut in 0..bytes.len() {
            let opened = SealedVault::parse(&bytes[..cut]).and_then(|sealed| {
                let open = sealed.unlock(&Unlock::LocalKey(&KEY_FILE))?;
                open.open(&sealed)
            });
            assert!(opened.is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn another_key_file_is_refused_before_any_derivation() {
        let open = OpenVault::create(
            &Unlock::Password {
                password: b"correct horse",
                key_file: Some(&KEY_FILE),
            },
            &KdfParams::FLOOR,
        )
        .unwrap();
        let sealed = SealedVault::parse(&open.seal(b"{}").unwrap()).unwrap();
        assert!(sealed.verify_key_file(&KEY_FILE).is_ok());
        assert!(matches!(
            sealed.verify_key_file(&OTHER),
            Err(CryptoError::Integrity(_))
        ));
        assert_eq!(
            sealed
                .unlock(&Unlock::Password {
                    password: b"wrong horse",
                    key_file: Some(&KEY_FILE)
                })
                .unwrap_err(),
            CryptoError::WrongPassword
        );
    }
}
