//! Conversations as trees, through the real binary against a scripted provider on 127.0.0.1:
//! regenerate (with another model or provider), edit, switch, retry after a failed turn, sends
//! from two processes with stale views, export and import of trees, and stores written before
//! trees existed.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::provider::{ProviderServer, Reply, openai_stream};
use support::{FAST_KDF, Framing, Home, Server, copy_dir, error_code, ok};

fn config(provider: &ProviderServer) -> String {
    format!(
        "default_provider = \"mock\"\n{FAST_KDF}\
         [chat]\nidle_timeout_secs = 5\n\n\
         [providers.mock]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\ndefault_model = \"mock-model\"\n\n\
         [providers.claude]\nkind = \"anthropic\"\nbase_url = \"{}\"\ndefault_model = \"claude-test\"\n",
        provider.url("/v1"),
        provider.url("/v1"),
    )
}

fn start(home: &Home, provider: &ProviderServer) -> Server {
    home.write_config(&config(provider));
    let mut server = Server::start(home, Framing::ContentLength);
    ok(server.call(
        9000,
        "vault/setKey",
        json!({"provider": "mock", "key": "mock-key-tree-0123456789"}),
    ));
    server
}

/// Queue an answer and send one message after `parent` (the current leaf when null).
fn say(
    server: &mut Server,
    provider: &ProviderServer,
    id: i64,
    chat: &str,
    parent: Value,
    text: &str,
) -> Value {
    provider.push(Reply::sse(&openai_stream(&[&format!("answer to {text}")])));
    ok(server.call(
        id,
        "chat/send",
        json!({"chatId": chat, "content": text, "parentId": parent}),
    ))
}

/// The conversation the provider was sent in request `n`, as `role: content` lines.
fn sent(provider: &ProviderServer, n: usize) -> Vec<String> {
    provider.seen()[n].json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}: {}",
                m["role"].as_str().unwrap(),
                m["content"].as_str().unwrap()
            )
        })
        .collect()
}

/// The current branch's contents.
fn branch(detail: &Value) -> Vec<String> {
    detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect()
}

fn get(server: &mut Server, id: i64, chat: &str) -> Value {
    ok(server.call(id, "history/get", json!({"chatId": chat})))
}

fn new_chat(server: &mut Server, id: i64) -> String {
    ok(server.call(id, "chat/new", json!({})))["chatId"]
        .as_str()
        .unwrap()
        .to_string()
}

fn id_of(value: &Value, field: &str) -> String {
    value[field].as_str().unwrap().to_string()
}

