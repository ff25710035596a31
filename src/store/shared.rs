//! One database, several chinwag processes.
//!
//! sled lets one process open a database. A user with Neovim and Emacs open runs two chinwag
//! processes on the same data dir, and must never be told "database locked" nor lose a
//! write. So the first process to open the database becomes its **owner**: it serves the
//! others over a Unix socket next to the database. Any later process is a **follower**: it
//! forwards every call to the owner. When the owner exits (or dies), a follower notices the
//! broken socket, opens the database itself and becomes the owner; other followers reconnect
//! to it.
//!
//! Every [`Backend`] call is idempotent (get, scan, a batch of inserts and removes, clear),
//! so a call whose answer was lost with the owner is simply sent again once the database is
//! reachable: nothing is lost and nothing is applied twice with a different effect.
//!
//! Only the user who runs chinwag may talk to the owner: the socket is mode 0600 inside the
//! 0700 data dir, and the owner checks every peer's uid with the kernel's peer credentials.
//!
//! The owner bounds what connections can cost it, whoever makes them: at most
//! [`MAX_CONNECTIONS`] are served at once (more are refused, with a log line, and a follower
//! retries), a connection must send its hello first and within [`FIRST_FRAME_TIMEOUT`], a
//! frame once begun must arrive within [`FRAME_TIMEOUT`], and a frame's buffer grows with the
//! bytes that arrive, never to the length its prefix announces.

mod wire;

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::backend::{Backend, Op, StoreError, Tree};
use super::sled_backend::{OpenError, SledBackend};
use wire::{Call, FrameError, Reply, Request, RequestError, Response};

/// How long a call (or `open`) keeps trying to reach the database after the owner went
/// away, before it gives up with [`StoreError::Unavailable`]. A starting or exiting owner
/// needs well under a second; ten seconds covers a loaded machine.
const PATIENCE: Duration = Duration::from_secs(10);

/// The first and the longest pause between attempts to reach the database.
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(200);

/// How long a follower waits for an owner's answer before it treats the owner as gone. A
/// scan of tens of megabytes takes well under a second; an owner that is stopped or hung
/// must not freeze the editor forever.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a follower waits for the owner's answer to its hello. An owner that accepts but
/// does not answer this quickly is not usable, and `open` should move on.
const HELLO_TIMEOUT: Duration = Duration::from_secs(2);

/// The most follower connections an owner serves at once (each has a thread). Beyond it a
/// connection is refused with a log line, and the follower retries shortly (as it does while
/// an owner starts). A follower uses up to [`POOL_SIZE`] connections, more for a moment under
/// load: this serves a dozen editors at full speed.
const MAX_CONNECTIONS: usize = 64;

/// How long a new connection has to send its whole hello. A connection that says nothing
/// holds one of the [`MAX_CONNECTIONS`] places only this long.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(3);

/// How long one frame from a follower may take to arrive once it has begun. The largest
/// frame crosses a Unix socket in well under a second; a frame that stalls is abandoned,
/// and its buffer and thread with it.
const FRAME_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a refused connection is logged at most (with the number refused meanwhile).
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(5);

/// Connections a follower keeps open for reuse, so that concurrent calls from several
/// threads do not queue behind one socket.
const POOL_SIZE: usize = 4;

/// What this process is to the database right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// This process opened the database and serves the others.
    Owner,
    /// Another chinwag owns the database; calls go to it over the socket.
    Follower,
}

/// A [`Backend`] on the data dir's database, whichever chinwag process has it open.
///
/// Blocking: call it from `spawn_blocking`. It is `Send + Sync`, and calls from several
/// threads run concurrently (as owner, directly on sled; as follower, over a small pool of
/// connections).
pub struct SharedStore {
    db_dir: PathBuf,
    socket_path: PathBuf,
    cache_bytes: u64,
    patience: Duration,
    /// The current role. Calls hold the read lock while they run; a role change (take-over
    /// or reconnection) holds the write lock, so it never happens under a running call.
    state: RwLock<Link>,
    /// Mirrors `state` for [`SharedStore::role`], which must not wait behind a take-over.
    is_owner: AtomicBool,
}

/// The role with a generation number, bumped at every change, so that of several calls that
/// failed on the same broken connection only the first one re-establishes the link and the
/// others just retry on the new one.
struct Link {
    generation: u64,
    state: State,
}

enum State {
    Owner(Owner),
    Follower(Follower),
}

impl SharedStore {
    /// Open the database in `db_dir`, or reach the chinwag that has it open through
    /// `socket_path`.
    ///
    /// If the database opens, this process owns it and serves other chinwag processes on
    /// `socket_path`. If it is locked, another chinwag owns it and this one connects to it,
    /// retrying for a while since that owner may still be starting (or exiting, in which
    /// case this one takes over).
    pub fn open(db_dir: &Path, socket_path: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        Self::open_with_patience(db_dir, socket_path, cache_bytes, PATIENCE)
    }

    fn open_with_patience(
        db_dir: &Path,
        socket_path: &Path,
        cache_bytes: u64,
        patience: Duration,
    ) -> Result<Self, StoreError> {
        let state = establish(db_dir, socket_path, cache_bytes, Instant::now() + patience)?;
        let is_owner = matches!(state, State::Owner(_));
        Ok(Self {
            db_dir: db_dir.to_path_buf(),
            socket_path: socket_path.to_path_buf(),
            cache_bytes,
            patience,
            state: RwLock::new(Link {
                generation: 0,
                state,
            }),
            is_owner: AtomicBool::new(is_owner),
        })
    }

