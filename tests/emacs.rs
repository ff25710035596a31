//! The Emacs client (`editors/emacs`), tested in real batch Emacs with ERT against the real
//! backend and the scripted provider. Each test queues the provider's answers for one scenario,
//! runs that scenario's ERT test (`editors/emacs/test/chinwag-test.el`) in `emacs --batch -Q`
//! with a private HOME, and then checks what the provider saw. A separate test byte-compiles
//! every file of the package with warnings as errors and runs `checkdoc` on it.
//!
//! GNU Emacs 28.1 or newer must be on PATH: without it these tests fail (they do not skip).

mod support;

use std::cell::Cell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::provider::{End, ProviderServer, Reply, Seen, openai_stream};
use support::{FAST_KDF, Home};

/// Longest a single Emacs run may take before the test fails.
const EMACS_TIMEOUT: Duration = Duration::from_secs(120);

fn emacs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/emacs")
}

/// Check that a usable Emacs is installed, failing with a clear message if not.
fn require_emacs() {
    let output = Command::new("emacs")
        .arg("--version")
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run `emacs` ({error}): the Emacs client's tests need GNU Emacs 28.1 \
                 or newer on PATH (Debian: apt-get install emacs-nox)"
            )
        });
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("GNU Emacs "))
        .unwrap_or_else(|| panic!("unexpected `emacs --version` output: {text}"));
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    assert!(
        (major, minor) >= (28, 1),
        "the Emacs client needs GNU Emacs 28.1 or newer; found {version}"
    );
}

/// The package's files, sorted.
fn package_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(emacs_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "el"))
        .collect();
    files.sort();
    files
}

/// The package byte-compiled once per test run, into Cargo's temporary folder for tests, so
/// the scenarios run compiled code as users do (and no `.elc` lands beside the sources). The
/// sources are copied there too: natively compiling Emacs builds look for them beside the
/// `.elc` files.
fn compiled_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        require_emacs();
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        // Folders of earlier runs whose process is gone.
        if let Ok(entries) = std::fs::read_dir(base) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("emacs-elc-")
                    && Path::new("/proc").is_dir()
                    && !Path::new("/proc").join(pid).exists()
                {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = base.join(format!("emacs-elc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut copies = Vec::new();
        for file in package_files() {
            let copy = dir.join(file.file_name().unwrap());
            std::fs::copy(&file, &copy).unwrap();
            copies.push(copy);
        }
        let output = Command::new("emacs")
            .args(["--batch", "-Q", "-L"])
            .arg(&dir)
            .args(["-f", "batch-byte-compile"])
            .args(copies)
            .output()
            .expect("run emacs");
        assert!(
            output.status.success(),
            "byte-compiling the package failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        dir
    })
}

/// Run `emacs --batch -Q` with the package on the load path (compiled first, when
/// `compiled`), in HOME, with `args` after. Returns everything Emacs wrote; fails the test
/// (showing it) on a non-zero exit.
fn run_emacs(home: &Home, compiled: bool, args: &[&str]) -> String {
    require_emacs();
    let package = if compiled {
        compiled_dir().to_path_buf()
    } else {
        emacs_dir()
    };
    let mut child = Command::new("emacs")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("LANG", "C.UTF-8")
        .env("CHINWAG_TEST_BINARY", env!("CARGO_BIN_EXE_chinwag"))
        .current_dir(home.path())
        .args(["--batch", "-Q", "-L"])
        .arg(package)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start emacs");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + EMACS_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "emacs did not finish within {EMACS_TIMEOUT:?}:\n{}{}",
                out.join().unwrap(),
                err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = format!("{}{}", out.join().unwrap(), err.join().unwrap());
    for line in output.lines().filter(|l| l.starts_with("CHINWAG-MEASURE")) {
        eprintln!("{line}");
    }
    assert!(status.success(), "emacs failed ({status}):\n{output}");
    output
}

thread_local! {
    /// Whether the scenario of this thread runs with markdown-mode (see [`both`]).
    static MARKDOWN: Cell<bool> = const { Cell::new(false) };
}

/// Where Debian's `elpa-markdown-mode` puts markdown-mode.
const MARKDOWN_MODE_DIR: &str = "/usr/share/emacs/site-lisp/elpa";

/// Run `scenario` with or without markdown-mode installed (on the load path, chat buffers
/// derived from it and fontified with `global-font-lock-mode' on).
fn with_markdown(markdown: bool, scenario: fn()) {
    MARKDOWN.with(|m| m.set(markdown));
    if markdown {
        markdown_mode_dir();
    }
    scenario();
}

/// The folder of the installed markdown-mode; fails the test if there is none.
fn markdown_mode_dir() -> PathBuf {
    let found = std::fs::read_dir(MARKDOWN_MODE_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("markdown-mode"))
                && path.join("markdown-mode.el").exists()
        });
    found.unwrap_or_else(|| {
        panic!(
            "markdown-mode is not installed in {MARKDOWN_MODE_DIR}: the Emacs client's tests \
             run with it too (Debian: apt-get install elpa-markdown-mode)"
        )
    })
}

