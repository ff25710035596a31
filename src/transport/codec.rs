//! Frame codec for the editor connection.
//!
//! Two framings are spoken: the LSP base protocol (`Content-Length: N\r\n\r\n` + body), which
//! Neovim's and Emacs's JSON-RPC clients use unchanged, and newline-delimited JSON, handy from a
//! shell. The framing is chosen from the first non-blank byte the client sends (`{` or `[`
//! means NDJSON) and the same framing is used for everything we write back.
//!
//! A fault in one frame (a bad header, an oversized body) is decoded as an
//! [`Inbound::Malformed`] item rather than an error: `FramedRead` ends the stream after the
//! first error, and one bad frame must never end the session. Oversized bodies are skipped as
//! they arrive, never buffered.

use std::sync::{Arc, OnceLock};

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Largest frame body accepted, in bytes. Larger frames are answered with an error and skipped.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Largest header block accepted, in bytes.
const MAX_HEADER_BYTES: usize = 8 * 1024;

/// How messages are delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// LSP base protocol: `Content-Length` header block, blank line, body.
    ContentLength,
    /// One JSON value per line.
    Ndjson,
}

/// The framing shared by the reading and the writing half of one connection: set once by the
/// decoder when it sees the first byte, read by the encoder.
pub type SharedFraming = Arc<OnceLock<Framing>>;

/// One decoded unit of input.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    /// The body of a well-framed message (not yet parsed as JSON).
    Message(Bytes),
    /// A frame that could not be delimited; the connection goes on with the next one.
    Malformed(FrameError),
}

/// Why a frame could not be delimited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("line exceeds the limit of {limit} bytes")]
    LineTooLong { limit: usize },
    #[error("bad frame header: {0}")]
    BadHeader(String),
    #[error("unframed data between messages ({0} bytes skipped)")]
    StrayData(usize),
    #[error("input ended in the middle of a frame")]
    Truncated,
}

impl FrameError {
    /// A stable, machine-readable name for the fault (sent as the error's `data.kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            FrameError::TooLarge { .. } | FrameError::LineTooLong { .. } => "frameTooLarge",
            FrameError::BadHeader(_) => "badHeader",
            FrameError::StrayData(_) => "strayData",
            FrameError::Truncated => "truncated",
        }
    }
}

#[derive(Debug)]
enum State {
    /// Nothing but blanks seen yet; the framing is not known.
    Detect,
    /// Waiting for a complete header block.
    Headers,
    /// Waiting for a body of this many bytes.
    Body(usize),
    /// Discarding this many more bytes of an oversized body.
    SkipBody(usize),
    /// Waiting for the next NDJSON line.
    Line,
    /// Discarding the rest of an oversized NDJSON line.
    SkipLine,
    /// Discarding bytes that are not a header, this many so far, until a `Content-` header.
    Stray(usize),
    /// Discarding a header block too long to buffer (already reported), line by line up to
    /// its blank line, noting its `Content-Length` so that the frame's body goes too.
    SkipHeader(HeaderSkip),
}

/// What a header block says about its body's length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Length {
    /// No `Content-Length` header (yet).
    #[default]
    Unknown,
    /// One `Content-Length`, or several that agree.
    Known(usize),
    /// A `Content-Length` that is not a number, or several that disagree: where the body
    /// ends cannot be told, so the decoder resynchronises on the next header instead.
    Ambiguous,
}

impl Length {
    /// Add one `Content-Length` value (`None` when it is not a number).
    fn add(self, value: Option<usize>) -> Self {
        match (self, value) {
            (Length::Unknown, Some(size)) => Length::Known(size),
            (Length::Known(known), Some(size)) if known == size => Length::Known(known),
            _ => Length::Ambiguous,
        }
    }
}

/// Progress through an over-long header block.
#[derive(Debug, Clone, Copy, Default)]
struct HeaderSkip {
    length: Length,
    /// The start of the current line was dropped (it was longer than the limit alone).
    mid_line: bool,
}

/// Decoder and encoder for one connection. See the module docs.
#[derive(Debug)]
pub struct FrameCodec {
    framing: SharedFraming,
    state: State,
    max_frame: usize,
}

