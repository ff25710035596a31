//! The vault's promises under attack, through the real binary: nothing readable under an old
//! protection, deletion that is final, a store that fails loudly, tampering and rollback
//! noticed, Argon2 costs bounded, stores of chinwag 0.1 upgraded.

#[path = "support/carve.rs"]
mod carve;
mod support;

use std::path::{Path, PathBuf};

use chinwag::crypto::Unlock;
use serde_json::{Value, json};
use support::{FAST_KDF, Framing, Home, Server, copy_dir, error_code, ok};

const PW1: &str = "first password 1";
const PW2: &str = "second password 2";

fn start(home: &Home) -> Server {
    Server::start(home, Framing::Ndjson)
}

/// Every key the vault file holds right now, opened with the key file and `password`.
fn keys_now(home: &Home, password: Option<&str>) -> Vec<[u8; 32]> {
    let bytes = std::fs::read(home.vault_file()).unwrap();
    let file = home.key_file();
    carve::keys_of_vault_file(&bytes, &unlock_with(&file, password))
}

/// The secret a password (or none: the key file alone) and the key file make.
fn unlock_with<'a>(file: &'a [u8; 32], password: Option<&'a str>) -> Unlock<'a> {
    match password {
        Some(password) => Unlock::Password {
            password: password.as_bytes(),
            key_file: Some(file),
        },
        None => Unlock::LocalKey(file),
    }
}

fn folders(home: &Home) -> [PathBuf; 2] {
    [home.data_dir(), home.config_dir()]
}

fn carve_home(home: &Home, keys: &[[u8; 32]], canaries: &[&str]) -> Vec<(String, String)> {
    let [data, config] = folders(home);
    carve::carve(&[data.as_path(), config.as_path()], keys, canaries)
}

fn openai_key(tail: &str) -> String {
    format!("sk-proj-{tail}{}", "x".repeat(40))
}

fn chat_ids(server: &mut Server, id: i64) -> Vec<String> {
    ok(server.call(id, "history/list", json!({})))["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|chat| chat["id"].as_str().unwrap().to_string())
        .collect()
}

/// The keys an attacker takes from the data and config folders as they are now, knowing every
/// password the user ever had and holding the key file.
fn keys_an_attacker_finds(home: &Home, passwords: &[&str]) -> Vec<[u8; 32]> {
    let file = home.key_file();
    let mut secrets = vec![Unlock::LocalKey(&file)];
    for password in passwords {
        secrets.push(Unlock::Password {
            password: password.as_bytes(),
            key_file: Some(&file),
        });
        secrets.push(Unlock::Password {
            password: password.as_bytes(),
            key_file: None,
        });
    }
    let [data, config] = folders(home);
    carve::keys_on_disk(&[data.as_path(), config.as_path()], &secrets)
}

#[test]
fn after_a_password_is_set_or_changed_nothing_on_disk_opens_under_the_old_protection() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = start(&home);
    let export = home.write_export(
        "live.json",
        &[("live chat", &[("user", "LIVECANARY-before-any-password")])],
    );
    ok(server.call(1, "history/import", json!({"path": export})));
    ok(server.call(
        2,
        "vault/setKey",
        json!({"provider": "openai", "key": openai_key("KEYCANARY")}),
    ));
    ok(server.call(3, "vault/setPassword", json!({"new": PW1})));
    ok(server.call(4, "vault/setPassword", json!({"current": PW1, "new": PW2})));
    let current = keys_now(&home, Some(PW2));
    server.finish();

    // With the key file and the old password, nothing on disk opens: no old vault file, no
    // old header, nothing sealed under a key they unwrap.
    let old = keys_an_attacker_finds(&home, &[PW1]);
    assert!(old.is_empty(), "the old protection still opens something");
    let canaries = ["LIVECANARY", "KEYCANARY"];
    let found = carve_home(&home, &old, &canaries);
    assert!(
        found.is_empty(),
        "readable under the old protection: {found:?}"
    );
    // The attacker who also has the new password gets the current keys, and the carver is
    // not blind: it finds the live chat with them.
    let all = keys_an_attacker_finds(&home, &[PW1, PW2]);
    let mut current = current;
    current.sort();
    current.dedup();
    assert_eq!(all, current);
    let found = carve_home(&home, &all, &canaries);
    assert!(
        found.iter().any(|(canary, _)| canary == "LIVECANARY"),
        "the carver found nothing even with the current keys"
    );

    // And the chat and key are whole under the new password; the old one is refused.
    let mut server = start(&home);
    ok(server.call(1, "vault/unlock", json!({"password": PW2})));
    let ids = chat_ids(&mut server, 2);
    let chat = ok(server.call(3, "history/get", json!({"chatId": ids[0]})));
    assert_eq!(
        chat["messages"][0]["content"],
        "LIVECANARY-before-any-password"
    );
    let old = server.call(4, "vault/unlock", json!({"password": PW1}));
    assert_eq!(
        error_code(&old),
        1002,
        "the old password still opens: {old}"
    );
    server.finish();
}

