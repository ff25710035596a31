//! The Neovim client (`editors/nvim`) in real headless Neovim, against the real backend and a
//! scripted provider on 127.0.0.1. Each test queues the provider's answers, runs one Lua
//! scenario from `editors/nvim/tests/` (which drives the plugin as a user would and asserts on
//! buffers, then exits 0, or 1 with the reason on stderr), and checks what the provider saw.
//!
//! Neovim 0.10 or newer must be on PATH: these tests fail, never skip, without it.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::provider::{End, ProviderServer, Reply, openai_stream};
use support::{FAST_KDF, Home};

const KEY: &str = "mock-key-7f3a9e1c-CANARY";
const PASSWORD: &str = "correct horse battery";
/// A scenario that takes longer than this has hung.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(60);

fn plugin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/nvim")
}

/// Fails the test (not skips it) when Neovim is missing or too old.
fn require_nvim() {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(message) = CHECK.get_or_init(check_nvim) {
        panic!("{message}");
    }
}

fn check_nvim() -> Result<(), String> {
    let output = Command::new("nvim")
        .args(["--headless", "--clean", "--version"])
        .output()
        .map_err(|error| {
            format!(
                "`nvim` could not be run ({error}). The Neovim client's tests need Neovim 0.10 \
                 or newer on PATH (CI installs 0.11.4, see .ci/run)."
            )
        })?;
    let version = String::from_utf8_lossy(&output.stdout);
    let first = version.lines().next().unwrap_or_default().to_string();
    let minor = first
        .strip_prefix("NVIM v0.")
        .and_then(|rest| rest.split('.').next())
        .and_then(|minor| minor.parse::<u32>().ok());
    match minor {
        Some(minor) if minor < 10 => Err(format!(
            "the Neovim client needs Neovim 0.10 or newer; found {first:?}"
        )),
        None if !first.starts_with("NVIM v") => Err(format!(
            "`nvim --version` printed {first:?}, not a Neovim version"
        )),
        _ => Ok(()),
    }
}

fn config(provider: &ProviderServer, extra: &str) -> String {
    format!(
        "default_provider = \"mock\"\n{FAST_KDF}\
         [chat]\nidle_timeout_secs = 5\n{extra}\n\
         [providers.mock]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\ndefault_model = \"mock-model\"\n\n\
         [providers.faraway]\nkind = \"openai-compatible\"\nbase_url = \"https://llm.example.invalid/v1\"\ndefault_model = \"far-model\"\n",
        provider.url("/v1"),
    )
}

/// A private HOME holding the chinwag config and a project folder Neovim starts in.
fn home_with(provider: &ProviderServer, chat_extra: &str) -> Home {
    let home = Home::new();
    home.write_config(&config(provider, chat_extra));
    std::fs::create_dir_all(home.path().join("project/src")).unwrap();
    home
}

struct Outcome {
    stderr: String,
    elapsed: Duration,
}

impl Outcome {
    /// The value printed by the scenario as `NAME=value`.
    fn value(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.stderr
            .lines()
            .find_map(|line| line.strip_prefix(&prefix).map(str::to_string))
    }
}

