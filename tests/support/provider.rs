//! A scripted HTTP/1.1 provider on 127.0.0.1 for tests: it replays each provider's wire format
//! with the chunking, pauses and faults a test asks for, records every request it receives,
//! and notices when the client hangs up.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a scripted body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The last chunk, properly.
    Complete,
    /// Nothing more, connection kept open until the client hangs up.
    Stall,
    /// The connection is closed without the last chunk (a reset mid-stream).
    Cut,
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Sizes the body is cut into, cycled (random-looking boundaries, inside characters too).
    pub pieces: Vec<usize>,
    /// Pause before each piece.
    pub pause: Duration,
    pub end: End,
}

impl Reply {
    pub fn stream(content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            pieces: random_pieces(0x5eed),
            pause: Duration::ZERO,
            end: End::Complete,
        }
    }
    pub fn sse(body: &str) -> Reply {
        Reply::stream("text/event-stream", body)
    }
    pub fn ndjson(body: &str) -> Reply {
        Reply::stream("application/x-ndjson", body)
    }
    pub fn json(status: u16, body: &str) -> Reply {
        Reply {
            status,
            pieces: vec![usize::MAX],
            ..Reply::stream("application/json", body)
        }
    }
    pub fn paced(mut self, pause: Duration) -> Reply {
        self.pause = pause;
        self
    }
    pub fn ending(mut self, end: End) -> Reply {
        self.end = end;
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn in_pieces(mut self, pieces: Vec<usize>) -> Reply {
        self.pieces = pieces;
        self
    }
}

/// A request as received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

struct Shared {
    replies: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
    hangups: AtomicUsize,
    stop: AtomicBool,
}

/// The running server; stops when dropped.
pub struct ProviderServer {
    pub port: u16,
    shared: Arc<Shared>,
}

impl ProviderServer {
    pub fn start() -> ProviderServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            replies: Mutex::new(VecDeque::new()),
            seen: Mutex::new(Vec::new()),
            hangups: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let accept = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let shared = accept.clone();
                std::thread::spawn(move || serve(stream, shared));
            }
        });
        ProviderServer { port, shared }
    }

    /// Queue answers, used in order by the next requests.
    pub fn push(&self, reply: Reply) {
        self.shared.replies.lock().unwrap().push_back(reply);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// How many times a client hung up while a body was still being sent.
    pub fn hangups(&self) -> usize {
        self.shared.hangups.load(Ordering::SeqCst)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Wait (bounded) until `check` holds.
    pub fn wait_for(&self, what: &str, check: impl Fn(&ProviderServer) -> bool) {
        for _ in 0..500 {
            if check(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("timed out waiting for {what}");
    }
}

impl Drop for ProviderServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        let length = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        shared.seen.lock().unwrap().push(Seen {
            method,
            path,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        let reply = shared
            .replies
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Reply::json(500, "{\"error\":{\"message\":\"no scripted reply\"}}"));
        match respond(&stream, &reply) {
            Ok(true) => continue,
            Ok(false) => return,
            Err(_) => {
                shared.hangups.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
    }
}

/// Write the reply. Ok(true): the connection can be reused.
fn respond(mut stream: &TcpStream, reply: &Reply) -> std::io::Result<bool> {
    let mut head = format!(
        "HTTP/1.1 {} Scripted\r\nTransfer-Encoding: chunked\r\n",
        reply.status
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    let mut rest = reply.body.as_slice();
    let mut index = 0;
    while !rest.is_empty() {
        if !reply.pause.is_zero() {
            std::thread::sleep(reply.pause);
        }
        let size = reply.pieces[index % reply.pieces.len()].clamp(1, rest.len());
        index += 1;
        let (piece, tail) = rest.split_at(size);
        rest = tail;
        stream.write_all(format!("{:x}\r\n", piece.len()).as_bytes())?;
        stream.write_all(piece)?;
        stream.write_all(b"\r\n")?;
        stream.flush()?;
    }
    match reply.end {
        End::Complete => {
            stream.write_all(b"0\r\n\r\n")?;
            Ok(true)
        }
        End::Cut => {
            let _ = stream.shutdown(Shutdown::Both);
            Ok(false)
        }
        End::Stall => {
            // Wait for the client to hang up: a read returns 0 (or fails) when it does.
            stream.set_read_timeout(Some(Duration::from_secs(60)))?;
            let mut byte = [0u8; 1];
            let _ = stream.read(&mut byte);
            Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "client hung up",
            ))
        }
    }
}

/// Piece sizes from 1 to 32 bytes drawn from a seeded generator (xorshift): boundaries fall
/// anywhere, inside multi-byte characters and `\r\n` pairs too, and every run is the same.
pub fn random_pieces(seed: u64) -> Vec<usize> {
    let mut state = seed | 1;
    (0..257)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 32) as usize + 1
        })
        .collect()
}

/// An OpenAI-style SSE stream saying `pieces`, with usage and `[DONE]`.
pub fn openai_stream(pieces: &[&str]) -> String {
    let mut out = String::from(": OPENROUTER PROCESSING\r\n\r\n");
    out.push_str(
        "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\r\n\r\n",
    );
    for piece in pieces {
        let chunk = serde_json::json!({"choices": [{"delta": {"content": piece}}]});
        out.push_str(&format!("data: {chunk}\r\n\r\n"));
    }
    out.push_str("data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    out.push_str(&format!(
        "data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":11,\"completion_tokens\":{}}}}}\n\n",
        pieces.len()
    ));
    out.push_str("data: [DONE]\n\n");
    out
}
