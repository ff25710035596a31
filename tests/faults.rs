//! Fault injection against the real binary: floods of garbage, unusable storage, kill -9 in the
//! middle of chats, and many chats streaming while history is read.

mod support;

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

fn mock_config(provider: &ProviderServer) -> String {
    format!(
        "default_provider = \"mock\"\n{FAST_KDF}[providers.mock]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\ndefault_model = \"m\"\n",
        provider.url("/v1")
    )
}

#[test]
fn ten_thousand_malformed_frames_are_each_answered() {
    for framing in support::BOTH {
        let home = Home::new();
        let mut server = Server::start(&home, framing);
        ok(server.call(1, "initialize", json!({})));
        let mut flood = Vec::new();
        for i in 0..10_000 {
            let body = match i % 4 {
                0 => "{\"jsonrpc\": \"2.0\", \"id\": ".to_string(),
                1 => "[]".to_string(),
                2 => format!("{{\"jsonrpc\":\"1.0\",\"id\":{i},\"method\":\"x\"}}"),
                _ => "\"just a string\"".to_string(),
            };
            framing.frame(body.as_bytes(), &mut flood);
        }
        server.send_raw(&flood);
        for _ in 0..10_000 {
            let answer = server.recv();
            let code = error_code(&answer);
            assert!(code == -32700 || code == -32600, "{answer}");
        }
        ok(server.call(2, "initialize", json!({})));
        let (status, _) = server.finish();
        assert!(status.success());
    }
}

