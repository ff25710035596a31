//! The owner ↔ follower wire format: small, binary, length-prefixed.
//!
//! Not JSON or serde: a scan can carry tens of megabytes of ciphertext, which a binary
//! format moves without escaping or base64. Every message is a *frame*: a `u32` big-endian
//! body length, then the body.
//!
//! Request body: an op code (`u8`), then the op's fields. A tree is one `u8` (its
//! [`Tree`] number); a byte string is a `u32` BE length then the bytes; a list is a `u32` BE
//! count then the items.
//!
//! A connection's first request must be a hello; the owner closes one that starts otherwise.
//!
//! | op | name  | fields                                                          |
//! |----|-------|-----------------------------------------------------------------|
//! | 0  | hello | magic bytes, version `u32`                                      |
//! | 1  | get   | tree, key                                                       |
//! | 2  | scan  | tree, prefix                                                    |
//! | 3  | apply | list of ops: kind `u8` (0 insert, 1 remove), tree, key, [value] |
//! | 4  | clear | list of trees                                                   |
//!
//! Response body: a status (`u8`), then the payload. Status 0 is success: `get` answers a
//! presence `u8` then the value, `scan` a list of key/value pairs, the others nothing.
//! Status 1 is a database error and status 2 a rejected request; both carry a UTF-8 message.
//!
//! Everything read from a socket is checked here: lengths against the bytes actually
//! present and against [`MAX_FRAME`], op codes and tree numbers against the known ones.
//! Nothing panics or allocates on a length it has not seen the bytes for.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::store::backend::{Op, StoreError, Tree};

/// The largest frame either side sends or accepts. A bigger length prefix is garbage or an
/// attack, and accepting it would let one connection make the owner allocate without bound.
pub(super) const MAX_FRAME: usize = 256 << 20;

/// The first bytes of a hello, so that something else listening on the socket path is
/// recognised as "not a chinwag owner" rather than misread.
pub(super) const MAGIC: &[u8] = b"chinwag-store";

/// The version of this format. An owner answers a hello of another version with a rejection,
/// so two chinwag builds that disagree fail clearly instead of corrupting each other's data.
pub(super) const VERSION: u32 = 1;

const OP_HELLO: u8 = 0;
const OP_GET: u8 = 1;
const OP_SCAN: u8 = 2;
const OP_APPLY: u8 = 3;
const OP_CLEAR: u8 = 4;

const KIND_INSERT: u8 = 0;
const KIND_REMOVE: u8 = 1;

const STATUS_OK: u8 = 0;
const STATUS_DATABASE: u8 = 1;
const STATUS_REJECTED: u8 = 2;

/// One storage call, as the follower sends it and the owner executes it. The keys borrow
/// from the caller (follower) or from the received frame (owner), so they are not copied.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Call<'a> {
    Get(Tree, &'a [u8]),
    Scan(Tree, &'a [u8]),
    Apply(Vec<Op>),
    Clear(Vec<Tree>),
}

/// The successful result of a [`Call`].
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Reply {
    Value(Option<Vec<u8>>),
    Entries(Vec<(Vec<u8>, Vec<u8>)>),
    Done,
}

/// Which [`Reply`] a call expects, so that the follower decodes the payload it asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReplyKind {
    Value,
    Entries,
    Done,
}

impl Call<'_> {
    pub(super) fn reply_kind(&self) -> ReplyKind {
        match self {
            Call::Get(..) => ReplyKind::Value,
            Call::Scan(..) => ReplyKind::Entries,
            Call::Apply(_) | Call::Clear(_) => ReplyKind::Done,
        }
    }
}

/// A decoded request.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Request<'a> {
    /// The first message on a connection: "I speak this version".
    Hello {
        magic_ok: bool,
        version: u32,
    },
    Call(Call<'a>),
}

/// Why a request could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RequestError {
    /// A well-delimited frame with an op code this build does not know (a newer chinwag?):
    /// answered with a rejection, and the connection stays usable.
    UnknownOp(u8),
    /// The frame's fields do not add up: the peer is broken or hostile, so after the
    /// rejection the connection is closed.
    Malformed(String),
}

