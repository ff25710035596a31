//! Robustness against misuse: cancelling destructive calls, several chinwag processes and
//! their exit duties, broken LSP frames, a flood of connections to the owner socket, an
//! unusual home folder, and panics whose message could hold a secret.

mod support;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Framing, Home, Server, error_code};

fn ok(response: Value) -> Value {
    assert!(
        response.get("error").is_none(),
        "expected a result: {response}"
    );
    response["result"].clone()
}

/// Every log line written so far, all files joined.
fn logs(home: &Home) -> String {
    let mut text = String::new();
    if let Ok(entries) = std::fs::read_dir(home.data_dir().join("logs")) {
        for entry in entries.flatten() {
            text.push_str(&String::from_utf8_lossy(
                &std::fs::read(entry.path()).unwrap_or_default(),
            ));
        }
    }
    text
}

// ---------------------------------------------------------------------------------------
// 1. Cancelling a destructive call

/// A request followed at once by `$/cancelRequest` for it, in one write.
fn send_and_cancel(server: &mut Server, id: i64, method: &str, params: Value) -> Value {
    let mut bytes = Vec::new();
    let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let cancel = json!({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": id}});
    server
        .framing
        .frame(request.to_string().as_bytes(), &mut bytes);
    server
        .framing
        .frame(cancel.to_string().as_bytes(), &mut bytes);
    server.send_raw(&bytes);
    server.response_to(id)
}

#[test]
fn destructive_calls_are_not_cancelled_and_answer_their_real_result() {
    let home = Home::new();
    let exported = home.write_export("one.json", &[("kept", &[("user", "hello")])]);
    let mut server = Server::start(&home, Framing::Ndjson);
    ok(server.call(1, "history/import", json!({"path": exported})));
    ok(server.call(2, "history/backup", json!({"path": "~/backup.cwb"})));

    // Argon2id at its default cost takes long enough for the cancel to arrive mid-way.
    let answer = send_and_cancel(
        &mut server,
        3,
        "vault/setPassword",
        json!({"current": null, "new": "correct horse"}),
    );
    assert_eq!(ok(answer)["protection"], "password");
    let status = ok(server.call(4, "vault/status", json!({})));
    assert_eq!(status["protection"], "password");

    let answer = send_and_cancel(
        &mut server,
        5,
        "history/restore",
        json!({"path": "~/backup.cwb", "confirm": true}),
    );
    assert_eq!(ok(answer)["chats"], 1);

    let answer = send_and_cancel(&mut server, 6, "history/clear", json!({"confirm": true}));
    assert_eq!(ok(answer)["deleted"], 1);
    assert_eq!(
        ok(server.call(7, "history/list", json!({})))["total"],
        0,
        "the clear answered and happened"
    );

    // A call that can be cancelled still answers -32800.
    let answer = send_and_cancel(&mut server, 8, "$/test/sleep", json!({"millis": 5000}));
    assert_eq!(error_code(&answer), -32800);
    let (status, _) = server.finish();
    assert!(status.success());
}

// ---------------------------------------------------------------------------------------
// 2. Exit duties with several processes

fn history_cleared_count(home: &Home) -> usize {
    logs(home)
        .matches("history cleared (privacy setting)")
        .count()
}

#[test]
fn exit_duties_run_only_in_the_last_process() {
    let home = Home::new();
    let exported = home.write_export("one.json", &[("precious", &[("user", "hello")])]);
    let mut owner = Server::start(&home, Framing::Ndjson);
    ok(owner.call(1, "history/import", json!({"path": exported})));
    ok(owner.call(2, "settings/set", json!({"clearHistoryOnExit": true})));

    // A follower that exits leaves the owner's history alone.
    let mut follower = Server::start(&home, Framing::Ndjson);
    assert_eq!(ok(follower.call(1, "history/list", json!({})))["total"], 1);
    let (status, _) = follower.finish();
    assert!(status.success());
    assert_eq!(ok(owner.call(3, "history/list", json!({})))["total"], 1);
    assert_eq!(history_cleared_count(&home), 0);

    // The owner exits while a follower remains: nothing is cleared yet.
    let mut last = Server::start(&home, Framing::Ndjson);
    assert_eq!(ok(last.call(1, "history/list", json!({})))["total"], 1);
    let (status, _) = owner.finish();
    assert!(status.success());
    assert_eq!(history_cleared_count(&home), 0, "{}", logs(&home));
    assert_eq!(ok(last.call(2, "history/list", json!({})))["total"], 1);

    // The last one runs the duties when it exits.
    let (status, _) = last.finish();
    assert!(status.success());
    assert_eq!(history_cleared_count(&home), 1, "{}", logs(&home));
}

#[test]
fn an_idle_follower_left_alone_still_runs_the_duties() {
    let home = Home::new();
    let exported = home.write_export("one.json", &[("precious", &[("user", "hello")])]);
    let mut owner = Server::start(&home, Framing::Ndjson);
    ok(owner.call(1, "history/import", json!({"path": exported})));
    ok(owner.call(2, "settings/set", json!({"clearHistoryOnExit": true})));
    let mut follower = Server::start(&home, Framing::Ndjson);
    ok(follower.call(1, "settings/get", json!({})));
    let (status, _) = owner.finish();
    assert!(status.success());
    // The follower has not used the store since the owner left; it is the last one.
    let (status, _) = follower.finish();
    assert!(status.success());
    assert_eq!(history_cleared_count(&home), 1, "{}", logs(&home));
}

// ---------------------------------------------------------------------------------------
// 3. Broken LSP frames followed by a good one in the same write

#[test]
fn a_bad_lsp_frame_never_swallows_the_next_one() {
    let home = Home::new();
    let mut server = Server::start(&home, Framing::ContentLength);
    let initialize = |id: i64| {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "initialize"}).to_string();
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    };
    let huge_header = format!(
        "X-Padding: {}\r\nContent-Length: 2\r\n\r\n{{}}{}",
        "a".repeat(9 * 1024),
        initialize(1)
    );
    let duplicate = format!(
        "Content-Length: 2\r\nContent-Length: 300\r\n\r\n{{}}{}",
        initialize(2)
    );
    let same_twice = format!(
        "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{{}}{}",
        initialize(3)
    );
    for (id, input) in [(1, huge_header), (2, duplicate), (3, same_twice)] {
        server.send_raw(input.as_bytes());
        let mut parse_errors = 0;
        loop {
            let message = server.recv();
            if message["id"] == json!(id) {
                assert!(message.get("result").is_some(), "{message}");
                break;
            }
            assert_eq!(error_code(&message), -32700, "{message}");
            parse_errors += 1;
        }
        assert!(
            parse_errors >= 1,
            "frame {id}: the bad frame was not reported"
        );
    }
    let (status, _) = server.finish();
    assert!(status.success());
}

