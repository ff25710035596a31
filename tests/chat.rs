//! Chat through the real binary against a scripted provider on 127.0.0.1 speaking each wire
//! format: streaming, usage, headers, faults, cancellation, concurrency, history.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::provider::{End, ProviderServer, Reply, openai_stream};
use support::{FAST_KDF, Framing, Home, Server, error_code};

const KEY: &str = "mock-key-7f3a9e1c-CANARY";

fn ok(response: Value) -> Value {
    assert!(
        response.get("error").is_none(),
        "unexpected error: {response}"
    );
    response["result"].clone()
}

fn config(provider: &ProviderServer, extra: &str) -> String {
    format!(
        "default_provider = \"mock\"\n{FAST_KDF}\
         [chat]\nidle_timeout_secs = 2\n\n\
         [providers.mock]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\ndefault_model = \"mock-model\"\n\n\
         [providers.claude]\nkind = \"anthropic\"\nbase_url = \"{}\"\ndefault_model = \"claude-test\"\n\n\
         [providers.llama]\nkind = \"ollama\"\nbase_url = \"{}\"\ndefault_model = \"llama-test\"\n\n\
         [providers.faraway]\nkind = \"openai-compatible\"\nbase_url = \"https://llm.example.invalid/v1\"\ndefault_model = \"x\"\n\
         {extra}",
        provider.url("/v1"),
        provider.url("/v1"),
        provider.url(""),
    )
}

fn start(home: &Home, provider: &ProviderServer) -> Server {
    home.write_config(&config(provider, ""));
    let mut server = Server::start(home, Framing::ContentLength);
    ok(server.call(
        9000,
        "vault/setKey",
        json!({"provider": "mock", "key": KEY}),
    ));
    server
}

/// Send a message; collect the deltas and the final response.
fn send(server: &mut Server, id: i64, chat_id: &str, content: &str) -> (Vec<Value>, Value) {
    server.request(
        id,
        "chat/send",
        json!({"chatId": chat_id, "content": content}),
    );
    collect(server, id)
}

fn collect(server: &mut Server, id: i64) -> (Vec<Value>, Value) {
    let mut deltas = Vec::new();
    loop {
        let message = server.recv();
        if message["method"] == "chat/delta" {
            deltas.push(message["params"].clone());
        } else if message["id"] == id {
            return (deltas, message);
        }
    }
}

fn joined(deltas: &[Value], kind: &str) -> String {
    deltas
        .iter()
        .filter(|d| d["kind"] == kind)
        .map(|d| d["delta"].as_str().unwrap())
        .collect()
}

