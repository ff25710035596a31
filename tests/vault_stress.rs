//! The vault under stress: two processes changing keys while the other writes, and a tamper
//! campaign of random bit flips and truncations in every file of the data folder.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{FAST_KDF, Framing, Home, Server, copy_dir, error_code, ok};

const PW1: &str = "first password 1";
const PW2: &str = "second password 2";

/// A call that unlocks with whichever password is current when the vault says it is locked
/// (the other process changes it), then retries.
fn call_unlocking(server: &mut Server, id: &mut i64, method: &str, params: Value) -> Value {
    for _ in 0..20 {
        *id += 1;
        let response = server.call(*id, method, params.clone());
        if response["error"]["code"] != 1001 {
            return response;
        }
        for password in [PW1, PW2] {
            *id += 1;
            let unlocked = server.call(*id, "vault/unlock", json!({"password": password}));
            if unlocked.get("error").is_none() {
                break;
            }
        }
    }
    panic!("{method} stayed locked");
}

/// Every chat as a process sees it: id → (title, messages), with none damaged.
fn everything(server: &mut Server, id: &mut i64) -> std::collections::BTreeMap<String, Value> {
    let listing = ok(call_unlocking(
        server,
        id,
        "history/list",
        json!({"limit": 500}),
    ));
    assert!(listing.get("damaged").is_none(), "damaged: {listing}");
    let mut chats = std::collections::BTreeMap::new();
    for chat in listing["chats"].as_array().unwrap() {
        let chat_id = chat["id"].as_str().unwrap().to_string();
        let detail = ok(call_unlocking(
            server,
            id,
            "history/get",
            json!({"chatId": chat_id}),
        ));
        chats.insert(chat_id, json!([detail["title"], detail["messages"]]));
    }
    assert_eq!(chats.len() as u64, listing["total"].as_u64().unwrap());
    chats
}

#[test]
fn key_changes_in_one_process_while_the_other_writes_leave_every_record_readable() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut writer = Server::start(&home, Framing::Ndjson);
    let seed = home.write_export("seed.json", &[("seed", &[("user", "first words")])]);
    ok(writer.call(1, "history/import", json!({"path": seed})));
    let mut changer = Server::start(&home, Framing::Ndjson);
    ok(changer.call(1, "initialize", json!({})));
    let backup = home.path().join("mid.backup");

    let stop = std::sync::atomic::AtomicBool::new(false);
    let writes = std::thread::scope(|scope| {
        let writing = scope.spawn(|| {
            let mut id = 100;
            let mut writes = 0;
            let mut round = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || writes < 40 {
                round += 1;
                let export = home.write_export(
                    &format!("w{round}.json"),
                    &[(
                        "written",
                        &[("user", "while keys change"), ("assistant", "ok")],
                    )],
                );
                let response = call_unlocking(
                    &mut writer,
                    &mut id,
                    "history/import",
                    json!({"path": export}),
                );
                ok(response);
                writes += 1;
                let listing = ok(call_unlocking(
                    &mut writer,
                    &mut id,
                    "history/list",
                    json!({"limit": 1}),
                ));
                if let Some(chat) = listing["chats"].get(0) {
                    let renamed = call_unlocking(
                        &mut writer,
                        &mut id,
                        "history/rename",
                        json!({"chatId": chat["id"], "title": format!("renamed {round}")}),
                    );
                    // The chat may have gone with a reset or restore in the other process.
                    assert!(
                        renamed.get("error").is_none() || error_code(&renamed) == 1201,
                        "{renamed}"
                    );
                    writes += 1;
                }
                if round > 400 {
                    break;
                }
            }
            (writer, id, writes)
        });
        let mut id = 10;
        let mut next = |method: &str, params: Value| {
            id += 1;
            std::thread::sleep(Duration::from_millis(30));
            ok(changer.call(id, method, params))
        };
        next("vault/rotateKey", json!({"confirm": true}));
        next("vault/setPassword", json!({"new": PW1}));
        next("vault/rotateKey", json!({"confirm": true, "password": PW1}));
        next("history/backup", json!({"path": backup}));
        next("vault/setPassword", json!({"current": PW1, "new": PW2}));
        next(
            "history/restore",
            json!({"path": backup, "confirm": true, "password": PW1}),
        );
        next("vault/setPassword", json!({"current": PW1, "new": PW2}));
        next("vault/rotateKey", json!({"confirm": true, "password": PW2}));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        writing.join().unwrap()
    });
    let (mut writer, mut writer_id, count) = writes;
    assert!(count >= 40, "only {count} writes");

    let mut id = 1000;
    let seen_by_changer = everything(&mut changer, &mut id);
    let seen_by_writer = everything(&mut writer, &mut writer_id);
    assert_eq!(seen_by_changer, seen_by_writer);
    assert!(!seen_by_writer.is_empty());
    writer.finish();
    changer.finish();

    let mut again = Server::start(&home, Framing::Ndjson);
    let mut id = 1;
    ok(again.call(id, "vault/unlock", json!({"password": PW2})));
    assert_eq!(everything(&mut again, &mut id), seen_by_writer);
    again.finish();
}

