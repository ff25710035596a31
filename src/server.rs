//! The router: reads frames, answers what is malformed, handles client notifications, runs
//! each request as its own task with a cancellation token kept per id, and winds down on end
//! of input, `exit`, SIGTERM, SIGHUP or SIGINT.
//!
//! jsonrpsee's `RpcModule` is used as a typed dispatcher only: the transport, batches,
//! cancellation and server-sent notifications are ours.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use jsonrpsee::RpcModule;
use serde_json::{Value, json};
use tokio::io::AsyncRead;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::App;
use crate::config::Config;
use crate::methods;
use crate::paths::Paths;
use crate::protocol::cancellable;
use crate::protocol::envelope::{self, Incoming};
use crate::protocol::{AppError, ErrorCode};
use crate::transport::{FrameCodec, FrameError, Inbound, Outgoing, SharedFraming, Writer};

/// How long in-flight requests may go on after the input ends before they are cancelled.
const END_OF_INPUT_GRACE: Duration = Duration::from_secs(10);

/// How long cancelled requests get to record their state before the process exits.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// How long requests that cannot be cancelled (see [`cancellable`]) get to finish when the
/// server stops: a restore or a password change must not be cut off half-way.
const UNCANCELLABLE_GRACE: Duration = Duration::from_secs(60);

/// How long the writer gets to deliver the last messages.
const WRITER_GRACE: Duration = Duration::from_secs(2);

/// Why the main loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    EndOfInput,
    Exit,
    Signal(&'static str),
}

/// Run the server on `input`/`output` until the input ends, `exit` or a signal. Returns the
/// process exit code.
pub async fn run<R, W>(input: R, output: W, paths: Paths, config: Config) -> std::io::Result<i32>
where
    R: AsyncRead + Unpin,
    W: Write + Send + 'static,
{
    let framing = SharedFraming::default();
    let (outgoing, writer) = Writer::spawn(output, framing.clone())?;
    let app = Arc::new(App::new(paths, config, outgoing.clone()));
    let router = Router::new(app.clone(), methods::build(app.clone()));
    let frames = FramedRead::new(input, FrameCodec::new(framing));
    let auto_lock = tokio::spawn(auto_lock(app.clone()));
    let code = router.run(frames).await;
    auto_lock.abort();
    let duties = app.clone();
    let _ = tokio::task::spawn_blocking(move || {
        if let Ok(storage) = duties.storage() {
            storage.run_exit_duties();
        }
    })
    .await;
    // Dropping the last handle closes the database, so another chinwag can take it over.
    drop(app);
    outgoing.close().await;
    if tokio::time::timeout(WRITER_GRACE, writer.join())
        .await
        .is_err()
    {
        tracing::warn!("the editor did not take our last messages in time");
    }
    Ok(code)
}

/// How often the vault checks whether it has been idle long enough to lock itself.
const AUTO_LOCK_CHECK: Duration = Duration::from_secs(15);

/// Lock the vault after the configured idle minutes and tell the editor.
async fn auto_lock(app: Arc<App>) {
    if app.config.vault.auto_lock_minutes.is_none() {
        return;
    }
    let mut ticks = tokio::time::interval(AUTO_LOCK_CHECK);
    loop {
        ticks.tick().await;
        let Ok(storage) = app.storage() else {
            return;
        };
        let vault = storage.vault.clone();
        let locked = tokio::task::spawn_blocking(move || {
            vault
                .auto_lock_if_idle()
                .then(|| vault.status().ok())
                .flatten()
        })
        .await;
        if let Ok(Some(status)) = locked {
            app.outgoing.notify("vault/stateChanged", &status).await;
        }
    }
}

/// The requests in flight by id: their cancellation token, and whether they may be
/// cancelled at all.
type Inflight = Arc<Mutex<HashMap<String, (CancellationToken, bool)>>>;

/// What the router does with one message.
enum Reply {
    /// Nothing to answer (a notification).
    None,
    /// The answer is known now.
    Ready(Bytes),
    /// A request running in its own task; the task yields the answer.
    Pending(JoinHandle<Bytes>),
}

struct Router {
    app: Arc<App>,
    methods: Arc<RpcModule<()>>,
    outgoing: Outgoing,
    inflight: Inflight,
    tracker: TaskTracker,
    exit: CancellationToken,
}

impl Router {
    fn new(app: Arc<App>, methods: RpcModule<()>) -> Self {
        Self {
            outgoing: app.outgoing.clone(),
            app,
            methods: Arc::new(methods),
            inflight: Inflight::default(),
            tracker: TaskTracker::new(),
            exit: CancellationToken::new(),
        }
    }