fn new_chat(server: &mut Server, id: i64, params: Value) -> String {
    ok(server.call(id, "chat/new", params))["chatId"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn openai_compatible_stream_arrives_whole_with_usage_and_is_saved() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let pieces = ["Grüß", " dich", ", wörld ✓", " — done"];
    provider.push(Reply::sse(&openai_stream(&pieces)));
    let chat_id = new_chat(&mut server, 1, json!({"system": "Be brief."}));
    let (deltas, response) = send(&mut server, 2, &chat_id, "Say hello");
    let result = ok(response);
    assert_eq!(joined(&deltas, "text"), pieces.concat());
    assert_eq!(result["content"], pieces.concat());
    assert_eq!(result["finishReason"], "stop");
    assert_eq!(
        result["usage"],
        json!({"promptTokens": 11, "completionTokens": 4})
    );
    assert!(result["timings"]["totalMs"].is_u64());
    assert!(
        deltas
            .iter()
            .all(|d| d["chatId"] == chat_id.as_str() && d["messageId"] == result["messageId"])
    );

    // What went over the wire: our headers only, the key as a bearer token, the conversation.
    let seen = provider.seen();
    let request = &seen[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.header("user-agent"),
        Some(concat!("chinwag/", env!("CARGO_PKG_VERSION")))
    );
    let allowed = [
        "host",
        "authorization",
        "content-type",
        "user-agent",
        "accept",
        "content-length",
    ];
    for (name, _) in &request.headers {
        assert!(allowed.contains(&name.as_str()), "unexpected header {name}");
    }
    let body = request.json();
    assert_eq!(body["model"], "mock-model");
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["messages"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}])
    );

    // Both turns are in history, and the next turn carries them.
    let chat = ok(server.call(3, "history/get", json!({"chatId": chat_id})));
    assert_eq!(chat["title"], "Say hello");
    assert_eq!(chat["messages"][0]["role"], "user");
    assert_eq!(chat["messages"][1]["content"], pieces.concat());
    assert_eq!(chat["messages"][1]["status"], "complete");
    assert_eq!(chat["messages"][1]["usage"]["completionTokens"], 4);
    provider.push(Reply::sse(&openai_stream(&["again"])));
    let (_, response) = send(&mut server, 4, &chat_id, "More");
    ok(response);
    assert_eq!(
        provider.seen()[1].json()["messages"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let (_, stderr) = server.finish();
    assert!(!stderr.contains(KEY));
    assert!(
        !String::from_utf8_lossy(&home.all_file_bytes()).contains(KEY),
        "the key reached a file"
    );
}

#[test]
fn code_regions_are_formatted_into_the_prompt() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    provider.push(Reply::sse(&openai_stream(&["ok"])));
    let chat_id = new_chat(&mut server, 1, json!({}));
    server.request(2, "chat/send", json!({"chatId": chat_id, "content": "Explain",
        "context": [{"path": "src/main.rs", "language": "rust", "startLine": 3, "endLine": 4, "text": "fn main() {\n}\n"}]}));
    ok(collect(&mut server, 2).1);
    let sent = provider.seen()[0].json()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        sent,
        "Explain\n\n`src/main.rs` lines 3-4:\n```rust\nfn main() {\n}\n```"
    );
    server.finish();
}

#[test]
fn reasoning_and_groq_usage_are_reported() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let body = concat!(
        "data: {\"choices\":[{\"delta\":{\"reasoning\":\"Let me think.\"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"42\"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"x_groq\":{\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}}\n\n",
        "data: [DONE]\n\n"
    );
    provider.push(Reply::sse(body));
    let chat_id = new_chat(&mut server, 1, json!({}));
    let (deltas, response) = send(&mut server, 2, &chat_id, "?");
    let result = ok(response);
    assert_eq!(joined(&deltas, "reasoning"), "Let me think.");
    assert_eq!(result["reasoning"], "Let me think.");
    assert_eq!(result["content"], "42");
    assert_eq!(result["usage"]["completionTokens"], 2);
    server.finish();
}

#[test]
fn anthropic_messages_stream() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    ok(server.call(
        1,
        "vault/setKey",
        json!({"provider": "claude", "key": format!("sk-ant-api03-{}", "a".repeat(40))}),
    ));
    let body = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n",
        "event: ping\ndata: {\"type\":\"ping\"}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Bonjour\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" à toi\"}}\n\n",
        "event: something_new\ndata: {\"type\":\"something_new\"}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":5}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
    );
    provider.push(Reply::sse(body));
    let chat_id = new_chat(
        &mut server,
        2,
        json!({"provider": "claude", "system": "Be French."}),
    );
    let (deltas, response) = send(&mut server, 3, &chat_id, "Hi");
    let result = ok(response);
    assert_eq!(joined(&deltas, "text"), "Bonjour à toi");
    assert_eq!(
        result["usage"],
        json!({"promptTokens": 9, "completionTokens": 5})
    );
    assert_eq!(result["finishReason"], "end_turn");
    let request = &provider.seen()[0];
    assert_eq!(request.path, "/v1/messages");
    assert!(request.header("x-api-key").unwrap().starts_with("sk-ant-"));
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(request.header("authorization"), None);
    assert_eq!(request.json()["system"], "Be French.");
    assert!(request.json()["max_tokens"].is_u64());
    server.finish();
}

