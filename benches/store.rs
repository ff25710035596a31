//! Storage benchmarks (run in release: `cargo bench --bench store`).
//!
//! A store of 10,000 chats and 100,000 messages is built once; then each operation is timed
//! beside a baseline measured in the same run on the same data: the raw database scan the
//! operation cannot avoid (so the ratio is the cost of decryption, parsing and sorting), and for
//! start-up, the same binary on an empty store.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chinwag::app::Storage;
use chinwag::config::Config;
use chinwag::crypto::{KdfParams, kdf};
use chinwag::history::ExportFormat;
use chinwag::paths::Paths;
use chinwag::store::{Backend, Tree};
use serde_json::json;

const CHATS: usize = 10_000;
const MESSAGES_PER_CHAT: usize = 10;

fn main() {
    let root = tempfile::tempdir().expect("temp dir");
    let home = root.path().join("home");
    let empty_home = root.path().join("empty");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&empty_home).unwrap();
    chinwag::paths::restrict_umask();
    let paths = paths_in(&home);
    paths.ensure_dirs().unwrap();
    let config = Config::default();

    let started = Instant::now();
    {
        let storage = Storage::open(&paths, &config).expect("open storage");
        let export = home.join("seed.json");
        write_seed(&export);
        let summary = storage
            .history
            .import(export.to_str().unwrap())
            .expect("import");
        assert_eq!(summary.imported, CHATS);
    }
    eprintln!(
        "seeded {CHATS} chats / {} messages in {:.1} s",
        CHATS * MESSAGES_PER_CHAT,
        started.elapsed().as_secs_f64()
    );

    let storage = Storage::open(&paths, &config).expect("reopen");
    let store = storage.vault.store().expect("the database is open");
    let backend: &dyn Backend = store.as_ref();
    println!("| operation | chinwag | baseline (same run) | ratio |");
    println!("|---|---|---|---|");

    let list = time(20, || {
        let listing = storage
            .history
            .list(Some(chinwag::history::ChatKind::Chat), 0, 50)
            .unwrap();
        assert_eq!((listing.total, listing.chats.len()), (CHATS, 50));
    });
    let raw_chats = time(20, || {
        assert_eq!(backend.scan(Tree::Chats, b"").unwrap().len(), CHATS);
    });
    row(
        "list newest 50 of 10,000 chats",
        list,
        "raw scan of the chats tree",
        raw_chats,
    );

    let search = time(5, || {
        let (hits, damaged) = storage.history.search("needle-4242", 50).unwrap();
        assert_eq!((hits.len(), damaged.len()), (1, 0));
    });
    let raw_messages = time(5, || {
        let entries = backend.scan(Tree::Messages, b"").unwrap();
        assert_eq!(entries.len(), CHATS * MESSAGES_PER_CHAT);
    });
    row(
        "search 100,000 messages",
        search,
        "raw scan of the messages tree",
        raw_messages,
    );

    // A write: one message into a chat of the 10,000. The vault file (one entry per chat)
    // is written twice around the database batch; the baseline is the same batch alone.
    let chat_id = storage.history.list(None, 0, 1).unwrap().chats[0]
        .id
        .clone();
    let append = time(20, || {
        storage
            .history
            .append(
                &chat_id,
                chinwag::history::MessageRecord::new(
                    chinwag::history::Role::User,
                    "one more question".into(),
                    chinwag::clock::now_millis(),
                ),
                chinwag::history::MakeCurrent::Always,
            )
            .unwrap();
    });
    let raw_write = time(20, || {
        backend
            .apply(vec![
                chinwag::store::Op::Insert {
                    tree: Tree::Meta,
                    key: b"bench.a".to_vec(),
                    value: vec![7; 200],
                },
                chinwag::store::Op::Insert {
                    tree: Tree::Meta,
                    key: b"bench.b".to_vec(),
                    value: vec![7; 900],
                },
            ])
            .unwrap();
    });
    row(
        "append a message (10,000 chats in the vault file)",
        append,
        "the same two-record batch, raw",
        raw_write,
    );

    let out = home.join("all.json");
    let export = time(3, || {
        storage
            .history
            .export(None, ExportFormat::Json, out.to_str().unwrap(), true)
            .unwrap();
    });
    let raw_all = time(3, || {
        for tree in Tree::ALL {
            backend.scan(tree, b"").unwrap();
        }
    });
    row(
        "export all (JSON)",
        export,
        "raw scan of every tree",
        raw_all,
    );
    drop(store);
    drop(storage);

    let binary = env!("CARGO_BIN_EXE_chinwag");
    let (full_start, full_rss) = start_up(binary, &home, 10);
    let (empty_start, empty_rss) = start_up(binary, &empty_home, 10);
    row(
        "start-up to answered initialize, 10,000 chats",
        full_start,
        "same, empty store",
        empty_start,
    );
    println!(
        "| resident memory after initialize + history/list, 10,000 chats | {:.1} MiB | empty store: {:.1} MiB | {:.2}x |",
        full_rss as f64 / 1024.0,
        empty_rss as f64 / 1024.0,
        full_rss as f64 / empty_rss as f64
    );
    let derive = |params: KdfParams| {
        time(5, || {
            kdf::derive(b"correct horse battery staple", &[7; 16], None, &params).unwrap();
        })
    };
    let default = derive(KdfParams::DEFAULT);
    let floor = derive(KdfParams::FLOOR);
    row(
        "unlock: Argon2id at our default (64 MiB, t=3, p=4)",
        default,
        "at the OWASP floor (19 MiB, t=2, p=1)",
        floor,
    );
    let db_bytes = dir_size(&paths.database_dir);
    println!(
        "\ndatabase size on disk with 10,000 chats / 100,000 messages: {:.1} MiB",
        db_bytes as f64 / 1048576.0
    );
}