/// Each scenario twice: `NAME` without markdown-mode, `NAME_with_markdown_mode` with it.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod plain {
            $(#[test] fn $name() { super::with_markdown(false, super::$name) })*
        }
        mod with_markdown_mode {
            $(#[test] fn $name() { super::with_markdown(true, super::$name) })*
        }
    };
}

both!(
    emacs_unit_tests_without_a_backend,
    emacs_chat_streams_at_the_end_and_continues,
    emacs_stop_hangs_up_at_once_and_the_chat_goes_on,
    emacs_region_and_ask_send_file_language_and_lines,
    emacs_rewrite_is_shown_as_a_diff_and_applied_only_on_accept,
    emacs_history_lists_renames_searches_exports_deletes_and_reopens,
    emacs_keys_come_from_read_passwd_or_auth_source_and_never_leak,
    emacs_locked_vault_asks_once_and_retries,
    emacs_restarts_a_dead_backend_and_says_why,
    emacs_answer_longer_than_ten_seconds_completes,
    emacs_keeps_pace_with_five_thousand_deltas,
    emacs_shows_a_provider_error_and_keeps_the_message,
    emacs_undo_touches_only_the_draft,
    emacs_two_editors_on_one_chat,
);

/// Run the ERT tests whose names match `selector` (a regexp), with markdown-mode when this
/// thread's scenario asks for it.
fn run_ert(home: &Home, selector: &str) -> String {
    let test_file = emacs_dir().join("test/chinwag-test.el");
    let eval = format!("(ert-run-tests-batch-and-exit \"{selector}\")");
    let markdown = MARKDOWN.with(Cell::get);
    let setup = if markdown {
        format!("(setq chinwag-test-markdown {:?})", markdown_mode_dir())
    } else {
        "(setq chinwag-test-markdown nil)".to_string()
    };
    let mut args = vec!["--eval", &setup, "-l", test_file.to_str().unwrap()];
    // The other test files of the package (they load chinwag-test.el's helpers).
    let extra = extra_test_files();
    for file in &extra {
        args.extend(["-l", file.to_str().unwrap()]);
    }
    args.extend(["--eval", &eval]);
    let output = run_emacs(home, true, &args);
    assert!(
        !output.contains("Ran 0 tests"),
        "no ERT test matched {selector}:\n{output}"
    );
    output
}

/// The ERT files of `editors/emacs/test` beside chinwag-test.el (`*-test.el`), sorted.
fn extra_test_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(emacs_dir().join("test"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name().is_some_and(|name| {
                let name = name.to_string_lossy();
                name.ends_with("-test.el") && name != "chinwag-test.el"
            })
        })
        .collect();
    files.sort();
    files
}

/// The backend's config: the scripted provider as the default `mock`.
fn write_config(home: &Home, provider: &ProviderServer, extra: &str) {
    home.write_config(&format!(
        "default_provider = \"mock\"\n{FAST_KDF}\
         [chat]\nidle_timeout_secs = 5\n{extra}\n\
         [providers.mock]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\ndefault_model = \"mock-model\"\n",
        provider.url("/v1"),
    ));
}

fn chats(seen: &[Seen]) -> Vec<Value> {
    seen.iter()
        .filter(|s| s.path == "/v1/chat/completions")
        .map(Seen::json)
        .collect()
}