#[test]
fn ollama_native_stream_and_models() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let body = "{\"message\":{\"role\":\"assistant\",\"content\":\"Hal\"},\"done\":false}\n{\"message\":{\"content\":\"lo\"},\"done\":false}\n{\"message\":{\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":26,\"eval_count\":2}\n";
    provider.push(Reply::ndjson(body));
    let chat_id = new_chat(&mut server, 1, json!({"provider": "llama"}));
    let (deltas, response) = send(&mut server, 2, &chat_id, "Hi");
    let result = ok(response);
    assert_eq!(joined(&deltas, "text"), "Hallo");
    assert_eq!(
        result["usage"],
        json!({"promptTokens": 26, "completionTokens": 2})
    );
    assert_eq!(provider.seen()[0].path, "/api/chat");
    assert_eq!(
        provider.seen()[0].header("authorization"),
        None,
        "no key is sent to Ollama"
    );

    provider.push(Reply::json(
        200,
        "{\"models\":[{\"name\":\"qwen2.5:7b\"},{\"name\":\"llama3.2:latest\"}]}",
    ));
    let models = ok(server.call(3, "models/list", json!({"provider": "llama"})));
    assert_eq!(
        models["models"],
        json!([{"id": "llama3.2:latest"}, {"id": "qwen2.5:7b"}])
    );
    assert_eq!(models["cached"], false);
    assert_eq!(provider.seen()[1].path, "/api/tags");
    let again = ok(server.call(4, "models/list", json!({"provider": "llama"})));
    assert_eq!(again["cached"], true);
    assert_eq!(
        provider.seen().len(),
        2,
        "the second listing came from the cache"
    );
    server.finish();
}

#[test]
fn providers_are_listed_with_key_sources() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let result = ok(server.call(1, "providers/list", json!({})));
    let find = |name: &str| {
        result["providers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(find("mock")["keySource"], "vault");
    assert_eq!(find("mock")["local"], true);
    assert_eq!(find("openai")["keyFound"], false);
    assert_eq!(find("openai")["local"], false);
    assert_eq!(find("llama")["kind"], "ollama");
    server.finish();
}

#[test]
fn provider_http_faults_are_clear_and_never_show_the_key() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let chat_id = new_chat(&mut server, 1, json!({}));
    let cases = [
        (
            Reply::json(
                401,
                "{\"error\":{\"message\":\"Incorrect API key provided\"}}",
            ),
            401,
            "refused",
        ),
        (
            Reply::json(
                404,
                "{\"error\":{\"message\":\"The model does not exist\"}}",
            ),
            404,
            "mock-model",
        ),
        (Reply::json(500, "upstream exploded"), 500, "server error"),
        (
            Reply::json(429, "{\"error\":\"slow down\"}").header("Retry-After", "3600"),
            429,
            "retry after 3600",
        ),
    ];
    for (index, (reply, status, words)) in cases.into_iter().enumerate() {
        provider.push(reply);
        let (_, response) = send(&mut server, 10 + index as i64, &chat_id, "hi");
        assert_eq!(error_code(&response), 1101, "{response}");
        assert_eq!(response["error"]["data"]["status"], status);
        assert_eq!(response["error"]["data"]["provider"], "mock");
        let message = response["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{message}");
        assert!(!response.to_string().contains(KEY));
    }
    // The server is still fine, and each failed turn is in history.
    let chat = ok(server.call(20, "history/get", json!({"chatId": chat_id})));
    assert_eq!(chat["messages"].as_array().unwrap().len(), 8);
    assert_eq!(chat["messages"][1]["status"], "error");
    server.finish();
}

