//! Attacks from the security issue, each through the real binary: secrets echoed back by
//! parameter errors or by a provider's error body, proxies and resolvers that take a
//! "loopback" request elsewhere, and imported values that would break every later read.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use support::provider::{ProviderServer, Reply, openai_stream};
use support::{FAST_KDF, Framing, Home, Server, error_code};

fn ok(response: Value) -> Value {
    assert!(
        response.get("error").is_none(),
        "unexpected error: {response}"
    );
    response["result"].clone()
}

/// Panics naming the canary and where it was found.
fn assert_absent(haystack: &[u8], canaries: &[&str], what: &str) {
    let text = String::from_utf8_lossy(haystack);
    for canary in canaries {
        assert!(!text.contains(canary), "{canary} found in {what}: {text}");
    }
}

fn mock_config(provider: &ProviderServer) -> String {
    format!(
        "default_provider = \"mock\"\n{FAST_KDF}\
         [chat]\nidle_timeout_secs = 2\n\n\
         [providers.mock]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\ndefault_model = \"mock-model\"\n",
        provider.url("/v1"),
    )
}

// --- 1. No echoes of secrets

const PASSWORD: &str = "CANARYPW-correct-horse-battery";
const NEW_PASSWORD: &str = "CANARYNEWPW-staple-battery";
const GROQ_KEY: &str = "gsk_CANARYGROQKEY0123456789abcdefghijklmnopqrstuv";

/// Every parameter error a client can provoke with a secret in the wrong place: positional
/// params, wrong shapes, a key given as the provider, an enum value that is a key.
fn hostile_params() -> Vec<(&'static str, Value)> {
    vec![
        ("vault/unlock", json!([PASSWORD])),
        ("vault/unlock", json!({"password": [PASSWORD]})),
        ("vault/setKey", json!(["groq", GROQ_KEY])),
        ("vault/setKey", json!([GROQ_KEY])),
        ("vault/setKey", json!({"provider": GROQ_KEY, "key": "groq"})),
        (
            "vault/setKey",
            json!({"provider": "groq", "key": [GROQ_KEY]}),
        ),
        ("vault/setPassword", json!([PASSWORD, NEW_PASSWORD])),
        (
            "vault/setPassword",
            json!({"current": PASSWORD, "new": [NEW_PASSWORD]}),
        ),
        (
            "vault/setPassword",
            json!({"current": {"x": PASSWORD}, "new": NEW_PASSWORD}),
        ),
        ("vault/rotateKey", json!({"confirm": PASSWORD})),
        (
            "history/restore",
            json!({"path": 1, "password": [PASSWORD]}),
        ),
        (
            "history/export",
            json!({"all": true, "format": GROQ_KEY, "path": "~/x.json"}),
        ),
        ("chat/new", json!({"provider": "mock", GROQ_KEY: 1})),
        ("settings/set", json!({GROQ_KEY: true})),
        ("models/list", json!({"provider": GROQ_KEY})),
    ]
}

