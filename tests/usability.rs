//! The usability fixes, through the real binary against the scripted provider: text before a
//! mid-stream error is kept, a broken config line breaks only what depends on it, errors carry
//! the action a user can take, local servers that need keys get them, Gemini and Azure-style
//! gateways, rewrites listed apart in history, and `chinwag chat` with a password.

mod support;

use serde_json::{Value, json};
use support::provider::{ProviderServer, Reply};
use support::{FAST_KDF, Framing, Home, Server, error_code};

const KEY: &str = "mock-key-7f3a9e1c-CANARY";

fn ok(response: Value) -> Value {
    assert!(
        response.get("error").is_none(),
        "unexpected error: {response}"
    );
    response["result"].clone()
}

fn mock_config(provider: &ProviderServer, extra: &str) -> String {
    format!(
        "default_provider = \"mock\"\n{FAST_KDF}\
         [chat]\nidle_timeout_secs = 2\n\n\
         [providers.mock]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\ndefault_model = \"mock-model\"\n\n\
         {extra}",
        provider.url("/v1"),
    )
}

fn start(home: &Home, config: &str) -> Server {
    home.write_config(config);
    Server::start(home, Framing::ContentLength)
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

fn joined(deltas: &[Value]) -> String {
    deltas
        .iter()
        .filter(|d| d["kind"] == "text")
        .map(|d| d["delta"].as_str().unwrap())
        .collect()
}

fn saved_message(server: &mut Server, id: i64, chat_id: &str, message_id: &str) -> Value {
    let chat = ok(server.call(id, "history/get", json!({"chatId": chat_id})));
    chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == message_id)
        .unwrap_or_else(|| panic!("no message {message_id} in {chat}"))
        .clone()
}

/// Item 1: three text chunks and an error event in one TCP write: the text is relayed and
/// saved, with every decoder family.
#[test]
fn text_before_a_mid_stream_error_in_the_same_read_is_kept() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let extra = format!(
        "[providers.claude]\nkind = \"anthropic\"\nbase_url = \"{}\"\ndefault_model = \"c\"\n\n\
         [providers.llama]\nkind = \"ollama\"\nbase_url = \"{}\"\ndefault_model = \"l\"\n",
        provider.url("/v1"),
        provider.url(""),
    );
    let mut server = start(&home, &mock_config(&provider, &extra));
    ok(server.call(1, "vault/setKey", json!({"provider": "mock", "key": KEY})));
    let openai = concat!(
        "data: {\"choices\":[{\"delta\":{\"content\":\"one \"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"two \"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"three\"}}]}\n\n",
        "data: {\"error\":{\"message\":\"upstream overloaded\"}}\n\n",
    );
    let anthropic = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"one \"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"two \"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"three\"}}\n\n",
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"upstream overloaded\"}}\n\n",
    );
    let ollama = concat!(
        "{\"message\":{\"role\":\"assistant\",\"content\":\"one \"},\"done\":false}\n",
        "{\"message\":{\"role\":\"assistant\",\"content\":\"two \"},\"done\":false}\n",
        "{\"message\":{\"role\":\"assistant\",\"content\":\"three\"},\"done\":false}\n",
        "{\"error\":\"upstream overloaded\"}\n",
    );
    let cases = [
        ("mock", Reply::sse(openai)),
        ("claude", Reply::sse(anthropic)),
        ("llama", Reply::ndjson(ollama)),
    ];
    for (index, (name, reply)) in cases.into_iter().enumerate() {
        let base = 10 * (index as i64 + 1);
        // One write: the whole body in a single chunk.
        provider.push(reply.in_pieces(vec![usize::MAX]));
        let chat = ok(server.call(base, "chat/new", json!({"provider": name})));
        let chat_id = chat["chatId"].as_str().unwrap();
        server.request(
            base + 1,
            "chat/send",
            json!({"chatId": chat_id, "content": "count"}),
        );
        let (deltas, response) = collect(&mut server, base + 1);
        assert_eq!(error_code(&response), 1101, "{name}: {response}");
        assert_eq!(joined(&deltas), "one two three", "{name}: deltas");
        let message_id = response["error"]["data"]["messageId"].as_str().unwrap();
        let saved = saved_message(&mut server, base + 2, chat_id, message_id);
        assert_eq!(saved["content"], "one two three", "{name}: saved");
        assert_eq!(saved["status"], "error");
        assert!(
            saved["error"]
                .as_str()
                .unwrap()
                .contains("upstream overloaded"),
            "{saved}"
        );
    }
    server.finish();
}

