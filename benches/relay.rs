//! Streaming benchmarks (run in release: `cargo bench --bench relay`; needs `curl`).
//!
//! A local SSE server plays an OpenAI-style stream. In the same run we measure:
//! - added latency to first token: chinwag (from `chat/send` written to its stdin to the first
//!   `chat/delta` read from its stdout) against curl's time to the first byte of the same
//!   stream;
//! - relay throughput: deltas per second chinwag passes from a local stream to stdout (merge
//!   window 0, so every provider delta is one notification) against the events per second curl
//!   reads from the same stream.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "support/http.rs"]
mod http;

const LATENCY_RUNS: usize = 60;
const BULK_EVENTS: usize = 100_000;

fn main() {
    let port = serve();
    let root = tempfile::tempdir().unwrap();
    let home = root.path();
    std::fs::create_dir_all(home.join(".config/chinwag")).unwrap();
    std::fs::write(
        home.join(".config/chinwag/config.toml"),
        format!(
            "default_provider = \"bench\"\n[chat]\ndelta_window_ms = 0\n\
             [providers.bench]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\ndefault_model = \"m\"\n"
        ),
    )
    .unwrap();
    let mut chinwag = Chinwag::start(env!("CARGO_BIN_EXE_chinwag"), home);
    chinwag.call(1, "initialize", json!({}));
    let chat_id = chinwag.call(2, "chat/new", json!({}))["result"]["chatId"]
        .as_str()
        .unwrap()
        .to_string();

    // Latency to the first token.
    let mut ours = Vec::new();
    let mut curl = Vec::new();
    for run in 0..LATENCY_RUNS {
        let id = 100 + run as i64;
        // The clock starts before the write: writing wakes chinwag, which may run the whole
        // round trip before this thread is scheduled again.
        let started = Instant::now();
        chinwag.send(
            id,
            "chat/send",
            json!({"chatId": chat_id, "content": "first"}),
        );
        let mut first = None;
        loop {
            let message = chinwag.read();
            if first.is_none() && message["method"] == "chat/delta" {
                first = Some(started.elapsed());
            }
            if message["id"] == id {
                break;
            }
        }
        ours.push(first.expect("a delta"));
        curl.push(curl_first_byte(port));
    }
    let ours_median = median(&mut ours);
    let curl_median = median(&mut curl);
    println!("| measure | chinwag | curl (same stream, same run) | result |");
    println!("|---|---|---|---|");
    println!(
        "| time to first token, median of {LATENCY_RUNS} | {:.3} ms | {:.3} ms | added {:.3} ms ({:.2}x) |",
        ms(ours_median),
        ms(curl_median),
        ms(ours_median) - ms(curl_median),
        ours_median.as_secs_f64() / curl_median.as_secs_f64()
    );
    println!(
        "| time to first token, p90 | {:.3} ms | {:.3} ms | |",
        ms(ours[ours.len() * 9 / 10]),
        ms(curl[curl.len() * 9 / 10])
    );

    // Relay throughput.
    let started = Instant::now();
    chinwag.send(
        9,
        "chat/send",
        json!({"chatId": chat_id, "content": "bulk"}),
    );
    let mut deltas = 0usize;
    let mut first_at = None;
    loop {
        let message = chinwag.read();
        if message["method"] == "chat/delta" {
            deltas += 1;
            first_at.get_or_insert_with(Instant::now);
        } else if message["id"] == 9 {
            assert!(message.get("result").is_some(), "{message}");
            break;
        }
    }
    let ours_time = started.elapsed();
    let ours_rate = deltas as f64 / ours_time.as_secs_f64();
    let curl_time = curl_total(port);
    let curl_rate = BULK_EVENTS as f64 / curl_time.as_secs_f64();
    assert_eq!(
        deltas, BULK_EVENTS,
        "with no merge window every delta is its own notification"
    );
    println!(
        "| relay of {BULK_EVENTS} deltas, one notification each | {:.0} deltas/s ({deltas} notifications in {:.0} ms) | {:.0} events/s ({:.0} ms) | {:.3}x of curl |",
        ours_rate,
        ms(ours_time),
        curl_rate,
        ms(curl_time),
        ours_rate / curl_rate
    );
    println!(
        "| resident memory after the bulk stream | {:.1} MiB | | |",
        chinwag.rss_kib() as f64 / 1024.0
    );

    // Last: its 2 MB messages would weigh on the memory figure above.
    context_cost(&mut chinwag, home);
}

/// Files per context message, and the size of each.
const CONTEXT_FILES: usize = 20;
const CONTEXT_FILE_BYTES: usize = 100 * 1024;
const CONTEXT_RUNS: usize = 30;