fn last_user_content(body: &Value) -> String {
    body["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A stream of `count` tokens named `prefix{i}`, paced so that stopping it is visible.
fn long_stream(prefix: &str, count: usize) -> Reply {
    let words: Vec<String> = (0..count).map(|i| format!("{prefix}{i} ")).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    Reply::sse(&openai_stream(&words))
        .in_pieces(vec![40])
        .paced(Duration::from_millis(20))
}

/// An SSE body cut at its event boundaries, so each event arrives as one piece.
fn one_event_per_piece(body: &str) -> Vec<usize> {
    let mut pieces = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let cut = [
            rest.find("\r\n\r\n").map(|i| i + 4),
            rest.find("\n\n").map(|i| i + 2),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(rest.len());
        pieces.push(cut);
        rest = &rest[cut..];
    }
    pieces
}

#[test]
fn emacs_package_byte_compiles_without_warnings_and_passes_checkdoc() {
    let home = Home::new();
    let lint = emacs_dir().join("test/chinwag-lint.el");
    let files = package_files();
    assert!(
        files.len() >= 8,
        "expected the package files, found {files:?}"
    );
    // One fresh Emacs per file, so a missing `require' is not hidden by an earlier file. The
    // generated autoloads are checked by `chinwag-test-unit-autoloads' instead.
    for file in files
        .iter()
        .filter(|f| !f.to_string_lossy().ends_with("-autoloads.el"))
    {
        let output = run_emacs(
            &home,
            false,
            &[
                "-l",
                lint.to_str().unwrap(),
                "-f",
                "chinwag-lint-batch",
                file.to_str().unwrap(),
            ],
        );
        assert!(output.contains("clean: "), "{output}");
    }
    // Nothing compiled next to the sources.
    let stray: Vec<_> = std::fs::read_dir(emacs_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "elc"))
        .collect();
    assert!(stray.is_empty(), "compiled files left behind: {stray:?}");
}

fn emacs_unit_tests_without_a_backend() {
    let home = Home::new();
    let output = run_ert(&home, "\\\\`chinwag-test-unit-");
    assert!(output.contains("CHINWAG-MEASURE handler"), "{output}");
}

fn emacs_chat_streams_at_the_end_and_continues() {
    let provider = ProviderServer::start();
    let home = Home::new();
    write_config(&home, &provider, "");
    provider.push(Reply::json(
        200,
        "{\"object\":\"list\",\"data\":[{\"id\":\"mock-model\"},{\"id\":\"mock-large\"}]}",
    ));
    provider.push(
        Reply::sse(&openai_stream(&[
            "Hello",
            " from",
            " the",
            " **mock**",
            "\n\n```rust\nfn main() {}\n```\n",
        ]))
        .in_pieces(vec![48])
        .paced(Duration::from_millis(40)),
    );
    provider.push(Reply::sse(&openai_stream(&["Again."])));
    run_ert(&home, "\\\\`chinwag-test-chat\\\\'");

    let seen = provider.seen();
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/v1/models");
    let bodies = chats(&seen);
    assert_eq!(bodies.len(), 2, "{seen:?}");
    assert_eq!(bodies[0]["model"], "mock-large");
    assert_eq!(
        bodies[0]["messages"],
        json!([{"role": "user", "content": "Say hello"}])
    );
    let second = bodies[1]["messages"].as_array().unwrap();
    assert_eq!(second.len(), 3, "the second turn carries the first");
    assert_eq!(second[2]["content"], "More");
}

fn emacs_stop_hangs_up_at_once_and_the_chat_goes_on() {
    let provider = ProviderServer::start();
    let home = Home::new();
    write_config(&home, &provider, "");
    provider.push(long_stream("tok", 300));
    provider.push(Reply::sse(&openai_stream(&["after stop"])));
    provider.push(long_stream("tok", 300));
    run_ert(&home, "\\\\`chinwag-test-stop\\\\'");
    for _ in 0..10 {
        eprintln!(
            "hangups {} seen {}",
            provider.hangups(),
            provider.seen().len()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    provider.wait_for("two hang-ups (stop, then kill-buffer)", |p| {
        p.hangups() == 2
    });
    assert_eq!(chats(&provider.seen()).len(), 3);
}

fn emacs_region_and_ask_send_file_language_and_lines() {
    let provider = ProviderServer::start();
    let home = Home::new();
    write_config(&home, &provider, "");
    provider.push(Reply::sse(&openai_stream(&["It reads HOME."])));
    provider.push(Reply::sse(&openai_stream(&["Only os."])));
    run_ert(&home, "\\\\`chinwag-test-region\\\\'");
    let bodies = chats(&provider.seen());
    assert_eq!(bodies.len(), 2);
    assert_eq!(
        last_user_content(&bodies[0]),
        "Explain this code.\n\n`pkg/util.py` lines 3-4:\n```python\ndef home():\n    return os.environ['HOME']\n```"
    );
    assert_eq!(
        last_user_content(&bodies[1]),
        "What does it import?\n\n`pkg/util.py` lines 1-4:\n```python\nimport os\n\ndef home():\n    return os.environ['HOME']\n```"
    );
}

fn emacs_rewrite_is_shown_as_a_diff_and_applied_only_on_accept() {
    let provider = ProviderServer::start();
    let home = Home::new();
    write_config(&home, &provider, "");
    provider.push(Reply::sse(&openai_stream(&[
        "Here:\n```rust\n",
        "fn add(a: i32, b: i32) -> i32 { a + b }\n",
        "```\n",
    ])));
    provider.push(Reply::sse(&openai_stream(&[
        "```rust\n// main\nfn main() {}\n```",
    ])));
    provider.push(
        Reply::sse("data: {\"choices\":[{\"delta\":{\"content\":\"```rust\\n\"}}]}\n\n")
            .ending(End::Stall),
    );
    run_ert(&home, "\\\\`chinwag-test-rewrite\\\\'");
    provider.wait_for("the hang-up of the stopped rewrite", |p| p.hangups() == 1);
    let bodies = chats(&provider.seen());
    assert_eq!(bodies.len(), 3);
    let prompt = last_user_content(&bodies[0]);
    assert!(
        prompt.contains("Instruction: use i32")
            && prompt.contains(
                "Selected code line 1:\n```rust\nfn add(a: u8, b: u8) -> u8 { a + b }\n```"
            ),
        "{prompt}"
    );
    assert!(
        last_user_content(&bodies[1]).contains("Selected code line 2:\n```rust\nfn main() {}\n```")
    );
}

fn emacs_history_lists_renames_searches_exports_deletes_and_reopens() {
    let provider = ProviderServer::start();
    let home = Home::new();
    write_config(&home, &provider, "");
    provider.push(Reply::sse(&openai_stream(&["Lifetimes are scopes."])));
    provider.push(Reply::sse(&openai_stream(&["Second answer."])));
    provider.push(Reply::sse(&openai_stream(&["Continued."])));
    run_ert(&home, "\\\\`chinwag-test-history\\\\'");
    let bodies = chats(&provider.seen());
    assert_eq!(bodies.len(), 3);
    assert_eq!(
        bodies[2]["messages"],
        json!([
            {"role": "user", "content": "First topic: lifetimes"},
            {"role": "assistant", "content": "Lifetimes are scopes."},
            {"role": "user", "content": "Go on"},
        ]),
        "the reopened chat continued where it stopped"
    );
    let exported = std::fs::read_to_string(home.path().join("first.md")).unwrap();
    assert!(exported.contains("Lifetimes are scopes."), "{exported}");
}

fn emacs_keys_come_from_read_passwd_or_auth_source_and_never_leak() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    // A remote provider (not loopback, so it needs a key) that refuses connections.
    write_config(
        &home,
        &provider,
        &format!(
            "\n[providers.remote]\nkind = \"openai-compatible\"\n\
             base_url = \"https://0.0.0.0:{port}/v1\"\ndefault_model = \"r\"\n"
        ),
    );
    provider.push(Reply::sse(&openai_stream(&["one"])));
    provider.push(Reply::sse(&openai_stream(&["two"])));
    run_ert(&home, "\\\\`chinwag-test-keys\\\\'");
    let seen = provider.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[0].header("authorization"),
        Some("Bearer sk-emacs-CANARY-1")
    );
    assert_eq!(
        seen[1].header("authorization"),
        Some("Bearer sk-authinfo-CANARY-2")
    );
    // The backend's files only: ~/.authinfo holds two of them on purpose.
    let mut files = Vec::new();
    for dir in [home.path().join("config"), home.path().join("data")] {
        let mut stack = vec![dir];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    files.extend(std::fs::read(&path).unwrap_or_default());
                }
            }
        }
    }
    assert!(!files.is_empty());
    let files = String::from_utf8_lossy(&files);
    for canary in [
        "sk-emacs-CANARY-1",
        "remote-key-CANARY-3",
        "remote-typed-CANARY-4",
    ] {
        assert!(!files.contains(canary), "{canary} reached a file");
    }
}