/// Item 2: a misspelt key is reported with its line and ignored; the rest of the file stays
/// in force (the default provider is still the local one, not a built-in remote one).
#[test]
fn one_bad_config_line_keeps_the_rest_and_is_reported() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let config = mock_config(&provider, "").replace(
        "default_provider = \"mock\"\n",
        "default_provider = \"mock\"\ndefualt_model = \"x\"\n",
    );
    let mut server = start(&home, &config);
    let init = ok(server.call(1, "initialize", json!({})));
    let errors = init["config"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{init}");
    assert_eq!(errors[0]["key"], "defualt_model");
    assert_eq!(errors[0]["line"], 2);
    assert!(
        init["config"]["error"].as_str().unwrap().contains("line 2"),
        "{init}"
    );
    assert_eq!(init["config"]["defaultUsable"], true);
    let chat = ok(server.call(2, "chat/new", json!({})));
    assert_eq!(chat["provider"], "mock", "{chat}");
    assert_eq!(chat["model"], "mock-model");
    server.finish();
}

/// Item 2: while `default_model` is broken, calls that would pick the default answer 1401
/// naming the key and line; a chat that names its provider still works. A provider whose
/// section is broken answers 1401 too, instead of running on its built-in URL.
#[test]
fn calls_that_depend_on_a_broken_part_answer_config_error() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let config = mock_config(
        &provider,
        "[providers.openai]\nbase_url = \"http://proxy.example.com/v1\"\n",
    )
    .replace(
        "default_provider = \"mock\"\n",
        "default_provider = \"mock\"\ndefault_model = \"two words\"\n",
    );
    let mut server = start(&home, &config);
    let init = ok(server.call(1, "initialize", json!({})));
    assert_eq!(init["config"]["defaultUsable"], false, "{init}");
    let keys: Vec<&str> = init["config"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["default_model", "providers.openai.base_url"]);

    let refused = server.call(2, "chat/new", json!({}));
    assert_eq!(error_code(&refused), 1401, "{refused}");
    let data = &refused["error"]["data"];
    assert_eq!(data["key"], "default_model");
    assert_eq!(data["line"], 2);
    assert_eq!(data["action"], "fixConfig");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("default_model") && message.contains("line 2"),
        "{message}"
    );

    let refused = server.call(3, "chat/new", json!({"provider": "openai"}));
    assert_eq!(error_code(&refused), 1401, "{refused}");
    assert_eq!(refused["error"]["data"]["key"], "providers.openai.base_url");

    // The default provider without a model: the model was to come from the broken line.
    let refused = server.call(4, "chat/new", json!({"provider": "mock"}));
    assert_eq!(error_code(&refused), 1401, "{refused}");
    assert_eq!(refused["error"]["data"]["key"], "default_model");
    let chat = ok(server.call(
        5,
        "chat/new",
        json!({"provider": "mock", "model": "mock-model"}),
    ));
    assert_eq!(chat["model"], "mock-model");
    assert!(provider.seen().is_empty());
    server.finish();
}

/// Item 6: Gemini is a built-in provider speaking OpenAI's wire format with a Bearer key
/// (its base URL pointed at the scripted provider here).
#[test]
fn gemini_is_built_in_and_sends_a_bearer_key() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let gemini_key = format!("AIza{}", "G".repeat(35));
    let config = format!(
        "{FAST_KDF}[providers.gemini]\nbase_url = \"{}\"\n",
        provider.url("/v1beta/openai/")
    );
    let mut server = start(&home, &config);
    let listed = ok(server.call(1, "providers/list", json!({})));
    let gemini = listed["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "gemini")
        .cloned()
        .unwrap_or_else(|| panic!("no gemini in {listed}"));
    assert_eq!(gemini["kind"], "openai-compatible");
    ok(server.call(
        2,
        "vault/setKey",
        json!({"provider": "gemini", "key": gemini_key}),
    ));
    provider.push(Reply::sse(&support::provider::openai_stream(&["Hi"])));
    let chat = ok(server.call(3, "chat/new", json!({"provider": "gemini"})));
    assert_eq!(chat["model"], "gemini-2.5-flash");
    let chat_id = chat["chatId"].as_str().unwrap();
    server.request(
        4,
        "chat/send",
        json!({"chatId": chat_id, "content": "hello"}),
    );
    let (_, response) = collect(&mut server, 4);
    assert_eq!(ok(response)["content"], "Hi");
    let seen = &provider.seen()[0];
    assert_eq!(seen.path, "/v1beta/openai/chat/completions");
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {gemini_key}").as_str())
    );
    server.finish();
}

