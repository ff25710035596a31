//! Attacks on the vault-file design (second round): each test here demonstrates a defect
//! found by attacking the real binary over JSON-RPC (with the library used only to build the
//! on-disk states a crash or a clock step leaves behind). They fail until the defect is fixed.

#[path = "support/carve.rs"]
#[allow(dead_code)]
mod carve;
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chinwag::crypto::{SealedVault, Unlock};
use serde_json::{Value, json};
use support::{FAST_KDF, Framing, Home, Server, copy_dir, error_code, ok};

const PW1: &str = "first password 1";

fn start(home: &Home) -> Server {
    Server::start(home, Framing::Ndjson)
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy-0.1.0")
}

/// The 0.1 upgrade writes the vault file, then removes the old database folder
/// (`legacy::migrate`: `file::replace(...)` then `discard(vault)`). A crash (kill -9, power
/// loss, a full disk making `remove_dir_all` fail) between the two leaves both. Every later
/// start sees a vault file and never looks at the old folder again: the 0.1 database, with
/// the API keys and every chat under the single old data key, stays on disk forever, even
/// after the user sets or changes the password. SECURITY.md: "the old folder is removed";
/// "after you set, changed or removed the password ... no byte on disk opens under the old
/// protection".
///
/// The crash state is built exactly: upgrade the fixture, then put the untouched 0.1 folder
/// back (migration only reads it).
#[test]
fn an_upgrade_cut_short_after_the_vault_file_leaves_the_0_1_database_forever() {
    let home = Home::new();
    copy_dir(&fixtures().join("localkey"), home.path());
    home.write_config(FAST_KDF);
    let legacy = home.data_dir().join("db");

    let mut server = start(&home);
    assert_eq!(ok(server.call(1, "history/list", json!({})))["total"], 3);
    server.finish();
    assert!(!legacy.exists(), "the clean upgrade removes the old folder");

    // The crash window: vault file written, old folder not yet removed.
    copy_dir(
        &fixtures().join("localkey/data/chinwag/db"),
        &home.data_dir().join("db"),
    );

    let mut server = start(&home);
    assert_eq!(ok(server.call(1, "history/list", json!({})))["total"], 3);
    // The user now protects everything with a password.
    ok(server.call(2, "vault/setPassword", json!({"current": null, "new": PW1})));
    server.finish();
    let mut server = start(&home);
    ok(server.call(1, "vault/unlock", json!({"password": PW1})));
    assert_eq!(ok(server.call(2, "history/list", json!({})))["total"], 3);
    server.finish();

    // What the old folder still gives anyone holding the key file alone, without the
    // password the user set.
    let readable = legacy.exists() && {
        use chinwag::crypto::VaultHeader;
        use chinwag::store::sled_backend::SledBackend;
        use chinwag::store::{Backend, Tree};
        let db = SledBackend::open(&legacy, 1 << 20).unwrap();
        let header =
            VaultHeader::from_bytes(&db.get(Tree::Meta, b"vault.header").unwrap().unwrap())
                .unwrap();
        let file = home.key_file();
        let ring = header.open(&Unlock::LocalKey(&file)).unwrap();
        let keys = db.scan(Tree::Keys, b"").unwrap();
        keys.iter().any(|(key, sealed)| {
            chinwag::crypto::record::open(&ring, Tree::Keys.name(), key, sealed)
                .map(|plain| String::from_utf8_lossy(&plain).contains("sk-legacyfixturekey"))
                .unwrap_or(false)
        })
    };
    assert!(
        !legacy.exists(),
        "the 0.1 database {} survived an upgrade cut short and every later start \
         (API key readable with the key file alone, after a password was set: {readable})",
        legacy.display()
    );
}

/// A FIFO in place of the vault file (any same-user program, or a sync tool that restores
/// special files): `file::version` and `file::read` open it with `O_RDONLY | O_NOFOLLOW` but
/// without `O_NONBLOCK`, so `open(2)` blocks until a writer appears. `Vault::open` does this
/// while holding the exclusive `vault.lock`, so this chinwag never answers, and every other
/// chinwag on the folder waits for the lock behind it. SECURITY.md/the brief: a hostile
/// vault file must be an error, never a hang.
#[test]
fn a_fifo_in_place_of_the_vault_file_hangs_chinwag_instead_of_an_error() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = start(&home);
    assert_eq!(ok(server.call(1, "history/list", json!({})))["total"], 0);
    server.finish();

    std::fs::remove_file(home.vault_file()).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(home.vault_file())
        .status()
        .expect("mkfifo");
    assert!(status.success());

    let mut server = start(&home);
    server.request(1, "history/list", json!({}));
    let answer = wait_for(&mut server, 1, Duration::from_secs(10));
    let _ = server.child.kill();
    let answer = answer.expect("no answer within 10 s: chinwag hangs opening a FIFO vault file");
    assert!(answer.get("error").is_some(), "{answer}");
}

