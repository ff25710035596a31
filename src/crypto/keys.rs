//! Data keys and the ring that holds them.
//!
//! Records are sealed under random data keys, never under anything derived from the
//! password, so a password change re-wraps one small header instead of re-encrypting every
//! record. Each key has a generation; a record names the generation that sealed it, which
//! lets a rotation run record by record while old and new keys sit in the ring together.

use std::fmt;

use zeroize::Zeroizing;

use super::{CryptoError, random};

/// One random 256-bit data key and its generation.
///
/// The bytes sit behind a box so moving the key around never leaves copies on the stack,
/// and are wiped when it is dropped. Deliberately not `Clone`: copies of keys are made on
/// purpose, inside this module, or not at all.
pub struct DataKey {
    generation: u32,
    bytes: Box<Zeroizing<[u8; 32]>>,
}

impl DataKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate(generation: u32) -> Result<DataKey, CryptoError> {
        let mut bytes = Box::new(Zeroizing::new([0u8; 32]));
        random::fill(bytes.as_mut_slice())?;
        Ok(DataKey { generation, bytes })
    }

    /// Which generation this key is; records carry it so the right key opens them.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// A key from known bytes: an unwrapped key, or a fixed one in a test.
    pub(super) fn from_bytes(generation: u32, source: &[u8; 32]) -> DataKey {
        let mut bytes = Box::new(Zeroizing::new([0u8; 32]));
        bytes.copy_from_slice(source);
        DataKey { generation, bytes }
    }

    /// The raw key, for the ciphers in this module only.
    pub(super) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// An explicit copy, used when a new ring is built from an old one.
    pub(super) fn duplicate(&self) -> DataKey {
        DataKey::from_bytes(self.generation, self.bytes())
    }

    /// A key kept by [`DataKey::raw`].
    pub fn from_raw(generation: u32, bytes: &[u8; 32]) -> DataKey {
        DataKey::from_bytes(generation, bytes)
    }

    /// The key's bytes, to be kept inside the sealed vault body (per-chat keys) and nowhere
    /// else. Wiped on drop.
    pub fn raw(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(*self.bytes())
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("generation", &self.generation)
            .field("bytes", &"<redacted>")
            .finish()
    }
}

/// The data keys a vault holds: usually one, two while a rotation is under way.
///
/// Always non-empty, generations unique, kept in ascending order of generation.
pub struct KeyRing {
    keys: Vec<DataKey>,
}

impl KeyRing {
    /// A ring of `keys`; refuses an empty list and repeated generations.
    pub fn new(mut keys: Vec<DataKey>) -> Result<KeyRing, CryptoError> {
        if keys.is_empty() {
            return Err(CryptoError::Integrity("a key ring holds no keys"));
        }
        keys.sort_by_key(DataKey::generation);
        if keys
            .windows(2)
            .any(|pair| pair[0].generation == pair[1].generation)
        {
            return Err(CryptoError::Integrity(
                "a key ring holds one generation twice",
            ));
        }
        Ok(KeyRing { keys })
    }

    /// The newest key: everything sealed from now on uses it.
    pub fn current(&self) -> &DataKey {
        // `new` refuses an empty ring and nothing removes the last key.
        &self.keys[self.keys.len() - 1]
    }

    /// The key of one generation, to open records sealed under it.
    pub fn get(&self, generation: u32) -> Option<&DataKey> {
        self.keys
            .binary_search_by_key(&generation, DataKey::generation)
            .ok()
            .map(|index| &self.keys[index])
    }

    /// Every generation held, oldest first.
    pub fn generations(&self) -> Vec<u32> {
        self.keys.iter().map(DataKey::generation).collect()
    }

    /// Drop keys older than `generation`, once a rotation has re-sealed every record.
    /// The current key is always kept, so the ring never ends up empty.
    #[must_use]
    pub fn without_older_than(mut self, generation: u32) -> KeyRing {
        let keep_from = generation.min(self.current().generation);
        self.keys.retain(|key| key.generation >= keep_from);
        self
    }

    /// This ring plus a fresh key one generation newer: the first step of a rotation.
    pub fn with_new_key(&self) -> Result<KeyRing, CryptoError> {
        let next = self.current().generation.checked_add(1).ok_or_else(|| {
            CryptoError::ParamsOutOfRange("the data key generation counter is exhausted".into())
        })?;
        let mut keys: Vec<DataKey> = self.keys.iter().map(DataKey::duplicate).collect();
        keys.push(DataKey::generate(next)?);
        Ok(KeyRing { keys })
    }

    /// All keys, oldest first, for wrapping into a header.
    pub(super) fn keys(&self) -> &[DataKey] {
        &self.keys
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("generations", &self.generations())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(generations: &[u32]) -> KeyRing {
        let keys = generations
            .iter()
            .map(|&generation| DataKey::generate(generation).expect("random"))
            .collect();
        KeyRing::new(keys).expect("ring")
    }

    #[test]
    fn generated_keys_differ() {
        let a = DataKey::generate(1).expect("random");
        let b = DataKey::generate(1).expect("random");
        assert_ne!(a.bytes(), b.bytes());
        assert_ne!(a.bytes(), &[0u8; 32]);
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let key = DataKey::from_bytes(3, &[0xAB; 32]);
        let key_shown = format!("{key:?}");
        let shown = format!("{key_shown} {:?}", KeyRing::new(vec![key]).expect("ring"));
        assert!(shown.contains("redacted"));
        assert!(!shown.contains("171"), "{shown}");
        assert!(!shown.to_lowercase().contains("ab, "), "{shown}");
        assert!(!shown.to_lowercase().contains("abab"), "{shown}");
    }

    #[test]
    fn new_refuses_empty_and_duplicates() {
        assert!(matches!(
            KeyRing::new(Vec::new()),
            Err(CryptoError::Integrity(_))
        ));
        let twice = vec![
            DataKey::generate(2).expect("random"),
            DataKey::generate(2).expect("random"),
        ];
        assert!(matches!(
            KeyRing::new(twice),
            Err(CryptoError::Integrity(_))
        ));
    }

    #[test]
    fn current_is_the_highest_generation_whatever_the_order() {
        let ring = ring(&[5, 2, 9, 3]);
        assert_eq!(ring.current().generation(), 9);
        assert_eq!(ring.generations(), vec![2, 3, 5, 9]);
        assert_eq!(ring.get(5).map(DataKey::generation), Some(5));
        assert!(ring.get(4).is_none());
    }

    #[test]
    fn rotation_adds_then_drops() {
        let old = ring(&[1]);
        let both = old.with_new_key().expect("rotate");
        assert_eq!(both.generations(), vec![1, 2]);
        assert_eq!(
            both.get(1).map(DataKey::bytes),
            old.get(1).map(DataKey::bytes)
        );
        assert_ne!(both.current().bytes(), old.current().bytes());
        let new = both.without_older_than(2);
        assert_eq!(new.generations(), vec![2]);
    }

    #[test]
    fn dropping_never_empties_the_ring() {
        let ring = ring(&[1, 2]).without_older_than(10);
        assert_eq!(ring.generations(), vec![2]);
    }

    #[test]
    fn generation_counter_cannot_wrap() {
        let ring = ring(&[u32::MAX]);
        assert!(matches!(
            ring.with_new_key(),
            Err(CryptoError::ParamsOutOfRange(_))
        ));
    }
}
