//! Upgrading a store written by chinwag 0.1, which kept its vault header and API keys inside
//! the database and sealed every record under one data key.
//!
//! The upgrade copies nothing as it was: every key and setting moves into a new vault file,
//! every chat gets its own key and is re-sealed into a *new* database folder, and only then is
//! the old folder removed. Re-sealing in place would not do: sled keeps old bytes for a long
//! time, and the old header in them would go on opening the old data key.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::body::{Body, ChatEntry, encode_digest};
use super::records::{encode_envelope, message_key};
use super::{Secret, Vault, VaultError, file};
use crate::crypto::{CryptoError, OpenVault, VaultHeader, record, record_digest};
use crate::settings::Settings;
use crate::store::sled_backend::{OpenError, SledBackend};
use crate::store::{Backend, Op, StoreError, Tree};

/// Where 0.1 kept its header and settings in the `meta` tree.
const HEADER_KEY: &[u8] = b"vault.header";
const SETTINGS_KEY: &[u8] = b"settings";

/// Records written per batch into the new database.
const BATCH: usize = 512;

#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct KeyRecord {
    provider: String,
    key: String,
}

fn open_legacy(dir: &Path, cache_bytes: u64) -> Result<SledBackend, VaultError> {
    SledBackend::open(dir, cache_bytes).map_err(|error| match error {
        OpenError::Locked => VaultError::Store(StoreError::Unavailable(format!(
            "{} is open in an older chinwag: close every editor using chinwag, then start \
             again to upgrade it",
            dir.display()
        ))),
        OpenError::Other(message) => VaultError::Store(StoreError::Database(message)),
    })
}

/// The 0.1 header of the store in `dir`. A 0.1 database without one is damaged.
pub(super) fn read_header(dir: &Path, cache_bytes: u64) -> Result<VaultHeader, VaultError> {
    let legacy = open_legacy(dir, cache_bytes)?;
    let bytes = legacy.get(Tree::Meta, HEADER_KEY)?.ok_or_else(|| {
        VaultError::Damaged(format!(
            "the chinwag 0.1 database in {} has no vault header",
            dir.display()
        ))
    })?;
    Ok(VaultHeader::from_bytes(&bytes)?)
}