    async fn run<R: AsyncRead + Unpin>(self, mut frames: FramedRead<R, FrameCodec>) -> i32 {
        let mut sigterm = listen(SignalKind::terminate());
        let mut sighup = listen(SignalKind::hangup());
        let mut sigint = listen(SignalKind::interrupt());
        let stop = loop {
            tokio::select! {
                frame = frames.next() => match frame {
                    Some(Ok(Inbound::Message(body))) => self.handle_frame(body).await,
                    Some(Ok(Inbound::Malformed(fault))) => self.answer_frame_fault(fault).await,
                    Some(Err(error)) => {
                        tracing::warn!(%error, "reading from the editor failed");
                        break Stop::EndOfInput;
                    }
                    None => break Stop::EndOfInput,
                },
                _ = recv(&mut sigterm) => break Stop::Signal("SIGTERM"),
                _ = recv(&mut sighup) => break Stop::Signal("SIGHUP"),
                _ = recv(&mut sigint) => break Stop::Signal("SIGINT"),
                _ = self.exit.cancelled() => break Stop::Exit,
            }
        };
        tracing::info!(?stop, "winding down");
        self.wind_down(stop).await
    }

    async fn wind_down(self, stop: Stop) -> i32 {
        self.tracker.close();
        if stop == Stop::EndOfInput
            && tokio::time::timeout(END_OF_INPUT_GRACE, self.tracker.wait())
                .await
                .is_ok()
        {
            return self.exit_code(stop);
        }
        let (tokens, uncancellable) = {
            let inflight = lock(&self.inflight);
            let tokens: Vec<CancellationToken> =
                inflight.values().map(|(token, _)| token.clone()).collect();
            let uncancellable = inflight.values().any(|(_, cancellable)| !cancellable);
            (tokens, uncancellable)
        };
        for token in tokens {
            token.cancel();
        }
        let grace = if uncancellable {
            UNCANCELLABLE_GRACE
        } else {
            CANCEL_GRACE
        };
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some requests did not finish in time");
        }
        self.exit_code(stop)
    }

    /// LSP convention: `exit` without a prior `shutdown` exits 1; every other stop is clean.
    fn exit_code(&self, stop: Stop) -> i32 {
        if stop == Stop::Exit && !self.app.shutdown_requested() {
            1
        } else {
            0
        }
    }

    async fn answer_frame_fault(&self, fault: FrameError) {
        tracing::warn!(%fault, "malformed frame");
        let error = AppError::new(ErrorCode::ParseError, fault.to_string())
            .with_data(json!({"kind": fault.kind()}));
        self.outgoing
            .send(envelope::error_response(&Value::Null, &error))
            .await;
    }

    async fn handle_frame(&self, body: Bytes) {
        let value = match parse_json(&body) {
            Ok(value) => value,
            Err(error) => {
                self.outgoing
                    .send(envelope::error_response(&Value::Null, &error))
                    .await;
                return;
            }
        };
        match value {
            Value::Array(items) if items.is_empty() => {
                let error = AppError::new(ErrorCode::InvalidRequest, "empty batch");
                self.outgoing
                    .send(envelope::error_response(&Value::Null, &error))
                    .await;
            }
            Value::Array(items) => {
                let replies: Vec<Reply> = items
                    .into_iter()
                    .map(|item| self.route(Incoming::classify(item)))
                    .collect();
                let outgoing = self.outgoing.clone();
                self.tracker.spawn(async move {
                    if let Some(batch) = gather_batch(replies).await {
                        outgoing.send(batch).await;
                    }
                });
            }
            single => match self.route(Incoming::classify(single)) {
                Reply::None => {}
                Reply::Ready(answer) => {
                    self.outgoing.send(answer).await;
                }
                Reply::Pending(task) => {
                    let outgoing = self.outgoing.clone();
                    self.tracker.spawn(async move {
                        if let Ok(answer) = task.await {
                            outgoing.send(answer).await;
                        }
                    });
                }
            },
        }
    }

    fn route(&self, message: Incoming) -> Reply {
        match message {
            Incoming::Request { id, method, params } => self.start_request(id, method, params),
            Incoming::Notification { method, params } => {
                self.handle_notification(&method, params);
                Reply::None
            }
            Incoming::Response => {
                tracing::debug!("ignoring a response: the server sends no requests");
                Reply::None
            }
            Incoming::Invalid { id, reason } => {
                let error = AppError::new(ErrorCode::InvalidRequest, reason);
                Reply::Ready(envelope::error_response(&id, &error))
            }
        }
    }

    fn handle_notification(&self, method: &str, params: Option<Value>) {
        match method {
            "$/cancelRequest" => {
                let id = params.as_ref().and_then(|p| p.get("id"));
                match id {
                    Some(id) => {
                        if let Some((token, _)) = lock(&self.inflight).get(&id.to_string()) {
                            token.cancel();
                        }
                    }
                    None => tracing::warn!("$/cancelRequest without an id"),
                }
            }
            "exit" => self.exit.cancel(),
            _ if self.methods.method(method).is_some() => {
                // A method sent as a notification: run it and drop the answer.
                let text = envelope::dispatch_text(&Value::Null, method, params);
                let methods = self.methods.clone();
                let method = method.to_string();
                self.tracker.spawn(async move {
                    if let Ok((answer, _)) = methods.raw_json_request(&text, 1).await
                        && let Ok(Value::Object(answer)) = serde_json::from_str(answer.get())
                        && let Some(error) = answer.get("error")
                    {
                        // Params errors never quote values; scrubbed all the same, since the
                        // log outlives the session.
                        let error = crate::redact::scrub(&error.to_string(), &[]);
                        tracing::warn!(%method, %error, "notification failed");
                    }
                });
            }
            // `initialized`, `$/setTrace` and other notifications we have no use for.
            _ => tracing::debug!(%method, "ignoring notification"),
        }
    }

    fn start_request(&self, id: Value, method: String, params: Option<Value>) -> Reply {
        if self.app.shutdown_requested() && method != "shutdown" {
            let error = AppError::new(
                ErrorCode::ShuttingDown,
                "the server is shutting down and takes no new requests",
            );
            return Reply::Ready(envelope::error_response(&id, &error));
        }
        if self.methods.method(&method).is_none() {
            // Scrubbed: whatever the client sent is quoted back, and a key pasted into the
            // wrong place must not be.
            let error = AppError::new(
                ErrorCode::MethodNotFound,
                format!("unknown method {:?}", crate::redact::scrub(&method, &[])),
            );
            return Reply::Ready(envelope::error_response(&id, &error));
        }
        let key = id.to_string();
        let token = CancellationToken::new();
        let cancellable = cancellable::is_cancellable(&method);
        {
            let mut inflight = lock(&self.inflight);
            if inflight.contains_key(&key) {
                let error = AppError::new(
                    ErrorCode::InvalidRequest,
                    format!("id {key} is already used by a request in flight"),
                );
                return Reply::Ready(envelope::error_response(&id, &error));
            }
            inflight.insert(key.clone(), (token.clone(), cancellable));
        }

        let text = envelope::dispatch_text(&id, &method, params);
        let methods = self.methods.clone();
        let call = tokio::spawn(async move { methods.raw_json_request(&text, 1).await });
        let inflight = self.inflight.clone();
        Reply::Pending(self.tracker.spawn(async move {
            let abort = call.abort_handle();
            let answer = tokio::select! {
                joined = call => match joined {
                    Ok(Ok((answer, _))) => Bytes::from(String::from(Box::<str>::from(answer))),
                    Ok(Err(error)) => {
                        tracing::error!(%error, %method, "dispatcher refused our own request text");
                        internal_error(&id, &method)
                    }
                    Err(error) if error.is_panic() => {
                        tracing::error!(%method, "request handler panicked");
                        internal_error(&id, &method)
                    }
                    Err(_) => envelope::cancelled_response(&id),
                },
                // A call that cannot be cancelled runs to the end and answers its result.
                _ = token.cancelled(), if cancellable => {
                    abort.abort();
                    tracing::debug!(%method, "request cancelled");
                    envelope::cancelled_response(&id)
                }
            };
            lock(&inflight).remove(&key);
            answer
        }))
    }
}

