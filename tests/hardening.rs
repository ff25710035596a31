//! Hardening, through the real binary: a full disk and a read-only data dir give clear errors
//! and lose nothing acknowledged, and no secret ever shows in a process's arguments or
//! environment.
//!
//! Root ignores file permissions, so a full or read-only disk is made for real: chinwag runs in
//! a private mount namespace (`unshare -m`; for other users `unshare -rm`, a user namespace in
//! which they may mount) with a small tmpfs over its data dir. Where neither works these tests
//! fail and say so.

mod support;

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::provider::{End, ProviderServer, Reply, openai_stream};
use support::{FAST_KDF, Framing, Home, Server, error_code};

fn ok(response: Value) -> Value {
    assert!(
        response.get("error").is_none(),
        "unexpected error: {response}"
    );
    response["result"].clone()
}

/// Config with the scripted provider as the default; `vault` goes into the `[vault]` table.
fn mock_config(provider: &ProviderServer, vault: &str) -> String {
    format!(
        "default_provider = \"mock\"\n{FAST_KDF}{vault}[providers.mock]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\ndefault_model = \"m\"\n",
        provider.url("/v1")
    )
}

/// A server and the next request id, so a long session does not juggle ids by hand.
struct Client {
    server: Server,
    id: i64,
}

impl Client {
    fn new(server: Server) -> Self {
        Self { server, id: 0 }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.id += 1;
        self.server.call(self.id, method, params)
    }

    /// `shutdown` then `exit`, as an editor closes the server.
    fn shut_down(&mut self) {
        assert_eq!(ok(self.call("shutdown", json!(null))), Value::Null);
        self.server.notify("exit", json!(null));
    }
}

/// Stderr of a finished server must show no panic (our hook prints "internal error").
fn assert_no_panic(stderr: &str) {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("internal error"),
        "chinwag panicked: {stderr}"
    );
}

// --- A private mount namespace -----------------------------------------------------------

/// The notification the wrapper script prints after each chinwag run (with its exit code), so
/// the test knows when the next run starts reading stdin.
const EXITED: &str = "test/chinwagExited";

/// Shell functions for the wrapper script: `run_chinwag` runs chinwag on the script's stdio,
/// then prints the `EXITED` notification. Every other command's failure stops the script (`set -e`).
const PRELUDE: &str = r#"set -e
run_chinwag() {
  code=0
  "$CHINWAG" || code=$?
  printf '{"jsonrpc":"2.0","method":"test/chinwagExited","params":{"code":%d}}\n' "$code"
}
"#;