/// A frame could not be read.
#[derive(Debug)]
pub(super) enum FrameError {
    /// The length prefix is above [`MAX_FRAME`].
    TooLarge(u64),
    /// The socket failed or closed in the middle of a frame.
    Io(io::Error),
    /// Nothing (or not the whole frame) arrived within the time allowed.
    Stalled,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLarge(length) => {
                write!(
                    f,
                    "a frame of {length} bytes exceeds the {MAX_FRAME}-byte limit"
                )
            }
            FrameError::Io(error) => write!(f, "{error}"),
            FrameError::Stalled => write!(f, "the frame did not arrive in time"),
        }
    }
}

/// Read one frame's body. `Ok(None)` means the peer closed the connection cleanly, between
/// frames. A read timeout set on the reader ends the wait with [`FrameError::Stalled`].
pub(super) fn read_frame(reader: &mut impl Read) -> Result<Option<Vec<u8>>, FrameError> {
    read_frame_with(&mut |buf: &mut [u8], _in_frame: bool| reader.read(buf))
}

/// Read one frame from a follower's connection, with deadlines: up to `idle` (forever if
/// `None`) for the frame to begin, then `frame` for the whole frame once its first byte
/// came. A peer that announces a frame and stalls must not hold a thread and its buffer
/// forever.
pub(super) fn read_frame_within(
    stream: &UnixStream,
    idle: Option<Duration>,
    frame: Duration,
) -> Result<Option<Vec<u8>>, FrameError> {
    let idle_until = idle.map(|wait| Instant::now() + wait);
    let mut frame_until: Option<Instant> = None;
    let mut reader = stream;
    read_frame_with(&mut |buf: &mut [u8], in_frame: bool| {
        let until = if in_frame {
            Some(*frame_until.get_or_insert_with(|| Instant::now() + frame))
        } else {
            idle_until
        };
        let timeout = match until {
            None => None,
            Some(until) => {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::from(io::ErrorKind::TimedOut));
                }
                Some(left)
            }
        };
        stream.set_read_timeout(timeout)?;
        reader.read(buf)
    })
}

/// How much of a body is read at a time: the buffer grows by at most this much beyond the
/// bytes that actually arrived, whatever length the prefix announces.
const READ_CHUNK: usize = 64 << 10;

/// The frame reader behind [`read_frame`] and [`read_frame_within`]. `read` is told whether
/// a frame has begun (some of its bytes arrived), for its deadlines.
fn read_frame_with(
    read: &mut dyn FnMut(&mut [u8], bool) -> io::Result<usize>,
) -> Result<Option<Vec<u8>>, FrameError> {
    let failed = |error: io::Error| match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => FrameError::Stalled,
        _ => FrameError::Io(error),
    };
    let mut prefix = [0u8; 4];
    let mut filled = 0;
    while filled < prefix.len() {
        match read(&mut prefix[filled..], filled > 0) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => {
                return Err(FrameError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed inside a frame header",
                )));
            }
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(failed(error)),
        }
    }
    let length = u32::from_be_bytes(prefix);
    let length = usize::try_from(length).map_err(|_| FrameError::TooLarge(u64::from(length)))?;
    if length > MAX_FRAME {
        return Err(FrameError::TooLarge(length as u64));
    }
    // Grow as bytes arrive rather than trusting the prefix with one big allocation.
    let mut body = Vec::new();
    while body.len() < length {
        let start = body.len();
        let want = (length - start).min(READ_CHUNK);
        body.resize(start + want, 0);
        match read(&mut body[start..], true) {
            Ok(0) => {
                return Err(FrameError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the connection closed inside a frame ({start} of {length} bytes)"),
                )));
            }
            Ok(read) => body.truncate(start + read),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => body.truncate(start),
            Err(error) => return Err(failed(error)),
        }
    }
    Ok(Some(body))
}

/// Send one complete frame (built by [`FrameBuilder`]) in one write call.
pub(super) fn write_frame(writer: &mut impl Write, frame: &[u8]) -> io::Result<()> {
    writer.write_all(frame)?;
    writer.flush()
}

/// A frame under construction: the length prefix is reserved first and filled in by
/// [`FrameBuilder::finish`], so a frame goes out in a single write.
struct FrameBuilder {
    buffer: Vec<u8>,
}

