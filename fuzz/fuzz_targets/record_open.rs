//! Decrypting stored records and reading vault headers from arbitrary bytes: always an error
//! (forging a tag is not something a fuzzer does), never a panic.
#![no_main]

use std::sync::OnceLock;

use chinwag::crypto::{DataKey, KeyRing, VaultHeader, record};
use libfuzzer_sys::fuzz_target;

fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        KeyRing::new(vec![
            DataKey::generate(1).unwrap(),
            DataKey::generate(2).unwrap(),
        ])
        .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    assert!(record::open(ring(), "chats", b"0123456789abcdef", data).is_err());
    let _ = VaultHeader::from_bytes(data);
    // A real record with one fuzzer-chosen bit pattern flipped must not open either.
    if let [at, mask, ..] = data {
        let mut sealed = record::seal(ring().current(), "messages", b"k", b"hello").unwrap();
        let at = usize::from(*at) % sealed.len();
        sealed[at] ^= mask | 1;
        assert!(record::open(ring(), "messages", b"k", &sealed).is_err());
    }
});
