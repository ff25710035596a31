//! Presets through the real binary: the built-ins and the config's own, on a new chat, on one
//! message (a slash command), remembered by the chat, for rewrites, and `/commit` with the
//! staged diff.

mod support;

use std::process::Command;

use serde_json::{Value, json};
use support::provider::{ProviderServer, Reply, openai_stream};
use support::{FAST_KDF, Framing, Home, Server, error_code, ok};

fn start(home: &Home, provider: &ProviderServer) -> Server {
    home.write_config(&format!(
        "default_provider = \"mock\"\n{FAST_KDF}\
         [providers.mock]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\ndefault_model = \"mock-model\"\n\n\
         [presets.terse]\nsystem = \"Be terse.\"\ntemperature = 0.1\nmax_tokens = 50\ninstruction = \"Shorten this:\"\n\n\
         [presets.explain]\nmodel = \"explainer-model\"\n\n\
         [presets.broken]\ntemperature = 5.0\n",
        provider.url("/v1"),
    ));
    let mut server = Server::start(home, Framing::ContentLength);
    ok(server.call(
        9000,
        "vault/setKey",
        json!({"provider": "mock", "key": "mock-key-presets-0123456789"}),
    ));
    server
}

fn request(provider: &ProviderServer, n: usize) -> Value {
    provider.seen()[n].json()
}

fn last_user(body: &Value) -> String {
    let messages = body["messages"].as_array().unwrap();
    messages.last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn presets_are_listed_with_the_configs_own_and_overrides() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let init = ok(server.call(1, "initialize", json!({})));
    let errors = init["config"]["errors"].to_string();
    assert!(errors.contains("presets.broken.temperature"), "{errors}");
    let presets = ok(server.call(2, "presets/list", json!({})))["presets"].clone();
    let names: Vec<&str> = presets
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "explain", "review", "fix", "tests", "docs", "commit", "terse"
        ]
    );
    let explain = &presets[0];
    assert_eq!(explain["builtin"], false, "replaced by the config");
    assert_eq!(explain["model"], "explainer-model");
    assert!(explain["instruction"].as_str().unwrap().contains("Explain"));
    assert_eq!(presets[1]["builtin"], true);
    assert_eq!(presets[5]["stagedDiff"], true);
}

#[test]
fn a_preset_shapes_the_chat_and_is_remembered() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let chat = ok(server.call(1, "chat/new", json!({"preset": "terse"})))["chatId"]
        .as_str()
        .unwrap()
        .to_string();
    provider.push(Reply::sse(&openai_stream(&["ok"])));
    ok(server.call(
        2,
        "chat/send",
        json!({"chatId": chat, "content": "A long text."}),
    ));
    let body = request(&provider, 0);
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "Be terse."})
    );
    assert!((body["temperature"].as_f64().unwrap() - 0.1).abs() < 1e-6);
    assert_eq!(body["max_tokens"], 50);
    assert_eq!(last_user(&body), "A long text.");

    // A slash command on one message: the instruction goes first, the chat takes the
    // preset's system prompt and remembers it, across a restart.
    provider.push(Reply::sse(&openai_stream(&["tests!"])));
    ok(server.call(
        3,
        "chat/send",
        json!({"chatId": chat, "content": "", "preset": "tests",
               "context": [{"path": "a.rs", "language": "rust", "text": "fn a() {}"}]}),
    ));
    let body = request(&provider, 1);
    let message = last_user(&body);
    assert!(
        message.starts_with("Write unit tests for this code"),
        "{message}"
    );
    assert!(message.contains("```rust\nfn a() {}\n```"), "{message}");
    assert!(
        body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("senior software engineer")
    );
    assert!(body.get("temperature").is_none() || body["temperature"].is_null());
    drop(server);
    let mut server = start(&home, &provider);
    let detail = ok(server.call(4, "history/get", json!({"chatId": chat})));
    assert_eq!(detail["preset"], "tests");

    let unknown = server.call(
        5,
        "chat/send",
        json!({"chatId": chat, "content": "x", "preset": "nope"}),
    );
    assert_eq!(error_code(&unknown), 1201);
    assert_eq!(unknown["error"]["data"]["what"], "preset");
    assert_eq!(provider.seen().len(), 2);
}

#[test]
fn commit_writes_from_the_staged_diff_and_rewrites_take_a_preset() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let root = home.path().join("repo");
    std::fs::create_dir_all(&root).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    std::fs::write(root.join("a.txt"), "one\n").unwrap();
    git(&["init", "-q"]);
    git(&["add", "a.txt"]);
    git(&["commit", "-q", "-m", "one"]);
    std::fs::write(root.join("a.txt"), "one\ntwo staged\n").unwrap();
    git(&["add", "a.txt"]);
    let mut server = start(&home, &provider);
    let chat = ok(server.call(1, "chat/new", json!({})))["chatId"]
        .as_str()
        .unwrap()
        .to_string();
    provider.push(Reply::sse(&openai_stream(&["Add two"])));
    ok(server.call(
        2,
        "chat/send",
        json!({"chatId": chat, "content": "", "preset": "commit", "root": root}),
    ));
    let body = request(&provider, 0);
    let message = last_user(&body);
    assert!(message.starts_with("Write a commit message"), "{message}");
    assert!(
        message.contains("`git diff --cached`:\n```diff"),
        "{message}"
    );
    assert!(message.contains("+two staged"), "{message}");
    assert!((body["temperature"].as_f64().unwrap() - 0.2).abs() < 1e-6);

    provider.push(Reply::sse(&openai_stream(&[
        "```rust\nfn a() { fixed() }\n```",
    ])));
    let rewrite = ok(server.call(3,
        "chat/rewrite",
        json!({"preset": "fix", "region": {"path": "a.rs", "language": "rust", "text": "fn a() { broken() }"}}),
    ));
    assert_eq!(rewrite["text"], "fn a() { fixed() }\n");
    let message = last_user(&request(&provider, 1));
    assert!(message.contains("Find and fix the bugs"), "{message}");
}