fn emacs_locked_vault_asks_once_and_retries() {
    let provider = ProviderServer::start();
    let home = Home::new();
    write_config(&home, &provider, "");
    for answer in ["ok 1", "ok 2", "unlocked A", "unlocked B", "unlocked C"] {
        provider.push(Reply::sse(&openai_stream(&[answer])));
    }
    run_ert(&home, "\\\\`chinwag-test-unlock\\\\'");
    assert_eq!(
        chats(&provider.seen()).len(),
        5,
        "the message sent without a password never reached the provider"
    );
}

fn emacs_restarts_a_dead_backend_and_says_why() {
    let provider = ProviderServer::start();
    let home = Home::new();
    write_config(&home, &provider, "");
    provider.push(Reply::sse(&openai_stream(&["first life"])));
    provider.push(Reply::sse(&openai_stream(&["second life"])));
    provider.push(long_stream("tok", 300));
    run_ert(&home, "\\\\`chinwag-test-restart\\\\'");
    let bodies = chats(&provider.seen());
    assert_eq!(bodies.len(), 3);
    assert_eq!(
        bodies[1]["messages"].as_array().unwrap().len(),
        3,
        "the chat continued in the new backend"
    );
}

/// One answer streams for about 11 s: longer than `jsonrpc.el`'s 10 s default timeout, so a
/// request made with that default would fail here. This is the only slow scenario and runs in
/// parallel with the others; the chat scenario checks the request carries no timeout at all.
fn emacs_answer_longer_than_ten_seconds_completes() {
    let provider = ProviderServer::start();
    let home = Home::new();
    write_config(&home, &provider, "");
    let words: Vec<String> = (0..20)
        .map(|i| {
            if i == 0 {
                "slow0".to_string()
            } else {
                format!(" slow{i}")
            }
        })
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let body = openai_stream(&words);
    let pieces = one_event_per_piece(&body);
    provider.push(
        Reply::sse(&body)
            .in_pieces(pieces)
            .paced(Duration::from_millis(450)),
    );
    run_ert(&home, "\\\\`chinwag-test-long-stream\\\\'");
}