fn paths_in(home: &Path) -> Paths {
    Paths::from_dirs(
        home.to_path_buf(),
        home.join(".config/chinwag"),
        home.join(".local/share/chinwag"),
    )
}

fn write_seed(path: &Path) {
    let chats: Vec<_> = (0..CHATS)
        .map(|c| {
            let messages: Vec<_> = (0..MESSAGES_PER_CHAT)
                .map(|m| {
                    let role = if m % 2 == 0 { "user" } else { "assistant" };
                    let marker = if c == 4242 && m == 5 { " needle-4242" } else { "" };
                    json!({"id": "", "seq": m, "role": role, "status": "complete",
                           "createdAt": 1_700_000_000_000i64 + m as i64,
                           "content": format!("Message {m} of chat {c}: how do I borrow a value mutably twice in Rust without the checker complaining? {marker}")})
                })
                .collect();
            json!({"id": "", "title": format!("Chat number {c}"), "provider": "groq",
                   "model": "llama-3.3-70b-versatile", "system": null,
                   "createdAt": 1_700_000_000_000i64, "updatedAt": 1_700_000_000_000i64 + c as i64,
                   "messageCount": 0, "messages": messages})
        })
        .collect();
    std::fs::write(
        path,
        json!({"format": "chinwag-export", "version": 1, "chats": chats}).to_string(),
    )
    .unwrap();
}

/// Median of `runs` timings.
fn time(runs: usize, mut work: impl FnMut()) -> Duration {
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed()
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn row(what: &str, ours: Duration, baseline_name: &str, baseline: Duration) {
    println!(
        "| {what} | {:.2} ms | {baseline_name}: {:.2} ms | {:.2}x |",
        ours.as_secs_f64() * 1e3,
        baseline.as_secs_f64() * 1e3,
        ours.as_secs_f64() / baseline.as_secs_f64()
    );
}

/// Median time from spawn to the `initialize` answer, and resident memory (KiB) after a
/// `history/list`.
fn start_up(binary: &str, home: &Path, runs: usize) -> (Duration, u64) {
    let mut samples = Vec::new();
    let mut rss = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let mut child = Command::new(binary)
            .env_clear()
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        writeln!(
            stdin,
            "{}",
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize"})
        )
        .unwrap();
        stdout.read_line(&mut line).unwrap();
        samples.push(started.elapsed());
        writeln!(
            stdin,
            "{}",
            json!({"jsonrpc": "2.0", "id": 2, "method": "history/list"})
        )
        .unwrap();
        line.clear();
        stdout.read_line(&mut line).unwrap();
        rss = vm_rss(child.id());
        drop(stdin);
        child.wait().unwrap();
    }
    samples.sort();
    (samples[samples.len() / 2], rss)
}

fn vm_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        dir_size(&e.path())
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}