#[test]
fn deleted_keys_and_chats_cannot_be_carved_back() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = start(&home);
    ok(server.call(
        1,
        "vault/setKey",
        json!({"provider": "openai", "key": openai_key("DELETEDKEY")}),
    ));
    let export = home.write_export(
        "a.json",
        &[
            (
                "doomed",
                &[
                    ("user", "DELETEDCHAT one"),
                    ("assistant", "DELETEDCHAT two"),
                ],
            ),
            (
                "kept for now",
                &[("user", "CLEAREDCHAT kept until the clear")],
            ),
        ],
    );
    ok(server.call(2, "history/import", json!({"path": export})));
    ok(server.call(3, "vault/deleteKey", json!({"provider": "openai"})));
    let doomed = ok(server.call(4, "history/search", json!({"query": "DELETEDCHAT"})))["results"]
        [0]["chatId"]
        .clone();
    assert_eq!(
        ok(server.call(5, "history/delete", json!({"chatId": doomed})))["deleted"],
        true
    );
    ok(server.call(6, "history/clear", json!({"confirm": true})));
    let export = home.write_export(
        "b.json",
        &[("at exit", &[("user", "EXITCHAT gone at exit")])],
    );
    ok(server.call(7, "history/import", json!({"path": export})));
    ok(server.call(
        8,
        "vault/setKey",
        json!({"provider": "openai", "key": openai_key("EXITKEY")}),
    ));
    ok(server.call(
        9,
        "settings/set",
        json!({"clearHistoryOnExit": true, "deleteKeysOnExit": true}),
    ));
    server.finish();

    let mut server = start(&home);
    assert_eq!(ok(server.call(1, "history/list", json!({})))["total"], 0);
    assert_eq!(
        ok(server.call(2, "vault/listKeys", json!({})))["keys"],
        json!([])
    );
    ok(server.call(
        3,
        "settings/set",
        json!({"clearHistoryOnExit": false, "deleteKeysOnExit": false}),
    ));
    let export = home.write_export("c.json", &[("alive", &[("user", "ALIVECHAT stays")])]);
    ok(server.call(4, "history/import", json!({"path": export})));
    server.finish();

    // sled still holds the old records (the carver finds them as bytes), but every key that
    // sealed them is gone: with every key on disk, none decrypts.
    let keys = keys_an_attacker_finds(&home, &[]);
    assert!(!keys.is_empty());
    let gone = [
        "DELETEDKEY",
        "DELETEDCHAT",
        "CLEAREDCHAT",
        "EXITCHAT",
        "EXITKEY",
    ];
    let found = carve_home(&home, &keys, &gone);
    assert!(found.is_empty(), "deleted data came back: {found:?}");
    let found = carve_home(&home, &keys, &["ALIVECHAT"]);
    assert!(!found.is_empty(), "the carver cannot even find live data");
}