fn emacs_keeps_pace_with_five_thousand_deltas() {
    let provider = ProviderServer::start();
    let home = Home::new();
    write_config(&home, &provider, "delta_window_ms = 0");
    let words: Vec<String> = (0..5000)
        .map(|i| {
            if i == 0 {
                "w0".to_string()
            } else {
                format!(" w{i}")
            }
        })
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    // Once with chinwag's reader, once with jsonrpc.el's, for comparison.
    provider.push(Reply::sse(&openai_stream(&words)));
    provider.push(Reply::sse(&openai_stream(&words)));
    let output = run_ert(&home, "\\\\`chinwag-test-fast-stream\\\\'");
    assert!(output.contains("CHINWAG-MEASURE end to end"), "{output}");
}

fn emacs_shows_a_provider_error_and_keeps_the_message() {
    let provider = ProviderServer::start();
    let home = Home::new();
    write_config(&home, &provider, "");
    provider.push(Reply::json(
        401,
        r#"{"error":{"message":"Incorrect API key provided"}}"#,
    ));
    provider.push(Reply::sse(&openai_stream(&["Recovered."])));
    run_ert(&home, "\\\\`chinwag-test-provider-error\\\\'");
    assert_eq!(chats(&provider.seen()).len(), 2);
}

fn emacs_undo_touches_only_the_draft() {
    let provider = ProviderServer::start();
    let home = Home::new();
    write_config(&home, &provider, "");
    provider.push(Reply::sse(&openai_stream(&["Hello."])));
    provider.push(long_stream("tok", 60));
    provider.push(Reply::sse(&openai_stream(&["Third."])));
    run_ert(&home, "\\\\`chinwag-test-undo\\\\'");
    let bodies = chats(&provider.seen());
    assert_eq!(bodies.len(), 3);
    assert_eq!(
        last_user_content(&bodies[2]),
        "Next question",
        "the draft written while the answer streamed was sent as it was left"
    );
    assert_eq!(bodies[2]["messages"].as_array().unwrap().len(), 5);
}