    /// Whether this process owns the database now. A follower becomes the owner when the
    /// previous owner exits, so the answer can change (never the other way round).
    pub fn role(&self) -> Role {
        if self.is_owner.load(Ordering::Acquire) {
            Role::Owner
        } else {
            Role::Follower
        }
    }

    /// Whether this process is the only chinwag using the database: it owns it and no
    /// follower is connected. The database is reached first, so a follower whose owner has
    /// exited takes over here and can be the last one.
    pub fn is_sole_user(&self) -> Result<bool, StoreError> {
        self.get(Tree::Meta, b"")?;
        let link = self.read_link();
        Ok(match &link.state {
            State::Owner(owner) => owner.followers() == 0,
            State::Follower(_) => false,
        })
    }

    /// Run `call` on the database: directly as owner, through the owner as follower. When the
    /// owner cannot be reached, re-establish the link (take over or reconnect) and send the
    /// call again, until `patience` runs out after the first failure.
    fn run(&self, call: Call<'_>) -> Result<Reply, StoreError> {
        let mut frame: Option<Vec<u8>> = None;
        let mut deadline: Option<Instant> = None;
        loop {
            let (failed_generation, reason) = {
                let link = self.read_link();
                match &link.state {
                    State::Owner(owner) => return execute(&owner.backend, call),
                    State::Follower(follower) => {
                        let request = match &frame {
                            Some(request) => request,
                            None => frame.insert(wire::encode_call(&call).map_err(
                                |wire::TooLarge(size)| {
                                    StoreError::Database(format!(
                                        "the request ({size} bytes) is larger than the \
                                         {}-byte limit for reaching another chinwag",
                                        wire::MAX_FRAME
                                    ))
                                },
                            )?),
                        };
                        match follower.exchange(request, call.reply_kind()) {
                            Ok(result) => return result,
                            Err(broken) => (link.generation, broken),
                        }
                    }
                }
            };
            tracing::debug!(%reason, "the owning chinwag cannot be reached; re-establishing");
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + self.patience);
            self.reestablish(failed_generation, deadline, reason)?;
        }
    }

    /// After a failure on link `failed_generation`: take the database over or reconnect to
    /// whoever owns it now, unless another thread already did.
    fn reestablish(
        &self,
        failed_generation: u64,
        deadline: Instant,
        reason: String,
    ) -> Result<(), StoreError> {
        let mut link = self.write_link();
        if link.generation != failed_generation {
            return Ok(());
        }
        let state = establish(&self.db_dir, &self.socket_path, self.cache_bytes, deadline)
            .map_err(|error| match error {
                StoreError::Unavailable(why) => {
                    StoreError::Unavailable(format!("{reason}; then {why}"))
                }
                other => other,
            })?;
        let is_owner = matches!(state, State::Owner(_));
        if is_owner {
            tracing::info!("the owning chinwag went away; this one now owns the database");
        }
        // The old follower's pooled connections are dropped here; they all went to the
        // previous owner.
        link.state = state;
        link.generation += 1;
        self.is_owner.store(is_owner, Ordering::Release);
        Ok(())
    }

    // A panic elsewhere while holding the lock leaves the state as consistent as it was
    // before that call (a role change is a single assignment), so poisoning is ignored.
    fn read_link(&self) -> RwLockReadGuard<'_, Link> {
        self.state
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn write_link(&self) -> RwLockWriteGuard<'_, Link> {
        self.state
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

fn unexpected_reply() -> StoreError {
    StoreError::Database("internal error: an answer of the wrong kind".into())
}

impl Backend for SharedStore {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.run(Call::Get(tree, key))? {
            Reply::Value(value) => Ok(value),
            _ => Err(unexpected_reply()),
        }
    }

    fn scan(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        match self.run(Call::Scan(tree, prefix))? {
            Reply::Entries(entries) => Ok(entries),
            _ => Err(unexpected_reply()),
        }
    }

    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        match self.run(Call::Apply(ops))? {
            Reply::Done => Ok(()),
            _ => Err(unexpected_reply()),
        }
    }

    fn clear(&self, trees: &[Tree]) -> Result<(), StoreError> {
        match self.run(Call::Clear(trees.to_vec()))? {
            Reply::Done => Ok(()),
            _ => Err(unexpected_reply()),
        }
    }
}

/// Run a call on the database this process owns (for itself or for a follower).
fn execute(backend: &SledBackend, call: Call<'_>) -> Result<Reply, StoreError> {
    match call {
        Call::Get(tree, key) => backend.get(tree, key).map(Reply::Value),
        Call::Scan(tree, prefix) => backend.scan(tree, prefix).map(Reply::Entries),
        Call::Apply(ops) => backend.apply(ops).map(|()| Reply::Done),
        Call::Clear(trees) => backend.clear(&trees).map(|()| Reply::Done),
    }
}