#[test]
fn a_missing_or_damaged_vault_file_or_database_is_an_error_never_a_fresh_vault() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = start(&home);
    let export = home.write_export("a.json", &[("one", &[("user", "hello")])]);
    ok(server.call(1, "history/import", json!({"path": export})));
    server.finish();
    let pristine_vault = std::fs::read(home.vault_file()).unwrap();

    // The vault file removed: every call that needs it says so, and nothing new is created.
    std::fs::remove_file(home.vault_file()).unwrap();
    let mut server = start(&home);
    for (id, method) in [
        (1, "history/list"),
        (2, "vault/listKeys"),
        (3, "settings/get"),
    ] {
        let response = server.call(id, method, json!({}));
        assert_eq!(error_code(&response), 1003, "{method}: {response}");
        assert!(response.to_string().contains("missing"), "{response}");
    }
    server.finish();
    assert!(!home.vault_file().exists(), "a fresh vault file appeared");

    // One flipped bit anywhere in the vault file: 1003.
    for index in [0, 20, pristine_vault.len() / 2, pristine_vault.len() - 1] {
        let mut damaged = pristine_vault.clone();
        damaged[index] ^= 0x04;
        std::fs::write(home.vault_file(), &damaged).unwrap();
        let mut server = start(&home);
        let response = server.call(1, "history/list", json!({}));
        assert_eq!(error_code(&response), 1003, "byte {index}: {response}");
        server.finish();
        assert_eq!(std::fs::read(home.vault_file()).unwrap(), damaged);
    }
    std::fs::write(home.vault_file(), &pristine_vault).unwrap();

    // The database gone (or truncated) under a good vault file: 1003, never an empty history.
    let store = home.data_dir().join("store");
    let saved = home.path().join("store.saved");
    copy_dir(&store, &saved);
    std::fs::remove_dir_all(&store).unwrap();
    let mut server = start(&home);
    let response = server.call(1, "history/list", json!({}));
    assert_eq!(error_code(&response), 1003, "{response}");
    server.finish();
    std::fs::remove_dir_all(&store).unwrap();
    copy_dir(&saved, &store);
    let db = store.join("db");
    let bytes = std::fs::read(&db).unwrap();
    std::fs::write(&db, &bytes[..512.min(bytes.len())]).unwrap();
    let mut server = start(&home);
    let response = server.call(1, "history/list", json!({}));
    assert!(
        [1003, 1301].contains(&error_code(&response)),
        "a truncated database listed as: {response}"
    );
    server.finish();
    assert_eq!(std::fs::read(home.vault_file()).unwrap(), pristine_vault);

    // The way out: a reset (confirmed) starts afresh.
    let mut server = start(&home);
    ok(server.call(1, "vault/reset", json!({"confirm": true})));
    assert_eq!(ok(server.call(2, "history/list", json!({})))["total"], 0);
    server.finish();
}

#[test]
fn deleted_rolled_back_and_spliced_records_are_reported() {
    use chinwag::store::sled_backend::SledBackend;
    use chinwag::store::{Backend, Op, Tree};

    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = start(&home);
    let export = home.write_export(
        "a.json",
        &[
            ("first", &[("user", "one"), ("assistant", "two")]),
            ("second", &[("user", "three")]),
        ],
    );
    ok(server.call(1, "history/import", json!({"path": export})));
    let ids = chat_ids(&mut server, 2);
    let backup = home.path().join("good.backup");
    ok(server.call(3, "history/backup", json!({"path": backup})));
    server.finish();
    let open_db = || SledBackend::open(&home.data_dir().join("store"), 1 << 20).unwrap();

    // An older copy of a chat record, kept before the chat moved on.
    let old_record = open_db()
        .get(Tree::Chats, ids[0].as_bytes())
        .unwrap()
        .unwrap();
    let mut server = start(&home);
    ok(server.call(
        1,
        "history/rename",
        json!({"chatId": ids[0], "title": "renamed"}),
    ));
    server.finish();
    {
        let db = open_db();
        db.apply(vec![Op::Insert {
            tree: Tree::Chats,
            key: ids[0].as_bytes().to_vec(),
            value: old_record,
        }])
        .unwrap();
    }
    let mut server = start(&home);
    let response = server.call(1, "history/get", json!({"chatId": ids[0]}));
    assert_eq!(error_code(&response), 1003, "rolled back: {response}");
    let listing = ok(server.call(2, "history/list", json!({})));
    assert_eq!(listing["total"], 2);
    assert_eq!(listing["damaged"][0]["id"], json!(ids[0]), "{listing}");
    assert_eq!(listing["chats"].as_array().unwrap().len(), 1);
    ok(server.call(3, "history/delete", json!({"chatId": ids[0]})));
    server.finish();

    // One message deleted: the chat says which is missing.
    {
        let db = open_db();
        let messages = db.scan(Tree::Messages, ids[1].as_bytes()).unwrap();
        db.apply(vec![Op::Remove {
            tree: Tree::Messages,
            key: messages[0].0.clone(),
        }])
        .unwrap();
    }
    let mut server = start(&home);
    let response = server.call(1, "history/get", json!({"chatId": ids[1]}));
    assert_eq!(error_code(&response), 1003, "{response}");
    assert!(response.to_string().contains("missing"), "{response}");
    let found = ok(server.call(2, "history/search", json!({"query": "three"})));
    assert_eq!(found["damaged"][0]["id"], json!(ids[1]), "{found}");

    // A backup with one record removed, or an older record spliced in, restores nothing.
    let bytes = std::fs::read(&backup).unwrap();
    let truncated = home.path().join("cut.backup");
    std::fs::write(&truncated, cut_last_record(&bytes)).unwrap();
    let response = server.call(
        3,
        "history/restore",
        json!({"path": truncated, "confirm": true}),
    );
    assert_eq!(error_code(&response), 1003, "{response}");
    // The whole backup restores, and everything opens again.
    ok(server.call(
        4,
        "history/restore",
        json!({"path": backup, "confirm": true}),
    ));
    let listing = ok(server.call(5, "history/list", json!({})));
    assert_eq!(listing["total"], 2, "{listing}");
    assert!(listing.get("damaged").is_none(), "{listing}");
    server.finish();

    // A flipped generation byte is tampering (1003), not a locked vault (1001).
    {
        let db = open_db();
        let mut value = db.get(Tree::Chats, ids[1].as_bytes()).unwrap().unwrap();
        value[4] ^= 0x01;
        db.apply(vec![Op::Insert {
            tree: Tree::Chats,
            key: ids[1].as_bytes().to_vec(),
            value,
        }])
        .unwrap();
    }
    let mut server = start(&home);
    let response = server.call(1, "history/get", json!({"chatId": ids[1]}));
    assert_eq!(error_code(&response), 1003, "{response}");
    server.finish();
}