fn emacs_two_editors_on_one_chat() {
    let provider = ProviderServer::start();
    let home = Home::new();
    write_config(&home, &provider, "");
    provider.push(Reply::sse(&openai_stream(&["Here first."])));
    provider.push(Reply::sse(&openai_stream(&["Elsewhere."])));
    provider.push(Reply::sse(&openai_stream(&["Once more."])));
    provider.push(Reply::sse(&openai_stream(&["Here."])));
    run_ert(&home, "\\\\`chinwag-test-two-editors\\\\'");
    let bodies = chats(&provider.seen());
    assert_eq!(bodies.len(), 4);
    let last = bodies[3]["messages"].as_array().unwrap();
    assert_eq!(
        last.len(),
        7,
        "the model saw what the buffer showed: {last:?}"
    );
    assert_eq!(last[4]["content"], "Again elsewhere");
    assert_eq!(last[6]["content"], "my draft");
}

/// Issue 14 in Emacs: context items, presets and slash commands, the trust prompt for project
/// instructions and chat in any buffer (`editors/emacs/test/chinwag-context-test.el`).
mod context_and_presets {
    use super::*;

    both!(
        emacs_context_is_listed_confirmed_sent_and_shown,
        emacs_presets_and_slash_commands,
        emacs_project_instructions_are_trusted_when_the_user_agrees,
        emacs_chat_in_any_buffer_is_one_undo_step,
    );

    fn system_prompt(body: &Value) -> Option<String> {
        let first = &body["messages"][0];
        (first["role"] == "system").then(|| first["content"].as_str().unwrap().to_string())
    }

    fn emacs_context_is_listed_confirmed_sent_and_shown() {
        let provider = ProviderServer::start();
        let web = ProviderServer::start();
        let home = Home::new();
        write_config(&home, &provider, "");
        std::fs::write(home.path().join("web-url"), web.url("/doc.html")).unwrap();
        let page = || {
            Reply::stream(
                "text/html; charset=utf-8",
                "<html><body><h1>Borrowing</h1><p>A reference borrows.</p></body></html>",
            )
        };
        // Once for the preview, once for the message.
        web.push(page());
        web.push(page());
        provider.push(Reply::sse(&openai_stream(&["Seen."])));
        provider.push(Reply::sse(&openai_stream(&["Again."])));
        run_ert(&home, "\\\\`chinwag-test-context\\\\'");
        let bodies = chats(&provider.seen());
        assert_eq!(
            bodies.len(),
            2,
            "the declined and the failed sends went nowhere"
        );
        let first = last_user_content(&bodies[0]);
        for expected in [
            "Look at this",
            "`src/lib.rs` (the whole buffer):\n```rust\npub fn add",
            "Diagnostics for `src/lib.rs`:",
            "mismatched types",
            "`src/main.rs`:\n```rust\nfn main() {\n    println!(\"hello\");",
            "`git diff`:\n```diff\n",
            "+    println!(\"hello\");",
            "Borrowing",
            "API_TOKEN=[redacted: assignment]",
            "DEBUG=1",
        ] {
            assert!(
                first.contains(expected),
                "missing {expected:?} in:\n{first}"
            );
        }
        assert!(!first.contains("tok-env-CANARY"), "{first}");
        assert!(
            !first.contains("src/*.rs"),
            "the removed glob went: {first}"
        );
        let second = last_user_content(&bodies[1]);
        assert!(
            second.starts_with("And now?") && second.contains("tok-env-CANARY-0123456789"),
            "the secrets went as they were, once: {second}"
        );
    }