#[test]
fn a_reset_in_one_process_while_the_other_writes_leaves_a_consistent_store() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut writer = Server::start(&home, Framing::Ndjson);
    ok(writer.call(1, "initialize", json!({})));
    let mut changer = Server::start(&home, Framing::Ndjson);
    ok(changer.call(1, "initialize", json!({})));
    std::thread::scope(|scope| {
        let writing = scope.spawn(|| {
            let mut id = 100;
            for round in 0..60 {
                let export = home.write_export(
                    &format!("w{round}.json"),
                    &[("written", &[("user", "around a reset")])],
                );
                ok(call_unlocking(
                    &mut writer,
                    &mut id,
                    "history/import",
                    json!({"path": export}),
                ));
            }
            id
        });
        std::thread::sleep(Duration::from_millis(150));
        ok(changer.call(2, "vault/reset", json!({"confirm": true})));
        writing.join().unwrap();
    });
    let mut id = 1000;
    let a = everything(&mut changer, &mut id);
    let b = everything(&mut writer, &mut id);
    assert_eq!(a, b);
    assert!(a.len() < 60, "the reset wiped nothing");
    writer.finish();
    changer.finish();
}

/// A small deterministic generator (xorshift64*): the campaign prints its seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else if path.is_file() {
            out.push(path);
        }
    }
}

/// What one damaged copy did.
#[derive(Debug, Default)]
struct Outcomes {
    /// Everything read back exactly as it was.
    identical: usize,
    /// Something was reported (1003 for a chat or the vault, or a storage error) and
    /// everything that was shown was exactly as it was.
    reported: usize,
}