fn wait_for(server: &mut Server, id: i64, wait: Duration) -> Option<Value> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        let message = server.try_recv(left)?;
        if message.get("id") == Some(&json!(id)) {
            return Some(message);
        }
    }
}

/// Re-seal the vault body with its epoch moved `ahead_ms` into the future: exactly the file
/// chinwag itself writes while the system clock is that far ahead (epochs are
/// `max(previous + 1, now)`), as before an NTP correction, a wrong RTC after a dual boot, or a
/// VM restored from a snapshot.
fn push_epoch_ahead(home: &Home, unlock: &Unlock<'_>, ahead_ms: u64) -> u64 {
    let bytes = std::fs::read(home.vault_file()).unwrap();
    let sealed = SealedVault::parse(&bytes).unwrap();
    let open = sealed.unlock(unlock).unwrap();
    // The body: `[u32 BE length][JSON of the small parts][binary chat table]`.
    let plain = open.open(&sealed).unwrap();
    let head_len = u32::from_be_bytes(plain[..4].try_into().unwrap()) as usize;
    let mut head: Value = serde_json::from_slice(&plain[4..4 + head_len]).unwrap();
    let epoch = head["epoch"].as_u64().unwrap() + ahead_ms;
    head["epoch"] = json!(epoch);
    let head = serde_json::to_vec(&head).unwrap();
    let mut body = (head.len() as u32).to_be_bytes().to_vec();
    body.extend_from_slice(&head);
    body.extend_from_slice(&plain[4 + head_len..]);
    let bytes = open.seal(&body).unwrap();
    std::fs::write(home.vault_file(), bytes).unwrap();
    epoch
}

/// `vault/reset` (the way out of a forgotten password) computes its epoch from what *this*
/// process has seen: `next_epoch(self.high_water)`. A process that never opened the body (it
/// is locked: the password is lost) has a high water of 0, so the new vault gets the epoch
/// `now`. After the clock went back, the editor that is still unlocked has seen epochs above
/// `now`, takes the reset vault for "an older copy" and answers 1003 on every call until it is
/// restarted: a false tamper report, against SECURITY.md ("epochs never fall behind the clock
/// so another process's reset is not taken for a rollback"; reset is "the way out").
/// `history/restore` has the same flaw (`max(body.epoch, self.high_water)`).
#[test]
fn a_reset_after_the_clock_went_back_is_taken_for_a_rollback_by_the_other_editor() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = start(&home);
    ok(server.call(1, "history/list", json!({})));
    ok(server.call(2, "vault/setPassword", json!({"current": null, "new": PW1})));
    server.finish();
    let file = home.key_file();
    push_epoch_ahead(
        &home,
        &Unlock::Password {
            password: PW1.as_bytes(),
            key_file: Some(&file),
        },
        3_600_000,
    );

    // Editor A: unlocked, sees the epochs written while the clock was an hour ahead.
    let mut a = start(&home);
    ok(a.call(1, "vault/unlock", json!({"password": PW1})));
    ok(a.call(2, "history/list", json!({})));
    // A write while the clock is still ahead records that epoch beside the records too.
    ok(a.call(
        4,
        "vault/setKey",
        json!({"provider": "openai", "key": format!("sk-proj-{}", "c".repeat(40))}),
    ));
    // Editor B: the user does not remember the password here and resets.
    let mut b = start(&home);
    let locked = b.call(1, "history/list", json!({}));
    assert_eq!(error_code(&locked), 1001, "{locked}");
    ok(b.call(2, "vault/reset", json!({"confirm": true})));
    ok(b.call(3, "history/list", json!({})));

    // Editor A must follow the reset (a fresh local-key vault), not report tampering.
    let after = a.call(3, "history/list", json!({}));
    assert!(
        after.get("error").is_none(),
        "the editor that stayed open takes the other's reset for a rollback: {after}"
    );
    b.finish();
    a.finish();
}