#[test]
fn regenerate_edit_and_switch_keep_every_branch() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let chat = new_chat(&mut server, 1);
    let a1 = say(&mut server, &provider, 2, &chat, Value::Null, "Q1");
    let a2 = say(
        &mut server,
        &provider,
        3,
        &chat,
        json!(a1["messageId"]),
        "Q2",
    );
    assert_eq!(a2["provider"], "mock");
    assert_eq!(a2["model"], "mock-model");
    assert_eq!(
        a2["userMessageId"],
        get(&mut server, 4, &chat)["messages"][2]["id"]
    );

    // Regenerate the last answer with another model: the model sees the branch up to Q2,
    // not the answer it replaces; both answers stay.
    provider.push(Reply::sse(&openai_stream(&["second opinion"])));
    let a2b = ok(server.call(
        5,
        "chat/regenerate",
        json!({"chatId": chat, "model": "other-model"}),
    ));
    assert_eq!(
        sent(&provider, 2),
        ["user: Q1", "assistant: answer to Q1", "user: Q2"]
    );
    assert_eq!(provider.seen()[2].json()["model"], "other-model");
    assert_eq!(a2b["model"], "other-model");
    assert_eq!(a2b["userMessageId"], a2["userMessageId"]);
    let detail = get(&mut server, 6, &chat);
    assert_eq!(
        branch(&detail),
        ["Q1", "answer to Q1", "Q2", "second opinion"]
    );
    let last = &detail["messages"][3];
    assert_eq!(last["siblings"], json!([a2["messageId"], a2b["messageId"]]));
    assert_eq!(last["parentId"], a2["userMessageId"]);
    assert_eq!(last["model"], "other-model");
    assert_eq!(last["provider"], "mock");
    assert_eq!(last["finishReason"], "stop");
    assert!(last["timings"]["totalMs"].is_u64());
    assert_eq!(detail["leafId"], a2b["messageId"]);
    // A comparison does not change the chat's own model.
    assert_eq!(detail["model"], "mock-model");
    assert!(detail["messages"][0]["parentId"].is_null());
    assert!(detail["messages"][0].get("provider").is_none());

    // Switch back to the first answer.
    let switched = ok(server.call(
        7,
        "chat/switch",
        json!({"chatId": chat, "messageId": a2["messageId"]}),
    ));
    assert_eq!(
        branch(&switched),
        ["Q1", "answer to Q1", "Q2", "answer to Q2"]
    );
    assert_eq!(switched["leafId"], a2["messageId"]);
    assert_eq!(
        branch(&get(&mut server, 8, &chat)),
        branch(&switched),
        "the switch is saved"
    );

    // Edit the first question: a new branch from the top, sent alone.
    let q1 = id_of(&switched["messages"][0], "id");
    provider.push(Reply::sse(&openai_stream(&["fresh start"])));
    let edited = ok(server.call(
        9,
        "chat/edit",
        json!({"chatId": chat, "messageId": q1, "content": "Q1, better"}),
    ));
    assert_eq!(sent(&provider, 3), ["user: Q1, better"]);
    let detail = get(&mut server, 10, &chat);
    assert_eq!(branch(&detail), ["Q1, better", "fresh start"]);
    assert_eq!(
        detail["messages"][0]["siblings"],
        json!([q1, edited["userMessageId"]])
    );
    assert_eq!(detail["messageCount"], 7);

    // Back to the old question: its branch returns where it was last continued (the newest
    // message below it, the regenerated answer).
    let back = ok(server.call(11, "chat/switch", json!({"chatId": chat, "messageId": q1})));
    assert_eq!(
        branch(&back),
        ["Q1", "answer to Q1", "Q2", "second opinion"]
    );

    // The next send continues the current branch and sees only it.
    say(
        &mut server,
        &provider,
        12,
        &chat,
        json!(a2b["messageId"]),
        "Q3",
    );
    assert_eq!(
        sent(&provider, 4),
        [
            "user: Q1",
            "assistant: answer to Q1",
            "user: Q2",
            "assistant: second opinion",
            "user: Q3"
        ]
    );

    // Search covers every branch.
    let found = ok(server.call(13, "history/search", json!({"query": "fresh start"})));
    assert_eq!(found["results"][0]["chatId"], chat.as_str());
}

#[test]
fn regenerate_with_another_provider_is_a_comparison() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    ok(server.call(
        1,
        "vault/setKey",
        json!({"provider": "claude", "key": format!("sk-ant-api03-{}", "b".repeat(40))}),
    ));
    let chat = new_chat(&mut server, 2);
    let first = say(
        &mut server,
        &provider,
        3,
        &chat,
        Value::Null,
        "Which is faster?",
    );
    provider.push(Reply::sse(concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Claude says\"}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
    )));
    let second = ok(server.call(
        4,
        "chat/regenerate",
        json!({"chatId": chat, "messageId": first["messageId"], "provider": "claude"}),
    ));
    assert_eq!(provider.seen()[1].path, "/v1/messages");
    assert_eq!(
        provider.seen()[1].json()["messages"],
        json!([{"role": "user", "content": "Which is faster?"}])
    );
    assert_eq!(
        (second["provider"].as_str(), second["model"].as_str()),
        (Some("claude"), Some("claude-test"))
    );
    assert_eq!(second["finishReason"], "end_turn");
    let detail = get(&mut server, 5, &chat);
    let answer = &detail["messages"][1];
    assert_eq!(answer["content"], "Claude says");
    assert_eq!(answer["provider"], "claude");
    assert_eq!(answer["siblings"].as_array().unwrap().len(), 2);
    // The other answer is still there, with who wrote it.
    let other = ok(server.call(
        6,
        "chat/switch",
        json!({"chatId": chat, "messageId": first["messageId"]}),
    ));
    assert_eq!(other["messages"][1]["provider"], "mock");
    assert_eq!(other["messages"][1]["model"], "mock-model");
    assert_eq!(other["provider"], "mock", "the chat keeps its provider");
}