#[test]
fn random_bit_flips_and_truncations_are_reported_never_silent() {
    use chinwag::app::Storage;
    use chinwag::config::Config;
    use chinwag::paths::Paths;

    let rounds: usize = std::env::var("CHINWAG_TAMPER_ROUNDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1500);
    let seed = std::env::var("CHINWAG_TAMPER_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(0x00c0_ffee_u64);
    eprintln!("tamper campaign: {rounds} rounds, seed {seed}");

    // The pristine store: 15 chats written by the real binary.
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = Server::start(&home, Framing::Ndjson);
    let chats: Vec<(String, Vec<(&str, String)>)> = (0..15)
        .map(|index| {
            let messages = (0..4)
                .map(|turn| {
                    let role = if turn % 2 == 0 { "user" } else { "assistant" };
                    (
                        role,
                        format!("chat {index} turn {turn} {}", "text ".repeat(index)),
                    )
                })
                .collect();
            (format!("chat number {index}"), messages)
        })
        .collect();
    let borrowed: Vec<(&str, Vec<(&str, &str)>)> = chats
        .iter()
        .map(|(title, messages)| {
            (
                title.as_str(),
                messages.iter().map(|(r, c)| (*r, c.as_str())).collect(),
            )
        })
        .collect();
    let slices: Vec<(&str, &[(&str, &str)])> = borrowed
        .iter()
        .map(|(title, messages)| (*title, messages.as_slice()))
        .collect();
    let export = home.write_export("seed.json", &slices);
    ok(server.call(1, "history/import", json!({"path": export})));
    server.finish();

    let config = Config::default();
    let open = |root: &Path| {
        let paths = Paths::from_dirs(
            root.to_path_buf(),
            root.join("config/chinwag"),
            root.join("data/chinwag"),
        );
        Storage::open(&paths, &config)
    };
    let pristine = {
        let storage = open(home.path()).expect("the pristine store opens");
        let (chats, damaged) = storage.history.everything().unwrap();
        assert!(damaged.is_empty());
        chats
    };
    assert_eq!(pristine.len(), 15);

    let mut files = Vec::new();
    files_under(&home.data_dir(), &mut files);
    files.retain(|path| !path.starts_with(home.data_dir().join("logs")));
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|path| std::fs::metadata(path).unwrap().len() > 0)
        .map(|path| path.strip_prefix(home.path()).unwrap().to_path_buf())
        .collect();

    let mut random = Random(seed | 1);
    let mut outcomes = Outcomes::default();
    let started = Instant::now();
    let scratch = tempfile::tempdir().unwrap();
    for round in 0..rounds {
        let root = scratch.path().join(format!("r{round}"));
        copy_dir(&home.path().join("config"), &root.join("config"));
        copy_dir(&home.data_dir(), &root.join("data/chinwag"));
        let victim = root.join(&files[random.below(files.len())]);
        let mut bytes = std::fs::read(&victim).unwrap();
        let what = if round % 10 == 9 {
            let cut = random.below(bytes.len());
            bytes.truncate(cut);
            format!("{} cut to {cut} bytes", victim.display())
        } else {
            let at = random.below(bytes.len());
            let bit = 1u8 << random.below(8);
            bytes[at] ^= bit;
            format!("{} byte {at} bit {bit:#x}", victim.display())
        };
        std::fs::write(&victim, &bytes).unwrap();

        let storage = match open(&root) {
            Ok(storage) => storage,
            Err(_) => {
                outcomes.reported += 1;
                std::fs::remove_dir_all(&root).unwrap();
                continue;
            }
        };
        let mut reported = false;
        match storage.history.list(None, 0, 100) {
            Ok(listing) => {
                assert!(
                    listing.total == 15,
                    "{what}: the listing silently shows {} chats",
                    listing.total
                );
                reported |= !listing.damaged.is_empty();
                assert_eq!(
                    listing.chats.len() + listing.damaged.len(),
                    15,
                    "{what}: chats went missing from the listing"
                );
                for summary in &listing.chats {
                    let (record, messages) = pristine
                        .iter()
                        .find(|(chat, _)| chat.id == summary.id)
                        .unwrap_or_else(|| panic!("{what}: a chat that never was: {summary:?}"));
                    assert_eq!(summary.title, record.title, "{what}");
                    match storage.history.messages(&summary.id) {
                        Ok(read) => assert_eq!(&read, messages, "{what}: different messages"),
                        Err(error) => {
                            assert!(is_reported(&error), "{what}: {error}");
                            reported = true;
                        }
                    }
                }
            }
            Err(error) => {
                assert!(is_reported(&error), "{what}: {error}");
                reported = true;
            }
        }
        if reported {
            outcomes.reported += 1;
        } else {
            outcomes.identical += 1;
        }
        drop(storage);
        std::fs::remove_dir_all(&root).unwrap();
    }
    eprintln!(
        "tamper campaign: {rounds} rounds in {:.1} s: {} read back exactly, {} reported \
         (1003 or a storage error), 0 silent",
        started.elapsed().as_secs_f64(),
        outcomes.identical,
        outcomes.reported
    );
}

fn is_reported(error: &chinwag::history::HistoryError) -> bool {
    use chinwag::history::HistoryError;
    use chinwag::vault::VaultError;
    matches!(
        error,
        HistoryError::Vault(VaultError::Damaged(_) | VaultError::Store(_))
    )
}

#[test]
fn a_clear_killed_midway_is_all_or_nothing_and_leaves_no_orphans() {
    use chinwag::store::sled_backend::SledBackend;
    use chinwag::store::{Backend, Tree};

    for delay_ms in [0u64, 15, 60] {
        let home = Home::new();
        home.write_config(FAST_KDF);
        let chats: Vec<(String, [(&str, &str); 2])> = (0..1500)
            .map(|index| {
                (
                    format!("chat {index}"),
                    [("user", "a question"), ("assistant", "an answer")],
                )
            })
            .collect();
        let slices: Vec<(&str, &[(&str, &str)])> = chats
            .iter()
            .map(|(title, messages)| (title.as_str(), &messages[..]))
            .collect();
        let export = home.write_export("many.json", &slices);
        let mut server = Server::start(&home, Framing::Ndjson);
        ok(server.call(1, "history/import", json!({"path": export})));
        server.request(2, "history/clear", json!({"confirm": true}));
        std::thread::sleep(Duration::from_millis(delay_ms));
        server.signal(libc::SIGKILL);
        let _ = server.wait_exit();

        let mut server = Server::start(&home, Framing::Ndjson);
        let listing = ok(server.call(1, "history/list", json!({})));
        let total = listing["total"].as_u64().unwrap();
        assert!(
            total == 0 || total == 1500,
            "killed after {delay_ms} ms: {total} chats"
        );
        assert!(listing.get("damaged").is_none(), "{listing}");
        server.finish();

        let db = SledBackend::open(&home.data_dir().join("store"), 1 << 20).unwrap();
        let chats = db.scan(Tree::Chats, b"").unwrap().len() as u64;
        let messages = db.scan(Tree::Messages, b"").unwrap().len() as u64;
        assert_eq!(
            (chats, messages),
            (total, total * 2),
            "killed after {delay_ms} ms: records left behind"
        );
    }
}
