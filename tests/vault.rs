//! The key vault, through the real binary: protection, passwords, keys, tamper and reset.

mod support;

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};
use support::{FAST_KDF, Framing, Home, Server, error_code};

const PASSWORD: &str = "correct horse battery";

fn ok(response: Value) -> Value {
    assert!(
        response.get("error").is_none(),
        "unexpected error: {response}"
    );
    response["result"].clone()
}

fn start(home: &Home) -> Server {
    Server::start(home, Framing::Ndjson)
}

fn openai_key(tail: &str) -> String {
    format!("sk-proj-{}{tail}", "x".repeat(40))
}

#[test]
fn a_new_vault_uses_a_private_local_key_file_and_says_it_is_weaker() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = start(&home);
    let init = ok(server.call(1, "initialize", json!({})));
    assert_eq!(init["vault"]["state"], "unlocked");
    assert_eq!(init["vault"]["protection"], "localKey");
    assert!(
        init["vault"]["warning"]
            .as_str()
            .unwrap()
            .contains("key file")
    );
    let key_file = home.config_dir().join("vault.key");
    assert_eq!(std::fs::metadata(&key_file).unwrap().len(), 32);
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    server.finish();
}

#[test]
fn keys_are_validated_stored_masked_and_deleted() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = start(&home);
    let key = openai_key("a1b2");
    let result = ok(server.call(1, "vault/setKey", json!({"provider": "openai", "key": key})));
    assert_eq!(result["masked"], "sk-proj-...a1b2");

    let wrong = server.call(2, "vault/setKey", json!({"provider": "groq", "key": key}));
    assert_eq!(error_code(&wrong), 1004);
    assert!(
        !wrong.to_string().contains(&key),
        "the key leaked into an error"
    );
    let unknown = server.call(3, "vault/setKey", json!({"provider": "nope", "key": "abc"}));
    assert_eq!(error_code(&unknown), 1201);

    let listed = ok(server.call(4, "vault/listKeys", json!({})));
    assert_eq!(
        listed["keys"],
        json!([{"provider": "openai", "masked": "sk-proj-...a1b2", "source": "vault"}])
    );
    assert!(!listed.to_string().contains(&key));

    // Replacing keeps one key per provider.
    ok(server.call(
        5,
        "vault/setKey",
        json!({"provider": "openai", "key": openai_key("c3d4")}),
    ));
    let listed = ok(server.call(6, "vault/listKeys", json!({})));
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1);
    assert_eq!(listed["keys"][0]["masked"], "sk-proj-...c3d4");

    assert_eq!(
        ok(server.call(7, "vault/deleteKey", json!({"provider": "openai"})))["deleted"],
        true
    );
    assert_eq!(
        ok(server.call(8, "vault/deleteKey", json!({"provider": "openai"})))["deleted"],
        false
    );
    assert_eq!(
        ok(server.call(9, "vault/listKeys", json!({})))["keys"],
        json!([])
    );
    server.finish();
}

#[test]
fn environment_keys_are_listed_masked() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = Server::start_with(&home, Framing::Ndjson, |c| {
        c.env("GROQ_API_KEY", format!("gsk_{}9f00", "z".repeat(44)));
    });
    let listed = ok(server.call(1, "vault/listKeys", json!({})));
    assert_eq!(
        listed["keys"],
        json!([{"provider": "groq", "masked": "gsk_...9f00", "source": "env", "env": "GROQ_API_KEY"}])
    );
    server.finish();
}

#[test]
fn a_password_locks_the_vault_across_restarts_and_wrong_ones_change_nothing() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = start(&home);
    let key = openai_key("e5f6");
    ok(server.call(1, "vault/setKey", json!({"provider": "openai", "key": key})));
    let weak = server.call(2, "vault/setPassword", json!({"new": "short"}));
    assert_eq!(error_code(&weak), -32602);
    let status = ok(server.call(3, "vault/setPassword", json!({"new": PASSWORD})));
    assert_eq!(status["protection"], "password");
    assert_eq!(status["warning"], Value::Null);
    server.finish();

    let mut server = start(&home);
    assert_eq!(
        ok(server.call(1, "vault/status", json!({})))["state"],
        "locked"
    );
    let locked = server.call(2, "vault/listKeys", json!({}));
    assert_eq!(error_code(&locked), 1001);
    assert_eq!(error_code(&server.call(3, "history/list", json!({}))), 1001);

    let before = home.snapshot();
    for id in 10..13 {
        let wrong = server.call(
            id,
            "vault/unlock",
            json!({"password": format!("wrong-{id}-password")}),
        );
        assert_eq!(error_code(&wrong), 1002);
        assert!(
            !wrong.to_string().contains("wrong-"),
            "the password leaked: {wrong}"
        );
    }
    assert!(home.snapshot() == before, "a wrong password changed a file");

    assert_eq!(
        ok(server.call(20, "vault/unlock", json!({"password": PASSWORD})))["state"],
        "unlocked"
    );
    assert_eq!(
        ok(server.call(21, "vault/listKeys", json!({})))["keys"][0]["masked"],
        "sk-proj-...e5f6"
    );
    assert_eq!(
        ok(server.call(22, "vault/lock", json!({})))["state"],
        "locked"
    );
    assert_eq!(
        error_code(&server.call(23, "vault/listKeys", json!({}))),
        1001
    );
    server.finish();
}

