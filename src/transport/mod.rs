//! The byte side of the editor connection: frames in (see [`codec`]), frames out through one
//! writer, so that responses and notifications never interleave.
//!
//! The writer is a plain thread doing blocking writes: it takes every message queued since
//! its last write and sends them in one `write`, which keeps the cost per streamed delta low.

pub mod codec;

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::thread::JoinHandle;

use bytes::{Bytes, BytesMut};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::codec::Encoder;

pub use codec::{FrameCodec, FrameError, Framing, Inbound, MAX_FRAME_BYTES, SharedFraming};

use crate::protocol::envelope;

/// How many messages may wait for the writer before senders wait (backpressure on a client
/// that stops reading).
const QUEUE_DEPTH: usize = 4096;

/// Write at most this many bytes per system call when catching up.
const WRITE_BATCH_BYTES: usize = 256 * 1024;

enum Command {
    Frame(Bytes),
    Close,
}

/// A handle for sending messages to the editor. Cheap to clone.
#[derive(Clone)]
pub struct Outgoing {
    tx: mpsc::Sender<Command>,
}

impl Outgoing {
    /// Queue one serialized JSON-RPC message. Returns false when the editor is gone.
    pub async fn send(&self, message: Bytes) -> bool {
        self.tx.send(Command::Frame(message)).await.is_ok()
    }

    /// Queue a notification.
    pub async fn notify<P: Serialize>(&self, method: &str, params: &P) -> bool {
        self.send(envelope::notification(method, params)).await
    }

    /// Ask the writer to write what is queued and stop.
    pub async fn close(&self) {
        let _ = self.tx.send(Command::Close).await;
    }
}

/// The writer thread; join it to know everything queued before `close` was written.
pub struct Writer {
    thread: JoinHandle<()>,
}

impl Writer {
    /// Start a writer on `sink` using the connection's framing.
    pub fn spawn<W: Write + Send + 'static>(
        sink: W,
        framing: SharedFraming,
    ) -> std::io::Result<(Outgoing, Writer)> {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let thread = std::thread::Builder::new()
            .name("chinwag-writer".into())
            .spawn(move || write_loop(rx, sink, FrameCodec::new(framing)))?;
        Ok((Outgoing { tx }, Writer { thread }))
    }

    /// Wait (off the async threads) for the writer to finish.
    pub async fn join(self) {
        let _ = tokio::task::spawn_blocking(move || self.thread.join()).await;
    }
}

fn write_loop<W: Write>(mut rx: mpsc::Receiver<Command>, mut sink: W, mut codec: FrameCodec) {
    let mut buffer = BytesMut::with_capacity(64 * 1024);
    while let Some(command) = rx.blocking_recv() {
        let mut closing = false;
        let mut next = Some(command);
        while let Some(command) = next.take() {
            match command {
                Command::Frame(body) => {
                    // Encoding into memory cannot fail.
                    let _ = codec.encode(body, &mut buffer);
                }
                Command::Close => closing = true,
            }
            if buffer.len() < WRITE_BATCH_BYTES {
                next = rx.try_recv().ok();
            }
        }
        if let Err(error) = sink.write_all(&buffer).and_then(|()| sink.flush()) {
            tracing::warn!(%error, "writing to the editor failed; it has probably exited");
            return;
        }
        buffer.clear();
        if closing {
            return;
        }
    }
}

/// Take the process's stdout for protocol use only.
///
/// Returns a private duplicate of fd 1 for the writer, then points fd 1 at stderr, so a stray
/// `print!` anywhere in the process (ours or a dependency's) cannot corrupt the protocol.
pub fn take_stdout() -> std::io::Result<std::fs::File> {
    let protocol: OwnedFd = std::io::stdout().as_fd().try_clone_to_owned()?;
    rustix::stdio::dup2_stdout(std::io::stderr().as_fd())?;
    Ok(std::fs::File::from(protocol))
}