/// Item 6: an Azure-style gateway: the key in `api-key` (no Bearer) and `api-version` in the
/// query, on chat and model requests alike.
#[test]
fn key_header_and_query_options_reach_every_request() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let config = mock_config(
        &provider,
        &format!(
            "[providers.azure]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n\
             default_model = \"gpt-4o\"\nkey_header = \"api-key\"\n\
             query = {{ \"api-version\" = \"2024-10-21\" }}\n",
            provider.url("/openai/v1")
        ),
    );
    let mut server = start(&home, &config);
    ok(server.call(1, "vault/setKey", json!({"provider": "azure", "key": KEY})));
    provider.push(Reply::sse(&support::provider::openai_stream(&["ok"])));
    provider.push(Reply::json(200, "{\"data\":[{\"id\":\"gpt-4o\"}]}"));
    let chat = ok(server.call(2, "chat/new", json!({"provider": "azure"})));
    let chat_id = chat["chatId"].as_str().unwrap();
    server.request(
        3,
        "chat/send",
        json!({"chatId": chat_id, "content": "hello"}),
    );
    let (_, response) = collect(&mut server, 3);
    assert_eq!(ok(response)["content"], "ok");
    let models = ok(server.call(
        4,
        "models/list",
        json!({"provider": "azure", "refresh": true}),
    ));
    assert_eq!(models["models"][0]["id"], "gpt-4o");
    let seen = provider.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].path,
        "/openai/v1/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(seen[1].path, "/openai/v1/models?api-version=2024-10-21");
    for request in &seen {
        assert_eq!(request.header("api-key"), Some(KEY), "{request:?}");
        assert_eq!(request.header("authorization"), None, "{request:?}");
    }
    server.finish();
}

/// Item 3: errors that need an action say which in `data.action`, and no message names a
/// protocol method.
#[test]
fn errors_carry_the_action_to_take() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let refused_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let extra = format!(
        "[providers.faraway]\nkind = \"openai-compatible\"\nbase_url = \"https://llm.example.invalid/v1\"\n\
         api_key_env = \"FARAWAY_KEY\"\ndefault_model = \"x\"\n\n\
         [providers.down]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:{refused_port}/v1\"\ndefault_model = \"x\"\n"
    );
    let mut server = start(&home, &mock_config(&provider, &extra));
    ok(server.call(1, "vault/setKey", json!({"provider": "mock", "key": KEY})));
    let turn = |server: &mut Server, id: i64, provider_name: &str| -> Value {
        let chat = ok(server.call(id, "chat/new", json!({"provider": provider_name})));
        let chat_id = chat["chatId"].as_str().unwrap().to_string();
        server.request(
            id + 1,
            "chat/send",
            json!({"chatId": chat_id, "content": "hi"}),
        );
        collect(server, id + 1).1
    };
    let mut messages = Vec::new();

    let missing = turn(&mut server, 10, "faraway");
    assert_eq!(error_code(&missing), 1005, "{missing}");
    let data = &missing["error"]["data"];
    assert_eq!(
        (&data["action"], &data["provider"], &data["env"]),
        (&json!("setKey"), &json!("faraway"), &json!("FARAWAY_KEY"))
    );
    messages.push(missing["error"]["message"].clone());

    provider.push(Reply::json(
        401,
        "{\"error\":{\"message\":\"invalid api key\"}}",
    ));
    let refused = turn(&mut server, 20, "mock");
    assert_eq!(error_code(&refused), 1101, "{refused}");
    assert_eq!(refused["error"]["data"]["action"], "setKey");
    assert_eq!(refused["error"]["data"]["provider"], "mock");
    messages.push(refused["error"]["message"].clone());

    let down = turn(&mut server, 30, "down");
    assert_eq!(error_code(&down), 1102, "{down}");
    let data = &down["error"]["data"];
    assert_eq!(data["action"], "startLocalServer");
    assert_eq!(data["provider"], "down");
    assert_eq!(data["url"], format!("http://127.0.0.1:{refused_port}/v1"));
    messages.push(down["error"]["message"].clone());

    // A password-protected vault, locked: `unlock`.
    ok(server.call(
        40,
        "vault/setPassword",
        json!({"new": "correct horse battery"}),
    ));
    ok(server.call(41, "vault/lock", json!({})));
    let locked = server.call(42, "chat/new", json!({"provider": "mock"}));
    assert_eq!(error_code(&locked), 1001, "{locked}");
    assert_eq!(locked["error"]["data"]["action"], "unlock");
    messages.push(locked["error"]["message"].clone());

    for message in messages {
        let message = message.as_str().unwrap();
        for family in ["vault/", "history/", "chat/", "settings/"] {
            assert!(!message.contains(family), "names a method: {message}");
        }
    }
    server.finish();
}