impl FrameCodec {
    /// A codec that detects its framing from the input and records it in `framing`.
    pub fn new(framing: SharedFraming) -> Self {
        Self::with_limit(framing, MAX_FRAME_BYTES)
    }

    /// Like [`FrameCodec::new`] with a custom body size limit (for tests and fuzzing).
    pub fn with_limit(framing: SharedFraming, max_frame: usize) -> Self {
        let state = match framing.get() {
            Some(Framing::ContentLength) => State::Headers,
            Some(Framing::Ndjson) => State::Line,
            None => State::Detect,
        };
        Self {
            framing,
            state,
            max_frame,
        }
    }

    /// The framing in use: detected from the input, or `Content-Length` until then.
    pub fn framing(&self) -> Framing {
        self.framing
            .get()
            .copied()
            .unwrap_or(Framing::ContentLength)
    }

    fn detect(&mut self, src: &mut BytesMut) -> bool {
        let blanks = src.iter().take_while(|b| b.is_ascii_whitespace()).count();
        src.advance(blanks);
        let Some(&first) = src.first() else {
            return false;
        };
        let framing = if first == b'{' || first == b'[' {
            Framing::Ndjson
        } else {
            Framing::ContentLength
        };
        let framing = *self.framing.get_or_init(|| framing);
        self.state = match framing {
            Framing::ContentLength => State::Headers,
            Framing::Ndjson => State::Line,
        };
        true
    }

    fn decode_headers(&mut self, src: &mut BytesMut) -> Option<Inbound> {
        // Blank lines between frames are harmless; skip them.
        let blanks = src
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        src.advance(blanks);
        let first = *src.first()?;
        if !first.is_ascii_alphabetic() {
            self.state = State::Stray(0);
            return None;
        }
        let Some((block_len, end_len)) = find_blank_line(src) else {
            if src.len() > MAX_HEADER_BYTES {
                // Skip only this frame, not whatever follows it in the buffer: the block is
                // dropped line by line up to its end, then its body.
                self.state = State::SkipHeader(HeaderSkip::default());
                return Some(Inbound::Malformed(FrameError::BadHeader(format!(
                    "header block longer than {MAX_HEADER_BYTES} bytes"
                ))));
            }
            return None;
        };
        let block = src.split_to(block_len + end_len);
        match parse_content_length(&block[..block_len]) {
            Err(BadBlock { message, length }) => {
                if let Length::Known(size) = length {
                    self.state = State::SkipBody(size);
                }
                Some(Inbound::Malformed(FrameError::BadHeader(message)))
            }
            Ok(size) if size > self.max_frame => {
                self.state = State::SkipBody(size);
                Some(Inbound::Malformed(FrameError::TooLarge {
                    size,
                    limit: self.max_frame,
                }))
            }
            Ok(size) => {
                self.state = State::Body(size);
                None
            }
        }
    }