/// Become the owner or a follower, whichever the database allows, retrying until `deadline`
/// (at least one attempt is made).
fn establish(
    db_dir: &Path,
    socket_path: &Path,
    cache_bytes: u64,
    deadline: Instant,
) -> Result<State, StoreError> {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let reason;
        match SledBackend::open(db_dir, cache_bytes) {
            Ok(backend) => return Ok(State::Owner(Owner::start(backend, socket_path))),
            Err(OpenError::Other(message)) => return Err(StoreError::Database(message)),
            Err(OpenError::Locked) => match Follower::connect(socket_path) {
                Ok(follower) => return Ok(State::Follower(follower)),
                Err(ConnectError::Retry(why)) => reason = why,
                Err(ConnectError::Fatal(why)) => return Err(StoreError::Unavailable(why)),
            },
        }
        // Locked, and the owner does not answer (yet): it is starting, exiting or dead.
        // Whichever it is, the lock or the socket will be free shortly.
        let now = Instant::now();
        if now >= deadline {
            return Err(StoreError::Unavailable(reason));
        }
        thread::sleep(backoff.min(deadline - now));
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

// ---------------------------------------------------------------------------------------
// Owner

/// The database, opened by this process, and the server that lends it to followers.
struct Owner {
    backend: Arc<SledBackend>,
    /// `None` when the socket could not be bound: this process still works, but other
    /// chinwag processes cannot reach it (they report the database as unavailable).
    server: Option<Server>,
}

impl Owner {
    fn start(backend: SledBackend, socket_path: &Path) -> Self {
        let backend = Arc::new(backend);
        let server = match Server::start(backend.clone(), socket_path) {
            Ok(server) => Some(server),
            Err(error) => {
                tracing::warn!(
                    %error,
                    socket = %socket_path.display(),
                    "cannot listen for other chinwag processes; they cannot share the database \
                     while this one runs"
                );
                None
            }
        };
        Self { backend, server }
    }

    /// How many follower connections (that said hello) are open now.
    fn followers(&self) -> usize {
        self.server
            .as_ref()
            .map_or(0, |server| server.followers.load(Ordering::Acquire))
    }
}

impl Drop for Owner {
    /// Stop serving, then let the database go (this struct's `backend` is its last handle
    /// once the server's threads are joined), which releases sled's lock so that a follower
    /// can take over.
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
        if Arc::strong_count(&self.backend) != 1 {
            tracing::error!("a handle to the database outlives its owner; the lock stays held");
        }
    }
}

/// The listener thread and the connection threads serving followers.
struct Server {
    socket_path: PathBuf,
    /// Dropping this wakes the listener thread (its peer becomes readable) so it exits.
    wake: UnixStream,
    listener: JoinHandle<()>,
    connections: Arc<Mutex<Vec<Connection>>>,
    /// Connections that completed their hello and are still open: other chinwag processes.
    followers: Arc<AtomicUsize>,
}

/// A follower's connection: a handle to shut its socket down and the thread serving it.
struct Connection {
    stream: UnixStream,
    thread: JoinHandle<()>,
}

impl Server {
    fn start(backend: Arc<SledBackend>, socket_path: &Path) -> io::Result<Self> {
        // A socket file left by an owner that died. Only an owner (this process, holding
        // sled's lock) ever binds here, so no live owner can be listening on it.
        if let Ok(metadata) = fs::symlink_metadata(socket_path)
            && metadata.file_type().is_socket()
        {
            fs::remove_file(socket_path)?;
        }
        let listener = UnixListener::bind(socket_path)?;
        let ready = fs::set_permissions(socket_path, fs::Permissions::from_mode(0o600))
            .and_then(|()| listener.set_nonblocking(true));
        if let Err(error) = ready {
            drop(listener);
            let _ = fs::remove_file(socket_path);
            return Err(error);
        }
        let (wake, woken) = UnixStream::pair()?;
        let connections = Arc::new(Mutex::new(Vec::new()));
        let followers = Arc::new(AtomicUsize::new(0));
        let shared = Shared {
            backend,
            connections: connections.clone(),
            followers: followers.clone(),
        };
        let listener = thread::Builder::new()
            .name("store-listener".into())
            .spawn(move || listen(listener, woken, shared))?;
        Ok(Self {
            socket_path: socket_path.to_path_buf(),
            wake,
            listener,
            connections,
            followers,
        })
    }