/// Item 5: a local server that needs a key gets it (from its environment variable or the
/// vault), and one that was sent none and fails says so.
#[test]
fn local_servers_get_their_keys_and_say_when_none_was_sent() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let extra = format!(
        "[providers.litellm]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n\
         api_key_env = \"LITELLM_KEY\"\ndefault_model = \"m\"\n\n\
         [providers.bare]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\ndefault_model = \"m\"\n",
        provider.url("/lite"),
        provider.url("/bare"),
    );
    home.write_config(&mock_config(&provider, &extra));
    let mut server = Server::start_with(&home, Framing::ContentLength, |command| {
        command.env("LITELLM_KEY", "sk-litellm-env-1234567890");
    });
    provider.push(Reply::sse(&support::provider::openai_stream(&["fine"])));
    let chat = ok(server.call(1, "chat/new", json!({"provider": "litellm"})));
    server.request(
        2,
        "chat/send",
        json!({"chatId": chat["chatId"], "content": "hi"}),
    );
    assert_eq!(ok(collect(&mut server, 2).1)["content"], "fine");
    assert_eq!(
        provider.seen()[0].header("authorization"),
        Some("Bearer sk-litellm-env-1234567890")
    );

    provider.push(Reply::json(
        500,
        "{\"error\":{\"message\":\"Authentication Error, no api key passed in\"}}",
    ));
    let chat = ok(server.call(3, "chat/new", json!({"provider": "bare"})));
    server.request(
        4,
        "chat/send",
        json!({"chatId": chat["chatId"], "content": "hi"}),
    );
    let failed = collect(&mut server, 4).1;
    assert_eq!(error_code(&failed), 1101, "{failed}");
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("no key was sent") && message.contains("if this server needs one"),
        "{message}"
    );
    assert_eq!(failed["error"]["data"]["action"], "setKey");
    assert_eq!(provider.seen()[1].header("authorization"), None);

    // Both editors show the key state in the doctor's words, from `providers/list`.
    let listed = ok(server.call(5, "providers/list", json!({})));
    let state = |name: &str| {
        listed["providers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["keyState"].clone())
            .unwrap()
    };
    assert_eq!(state("litellm"), "from $LITELLM_KEY", "{listed}");
    assert_eq!(state("bare"), "none needed", "{listed}");
    assert_eq!(
        state("openai"),
        "MISSING: store one for openai or set $OPENAI_API_KEY"
    );
    server.finish();
}