#[test]
fn changing_the_password_makes_the_old_one_fail() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = start(&home);
    ok(server.call(1, "vault/setPassword", json!({"new": PASSWORD})));
    let missing = server.call(2, "vault/setPassword", json!({"new": "another password"}));
    assert_eq!(
        error_code(&missing),
        1002,
        "changing needs the current password"
    );
    let bad = server.call(
        3,
        "vault/setPassword",
        json!({"current": "not it at all", "new": "another password"}),
    );
    assert_eq!(error_code(&bad), 1002);
    ok(server.call(
        4,
        "vault/setPassword",
        json!({"current": PASSWORD, "new": "another password"}),
    ));
    server.finish();

    let mut server = start(&home);
    assert_eq!(
        error_code(&server.call(1, "vault/unlock", json!({"password": PASSWORD}))),
        1002
    );
    ok(server.call(2, "vault/unlock", json!({"password": "another password"})));
    // Removing the password falls back to the key file.
    let status = ok(server.call(
        3,
        "vault/setPassword",
        json!({"current": "another password", "new": null}),
    ));
    assert_eq!(status["protection"], "localKey");
    server.finish();
    // Without a password the vault opens by itself after a restart.
    let mut server = start(&home);
    assert_eq!(
        ok(server.call(1, "vault/status", json!({})))["state"],
        "unlocked"
    );
    ok(server.call(2, "vault/listKeys", json!({})));
    server.finish();
}

#[test]
fn password_from_environment_or_command_unlocks_without_asking() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = start(&home);
    ok(server.call(1, "vault/setPassword", json!({"new": PASSWORD})));
    server.finish();

    let mut server = Server::start_with(&home, Framing::Ndjson, |c| {
        c.env("CHINWAG_PASSWORD", PASSWORD);
    });
    ok(server.call(1, "vault/listKeys", json!({})));
    server.finish();

    home.write_config(&format!(
        "{FAST_KDF}password_command = \"printf '{PASSWORD}\\\\n'\"\n"
    ));
    let mut server = start(&home);
    let init = ok(server.call(1, "initialize", json!({})));
    assert_eq!(init["config"]["error"], Value::Null, "{init}");
    ok(server.call(2, "vault/listKeys", json!({})));
    server.finish();

    home.write_config(&format!("{FAST_KDF}password_command = \"exit 1\"\n"));
    let mut server = start(&home);
    assert_eq!(
        error_code(&server.call(1, "vault/listKeys", json!({}))),
        1001
    );
    ok(server.call(2, "vault/unlock", json!({"password": PASSWORD})));
    server.finish();
}

#[test]
fn reset_needs_confirmation_and_wipes_keys_and_history() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = start(&home);
    ok(server.call(
        1,
        "vault/setKey",
        json!({"provider": "openai", "key": openai_key("0000")}),
    ));
    let export = home.write_export("one.json", &[("kept", &[("user", "hi")])]);
    ok(server.call(2, "history/import", json!({"path": export})));
    ok(server.call(3, "vault/setPassword", json!({"new": PASSWORD})));
    server.finish();

    let mut server = start(&home);
    assert_eq!(error_code(&server.call(1, "vault/reset", json!({}))), 1403);
    let status = ok(server.call(2, "vault/reset", json!({"confirm": true})));
    assert_eq!(status["state"], "unlocked");
    assert_eq!(status["protection"], "localKey");
    assert_eq!(
        ok(server.call(3, "vault/listKeys", json!({})))["keys"],
        json!([])
    );
    assert_eq!(ok(server.call(4, "history/list", json!({})))["total"], 0);
    server.finish();
}

#[test]
fn rotating_the_data_key_keeps_everything_readable() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = start(&home);
    ok(server.call(
        1,
        "vault/setKey",
        json!({"provider": "openai", "key": openai_key("7777")}),
    ));
    let export = home.write_export(
        "two.json",
        &[
            ("first", &[("user", "alpha")]),
            ("second", &[("user", "beta"), ("assistant", "gamma")]),
        ],
    );
    ok(server.call(2, "history/import", json!({"path": export})));
    ok(server.call(3, "vault/setPassword", json!({"new": PASSWORD})));
    assert_eq!(
        error_code(&server.call(4, "vault/rotateKey", json!({"password": PASSWORD}))),
        1403
    );
    assert_eq!(
        error_code(&server.call(5, "vault/rotateKey", json!({"confirm": true}))),
        1002
    );
    let rotated = ok(server.call(
        6,
        "vault/rotateKey",
        json!({"confirm": true, "password": PASSWORD}),
    ));
    assert_eq!(
        rotated["records"], 5,
        "2 chats + 3 messages (keys live in the vault file)"
    );
    server.finish();

    let mut server = start(&home);
    ok(server.call(1, "vault/unlock", json!({"password": PASSWORD})));
    assert_eq!(
        ok(server.call(2, "vault/listKeys", json!({})))["keys"][0]["masked"],
        "sk-proj-...7777"
    );
    let hits = ok(server.call(3, "history/search", json!({"query": "GAMMA"})));
    assert_eq!(hits["results"][0]["title"], "second");
    server.finish();
}