#[test]
fn redirects_are_followed_on_the_same_origin_only() {
    let provider = ProviderServer::start();
    let elsewhere = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let chat_id = new_chat(&mut server, 1, json!({}));

    // Same origin: followed, with the key.
    provider
        .push(Reply::json(307, "").header("Location", &provider.url("/v1/moved/chat/completions")));
    provider.push(Reply::sse(&openai_stream(&["moved ", "fine"])));
    let (deltas, response) = send(&mut server, 2, &chat_id, "hi");
    ok(response);
    assert_eq!(joined(&deltas, "text"), "moved fine");
    let seen = provider.seen();
    assert_eq!(seen.last().unwrap().path, "/v1/moved/chat/completions");
    assert_eq!(
        seen.last().unwrap().header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );

    // Another origin (another port on the same host): refused before anything is sent there.
    provider.push(Reply::json(307, "").header("Location", &elsewhere.url("/v1/chat/completions")));
    elsewhere.push(Reply::sse(&openai_stream(&["stolen"])));
    let (deltas, response) = send(&mut server, 3, &chat_id, "again");
    assert!(deltas.is_empty());
    let message = response["error"]["message"].as_str().unwrap();
    assert!(message.contains("another host"), "{response}");
    assert!(elsewhere.seen().is_empty());
    assert!(!response.to_string().contains(KEY));
    server.finish();
}

#[test]
fn rate_limits_are_retried_after_the_wait_the_provider_asks_for() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    provider.push(Reply::json(429, "{}").header("Retry-After", "1"));
    provider.push(Reply::sse(&openai_stream(&["after the wait"])));
    let chat_id = new_chat(&mut server, 1, json!({}));
    let (_, response) = send(&mut server, 2, &chat_id, "hi");
    assert_eq!(ok(response)["content"], "after the wait");
    assert_eq!(provider.seen().len(), 2);
    server.finish();
}

#[test]
fn stream_faults_keep_the_partial_answer() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let chat_id = new_chat(&mut server, 1, json!({}));
    let partial = "data: {\"choices\":[{\"delta\":{\"content\":\"half an answ\"}}]}\n\n";
    let cases = [
        (Reply::sse(partial).ending(End::Stall), 1102, "idle"),
        (Reply::sse(partial).ending(End::Cut), 1101, "truncated"),
        (Reply::sse(partial), 1101, "truncated"),
        (
            Reply::sse(&format!(
                "{partial}data: {{\"error\":{{\"message\":\"model overloaded\"}}}}\n\n"
            )),
            1101,
            "stream",
        ),
    ];
    for (index, (reply, code, kind)) in cases.into_iter().enumerate() {
        provider.push(reply);
        let id = 10 + index as i64;
        let (deltas, response) = send(&mut server, id, &chat_id, "go");
        assert_eq!(error_code(&response), code, "case {index}: {response}");
        let data = &response["error"]["data"];
        assert_eq!(
            data.get("kind").or(data.get("reason")).unwrap(),
            kind,
            "case {index}: {response}"
        );
        assert_eq!(joined(&deltas, "text"), "half an answ");
        let message_id = data["messageId"].as_str().unwrap().to_string();
        let chat = ok(server.call(100 + id, "history/get", json!({"chatId": chat_id})));
        let saved = chat["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == message_id.as_str())
            .unwrap()
            .clone();
        assert_eq!(saved["content"], "half an answ");
        assert_eq!(saved["status"], "error");
    }
    server.finish();
}

#[test]
fn ollama_error_line_and_connection_refused() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    provider.push(Reply::ndjson(
        "{\"message\":{\"content\":\"a\"},\"done\":false}\n{\"error\":\"model runner crashed\"}\n",
    ));
    let chat_id = new_chat(&mut server, 1, json!({"provider": "llama"}));
    let (_, response) = send(&mut server, 2, &chat_id, "hi");
    assert_eq!(error_code(&response), 1101);
    assert!(
        response["error"]["message"]
            .as_str()
            .unwrap()
            .contains("model runner crashed")
    );
    server.finish();

    // Nothing listening: Ollama is "not running".
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let home = Home::new();
    home.write_config(&format!("{FAST_KDF}[providers.llama]\nkind = \"ollama\"\nbase_url = \"http://127.0.0.1:{port}\"\ndefault_model = \"m\"\n"));
    let mut server = Server::start(&home, Framing::Ndjson);
    let chat_id = new_chat(&mut server, 1, json!({"provider": "llama"}));
    let (_, response) = send(&mut server, 2, &chat_id, "hi");
    assert_eq!(error_code(&response), 1102);
    assert_eq!(response["error"]["data"]["reason"], "refused");
    assert!(
        response["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ollama serve"),
        "{response}"
    );
    server.finish();
}

