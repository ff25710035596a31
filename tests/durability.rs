//! Nothing acknowledged is lost: kill -9 during writes, and two chinwag processes (Neovim and
//! Emacs open at once) on the same data.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{FAST_KDF, Framing, Home, Server};

fn ok(response: Value) -> Value {
    assert!(
        response.get("error").is_none(),
        "unexpected error: {response}"
    );
    response["result"].clone()
}

fn titles(server: &mut Server, id: i64) -> Vec<String> {
    let list = ok(server.call(id, "history/list", json!({"limit": 500})));
    let mut titles: Vec<String> = list["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap().to_string())
        .collect();
    titles.sort();
    titles
}

#[test]
fn kill_nine_during_a_burst_loses_nothing_acknowledged() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let exports: Vec<String> = (0..40)
        .map(|i| {
            home.write_export(
                &format!("e{i}.json"),
                &[(&format!("chat {i:02}"), &[("user", "hello")])],
            )
        })
        .collect();
    for round in 0..5u64 {
        let mut server = Server::start(&home, Framing::Ndjson);
        for (i, path) in exports.iter().enumerate() {
            server.request(i as i64, "history/import", json!({"path": path}));
        }
        // Read some acknowledgements, then kill without warning.
        let wanted = 3 + (round as usize * 7) % 30;
        let mut acknowledged = Vec::new();
        while acknowledged.len() < wanted {
            let response = server.recv();
            if response["result"]["imported"] == 1 {
                acknowledged.push(format!("chat {:02}", response["id"].as_i64().unwrap()));
            }
            if response["result"]["skipped"] == 1 {
                acknowledged.push(format!("chat {:02}", response["id"].as_i64().unwrap()));
            }
        }
        let _ = server.child.kill();
        server.wait_exit();

        let mut server = Server::start(&home, Framing::Ndjson);
        let present = titles(&mut server, 1);
        for title in &acknowledged {
            assert!(
                present.contains(title),
                "round {round}: {title} was acknowledged but is gone"
            );
        }
        server.finish();
    }
}

#[test]
fn two_processes_share_the_data_and_the_survivor_takes_over() {
    let home = Home::new();
    home.write_config(FAST_KDF);
    let mut first = Server::start(&home, Framing::ContentLength);
    ok(first.call(1, "initialize", json!({})));
    let mut second = Server::start(&home, Framing::Ndjson);
    let init = ok(second.call(1, "initialize", json!({})));
    assert_eq!(
        init["storageError"],
        Value::Null,
        "the second process must not see a lock: {init}"
    );

    let a = home.write_export("a.json", &[("from first", &[("user", "1")])]);
    let b = home.write_export("b.json", &[("from second", &[("user", "2")])]);
    ok(first.call(2, "history/import", json!({"path": a})));
    ok(second.call(2, "history/import", json!({"path": b})));
    assert_eq!(titles(&mut first, 3), ["from first", "from second"]);
    assert_eq!(titles(&mut second, 3), ["from first", "from second"]);

    // Both write at once.
    let many: Vec<String> = (0..10)
        .map(|i| {
            home.write_export(
                &format!("m{i}.json"),
                &[(&format!("m{i}"), &[("user", "x")])],
            )
        })
        .collect();
    for (i, path) in many.iter().enumerate() {
        let server = if i % 2 == 0 { &mut first } else { &mut second };
        server.request(100 + i as i64, "history/import", json!({"path": path}));
    }
    for server in [&mut first, &mut second] {
        for _ in 0..5 {
            assert_eq!(ok(server.recv())["imported"], 1);
        }
    }

    // The owner dies without warning; the other carries on with everything.
    let _ = first.child.kill();
    first.wait_exit();
    std::thread::sleep(Duration::from_millis(50));
    let c = home.write_export("c.json", &[("after takeover", &[("user", "3")])]);
    ok(second.call(4, "history/import", json!({"path": c})));
    assert_eq!(titles(&mut second, 5).len(), 13);

    // A third joins the new owner.
    let mut third = Server::start(&home, Framing::Ndjson);
    assert_eq!(titles(&mut third, 1).len(), 13);
    third.finish();
    second.finish();
}