/// The frame would exceed [`MAX_FRAME`].
#[derive(Debug, PartialEq, Eq)]
pub(super) struct TooLarge(pub(super) usize);

impl FrameBuilder {
    fn new(first: u8) -> Self {
        let mut buffer = Vec::with_capacity(64);
        buffer.extend_from_slice(&[0; 4]);
        buffer.push(first);
        Self { buffer }
    }

    fn u8(&mut self, value: u8) {
        self.buffer.push(value);
    }

    fn u32(&mut self, value: u32) {
        self.buffer.extend_from_slice(&value.to_be_bytes());
    }

    /// A count or length; anything above `u32::MAX` cannot fit a frame anyway.
    fn length(&mut self, value: usize) -> Result<(), TooLarge> {
        let value = u32::try_from(value).map_err(|_| TooLarge(value))?;
        self.u32(value);
        Ok(())
    }

    fn bytes(&mut self, value: &[u8]) -> Result<(), TooLarge> {
        self.length(value.len())?;
        self.buffer.extend_from_slice(value);
        // Checked as we go so that an oversized scan stops growing early.
        if self.buffer.len() - 4 > MAX_FRAME {
            return Err(TooLarge(self.buffer.len() - 4));
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<u8>, TooLarge> {
        let body = self.buffer.len() - 4;
        if body > MAX_FRAME {
            return Err(TooLarge(body));
        }
        let prefix = u32::try_from(body).map_err(|_| TooLarge(body))?;
        self.buffer[..4].copy_from_slice(&prefix.to_be_bytes());
        Ok(self.buffer)
    }
}

/// The hello frame a follower sends first.
pub(super) fn encode_hello() -> Vec<u8> {
    let mut frame = FrameBuilder::new(OP_HELLO);
    // Both fit easily; the results cannot be errors.
    let _ = frame.bytes(MAGIC);
    frame.u32(VERSION);
    frame.finish().unwrap_or_default()
}

/// The request frame for `call`.
pub(super) fn encode_call(call: &Call<'_>) -> Result<Vec<u8>, TooLarge> {
    let frame = match call {
        Call::Get(tree, key) => {
            let mut frame = FrameBuilder::new(OP_GET);
            frame.u8(*tree as u8);
            frame.bytes(key)?;
            frame
        }
        Call::Scan(tree, prefix) => {
            let mut frame = FrameBuilder::new(OP_SCAN);
            frame.u8(*tree as u8);
            frame.bytes(prefix)?;
            frame
        }
        Call::Apply(ops) => {
            let mut frame = FrameBuilder::new(OP_APPLY);
            frame.length(ops.len())?;
            for op in ops {
                match op {
                    Op::Insert { tree, key, value } => {
                        frame.u8(KIND_INSERT);
                        frame.u8(*tree as u8);
                        frame.bytes(key)?;
                        frame.bytes(value)?;
                    }
                    Op::Remove { tree, key } => {
                        frame.u8(KIND_REMOVE);
                        frame.u8(*tree as u8);
                        frame.bytes(key)?;
                    }
                }
            }
            frame
        }
        Call::Clear(trees) => {
            let mut frame = FrameBuilder::new(OP_CLEAR);
            frame.length(trees.len())?;
            for tree in trees {
                frame.u8(*tree as u8);
            }
            frame
        }
    };
    frame.finish()
}

/// Decode a request body (the frame without its length prefix).
pub(super) fn decode_request(body: &[u8]) -> Result<Request<'_>, RequestError> {
    let mut cursor = Cursor::new(body);
    let op = cursor.u8().map_err(RequestError::Malformed)?;
    let request = match op {
        OP_HELLO => {
            let magic = cursor.bytes().map_err(RequestError::Malformed)?;
            let version = cursor.u32().map_err(RequestError::Malformed)?;
            Request::Hello {
                magic_ok: magic == MAGIC,
                version,
            }
        }
        OP_GET | OP_SCAN => {
            let tree = cursor.tree().map_err(RequestError::Malformed)?;
            let key = cursor.bytes().map_err(RequestError::Malformed)?;
            if op == OP_GET {
                Request::Call(Call::Get(tree, key))
            } else {
                Request::Call(Call::Scan(tree, key))
            }
        }
        OP_APPLY => {
            // Each op takes at least 1 + 1 + 4 bytes, which bounds the allocation by the
            // bytes actually received, whatever the count claims.
            let count = cursor.count(6).map_err(RequestError::Malformed)?;
            let mut ops = Vec::with_capacity(count);
            for _ in 0..count {
                let kind = cursor.u8().map_err(RequestError::Malformed)?;
                let tree = cursor.tree().map_err(RequestError::Malformed)?;
                let key = cursor.bytes().map_err(RequestError::Malformed)?.to_vec();
                let op = match kind {
                    KIND_INSERT => {
                        let value = cursor.bytes().map_err(RequestError::Malformed)?.to_vec();
                        Op::Insert { tree, key, value }
                    }
                    KIND_REMOVE => Op::Remove { tree, key },
                    other => {
                        return Err(RequestError::Malformed(format!(
                            "unknown batch op kind {other}"
                        )));
                    }
                };
                ops.push(op);
            }
            Request::Call(Call::Apply(ops))
        }
        OP_CLEAR => {
            let count = cursor.count(1).map_err(RequestError::Malformed)?;
            let mut trees = Vec::with_capacity(count);
            for _ in 0..count {
                trees.push(cursor.tree().map_err(RequestError::Malformed)?);
            }
            Request::Call(Call::Clear(trees))
        }
        other => return Err(RequestError::UnknownOp(other)),
    };
    cursor.finish().map_err(RequestError::Malformed)?;
    Ok(request)
}

/// The response frame for a call's result. A result too large for a frame becomes an error
/// response, so the follower gets a clear message instead of a broken connection.
pub(super) fn encode_reply(result: &Result<Reply, StoreError>) -> Vec<u8> {
    let encoded = match result {
        Ok(Reply::Done) => FrameBuilder::new(STATUS_OK).finish(),
        Ok(Reply::Value(value)) => (|| {
            let mut frame = FrameBuilder::new(STATUS_OK);
            match value {
                Some(value) => {
                    frame.u8(1);
                    frame.bytes(value)?;
                }
                None => frame.u8(0),
            }
            frame.finish()
        })(),
        Ok(Reply::Entries(entries)) => (|| {
            let mut frame = FrameBuilder::new(STATUS_OK);
            frame.length(entries.len())?;
            for (key, value) in entries {
                frame.bytes(key)?;
                frame.bytes(value)?;
            }
            frame.finish()
        })(),
        Err(StoreError::Database(message)) => return encode_error(STATUS_DATABASE, message),
        // The owner's own backend never answers Unavailable; pass it on as a database error.
        Err(error @ StoreError::Unavailable(_)) => {
            return encode_error(STATUS_DATABASE, &error.to_string());
        }
    };
    encoded.unwrap_or_else(|TooLarge(size)| {
        encode_error(
            STATUS_DATABASE,
            &format!("the result ({size} bytes) is larger than the {MAX_FRAME}-byte frame limit"),
        )
    })
}

/// A rejection: the request was not understood.
pub(super) fn encode_rejection(message: &str) -> Vec<u8> {
    encode_error(STATUS_REJECTED, message)
}

fn encode_error(status: u8, message: &str) -> Vec<u8> {
    // Messages are short; cut a pathological one rather than fail to report it.
    let mut end = message.len().min(64 << 10);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let mut frame = FrameBuilder::new(status);
    let _ = frame.bytes(&message.as_bytes()[..end]);
    frame.finish().unwrap_or_default()
}

/// What a response said.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Response {
    Ok(Reply),
    /// The owner's database failed; the message is the owner's.
    Database(String),
    /// The owner did not understand the request.
    Rejected(String),
}