    /// Drop one line of an over-long header block. Returns false when more input is needed.
    fn skip_header_line(&mut self, src: &mut BytesMut, mut skip: HeaderSkip) -> bool {
        let Some(newline) = src.iter().position(|&b| b == b'\n') else {
            if src.len() > MAX_HEADER_BYTES {
                // One line longer than the whole limit: nothing in it is kept.
                src.clear();
                skip.mid_line = true;
            }
            self.state = State::SkipHeader(skip);
            return false;
        };
        let line = src.split_to(newline + 1);
        let line = line.strip_suffix(b"\n").unwrap_or(&line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if std::mem::take(&mut skip.mid_line) {
            self.state = State::SkipHeader(skip);
        } else if line.is_empty() {
            self.state = match skip.length {
                Length::Known(size) => State::SkipBody(size),
                Length::Unknown | Length::Ambiguous => State::Headers,
            };
        } else {
            if let Some(value) = content_length_value(line) {
                skip.length = skip.length.add(value);
            }
            self.state = State::SkipHeader(skip);
        }
        true
    }

    fn decode_line(&mut self, src: &mut BytesMut) -> Option<Inbound> {
        loop {
            let Some(newline) = src.iter().position(|&b| b == b'\n') else {
                if src.len() > self.max_frame {
                    src.clear();
                    self.state = State::SkipLine;
                    return Some(Inbound::Malformed(FrameError::LineTooLong {
                        limit: self.max_frame,
                    }));
                }
                return None;
            };
            let line = src.split_to(newline + 1);
            let body = trim_ascii_blank(&line);
            if body.is_empty() {
                continue;
            }
            if body.len() > self.max_frame {
                return Some(Inbound::Malformed(FrameError::LineTooLong {
                    limit: self.max_frame,
                }));
            }
            let start = body.as_ptr() as usize - line.as_ptr() as usize;
            let len = body.len();
            return Some(Inbound::Message(line.freeze().slice(start..start + len)));
        }
    }
}

impl Decoder for FrameCodec {
    type Item = Inbound;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, std::io::Error> {
        loop {
            match self.state {
                State::Detect => {
                    if !self.detect(src) {
                        return Ok(None);
                    }
                }
                State::Headers => {
                    let before = src.len();
                    if let Some(item) = self.decode_headers(src) {
                        return Ok(Some(item));
                    }
                    // Only a completed header block changes state or length; otherwise wait.
                    if matches!(self.state, State::Headers) && src.len() == before {
                        return Ok(None);
                    }
                }
                State::Body(size) => {
                    if src.len() < size {
                        src.reserve(size - src.len());
                        return Ok(None);
                    }
                    self.state = State::Headers;
                    return Ok(Some(Inbound::Message(src.split_to(size).freeze())));
                }
                State::SkipBody(remaining) => {
                    let skip = remaining.min(src.len());
                    src.advance(skip);
                    if skip < remaining {
                        self.state = State::SkipBody(remaining - skip);
                        return Ok(None);
                    }
                    self.state = State::Headers;
                }
                State::Stray(skipped) => {
                    if let Some(start) = find_header_start(src) {
                        src.advance(start);
                        self.state = State::Headers;
                        return Ok(Some(Inbound::Malformed(FrameError::StrayData(
                            skipped + start,
                        ))));
                    }
                    // Keep a tail that may be the start of a header split across reads.
                    let skip = src.len().saturating_sub(HEADER_NEEDLE.len() - 1);
                    src.advance(skip);
                    self.state = State::Stray(skipped + skip);
                    return Ok(None);
                }
                State::SkipHeader(skip) => {
                    if !self.skip_header_line(src, skip) {
                        return Ok(None);
                    }
                }
                State::Line => return Ok(self.decode_line(src)),
                State::SkipLine => match src.iter().position(|&b| b == b'\n') {
                    Some(newline) => {
                        src.advance(newline + 1);
                        self.state = State::Line;
                    }
                    None => {
                        src.clear();
                        return Ok(None);
                    }
                },
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, std::io::Error> {
        if let Some(item) = self.decode(src)? {
            return Ok(Some(item));
        }
        match self.state {
            // A last NDJSON line may come without its newline.
            State::Line => {
                let rest = src.split_to(src.len());
                let body = trim_ascii_blank(&rest);
                if body.is_empty() {
                    return Ok(None);
                }
                Ok(Some(Inbound::Message(Bytes::copy_from_slice(body))))
            }
            // The over-long block was reported when it was found.
            State::SkipHeader(_) => {
                src.clear();
                self.state = State::Headers;
                Ok(None)
            }
            State::Detect | State::SkipLine => {
                src.clear();
                Ok(None)
            }
            State::Headers if trim_ascii_blank(src).is_empty() => {
                src.clear();
                Ok(None)
            }
            State::Stray(skipped) => {
                let total = skipped + src.len();
                src.clear();
                self.state = State::Headers;
                Ok(Some(Inbound::Malformed(FrameError::StrayData(total))))
            }
            State::Headers | State::Body(_) | State::SkipBody(_) => {
                src.clear();
                self.state = State::Headers;
                Ok(Some(Inbound::Malformed(FrameError::Truncated)))
            }
        }
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = std::io::Error;

    fn encode(&mut self, body: Bytes, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        match self.framing() {
            Framing::ContentLength => {
                let header = format!("Content-Length: {}\r\n\r\n", body.len());
                dst.reserve(header.len() + body.len());
                dst.extend_from_slice(header.as_bytes());
                dst.extend_from_slice(&body);
            }
            Framing::Ndjson => {
                // serde_json never writes a raw newline inside a value.
                dst.reserve(body.len() + 1);
                dst.extend_from_slice(&body);
                dst.extend_from_slice(b"\n");
            }
        }
        Ok(())
    }
}

/// The length of the header block and of the blank line that ends it (`\r\n\r\n` or `\n\n`).
fn find_blank_line(src: &[u8]) -> Option<(usize, usize)> {
    let limit = src.len().min(MAX_HEADER_BYTES + 4);
    let window = &src[..limit];
    let crlf = window.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = window.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(c), Some(l)) if l < c => Some((l, 2)),
        (Some(c), _) => Some((c, 4)),
        (None, Some(l)) => Some((l, 2)),
        (None, None) => None,
    }
}

/// What a header block starts with, looked for to resynchronise after junk.
const HEADER_NEEDLE: &[u8] = b"content-";

/// Where the next `Content-` header starts (case-insensitive).
fn find_header_start(src: &[u8]) -> Option<usize> {
    src.windows(HEADER_NEEDLE.len())
        .position(|w| w.eq_ignore_ascii_case(HEADER_NEEDLE))
}

/// A header block that cannot be used, and what it says about its body's length (so that
/// a body whose length is still certain is skipped with it, as part of the same bad frame).
struct BadBlock {
    message: String,
    length: Length,
}

/// The value of a `Content-Length` header line: `None` if the line is another header,
/// `Some(None)` if the value is not a number.
fn content_length_value(line: &[u8]) -> Option<Option<usize>> {
    let colon = line.iter().position(|&b| b == b':')?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if !name.trim_ascii().eq_ignore_ascii_case(b"content-length") {
        return None;
    }
    Some(
        std::str::from_utf8(value.trim_ascii())
            .ok()
            .and_then(|value| value.parse::<usize>().ok()),
    )
}

/// The body length a header block announces. Exactly one `Content-Length` is required: two
/// (even equal) make the frame ambiguous to some reader, so it is refused. Errors say what is
/// wrong without quoting the line: text that is not a header may be anything typed into the
/// wrong place, a password included, and these errors are logged and sent back.
fn parse_content_length(block: &[u8]) -> Result<usize, BadBlock> {
    let mut length = Length::Unknown;
    let mut count = 0;
    let mut problem = None;
    for (index, line) in block.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Ok(text) = std::str::from_utf8(line) else {
            problem.get_or_insert_with(|| "header is not valid UTF-8".to_string());
            continue;
        };
        if !text.contains(':') {
            problem.get_or_insert_with(|| {
                format!(
                    "header line {} has no colon ({} bytes)",
                    index + 1,
                    text.len()
                )
            });
            continue;
        }
        if let Some(parsed) = content_length_value(line) {
            count += 1;
            length = length.add(parsed);
            if parsed.is_none() {
                problem.get_or_insert_with(|| "Content-Length is not a number".to_string());
            }
        }
    }
    if count > 1 {
        problem.get_or_insert_with(|| format!("{count} Content-Length headers; one is required"));
    }
    match (problem, length) {
        (None, Length::Known(size)) => Ok(size),
        (None, _) => Err(BadBlock {
            message: "missing Content-Length header".to_string(),
            length,
        }),
        (Some(message), length) => Err(BadBlock { message, length }),
    }
}

fn trim_ascii_blank(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], chunk: usize) -> Vec<Inbound> {
        let mut codec = FrameCodec::with_limit(SharedFraming::default(), 64);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            while let Some(item) = codec.decode(&mut buf).unwrap() {
                out.push(item);
            }
        }
        while let Some(item) = codec.decode_eof(&mut buf).unwrap() {
            out.push(item);
        }
        out
    }

    fn msg(text: &str) -> Inbound {
        Inbound::Message(Bytes::copy_from_slice(text.as_bytes()))
    }

    #[test]
    fn content_length_frames_decode_at_any_split() {
        let input =
            b"Content-Length: 7\r\n\r\n{\"a\":1}Content-Type: x\r\ncontent-length: 2\r\n\r\n[]";
        for chunk in 1..input.len() {
            assert_eq!(decode_all(input, chunk), vec![msg("{\"a\":1}"), msg("[]")]);
        }
    }

    #[test]
    fn ndjson_is_detected_and_blank_lines_skipped() {
        let input = b"\n {\"a\":1}\r\n\n[1]\n{\"last\":true}";
        for chunk in 1..input.len() {
            assert_eq!(
                decode_all(input, chunk),
                vec![msg("{\"a\":1}"), msg("[1]"), msg("{\"last\":true}")]
            );
        }
    }

    #[test]
    fn oversized_body_is_skipped_and_next_frame_served() {
        let big = "x".repeat(100);
        let input = format!("Content-Length: 100\r\n\r\n{big}Content-Length: 2\r\n\r\n{{}}");
        assert_eq!(
            decode_all(input.as_bytes(), 7),
            vec![
                Inbound::Malformed(FrameError::TooLarge {
                    size: 100,
                    limit: 64
                }),
                msg("{}")
            ]
        );
    }

    #[test]
    fn oversized_line_is_skipped_and_next_line_served() {
        let big = "y".repeat(200);
        let input = format!("{{\"a\":\"{big}\"}}\n{{}}\n");
        let items = decode_all(input.as_bytes(), 5);
        assert_eq!(
            items,
            vec![
                Inbound::Malformed(FrameError::LineTooLong { limit: 64 }),
                msg("{}")
            ]
        );
    }

    #[test]
    fn bad_headers_are_not_quoted() {
        // A password typed into the wrong window, arriving where a header should be.
        for block in [
            &b"hunter2-SECRET\r\n"[..],
            b"Content-Length: hunter2-SECRET\r\n",
            b"Content-Type: x\nsk-proj-SECRET0123456789abcdef",
        ] {
            let Err(error) = parse_content_length(block) else {
                panic!("accepted a bad header block");
            };
            assert!(!error.message.contains("SECRET"), "{}", error.message);
        }
    }

    #[test]
    fn bad_headers_are_reported_and_skipped() {
        let input = b"Content-Length: abc\r\n\r\nContent-Length: 2\r\n\r\n{}";
        let items = decode_all(input, 3);
        assert!(
            matches!(&items[0], Inbound::Malformed(FrameError::BadHeader(m)) if m.contains("not a number"))
        );
        assert_eq!(items[1], msg("{}"));
    }

    #[test]
    fn stray_body_without_header_resynchronises() {
        let input = b"Content-Lenght: 2\r\n\r\n{}Content-Length: 2\r\n\r\n[]";
        let items = decode_all(input, 1);
        assert_eq!(items.len(), 3, "{items:?}");
        assert!(matches!(
            items[0],
            Inbound::Malformed(FrameError::BadHeader(_))
        ));
        assert!(matches!(
            items[1],
            Inbound::Malformed(FrameError::StrayData(2))
        ));
        assert_eq!(items[2], msg("[]"));
    }

    fn is_bad_header(item: &Inbound, needle: &str) -> bool {
        matches!(item, Inbound::Malformed(FrameError::BadHeader(m)) if m.contains(needle))
    }

    #[test]
    fn an_over_long_header_block_skips_only_its_own_frame() {
        let padding = "a".repeat(MAX_HEADER_BYTES + 1024);
        let lines = "X-Line: b\r\n".repeat(1000);
        for block in [
            format!("X-Padding: {padding}\r\nContent-Length: 2\r\n\r\n{{}}"),
            format!("Content-Length: 2\r\nX-Padding: {padding}\r\n\r\n{{}}"),
            format!("{lines}Content-Length: 2\r\n\r\n{{}}"),
        ] {
            let input = format!("{block}Content-Length: 2\r\n\r\n[]");
            for chunk in [1, 7, 4096, input.len()] {
                let items = decode_all(input.as_bytes(), chunk);
                assert_eq!(items.len(), 2, "chunk {chunk}: {items:?}");
                assert!(is_bad_header(&items[0], "longer than"), "{items:?}");
                assert_eq!(items[1], msg("[]"));
            }
        }
    }

    #[test]
    fn duplicate_content_lengths_are_refused_without_losing_the_next_frame() {
        let conflicting =
            b"Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}Content-Length: 2\r\n\r\n[]";
        for chunk in [1, 5, conflicting.len()] {
            let items = decode_all(conflicting, chunk);
            assert!(is_bad_header(&items[0], "2 Content-Length"), "{items:?}");
            assert_eq!(items[1], Inbound::Malformed(FrameError::StrayData(2)));
            assert_eq!(items[2], msg("[]"));
            assert_eq!(items.len(), 3);
        }
        let equal = b"Content-Length: 2\r\ncontent-length:2\r\n\r\n{}Content-Length: 2\r\n\r\n[]";
        for chunk in [1, 5, equal.len()] {
            let items = decode_all(equal, chunk);
            assert_eq!(items.len(), 2, "{items:?}");
            assert!(is_bad_header(&items[0], "2 Content-Length"), "{items:?}");
            assert_eq!(items[1], msg("[]"));
        }
    }

    #[test]
    fn truncated_frame_at_eof_is_reported() {
        let items = decode_all(b"Content-Length: 10\r\n\r\n{\"a\"", 4);
        assert_eq!(items, vec![Inbound::Malformed(FrameError::Truncated)]);
    }

    #[test]
    fn encoder_uses_detected_framing() {
        let shared = SharedFraming::default();
        let mut codec = FrameCodec::new(shared.clone());
        let mut out = BytesMut::new();
        codec.encode(Bytes::from_static(b"{}"), &mut out).unwrap();
        assert_eq!(&out[..], b"Content-Length: 2\r\n\r\n{}");
        let mut buf = BytesMut::from(&b"{}\n"[..]);
        codec.decode(&mut buf).unwrap();
        out.clear();
        codec.encode(Bytes::from_static(b"{}"), &mut out).unwrap();
        assert_eq!(&out[..], b"{}\n");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Any JSON-ish body without raw newlines (NDJSON needs that; JSON text never has them).
    fn body() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 {}\\[\\]:,\"é✓]{0,40}".prop_map(|inner| format!("{{\"b\":\"{inner}\"}}"))
    }

    fn frames(bodies: &[String], framing: Framing) -> Vec<u8> {
        let mut bytes = Vec::new();
        for body in bodies {
            match framing {
                Framing::ContentLength => {
                    bytes.extend_from_slice(
                        format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes(),
                    );
                    bytes.extend_from_slice(body.as_bytes());
                }
                Framing::Ndjson => {
                    bytes.extend_from_slice(body.as_bytes());
                    bytes.push(b'\n');
                }
            }
        }
        bytes
    }

    fn decode_split(input: &[u8], cuts: &[usize]) -> Vec<Inbound> {
        let mut codec = FrameCodec::new(SharedFraming::default());
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut start = 0;
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        points.sort_unstable();
        points.push(input.len());
        for end in points {
            if end < start {
                continue;
            }
            buf.extend_from_slice(&input[start..end]);
            start = end;
            while let Some(item) = codec.decode(&mut buf).unwrap() {
                out.push(item);
            }
        }
        while let Some(item) = codec.decode_eof(&mut buf).unwrap() {
            out.push(item);
        }
        out
    }

    proptest! {
        /// Any split of a valid byte stream decodes to the same messages, in both framings.
        #[test]
        fn any_split_decodes_the_same(
            bodies in proptest::collection::vec(body(), 1..12),
            cuts in proptest::collection::vec(any::<usize>(), 0..30),
            ndjson in any::<bool>(),
        ) {
            let framing = if ndjson { Framing::Ndjson } else { Framing::ContentLength };
            let input = frames(&bodies, framing);
            let expected: Vec<Inbound> = bodies
                .iter()
                .map(|b| Inbound::Message(Bytes::copy_from_slice(b.as_bytes())))
                .collect();
            prop_assert_eq!(decode_split(&input, &cuts), expected);
        }

        /// Arbitrary bytes never panic the decoder, and it always makes progress.
        #[test]
        fn garbage_never_panics(input in proptest::collection::vec(any::<u8>(), 0..2000), cut in any::<usize>()) {
            let _ = decode_split(&input, &[cut]);
        }
    }
}