#[test]
fn unusable_storage_is_a_clear_error_and_the_server_stays_up() {
    let home = Home::new();
    // Something that is not a database where the database belongs (permissions would not stop
    // root, who runs CI).
    std::fs::create_dir_all(home.data_dir()).unwrap();
    std::fs::write(home.data_dir().join("store"), "not a database").unwrap();
    let mut server = Server::start(&home, Framing::Ndjson);
    let init = ok(server.call(1, "initialize", json!({})));
    let error = init["storageError"].as_str().unwrap();
    assert!(
        error.contains("cannot open the vault and database"),
        "{error}"
    );
    for (id, method) in [
        (2, "vault/status"),
        (3, "history/list"),
        (4, "settings/get"),
        (5, "chat/new"),
    ] {
        let response = server.call(id, method, json!({}));
        assert_eq!(error_code(&response), 1301, "{method}: {response}");
    }
    ok(server.call(6, "initialize", json!({})));
    let (status, stderr) = server.finish();
    assert!(status.success());
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_provider_sending_garbage_is_an_error_not_a_crash() {
    let provider = ProviderServer::start();
    let home = Home::new();
    home.write_config(&mock_config(&provider));
    let mut server = Server::start(&home, Framing::Ndjson);
    let chat_id = ok(server.call(1, "chat/new", json!({})))["chatId"]
        .as_str()
        .unwrap()
        .to_string();
    provider.push(Reply::sse(
        "data: {not json at all\n\n\u{0}\u{1}binary junk\n\n",
    ));
    provider.push(Reply::stream(
        "text/event-stream",
        vec![0xff, 0xfe, 0x00, b'\n', b'\n'],
    ));
    for id in [2, 3] {
        server.request(id, "chat/send", json!({"chatId": chat_id, "content": "hi"}));
        let response = loop {
            let message = server.recv();
            if message["id"] == id {
                break message;
            }
        };
        assert_eq!(error_code(&response), 1101, "{response}");
    }
    ok(server.call(4, "history/get", json!({"chatId": chat_id})));
    server.finish();
}

/// 50 rounds: a chat streams, the backend is killed at a pseudo-random moment, and afterwards
/// the database opens and every turn acknowledged before the kill is there.
#[test]
fn kill_nine_at_random_points_during_chats_loses_nothing_acknowledged() {
    let provider = ProviderServer::start();
    let home = Home::new();
    home.write_config(&mock_config(&provider));
    let mut acknowledged: Vec<(String, String)> = Vec::new(); // (chat id, answer text)
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..50 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let words: Vec<String> = (0..20).map(|w| format!("r{round}w{w} ")).collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        provider.push(
            Reply::sse(&openai_stream(&words))
                .in_pieces(vec![60])
                .paced(Duration::from_millis(2)),
        );
        let mut server = Server::start(&home, Framing::Ndjson);
        let chat_id = ok(server.call(1, "chat/new", json!({})))["chatId"]
            .as_str()
            .unwrap()
            .to_string();
        server.request(
            2,
            "chat/send",
            json!({"chatId": chat_id, "content": format!("round {round}")}),
        );
        let deadline = std::time::Instant::now() + Duration::from_millis(state % 60);
        let mut finished = None;
        while std::time::Instant::now() < deadline {
            if let Some(message) = server.try_recv(Duration::from_millis(1))
                && message["id"] == 2
            {
                finished = Some(message);
                break;
            }
        }
        if let Some(answer) = finished
            && answer.get("result").is_some()
        {
            acknowledged.push((
                chat_id.clone(),
                answer["result"]["content"].as_str().unwrap().to_string(),
            ));
        }
        let _ = server.child.kill();
        server.wait_exit();
    }
    eprintln!(
        "{} of 50 answers completed before their kill",
        acknowledged.len()
    );
    let mut server = Server::start(&home, Framing::Ndjson);
    let list = ok(server.call(1, "history/list", json!({"limit": 500})));
    assert_eq!(list["total"], 50, "every chat/new was acknowledged");
    for (index, (chat_id, content)) in acknowledged.iter().enumerate() {
        let chat = ok(server.call(
            100 + index as i64,
            "history/get",
            json!({"chatId": chat_id}),
        ));
        let answer = chat["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "assistant")
            .cloned();
        assert_eq!(
            answer.map(|a| a["content"].clone()),
            Some(json!(content)),
            "{chat}"
        );
    }
    server.finish();
}

#[test]
fn twenty_chats_stream_while_history_is_listed_and_searched() {
    let provider = ProviderServer::start();
    let home = Home::new();
    home.write_config(&mock_config(&provider));
    let mut server = Server::start(&home, Framing::ContentLength);
    let chats: Vec<String> = (0..20)
        .map(|i| {
            ok(server.call(i, "chat/new", json!({})))["chatId"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for i in 0..20 {
        let words: Vec<String> = (0..40).map(|w| format!("c{i}w{w} ")).collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        provider.push(
            Reply::sse(&openai_stream(&words))
                .in_pieces(vec![50])
                .paced(Duration::from_millis(3)),
        );
    }
    for (i, chat_id) in chats.iter().enumerate() {
        server.request(
            100 + i as i64,
            "chat/send",
            json!({"chatId": chat_id, "content": format!("go {i}")}),
        );
    }
    for round in 0..10 {
        server.request(200 + round, "history/list", json!({}));
        server.request(300 + round, "history/search", json!({"query": "go"}));
    }
    let (mut sends, mut lists, mut searches) = (0, 0, 0);
    while sends + lists + searches < 40 {
        let message = server.recv();
        let Some(id) = message["id"].as_i64() else {
            continue;
        };
        let result = ok(message.clone());
        match id {
            100..=119 => {
                assert_eq!(
                    result["content"]
                        .as_str()
                        .unwrap()
                        .split_whitespace()
                        .count(),
                    40
                );
                sends += 1;
            }
            200..=209 => {
                assert_eq!(result["total"], 20);
                lists += 1;
            }
            300..=309 => searches += 1,
            _ => panic!("unexpected answer {message}"),
        }
    }
    let hits = ok(server.call(999, "history/search", json!({"query": "go 7", "limit": 50})));
    assert_eq!(hits["results"].as_array().unwrap().len(), 1);
    server.finish();
}