/// A 0.1 store with a password, and a wrong `CHINWAG_PASSWORD` in the environment (an old
/// password still exported in a shell profile): the non-legacy path treats a wrong automatic
/// password as "locked" and lets the editor unlock; the legacy path in `Vault::open` runs
/// `migrate` with it and propagates `WrongPassword` out of `Storage::open`, so chinwag never
/// lets the user type the right password.
#[test]
fn a_wrong_automatic_password_must_not_block_the_upgrade_of_a_0_1_store() {
    let home = Home::new();
    copy_dir(&fixtures().join("password"), home.path());
    home.write_config(FAST_KDF);
    let mut server = Server::start_with(&home, Framing::Ndjson, |command| {
        command.env("CHINWAG_PASSWORD", "an old password");
    });
    let unlocked = server.call(1, "vault/unlock", json!({"password": "fixture password"}));
    assert!(
        unlocked.get("error").is_none(),
        "the right password is refused because the environment's is wrong: {unlocked}"
    );
    assert_eq!(ok(server.call(2, "history/list", json!({})))["total"], 3);
    server.finish();
}

/// A write names its new chat records as pending in the vault file, then applies the sled
/// batch, then settles. For a *new* chat (`Tx::create_chat`: an entry with `digest: ""` and
/// `pending`), a crash after the first vault write and before the sled batch is durable
/// leaves a vault that vouches for a chat whose record was never written: every later
/// listing reports it `damaged` ("its record is missing") and `history/get` answers 1003,
/// forever. Nothing was tampered with; the import was simply never acknowledged. SECURITY.md:
/// "a crash at any point leaves a vault that vouches for what the database holds". A kill -9
/// during `history/import` shows it: the import is not all-or-nothing, every imported chat
/// comes back as damaged.
#[test]
fn an_import_killed_after_the_first_vault_write_leaves_chats_reported_as_tampered() {
    const CHATS: usize = 150;
    let home = Home::new();
    home.write_config(FAST_KDF);
    let filler = "lorem ipsum dolor sit amet ".repeat(40);
    let messages: Vec<(&str, &str)> = (0..8)
        .map(|i| {
            (
                if i % 2 == 0 { "user" } else { "assistant" },
                filler.as_str(),
            )
        })
        .collect();
    let titles: Vec<String> = (0..CHATS).map(|i| format!("chat {i}")).collect();
    let chats: Vec<(&str, &[(&str, &str)])> = titles
        .iter()
        .map(|title| (title.as_str(), messages.as_slice()))
        .collect();
    let export = home.write_export("many.json", &chats);

    let mut server = start(&home);
    ok(server.call(1, "history/list", json!({})));
    server.finish();
    let pristine = tempfile::tempdir().unwrap();
    copy_dir(&home.data_dir(), pristine.path());

    let mut findings = Vec::new();
    // The window: the first vault write (pending digests) is done, the sled batch is not
    // yet durable. Watch the vault file and kill -9 as soon as it is replaced.
    for attempt in 0..6u32 {
        // Back to the state before the import.
        std::fs::remove_dir_all(home.data_dir()).unwrap();
        copy_dir(pristine.path(), &home.data_dir());
        let mut server = start(&home);
        ok(server.call(1, "history/list", json!({})));
        let before = inode(&home.vault_file());
        server.request(2, "history/import", json!({"path": export}));
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while inode(&home.vault_file()) == before && std::time::Instant::now() < deadline {
            std::hint::spin_loop();
        }
        let _ = server.child.kill();
        let _ = server.child.wait();
        drop(server);

        let mut server = start(&home);
        let listing = ok(server.call(1, "history/list", json!({"limit": 500})));
        server.finish();
        let total = listing["total"].as_u64().unwrap();
        let damaged = listing["damaged"].as_array().map_or(0, Vec::len);
        if damaged > 0 || (total != 0 && total != CHATS as u64) {
            findings.push(format!(
                "attempt {attempt}, killed once the vault file was replaced: total {total}, \
                 damaged {damaged}: {}",
                listing["damaged"][0]["reason"]
            ));
        }
    }
    assert!(
        findings.is_empty(),
        "a crash during an import is reported as tampering:\n{}",
        findings.join("\n")
    );
}