#[test]
fn a_tampered_record_gives_an_integrity_error_not_a_panic() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = start(&home);
    let export = home.write_export("t.json", &[("tamper me", &[("user", "hello")])]);
    ok(server.call(1, "history/import", json!({"path": export})));
    let chat_id = ok(server.call(2, "history/list", json!({})))["chats"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    server.finish();

    {
        use chinwag::store::Backend;
        use chinwag::store::sled_backend::SledBackend;
        use chinwag::store::{Op, Tree};
        let db = SledBackend::open(&home.data_dir().join("store"), 1 << 20).unwrap();
        let mut value = db.get(Tree::Chats, chat_id.as_bytes()).unwrap().unwrap();
        let middle = value.len() / 2;
        value[middle] ^= 0x01;
        db.apply(vec![Op::Insert {
            tree: Tree::Chats,
            key: chat_id.as_bytes().to_vec(),
            value,
        }])
        .unwrap();
    }

    let mut server = start(&home);
    let response = server.call(1, "history/get", json!({"chatId": chat_id}));
    assert_eq!(error_code(&response), 1003, "{response}");
    // The listing names the damaged chat apart instead of failing or hiding it.
    let listing = ok(server.call(2, "history/list", json!({})));
    assert_eq!(listing["total"], 1, "{listing}");
    assert_eq!(listing["damaged"][0]["id"], json!(chat_id), "{listing}");
    // Everything else still works.
    ok(server.call(3, "vault/status", json!({})));
    ok(server.call(4, "history/delete", json!({"chatId": chat_id})));
    assert_eq!(ok(server.call(5, "history/list", json!({})))["total"], 0);
    server.finish();
}

#[test]
fn a_missing_key_file_is_a_clear_error() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut server = start(&home);
    ok(server.call(1, "vault/status", json!({})));
    server.finish();
    std::fs::remove_file(home.config_dir().join("vault.key")).unwrap();
    let mut server = start(&home);
    let response = server.call(1, "vault/listKeys", json!({}));
    assert_eq!(error_code(&response), 1003);
    assert!(
        response["error"]["message"]
            .as_str()
            .unwrap()
            .contains("key file"),
        "{response}"
    );
    server.finish();
}

/// Canary strings (a key, a title, a message, a password) never reach any file, log, stderr
/// or error message.
#[test]
fn canaries_never_reach_disk_logs_or_errors_in_the_clear() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let key = format!("sk-proj-CANARYKEY{}", "q".repeat(40));
    let title = "CANARYTITLE about my secret project";
    let line = "CANARYLINE the launch code is 0000";
    let password = "CANARYPASSWORD-long";
    let mut server = Server::start_with(&home, Framing::ContentLength, |c| {
        c.env("CHINWAG_LOG", "trace");
    });
    let mut transcript = String::new();
    let mut call = |server: &mut Server, id: i64, method: &str, params: Value| {
        let response = server.call(id, method, params);
        transcript.push_str(&response.to_string());
        response
    };
    call(
        &mut server,
        1,
        "vault/setKey",
        json!({"provider": "openai", "key": key}),
    );
    let export = home.write_export("c.json", &[(title, &[("user", line)])]);
    call(&mut server, 2, "history/import", json!({"path": export}));
    std::fs::remove_file(home.path().join("c.json")).unwrap();
    call(
        &mut server,
        3,
        "vault/setPassword",
        json!({"new": password}),
    );
    call(
        &mut server,
        4,
        "vault/unlock",
        json!({"password": format!("{password}-wrong")}),
    );
    call(
        &mut server,
        5,
        "vault/setKey",
        json!({"provider": "groq", "key": key}),
    );
    let (_, stderr) = server.finish();

    let files = String::from_utf8_lossy(&home.all_file_bytes()).into_owned();
    for canary in ["CANARYKEY", "CANARYTITLE", "CANARYLINE", "CANARYPASSWORD"] {
        assert!(!files.contains(canary), "{canary} found in a file");
        assert!(!stderr.contains(canary), "{canary} found on stderr");
    }
    assert!(
        !transcript.contains("CANARYKEY") && !transcript.contains("CANARYPASSWORD"),
        "{transcript}"
    );
}