#[test]
fn an_older_copy_of_the_vault_file_is_noticed() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = start(&home);
    let export = home.write_export("a.json", &[("one", &[("user", "hello")])]);
    ok(server.call(1, "history/import", json!({"path": export})));
    let old = std::fs::read(home.vault_file()).unwrap();
    let ids = chat_ids(&mut server, 2);
    ok(server.call(
        3,
        "history/rename",
        json!({"chatId": ids[0], "title": "moved on"}),
    ));
    // Rolled back under a running chinwag: it has seen a newer one.
    std::fs::write(home.vault_file(), &old).unwrap();
    let response = server.call(4, "history/list", json!({}));
    assert_eq!(error_code(&response), 1003, "{response}");
    server.finish();
    // And after a restart, the database disagrees with it.
    let mut server = start(&home);
    let response = server.call(1, "history/get", json!({"chatId": ids[0]}));
    assert_eq!(error_code(&response), 1003, "{response}");
    server.finish();
}

#[test]
fn argon2_costs_edited_upwards_are_refused_before_any_work() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = start(&home);
    ok(server.call(1, "vault/setPassword", json!({"new": PW1})));
    server.finish();
    let pristine = std::fs::read(home.vault_file()).unwrap();
    for recompute_checksum in [false, true] {
        let edited = edit_header(&pristine, recompute_checksum, |header| {
            header["protection"]["kdf"] =
                json!({"memoryKib": 4u64 * 1024 * 1024, "iterations": 64, "parallelism": 16});
        });
        std::fs::write(home.vault_file(), &edited).unwrap();
        let mut server = start(&home);
        let started = std::time::Instant::now();
        let response = server.call(1, "vault/unlock", json!({"password": PW1}));
        assert_eq!(error_code(&response), 1003, "{response}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "an edited header cost {:?}",
            started.elapsed()
        );
        server.finish();
    }
    // The salt edited within range, checksum recomputed: the key file's MAC catches it.
    let edited = edit_header(&pristine, true, |header| {
        header["protection"]["salt"] = json!("AAAAAAAAAAAAAAAAAAAAAA==");
    });
    std::fs::write(home.vault_file(), &edited).unwrap();
    let mut server = start(&home);
    let response = server.call(1, "vault/unlock", json!({"password": PW1}));
    assert_eq!(error_code(&response), 1003, "{response}");
    server.finish();
    std::fs::write(home.vault_file(), &pristine).unwrap();
    let mut server = start(&home);
    ok(server.call(1, "vault/unlock", json!({"password": PW1})));
    server.finish();
}