/// `vault/reset` writes the new vault file (a new store id) first, then clears the database,
/// then writes the new store id into it. A kill -9 after the first step leaves a vault file
/// and a database whose ids differ: every later call answers 1003 "the database ... does not
/// belong to the vault file", a tamper report for a crash (the user has to know to reset
/// again). Reusing the database's store id (with `purge: ["*"]` in the new body, so the start
/// sweep removes the old records) would leave a consistent state at every point.
#[test]
fn a_reset_killed_midway_leaves_a_vault_reported_as_tampered() {
    const CHATS: usize = 150;
    let home = Home::new();
    home.write_config(FAST_KDF);
    let filler = "lorem ipsum dolor sit amet ".repeat(40);
    let messages: Vec<(&str, &str)> = (0..8)
        .map(|i| {
            (
                if i % 2 == 0 { "user" } else { "assistant" },
                filler.as_str(),
            )
        })
        .collect();
    let titles: Vec<String> = (0..CHATS).map(|i| format!("chat {i}")).collect();
    let chats: Vec<(&str, &[(&str, &str)])> = titles
        .iter()
        .map(|title| (title.as_str(), messages.as_slice()))
        .collect();
    let export = home.write_export("many.json", &chats);
    let mut server = start(&home);
    ok(server.call(1, "history/import", json!({"path": export})));
    server.finish();
    let pristine = tempfile::tempdir().unwrap();
    copy_dir(&home.data_dir(), pristine.path());

    let mut findings = Vec::new();
    for attempt in 0..6u32 {
        std::fs::remove_dir_all(home.data_dir()).unwrap();
        copy_dir(pristine.path(), &home.data_dir());
        let mut server = start(&home);
        assert_eq!(
            ok(server.call(1, "history/list", json!({})))["total"],
            CHATS
        );
        let before = inode(&home.vault_file());
        server.request(2, "vault/reset", json!({"confirm": true}));
        // Kill -9 as soon as the new vault file is in place.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while inode(&home.vault_file()) == before && std::time::Instant::now() < deadline {
            std::hint::spin_loop();
        }
        let _ = server.child.kill();
        let _ = server.child.wait();
        drop(server);

        let mut server = start(&home);
        let listing = server.call(1, "history/list", json!({"limit": 500}));
        server.finish();
        if listing.get("error").is_some() {
            findings.push(format!(
                "attempt {attempt}, killed once the new vault file was in place: {}",
                listing["error"]["message"]
            ));
        }
    }
    assert!(
        findings.is_empty(),
        "a crash during a reset is reported as tampering:\n{}",
        findings.join("\n")
    );
}

/// The same for the local key file (`key_file::read`: `O_RDONLY | O_NOFOLLOW`, no
/// `O_NONBLOCK`, no check that it is a regular file): a FIFO at `~/.config/chinwag/vault.key`
/// (a dotfiles sync, any same-user program) and chinwag never answers.
#[test]
fn a_fifo_in_place_of_the_key_file_hangs_chinwag_instead_of_an_error() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = start(&home);
    assert_eq!(ok(server.call(1, "history/list", json!({})))["total"], 0);
    server.finish();

    let key = home.config_dir().join("vault.key");
    std::fs::remove_file(&key).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(&key)
        .status()
        .expect("mkfifo");
    assert!(status.success());

    let mut server = start(&home);
    server.request(1, "history/list", json!({}));
    let answer = wait_for(&mut server, 1, Duration::from_secs(10));
    let _ = server.child.kill();
    let answer = answer.expect("no answer within 10 s: chinwag hangs reading a FIFO key file");
    assert!(answer.get("error").is_some(), "{answer}");
}