#[test]
fn a_remote_provider_without_a_key_is_refused_before_any_request() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let chat_id = new_chat(&mut server, 1, json!({"provider": "faraway"}));
    let (_, response) = send(&mut server, 2, &chat_id, "hi");
    assert_eq!(error_code(&response), 1005, "{response}");
    server.finish();
}

#[test]
fn chat_cancel_stops_the_stream_at_once_and_keeps_the_partial_answer() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let many: Vec<String> = (0..200).map(|i| format!("tok{i} ")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    provider.push(
        Reply::sse(&openai_stream(&many))
            .in_pieces(vec![40])
            .paced(Duration::from_millis(20)),
    );
    let chat_id = new_chat(&mut server, 1, json!({}));
    server.request(
        2,
        "chat/send",
        json!({"chatId": chat_id, "content": "count"}),
    );
    let first = server.recv();
    assert_eq!(first["method"], "chat/delta", "{first}");
    let cancel = ok(server.call(3, "chat/cancel", json!({"chatId": chat_id})));
    assert_eq!(cancel["cancelled"], true);
    let (_, response) = collect(&mut server, 2);
    assert_eq!(error_code(&response), -32800, "{response}");
    let message_id = response["error"]["data"]["messageId"]
        .as_str()
        .unwrap()
        .to_string();
    provider.wait_for("the hang-up", |p| p.hangups() == 1);
    let chat = ok(server.call(4, "history/get", json!({"chatId": chat_id})));
    let saved = &chat["messages"][1];
    assert_eq!(saved["id"], message_id.as_str());
    assert_eq!(saved["status"], "cancelled");
    assert!(saved["content"].as_str().unwrap().starts_with("tok0 "));
    assert_eq!(
        ok(server.call(5, "chat/cancel", json!({"chatId": chat_id})))["cancelled"],
        false
    );
    server.finish();
}

#[test]
fn cancel_request_and_notification_forms_work_too() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let many: Vec<String> = (0..200).map(|i| format!("w{i} ")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let chat_id = new_chat(&mut server, 1, json!({}));

    // $/cancelRequest drops the request; the partial answer is saved as cancelled.
    provider.push(
        Reply::sse(&openai_stream(&many))
            .in_pieces(vec![40])
            .paced(Duration::from_millis(20)),
    );
    server.request(2, "chat/send", json!({"chatId": chat_id, "content": "a"}));
    assert_eq!(server.recv()["method"], "chat/delta");
    server.notify("$/cancelRequest", json!({"id": 2}));
    let (_, response) = collect(&mut server, 2);
    assert_eq!(error_code(&response), -32800);
    provider.wait_for("the first hang-up", |p| p.hangups() == 1);

    // chat/cancel as a notification (what Emacs sends).
    provider.push(
        Reply::sse(&openai_stream(&many))
            .in_pieces(vec![40])
            .paced(Duration::from_millis(20)),
    );
    server.request(3, "chat/send", json!({"chatId": chat_id, "content": "b"}));
    assert_eq!(server.recv()["method"], "chat/delta");
    server.notify("chat/cancel", json!({"chatId": chat_id}));
    let (_, response) = collect(&mut server, 3);
    assert_eq!(error_code(&response), -32800);
    provider.wait_for("the second hang-up", |p| p.hangups() == 2);

    let chat = ok(server.call(4, "history/get", json!({"chatId": chat_id})));
    let statuses: Vec<&str> = chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["complete", "cancelled", "complete", "cancelled"]);
    server.finish();
}