#[test]
fn a_failed_turn_is_not_sent_again_and_retrying_it_is_a_regenerate() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let chat = new_chat(&mut server, 1);
    let a1 = say(&mut server, &provider, 2, &chat, Value::Null, "Q1");
    provider.push(Reply::json(500, r#"{"error":{"message":"overloaded"}}"#));
    let failed = server.call(
        3,
        "chat/send",
        json!({"chatId": chat, "content": "Q2", "parentId": a1["messageId"]}),
    );
    assert_eq!(error_code(&failed), 1101);
    let data = &failed["error"]["data"];
    let failed_answer = data["messageId"].as_str().unwrap().to_string();
    let q2 = data["userMessageId"].as_str().unwrap().to_string();
    let detail = get(&mut server, 4, &chat);
    assert_eq!(detail["messages"][3]["status"], "error");
    assert_eq!(detail["messages"][2]["id"], q2.as_str());

    // Going on from the failed turn: the model never sees Q2, nor two user messages in a row.
    say(&mut server, &provider, 5, &chat, json!(failed_answer), "Q3");
    assert_eq!(
        sent(&provider, 2),
        ["user: Q1", "assistant: answer to Q1", "user: Q3"]
    );

    // Retrying the failed turn answers Q2 again, beside the error.
    provider.push(Reply::sse(&openai_stream(&["it works now"])));
    let retried = ok(server.call(
        6,
        "chat/regenerate",
        json!({"chatId": chat, "messageId": failed_answer}),
    ));
    assert_eq!(
        sent(&provider, 3),
        ["user: Q1", "assistant: answer to Q1", "user: Q2"]
    );
    assert_eq!(retried["userMessageId"], q2.as_str());
    let detail = get(&mut server, 7, &chat);
    assert_eq!(
        branch(&detail),
        ["Q1", "answer to Q1", "Q2", "it works now"]
    );
    assert_eq!(
        detail["messages"][3]["siblings"],
        json!([failed_answer, retried["messageId"]])
    );
}

#[test]
fn unknown_messages_and_impossible_turns_are_refused_and_change_nothing() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let chat = new_chat(&mut server, 1);
    let nothing = server.call(2, "chat/regenerate", json!({"chatId": chat}));
    assert_eq!(error_code(&nothing), -32602, "{nothing}");
    let a1 = say(&mut server, &provider, 3, &chat, Value::Null, "Q1");
    let missing = "0123456789abcdef0123456789abcdef";
    for (id, method, params) in [
        (
            4,
            "chat/switch",
            json!({"chatId": chat, "messageId": missing}),
        ),
        (
            5,
            "chat/send",
            json!({"chatId": chat, "content": "x", "parentId": missing}),
        ),
        (
            6,
            "chat/edit",
            json!({"chatId": chat, "messageId": missing, "content": "x"}),
        ),
        (
            7,
            "chat/regenerate",
            json!({"chatId": chat, "messageId": missing}),
        ),
    ] {
        let response = server.call(id, method, params);
        assert_eq!(error_code(&response), 1201, "{method}: {response}");
        assert_eq!(response["error"]["data"]["what"], "message", "{method}");
    }
    let answer_edit = server.call(
        8,
        "chat/edit",
        json!({"chatId": chat, "messageId": a1["messageId"], "content": "x"}),
    );
    assert_eq!(error_code(&answer_edit), -32602, "{answer_edit}");
    assert_eq!(provider.seen().len(), 1, "nothing was sent");
    assert_eq!(get(&mut server, 9, &chat)["messageCount"], 2);
}