/// Upgrade the 0.1 store, opened with `secret`. Runs under the exclusive vault lock, before
/// any chinwag opens the new database.
pub(super) fn migrate(
    vault: &Vault,
    header: &VaultHeader,
    secret: &Secret,
) -> Result<(), VaultError> {
    let files = &vault.files;
    let legacy = open_legacy(&files.legacy_db, files.cache_bytes)?;
    let ring = header.open(&secret.unlock()).map_err(|error| match error {
        CryptoError::KeyFileMismatch => {
            VaultError::Damaged("the chinwag 0.1 vault does not match the local key file".into())
        }
        other => VaultError::from(other),
    })?;
    let store_id = crate::store::sealed::new_id()?;
    let settings: Settings = legacy
        .get(Tree::Meta, SETTINGS_KEY)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let mut body = Body::new(store_id.clone(), settings);
    for (key, sealed) in legacy.scan(Tree::Keys, b"")? {
        let plain = record::open(&ring, Tree::Keys.name(), &key, &sealed)?;
        let record: KeyRecord = serde_json::from_slice(&plain)
            .map_err(|_| VaultError::Damaged("a chinwag 0.1 key record".into()))?;
        body.keys
            .insert(record.provider.clone(), Zeroizing::new(record.key.clone()));
    }

    // A folder left by an upgrade that crashed before writing the vault file holds nothing
    // that anything vouches for.
    if files.store_dir.exists() {
        std::fs::remove_dir_all(&files.store_dir).map_err(|error| {
            VaultError::Store(StoreError::Database(format!(
                "cannot clear {}: {error}",
                files.store_dir.display()
            )))
        })?;
    }
    let fresh = SledBackend::open(&files.store_dir, files.cache_bytes).map_err(|error| {
        VaultError::Store(StoreError::Database(match error {
            OpenError::Locked => "the new database is locked".to_string(),
            OpenError::Other(message) => message,
        }))
    })?;
    let mut messages = super::records::ByChat::new();
    for (key, value) in legacy.scan(Tree::Messages, b"")? {
        let chat_id = key
            .split(|&byte| byte == b'/')
            .next()
            .map(|id| String::from_utf8_lossy(id).into_owned())
            .unwrap_or_default();
        messages.entry(chat_id).or_default().push((key, value));
    }
    let mut ops = vec![Op::Insert {
        tree: Tree::Meta,
        key: super::STORE_ID_KEY.to_vec(),
        value: store_id.into_bytes(),
    }];
    let mut records = 0usize;
    for (key, sealed) in legacy.scan(Tree::Chats, b"")? {
        let chat_id = String::from_utf8(key.clone())
            .map_err(|_| VaultError::Damaged("a chinwag 0.1 chat id".into()))?;
        let plain = record::open(&ring, Tree::Chats.name(), &key, &sealed)?;
        let updated_at = serde_json::from_slice::<Stamp>(&plain)
            .map(|stamp| stamp.updated_at)
            .unwrap_or(0);
        let entry = ChatEntry::new(updated_at)?;
        let chat_key = entry.sealing_key()?;
        let mut digests = BTreeMap::new();
        for (message_key_bytes, sealed) in messages.remove(&chat_id).unwrap_or_default() {
            let prefix = format!("{chat_id}/");
            let Some(message_id) = message_key_bytes
                .strip_prefix(prefix.as_bytes())
                .map(|id| String::from_utf8_lossy(id).into_owned())
            else {
                // 0.1 never showed a record outside `chat/message`: nothing to carry over.
                tracing::warn!("skipped a chinwag 0.1 record that belongs to no chat");
                continue;
            };
            let plain = record::open(&ring, Tree::Messages.name(), &message_key_bytes, &sealed)?;
            let new_key = message_key(&chat_id, &message_id);
            let resealed = record::seal(&chat_key, Tree::Messages.name(), &new_key, &plain)?;
            digests.insert(message_id, encode_digest(&record_digest(&resealed)));
            ops.push(Op::Insert {
                tree: Tree::Messages,
                key: new_key,
                value: resealed,
            });
        }
        let envelope = encode_envelope(&digests, &plain)?;
        let resealed = record::seal(&chat_key, Tree::Chats.name(), &key, &envelope)?;
        let mut entry = entry;
        entry.digest = Some(record_digest(&resealed));
        body.chats.insert(chat_id, entry);
        ops.push(Op::Insert {
            tree: Tree::Chats,
            key,
            value: resealed,
        });
        if ops.len() >= BATCH {
            records += ops.len();
            fresh.apply(std::mem::take(&mut ops))?;
        }
    }
    records += ops.len();
    fresh.apply(ops)?;
    drop(fresh);
    drop(legacy);

    let open = OpenVault::create(&secret.unlock(), &vault.config.kdf)?;
    body.epoch = super::next_epoch(0);
    let plain = body.encode()?;
    let bytes = open.seal(&plain)?;
    file::replace(&files.vault, &bytes).map_err(|error| vault.io_error(error))?;
    discard(vault)?;
    tracing::info!(
        chats = body.chats.len(),
        records,
        "upgraded a chinwag 0.1 store: new vault file, every chat under its own key"
    );
    Ok(())
}

/// Remove the 0.1 database folder and socket (after an upgrade, or a reset).
pub(super) fn discard(vault: &Vault) -> Result<(), VaultError> {
    let files = &vault.files;
    if files.legacy_db.exists() {
        std::fs::remove_dir_all(&files.legacy_db).map_err(|error| {
            VaultError::Store(StoreError::Database(format!(
                "cannot remove the old database {}: {error}",
                files.legacy_db.display()
            )))
        })?;
    }
    let _ = std::fs::remove_file(&files.legacy_socket);
    Ok(())
}

/// The one field of a 0.1 chat record the upgrade needs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stamp {
    updated_at: i64,
}