fn internal_error(id: &Value, method: &str) -> Bytes {
    let error = AppError::new(
        ErrorCode::InternalError,
        format!("internal error while handling {method}; details are in the log"),
    );
    envelope::error_response(id, &error)
}

/// Parse a frame body, with errors that say what was wrong.
fn parse_json(body: &[u8]) -> Result<Value, AppError> {
    let text = std::str::from_utf8(body).map_err(|error| {
        AppError::new(
            ErrorCode::ParseError,
            format!(
                "the message is not valid UTF-8 (bad byte at offset {})",
                error.valid_up_to()
            ),
        )
        .with_data(json!({"kind": "invalidUtf8"}))
    })?;
    serde_json::from_str(text).map_err(|error| {
        AppError::new(ErrorCode::ParseError, format!("invalid JSON: {error}"))
            .with_data(json!({"kind": "invalidJson"}))
    })
}

/// Collect the answers of a batch into one array; `None` if it held only notifications.
async fn gather_batch(replies: Vec<Reply>) -> Option<Bytes> {
    let mut answers = Vec::with_capacity(replies.len());
    for reply in replies {
        match reply {
            Reply::None => {}
            Reply::Ready(answer) => answers.push(answer),
            Reply::Pending(task) => {
                if let Ok(answer) = task.await {
                    answers.push(answer);
                }
            }
        }
    }
    if answers.is_empty() {
        return None;
    }
    let mut batch = Vec::with_capacity(answers.iter().map(|a| a.len() + 1).sum::<usize>() + 1);
    batch.push(b'[');
    for (index, answer) in answers.iter().enumerate() {
        if index > 0 {
            batch.push(b',');
        }
        batch.extend_from_slice(answer);
    }
    batch.push(b']');
    Some(Bytes::from(batch))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // No code panics while holding these locks; recover the data if one ever does.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn listen(kind: SignalKind) -> Option<Signal> {
    match signal(kind) {
        Ok(signal) => Some(signal),
        Err(error) => {
            tracing::warn!(%error, ?kind, "cannot listen for a signal");
            None
        }
    }
}

async fn recv(signal: &mut Option<Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}
