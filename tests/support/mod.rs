//! Test harness: starts the real `chinwag` binary in a private HOME and speaks JSON-RPC to it
//! over its stdin/stdout, in either framing. Every byte the server writes to stdout is checked
//! to be part of a well-formed frame holding valid JSON; a stray byte fails the test.

#![allow(dead_code)]

pub mod provider;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a test waits for any one message before failing.
pub const TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    ContentLength,
    Ndjson,
}

impl Framing {
    /// Append `body` (any bytes) to `out` as one frame.
    pub fn frame(self, body: &[u8], out: &mut Vec<u8>) {
        match self {
            Framing::ContentLength => {
                out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
                out.extend_from_slice(body);
            }
            Framing::Ndjson => {
                out.extend_from_slice(body);
                out.push(b'\n');
            }
        }
    }
}

pub const BOTH: [Framing; 2] = [Framing::ContentLength, Framing::Ndjson];

/// A private HOME with XDG folders, removed on drop.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn config_dir(&self) -> PathBuf {
        self.path().join("config/chinwag")
    }
    pub fn data_dir(&self) -> PathBuf {
        self.path().join("data/chinwag")
    }
    /// The vault file.
    pub fn vault_file(&self) -> PathBuf {
        self.data_dir().join("vault")
    }
    /// The local key file's 32 bytes.
    pub fn key_file(&self) -> [u8; 32] {
        std::fs::read(self.config_dir().join("vault.key"))
            .unwrap()
            .try_into()
            .unwrap()
    }
    pub fn write_config(&self, text: &str) {
        std::fs::create_dir_all(self.config_dir()).unwrap();
        std::fs::write(self.config_dir().join("config.toml"), text).unwrap();
    }
    /// Everything under the config and data folders, concatenated (for canary checks).
    pub fn all_file_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        collect(self.path(), &mut out);
        out
    }
    pub fn command(&self) -> Command {
        self.command_for(env!("CARGO_BIN_EXE_chinwag"))
    }
    /// `program` in chinwag's test environment: for a wrapper that starts chinwag itself (a
    /// shell in a private mount namespace, say).
    pub fn command_for(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("XDG_DATA_HOME", self.path().join("data"))
            .env("CHINWAG_TEST_HOOKS", "1");
        command
    }
}

fn collect(dir: &Path, out: &mut Vec<u8>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.extend_from_slice(&bytes);
        }
    }
}

/// One running server.
pub struct Server {
    pub child: Child,
    stdin: Option<ChildStdin>,
    messages: Receiver<Result<Value, String>>,
    reader: Option<JoinHandle<()>>,
    pub framing: Framing,
    stderr: Option<JoinHandle<String>>,
}

impl Server {
    pub fn start(home: &Home, framing: Framing) -> Self {
        Self::start_with(home, framing, |_| {})
    }

    pub fn start_with(home: &Home, framing: Framing, adjust: impl FnOnce(&mut Command)) -> Self {
        let mut command = home.command();
        adjust(&mut command);
        Self::spawn(command, framing)
    }