#[test]
fn parameter_errors_name_the_field_and_never_echo_the_value() {
    let home = Home::new();
    let provider = ProviderServer::start();
    home.write_config(&mock_config(&provider));
    let mut server = Server::start(&home, Framing::Ndjson);
    let mut transcript = String::new();
    for (index, (method, params)) in hostile_params().into_iter().enumerate() {
        let response = server.call(index as i64 + 1, method, params.clone());
        assert!(
            response.get("error").is_some(),
            "{method} {params} should fail: {response}"
        );
        transcript.push_str(&response.to_string());
    }
    assert_absent(
        transcript.as_bytes(),
        &["CANARYPW", "CANARYNEWPW", "CANARYGROQKEY"],
        "responses",
    );

    // The errors still say what was wrong: the field and the expected type.
    let response = server.call(100, "vault/unlock", json!([PASSWORD]));
    assert_eq!(error_code(&response), -32602);
    let data = response["error"]["data"].as_str().unwrap();
    assert!(
        data.contains("invalid type: string") && data.contains("expected"),
        "{data}"
    );
    let response = server.call(101, "vault/setKey", json!({"provider": "groq", "key": 5}));
    let data = response["error"]["data"].as_str().unwrap();
    assert!(data.starts_with("key: invalid type: integer"), "{data}");
    let response = server.call(
        102,
        "history/export",
        json!({"all": true, "format": "pdf", "path": "~/x"}),
    );
    let data = response["error"]["data"].as_str().unwrap();
    assert!(
        data.starts_with("format: unknown variant") && data.contains("`json`"),
        "{data}"
    );

    // Sent as notifications, the same mistakes are logged (at the default level) without the
    // values.
    for (method, params) in hostile_params() {
        server.notify(method, params);
    }
    ok(server.call(103, "vault/status", json!({})));
    let (_, stderr) = server.finish();
    assert_absent(
        stderr.as_bytes(),
        &["CANARYPW", "CANARYNEWPW", "CANARYGROQKEY"],
        "stderr",
    );
    assert_absent(
        &home.all_file_bytes(),
        &["CANARYPW", "CANARYNEWPW", "CANARYGROQKEY"],
        "the files (logs included)",
    );
}

/// A provider that echoes the key it was given, and other key-shaped strings, in its error
/// bodies: none of it reaches the editor, the log, the history or an export.
#[test]
fn provider_error_bodies_are_scrubbed_of_keys() {
    // A custom provider's key: no known prefix, so only "the key in use" can catch it.
    const KEY: &str = "mockkey-CANARYKEYINUSE-7f3a9e1c5d";
    let other_keys = [
        "sk-proj-CANARYOPENAI0123456789abcdefghijklmnop",
        "sk-ant-api03-CANARYANTHROPIC0123456789abcdef",
        "sk-or-v1-CANARYROUTER0123456789abcdef0123456789",
        "gsk_CANARYGROQ0123456789abcdefghijklmnopqrstuv",
        "AIzaSyCANARYGEMINI0123456789abcdefghijk",
        "sk-CANARYPLAIN0123456789abcdefghijklmnopq",
    ];
    let canaries = [
        "CANARYKEYINUSE",
        "CANARYOPENAI",
        "CANARYANTHROPIC",
        "CANARYROUTER",
        "CANARYGROQ",
        "CANARYGEMINI",
        "CANARYPLAIN",
        "CANARYBEARER",
    ];
    let echo = format!(
        "Incorrect API key provided: {KEY}. Also seen: {}. Authorization: Bearer CANARYBEARERtoken.abc-123",
        other_keys.join(", ")
    );
    let body = json!({"error": {"message": echo, "type": "invalid_request_error"}}).to_string();

    let home = Home::new();
    let provider = ProviderServer::start();
    home.write_config(&mock_config(&provider));
    let mut server = Server::start(&home, Framing::ContentLength);
    ok(server.call(1, "vault/setKey", json!({"provider": "mock", "key": KEY})));
    let chat = ok(server.call(2, "chat/new", json!({})))["chatId"]
        .as_str()
        .unwrap()
        .to_string();
    let mut transcript = String::new();

    // A 401 whose body echoes the keys.
    provider.push(Reply::json(401, &body));
    let response = server.call(3, "chat/send", json!({"chatId": chat, "content": "hi"}));
    assert_eq!(error_code(&response), 1101, "{response}");
    assert_eq!(response["error"]["data"]["status"], 401);
    let message = response["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Incorrect API key provided"),
        "the rest of the body is kept: {message}"
    );
    transcript.push_str(&response.to_string());

    // The same in an error event mid-stream.
    let stream = format!(
        "data: {}\n\ndata: {}\n\n",
        json!({"choices": [{"delta": {"content": "par"}}]}),
        json!({"error": {"message": echo}})
    );
    provider.push(Reply::sse(&stream));
    let response = server.call(4, "chat/send", json!({"chatId": chat, "content": "again"}));
    assert_eq!(error_code(&response), 1101, "{response}");
    transcript.push_str(&response.to_string());

    // And when listing models.
    provider.push(Reply::json(403, &body));
    let response = server.call(
        5,
        "models/list",
        json!({"provider": "mock", "refresh": true}),
    );
    assert_eq!(error_code(&response), 1101, "{response}");
    transcript.push_str(&response.to_string());

    // History keeps the (scrubbed) error text with the failed answers.
    let detail = ok(server.call(6, "history/get", json!({"chatId": chat})));
    let errors: Vec<&str> = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["error"].as_str())
        .collect();
    assert_eq!(errors.len(), 2, "{detail}");
    assert!(
        errors.iter().all(|e| e.contains("[redacted]")),
        "{errors:?}"
    );
    transcript.push_str(&detail.to_string());
    let found = ok(server.call(7, "history/search", json!({"query": "CANARY"})));
    assert_eq!(found["results"], json!([]), "{found}");

    for (id, format, name) in [(8, "json", "out.json"), (9, "markdown", "out.md")] {
        ok(server.call(
            id,
            "history/export",
            json!({"all": true, "format": format, "path": format!("~/{name}")}),
        ));
        let exported = std::fs::read(home.path().join(name)).unwrap();
        assert!(!exported.is_empty());
        assert_absent(&exported, &canaries, name);
    }
    assert_absent(transcript.as_bytes(), &canaries, "responses");
    let (_, stderr) = server.finish();
    assert_absent(stderr.as_bytes(), &canaries, "stderr");
    assert_absent(
        &home.all_file_bytes(),
        &canaries,
        "the files (logs included)",
    );
}