    /// Stop accepting, remove the socket file, close every connection and wait for every
    /// thread, so that none holds the database any more.
    fn stop(self) {
        drop(self.wake);
        if self.listener.join().is_err() {
            tracing::error!("the store listener thread panicked");
        }
        if let Err(error) = fs::remove_file(&self.socket_path)
            && error.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(%error, "cannot remove the owner socket");
        }
        let connections = std::mem::take(&mut *lock(&self.connections));
        // Shut every socket down first, then join: a connection thread blocked reading sees
        // end-of-file; one running a call finishes it (its answer may be lost, and the
        // follower sends it again to the next owner).
        for connection in &connections {
            let _ = connection.stream.shutdown(std::net::Shutdown::Both);
        }
        for connection in connections {
            if connection.thread.join().is_err() {
                tracing::error!("a store connection thread panicked");
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// What the listener thread hands each connection.
struct Shared {
    backend: Arc<SledBackend>,
    connections: Arc<Mutex<Vec<Connection>>>,
    followers: Arc<AtomicUsize>,
}

/// Connections refused for being over [`MAX_CONNECTIONS`], logged at most every
/// [`REFUSAL_LOG_EVERY`] so that a flood does not flood the log too.
#[derive(Default)]
struct Refusals {
    unlogged: u64,
    last_logged: Option<Instant>,
}

impl Refusals {
    fn count(&mut self) {
        self.unlogged += 1;
        let due = self
            .last_logged
            .is_none_or(|last| last.elapsed() >= REFUSAL_LOG_EVERY);
        if due {
            tracing::warn!(
                refused = self.unlogged,
                limit = MAX_CONNECTIONS,
                "refused connections from other chinwag processes: too many open at once"
            );
            self.unlogged = 0;
            self.last_logged = Some(Instant::now());
        }
    }
}

/// The listener thread: accept followers until woken through `woken`.
fn listen(listener: UnixListener, woken: UnixStream, shared: Shared) {
    let my_uid = current_uid();
    let mut refusals = Refusals::default();
    loop {
        match wait_for_either(&listener, &woken) {
            Ok(Ready::Stop) => return,
            Ok(Ready::Accept) => {}
            Err(error) => {
                tracing::error!(%error, "cannot wait for other chinwag processes; no longer serving them");
                return;
            }
        }
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                // Out of file descriptors, most likely; pause instead of spinning.
                tracing::warn!(%error, "cannot accept a connection");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        match peer_uid(&stream) {
            Ok(uid) if uid == my_uid => {}
            Ok(uid) => {
                tracing::warn!(
                    uid,
                    "refused a connection to the database from another user"
                );
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, "refused a connection whose user cannot be checked");
                continue;
            }
        }
        if live_connections(&shared.connections) >= MAX_CONNECTIONS {
            // Dropping the stream closes it: the follower sees a hang-up and retries.
            refusals.count();
            continue;
        }
        if let Err(error) = add_connection(stream, &shared) {
            tracing::warn!(%error, "cannot serve a connection");
        }
    }
}

/// How many connections are being served, forgetting those that ended.
fn live_connections(connections: &Mutex<Vec<Connection>>) -> usize {
    let mut connections = lock(connections);
    connections.retain(|connection| !connection.thread.is_finished());
    connections.len()
}

fn add_connection(stream: UnixStream, shared: &Shared) -> io::Result<()> {
    // Some systems hand out accepted sockets with the listener's non-blocking flag.
    stream.set_nonblocking(false)?;
    // A follower that stops reading its answers must not hold this thread forever either.
    stream.set_write_timeout(Some(FRAME_TIMEOUT))?;
    let handle = stream.try_clone()?;
    let backend = shared.backend.clone();
    let followers = shared.followers.clone();
    let thread = thread::Builder::new()
        .name("store-connection".into())
        .spawn(move || serve(stream, backend, followers))?;
    lock(&shared.connections).push(Connection {
        stream: handle,
        thread,
    });
    Ok(())
}

/// Counts a connection among the followers from its hello until it ends.
struct FollowerMark<'a>(Option<&'a AtomicUsize>);

impl<'a> FollowerMark<'a> {
    fn set(&mut self, followers: &'a AtomicUsize) {
        if self.0.is_none() {
            followers.fetch_add(1, Ordering::AcqRel);
            self.0 = Some(followers);
        }
    }
}

impl Drop for FollowerMark<'_> {
    fn drop(&mut self) {
        if let Some(followers) = self.0 {
            followers.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Serve one follower until it disconnects, sends a broken frame, or the owner stops.
fn serve(stream: UnixStream, backend: Arc<SledBackend>, followers: Arc<AtomicUsize>) {
    serve_requests(&stream, &backend, &followers);
    // The server keeps a clone of this socket (to shut it down on stop); without an explicit
    // shutdown the follower would not see the connection close until that clone is dropped.
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn serve_requests(stream: &UnixStream, backend: &SledBackend, followers: &AtomicUsize) {
    let mut writer = stream;
    let mut mark = FollowerMark(None);
    loop {
        // A new connection must say hello promptly; a follower may then idle between calls
        // for as long as it likes, but each frame must arrive in full once begun.
        let idle = mark.0.is_none().then_some(FIRST_FRAME_TIMEOUT);
        let frame_time = if mark.0.is_none() {
            FIRST_FRAME_TIMEOUT
        } else {
            FRAME_TIMEOUT
        };
        let body = match wire::read_frame_within(stream, idle, frame_time) {
            Ok(Some(body)) => body,
            Ok(None) => return,
            Err(FrameError::TooLarge(length)) => {
                let message = FrameError::TooLarge(length).to_string();
                tracing::warn!(%message, "closing a connection that sent an oversized frame");
                let _ = wire::write_frame(&mut writer, &wire::encode_rejection(&message));
                return;
            }
            Err(FrameError::Stalled) => {
                tracing::warn!("closing a connection whose frame did not arrive in time");
                return;
            }
            Err(FrameError::Io(error)) => {
                tracing::debug!(%error, "a follower's connection broke");
                return;
            }
        };
        let (answer, keep_open) = match wire::decode_request(&body) {
            Ok(Request::Call(_)) if mark.0.is_none() => {
                tracing::warn!("closing a connection that did not start with a hello");
                (wire::encode_rejection("say hello first"), false)
            }
            Ok(Request::Call(call)) => (wire::encode_reply(&execute(backend, call)), true),
            Ok(Request::Hello { magic_ok, version }) => {
                if !magic_ok {
                    (wire::encode_rejection("not a chinwag hello"), false)
                } else if version != wire::VERSION {
                    let message = format!(
                        "this chinwag speaks store protocol version {}, not {version}; \
                         run the same chinwag version in every editor",
                        wire::VERSION
                    );
                    (wire::encode_rejection(&message), false)
                } else {
                    mark.set(followers);
                    (wire::encode_reply(&Ok(Reply::Done)), true)
                }
            }
            Err(RequestError::UnknownOp(op)) => (
                wire::encode_rejection(&format!("unknown operation {op}")),
                true,
            ),
            Err(RequestError::Malformed(why)) => {
                tracing::warn!(%why, "closing a connection that sent a malformed request");
                (
                    wire::encode_rejection(&format!("malformed request: {why}")),
                    false,
                )
            }
        };
        if wire::write_frame(&mut writer, &answer).is_err() || !keep_open {
            return;
        }
    }
}

enum Ready {
    Accept,
    Stop,
}

/// Block until a follower is connecting or `woken` becomes readable (the owner is
/// stopping), so the listener costs no CPU while idle and stops promptly.
fn wait_for_either(listener: &UnixListener, woken: &UnixStream) -> io::Result<Ready> {
    use rustix::event::{PollFd, PollFlags, poll};
    loop {
        let mut fds = [
            PollFd::new(listener, PollFlags::IN),
            PollFd::new(woken, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(error) => return Err(error.into()),
        }
        if !fds[1].revents().is_empty() {
            return Ok(Ready::Stop);
        }
        if !fds[0].revents().is_empty() {
            return Ok(Ready::Accept);
        }
    }
}

fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The uid of the process at the other end of a connected Unix socket, as the kernel
/// recorded it at connect time (so the peer cannot lie about it).
fn peer_uid(stream: &UnixStream) -> io::Result<u32> {
    Ok(rustix::net::sockopt::socket_peercred(stream)?.uid.as_raw())
}

// ---------------------------------------------------------------------------------------
// Follower

/// Connections to the owning chinwag.
struct Follower {
    socket_path: PathBuf,
    /// Idle connections, checked out one per call so that calls from several threads run
    /// side by side. Each is only ever used by one call at a time.
    idle: Mutex<VecDeque<UnixStream>>,
}

/// Why a connection to the owner could not be made.
enum ConnectError {
    /// Nobody answers (yet): no socket file, nobody listening, or the connection broke.
    /// Expected while an owner starts or exits.
    Retry(String),
    /// Someone answers but must not be used (another user, another protocol version).
    Fatal(String),
}

impl Follower {
    /// Connect to the owner (one connection, checked with a hello).
    fn connect(socket_path: &Path) -> Result<Self, ConnectError> {
        let stream = open_connection(socket_path)?;
        Ok(Self {
            socket_path: socket_path.to_path_buf(),
            idle: Mutex::new(VecDeque::from([stream])),
        })
    }

    /// Send `request` and read the answer. `Err` means the owner could not be reached or
    /// the connection broke (the request may or may not have run); the reason is given.
    fn exchange(
        &self,
        request: &[u8],
        kind: wire::ReplyKind,
    ) -> Result<Result<Reply, StoreError>, String> {
        let pooled = lock(&self.idle).pop_front();
        let mut stream = match pooled {
            Some(stream) => stream,
            None => open_connection(&self.socket_path).map_err(|error| match error {
                ConnectError::Retry(why) | ConnectError::Fatal(why) => why,
            })?,
        };
        wire::write_frame(&mut stream, request)
            .map_err(|error| format!("sending to the owning chinwag failed: {error}"))?;
        let body = match wire::read_frame(&mut stream) {
            Ok(Some(body)) => body,
            Ok(None) => return Err("the owning chinwag closed the connection".into()),
            Err(error) => {
                return Err(format!(
                    "reading the owning chinwag's answer failed: {error}"
                ));
            }
        };
        let result = match wire::decode_response(&body, kind) {
            Ok(Response::Ok(reply)) => Ok(reply),
            Ok(Response::Database(message)) => Err(StoreError::Database(message)),
            Ok(Response::Rejected(message)) => Err(StoreError::Database(format!(
                "the owning chinwag rejected the request: {message}"
            ))),
            // The connection is dropped (not returned to the pool): whatever the owner is
            // doing, this stream is not to be trusted any more.
            Err(why) => {
                return Ok(Err(StoreError::Database(format!(
                    "the owning chinwag sent an invalid answer: {why}"
                ))));
            }
        };
        let mut idle = lock(&self.idle);
        if idle.len() < POOL_SIZE {
            idle.push_back(stream);
        }
        Ok(result)
    }
}

/// Connect to the owner's socket, check that the owner runs as this user, and exchange a
/// hello to check that it is a chinwag speaking this protocol version.
fn open_connection(socket_path: &Path) -> Result<UnixStream, ConnectError> {
    let mut stream = UnixStream::connect(socket_path).map_err(|error| {
        ConnectError::Retry(format!(
            "cannot connect to {}: {error}",
            socket_path.display()
        ))
    })?;
    let retry = |error: io::Error| ConnectError::Retry(format!("the owning chinwag: {error}"));
    match peer_uid(&stream) {
        Ok(uid) if uid == current_uid() => {}
        Ok(uid) => {
            return Err(ConnectError::Fatal(format!(
                "{} belongs to another user (uid {uid})",
                socket_path.display()
            )));
        }
        Err(error) => return Err(retry(error)),
    }
    stream
        .set_read_timeout(Some(HELLO_TIMEOUT))
        .map_err(retry)?;
    stream
        .set_write_timeout(Some(HELLO_TIMEOUT))
        .map_err(retry)?;
    wire::write_frame(&mut stream, &wire::encode_hello()).map_err(retry)?;
    let body = match wire::read_frame(&mut stream) {
        Ok(Some(body)) => body,
        Ok(None) => return Err(ConnectError::Retry("the owning chinwag hung up".into())),
        Err(error) => {
            return Err(ConnectError::Retry(format!(
                "the owning chinwag's hello: {error}"
            )));
        }
    };
    match wire::decode_response(&body, wire::ReplyKind::Done) {
        Ok(Response::Ok(_)) => {}
        Ok(Response::Rejected(message) | Response::Database(message)) => {
            return Err(ConnectError::Fatal(format!(
                "the chinwag that owns the database refused this one: {message}"
            )));
        }
        Err(why) => {
            return Err(ConnectError::Fatal(format!(
                "{} is not a chinwag owner socket: {why}",
                socket_path.display()
            )));
        }
    }
    stream
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .map_err(retry)?;
    stream
        .set_write_timeout(Some(ANSWER_TIMEOUT))
        .map_err(retry)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::sync::Barrier;

    use super::*;

    const CACHE: u64 = 1 << 20;

    struct Place {
        dir: tempfile::TempDir,
    }

    impl Place {
        fn new() -> Self {
            Self {
                dir: tempfile::tempdir().unwrap(),
            }
        }

        fn db(&self) -> PathBuf {
            self.dir.path().join("db")
        }

        fn socket(&self) -> PathBuf {
            self.dir.path().join("owner.sock")
        }

        fn open(&self) -> SharedStore {
            SharedStore::open(&self.db(), &self.socket(), CACHE).unwrap()
        }
    }

    fn insert(tree: Tree, key: &[u8], value: &[u8]) -> Op {
        Op::Insert {
            tree,
            key: key.to_vec(),
            value: value.to_vec(),
        }
    }

    fn put(store: &SharedStore, tree: Tree, key: &[u8], value: &[u8]) {
        store.apply(vec![insert(tree, key, value)]).unwrap();
    }

    fn value(store: &SharedStore, tree: Tree, key: &[u8]) -> Option<Vec<u8>> {
        store.get(tree, key).unwrap()
    }

    #[test]
    fn only_an_owner_without_followers_is_the_sole_user() {
        let place = Place::new();
        let owner = place.open();
        assert!(owner.is_sole_user().unwrap());
        let follower = place.open();
        assert!(!owner.is_sole_user().unwrap());
        assert!(!follower.is_sole_user().unwrap());
        drop(follower);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !owner.is_sole_user().unwrap() {
            assert!(
                Instant::now() < deadline,
                "the follower's exit went unnoticed"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // A follower left alone becomes the owner when it asks, and is then the last one.
        let follower = place.open();
        drop(owner);
        assert!(follower.is_sole_user().unwrap());
        assert_eq!(follower.role(), Role::Owner);
    }

    #[test]
    fn connections_beyond_the_cap_are_refused_and_silent_ones_dropped() {
        let place = Place::new();
        let owner = place.open();
        let flood: Vec<UnixStream> = (0..MAX_CONNECTIONS * 3)
            .map(|_| UnixStream::connect(place.socket()).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let served = owner_connections(&owner);
        assert!(served <= MAX_CONNECTIONS, "{served} connections served");
        // Once the silent ones time out, a follower gets in.
        let follower = place.open();
        assert_eq!(follower.role(), Role::Follower);
        put(&follower, Tree::Meta, b"k", b"v");
        drop(flood);
    }

    fn owner_connections(store: &SharedStore) -> usize {
        match &store.read_link().state {
            State::Owner(owner) => owner
                .server
                .as_ref()
                .map_or(0, |server| live_connections(&server.connections)),
            State::Follower(_) => 0,
        }
    }

    #[test]
    fn owner_and_follower_share_everything() {
        let place = Place::new();
        let owner = place.open();
        let follower = place.open();
        assert_eq!(owner.role(), Role::Owner);
        assert_eq!(follower.role(), Role::Follower);

        for (index, tree) in Tree::ALL.into_iter().enumerate() {
            let index = index as u8;
            put(&owner, tree, &[b'o', index], b"from owner");
            put(&follower, tree, &[b'f', index], b"from follower");
            assert_eq!(
                value(&follower, tree, &[b'o', index]).as_deref(),
                Some(&b"from owner"[..])
            );
            assert_eq!(
                value(&owner, tree, &[b'f', index]).as_deref(),
                Some(&b"from follower"[..])
            );
            assert_eq!(value(&follower, tree, b"missing"), None);
            let expected = vec![
                (vec![b'f', index], b"from follower".to_vec()),
                (vec![b'o', index], b"from owner".to_vec()),
            ];
            assert_eq!(follower.scan(tree, b"").unwrap(), expected);
            assert_eq!(owner.scan(tree, b"").unwrap(), expected);
            assert_eq!(follower.scan(tree, b"o").unwrap(), expected[1..]);
        }

        // One atomic batch across trees, with removes, through the follower.
        follower
            .apply(vec![
                Op::Remove {
                    tree: Tree::Meta,
                    key: vec![b'o', 0],
                },
                insert(Tree::Messages, b"m", &vec![9; 100_000]),
                insert(Tree::Keys, b"", b"empty key"),
                insert(Tree::Chats, b"c", b""),
            ])
            .unwrap();
        assert_eq!(value(&owner, Tree::Meta, &[b'o', 0]), None);
        assert_eq!(value(&owner, Tree::Messages, b"m"), Some(vec![9; 100_000]));
        assert_eq!(
            value(&owner, Tree::Keys, b"").as_deref(),
            Some(&b"empty key"[..])
        );
        assert_eq!(value(&follower, Tree::Chats, b"c"), Some(Vec::new()));
        follower.apply(Vec::new()).unwrap();

        follower.clear(&[Tree::Keys, Tree::Messages]).unwrap();
        assert!(owner.scan(Tree::Keys, b"").unwrap().is_empty());
        assert!(owner.scan(Tree::Messages, b"").unwrap().is_empty());
        assert_eq!(owner.scan(Tree::Chats, b"").unwrap().len(), 3);
        owner.clear(&Tree::ALL).unwrap();
        for tree in Tree::ALL {
            assert!(follower.scan(tree, b"").unwrap().is_empty());
        }
        assert_eq!(follower.role(), Role::Follower);
    }

    #[test]
    fn socket_is_private_and_removed_with_the_owner() {
        let place = Place::new();
        let owner = place.open();
        let mode = fs::metadata(place.socket()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(owner);
        assert!(!place.socket().exists());
        // The lock went with the owner: this process can open the database again. sled's
        // I/O threads let go of the lock file a moment after the last handle drops, so wait.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match SledBackend::open(&place.db(), CACHE) {
                Ok(_) => break,
                Err(OpenError::Locked) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(error) => panic!("{error}"),
            }
        }
    }

    #[test]
    fn a_stale_socket_file_is_replaced() {
        let place = Place::new();
        // What an owner killed with SIGKILL leaves behind.
        drop(UnixListener::bind(place.socket()).unwrap());
        assert!(place.socket().exists());
        let owner = place.open();
        let follower = place.open();
        assert_eq!(follower.role(), Role::Follower);
        put(&follower, Tree::Meta, b"k", b"v");
        assert_eq!(value(&owner, Tree::Meta, b"k").as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn follower_takes_over_when_the_owner_exits() {
        let place = Place::new();
        let owner = place.open();
        let follower = place.open();
        put(&follower, Tree::Chats, b"before", b"1");
        put(&owner, Tree::Keys, b"owner's", b"2");
        drop(owner);

        assert_eq!(
            value(&follower, Tree::Chats, b"before").as_deref(),
            Some(&b"1"[..])
        );
        assert_eq!(follower.role(), Role::Owner);
        assert_eq!(
            value(&follower, Tree::Keys, b"owner's").as_deref(),
            Some(&b"2"[..])
        );
        put(&follower, Tree::Messages, b"after", b"3");

        let third = place.open();
        assert_eq!(third.role(), Role::Follower);
        assert_eq!(
            value(&third, Tree::Chats, b"before").as_deref(),
            Some(&b"1"[..])
        );
        assert_eq!(
            value(&third, Tree::Keys, b"owner's").as_deref(),
            Some(&b"2"[..])
        );
        assert_eq!(
            value(&third, Tree::Messages, b"after").as_deref(),
            Some(&b"3"[..])
        );
        put(&third, Tree::Meta, b"third", b"4");
        assert_eq!(
            value(&follower, Tree::Meta, b"third").as_deref(),
            Some(&b"4"[..])
        );
    }

    #[test]
    fn two_followers_race_to_take_over() {
        let place = Place::new();
        let owner = place.open();
        let first = place.open();
        let second = place.open();
        put(&owner, Tree::Meta, b"owner", b"0");
        drop(owner);

        let barrier = Barrier::new(2);
        thread::scope(|scope| {
            for (store, key) in [(&first, &b"first"[..]), (&second, &b"second"[..])] {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    put(store, Tree::Chats, key, key);
                });
            }
        });

        let mut roles = [first.role(), second.role()];
        roles.sort_by_key(|role| *role == Role::Follower);
        assert_eq!(roles, [Role::Owner, Role::Follower]);
        for store in [&first, &second] {
            assert_eq!(
                value(store, Tree::Chats, b"first").as_deref(),
                Some(&b"first"[..])
            );
            assert_eq!(
                value(store, Tree::Chats, b"second").as_deref(),
                Some(&b"second"[..])
            );
            assert_eq!(
                value(store, Tree::Meta, b"owner").as_deref(),
                Some(&b"0"[..])
            );
        }
    }

    #[test]
    fn many_threads_write_through_one_follower() {
        let place = Place::new();
        let owner = place.open();
        let follower = place.open();
        const THREADS: usize = 16;
        const WRITES: usize = 40;
        thread::scope(|scope| {
            for thread in 0..THREADS {
                let follower = &follower;
                scope.spawn(move || {
                    for write in 0..WRITES {
                        let key = format!("{thread:02}-{write:03}");
                        put(follower, Tree::Messages, key.as_bytes(), key.as_bytes());
                        assert_eq!(
                            value(follower, Tree::Messages, key.as_bytes()).as_deref(),
                            Some(key.as_bytes())
                        );
                    }
                });
            }
        });
        let entries = owner.scan(Tree::Messages, b"").unwrap();
        assert_eq!(entries.len(), THREADS * WRITES);
        assert!(entries.iter().all(|(key, value)| key == value));
    }

    #[test]
    fn writes_from_threads_survive_a_take_over_in_the_middle() {
        let place = Place::new();
        let owner = place.open();
        let follower = place.open();
        const THREADS: usize = 4;
        const WRITES: usize = 30;
        thread::scope(|scope| {
            for thread in 0..THREADS {
                let follower = &follower;
                scope.spawn(move || {
                    for write in 0..WRITES {
                        let key = format!("{thread}-{write:03}");
                        put(follower, Tree::Chats, key.as_bytes(), b"x");
                    }
                });
            }
            thread::sleep(Duration::from_millis(20));
            drop(owner);
        });
        // The writes may all have gone through before the owner left; the scan then is
        // what notices and takes over.
        assert_eq!(
            follower.scan(Tree::Chats, b"").unwrap().len(),
            THREADS * WRITES
        );
        assert_eq!(follower.role(), Role::Owner);
    }

    /// Read one raw response; `None` if the connection was closed instead.
    fn raw_response(stream: &mut UnixStream) -> Option<Vec<u8>> {
        wire::read_frame(stream).ok().flatten()
    }

    fn assert_closed(stream: &mut UnixStream) {
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }

    #[test]
    fn garbage_closes_only_that_connection() {
        let place = Place::new();
        let owner = place.open();
        put(&owner, Tree::Keys, b"k", b"v");

        // An oversized length prefix: rejected, then closed.
        let mut raw = UnixStream::connect(place.socket()).unwrap();
        raw.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]).unwrap();
        let answer = raw_response(&mut raw).unwrap();
        assert!(matches!(
            wire::decode_response(&answer, wire::ReplyKind::Done),
            Ok(Response::Rejected(_))
        ));
        assert_closed(&mut raw);

        // An unknown op code in a well-formed frame: rejected, and the connection still
        // works for a proper request.
        let mut raw = UnixStream::connect(place.socket()).unwrap();
        raw.write_all(&wire::encode_hello()).unwrap();
        assert!(raw_response(&mut raw).is_some());
        raw.write_all(&[0, 0, 0, 3, 200, 1, 2]).unwrap();
        let answer = raw_response(&mut raw).unwrap();
        assert!(matches!(
            wire::decode_response(&answer, wire::ReplyKind::Done),
            Ok(Response::Rejected(message)) if message.contains("unknown operation 200")
        ));
        let get = wire::encode_call(&Call::Get(Tree::Keys, b"k")).unwrap();
        raw.write_all(&get).unwrap();
        let answer = raw_response(&mut raw).unwrap();
        assert_eq!(
            wire::decode_response(&answer, wire::ReplyKind::Value),
            Ok(Response::Ok(Reply::Value(Some(b"v".to_vec()))))
        );

        // A frame whose fields lie about their lengths: rejected, then closed.
        raw.write_all(&[0, 0, 0, 7, 1, 1, 0xff, 0xff, 0xff, 0xff, 0])
            .unwrap();
        assert!(raw_response(&mut raw).is_some());
        assert_closed(&mut raw);

        // A frame cut short by the peer closing: nothing to answer, nothing harmed.
        let mut raw = UnixStream::connect(place.socket()).unwrap();
        raw.write_all(&[0, 0, 1, 0, 1, 2]).unwrap();
        raw.shutdown(std::net::Shutdown::Write).unwrap();
        assert_closed(&mut raw);

        // A call before the hello: rejected, then closed.
        let mut raw = UnixStream::connect(place.socket()).unwrap();
        raw.write_all(&wire::encode_call(&Call::Get(Tree::Keys, b"k")).unwrap())
            .unwrap();
        let answer = raw_response(&mut raw).unwrap();
        assert!(matches!(
            wire::decode_response(&answer, wire::ReplyKind::Done),
            Ok(Response::Rejected(message)) if message.contains("hello")
        ));
        assert_closed(&mut raw);

        // A hello of another protocol version is refused.
        let mut raw = UnixStream::connect(place.socket()).unwrap();
        let mut hello = wire::encode_hello();
        let end = hello.len();
        hello[end - 4..].copy_from_slice(&99u32.to_be_bytes());
        raw.write_all(&hello).unwrap();
        let answer = raw_response(&mut raw).unwrap();
        assert!(matches!(
            wire::decode_response(&answer, wire::ReplyKind::Done),
            Ok(Response::Rejected(message)) if message.contains("version")
        ));
        assert_closed(&mut raw);

        let follower = place.open();
        assert_eq!(follower.role(), Role::Follower);
        assert_eq!(
            value(&follower, Tree::Keys, b"k").as_deref(),
            Some(&b"v"[..])
        );
        put(&follower, Tree::Keys, b"k2", b"v2");
        assert_eq!(
            value(&owner, Tree::Keys, b"k2").as_deref(),
            Some(&b"v2"[..])
        );
    }

    #[test]
    fn an_owner_that_does_not_answer_is_reported_unavailable() {
        let place = Place::new();
        // The database is locked, but nobody serves the socket.
        let _held = SledBackend::open(&place.db(), CACHE).unwrap();
        let started = Instant::now();
        let result = SharedStore::open_with_patience(
            &place.db(),
            &place.socket(),
            CACHE,
            Duration::from_millis(300),
        );
        assert!(matches!(result, Err(StoreError::Unavailable(_))));
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn peer_credentials_name_this_user() {
        let (one, _other) = UnixStream::pair().unwrap();
        assert_eq!(peer_uid(&one).unwrap(), current_uid());
    }

    #[test]
    fn shared_store_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<SharedStore>();
    }
}