/// `legacy::migrate` groups 0.1 messages by the bytes before their first `/`, then slices
/// `&message_key_bytes[chat_id.len() + 1..]`: a message record whose key is a chat id with no
/// `/` at all (a damaged or hand-made 0.1 store; the record itself opens under the old data
/// key) makes that slice start past the end: the upgrade panics (logged: "panic (message
/// withheld) location=src/vault/legacy.rs:132") in `App::new`, and the process then stays
/// alive without ever answering a request, instead of reporting the store as damaged (1003).
#[test]
fn a_0_1_message_key_without_a_slash_panics_the_upgrade() {
    use chinwag::crypto::VaultHeader;
    use chinwag::store::sled_backend::SledBackend;
    use chinwag::store::{Backend, Op, Tree};

    let home = Home::new();
    copy_dir(&fixtures().join("localkey"), home.path());
    home.write_config(FAST_KDF);
    {
        let db = SledBackend::open(&home.data_dir().join("db"), 1 << 20).unwrap();
        let header =
            VaultHeader::from_bytes(&db.get(Tree::Meta, b"vault.header").unwrap().unwrap())
                .unwrap();
        let file = home.key_file();
        let ring = header.open(&Unlock::LocalKey(&file)).unwrap();
        let (chat_id, _) = db.scan(Tree::Chats, b"").unwrap().remove(0);
        let sealed = chinwag::crypto::record::seal(
            ring.current(),
            Tree::Messages.name(),
            &chat_id,
            br#"{"id":"x"}"#,
        )
        .unwrap();
        db.apply(vec![Op::Insert {
            tree: Tree::Messages,
            key: chat_id,
            value: sealed,
        }])
        .unwrap();
    }

    let mut server = start(&home);
    server.request(1, "history/list", json!({}));
    let answer = wait_for(&mut server, 1, Duration::from_secs(15));
    let _ = server.child.kill();
    let _ = server.child.wait();
    let stderr = server.drain_after_exit();
    assert!(
        !stderr.contains("panic") && !stderr.contains("out of range"),
        "the upgrade panicked: {stderr}"
    );
    let logs = logs_of(&home);
    assert!(
        !logs.contains("panic"),
        "the upgrade panicked (answer: {answer:?}): {logs}"
    );
    let answer = answer.expect("no answer within 15 s");
    assert!(
        answer.get("error").is_none() || error_code(&answer) == 1003,
        "{answer}"
    );
}

