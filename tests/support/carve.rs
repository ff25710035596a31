//! Carving: what an attacker with a copy of the data and config folders and every key this
//! test ever knew could decrypt.
//!
//! Every record and the vault body are AES-256-GCM: a 12-byte nonce stored just before the
//! ciphertext, which is plain AES-CTR starting at counter block `nonce || 2`. So for every
//! byte offset of every file and every key, the carver takes the 12 bytes there as a nonce
//! and decrypts what follows as CTR, ignoring tags (an attacker need not check them), and looks
//! for the canaries. That finds any sealed copy sled's log still holds, whole or torn. (Only
//! offsets after something shaped like a record header are tried in database files, as an
//! attacker would: trying every offset finds the same and takes minutes in a debug build.)

use std::path::Path;

use aes::Aes256;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use chinwag::crypto::{SealedVault, Unlock};

/// How far past a nonce the carver decrypts: beyond any canary's place in a test record.
const SPAN: usize = 1024;

/// Every key an attacker can take from the files under `roots` with `secrets` (every password
/// the user ever had, the key file): each vault file found anywhere (wherever its magic
/// appears) and each vault header of chinwag 0.1 (JSON that sled may still hold), opened with
/// each secret.
pub fn keys_on_disk(roots: &[&Path], secrets: &[Unlock<'_>]) -> Vec<[u8; 32]> {
    let mut files = Vec::new();
    for root in roots {
        collect(root, &mut files);
    }
    let mut keys = Vec::new();
    for path in files {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        for at in find_all(&bytes, chinwag::crypto::vault_file::MAGIC) {
            for secret in secrets {
                keys.extend(try_keys_of_vault_file(&bytes[at..], secret).unwrap_or_default());
            }
        }
        for at in find_all(&bytes, b"{\"format\":1,\"protection\"") {
            let end = bytes[at..]
                .windows(2)
                .position(|window| window == b"]}")
                .map_or(bytes.len(), |end| at + end + 2);
            let Ok(header) = chinwag::crypto::VaultHeader::from_bytes(&bytes[at..end]) else {
                continue;
            };
            for secret in secrets {
                if let Ok(ring) = header.open(secret) {
                    for generation in ring.generations() {
                        if let Some(key) = ring.get(generation) {
                            keys.push(*key.raw());
                        }
                    }
                }
            }
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, window)| *window == needle)
        .map(|(at, _)| at)
        .collect()
}

/// Every key a vault file holds: its vault key and every chat key (and next key).
pub fn keys_of_vault_file(bytes: &[u8], unlock: &Unlock<'_>) -> Vec<[u8; 32]> {
    try_keys_of_vault_file(bytes, unlock).expect("the vault file opens with this secret")
}

fn try_keys_of_vault_file(bytes: &[u8], unlock: &Unlock<'_>) -> Option<Vec<[u8; 32]>> {
    let sealed = SealedVault::parse(bytes).ok()?;
    let open = sealed.unlock(unlock).ok()?;
    let body = open.open(&sealed).ok()?;
    let mut keys = vec![*open.key_bytes_for_carving()];
    for key in chinwag::vault::chat_keys_for_carving(&body).ok()? {
        keys.push(*key);
    }
    Some(keys)
}

/// The canaries found (decrypted under one of `keys` somewhere in the files under `roots`),
/// each with the file it was found in.
pub fn carve(roots: &[&Path], keys: &[[u8; 32]], canaries: &[&str]) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for root in roots {
        collect(root, &mut files);
    }
    let mut found = Vec::new();
    for path in files {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        for canary in canaries {
            if contains(&bytes, canary.as_bytes()) {
                found.push((
                    canary.to_string(),
                    format!("{} (in plain text)", path.display()),
                ));
            }
        }
        for key in keys {
            let cipher = Aes256::new(GenericArray::from_slice(key));
            for (canary, at) in carve_bytes(&cipher, &bytes, canaries) {
                found.push((canary, format!("{} at {at}", path.display())));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

fn carve_bytes(cipher: &Aes256, bytes: &[u8], canaries: &[&str]) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    if bytes.len() < 12 + 16 {
        return found;
    }
    let mut plain = vec![0u8; SPAN];
    let whole = bytes.starts_with(chinwag::crypto::vault_file::MAGIC);
    for at in 0..bytes.len() - 12 {
        if !whole && !after_record_header(bytes, at) {
            continue;
        }
        let body = &bytes[at + 12..];
        let length = body.len().min(SPAN);
        if length < 16 {
            break;
        }
        let mut counter = 2u32;
        for (index, chunk) in body[..length].chunks(16).enumerate() {
            let mut block = [0u8; 16];
            block[..12].copy_from_slice(&bytes[at..at + 12]);
            block[12..].copy_from_slice(&counter.to_be_bytes());
            let mut block = GenericArray::from(block);
            cipher.encrypt_block(&mut block);
            for (offset, byte) in chunk.iter().enumerate() {
                plain[index * 16 + offset] = byte ^ block[offset];
            }
            counter = counter.wrapping_add(1);
        }
        for canary in canaries {
            if contains(&plain[..length], canary.as_bytes()) {
                found.push((canary.to_string(), at));
            }
        }
    }
    found
}

/// Whether `at` could be a record's nonce: every sealed record starts `[version 1][generation
/// u32 BE]` right before it, so an attacker looks there first (a vault file, small, is tried
/// at every offset).
fn after_record_header(bytes: &[u8], at: usize) -> bool {
    at >= 5
        && bytes[at - 5] == 1
        && u32::from_be_bytes([bytes[at - 4], bytes[at - 3], bytes[at - 2], bytes[at - 1]])
            < 1 << 20
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            collect(&path, out);
        } else if meta.is_file() {
            out.push(path);
        }
    }
}