/// Item 5: `chinwag doctor` probes a local server's model list with its key and shows where
/// the key comes from; a server that fails the probe is a problem, not "answers".
#[test]
fn doctor_probes_local_servers_with_their_keys() {
    let with_vault_key = ProviderServer::start();
    let with_env_key = ProviderServer::start();
    let failing = ProviderServer::start();
    let home = Home::new();
    home.write_config(&format!(
        "{FAST_KDF}[chat]\nconnect_timeout_secs = 2\n\n\
         [providers.vaulted]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n\n\
         [providers.enved]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\napi_key_env = \"ENVED_KEY\"\n\n\
         [providers.keyless]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n",
        with_vault_key.url("/v1"),
        with_env_key.url("/v1"),
        failing.url("/v1"),
    ));
    let mut server = Server::start(&home, Framing::ContentLength);
    ok(server.call(
        1,
        "vault/setKey",
        json!({"provider": "vaulted", "key": KEY}),
    ));
    server.finish();

    with_vault_key.push(Reply::json(
        200,
        "{\"data\":[{\"id\":\"a\"},{\"id\":\"b\"}]}",
    ));
    with_env_key.push(Reply::json(200, "{\"data\":[{\"id\":\"a\"}]}"));
    failing.push(Reply::json(
        500,
        "{\"error\":{\"message\":\"no api key passed in\"}}",
    ));
    let output = home
        .command()
        .arg("doctor")
        .env("ENVED_KEY", "env-key-0123456789")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    let section = |name: &str| -> String {
        let start = report
            .find(&format!("  {name} ("))
            .unwrap_or_else(|| panic!("no {name} in {report}"));
        report[start..]
            .lines()
            .take(3)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let vaulted = section("vaulted");
    assert!(vaulted.contains("key:      from vault"), "{vaulted}");
    assert!(vaulted.contains("endpoint: ok (2 models)"), "{vaulted}");
    let enved = section("enved");
    assert!(enved.contains("key:      from $ENVED_KEY"), "{enved}");
    assert!(enved.contains("endpoint: ok (1 models)"), "{enved}");
    let keyless = section("keyless");
    assert!(keyless.contains("key:      none needed"), "{keyless}");
    assert!(
        keyless.contains("PROBLEM: HTTP 500") && keyless.contains("no key was sent"),
        "{keyless}"
    );
    assert_eq!(
        with_vault_key.seen()[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(
        with_env_key.seen()[0].header("authorization"),
        Some("Bearer env-key-0123456789")
    );
    assert!(!report.contains(KEY) && !report.contains("env-key-0123456789"));
}

/// Item 7: rewrites are kept in history but listed apart: `history/list` shows chats by
/// default, `kind: "rewrite"` the rewrites, `kind: "all"` both; every summary says its kind.
#[test]
fn rewrites_are_kept_but_listed_apart() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &mock_config(&provider, ""));
    ok(server.call(1, "vault/setKey", json!({"provider": "mock", "key": KEY})));
    provider.push(Reply::sse(&support::provider::openai_stream(&["Hello"])));
    let chat = ok(server.call(2, "chat/new", json!({})));
    server.request(
        3,
        "chat/send",
        json!({"chatId": chat["chatId"], "content": "hi"}),
    );
    ok(collect(&mut server, 3).1);
    provider.push(Reply::sse(&support::provider::openai_stream(&[
        "```rust\nfn a() {}\n```",
    ])));
    server.request(
        4,
        "chat/rewrite",
        json!({"instruction": "tidy", "region": {"text": "fn a(){}"}}),
    );
    let rewrite = ok(collect(&mut server, 4).1);

    let ids = |listing: &Value| -> Vec<(String, String)> {
        listing["chats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().to_string(),
                    c["kind"].as_str().unwrap_or("?").to_string(),
                )
            })
            .collect()
    };
    let chat_id = chat["chatId"].as_str().unwrap().to_string();
    let rewrite_id = rewrite["chatId"].as_str().unwrap().to_string();
    let default = ok(server.call(5, "history/list", json!({})));
    assert_eq!(
        ids(&default),
        [(chat_id.clone(), "chat".to_string())],
        "{default}"
    );
    assert_eq!(default["total"], 1);
    let rewrites = ok(server.call(6, "history/list", json!({"kind": "rewrite"})));
    assert_eq!(
        ids(&rewrites),
        [(rewrite_id.clone(), "rewrite".to_string())]
    );
    let all = ok(server.call(7, "history/list", json!({"kind": "all"})));
    assert_eq!(
        ids(&all),
        [
            (rewrite_id.clone(), "rewrite".to_string()),
            (chat_id, "chat".to_string())
        ]
    );
    assert_eq!(all["total"], 2);
    let bad = server.call(8, "history/list", json!({"kind": "everything"}));
    assert_eq!(error_code(&bad), -32602, "{bad}");
    let detail = ok(server.call(9, "history/get", json!({"chatId": rewrite_id})));
    assert_eq!(detail["kind"], "rewrite");
    server.finish();
}