#[test]
fn stores_of_chinwag_0_1_are_upgraded_and_leave_nothing_under_the_old_key() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy-0.1.0");
    for (name, password) in [("localkey", None), ("password", Some("fixture password"))] {
        let home = Home::new();
        copy_dir(&fixtures.join(name), home.path());
        home.write_config(FAST_KDF);
        let legacy_key = legacy_data_key(&home, password);
        let mut server = start(&home);
        if let Some(password) = password {
            let response = server.call(1, "history/list", json!({}));
            assert_eq!(error_code(&response), 1001, "{response}");
            let wrong = server.call(2, "vault/unlock", json!({"password": "not the password"}));
            assert_eq!(error_code(&wrong), 1002, "{wrong}");
            assert!(
                home.data_dir().join("db").exists(),
                "a wrong password changed files"
            );
            ok(server.call(3, "vault/unlock", json!({"password": password})));
        }
        let listing = ok(server.call(10, "history/list", json!({})));
        assert_eq!(listing["total"], 3, "{name}: {listing}");
        let keys = ok(server.call(11, "vault/listKeys", json!({})));
        assert_eq!(keys["keys"].as_array().unwrap().len(), 2, "{name}: {keys}");
        let found = ok(server.call(12, "history/search", json!({"query": "LEGACYCANARY13"})));
        let chat_id = found["results"][0]["chatId"].clone();
        let chat = ok(server.call(13, "history/get", json!({"chatId": chat_id})));
        assert_eq!(chat["messages"].as_array().unwrap().len(), 4, "{chat}");
        let status = ok(server.call(14, "vault/status", json!({})));
        assert_eq!(
            status["protection"],
            if password.is_some() {
                "password"
            } else {
                "localKey"
            }
        );
        let current = keys_now(&home, password);
        server.finish();
        assert!(
            !home.data_dir().join("db").exists(),
            "{name}: the old database stayed"
        );

        let found = carve_home(&home, &[legacy_key], &["LEGACYCANARY", "legacyfixturekey"]);
        assert!(
            found.is_empty(),
            "{name}: readable under the 0.1 key: {found:?}"
        );
        let found = carve_home(&home, &current, &["LEGACYCANARY"]);
        assert!(!found.is_empty(), "{name}: the carver is blind");

        // It opens the same after a restart.
        let mut server = start(&home);
        if let Some(password) = password {
            ok(server.call(1, "vault/unlock", json!({"password": password})));
        }
        assert_eq!(ok(server.call(2, "history/list", json!({})))["total"], 3);
        server.finish();
    }
}

/// The data key of a 0.1 fixture, unwrapped from its header as an attacker would.
fn legacy_data_key(home: &Home, password: Option<&str>) -> [u8; 32] {
    use chinwag::crypto::VaultHeader;
    use chinwag::store::sled_backend::SledBackend;
    use chinwag::store::{Backend, Tree};
    let db = SledBackend::open(&home.data_dir().join("db"), 1 << 20).unwrap();
    let header =
        VaultHeader::from_bytes(&db.get(Tree::Meta, b"vault.header").unwrap().unwrap()).unwrap();
    drop(db);
    let file = home.key_file();
    let ring = header.open(&unlock_with(&file, password)).unwrap();
    *ring.current().raw()
}

/// The vault file with its header JSON changed by `edit`, and the checksum recomputed or not.
fn edit_header(bytes: &[u8], recompute_checksum: bool, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let magic = 16;
    let length = u32::from_be_bytes(bytes[magic..magic + 4].try_into().unwrap()) as usize;
    let header_at = magic + 4;
    let mut header: Value = serde_json::from_slice(&bytes[header_at..header_at + length]).unwrap();
    edit(&mut header);
    let header = serde_json::to_vec(&header).unwrap();
    let mut out = bytes[..magic].to_vec();
    out.extend_from_slice(&(header.len() as u32).to_be_bytes());
    out.extend_from_slice(&header);
    let checksum_at = header_at + length;
    if recompute_checksum {
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
    } else {
        out.extend_from_slice(&bytes[checksum_at..checksum_at + 32]);
    }
    out.extend_from_slice(&bytes[checksum_at + 32..]);
    out
}

/// A backup without its last record.
fn cut_last_record(bytes: &[u8]) -> Vec<u8> {
    let magic = b"CHINWAG-BACKUP-2\n".len();
    let mut at = magic;
    let vault_len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    at += 4 + vault_len;
    let mut last_start = at;
    while at < bytes.len() {
        last_start = at;
        at += 1;
        for _ in 0..2 {
            let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            at += 4 + len;
        }
    }
    bytes[..last_start].to_vec()
}