#[test]
fn several_chats_stream_at_once() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let chats: Vec<String> = (0..3)
        .map(|i| new_chat(&mut server, i, json!({})))
        .collect();
    for i in 0..3 {
        let words: Vec<String> = (0..30).map(|w| format!("c{i}w{w} ")).collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        provider.push(
            Reply::sse(&openai_stream(&words))
                .in_pieces(vec![30])
                .paced(Duration::from_millis(5)),
        );
    }
    for (i, chat_id) in chats.iter().enumerate() {
        server.request(
            10 + i as i64,
            "chat/send",
            json!({"chatId": chat_id, "content": "go"}),
        );
    }
    let mut texts = vec![String::new(); 3];
    let mut done = 0;
    while done < 3 {
        let message = server.recv();
        if message["method"] == "chat/delta" {
            let index = chats
                .iter()
                .position(|c| message["params"]["chatId"] == c.as_str())
                .unwrap();
            texts[index].push_str(message["params"]["delta"].as_str().unwrap());
        } else {
            let result = ok(message.clone());
            let index = (message["id"].as_i64().unwrap() - 10) as usize;
            assert_eq!(result["content"].as_str().unwrap(), texts[index]);
            done += 1;
        }
    }
    // Which provider reply went to which chat depends on timing; each got a whole one.
    for text in &texts {
        assert_eq!(text.split_whitespace().count(), 30, "{text}");
    }
    server.finish();
}

#[test]
fn deltas_are_merged_within_the_window_but_the_first_goes_at_once() {
    let provider = ProviderServer::start();
    let home = Home::new();
    home.write_config(&config(&provider, "").replace(
        "idle_timeout_secs = 2",
        "idle_timeout_secs = 2\ndelta_window_ms = 200",
    ));
    let mut server = Server::start(&home, Framing::Ndjson);
    let words: Vec<String> = (0..100).map(|w| format!("{w} ")).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    provider.push(
        Reply::sse(&openai_stream(&words))
            .in_pieces(vec![50])
            .paced(Duration::from_millis(2)),
    );
    let chat_id = new_chat(&mut server, 1, json!({}));
    let (deltas, response) = send(&mut server, 2, &chat_id, "count");
    let result = ok(response);
    assert_eq!(joined(&deltas, "text"), words.concat());
    assert_eq!(
        deltas[0]["delta"], "0 ",
        "the first delta is sent alone, at once"
    );
    assert!(
        deltas.len() < 20,
        "{} notifications for 100 tokens",
        deltas.len()
    );
    assert_eq!(result["content"], words.concat());
    server.finish();
}

#[test]
fn a_locked_vault_answers_before_anything_is_sent() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let chat_id = new_chat(&mut server, 1, json!({}));
    ok(server.call(
        2,
        "vault/setPassword",
        json!({"new": "correct horse battery"}),
    ));
    server.finish();
    let mut server = Server::start(&home, Framing::Ndjson);
    let (_, response) = send(&mut server, 1, &chat_id, "hi");
    assert_eq!(error_code(&response), 1001);
    assert!(provider.seen().is_empty());
    ok(server.call(
        2,
        "vault/unlock",
        json!({"password": "correct horse battery"}),
    ));
    provider.push(Reply::sse(&openai_stream(&["unlocked"])));
    let (_, response) = send(&mut server, 3, &chat_id, "hi");
    assert_eq!(ok(response)["content"], "unlocked");
    server.finish();
}

#[test]
fn rewrite_returns_only_the_code() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    provider.push(Reply::sse(&openai_stream(&[
        "Here:\n```rust\n",
        "fn add(a: i32, b: i32) -> i32 { a + b }\n",
        "```\n",
    ])));
    server.request(1, "chat/rewrite", json!({"instruction": "use i32", "region": {"path": "src/lib.rs", "language": "rust", "startLine": 1, "endLine": 1, "text": "fn add(a: u8, b: u8) -> u8 { a + b }"}}));
    let (deltas, response) = collect(&mut server, 1);
    let result = ok(response);
    assert!(!deltas.is_empty());
    assert_eq!(result["text"], "fn add(a: i32, b: i32) -> i32 { a + b }\n");
    let prompt = provider.seen()[0].json()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        prompt.contains("Instruction: use i32") && prompt.contains("```rust\nfn add(a: u8"),
        "{prompt}"
    );
    server.finish();
}

