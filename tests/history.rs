//! Chat history through the real binary: import, list, get, rename, search, export, delete,
//! clear, backup and restore, path checks and privacy settings.

mod support;

use serde_json::{Value, json};
use support::{FAST_KDF, Framing, Home, Server, error_code};

fn ok(response: Value) -> Value {
    assert!(
        response.get("error").is_none(),
        "unexpected error: {response}"
    );
    response["result"].clone()
}

fn start(home: &Home) -> Server {
    home.write_config(FAST_KDF);
    Server::start(home, Framing::Ndjson)
}

fn seeded(home: &Home) -> Server {
    let mut server = start(home);
    let path = home.write_export(
        "seed.json",
        &[
            (
                "Sorting in Rust",
                &[
                    ("user", "How do I sort a Vec?"),
                    ("assistant", "Use sort_unstable."),
                ],
            ),
            (
                "Borrow checker",
                &[
                    ("user", "Why does the LIFETIME of this closure end?"),
                    ("assistant", "Because it borrows."),
                ],
            ),
            ("Emacs tips", &[("user", "How do I split windows?")]),
        ],
    );
    let result = ok(server.call(900, "history/import", json!({"path": path})));
    assert_eq!(result, json!({"imported": 3, "skipped": 0}));
    server
}

#[test]
fn list_get_rename_delete_round_trip() {
    let home = Home::new();
    let mut server = seeded(&home);
    let list = ok(server.call(1, "history/list", json!({"limit": 2})));
    assert_eq!(list["total"], 3);
    let chats = list["chats"].as_array().unwrap();
    assert_eq!(chats.len(), 2);
    assert_eq!(chats[0]["title"], "Emacs tips", "newest first");
    assert_eq!(chats[1]["title"], "Borrow checker");
    let rest = ok(server.call(2, "history/list", json!({"offset": 2})));
    assert_eq!(rest["chats"][0]["title"], "Sorting in Rust");
    assert_eq!(
        ok(server.call(3, "history/list", json!({"offset": 9})))["chats"],
        json!([])
    );

    let id = chats[1]["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    let chat = ok(server.call(4, "history/get", json!({"chatId": id})));
    assert_eq!(chat["messageCount"], 2);
    assert_eq!(chat["messages"][0]["role"], "user");
    assert_eq!(chat["messages"][1]["content"], "Because it borrows.");
    assert_eq!(chat["messages"][1]["status"], "complete");

    let renamed = ok(server.call(
        5,
        "history/rename",
        json!({"chatId": id, "title": "Closures"}),
    ));
    assert_eq!(renamed["title"], "Closures");
    assert_eq!(
        ok(server.call(6, "history/list", json!({})))["chats"][0]["title"],
        "Closures",
        "renaming bumps it"
    );
    assert_eq!(
        error_code(&server.call(7, "history/rename", json!({"chatId": id, "title": "  "}))),
        -32602
    );

    assert_eq!(
        ok(server.call(8, "history/delete", json!({"chatId": id})))["deleted"],
        true
    );
    assert_eq!(
        error_code(&server.call(9, "history/get", json!({"chatId": id}))),
        1201
    );
    assert_eq!(
        ok(server.call(10, "history/delete", json!({"chatId": id})))["deleted"],
        false
    );
    assert_eq!(ok(server.call(11, "history/list", json!({})))["total"], 2);
    server.finish();

    // Everything survives a restart.
    let mut server = start(&home);
    assert_eq!(ok(server.call(1, "history/list", json!({})))["total"], 2);
    server.finish();
}

#[test]
fn search_is_case_insensitive_over_titles_and_contents() {
    let home = Home::new();
    let mut server = seeded(&home);
    let hits = ok(server.call(1, "history/search", json!({"query": "lifetime"})));
    let results = hits["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["title"], "Borrow checker");
    assert!(results[0]["snippet"].as_str().unwrap().contains("LIFETIME"));
    assert!(results[0]["messageId"].is_string());
    let hits = ok(server.call(2, "history/search", json!({"query": "EMACS"})));
    assert_eq!(hits["results"][0]["title"], "Emacs tips");
    assert_eq!(hits["results"][0]["messageId"], Value::Null);
    let hits = ok(server.call(3, "history/search", json!({"query": "how do i"})));
    assert_eq!(hits["results"].as_array().unwrap().len(), 2);
    assert_eq!(
        ok(server.call(4, "history/search", json!({"query": "zebra"})))["results"],
        json!([])
    );
    assert_eq!(
        error_code(&server.call(5, "history/search", json!({"query": " "}))),
        -32602
    );
    server.finish();
}

#[test]
fn clear_needs_confirmation() {
    let home = Home::new();
    let mut server = seeded(&home);
    assert_eq!(
        error_code(&server.call(1, "history/clear", json!({}))),
        1403
    );
    assert_eq!(
        ok(server.call(2, "history/clear", json!({"confirm": true})))["deleted"],
        3
    );
    assert_eq!(ok(server.call(3, "history/list", json!({})))["total"], 0);
    server.finish();
}

#[test]
fn export_and_import_round_trip_and_markdown_reads_well() {
    let home = Home::new();
    let mut server = seeded(&home);
    let json_path = home.path().join("out/all.json");
    std::fs::create_dir_all(json_path.parent().unwrap()).unwrap();
    let result = ok(server.call(
        1,
        "history/export",
        json!({"all": true, "format": "json", "path": json_path}),
    ));
    assert_eq!(result["chats"], 3);
    let id = ok(server.call(2, "history/list", json!({})))["chats"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let md_path = home.path().join("out/one.md");
    ok(server.call(
        3,
        "history/export",
        json!({"chatId": id, "format": "markdown", "path": md_path}),
    ));
    let markdown = std::fs::read_to_string(&md_path).unwrap();
    assert!(markdown.starts_with("# Emacs tips\n"), "{markdown}");
    assert!(markdown.contains("## User") && markdown.contains("How do I split windows?"));

    // Exports never carry keys.
    ok(server.call(
        4,
        "vault/setKey",
        json!({"provider": "openai", "key": format!("sk-proj-{}", "k".repeat(40))}),
    ));
    ok(server.call(
        5,
        "history/export",
        json!({"all": true, "format": "json", "path": json_path, "overwrite": true}),
    ));
    assert!(
        !std::fs::read_to_string(&json_path)
            .unwrap()
            .contains("kkkkkkkk")
    );

    // Importing into the same store skips what is there; into a new one restores it all.
    assert_eq!(
        ok(server.call(6, "history/import", json!({"path": json_path})))["skipped"],
        3
    );
    server.finish();
    let other = Home::new();
    let copy = other.path().join("all.json");
    std::fs::copy(&json_path, &copy).unwrap();
    let mut server = start(&other);
    assert_eq!(
        ok(server.call(1, "history/import", json!({"path": copy})))["imported"],
        3
    );
    let found = ok(server.call(2, "history/search", json!({"query": "sort_unstable"})));
    assert_eq!(found["results"][0]["title"], "Sorting in Rust");
    server.finish();
}

#[test]
fn paths_that_leave_home_or_overwrite_are_refused() {
    let home = Home::new();
    let mut server = seeded(&home);
    let outside = tempfile::tempdir().unwrap();
    let cases = [
        json!({"all": true, "format": "json", "path": outside.path().join("x.json")}),
        json!({"all": true, "format": "json", "path": format!("{}/../escape.json", home.path().display())}),
        json!({"all": true, "format": "json", "path": "relative.json"}),
    ];
    for (index, params) in cases.into_iter().enumerate() {
        let response = server.call(index as i64, "history/export", params);
        assert_eq!(error_code(&response), 1402, "{response}");
        let kind = if index == 2 {
            "relative"
        } else {
            "outsideHome"
        };
        assert_eq!(response["error"]["data"]["kind"], kind, "{response}");
    }
    std::os::unix::fs::symlink(outside.path(), home.path().join("link")).unwrap();
    let response = server.call(
        10,
        "history/export",
        json!({"all": true, "format": "json", "path": home.path().join("link/x.json")}),
    );
    assert_eq!(error_code(&response), 1402);
    std::fs::write(home.path().join("exists.json"), "keep me").unwrap();
    let response = server.call(
        11,
        "history/export",
        json!({"all": true, "format": "json", "path": home.path().join("exists.json")}),
    );
    assert_eq!(error_code(&response), 1402);
    assert_eq!(response["error"]["data"]["kind"], "exists");
    assert!(
        response["error"]["message"]
            .as_str()
            .unwrap()
            .contains("overwrite")
    );
    assert_eq!(
        std::fs::read_to_string(home.path().join("exists.json")).unwrap(),
        "keep me"
    );
    std::fs::write(outside.path().join("secret.json"), "{}").unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.json"),
        home.path().join("in.json"),
    )
    .unwrap();
    assert_eq!(
        error_code(&server.call(
            12,
            "history/import",
            json!({"path": home.path().join("in.json")})
        )),
        1402
    );
    assert!(
        std::fs::read_dir(outside.path()).unwrap().count() == 1,
        "nothing was written outside"
    );
    server.finish();
}

#[test]
fn backup_and_restore() {
    let home = Home::new();
    let mut server = seeded(&home);
    let backup = home.path().join("chinwag.backup");
    let result = ok(server.call(1, "history/backup", json!({"path": backup})));
    assert!(result["bytes"].as_u64().unwrap() > 100);
    assert!(
        !String::from_utf8_lossy(&std::fs::read(&backup).unwrap()).contains("split windows"),
        "backups are encrypted"
    );
    ok(server.call(2, "history/clear", json!({"confirm": true})));
    assert_eq!(
        error_code(&server.call(3, "history/restore", json!({"path": backup}))),
        1403
    );

    // A tampered backup is refused and changes nothing.
    let mut bytes = std::fs::read(&backup).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x55;
    let tampered = home.path().join("tampered.backup");
    std::fs::write(&tampered, bytes).unwrap();
    let response = server.call(
        4,
        "history/restore",
        json!({"path": tampered, "confirm": true}),
    );
    assert_eq!(error_code(&response), 1003, "{response}");
    assert_eq!(ok(server.call(5, "history/list", json!({})))["total"], 0);

    assert_eq!(
        ok(server.call(
            6,
            "history/restore",
            json!({"path": backup, "confirm": true})
        ))["chats"],
        3
    );
    assert_eq!(ok(server.call(7, "history/list", json!({})))["total"], 3);
    server.finish();
}

#[test]
fn privacy_settings_run_on_exit_and_after_a_crash() {
    let home = Home::new();
    let mut server = seeded(&home);
    assert_eq!(
        ok(server.call(1, "settings/get", json!({}))),
        json!({"clearHistoryOnExit": false, "deleteKeysOnExit": false})
    );
    assert_eq!(
        error_code(&server.call(2, "settings/set", json!({"colour": true}))),
        -32602
    );
    ok(server.call(
        3,
        "vault/setKey",
        json!({"provider": "openai", "key": format!("sk-proj-{}", "k".repeat(40))}),
    ));
    let settings = ok(server.call(
        4,
        "settings/set",
        json!({"clearHistoryOnExit": true, "deleteKeysOnExit": true}),
    ));
    assert_eq!(settings["clearHistoryOnExit"], true);
    server.finish();

    let mut server = start(&home);
    assert_eq!(ok(server.call(1, "history/list", json!({})))["total"], 0);
    assert_eq!(
        ok(server.call(2, "vault/listKeys", json!({})))["keys"],
        json!([])
    );
    // Killed before it could run its duties: they run at the next start.
    let path = home.write_export("again.json", &[("again", &[("user", "x")])]);
    ok(server.call(3, "history/import", json!({"path": path})));
    let _ = server.child.kill();
    server.wait_exit();
    let mut server = start(&home);
    assert_eq!(ok(server.call(1, "history/list", json!({})))["total"], 0);
    server.finish();
}