/// Decode a response body expected to answer a call of `kind`. An error means the owner
/// sent something that is not a valid response.
pub(super) fn decode_response(body: &[u8], kind: ReplyKind) -> Result<Response, String> {
    let mut cursor = Cursor::new(body);
    let response = match cursor.u8()? {
        STATUS_OK => Response::Ok(match kind {
            ReplyKind::Done => Reply::Done,
            ReplyKind::Value => match cursor.u8()? {
                0 => Reply::Value(None),
                1 => Reply::Value(Some(cursor.bytes()?.to_vec())),
                other => return Err(format!("invalid presence flag {other}")),
            },
            ReplyKind::Entries => {
                let count = cursor.count(8)?;
                let mut entries = Vec::with_capacity(count);
                for _ in 0..count {
                    let key = cursor.bytes()?.to_vec();
                    let value = cursor.bytes()?.to_vec();
                    entries.push((key, value));
                }
                Reply::Entries(entries)
            }
        }),
        status @ (STATUS_DATABASE | STATUS_REJECTED) => {
            let message = String::from_utf8_lossy(cursor.bytes()?).into_owned();
            if status == STATUS_DATABASE {
                Response::Database(message)
            } else {
                Response::Rejected(message)
            }
        }
        other => return Err(format!("unknown response status {other}")),
    };
    cursor.finish()?;
    Ok(response)
}