// ---------------------------------------------------------------------------------------
// 4. A flood of connections to the owner socket

fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

#[test]
fn a_flood_of_connections_leaves_the_owner_serving_followers() {
    let home = Home::new();
    let mut owner = Server::start(&home, Framing::Ndjson);
    ok(owner.call(1, "history/list", json!({})));
    let socket = home.data_dir().join("store.sock");
    let pid = owner.child.id();
    let threads_before = proc_status(pid, "Threads:");

    // Four frames that announce nearly the limit, send 1 MiB each, and stall.
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut stream = UnixStream::connect(&socket).unwrap();
        stream.write_all(&0x0fff_ff00u32.to_be_bytes()).unwrap();
        stream.write_all(&vec![7u8; 1 << 20]).unwrap();
        stalled.push(stream);
    }
    // And many connections that say nothing.
    let mut idle = Vec::new();
    for _ in 0..3000 {
        match UnixStream::connect(&socket) {
            Ok(stream) => idle.push(stream),
            Err(_) => break,
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let threads = proc_status(pid, "Threads:");
    let rss_kib = proc_status(pid, "VmRSS:");
    assert!(
        threads < threads_before + 100,
        "{threads} threads (from {threads_before})"
    );
    assert!(rss_kib < 256 * 1024, "{rss_kib} KiB resident");
    eprintln!(
        "owner under the flood: {threads} threads (from {threads_before}), {rss_kib} KiB resident, \
         {} connections opened",
        idle.len()
    );

    // A real follower is still served, while the flood is still connected.
    let started = Instant::now();
    let mut follower = Server::start(&home, Framing::Ndjson);
    assert_eq!(ok(follower.call(1, "history/list", json!({})))["total"], 0);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(
        logs(&home).contains("refused connections"),
        "the refusals are logged"
    );
    assert!(proc_status(pid, "Threads:") < threads_before + 100);
    drop((stalled, idle));
    let (status, _) = follower.finish();
    assert!(status.success());
    let (status, _) = owner.finish();
    assert!(status.success());
}

// ---------------------------------------------------------------------------------------
// 6. A home folder whose name is not UTF-8

#[test]
fn a_non_utf8_home_is_reported_lossily_and_everything_works() {
    use std::os::unix::ffi::OsStrExt;
    let home = Home::new();
    let odd: PathBuf = home.path().join(std::ffi::OsStr::from_bytes(b"h\xffome"));
    std::fs::create_dir_all(&odd).unwrap();
    let odd_home = Home {
        dir: tempfile::tempdir_in(&odd).unwrap(),
    };
    let root: &Path = odd_home.path();
    let mut server = Server::start_with(&odd_home, Framing::Ndjson, |command| {
        command.env("HOME", root);
    });
    let result = ok(server.call(1, "initialize", json!({})));
    let data_dir = result["paths"]["dataDir"].as_str().unwrap();
    assert!(data_dir.contains("h\u{fffd}ome"), "{data_dir}");
    assert!(result["storageError"].is_null(), "{result}");
    ok(server.call(2, "settings/set", json!({"clearHistoryOnExit": false})));
    // JSON cannot name a non-UTF-8 path; `~/` can.
    odd_home.write_export("one.json", &[("odd", &[("user", "hi")])]);
    ok(server.call(3, "history/import", json!({"path": "~/one.json"})));
    let summary = ok(server.call(
        4,
        "history/export",
        json!({"all": true, "format": "markdown", "path": "~/out.md"}),
    ));
    assert_eq!(summary["chats"], 1);
    assert!(root.join("out.md").is_file());
    let (status, _) = server.finish();
    assert!(status.success());
}

// ---------------------------------------------------------------------------------------
// 8. A panic's message stays out of the log

#[test]
fn a_panic_in_a_blocking_task_is_logged_without_its_message() {
    let home = Home::new();
    let mut server = Server::start(&home, Framing::Ndjson);
    let canary = "canary-7c1e0f-secret";
    let answer = server.call(1, "$/test/panicBlocking", json!({"canary": canary}));
    assert_eq!(error_code(&answer), -32603);
    assert!(!answer.to_string().contains(canary));
    ok(server.call(2, "history/list", json!({})));
    let (status, stderr) = server.finish();
    assert!(status.success());
    let log = logs(&home);
    assert!(log.contains("panic"), "{log}");
    assert!(!log.contains(canary), "{log}");
    assert!(!stderr.contains(canary), "{stderr}");
}
