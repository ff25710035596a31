//! The JSON-RPC contract, tested against the real binary in both framings.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{BOTH, Framing, Home, SIGHUP, SIGTERM, Server, error_code};

fn initialize(server: &mut Server, id: i64) -> Value {
    let response = server.call(id, "initialize", json!({"clientInfo": {"name": "tests"}}));
    assert!(
        response.get("error").is_none(),
        "initialize failed: {response}"
    );
    response["result"].clone()
}

#[test]
fn initialize_reports_versions_capabilities_and_paths() {
    for framing in BOTH {
        let home = Home::new();
        let mut server = Server::start(&home, framing);
        let result = initialize(&mut server, 1);
        assert_eq!(result["serverInfo"]["name"], "chinwag");
        assert_eq!(result["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(result["protocolVersion"], "1.0");
        let methods = result["capabilities"]["methods"].as_array().unwrap();
        assert!(methods.contains(&json!("initialize")) && methods.contains(&json!("shutdown")));
        assert_eq!(
            result["paths"]["dataDir"],
            json!(home.data_dir().to_str().unwrap()),
        );
        assert_eq!(result["config"]["found"], false);
        let (status, _) = server.finish();
        assert!(status.success(), "{framing:?}: {status:?}");
    }
}

#[test]
fn unknown_method_is_named() {
    for framing in BOTH {
        let home = Home::new();
        let mut server = Server::start(&home, framing);
        let response = server.call(1, "no/such", json!({}));
        assert_eq!(error_code(&response), -32601);
        assert!(
            response["error"]["message"]
                .as_str()
                .unwrap()
                .contains("no/such")
        );
        server.finish();
    }
}

/// Each malformed input gets its documented error and the next request still succeeds.
#[test]
fn malformed_input_is_answered_and_the_server_goes_on() {
    let cases: Vec<(&str, Vec<u8>, i64)> = vec![
        (
            "invalid JSON",
            b"{\"jsonrpc\": \"2.0\", \"id\": 1,".to_vec(),
            -32700,
        ),
        (
            "invalid UTF-8",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}".to_vec(),
            -32700,
        ),
        ("not an object", b"42".to_vec(), -32600),
        (
            "wrong version",
            br#"{"jsonrpc":"1.0","id":5,"method":"initialize"}"#.to_vec(),
            -32600,
        ),
        ("no method", br#"{"jsonrpc":"2.0","id":5}"#.to_vec(), -32600),
        (
            "method not a string",
            br#"{"jsonrpc":"2.0","id":5,"method":7}"#.to_vec(),
            -32600,
        ),
        (
            "scalar params",
            br#"{"jsonrpc":"2.0","id":5,"method":"initialize","params":3}"#.to_vec(),
            -32600,
        ),
        ("empty batch", b"[]".to_vec(), -32600),
    ];
    for framing in BOTH {
        let home = Home::new();
        let mut server = Server::start(&home, framing);
        initialize(&mut server, 1);
        for (index, (name, body, code)) in cases.iter().enumerate() {
            server.send_body(body);
            let response = server.recv();
            assert_eq!(
                error_code(&response),
                *code,
                "{framing:?} {name}: {response}"
            );
            initialize(&mut server, 100 + index as i64);
        }
        let (status, _) = server.finish();
        assert!(status.success());
    }
}

#[test]
fn wrong_params_name_the_field() {
    for framing in BOTH {
        let home = Home::new();
        let mut server = Server::start(&home, framing);
        let response = server.call(1, "initialize", json!({"clientInfo": {"name": 5}}));
        assert_eq!(error_code(&response), -32602);
        let data = response["error"]["data"].as_str().unwrap();
        assert!(data.starts_with("clientInfo.name: invalid type"), "{data}");
        let response = server.call(2, "$/test/sleep", json!({}));
        assert_eq!(error_code(&response), -32602);
        assert!(
            response["error"]["data"]
                .as_str()
                .unwrap()
                .contains("millis")
        );
        initialize(&mut server, 3);
        server.finish();
    }
}

#[test]
fn framing_faults_are_answered_and_the_next_frame_is_served() {
    let home = Home::new();
    let mut server = Server::start(&home, Framing::ContentLength);
    initialize(&mut server, 1);

    // A body over the 16 MiB cap is refused and skipped without being buffered.
    let size = 16 * 1024 * 1024 + 1;
    server.send_raw(format!("Content-Length: {size}\r\n\r\n").as_bytes());
    let response = server.recv();
    assert_eq!(error_code(&response), -32700);
    assert_eq!(response["error"]["data"]["kind"], "frameTooLarge");
    let chunk = vec![b' '; 1024 * 1024];
    for _ in 0..16 {
        server.send_raw(&chunk);
    }
    server.send_raw(b" ");
    initialize(&mut server, 2);

    // A header that is not a number, then one without a colon.
    server.send_raw(b"Content-Length: twelve\r\n\r\n");
    assert_eq!(server.recv()["error"]["data"]["kind"], "badHeader");
    initialize(&mut server, 3);
    server.send_raw(b"Content-Length 12\r\n\r\n");
    assert_eq!(server.recv()["error"]["data"]["kind"], "badHeader");
    initialize(&mut server, 4);

    // A misspelt header: the header is refused, the orphaned body reported as stray data.
    let body = br#"{"jsonrpc":"2.0","id":9,"method":"initialize"}"#;
    server.send_raw(format!("Content-Lenght: {}\r\n\r\n", body.len()).as_bytes());
    server.send_raw(body);
    assert_eq!(server.recv()["error"]["data"]["kind"], "badHeader");
    server.request(5, "initialize", json!({}));
    let stray = server.recv();
    assert_eq!(stray["error"]["data"]["kind"], "strayData", "{stray}");
    assert!(server.recv()["result"]["serverInfo"].is_object());
    let (status, _) = server.finish();
    assert!(status.success());
}

#[test]
fn oversized_ndjson_line_is_refused_and_the_next_line_served() {
    let home = Home::new();
    let mut server = Server::start(&home, Framing::Ndjson);
    initialize(&mut server, 1);
    let mut line = br#"{"jsonrpc":"2.0","id":2,"method":"initialize","params":{"x":""#.to_vec();
    line.resize(line.len() + 17 * 1024 * 1024, b'a');
    line.extend_from_slice(b"\"}}\n");
    server.send_raw(&line);
    let response = server.recv();
    assert_eq!(response["error"]["data"]["kind"], "frameTooLarge");
    initialize(&mut server, 3);
    server.finish();
}

#[test]
fn two_hundred_pipelined_requests_are_all_answered() {
    for framing in BOTH {
        let home = Home::new();
        let mut server = Server::start(&home, framing);
        let mut bytes = Vec::new();
        for id in 0..200 {
            let message = if id % 2 == 0 {
                json!({"jsonrpc":"2.0","id":id,"method":"initialize"})
            } else {
                json!({"jsonrpc":"2.0","id":id,"method":"$/test/sleep","params":{"millis": id % 7}})
            };
            framing.frame(message.to_string().as_bytes(), &mut bytes);
        }
        server.send_raw(&bytes);
        let mut seen = [false; 200];
        for _ in 0..200 {
            let response = server.recv();
            assert!(response.get("result").is_some(), "{response}");
            let id = response["id"].as_u64().unwrap() as usize;
            assert!(!seen[id], "id {id} answered twice");
            seen[id] = true;
        }
        assert!(seen.iter().all(|&s| s));
        let (status, _) = server.finish();
        assert!(status.success());
    }
}

#[test]
fn a_slow_request_does_not_hold_up_others() {
    let home = Home::new();
    let mut server = Server::start(&home, Framing::ContentLength);
    server.request(1, "$/test/sleep", json!({"millis": 3000}));
    server.request(2, "initialize", json!({}));
    let first = server.recv();
    assert_eq!(
        first["id"], 2,
        "the fast request must come back first: {first}"
    );
    let second = server.recv();
    assert_eq!(second["id"], 1);
    assert_eq!(second["result"], 3000);
    server.finish();
}

#[test]
fn cancel_request_answers_minus_32800() {
    for framing in BOTH {
        let home = Home::new();
        let mut server = Server::start(&home, framing);
        server.request(7, "$/test/sleep", json!({"millis": 60_000}));
        server.request("s", "$/test/sleep", json!({"millis": 60_000}));
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        server.notify("$/cancelRequest", json!({"id": 7}));
        let response = server.recv();
        assert_eq!(response["id"], 7);
        assert_eq!(error_code(&response), -32800);
        assert!(started.elapsed() < Duration::from_secs(10));
        server.notify("$/cancelRequest", json!({"id": "s"}));
        let response = server.recv();
        assert_eq!(response["id"], "s");
        assert_eq!(error_code(&response), -32800);
        // Cancelling something finished or unknown is harmless.
        server.notify("$/cancelRequest", json!({"id": 7}));
        initialize(&mut server, 8);
        server.finish();
    }
}

#[test]
fn duplicate_in_flight_id_is_refused() {
    let home = Home::new();
    let mut server = Server::start(&home, Framing::Ndjson);
    server.request(1, "$/test/sleep", json!({"millis": 2000}));
    server.request(1, "initialize", json!({}));
    let response = server.recv();
    assert_eq!(error_code(&response), -32600);
    assert!(
        response["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in flight")
    );
    let response = server.recv();
    assert_eq!(response["result"], 2000);
    server.finish();
}

#[test]
fn batches_are_answered_as_batches() {
    for framing in BOTH {
        let home = Home::new();
        let mut server = Server::start(&home, framing);
        server.send(&json!([
            {"jsonrpc":"2.0","id":1,"method":"$/test/sleep","params":{"millis":50}},
            {"jsonrpc":"2.0","method":"initialized","params":{}},
            {"jsonrpc":"2.0","id":2,"method":"nope"},
            7,
            {"jsonrpc":"2.0","id":3,"method":"initialize"}
        ]));
        let batch = server.recv();
        let answers = batch
            .as_array()
            .unwrap_or_else(|| panic!("not a batch: {batch}"));
        assert_eq!(answers.len(), 4, "{batch}");
        let by_id = |id: Value| answers.iter().find(|a| a["id"] == id).unwrap().clone();
        assert_eq!(by_id(json!(1))["result"], 50);
        assert_eq!(error_code(&by_id(json!(2))), -32601);
        assert!(by_id(json!(3))["result"]["serverInfo"].is_object());
        assert_eq!(error_code(&by_id(Value::Null)), -32600);

        // A batch of notifications only gets no answer at all.
        server.send(&json!([{"jsonrpc":"2.0","method":"initialized"}]));
        assert!(server.try_recv(Duration::from_millis(300)).is_none());
        server.finish();
    }
}

#[test]
fn a_panicking_handler_answers_internal_error_and_the_server_goes_on() {
    let home = Home::new();
    let mut server = Server::start(&home, Framing::ContentLength);
    let response = server.call(1, "$/test/panic", json!({}));
    assert_eq!(error_code(&response), -32603);
    initialize(&mut server, 2);
    let (status, stderr) = server.finish();
    assert!(status.success());
    assert!(
        !stderr.contains("test hook panic"),
        "panic text leaked: {stderr}"
    );
}

#[test]
fn end_of_input_exits_zero() {
    for framing in BOTH {
        let home = Home::new();
        let mut server = Server::start(&home, framing);
        initialize(&mut server, 1);
        let (status, _) = server.finish();
        assert_eq!(status.code(), Some(0));
    }
    // Nothing at all on stdin.
    let home = Home::new();
    let server = Server::start(&home, Framing::ContentLength);
    let (status, _) = server.finish();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn end_of_input_lets_in_flight_requests_answer() {
    let home = Home::new();
    let mut server = Server::start(&home, Framing::Ndjson);
    server.request(1, "$/test/sleep", json!({"millis": 300}));
    server.close_stdin();
    assert_eq!(server.recv()["result"], 300);
    assert_eq!(server.wait_exit().code(), Some(0));
}

#[test]
fn shutdown_then_exit_exits_zero_and_refuses_new_requests() {
    let home = Home::new();
    let mut server = Server::start(&home, Framing::ContentLength);
    let response = server.call(1, "shutdown", json!(null));
    assert_eq!(response["result"], Value::Null);
    let response = server.call(2, "initialize", json!({}));
    assert_eq!(error_code(&response), -32001);
    server.notify("exit", json!(null));
    assert_eq!(server.wait_exit().code(), Some(0));
    server.drain_after_exit();
}

#[test]
fn exit_without_shutdown_exits_one() {
    let home = Home::new();
    let mut server = Server::start(&home, Framing::Ndjson);
    initialize(&mut server, 1);
    server.notify("exit", json!(null));
    assert_eq!(server.wait_exit().code(), Some(1));
}

#[test]
fn sigterm_and_sighup_exit_zero_and_cancel_in_flight_requests() {
    for signal in [SIGTERM, SIGHUP] {
        let home = Home::new();
        let mut server = Server::start(&home, Framing::ContentLength);
        initialize(&mut server, 1);
        server.request(2, "$/test/sleep", json!({"millis": 60_000}));
        std::thread::sleep(Duration::from_millis(100));
        server.signal(signal);
        let response = server.recv();
        assert_eq!(error_code(&response), -32800, "signal {signal}: {response}");
        assert_eq!(server.wait_exit().code(), Some(0), "signal {signal}");
        server.drain_after_exit();
    }
}

#[test]
fn a_bad_config_is_reported_with_its_line_and_the_server_still_runs() {
    let home = Home::new();
    home.write_config("default_provider = \"openai\"\n\n[providers.mine]\nkind = \"ollama\"\nbase_url = \"http://192.0.2.1:11434\"\n");
    let mut server = Server::start(&home, Framing::ContentLength);
    let result = initialize(&mut server, 1);
    let error = result["config"]["error"].as_str().unwrap();
    assert!(
        error.contains("line 5") && error.contains("providers.mine.base_url"),
        "{error}"
    );
    assert_eq!(result["config"]["found"], true);
    server.finish();
}

#[test]
fn request_contents_never_reach_the_log_even_at_trace_level() {
    let home = Home::new();
    let canary = "CANARY-sk-7f3a9e1c";
    let mut server = Server::start_with(&home, Framing::Ndjson, |command| {
        command.env("CHINWAG_LOG", "trace");
    });
    server.call(1, "$/test/sleep", json!({"millis": 1, "secret": canary}));
    server.call(2, "no/such", json!({"password": canary}));
    server.send_body(format!("{{\"broken\": \"{canary}\"").as_bytes());
    server.recv();
    let (status, stderr) = server.finish();
    assert!(status.success());
    let files = home.all_file_bytes();
    assert!(!files.is_empty(), "the log file should exist");
    let files = String::from_utf8_lossy(&files);
    assert!(
        !files.contains(canary),
        "a request's contents reached a file"
    );
    assert!(
        !stderr.contains(canary),
        "a request's contents reached stderr"
    );
}

#[test]
fn files_and_folders_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    let mut server = Server::start(&home, Framing::Ndjson);
    initialize(&mut server, 1);
    server.finish();
    let mut checked = 0;
    let mut stack = vec![home.data_dir(), home.config_dir()];
    while let Some(path) = stack.pop() {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        if path.is_dir() {
            assert_eq!(mode, 0o700, "{}", path.display());
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            assert_eq!(mode, 0o600, "{}", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 4, "expected config, data, logs and a log file");
}