/// `unshare`'s options for a private mount namespace: root has the right to mount; anyone else
/// gets it inside a user namespace where they are root.
fn unshare_options() -> &'static [&'static str] {
    if running_as_root() {
        &["--mount"]
    } else {
        &["--map-root-user", "--mount"]
    }
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to this process's effective user.
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

/// Fail with a clear message unless this machine lets us mount a tmpfs in a private mount
/// namespace: the tests below cannot make a full or read-only disk any other way.
fn require_unshare(home: &Home) {
    let probe = home.path().join("unshare-probe");
    std::fs::create_dir_all(&probe).unwrap();
    let outcome = Command::new("unshare")
        .args(unshare_options())
        .args(["sh", "-c", "mount -t tmpfs -o size=64k tmpfs \"$0\""])
        .arg(&probe)
        .output();
    let options = unshare_options().join(" ");
    match outcome {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "this test needs `unshare {options}` and `mount -t tmpfs` to work; they failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => panic!("this test needs `unshare {options}` (util-linux): {error}"),
    }
}

/// `script` run by `sh` in a private mount namespace, with chinwag's test environment,
/// `XDG_DATA_HOME=data_home`, and `$CHINWAG` (the binary) and `$DATA` (chinwag's data dir)
/// set. Mounts it makes are seen by the chinwag it runs and vanish when the script ends.
fn namespace_command(home: &Home, data_home: &Path, script: &str) -> Command {
    require_unshare(home);
    std::fs::create_dir_all(data_home.join("chinwag")).unwrap();
    let mut command = home.command_for("unshare");
    command
        .args(unshare_options())
        .args(["sh", "-c"])
        .arg(format!("{PRELUDE}{script}"))
        .env("CHINWAG", env!("CARGO_BIN_EXE_chinwag"))
        .env("XDG_DATA_HOME", data_home)
        .env("DATA", data_home.join("chinwag"));
    command
}

/// Wait for the wrapper script's note that chinwag exited; return chinwag's exit code.
fn wait_exited(server: &mut Server) -> i64 {
    loop {
        let message = server.recv();
        if message["method"] == EXITED {
            return message["params"]["code"].as_i64().unwrap();
        }
    }
}

// --- A full disk --------------------------------------------------------------------------

/// A file taking most of the 2 MiB tmpfs under the data dir, so that the database opens and
/// takes a few chats, then fills the disk; deleting it is "freeing space".
const BALLAST_KIB: usize = 1024;

/// Each answer's size: a few dozen fill the small disk.
const ANSWER_BYTES: usize = 16 * 1024;

/// What the server acknowledged: it must all be there later.
#[derive(Default)]
struct Acknowledged {
    chats: Vec<String>,
    /// (chat id, user message, answer)
    turns: Vec<(String, String, String)>,
    titles: HashMap<String, String>,
}

/// Check that everything acknowledged reads back as it was acknowledged. With
/// `disk_full_allowed`, a read may instead answer the disk-full error (after a failed write the
/// store answers every call with it until restarted: sled keeps the failed change in memory,
/// and a read must not show what was never saved). A read may never answer anything else.
/// Returns how many reads answered that error.
fn assert_readable(
    client: &mut Client,
    acknowledged: &Acknowledged,
    disk_full_allowed: bool,
) -> usize {
    let mut refused = 0;
    let mut read = |client: &mut Client, method: &str, params: Value| {
        let response = client.call(method, params);
        if disk_full_allowed && response.get("error").is_some() {
            assert_disk_full_error(&response);
            refused += 1;
            return None;
        }
        Some(ok(response))
    };
    if let Some(list) = read(client, "history/list", json!({"limit": 500})) {
        let listed: HashMap<&str, &Value> = list["chats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|chat| (chat["id"].as_str().unwrap(), chat))
            .collect();
        for chat_id in &acknowledged.chats {
            let Some(chat) = listed.get(chat_id.as_str()) else {
                panic!("acknowledged chat {chat_id} is missing: {list}");
            };
            if let Some(title) = acknowledged.titles.get(chat_id) {
                assert_eq!(chat["title"], json!(title), "{chat}");
            }
        }
    }
    for (chat_id, user, answer) in &acknowledged.turns {
        let Some(chat) = read(client, "history/get", json!({"chatId": chat_id})) else {
            continue;
        };
        let messages = chat["messages"].as_array().unwrap();
        let find = |role: &str| messages.iter().find(|m| m["role"] == role).cloned();
        let user_message = find("user").unwrap_or_else(|| panic!("no user turn: {chat}"));
        assert_eq!(user_message["content"], json!(user));
        let assistant = find("assistant").unwrap_or_else(|| panic!("no answer: {chat}"));
        assert_eq!(assistant["content"], json!(answer));
        assert_eq!(assistant["status"], "complete");
    }
    refused
}

/// One storage failure as the editor sees it: code 1301 and a message that says why.
fn assert_disk_full_error(response: &Value) {
    assert_eq!(error_code(response), 1301, "{response}");
    let message = response["error"]["message"].as_str().unwrap();
    assert!(message.contains("the disk is full"), "{response}");
    assert!(message.contains("restart chinwag"), "{response}");
}

/// Chats until a write fails on the full disk: the failing request gets a storage error that
/// says what to do, the server stays up and keeps answering (every storage call with the same
/// error, so no unsaved change is ever shown), a restart on the still-full disk says why
/// storage is unavailable, and once space is freed everything acknowledged reads back.
#[test]
fn a_full_disk_is_a_clear_error_and_loses_nothing_acknowledged() {
    let provider = ProviderServer::start();
    let home = Home::new();
    home.write_config(&mock_config(&provider, ""));
    let script = format!(
        "mount -t tmpfs -o size=2m,mode=0700 tmpfs \"$DATA\"\n\
         dd if=/dev/zero of=\"$DATA/ballast\" bs=1k count={BALLAST_KIB} 2>/dev/null\n\
         run_chinwag\n\
         run_chinwag\n\
         rm \"$DATA/ballast\"\n\
         run_chinwag\n"
    );
    let command = namespace_command(&home, &home.path().join("data"), &script);
    let mut client = Client::new(Server::spawn(command, Framing::Ndjson));

    // Run 1: fill the disk.
    let init = ok(client.call("initialize", json!({})));
    assert_eq!(init["storageError"], Value::Null, "{init}");
    let mut acknowledged = Acknowledged::default();
    let mut failure = None;
    for round in 0..200 {
        let created = client.call("chat/new", json!({}));
        if created.get("error").is_some() {
            failure = Some(("chat/new", created));
            break;
        }
        let chat_id = created["result"]["chatId"].as_str().unwrap().to_string();
        acknowledged.chats.push(chat_id.clone());
        let filler = format!("round {round} answer ").repeat(ANSWER_BYTES / 16);
        let pieces: Vec<&str> = filler
            .as_bytes()
            .chunks(1024)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        provider.push(Reply::sse(&openai_stream(&pieces)).in_pieces(vec![4096]));
        let user = format!("question {round}");
        let sent = client.call("chat/send", json!({"chatId": chat_id, "content": user}));
        if sent.get("error").is_some() {
            failure = Some(("chat/send", sent));
            break;
        }
        assert_eq!(sent["result"]["content"], json!(filler));
        acknowledged.turns.push((chat_id, user, filler));
    }
    let Some((method, failed)) = failure else {
        panic!("the disk never filled");
    };
    eprintln!(
        "the disk filled after {} chats and {} turns; {method} answered {failed}",
        acknowledged.chats.len(),
        acknowledged.turns.len()
    );
    assert!(
        acknowledged.turns.len() >= 3,
        "the disk should take a few chats before it fills"
    );
    assert_disk_full_error(&failed);

    // The same process still answers, every storage call with the same clear error.
    let refused = assert_readable(&mut client, &acknowledged, true);
    assert_eq!(refused, acknowledged.turns.len() + 1);
    let renamed = client.call(
        "history/rename",
        json!({"chatId": acknowledged.chats[0], "title": "renamed on a full disk"}),
    );
    assert_disk_full_error(&renamed);
    ok(client.call("initialize", json!({})));
    client.shut_down();
    assert_eq!(wait_exited(&mut client.server), 0);

    // Run 2: a restart on the disk that is still full.
    let init = ok(client.call("initialize", json!({})));
    match init["storageError"].as_str() {
        Some(error) => {
            eprintln!("restarted on the full disk: {error}");
            assert!(error.contains("the disk is full"), "{init}");
            assert_disk_full_error(&client.call("history/list", json!({})));
        }
        None => {
            assert_readable(&mut client, &acknowledged, true);
        }
    }
    client.shut_down();
    assert_eq!(wait_exited(&mut client.server), 0);

    // Run 3: space was freed; everything acknowledged is there and writes work again.
    let init = ok(client.call("initialize", json!({})));
    assert_eq!(init["storageError"], Value::Null, "{init}");
    assert_readable(&mut client, &acknowledged, false);
    let total = ok(client.call("history/list", json!({})))["total"].clone();
    eprintln!(
        "after freeing space: {total} chats listed, {} acknowledged",
        acknowledged.chats.len()
    );
    ok(client.call("chat/new", json!({})));
    client.shut_down();
    assert_eq!(wait_exited(&mut client.server), 0);

    let (status, stderr) = client.server.finish();
    assert!(status.success(), "{status}: {stderr}");
    assert_no_panic(&stderr);
}

// --- A read-only data dir -----------------------------------------------------------------

/// A data dir that cannot be written (a read-only copy of a real one): `initialize` answers
/// and says why storage is unavailable, every storage call answers 1301 at once, and the
/// server stays up and exits cleanly.
#[test]
fn a_read_only_data_dir_is_a_clear_error_and_the_server_stays_up() {
    let provider = ProviderServer::start();
    let home = Home::new();
    home.write_config(&mock_config(&provider, ""));
    let mut client = Client::new(Server::start(&home, Framing::Ndjson));
    let chat_id = ok(client.call("chat/new", json!({})))["chatId"]
        .as_str()
        .unwrap()
        .to_string();
    provider.push(Reply::sse(&openai_stream(&["kept ", "answer"])));
    ok(client.call("chat/send", json!({"chatId": chat_id, "content": "hello"})));
    let (status, stderr) = client.server.finish();
    assert!(status.success(), "{stderr}");

    let script = "mount -t tmpfs -o size=8m,mode=0700 tmpfs \"$DATA\"\n\
                  cp -a \"$SOURCE/.\" \"$DATA\"\n\
                  mount -o remount,bind,ro \"$DATA\"\n\
                  run_chinwag\n";
    let mut command = namespace_command(&home, &home.path().join("read-only"), script);
    command.env("SOURCE", home.data_dir());
    let mut client = Client::new(Server::spawn(command, Framing::Ndjson));
    let init = ok(client.call("initialize", json!({})));
    let error = init["storageError"]
        .as_str()
        .unwrap_or_else(|| panic!("a read-only database opened: {init}"));
    eprintln!("read-only data dir: {error}");
    assert!(error.contains("read-only file system"), "{init}");
    for (method, params) in [
        ("history/list", json!({})),
        ("history/get", json!({"chatId": chat_id})),
        ("chat/new", json!({})),
        ("chat/send", json!({"chatId": chat_id, "content": "more"})),
        ("vault/status", json!({})),
        ("settings/set", json!({"clearHistoryOnExit": true})),
    ] {
        let response = client.call(method, params);
        assert_eq!(error_code(&response), 1301, "{method}: {response}");
        assert!(
            response["error"]["message"]
                .as_str()
                .unwrap()
                .contains("read-only file system"),
            "{method}: {response}"
        );
    }
    ok(client.call("initialize", json!({})));
    client.shut_down();
    assert_eq!(wait_exited(&mut client.server), 0);
    let (status, stderr) = client.server.finish();
    assert!(status.success(), "{status}: {stderr}");
    assert_no_panic(&stderr);
}

// --- Secrets and /proc --------------------------------------------------------------------

/// One process as /proc shows it.
struct Process {
    pid: u32,
    cmdline: Vec<u8>,
    /// None when it cannot be read: chinwag makes itself non-dumpable, which hides its
    /// environment from every user but root.
    environ: Option<Vec<u8>>,
}

/// `root` and every process descending from it (by parent pid), as /proc shows them now. A
/// process that exits while it is read is left out.
fn process_tree(root: u32) -> Vec<Process> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...", where comm may hold blanks and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|ppid| ppid.parse().ok());
        if let Some(ppid) = ppid {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut tree = Vec::new();
    let mut pending = vec![root];
    while let Some(pid) = pending.pop() {
        pending.extend(children.get(&pid).into_iter().flatten().copied());
        let read = |file: &str| std::fs::read(format!("/proc/{pid}/{file}"));
        if let Ok(cmdline) = read("cmdline") {
            let environ = read("environ").ok();
            tree.push(Process {
                pid,
                cmdline,
                environ,
            });
        }
    }
    tree
}

/// Where each canary shows in the processes' arguments or environments, as
/// `(pid, "cmdline" | "environ", canary)`.
fn canary_hits<'a>(
    processes: &[Process],
    canaries: &[&'a str],
) -> Vec<(u32, &'static str, &'a str)> {
    let contains = |haystack: &[u8], needle: &str| {
        haystack
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
    };
    let mut hits = Vec::new();
    for process in processes {
        for canary in canaries {
            if contains(&process.cmdline, canary) {
                hits.push((process.pid, "cmdline", *canary));
            }
            if process
                .environ
                .as_deref()
                .is_some_and(|e| contains(e, canary))
            {
                hits.push((process.pid, "environ", *canary));
            }
        }
    }
    hits
}

/// Poll `check` until it yields a value; a generous bound turns a hang into a failure.
fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + support::TIMEOUT;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The walker must be able to fail: a canary planted in a grandchild's arguments and
/// environment is found.
#[test]
fn the_process_walker_finds_a_canary_planted_in_a_descendant() {
    let mut planted = Command::new("sh")
        .args(["-c", "sh -c 'sleep 30; exit 0' CANARYARGV & wait"])
        .env("PLANTED", "CANARYENV")
        .process_group(0)
        .spawn()
        .unwrap();
    let root = planted.id();
    let hits = wait_until("the planted grandchild", || {
        let hits = canary_hits(&process_tree(root), &["CANARYARGV", "CANARYENV"]);
        hits.iter()
            .any(|&(pid, field, _)| pid != root && field == "cmdline")
            .then_some(hits)
    });
    assert!(
        hits.iter().any(|&(pid, field, canary)| pid != root
            && field == "environ"
            && canary == "CANARYENV"),
        "{hits:?}"
    );
    // SAFETY: kill(2) on the process group this test just started.
    unsafe {
        libc::kill(-(root as i32), libc::SIGKILL);
    }
    let _ = planted.wait();
}

/// A full session with canary secrets (a password set, then given over the protocol; an API key
/// stored over the protocol and in use by a stream the provider holds open; a password read by
/// `password_command`): no canary is in the arguments or the environment of chinwag or of any
/// process it started.
#[test]
fn no_secret_in_any_process_arguments_or_environment() {
    const KEY: &str = "ck-CANARYKEY-5f1e9a3b7c2d4e6f";
    const PASSWORD: &str = "CANARYPASSWORD staple battery";
    let canaries = ["CANARYKEY", "CANARYPASSWORD"];
    let provider = ProviderServer::start();
    let home = Home::new();
    let password_file = home.path().join("password.txt");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    // The command prints the password, then waits (20 s at most) for the test to let it end,
    // so that it is caught running.
    let release = home.path().join("release");
    let command = format!(
        "head -n 1 '{}'; i=0; while [ ! -e '{}' ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done",
        password_file.display(),
        release.display()
    );
    home.write_config(&mock_config(
        &provider,
        &format!("password_command = \"{command}\"\n"),
    ));
    let mut client = Client::new(Server::start(&home, Framing::Ndjson));
    let chinwag = client.server.child.id();
    let check = |what: &str| {
        let tree = process_tree(chinwag);
        assert!(
            tree.iter().any(|p| p.pid == chinwag),
            "chinwag is not running"
        );
        if running_as_root() {
            // Root reads every environment: all of them are checked.
            assert!(tree.iter().all(|p| p.environ.is_some()));
        }
        let hits = canary_hits(&tree, &canaries);
        assert!(hits.is_empty(), "{what}: a secret shows in /proc: {hits:?}");
        tree.len()
    };

    ok(client.call("vault/setPassword", json!({"new": PASSWORD})));
    ok(client.call("vault/lock", json!({})));
    ok(client.call("vault/unlock", json!({"password": PASSWORD})));
    ok(client.call("vault/setKey", json!({"provider": "mock", "key": KEY})));
    let chat_id = ok(client.call("chat/new", json!({})))["chatId"]
        .as_str()
        .unwrap()
        .to_string();
    provider.push(
        Reply::sse("data: {\"choices\":[{\"delta\":{\"content\":\"streaming \"}}]}\n\n")
            .ending(End::Stall),
    );
    client.server.request(
        100,
        "chat/send",
        json!({"chatId": chat_id, "content": "hi"}),
    );
    loop {
        if client.server.recv()["method"] == "chat/delta" {
            break;
        }
    }
    // The key is in use right now.
    let seen = provider.seen();
    let expected = format!("Bearer {KEY}");
    assert_eq!(
        seen.last().unwrap().header("authorization"),
        Some(expected.as_str())
    );
    check("while streaming");
    ok(client.call("chat/cancel", json!({"chatId": chat_id})));
    assert_eq!(error_code(&client.server.response_to(100)), -32800);

    // Locked again, the vault runs the password command; catch it running.
    ok(client.call("vault/lock", json!({})));
    client.server.request(200, "vault/listKeys", json!({}));
    let marker = release.display().to_string();
    wait_until("the password command", || {
        process_tree(chinwag)
            .iter()
            .any(|p| p.pid != chinwag && String::from_utf8_lossy(&p.cmdline).contains(&marker))
            .then_some(())
    });
    let processes = check("while the password command runs");
    assert!(processes >= 2, "the password command was not seen");
    std::fs::write(&release, "").unwrap();
    let keys = ok(client.server.response_to(200));
    assert_eq!(keys["keys"][0]["provider"], "mock", "{keys}");
    check("after the password command");

    let (status, stderr) = client.server.finish();
    assert!(status.success(), "{stderr}");
    for canary in canaries {
        assert!(!stderr.contains(canary), "{canary} on stderr");
    }
}