// --- 2. Loopback means loopback

/// A "proxy" that records every connection and answers 502.
struct FakeProxy {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl FakeProxy {
    fn start() -> FakeProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer);
                let _ = stream.write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        FakeProxy { port, connections }
    }
}

#[test]
fn a_loopback_provider_is_never_reached_through_a_proxy() {
    const KEY: &str = "mockkey-CANARYPROXY-0042";
    let proxy = FakeProxy::start();
    let provider = ProviderServer::start();
    let home = Home::new();
    home.write_config(&mock_config(&provider));
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    let mut server = Server::start_with(&home, Framing::Ndjson, |command| {
        for var in [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            command.env(var, &proxy_url);
        }
    });
    ok(server.call(1, "vault/setKey", json!({"provider": "mock", "key": KEY})));
    let chat = ok(server.call(2, "chat/new", json!({})))["chatId"]
        .as_str()
        .unwrap()
        .to_string();
    provider.push(Reply::sse(&openai_stream(&["straight ", "there"])));
    let answer = ok(server.call(3, "chat/send", json!({"chatId": chat, "content": "hi"})));
    assert_eq!(answer["content"], "straight there");
    provider.push(Reply::json(200, r#"{"data":[{"id":"m1"}]}"#));
    let models = ok(server.call(4, "models/list", json!({"provider": "mock"})));
    assert_eq!(models["models"], json!([{"id": "m1"}]));
    assert_eq!(provider.seen().len(), 2);
    assert_eq!(
        proxy.connections.load(Ordering::SeqCst),
        0,
        "the proxy saw a loopback request"
    );
    server.finish();
}

// --- 3. Inputs that cannot break reads

/// The last millisecond RFC 3339 can show with a four-digit year.
const YEAR_9999_END: i64 = 253_402_300_799_999;

fn export_with(chats: Vec<Value>) -> Value {
    json!({"format": "chinwag-export", "version": 1, "chats": chats})
}

fn chat_json(title: &str, created_at: i64, message_at: i64) -> Value {
    json!({"id": "", "title": title, "provider": "openai", "model": "gpt-4o-mini",
           "system": null, "createdAt": created_at, "updatedAt": created_at, "messageCount": 1,
           "messages": [{"id": "", "seq": 0, "role": "user", "content": "findme hello",
                         "createdAt": message_at, "status": "complete"}]})
}

fn assert_reads_work(server: &mut Server, home: &Home, first_id: i64, expected_chats: usize) {
    let list = ok(server.call(first_id, "history/list", json!({})));
    assert_eq!(list["total"], expected_chats, "{list}");
    for chat in list["chats"].as_array().unwrap() {
        ok(server.call(first_id + 1, "history/get", json!({"chatId": chat["id"]})));
    }
    ok(server.call(first_id + 2, "history/search", json!({"query": "findme"})));
    for (offset, format) in [(3, "json"), (4, "markdown")] {
        ok(server.call(
            first_id + offset,
            "history/export",
            json!({"all": true, "format": format,
                   "path": home.path().join(format!("reads-{first_id}.{format}")).to_str().unwrap()}),
        ));
    }
}

#[test]
fn an_import_with_values_reads_cannot_handle_is_refused_and_reads_keep_working() {
    let home = Home::new();
    let mut server = Server::start(&home, Framing::Ndjson);
    let good = home.write_export("good.json", &[("kept", &[("user", "findme kept")])]);
    ok(server.call(1, "history/import", json!({"path": good})));

    let hostile: Vec<(&str, Value, &str)> = vec![
        (
            "year-10000",
            export_with(vec![
                chat_json("fine", 1_764_000_000_000, 1_764_000_000_000),
                chat_json("future", YEAR_9999_END + 1, 1_764_000_000_000),
            ]),
            "chats[1].createdAt",
        ),
        (
            "message-year-10000",
            export_with(vec![chat_json("future message", 0, 253_402_300_800_000)]),
            "chats[0].messages[0].createdAt",
        ),
        (
            "far-future",
            export_with(vec![chat_json("max", i64::MAX, 0)]),
            "chats[0].createdAt",
        ),
        (
            "before-1970",
            export_with(vec![chat_json("past", -1, 0)]),
            "chats[0].createdAt",
        ),
        (
            "negative-count",
            export_with(vec![{
                let mut chat = chat_json("count", 0, 0);
                chat["messageCount"] = json!(-1);
                chat
            }]),
            "chats[0].messageCount",
        ),
        (
            "huge-usage",
            export_with(vec![{
                let mut chat = chat_json("usage", 0, 0);
                chat["messages"][0]["usage"] =
                    json!({"promptTokens": u64::MAX, "completionTokens": 1});
                chat
            }]),
            "chats[0].messages[0].usage.promptTokens",
        ),
        (
            "long-title",
            export_with(vec![chat_json(&"t".repeat(100_000), 0, 0)]),
            "chats[0].title",
        ),
    ];
    for (index, (name, file, field)) in hostile.into_iter().enumerate() {
        let path = home.path().join(format!("{name}.json"));
        std::fs::write(&path, file.to_string()).unwrap();
        let response = server.call(
            10 + index as i64,
            "history/import",
            json!({"path": path.to_str().unwrap()}),
        );
        assert_eq!(error_code(&response), -32602, "{name}: {response}");
        let message = response["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{name}: {message}");
        // Nothing of a refused file is imported, the good chat of the first one included.
        assert_reads_work(&mut server, &home, 100 + 10 * index as i64, 1);
    }

    // The edge itself is fine: the last millisecond of year 9999 and the epoch.
    let edge = home.path().join("edge.json");
    std::fs::write(
        &edge,
        export_with(vec![
            chat_json("end of time", YEAR_9999_END, YEAR_9999_END),
            chat_json("epoch", 0, 0),
        ])
        .to_string(),
    )
    .unwrap();
    let imported = ok(server.call(
        200,
        "history/import",
        json!({"path": edge.to_str().unwrap()}),
    ));
    assert_eq!(imported["imported"], 2);
    assert_reads_work(&mut server, &home, 300, 3);
    let list = ok(server.call(310, "history/list", json!({})));
    assert_eq!(list["chats"][0]["createdAt"], "9999-12-31T23:59:59Z");
    server.finish();
}