#[test]
fn a_stale_view_in_another_process_branches_from_what_it_shows() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut one = start(&home, &provider);
    let mut two = Server::start(&home, Framing::ContentLength);
    let chat = new_chat(&mut one, 1);
    let a1 = say(&mut one, &provider, 2, &chat, Value::Null, "Q1");
    // The second editor shows the chat as it is now.
    let shown = get(&mut two, 3, &chat);
    let last_shown = shown["leafId"].clone();
    assert_eq!(last_shown, a1["messageId"]);
    // The first editor goes on.
    say(
        &mut one,
        &provider,
        4,
        &chat,
        json!(a1["messageId"]),
        "Q2 from one",
    );
    // The second sends from its stale view: the model is sent what it shows, not Q2.
    say(&mut two, &provider, 5, &chat, last_shown, "Q2 from two");
    assert_eq!(
        sent(&provider, 2),
        ["user: Q1", "assistant: answer to Q1", "user: Q2 from two"]
    );
    // Both turns are kept, as siblings; the newest is current in both processes.
    for server in [&mut one, &mut two] {
        let detail = get(server, 6, &chat);
        assert_eq!(
            branch(&detail),
            ["Q1", "answer to Q1", "Q2 from two", "answer to Q2 from two"]
        );
        assert_eq!(
            detail["messages"][2]["siblings"].as_array().unwrap().len(),
            2
        );
    }
}

#[test]
fn switching_while_an_answer_streams_keeps_the_branch_the_user_chose() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let chat = new_chat(&mut server, 1);
    let a1 = say(&mut server, &provider, 2, &chat, Value::Null, "Q1");
    let q1 = id_of(&a1, "userMessageId");
    provider.push(Reply::sse(&openai_stream(&["other"])));
    let other = ok(server.call(
        3,
        "chat/edit",
        json!({"chatId": chat, "messageId": q1, "content": "Q1 again"}),
    ));
    // A slow answer on the first branch; while it streams the user switches to the other.
    ok(server.call(4, "chat/switch", json!({"chatId": chat, "messageId": q1})));
    provider.push(
        Reply::sse(&openai_stream(&["slow", " answer", " here"])).paced(Duration::from_millis(200)),
    );
    server.request(
        5,
        "chat/send",
        json!({"chatId": chat, "content": "Q2", "parentId": a1["messageId"]}),
    );
    provider.wait_for("the slow request", |p| p.seen().len() == 3);
    ok(server.call(
        6,
        "chat/switch",
        json!({"chatId": chat, "messageId": other["messageId"]}),
    ));
    let slow = ok(server.response_to(5));
    let detail = get(&mut server, 7, &chat);
    assert_eq!(branch(&detail), ["Q1 again", "other"]);
    // The answer is saved on its own branch.
    let there = ok(server.call(
        8,
        "chat/switch",
        json!({"chatId": chat, "messageId": slow["messageId"]}),
    ));
    assert_eq!(
        branch(&there),
        ["Q1", "answer to Q1", "Q2", "slow answer here"]
    );
}