fn logs_of(home: &Home) -> String {
    let mut text = String::new();
    if let Ok(entries) = std::fs::read_dir(home.data_dir().join("logs")) {
        for entry in entries.flatten() {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    text
}

/// A password change re-seals every chat under a new key, except a chat that fails its checks
/// (`rotate_into`: "a damaged chat keeps its key through a rotation", logged at warn only):
/// its old chat key is copied into the new vault file, and `vault/setPassword` answers plain
/// success. Anyone who can write to the data folder can damage chats on purpose (remove one
/// message record each) before the user changes a password they believe compromised; the
/// chats then stay under keys the old vault file (a backup, a synced copy) opens with the old
/// password, for as long as they exist, rather than only until sled reclaims old log
/// segments. SECURITY.md/protocol.md: "the vault key and every chat key are replaced and
/// every record re-sealed". At the least the answer must say which chats kept their key.
#[test]
fn a_damaged_chat_keeps_its_old_key_through_a_password_change() {
    use chinwag::store::sled_backend::SledBackend;
    use chinwag::store::{Backend, Op, Tree};
    const PW2: &str = "second password 2";

    let home = Home::new();
    home.write_config(FAST_KDF);
    let export = home.write_export(
        "two.json",
        &[
            (
                "victim",
                &[
                    ("user", "OLDKEYCANARY one"),
                    ("assistant", "OLDKEYCANARY two"),
                    ("user", "OLDKEYCANARY three"),
                ],
            ),
            ("other", &[("user", "hello"), ("assistant", "hi")]),
        ],
    );
    let mut server = start(&home);
    ok(server.call(1, "history/import", json!({"path": export})));
    ok(server.call(2, "vault/setPassword", json!({"current": null, "new": PW1})));
    let listing = ok(server.call(3, "history/list", json!({})));
    let victim = listing["chats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|chat| chat["title"] == "victim")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    server.finish();
    // The attacker's copy of the vault file under the old password.
    let old_vault = std::fs::read(home.vault_file()).unwrap();

    // One message record of the victim removed while chinwag is not running.
    {
        let db = SledBackend::open(&home.data_dir().join("store"), 1 << 20).unwrap();
        let (key, _) = db
            .scan(Tree::Messages, format!("{victim}/").as_bytes())
            .unwrap()
            .remove(0);
        db.apply(vec![Op::Remove {
            tree: Tree::Messages,
            key,
        }])
        .unwrap();
    }

    let mut server = start(&home);
    ok(server.call(1, "vault/unlock", json!({"password": PW1})));
    let changed = server.call(2, "vault/setPassword", json!({"current": PW1, "new": PW2}));
    server.finish();

    // The chosen behaviour: a chat that cannot be moved to a new key stops the change, named,
    // rather than keeping its old key in silence (the vault stays under the old password).
    if changed["error"]["code"] == 1003 {
        assert!(changed.to_string().contains(&victim), "{changed}");
        let mut server = start(&home);
        ok(server.call(1, "vault/unlock", json!({"password": PW1})));
        server.finish();
        return;
    }
    let file = home.key_file();
    let old_keys = carve::keys_of_vault_file(
        &old_vault,
        &Unlock::Password {
            password: PW1.as_bytes(),
            key_file: Some(&file),
        },
    );
    let new_keys = carve::keys_of_vault_file(
        &std::fs::read(home.vault_file()).unwrap(),
        &Unlock::Password {
            password: PW2.as_bytes(),
            key_file: Some(&file),
        },
    );
    let kept = new_keys.iter().filter(|key| old_keys.contains(key)).count();
    let [data, config] = [home.data_dir(), home.config_dir()];
    let readable = carve::carve(
        &[data.as_path(), config.as_path()],
        &old_keys,
        &["OLDKEYCANARY"],
    );
    assert!(
        kept == 0 || changed.to_string().contains(&victim),
        "after a password change answered {changed}, {kept} chat key(s) of the old vault file \
         are still in the new one (the damaged chat's records stay readable with the old \
         password and the old vault file: {} hits)",
        readable.len()
    );
}

/// `history/backup` copies the store as it is and answers success even when a chat is
/// damaged (a lost sled page, one removed record); `history/restore` checks every chat of the
/// backup and refuses the whole file if one fails. So after one chat is damaged, every backup
/// the user takes is written, reported as fine, and can never be restored: the intact chats
/// in it are unrecoverable, which the user learns only when they need it.
#[test]
fn a_backup_taken_with_one_damaged_chat_is_reported_fine_but_never_restores() {
    use chinwag::store::sled_backend::SledBackend;
    use chinwag::store::{Backend, Op, Tree};

    let home = Home::new();
    home.write_config(FAST_KDF);
    let export = home.write_export(
        "two.json",
        &[
            ("damaged one", &[("user", "a"), ("assistant", "b")]),
            ("precious", &[("user", "keep me"), ("assistant", "kept")]),
        ],
    );
    let mut server = start(&home);
    ok(server.call(1, "history/import", json!({"path": export})));
    let listing = ok(server.call(2, "history/list", json!({})));
    let victim = listing["chats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|chat| chat["title"] == "damaged one")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    server.finish();
    {
        let db = SledBackend::open(&home.data_dir().join("store"), 1 << 20).unwrap();
        let (key, _) = db
            .scan(Tree::Messages, format!("{victim}/").as_bytes())
            .unwrap()
            .remove(0);
        db.apply(vec![Op::Remove {
            tree: Tree::Messages,
            key,
        }])
        .unwrap();
    }

    let mut server = start(&home);
    let damaged = server.call(1, "history/get", json!({"chatId": victim}));
    assert_eq!(error_code(&damaged), 1003, "{damaged}");
    let backup_path = home.path().join("weekly.backup");
    let backup = server.call(
        2,
        "history/backup",
        json!({"path": backup_path.to_string_lossy()}),
    );
    let restored = server.call(
        3,
        "history/restore",
        json!({"path": backup_path.to_string_lossy(), "confirm": true}),
    );
    server.finish();
    let backup_warned = backup.get("error").is_some()
        || backup.to_string().contains(&victim)
        || backup.to_string().contains("damaged");
    assert!(
        backup_warned || restored.get("error").is_none(),
        "history/backup answered {backup} (no word of the damaged chat), and restoring that \
         very backup answers {restored}: the intact chat in it can never be recovered"
    );
}

/// An older copy of the vault file put back while no chinwag runs (a sync conflict, a
/// restored home backup of that one file, or someone undoing a key deletion). SECURITY.md:
/// "an older vault file: each answers 1003" and "chinwag notices a rolled-back vault file
/// ... when the database disagrees with it". Here the database disagrees (it holds the
/// records of a chat the old vault file has never heard of, not listed for purging), yet
/// chinwag opens the old vault silently: the newer chat vanishes from every listing, and the
/// API key the user deleted (because it leaked) is back and used again.
#[test]
fn an_older_vault_file_put_back_offline_silently_drops_chats_and_revives_deleted_keys() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let first = home.write_export("first.json", &[("older chat", &[("user", "a")])]);
    let second = home.write_export("second.json", &[("newer chat", &[("user", "b")])]);
    let leaked = format!("sk-proj-LEAKED{}", "x".repeat(40));

    let mut server = start(&home);
    ok(server.call(1, "history/import", json!({"path": first})));
    ok(server.call(
        2,
        "vault/setKey",
        json!({"provider": "openai", "key": leaked}),
    ));
    server.finish();
    let older = std::fs::read(home.vault_file()).unwrap();

    let mut server = start(&home);
    ok(server.call(1, "history/import", json!({"path": second})));
    ok(server.call(2, "vault/deleteKey", json!({"provider": "openai"})));
    server.finish();

    std::fs::write(home.vault_file(), &older).unwrap();
    let mut server = start(&home);
    let listing = server.call(1, "history/list", json!({}));
    let keys = server.call(2, "vault/listKeys", json!({}));
    server.finish();
    let noticed = listing.get("error").is_some()
        || listing["result"]["total"] == 2
        || listing["result"]["damaged"].is_array();
    assert!(
        noticed,
        "an older vault file is taken as current, silently: listing {listing}, keys {keys}"
    );
}

fn inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).ok().map(|meta| meta.ino())
}

/// `file::replace` writes `.vault.<random>.tmp`, fsyncs it, then renames it over the vault
/// file. A crash (kill -9, power loss) before the rename leaves the temporary file, and
/// nothing ever removes it: not the next start, not a password change. It is a whole vault
/// file of its day. Here the vault was under the key file alone when chinwag was killed; the
/// user then sets a password, believing (SECURITY.md) that "no byte on disk opens under the
/// old protection". The leftover still opens with the key file alone and gives the API key
/// and every chat key of that time.
#[test]
fn a_vault_temporary_file_left_by_a_crash_outlives_a_password_change() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let export = home.write_export("one.json", &[("chat", &[("user", "TMPCANARY")])]);
    let mut server = start(&home);
    ok(server.call(1, "history/import", json!({"path": export})));
    // A burst of writes; kill -9 as soon as a temporary vault file exists.
    for id in 0..400 {
        let key = format!("sk-proj-TMPLEAK{id:04}{}", "x".repeat(40));
        server.request(
            100 + id,
            "vault/setKey",
            json!({"provider": "openai", "key": key}),
        );
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut caught = false;
    while std::time::Instant::now() < deadline && !caught {
        caught = temporaries(&home).next().is_some();
    }
    let _ = server.child.kill();
    let _ = server.child.wait();
    drop(server);
    assert!(
        caught,
        "never saw a temporary vault file (the write window was missed)"
    );
    assert!(
        temporaries(&home).next().is_some(),
        "the kill came after the rename"
    );

    let mut server = start(&home);
    ok(server.call(1, "history/list", json!({})));
    ok(server.call(2, "vault/setPassword", json!({"current": null, "new": PW1})));
    server.finish();

    let file = home.key_file();
    let [data, config] = [home.data_dir(), home.config_dir()];
    let keys = carve::keys_on_disk(
        &[data.as_path(), config.as_path()],
        &[Unlock::LocalKey(&file)],
    );
    let left: Vec<String> = temporaries(&home)
        .map(|path| path.display().to_string())
        .collect();
    let api_key_readable = temporaries(&home).any(|path| {
        let bytes = std::fs::read(path).unwrap();
        SealedVault::parse(&bytes)
            .and_then(|sealed| {
                let open = sealed.unlock(&Unlock::LocalKey(&file))?;
                open.open(&sealed)
            })
            .is_ok_and(|body| String::from_utf8_lossy(&body).contains("sk-proj-TMPLEAK"))
    });
    assert!(
        keys.is_empty(),
        "after the password was set, {} key(s) still open with the key file alone, from \
         {left:?} (an API key in plain text in its body: {api_key_readable})",
        keys.len()
    );
}

fn temporaries(home: &Home) -> impl Iterator<Item = PathBuf> {
    std::fs::read_dir(home.data_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(".vault.") && name.ends_with(".tmp")
        })
}
