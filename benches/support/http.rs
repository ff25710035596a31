//! The request side of the benchmarks' local providers: just enough HTTP/1.1 to read one
//! keep-alive request at a time.

use std::io::BufRead;

/// One request: its request line ("POST /v1/chat/completions HTTP/1.1") and its body.
pub struct Request {
    pub line: String,
    pub body: Vec<u8>,
}

/// Read the next request from a keep-alive connection; None once the client hangs up.
pub fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut length = 0;
    let mut header = String::new();
    loop {
        header.clear();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        if header.trim().is_empty() {
            break;
        }
        if let Some(value) = header.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request { line, body })
}