#[test]
fn json_exports_keep_the_tree_and_import_reads_it_back() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let chat = new_chat(&mut server, 1);
    let a1 = say(&mut server, &provider, 2, &chat, Value::Null, "Q1");
    provider.push(Reply::sse(&openai_stream(&["another take"])));
    let a1b = ok(server.call(
        3,
        "chat/regenerate",
        json!({"chatId": chat, "model": "model-b"}),
    ));
    say(
        &mut server,
        &provider,
        4,
        &chat,
        json!(a1b["messageId"]),
        "Q2",
    );
    let before = get(&mut server, 5, &chat);

    let path = home.path().join("tree.json");
    ok(server.call(
        6,
        "history/export",
        json!({"chatId": chat, "format": "json", "path": path}),
    ));
    let file: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(file["version"], 2);
    let exported = &file["chats"][0];
    assert_eq!(exported["messages"].as_array().unwrap().len(), 5);
    assert_eq!(exported["leafId"], before["leafId"]);
    assert!(exported["messages"][0]["parentId"].is_null());
    assert!(
        exported["messages"]
            .as_array()
            .unwrap()
            .iter()
            .skip(1)
            .all(|m| m["parentId"].is_string())
    );

    let markdown = home.path().join("tree.md");
    ok(server.call(
        7,
        "history/export",
        json!({"chatId": chat, "format": "markdown", "path": markdown}),
    ));
    let text = std::fs::read_to_string(&markdown).unwrap();
    assert!(text.contains("another take"), "{text}");
    assert!(
        !text.contains("answer to Q1"),
        "only the current branch: {text}"
    );
    assert!(text.contains("answer 2 of 2"), "{text}");
    assert!(text.contains("## Assistant (mock/model-b)"), "{text}");

    // Into a fresh home: the same tree, the same current branch, the other branch reachable.
    let elsewhere = Home::new();
    let mut fresh = start(&elsewhere, &provider);
    let copy = elsewhere.path().join("tree.json");
    std::fs::copy(&path, &copy).unwrap();
    let imported = ok(fresh.call(8, "history/import", json!({"path": copy})));
    assert_eq!(imported["imported"], 1);
    let after = get(&mut fresh, 9, &chat);
    assert_eq!(after["messages"], before["messages"]);
    let old = ok(fresh.call(
        10,
        "chat/switch",
        json!({"chatId": chat, "messageId": a1["messageId"]}),
    ));
    assert_eq!(branch(&old), ["Q1", "answer to Q1"]);

    // A link to nowhere is refused, naming the field; nothing is imported.
    let mut broken = file.clone();
    broken["chats"][0]["id"] = json!("fedcba9876543210fedcba9876543210");
    broken["chats"][0]["messages"][2]["parentId"] = json!("00000000000000000000000000000bad");
    let bad = elsewhere.path().join("broken.json");
    std::fs::write(&bad, broken.to_string()).unwrap();
    let refused = fresh.call(11, "history/import", json!({"path": bad}));
    assert_eq!(error_code(&refused), -32602);
    assert_eq!(
        refused["error"]["data"]["field"],
        "chats[0].messages[2].parentId"
    );
    let mut looped = file;
    looped["chats"][0]["id"] = json!("fedcba9876543210fedcba9876543211");
    let first = looped["chats"][0]["messages"][1]["id"].clone();
    looped["chats"][0]["messages"][0]["parentId"] = first;
    let bad = elsewhere.path().join("looped.json");
    std::fs::write(&bad, looped.to_string()).unwrap();
    let refused = fresh.call(12, "history/import", json!({"path": bad}));
    assert_eq!(error_code(&refused), -32602, "{refused}");
    assert_eq!(ok(fresh.call(13, "history/list", json!({})))["total"], 1);
}

/// A store written by commit 572ac08, before trees: see `tests/fixtures/linear-572ac08`.
fn linear_fixture(home: &Home) {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/linear-572ac08/localkey");
    copy_dir(&fixture, home.path());
}