#[test]
fn chat_new_validates_provider_and_model() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    assert_eq!(
        error_code(&server.call(1, "chat/new", json!({"provider": "nope"}))),
        1201
    );
    assert_eq!(
        error_code(&server.call(2, "chat/new", json!({"model": "has space"}))),
        -32602
    );
    let made = ok(server.call(3, "chat/new", json!({"provider": "claude"})));
    assert_eq!(made["model"], "claude-test");
    let chat_id = made["chatId"].as_str().unwrap();
    let changed = ok(server.call(
        4,
        "chat/configure",
        json!({"chatId": chat_id, "provider": "mock", "model": "other-model", "title": "Renamed"}),
    ));
    assert_eq!(
        (
            changed["provider"].as_str(),
            changed["model"].as_str(),
            changed["title"].as_str()
        ),
        (Some("mock"), Some("other-model"), Some("Renamed"))
    );
    server.finish();
}

#[test]
fn the_command_line_chat_streams_to_stdout() {
    let provider = ProviderServer::start();
    let home = Home::new();
    home.write_config(&config(&provider, ""));
    provider.push(Reply::sse(&openai_stream(&["Piped ", "answer"])));
    let mut child = home
        .command()
        .args(["chat", "--provider", "mock", "Summarise this"])
        .env("MOCK_KEY_UNUSED", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"line one\nline two\n")
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "Piped answer\n");
    let prompt = provider.seen()[0].json()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        prompt.starts_with("Summarise this\n\n") && prompt.contains("line one\nline two"),
        "{prompt}"
    );
}

#[test]
fn the_command_line_chat_goes_through_the_secret_guard() {
    let provider = ProviderServer::start();
    let home = Home::new();
    home.write_config(&config(&provider, ""));
    provider.push(Reply::sse(&openai_stream(&["ok"])));
    let mut child = home
        .command()
        .args(["chat", "--provider", "mock", "What is this?"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(
                b"aws_key = AKIAIOSFODNN7CANARY
",
            )
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let request = &provider.seen()[0].body;
    assert!(!request.contains("CANARY"), "{request}");
    assert!(request.contains("[redacted: "), "{request}");
}

/// A TLS server (openssl s_server) with a certificate from a private CA: refused without that
/// CA, trusted with `extra_ca_file`.
#[test]
fn certificates_are_checked_and_an_extra_ca_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl is needed for this test");
        assert!(status.success(), "openssl {args:?}");
    };
    std::fs::write(
        dir.path().join("leaf.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=chinwag test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut tls = std::process::Command::new("openssl")
        .args([
            "s_server",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-cert",
            "leaf.pem",
            "-key",
            "leaf.key",
            "-www",
            "-quiet",
        ])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let provider = format!(
        "[providers.secure]\nkind = \"openai-compatible\"\nbase_url = \"https://127.0.0.1:{port}/v1\"\ndefault_model = \"m\"\n"
    );

    let home = Home::new();
    home.write_config(&format!("{FAST_KDF}{provider}"));
    let mut server = Server::start(&home, Framing::Ndjson);
    let refused = server.call(1, "models/list", json!({"provider": "secure"}));
    assert_eq!(error_code(&refused), 1102, "{refused}");
    assert_eq!(refused["error"]["data"]["reason"], "tls", "{refused}");
    server.finish();

    let ca = dir.path().join("ca.pem");
    home.write_config(&format!(
        "{FAST_KDF}[chat]\nextra_ca_file = \"{}\"\n{provider}",
        ca.display()
    ));
    let mut server = Server::start(&home, Framing::Ndjson);
    let answered = server.call(1, "models/list", json!({"provider": "secure"}));
    // The handshake passed; s_server answers with an HTML page, not a model list.
    assert_eq!(error_code(&answered), 1101, "{answered}");
    assert_eq!(answered["error"]["data"]["kind"], "protocol", "{answered}");
    server.finish();
    let _ = tls.kill();
    let _ = tls.wait();
}