/// A bounds-checked reader over a received body.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn new(body: &'a [u8]) -> Self {
        Self { rest: body }
    }

    fn take(&mut self, length: usize, what: &str) -> Result<&'a [u8], String> {
        if length > self.rest.len() {
            return Err(format!(
                "{what} needs {length} bytes but only {} remain",
                self.rest.len()
            ));
        }
        let (head, tail) = self.rest.split_at(length);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1, "a byte")?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        let bytes = self.take(4, "a 32-bit number")?;
        let mut array = [0u8; 4];
        array.copy_from_slice(bytes);
        Ok(u32::from_be_bytes(array))
    }

    fn tree(&mut self) -> Result<Tree, String> {
        let number = self.u8()?;
        Tree::from_u8(number).ok_or_else(|| format!("unknown tree {number}"))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let length = self.u32()?;
        let length = usize::try_from(length).map_err(|_| format!("length {length} too large"))?;
        self.take(length, "a byte string")
    }

    /// A list count, checked against the bytes left: each item takes at least `item_size`.
    fn count(&mut self, item_size: usize) -> Result<usize, String> {
        let count = self.u32()?;
        let count = usize::try_from(count).map_err(|_| format!("count {count} too large"))?;
        if count.saturating_mul(item_size) > self.rest.len() {
            return Err(format!(
                "a list of {count} items cannot fit in the {} bytes left",
                self.rest.len()
            ));
        }
        Ok(count)
    }

    fn finish(self) -> Result<(), String> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(format!("{} unexpected trailing bytes", self.rest.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(frame: &[u8]) -> &[u8] {
        let length = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(length, frame.len() - 4);
        &frame[4..]
    }

    #[test]
    fn calls_round_trip() {
        let calls = [
            Call::Get(Tree::Keys, b"k1"),
            Call::Scan(Tree::Messages, b""),
            Call::Apply(vec![
                Op::Insert {
                    tree: Tree::Chats,
                    key: b"a".to_vec(),
                    value: vec![7; 1000],
                },
                Op::Remove {
                    tree: Tree::Meta,
                    key: Vec::new(),
                },
            ]),
            Call::Apply(Vec::new()),
            Call::Clear(Tree::ALL.to_vec()),
        ];
        for call in calls {
            let frame = encode_call(&call).unwrap();
            assert_eq!(decode_request(body(&frame)), Ok(Request::Call(call)));
        }
        let hello = encode_hello();
        assert_eq!(
            decode_request(body(&hello)),
            Ok(Request::Hello {
                magic_ok: true,
                version: VERSION
            })
        );
    }

    #[test]
    fn replies_round_trip() {
        let cases = [
            (Ok(Reply::Done), ReplyKind::Done, Response::Ok(Reply::Done)),
            (
                Ok(Reply::Value(None)),
                ReplyKind::Value,
                Response::Ok(Reply::Value(None)),
            ),
            (
                Ok(Reply::Value(Some(b"v".to_vec()))),
                ReplyKind::Value,
                Response::Ok(Reply::Value(Some(b"v".to_vec()))),
            ),
            (
                Ok(Reply::Entries(vec![(b"k".to_vec(), b"v".to_vec())])),
                ReplyKind::Entries,
                Response::Ok(Reply::Entries(vec![(b"k".to_vec(), b"v".to_vec())])),
            ),
            (
                Err(StoreError::Database("disk full".into())),
                ReplyKind::Done,
                Response::Database("disk full".into()),
            ),
        ];
        for (result, kind, expected) in cases {
            let frame = encode_reply(&result);
            assert_eq!(decode_response(body(&frame), kind), Ok(expected));
        }
        let frame = encode_rejection("nope");
        assert_eq!(
            decode_response(body(&frame), ReplyKind::Value),
            Ok(Response::Rejected("nope".into()))
        );
    }

    #[test]
    fn bad_requests_are_errors_not_panics() {
        assert_eq!(decode_request(&[99]), Err(RequestError::UnknownOp(99)));
        for garbage in [
            &[][..],
            &[OP_GET],
            &[OP_GET, 9, 0, 0, 0, 0],
            &[OP_GET, 1, 0, 0, 0, 5, b'a'],
            &[OP_GET, 1, 0, 0, 0, 0, 1],
            &[OP_APPLY, 0xff, 0xff, 0xff, 0xff],
            &[OP_APPLY, 0, 0, 0, 1, 7, 1, 0, 0, 0, 0],
            &[OP_CLEAR, 0, 0, 0, 2, 1],
            &[OP_CLEAR, 0, 0, 0, 1, 200],
        ] {
            assert!(
                matches!(decode_request(garbage), Err(RequestError::Malformed(_))),
                "{garbage:?}"
            );
        }
        assert!(decode_response(&[5], ReplyKind::Done).is_err());
        assert!(decode_response(&[0, 0xff, 0xff, 0xff, 0xff], ReplyKind::Entries).is_err());
        assert!(decode_response(&[0, 2], ReplyKind::Value).is_err());
    }

    #[test]
    fn frames_are_capped() {
        let mut oversized = &[0xff, 0xff, 0xff, 0xff, 1, 2, 3][..];
        assert!(matches!(
            read_frame(&mut oversized),
            Err(FrameError::TooLarge(_))
        ));
        let mut truncated = &[0, 0, 0, 9, 1, 2][..];
        assert!(matches!(read_frame(&mut truncated), Err(FrameError::Io(_))));
        let mut empty = &[][..];
        assert!(matches!(read_frame(&mut empty), Ok(None)));
        let big = Call::Get(Tree::Meta, &[]);
        assert!(encode_call(&big).is_ok());
        let huge = vec![0u8; MAX_FRAME];
        assert!(encode_call(&Call::Scan(Tree::Meta, &huge)).is_err());
        let reply = encode_reply(&Ok(Reply::Entries(vec![(huge, Vec::new())])));
        assert!(matches!(
            decode_response(body(&reply), ReplyKind::Entries),
            Ok(Response::Database(_))
        ));
    }

    #[test]
    fn a_frame_grows_as_its_bytes_arrive_and_a_stall_ends_it() {
        // A reader that hands over 10 bytes of a frame announcing ~256 MiB, then stalls.
        let mut given = vec![0x0f, 0xff, 0xff, 0x00];
        given.extend_from_slice(&[1; 10]);
        let mut largest = 0;
        let mut reader = |buf: &mut [u8], _in_frame: bool| {
            largest = largest.max(buf.len());
            if given.is_empty() {
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            }
            let n = buf.len().min(given.len());
            buf[..n].copy_from_slice(&given[..n]);
            given.drain(..n);
            Ok(n)
        };
        assert!(matches!(
            read_frame_with(&mut reader),
            Err(FrameError::Stalled)
        ));
        assert!(largest <= READ_CHUNK, "asked for {largest} bytes at once");

        let (mut client, server) = UnixStream::pair().unwrap();
        client
            .write_all(&[0x0f, 0xff, 0xff, 0x00, 1, 2, 3])
            .unwrap();
        let started = Instant::now();
        let read = read_frame_within(&server, None, Duration::from_millis(200));
        assert!(matches!(read, Err(FrameError::Stalled)), "{read:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // Silence before a frame begins counts only when asked for.
        let (_quiet, server) = UnixStream::pair().unwrap();
        let read = read_frame_within(&server, Some(Duration::from_millis(100)), Duration::ZERO);
        assert!(matches!(read, Err(FrameError::Stalled)), "{read:?}");
    }
}