#[test]
fn a_store_written_before_trees_opens_as_one_branch() {
    let provider = ProviderServer::start();
    let home = Home::new();
    linear_fixture(&home);
    let mut server = start(&home, &provider);
    let chat = "00000000000000000000000000def001";
    let detail = get(&mut server, 1, chat);
    let messages = detail["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 6);
    for (i, message) in messages.iter().enumerate() {
        assert!(
            message["content"]
                .as_str()
                .unwrap()
                .contains(&format!("message {i}"))
                || i == 3
        );
        assert_eq!(message["siblings"], json!([message["id"]]));
        let parent = if i == 0 {
            Value::Null
        } else {
            messages[i - 1]["id"].clone()
        };
        assert_eq!(message["parentId"], parent);
    }
    assert_eq!(messages[3]["status"], "error");
    assert_eq!(detail["leafId"], messages[5]["id"]);

    // Going on (with the test provider): the failed turn (messages 2 and 3) is left out of
    // what the model sees.
    ok(server.call(
        20,
        "chat/configure",
        json!({"chatId": chat, "provider": "mock"}),
    ));
    say(
        &mut server,
        &provider,
        2,
        chat,
        messages[5]["id"].clone(),
        "new question",
    );
    let lines = sent(&provider, 0);
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert!(lines[0].contains("LINEARCANARY10") && lines[1].contains("LINEARCANARY11"));
    assert!(lines[2].contains("LINEARCANARY14") && lines[3].contains("LINEARCANARY15"));
    assert_eq!(lines[4], "user: new question");
    assert_eq!(
        get(&mut server, 3, chat)["messages"]
            .as_array()
            .unwrap()
            .len(),
        8
    );

    // Editing the first message of the old chat starts a branch at the top; switching back
    // finds the old line whole.
    provider.push(Reply::sse(&openai_stream(&["edited answer"])));
    ok(server.call(
        5,
        "chat/edit",
        json!({"chatId": chat, "messageId": messages[0]["id"], "content": "first, edited"}),
    ));
    let edited = get(&mut server, 6, chat);
    assert_eq!(branch(&edited), ["first, edited", "edited answer"]);
    assert_eq!(
        edited["messages"][0]["siblings"].as_array().unwrap().len(),
        2
    );
    let back = ok(server.call(
        7,
        "chat/switch",
        json!({"chatId": chat, "messageId": messages[0]["id"]}),
    ));
    assert_eq!(back["messages"].as_array().unwrap().len(), 8);

    // The other chat, never touched, still reads as before after a restart.
    drop(server);
    let mut again = start(&home, &provider);
    let untouched = get(&mut again, 8, "00000000000000000000000000def000");
    assert_eq!(untouched["messages"].as_array().unwrap().len(), 4);
    assert!(
        untouched["messages"][3]["content"]
            .as_str()
            .unwrap()
            .contains("LINEARCANARY03")
    );
}

#[test]
fn a_cancelled_regenerate_is_kept_beside_the_first_answer_and_its_text_is_context() {
    let provider = ProviderServer::start();
    let home = Home::new();
    let mut server = start(&home, &provider);
    let chat = new_chat(&mut server, 1);
    let first = say(&mut server, &provider, 2, &chat, Value::Null, "Q1");
    let many: Vec<String> = (0..200).map(|i| format!("tok{i} ")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    provider.push(
        Reply::sse(&openai_stream(&many))
            .in_pieces(vec![40])
            .paced(Duration::from_millis(20)),
    );
    server.request(3, "chat/regenerate", json!({"chatId": chat}));
    let delta = server.recv();
    assert_eq!(delta["method"], "chat/delta", "{delta}");
    ok(server.call(4, "chat/cancel", json!({"chatId": chat})));
    let cancelled = server.response_to(3);
    assert_eq!(error_code(&cancelled), -32800, "{cancelled}");
    let data = &cancelled["error"]["data"];
    assert_eq!(data["userMessageId"], first["userMessageId"]);
    let detail = get(&mut server, 5, &chat);
    let partial = &detail["messages"][1];
    assert_eq!(partial["id"], data["messageId"]);
    assert_eq!(partial["status"], "cancelled");
    assert_eq!(
        partial["siblings"],
        json!([first["messageId"], data["messageId"]])
    );
    // The user saw the partial answer and went on: it is part of what the model is sent.
    say(
        &mut server,
        &provider,
        6,
        &chat,
        data["messageId"].clone(),
        "Q2",
    );
    let lines = sent(&provider, 2);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[1].starts_with("assistant: tok0 "), "{lines:?}");
}