/// A home whose vault has a password, with the scripted provider as `mock` and its key.
fn password_home(provider: &ProviderServer) -> Home {
    let home = Home::new();
    let mut server = start(&home, &mock_config(provider, ""));
    ok(server.call(1, "vault/setKey", json!({"provider": "mock", "key": KEY})));
    ok(server.call(
        2,
        "vault/setPassword",
        json!({"new": "correct horse battery"}),
    ));
    server.finish();
    home
}

/// Item 4: `chinwag chat` with a locked vault and no terminal says how to give the password.
#[test]
fn the_command_line_chat_without_a_terminal_says_how_to_give_the_password() {
    let provider = ProviderServer::start();
    let home = password_home(&provider);
    let output = home
        .command()
        .args(["chat", "--provider", "mock", "hello"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("CHINWAG_PASSWORD") && stderr.contains("password_command"),
        "{stderr}"
    );
    assert!(provider.seen().is_empty());

    // With the password in the environment it just works.
    provider.push(Reply::sse(&support::provider::openai_stream(&["Hi"])));
    let output = home
        .command()
        .args(["chat", "--provider", "mock", "hello"])
        .env("CHINWAG_PASSWORD", "correct horse battery")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "Hi\n");
}

/// Item 4: on a terminal (a pty from util-linux `script`), `chinwag chat` asks for the
/// password without echoing it, unlocks and answers.
#[test]
fn the_command_line_chat_asks_for_the_password_on_a_terminal() {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no `script` (util-linux) to make a pty");
        return;
    }
    let provider = ProviderServer::start();
    let home = password_home(&provider);
    provider.push(Reply::sse(&support::provider::openai_stream(&[
        "Unlocked ",
        "answer",
    ])));
    let chinwag = env!("CARGO_BIN_EXE_chinwag");
    let mut child = home
        .command_for("script")
        .args([
            "-qec",
            &format!("{chinwag} chat --provider mock hello"),
            "/dev/null",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 1024];
            while let Ok(n) = stdout.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                seen.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        })
    };
    let text = || String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    let deadline = std::time::Instant::now() + support::TIMEOUT;
    while !text().contains("vault password: ") {
        assert!(
            std::time::Instant::now() < deadline,
            "no prompt: {:?}",
            text()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"correct horse battery\n").unwrap();
    stdin.flush().unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    let output = text();
    assert!(status.success(), "{output}");
    assert!(output.contains("Unlocked answer"), "{output}");
    assert!(
        !output.contains("correct horse"),
        "the password was echoed: {output}"
    );
}

/// Item 2: a line that is not TOML breaks only the table it is in.
#[test]
fn a_line_that_is_not_toml_breaks_only_its_table() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let config = mock_config(
        &provider,
        "[providers.local]\nkind = \"ollama\"\nbase_url = \"http://127.0.0.1:1\n",
    );
    let mut server = start(&home, &config);
    let init = ok(server.call(1, "initialize", json!({})));
    let errors = init["config"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{init}");
    assert_eq!(errors[0]["key"], "providers.local");
    assert!(errors[0]["line"].as_u64().unwrap() > 1, "{init}");
    assert_eq!(init["config"]["defaultUsable"], true);
    let chat = ok(server.call(2, "chat/new", json!({})));
    assert_eq!(chat["provider"], "mock");
    let refused = server.call(3, "chat/new", json!({"provider": "local"}));
    assert_eq!(error_code(&refused), 1401, "{refused}");
    assert_eq!(refused["error"]["data"]["key"], "providers.local");
    server.finish();
}

/// Item 2: `chinwag chat` without `--provider` refuses a broken default and says where it is.
#[test]
fn the_command_line_chat_refuses_a_broken_default() {
    let provider = ProviderServer::start();
    let home = Home::new();
    home.write_config(&mock_config(&provider, "").replace(
        "default_provider = \"mock\"\n",
        "default_provider = \"mock\"\ndefault_model = \"two words\"\n",
    ));
    let output = home
        .command()
        .args(["chat", "hello"])
        .env("OPENAI_API_KEY", "sk-should-never-be-used-0123456789")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("default_model")
            && stderr.contains("line 2")
            && stderr.contains("--provider"),
        "{stderr}"
    );
    assert!(provider.seen().is_empty());
}