/// How much later a message with 20 files of 100 KiB leaves for the provider (and its first
/// token comes back) than the same message with no context, in the same run: reading the
/// files, the secret guard over 2 MB, the fenced blocks, saving the turn. Each run uses a new
/// chat so the history sent with it stays the same size.
fn context_cost(chinwag: &mut Chinwag, home: &Path) {
    let root = home.join("project");
    std::fs::create_dir_all(root.join("src")).unwrap();
    let mut line = 0u64;
    for file in 0..CONTEXT_FILES {
        let mut text = String::new();
        while text.len() < CONTEXT_FILE_BYTES {
            line += 1;
            text.push_str(&format!(
                "pub fn item_{line}(x: u64) -> u64 {{ x.wrapping_mul({line}) + 7 }} // keeps the data in order\n"
            ));
        }
        text.truncate(CONTEXT_FILE_BYTES);
        std::fs::write(root.join(format!("src/f{file}.rs")), text).unwrap();
    }
    let context: Vec<Value> = (0..CONTEXT_FILES)
        .map(|file| json!({"kind": "file", "path": format!("src/f{file}.rs")}))
        .collect();
    let mut plain = Vec::new();
    let mut with_files = Vec::new();
    for run in 0..CONTEXT_RUNS * 2 {
        let id = 1000 + run as i64;
        let chat_id = chinwag.call(id * 10, "chat/new", json!({}))["result"]["chatId"]
            .as_str()
            .unwrap()
            .to_string();
        let mut params = json!({"chatId": chat_id, "content": "first"});
        // Interleaved, so both see the same machine.
        if run % 2 == 1 {
            params["root"] = json!(root);
            params["context"] = json!(context);
        }
        let started = Instant::now();
        chinwag.send(id, "chat/send", params);
        let mut first = None;
        loop {
            let message = chinwag.read();
            if first.is_none() && message["method"] == "chat/delta" {
                first = Some(started.elapsed());
            }
            if message["id"] == id {
                assert!(message.get("result").is_some(), "{message}");
                break;
            }
        }
        let first = first.expect("a delta");
        if run % 2 == 1 {
            with_files.push(first);
        } else {
            plain.push(first);
        }
    }
    let plain_median = median(&mut plain);
    let files_median = median(&mut with_files);
    println!(
        "| time to first token with {CONTEXT_FILES} files of {} KiB, median of {CONTEXT_RUNS} | {:.3} ms | same message, no context: {:.3} ms | added {:.3} ms (goal: at most 50 ms) |",
        CONTEXT_FILE_BYTES / 1024,
        ms(files_median),
        ms(plain_median),
        ms(files_median) - ms(plain_median)
    );
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn curl_first_byte(port: u16) -> Duration {
    curl(port, "first", "%{time_starttransfer}")
}

fn curl_total(port: u16) -> Duration {
    curl(port, "bulk", "%{time_total}")
}

fn curl(port: u16, content: &str, format: &str) -> Duration {
    let body =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": content}]});
    let output = Command::new("curl")
        .args([
            "-sN",
            "-o",
            "/dev/null",
            "-w",
            format,
            "-H",
            "Content-Type: application/json",
            "-d",
        ])
        .arg(body.to_string())
        .arg(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .output()
        .expect("curl is needed for this benchmark");
    let seconds: f64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap();
    Duration::from_secs_f64(seconds)
}

struct Chinwag {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Chinwag {
    fn start(binary: &str, home: &Path) -> Chinwag {
        let mut child = Command::new(binary)
            .env_clear()
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Chinwag {
            stdin: child.stdin.take().unwrap(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            child,
        }
    }
    fn send(&mut self, id: i64, method: &str, params: Value) {
        writeln!(
            self.stdin,
            "{}",
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
        )
        .unwrap();
        self.stdin.flush().unwrap();
    }
    fn read(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    }
    fn call(&mut self, id: i64, method: &str, params: Value) -> Value {
        self.send(id, method, params);
        loop {
            let message = self.read();
            if message["id"] == id {
                return message;
            }
        }
    }
    fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Chinwag {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A keep-alive HTTP/1.1 server: "first" streams one token at once then the rest after a
/// pause; "bulk" streams BULK_EVENTS tokens as fast as it can.
fn serve() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bulk = {
        let mut body = String::new();
        for i in 0..BULK_EVENTS {
            body.push_str(&format!(
                "data: {{\"choices\":[{{\"delta\":{{\"content\":\"t{}\"}}}}]}}\n\n",
                i % 10
            ));
        }
        body.push_str(
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
        );
        body
    };
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let bulk = bulk.clone();
            std::thread::spawn(move || handle(stream, &bulk));
        }
    });
    port
}

fn handle(stream: TcpStream, bulk: &str) {
    stream.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(request) = http::read_request(&mut reader) {
        if !request.line.contains("/chat/completions") {
            let _ = writer.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            continue;
        }
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
        let chunk = |data: &str| format!("{:x}\r\n{data}\r\n", data.len());
        let result = if String::from_utf8_lossy(&request.body).contains("bulk") {
            writer
                .write_all(head.as_bytes())
                .and_then(|()| writer.write_all(chunk(bulk).as_bytes()))
                .and_then(|()| writer.write_all(b"0\r\n\r\n"))
        } else {
            let first = "data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\n\n";
            let rest = "data: {\"choices\":[{\"delta\":{\"content\":\" there\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
            writer
                .write_all(format!("{head}{}", chunk(first)).as_bytes())
                .and_then(|()| {
                    std::thread::sleep(Duration::from_millis(5));
                    writer.write_all(format!("{}0\r\n\r\n", chunk(rest)).as_bytes())
                })
        };
        if result.is_err() {
            return;
        }
    }
}