    fn emacs_presets_and_slash_commands() {
        let provider = ProviderServer::start();
        let home = Home::new();
        write_config(
            &home,
            &provider,
            "\n[presets.terse]\nsystem = \"Be terse.\"\ninstruction = \"Shorten this:\"\n",
        );
        provider.push(Reply::sse(&openai_stream(&["Short."])));
        provider.push(Reply::sse(&openai_stream(&["Reviewed."])));
        provider.push(Reply::sse(&openai_stream(&[
            "```python\ndef f(x):\n    return 2 * x\n```",
        ])));
        run_ert(&home, "\\\\`chinwag-test-presets\\\\'");
        let bodies = chats(&provider.seen());
        assert_eq!(bodies.len(), 3, "the unknown preset went nowhere");
        assert_eq!(system_prompt(&bodies[0]).as_deref(), Some("Be terse."));
        let terse = last_user_content(&bodies[0]);
        assert!(
            terse.starts_with("Shorten this:") && terse.ends_with("A long text."),
            "{terse}"
        );
        assert!(!terse.contains("/terse"), "{terse}");
        let review = last_user_content(&bodies[1]);
        assert!(review.contains("Review"), "{review}");
        assert!(!review.contains("/review"), "{review}");
        assert!(
            review.contains("```python\ndef f(x):\n    return x * 2\n```"),
            "{review}"
        );
        assert!(system_prompt(&bodies[1]).is_some());
        let rewrite = last_user_content(&bodies[2]);
        assert!(rewrite.contains("def f(x):"), "{rewrite}");
        assert!(!rewrite.contains("/fix"), "{rewrite}");
        assert!(rewrite.to_lowercase().contains("fix"), "{rewrite}");
    }

    fn emacs_project_instructions_are_trusted_when_the_user_agrees() {
        let provider = ProviderServer::start();
        let home = Home::new();
        write_config(&home, &provider, "");
        for answer in ["One.", "Two.", "Three.", "Four."] {
            provider.push(Reply::sse(&openai_stream(&[answer])));
        }
        run_ert(&home, "\\\\`chinwag-test-trust\\\\'");
        let bodies = chats(&provider.seen());
        assert_eq!(bodies.len(), 4);
        assert_eq!(system_prompt(&bodies[0]), None, "declined");
        assert_eq!(system_prompt(&bodies[1]), None, "declined, not asked again");
        assert_eq!(
            system_prompt(&bodies[2]).as_deref(),
            Some("Project instructions (from AGENTS.md):\nUse tabs.")
        );
        assert_eq!(
            system_prompt(&bodies[3]).as_deref(),
            Some("Project instructions (from AGENTS.md):\nUse tabs. And spaces.")
        );
    }

    fn emacs_chat_in_any_buffer_is_one_undo_step() {
        let provider = ProviderServer::start();
        let home = Home::new();
        write_config(&home, &provider, "");
        provider.push(Reply::sse(&openai_stream(&["Fo", "ur."])));
        provider.push(Reply::sse(&openai_stream(&["Answer", " one."])));
        provider.push(Reply::sse(&openai_stream(&["Answer two."])));
        provider.push(long_stream("tok", 300));
        provider.push(Reply::sse(&openai_stream(&["Region answer."])));
        run_ert(&home, "\\\\`chinwag-test-inline\\\\'");
        let bodies = chats(&provider.seen());
        assert_eq!(bodies.len(), 5);
        assert_eq!(
            bodies[0]["messages"],
            json!([{"role": "user", "content": "What is 2+2?"}])
        );
        assert_eq!(
            bodies[2]["messages"],
            json!([
                {"role": "user", "content": "Prompt one"},
                {"role": "assistant", "content": "Answer one."},
                {"role": "user", "content": "Prompt two"},
            ]),
            "the prompt after an answer continued its chat"
        );
        assert_eq!(last_user_content(&bodies[3]), "Count");
        assert_eq!(
            bodies[4]["messages"],
            json!([{"role": "user", "content": "Prompt one"}]),
            "the region started a chat of its own"
        );
        provider.wait_for("the hang-up of the stopped answer", |p| p.hangups() == 1);
    }
}