    /// Start `command` (chinwag, or a wrapper that runs it with our stdio) and talk to it.
    pub fn spawn(mut command: Command, framing: Framing) -> Self {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start chinwag");
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, messages) = channel();
        let reader = std::thread::spawn(move || read_frames(stdout, framing, tx));
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Self {
            stdin: child.stdin.take(),
            child,
            messages,
            reader: Some(reader),
            framing,
            stderr: Some(stderr),
        }
    }

    /// Send one JSON value in this server's framing.
    pub fn send(&mut self, message: &Value) {
        self.send_body(message.to_string().as_bytes());
    }

    /// Send a body (any bytes) framed in this server's framing.
    pub fn send_body(&mut self, body: &[u8]) {
        let mut frame = Vec::new();
        self.framing.frame(body, &mut frame);
        self.send_raw(&frame);
    }

    /// Send raw bytes, unframed.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write to chinwag");
        stdin.flush().unwrap();
    }

    pub fn request(&mut self, id: impl Into<Value>, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "id": id.into(), "method": method, "params": params}));
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The next message from the server.
    pub fn recv(&mut self) -> Value {
        match self.messages.recv_timeout(TIMEOUT) {
            Ok(Ok(value)) => value,
            Ok(Err(fault)) => panic!("server wrote a bad frame: {fault}"),
            Err(RecvTimeoutError::Timeout) => panic!("no message within {TIMEOUT:?}"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("server closed stdout; stderr: {}", self.stderr_text())
            }
        }
    }

    /// The next message, or None if nothing arrives within `wait`.
    pub fn try_recv(&mut self, wait: Duration) -> Option<Value> {
        match self.messages.recv_timeout(wait) {
            Ok(Ok(value)) => Some(value),
            Ok(Err(fault)) => panic!("server wrote a bad frame: {fault}"),
            Err(_) => None,
        }
    }

    /// Send a request and wait for its answer (notifications in between are skipped).
    pub fn call(&mut self, id: i64, method: &str, params: Value) -> Value {
        self.request(id, method, params);
        self.response_to(id)
    }

    pub fn response_to(&mut self, id: i64) -> Value {
        loop {
            let message = self.recv();
            if message.get("id") == Some(&json!(id)) {
                return message;
            }
        }
    }

    /// Close stdin and wait for the process to exit; also checks stdout was clean to the end.
    pub fn finish(mut self) -> (ExitStatus, String) {
        self.stdin.take();
        let status = self.wait_exit();
        (status, self.drain_after_exit())
    }

    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("chinwag did not exit within {TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// After exit: check every remaining frame was well-formed; return stderr.
    pub fn drain_after_exit(&mut self) -> String {
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        while let Ok(item) = self.messages.try_recv() {
            if let Err(fault) = item {
                panic!("server wrote a bad frame: {fault}");
            }
        }
        self.stderr_text()
    }

    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc_kill(self.child.id() as i32, signal);
        }
    }

    fn stderr_text(&mut self) -> String {
        match self.stderr.take() {
            Some(handle) if handle.is_finished() => handle.join().unwrap_or_default(),
            Some(handle) => {
                self.stderr = Some(handle);
                String::from("(still running)")
            }
            None => String::new(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

pub const SIGTERM: i32 = 15;
pub const SIGHUP: i32 = 1;

/// Read frames strictly: every byte must belong to a frame of the expected framing.
fn read_frames(
    stdout: impl Read,
    framing: Framing,
    tx: std::sync::mpsc::Sender<Result<Value, String>>,
) {
    let mut reader = BufReader::new(stdout);
    loop {
        let body = match framing {
            Framing::Ndjson => {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => return,
                    Ok(_) if line.last() == Some(&b'\n') => {
                        line.pop();
                        line
                    }
                    Ok(_) => {
                        let _ = tx.send(Err(format!(
                            "unterminated line {:?}",
                            String::from_utf8_lossy(&line)
                        )));
                        return;
                    }
                    Err(error) => {
                        let _ = tx.send(Err(error.to_string()));
                        return;
                    }
                }
            }
            Framing::ContentLength => {
                let mut header = String::new();
                match reader.read_line(&mut header) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(error) => {
                        let _ = tx.send(Err(error.to_string()));
                        return;
                    }
                }
                let Some(length) = header
                    .strip_prefix("Content-Length: ")
                    .and_then(|rest| rest.strip_suffix("\r\n"))
                    .and_then(|n| n.parse::<usize>().ok())
                else {
                    let _ = tx.send(Err(format!("bad header line {header:?}")));
                    return;
                };
                let mut blank = String::new();
                if reader.read_line(&mut blank).is_err() || blank != "\r\n" {
                    let _ = tx.send(Err(format!("expected blank line, got {blank:?}")));
                    return;
                }
                let mut body = vec![0; length];
                if let Err(error) = reader.read_exact(&mut body) {
                    let _ = tx.send(Err(format!("short body: {error}")));
                    return;
                }
                body
            }
        };
        let item = serde_json::from_slice::<Value>(&body).map_err(|error| {
            format!(
                "body is not JSON ({error}): {:?}",
                String::from_utf8_lossy(&body)
            )
        });
        let item = item.and_then(|value| {
            if value.get("jsonrpc") == Some(&json!("2.0")) || value.is_array() {
                Ok(value)
            } else {
                Err(format!("not a JSON-RPC message: {value}"))
            }
        });
        if tx.send(item).is_err() {
            return;
        }
    }
}

/// The error code of a response, panicking with the response if it has none.
/// The result of a response that must not be an error.
pub fn ok(response: Value) -> Value {
    assert!(
        response.get("error").is_none(),
        "unexpected error: {response}"
    );
    response["result"].clone()
}

/// Copy a folder tree (regular files and folders).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub fn error_code(response: &Value) -> i64 {
    response["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("expected an error, got {response}"))
}

impl Home {
    /// Bytes of every file under the config and data dirs except the logs, by path.
    pub fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = Vec::new();
        let mut stack = vec![self.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.ends_with("logs") {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    files.push((path, bytes));
                }
            }
        }
        files.sort();
        files
    }

    /// Write a JSON export holding one chat per `(title, [(role, content)])`.
    pub fn write_export(&self, name: &str, chats: &[(&str, &[(&str, &str)])]) -> String {
        let chats: Vec<Value> = chats
            .iter()
            .enumerate()
            .map(|(index, (title, messages))| {
                let messages: Vec<Value> = messages
                    .iter()
                    .enumerate()
                    .map(|(seq, (role, content))| {
                        json!({"id": "", "seq": seq, "role": role, "content": content,
                               "createdAt": 1_764_000_000_000i64 + seq as i64, "status": "complete"})
                    })
                    .collect();
                json!({"id": "", "title": title, "provider": "openai", "model": "gpt-4o-mini",
                       "system": null, "createdAt": 1_764_000_000_000i64,
                       "updatedAt": 1_764_000_000_000i64 + index as i64, "messageCount": 0,
                       "messages": messages})
            })
            .collect();
        let path = self.path().join(name);
        std::fs::write(
            &path,
            json!({"format": "chinwag-export", "version": 1, "chats": chats}).to_string(),
        )
        .unwrap();
        path.to_string_lossy().into_owned()
    }
}

/// Config that keeps Argon2 at its floor so tests unlock quickly.
pub const FAST_KDF: &str =
    "[vault]\nkdf_memory_mib = 19\nkdf_iterations = 2\nkdf_parallelism = 1\n";