/// Run `editors/nvim/tests/<scenario>.lua` in headless Neovim with HOME at `home`; panics with
/// Neovim's stderr unless the scenario passes.
fn run(home: &Home, scenario: &str) -> Outcome {
    require_nvim();
    let dir = plugin_dir();
    let script = dir.join("tests").join(format!("{scenario}.lua"));
    assert!(script.is_file(), "no scenario {}", script.display());
    let mut command = Command::new("nvim");
    command
        .arg("--headless")
        .arg("--clean")
        .arg("-u")
        .arg(dir.join("tests/minimal_init.lua"))
        .arg("-c")
        .arg(format!("luafile {}", script.display()))
        .current_dir(home.path().join("project"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env("CHINWAG_BIN", env!("CARGO_BIN_EXE_chinwag"))
        .env("CHINWAG_TEST_HOME", home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(tmp) = std::env::var_os("TMPDIR") {
        command.env("TMPDIR", tmp);
    }
    // CHINWAG_TEST_DUMP=1 prints every chat buffer at the end (see it with --nocapture).
    let dump = std::env::var_os("CHINWAG_TEST_DUMP");
    if let Some(dump) = &dump {
        command.env("CHINWAG_TEST_DUMP", dump);
    }
    let started = Instant::now();
    let mut child = command.spawn().expect("start nvim");
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > SCENARIO_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "scenario {scenario} hung for {SCENARIO_TIMEOUT:?}; stderr:\n{}",
                reader.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let stderr = reader.join().unwrap_or_default();
    assert!(
        status.success() && stderr.contains(&format!("PASS {scenario}")),
        "scenario {scenario} failed ({status}); Neovim's stderr:\n{stderr}"
    );
    if dump.is_some() {
        eprintln!("--- {scenario} ({elapsed:?}):\n{stderr}");
    }
    Outcome { stderr, elapsed }
}

/// The messages of the chat request the provider saw `index`th.
fn messages(provider: &ProviderServer, index: usize) -> Vec<Value> {
    let seen = provider.seen();
    let request = seen
        .get(index)
        .unwrap_or_else(|| panic!("the provider saw only {} requests", seen.len()));
    request.json()["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages in {}", request.body))
        .clone()
}

fn last_user_content(provider: &ProviderServer, index: usize) -> String {
    let messages = messages(provider, index);
    messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// 200 tokens, 40 bytes every 20 ms, and no end: only a stop ends it.
fn endless() -> Reply {
    let many: Vec<String> = (0..200).map(|i| format!("tok{i} ")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    Reply::sse(&openai_stream(&many))
        .in_pieces(vec![40])
        .paced(Duration::from_millis(20))
        .ending(End::Stall)
}

/// The backend process is gone (it was stopped when Neovim quit).
fn assert_gone(pid: &str) {
    let proc = Path::new("/proc").join(pid);
    let deadline = Instant::now() + Duration::from_secs(5);
    while proc.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!proc.exists(), "the backend (pid {pid}) outlived Neovim");
}

#[test]
fn chat_streams_in_order_stops_and_keeps_the_draft() {
    let provider = ProviderServer::start();
    let home = home_with(&provider, "");
    let words: Vec<String> = (0..40)
        .map(|i| format!("Grüß{i} "))
        .chain(["✓".to_string()])
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut first = openai_stream(&words);
    // The scripted usage counts pieces; say 40 completion tokens.
    first = first.replace("\"completion_tokens\":41", "\"completion_tokens\":40");
    provider.push(
        Reply::sse(&first)
            .in_pieces(vec![60])
            .paced(Duration::from_millis(15)),
    );
    provider.push(endless());
    provider.push(endless());
    provider.push(Reply::sse(&openai_stream(&["Fine."])));

    let outcome = run(&home, "test_chat");

    let first = messages(&provider, 0);
    assert_eq!(
        first,
        vec![
            json!({"role": "system", "content": "Be brief."}),
            json!({"role": "user", "content": "Say hello"}),
        ]
    );
    assert_eq!(last_user_content(&provider, 1), "count");
    assert_eq!(last_user_content(&provider, 2), "more please");
    assert_eq!(last_user_content(&provider, 3), "and now?");
    // Both stops hung up on the provider at once.
    provider.wait_for("two hang-ups", |p| p.hangups() == 2);
    // The last turn carried the whole conversation, stopped answers included.
    let last = messages(&provider, 3);
    assert_eq!(last.len(), 8, "{last:?}");
    assert_eq!(last[2]["content"], words.concat());
    assert!(last[4]["content"].as_str().unwrap().starts_with("tok0 "));
    assert_gone(
        &outcome
            .value("BACKEND_PID")
            .expect("the scenario printed the pid"),
    );
    // Neovim stopped it with `shutdown` then `exit`, not by closing its stdin.
    let log = logs(&home);
    assert!(
        log.contains("shutdown requested") && log.contains("stop=Exit"),
        "{log}"
    );
}

/// Everything in the backend's log folder.
fn logs(home: &Home) -> String {
    let mut text = String::new();
    if let Ok(entries) = std::fs::read_dir(home.data_dir().join("logs")) {
        for entry in entries.flatten() {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    text
}

#[test]
fn a_selection_reaches_the_provider_as_formatted_context() {
    let provider = ProviderServer::start();
    let home = home_with(&provider, "");
    for answer in [
        "It is the entry point.",
        "A macro.",
        "It prints hi.",
        "You're welcome.",
    ] {
        provider.push(Reply::sse(&openai_stream(&[answer])));
    }

    run(&home, "test_selection");

    assert_eq!(
        last_user_content(&provider, 0),
        "Explain this\n\n`src/main.rs` lines 3-5:\n```rust\nfn main() {\n    println!(\"hi\");\n}\n```"
    );
    assert_eq!(
        last_user_content(&provider, 1),
        "What is this?\n\n`src/main.rs` line 4:\n```rust\nprintln!(\n```"
    );
    assert_eq!(
        last_user_content(&provider, 2),
        "What does this file do?\n\n`src/main.rs` lines 1-5:\n```rust\nuse std::io;\n\nfn main() {\n    println!(\"hi\");\n}\n```"
    );
    assert_eq!(last_user_content(&provider, 3), "Thanks!");
    // One conversation: the fourth request carried the three turns before it.
    assert_eq!(messages(&provider, 3).len(), 7);
}

#[test]
fn rewrite_is_a_diff_applied_only_on_accept() {
    let provider = ProviderServer::start();
    let home = home_with(&provider, "");
    provider.push(Reply::sse(&openai_stream(&[
        "Here:\n```rust\n",
        "fn add(a: i32, b: i32) -> i32 { a + b }\n",
        "```\n",
    ])));
    provider.push(Reply::sse(&openai_stream(&[
        "```rust\n// header (i64)\nfn add(a: i64, b: i64) -> i64 { a + b }\n```",
    ])));
    provider.push(Reply::sse(&openai_stream(&["```rust\n// FOOTER\n```"])));

    run(&home, "test_rewrite");

    let first = last_user_content(&provider, 0);
    assert!(
        first.contains("Instruction: use i32")
            && first.contains(
                "`src/lib.rs` line 2:\n```rust\nfn add(a: u8, b: u8) -> u8 { a + b }\n```"
            ),
        "{first}"
    );
    let second = last_user_content(&provider, 1);
    assert!(
        second.contains("`src/lib.rs` lines 1-2:\n```rust\n// header\nfn add(a: i32"),
        "{second}"
    );
    // The file on disk is untouched: the accept edits the buffer, which is the user's to save.
    assert_eq!(
        std::fs::read_to_string(home.path().join("project/src/lib.rs")).unwrap(),
        "// header\nfn add(a: u8, b: u8) -> u8 { a + b }\n// footer\n"
    );
}

#[test]
fn history_opens_renames_deletes_exports_and_searches() {
    let provider = ProviderServer::start();
    let home = home_with(&provider, "");
    for answer in ["Hello there.", "Bees buzz.", "Hello again."] {
        provider.push(Reply::sse(&openai_stream(&[answer])));
    }

    run(&home, "test_history");

    // The reopened chat carried its history to the provider.
    let continued = messages(&provider, 2);
    assert_eq!(
        continued,
        vec![
            json!({"role": "user", "content": "Say hello"}),
            json!({"role": "assistant", "content": "Hello there."}),
            json!({"role": "user", "content": "And again?"}),
        ]
    );
    let export = std::fs::read_to_string(home.path().join("greetings.md")).unwrap();
    assert!(
        export.contains("Greetings") && export.contains("Hello again."),
        "{export}"
    );
}

#[test]
fn keys_are_stored_and_a_locked_vault_asks_once_then_retries() {
    let provider = ProviderServer::start();
    let home = home_with(&provider, "");
    provider.push(Reply::sse(&openai_stream(&["unlocked answer"])));

    let outcome = run(&home, "test_vault");

    // The key stored from Neovim went to the provider, and only there.
    let seen = provider.seen();
    assert_eq!(seen.len(), 1, "the refused send reached nobody");
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert!(!outcome.stderr.contains(KEY) && !outcome.stderr.contains(PASSWORD));
    let files = String::from_utf8_lossy(&home.all_file_bytes()).into_owned();
    assert!(!files.contains(KEY), "the key reached a file in clear");
    assert!(!files.contains(PASSWORD), "the password reached a file");
}

#[test]
fn a_dead_backend_is_reported_and_the_next_command_restarts_it() {
    let provider = ProviderServer::start();
    let home = home_with(&provider, "");
    provider.push(endless());
    provider.push(Reply::sse(&openai_stream(&["Back again."])));

    run(&home, "test_crash");

    // The killed backend's stream was dropped; the new one sent the chat without the turn
    // that never got its answer (a failed turn is not sent again).
    provider.wait_for("the hang-up", |p| p.hangups() == 1);
    let messages = messages(&provider, 1);
    assert_eq!(
        messages,
        [json!({"role": "user", "content": "are you back?"})]
    );
}

#[test]
fn checkhealth_reports_neovim_backend_vault_and_providers() {
    let provider = ProviderServer::start();
    let home = home_with(&provider, "");
    run(&home, "test_health");
    assert!(provider.seen().is_empty(), "checkhealth asks no provider");
}

#[test]
fn the_model_picker_lists_the_backends_models_and_switches_the_chat() {
    let provider = ProviderServer::start();
    let home = home_with(&provider, "");
    provider.push(Reply::json(
        200,
        r#"{"object":"list","data":[{"id":"mock-model","object":"model"},{"id":"mock-large","object":"model"}]}"#,
    ));
    provider.push(Reply::sse(&openai_stream(&["I am large."])));
    provider.push(Reply::sse(&openai_stream(&["I am the default."])));

    run(&home, "test_model");

    let seen = provider.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("GET", "/v1/models")
    );
    assert_eq!(seen[1].json()["model"], "mock-large");
    // The second pick came from the backend's model cache and went to chat/configure.
    assert_eq!(seen[2].json()["model"], "mock-model");
    assert_eq!(seen.len(), 3);
}

#[test]
fn five_thousand_fast_tokens_all_reach_the_buffer() {
    let provider = ProviderServer::start();
    // No merge window: every token is its own chat/delta, the client's worst case.
    let home = home_with(&provider, "delta_window_ms = 0");
    let tokens: Vec<String> = (0..5000)
        .map(|i| format!("t{i}{}", if i % 100 == 99 { "\n" } else { " " }))
        .collect();
    let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
    provider.push(
        Reply::sse(&openai_stream(&tokens))
            .in_pieces(vec![256])
            .paced(Duration::from_millis(1)),
    );

    let outcome = run(&home, "test_stream_5000");

    let value = |name: &str| outcome.value(name).unwrap_or_default();
    println!(
        "5,000 tokens in {} ms ({} chat/delta notifications); longest event-loop stall {} ms; \
         {} edits typed elsewhere meanwhile; {} undo steps in the chat; Neovim RSS {} MB; \
         scenario {:?} in all",
        value("PERF_MS"),
        value("PERF_DELTAS"),
        value("PERF_MAX_STALL_MS"),
        value("PERF_TYPED"),
        value("PERF_UNDO_STEPS"),
        value("PERF_RSS_MB"),
        outcome.elapsed
    );
    assert_eq!(provider.seen().len(), 1);
}

#[test]
fn the_transport_frames_split_reads_and_reports_an_exit() {
    let home = Home::new();
    std::fs::create_dir_all(home.path().join("project")).unwrap();
    run(&home, "test_rpc");
}

#[test]
fn a_provider_error_is_shown_and_nothing_typed_is_lost() {
    let provider = ProviderServer::start();
    let home = home_with(&provider, "");
    provider.push(Reply::json(
        401,
        r#"{"error":{"message":"Incorrect API key provided"}}"#,
    ));
    provider.push(Reply::sse(&openai_stream(&["Recovered."])));
    run(&home, "test_provider_error");
    assert_eq!(provider.seen().len(), 2);
}

#[test]
fn undo_and_redo_touch_only_what_the_user_typed() {
    let provider = ProviderServer::start();
    let home = home_with(&provider, "");
    provider.push(Reply::sse(&openai_stream(&["Hello there."])));
    provider.push(endless());
    provider.push(Reply::sse(&openai_stream(&["Fine."])));

    run(&home, "test_undo");

    assert_eq!(last_user_content(&provider, 1), "count");
    // The stopped answer and the turns before it reached the provider in order.
    let last = messages(&provider, 2);
    assert_eq!(last.len(), 5, "{last:?}");
    assert_eq!(last[0]["content"], "Say hello");
    assert_eq!(last[4]["content"], "and now?");
}

#[test]
fn one_chat_window_is_reused_and_toggled() {
    let provider = ProviderServer::start();
    let home = home_with(&provider, "");
    provider.push(Reply::sse(&openai_stream(&["Hello there."])));
    run(&home, "test_windows");
    assert_eq!(provider.seen().len(), 1);
}

#[test]
fn help_opens_in_a_fresh_neovim_with_only_the_plugin() {
    let home = Home::new();
    std::fs::create_dir_all(home.path().join("project")).unwrap();
    run(&home, "test_help");
}

#[test]
fn the_statusline_redraws_and_stop_and_error_are_text() {
    let provider = ProviderServer::start();
    let home = home_with(&provider, "");
    provider.push(Reply::sse(&openai_stream(&["One."])));
    provider.push(endless());
    provider.push(Reply::json(
        401,
        r#"{"error":{"message":"Incorrect API key provided"}}"#,
    ));
    run(&home, "test_status");
    assert_eq!(provider.seen().len(), 3);
}

#[test]
fn commands_take_typed_names_and_errors_say_what_to_do() {
    let provider = ProviderServer::start();
    let home = home_with(&provider, "");
    provider.push(endless());
    run(&home, "test_commands");
    // Only the stream that <C-c> stopped reached the provider (the locked send was stubbed).
    assert_eq!(provider.seen().len(), 1);
    provider.wait_for("the hang-up", |p| p.hangups() == 1);
}

#[test]
fn a_config_error_is_shown_when_the_backend_starts() {
    let provider = ProviderServer::start();
    let home = home_with(&provider, "colour = \"blue\"");
    run(&home, "test_config_error");
}

#[test]
fn a_chat_changed_elsewhere_is_shown_before_anything_is_sent() {
    let provider = ProviderServer::start();
    let home = home_with(&provider, "");
    for answer in ["One.", "Two.", "Three.", "Four.", "Five."] {
        provider.push(Reply::sse(&openai_stream(&[answer])));
    }
    run(&home, "test_refresh");
    let seen = provider.seen();
    assert_eq!(seen.len(), 5, "the refused send reached nobody");
    // What the model was sent is what the buffer showed.
    let contents: Vec<Value> = messages(&provider, 3)
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    assert_eq!(
        contents,
        vec![
            json!("first"),
            json!("One."),
            json!("from elsewhere"),
            json!("Two."),
            json!("again elsewhere"),
            json!("Three."),
            json!("my draft"),
        ]
    );
}

/// A file of the project folder the scenarios start in.
fn write_project_file(home: &Home, path: &str, text: &str) {
    let full = home.path().join("project").join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, text).unwrap();
}

fn git(home: &Home, args: &[&str]) {
    let output = Command::new("git")
        .arg("-C")
        .arg(home.path().join("project"))
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .env("HOME", home.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git");
    assert!(output.status.success(), "git {args:?}: {output:?}");
}

/// Values a scenario reads from `$CHINWAG_TEST_HOME/scenario.json`.
fn scenario_values(home: &Home, values: Value) {
    std::fs::write(home.path().join("scenario.json"), values.to_string()).unwrap();
}

#[test]
fn context_is_staged_listed_removed_confirmed_and_sent_with_the_next_message() {
    let provider = ProviderServer::start();
    let web = ProviderServer::start();
    let home = home_with(&provider, "");
    write_project_file(
        &home,
        "src/lib.rs",
        "pub fn add(a: i32, b: i32) -> i32 { a + b }\n",
    );
    write_project_file(
        &home,
        "src/main.rs",
        "fn main() {\n    println!(\"hi\");\n}\n",
    );
    write_project_file(&home, "README.md", "# Project\n");
    git(&home, &["init", "-q"]);
    git(&home, &["add", "src", "README.md"]);
    git(&home, &["commit", "-q", "-m", "start"]);
    // Not committed: an unstaged change, a file that holds secrets, notes (ignored later).
    write_project_file(
        &home,
        "src/main.rs",
        "fn main() {\n    println!(\"hello\");\n}\n",
    );
    write_project_file(&home, ".env", "API_TOKEN=tok-env-CANARY-123456\nDEBUG=1\n");
    write_project_file(&home, "notes.txt", "my private notes\n");
    write_project_file(&home, "draft.txt", "draft words\n");
    // Fetched twice: by the preview and by the send.
    for _ in 0..2 {
        web.push(Reply::stream(
            "text/html; charset=utf-8",
            "<html><body><h1>Borrowing</h1><p>A reference borrows.</p></body></html>",
        ));
    }
    let key = "sk-proj-CANARYnvim0123456789abcdefghij";
    scenario_values(&home, json!({"url": web.url("/doc.html"), "key": key}));
    for answer in ["Seen.", "Noted.", "Careful."] {
        provider.push(Reply::sse(&openai_stream(&[answer])));
    }

    run(&home, "test_context");

    assert_eq!(
        provider.seen().len(),
        3,
        "one request per message sent (the declined one went nowhere)"
    );
    let first = last_user_content(&provider, 0);
    for expected in [
        "Look at this",
        "`src/lib.rs` (the whole buffer):\n```rust\npub fn add",
        "Diagnostics for `src/lib.rs`:",
        "line 1: error [rustc]: mismatched types\n    | pub fn add",
        "`git diff`:\n```diff\n",
        "+    println!(\"hello\");",
        "A reference borrows.",
        "API_TOKEN=[redacted: assignment]",
        "DEBUG=1",
    ] {
        assert!(
            first.contains(expected),
            "missing {expected:?} in:\n{first}"
        );
    }
    assert!(!first.contains("tok-env-CANARY"), "{first}");
    // The glob and the README were taken off before the send.
    assert!(!first.contains("# Project"), "{first}");
    assert!(!first.contains("`src/main.rs`:"), "{first}");
    let second = last_user_content(&provider, 1);
    assert!(
        second.starts_with("And these notes?") && second.contains("my private notes"),
        "{second}"
    );
    let third = last_user_content(&provider, 2);
    assert_eq!(third, format!("my key is {key}"));
}

#[test]
fn presets_apply_from_a_slash_with_completion_and_show_in_the_header() {
    let provider = ProviderServer::start();
    let home = home_with(
        &provider,
        "[presets.terse]\nsystem = \"Be terse.\"\ninstruction = \"Shorten this:\"\n",
    );
    for answer in [
        "Short.",
        "Plain.",
        "Tests.",
        "```rust\nfn add(a: u8, b: u8) -> u8 { a + b }\n```",
    ] {
        provider.push(Reply::sse(&openai_stream(&[answer])));
    }

    run(&home, "test_presets");

    assert_eq!(provider.seen().len(), 4);
    assert_eq!(
        messages(&provider, 0),
        vec![
            json!({"role": "system", "content": "Be terse."}),
            json!({"role": "user", "content": "Shorten this:\n\nkeep it short"}),
        ]
    );
    assert_eq!(last_user_content(&provider, 1), "/nonesuch is a path");
    let tests = messages(&provider, 2);
    assert!(
        tests[0]["content"]
            .as_str()
            .unwrap()
            .starts_with("You are a careful senior software engineer."),
        "{tests:?}"
    );
    assert_eq!(
        tests.last().unwrap()["content"],
        "Write unit tests for this code, in its language and the test framework its project most \
         likely uses; cover the edge cases.\n\n`src/lib.rs` line 1:\n```rust\nfn add(a: u8, b: u8) -> u8 { a - b }\n```"
    );
    let fix = last_user_content(&provider, 3);
    assert!(
        fix.contains("Instruction: Find and fix the bugs in this code."),
        "{fix}"
    );
}

#[test]
fn project_instructions_are_shown_and_trusted_before_they_steer_the_model() {
    let provider = ProviderServer::start();
    let home = home_with(&provider, "");
    write_project_file(&home, "AGENTS.md", "Use tabs.\n");
    for answer in ["One.", "Two.", "Three.", "Four."] {
        provider.push(Reply::sse(&openai_stream(&[answer])));
    }

    run(&home, "test_trust");

    let system = |n: usize| -> Option<String> {
        let first = messages(&provider, n)[0].clone();
        (first["role"] == "system").then(|| first["content"].as_str().unwrap().to_string())
    };
    assert_eq!(system(0), None, "not trusted yet");
    assert_eq!(
        system(1).as_deref(),
        Some("Project instructions (from AGENTS.md):\nUse tabs.")
    );
    assert_eq!(system(2), None, "changed: not trusted");
    assert_eq!(system(3), None, "declined");
    assert_eq!(provider.seen().len(), 4);
}

#[test]
fn chat_in_any_buffer_streams_below_the_prompt_as_one_undo_step() {
    let provider = ProviderServer::start();
    let home = home_with(&provider, "");
    provider.push(
        Reply::sse(&openai_stream(&[
            "A monad ",
            "is a ",
            "pattern.\n",
            "It chains.",
        ]))
        .in_pieces(vec![50])
        .paced(Duration::from_millis(30)),
    );
    provider.push(Reply::sse(&openai_stream(&[
        "fn add(a: i32, b: i32) -> i32 {\n",
        "    a + b\n}",
    ])));
    provider.push(Reply::sse(&openai_stream(&["Plain answer."])));
    provider.push(Reply::sse(&openai_stream(&["Visual answer."])));
    provider.push(endless());
    provider.push(endless());
    provider.push(Reply::sse(&openai_stream(&["Continued."])));

    run(&home, "test_inline");

    assert_eq!(last_user_content(&provider, 0), "What is a monad?");
    assert_eq!(
        last_user_content(&provider, 1),
        "write an add function\n-- taking two numbers"
    );
    assert_eq!(
        last_user_content(&provider, 2),
        "Translate hello\ninto French."
    );
    assert_eq!(last_user_content(&provider, 3), "First paragraph.");
    assert_eq!(last_user_content(&provider, 5), "Count again");
    provider.wait_for("two hang-ups", |p| p.hangups() == 2);
    // The inline exchange is a saved chat that went on.
    let continued: Vec<Value> = messages(&provider, 6)
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    assert_eq!(
        continued,
        vec![
            json!("write an add function\n-- taking two numbers"),
            json!("fn add(a: i32, b: i32) -> i32 {\n    a + b\n}"),
            json!("And subtraction?"),
        ]
    );
}

/// A scenario that starts its own scripted provider inside Neovim
/// (`editors/nvim/tests/provider.lua`) and writes its own config.
fn own_provider(scenario: &str) {
    let home = Home::new();
    std::fs::create_dir_all(home.path().join("project/src")).unwrap();
    run(&home, scenario);
}

#[test]
fn code_blocks_yank_jump_and_apply() {
    own_provider("test_blocks")
}

#[test]
fn a_paragraph_taller_than_the_window_stays_in_view() {
    own_provider("test_follow")
}

#[test]
fn the_chat_is_highlighted_as_markdown() {
    own_provider("test_highlight")
}

#[test]
fn conversation_trees_regenerate_edit_switch_retry() {
    own_provider("test_tree")
}
