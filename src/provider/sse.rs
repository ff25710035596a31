//! An incremental Server-Sent Events parser: bytes in, events out, whatever the chunking.
//!
//! Real streams split events across reads at any byte (inside a multi-byte character too),
//! end lines with `\n`, `\r\n` or `\r`, and send `: comment` keep-alives (OpenRouter). Lines
//! are only decoded once complete, so a split character is never mangled. A pure function of
//! its input: easy to fuzz.

use super::decoder::{LineTooLong, Splitter};

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// The longest line accepted.
const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// Parser state between reads.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` at the start of the next one belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed one chunk; complete events are pushed to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), LineTooLong> {
        let mut rest = chunk;
        if self.after_cr {
            self.after_cr = false;
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&rest[..end]);
            let terminator = rest[end];
            rest = &rest[end + 1..];
            if terminator == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            let line = std::mem::take(&mut self.line);
            self.take_line(&line, out);
        }
        self.line.extend_from_slice(rest);
        if self.line.len() > MAX_LINE_BYTES {
            self.line.clear();
            return Err(LineTooLong(MAX_LINE_BYTES));
        }
        Ok(())
    }

    /// The stream ended: an event without its closing blank line is still delivered.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.take_line(&line, out);
        }
        self.dispatch(out);
    }

    fn take_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return; // a comment: keep-alive
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_string()),
            _ => {} // id, retry and unknown fields are not needed here
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            out.push(SseEvent {
                event: self.event.take(),
                data: std::mem::take(&mut self.data),
            });
        }
        self.event = None;
        self.data.clear();
        self.has_data = false;
    }
}

impl Splitter for SseParser {
    type Unit = SseEvent;

    fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), LineTooLong> {
        SseParser::feed(self, chunk, out)
    }

    fn finish(&mut self, out: &mut Vec<SseEvent>) {
        SseParser::finish(self, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(input: &[u8], sizes: &[usize]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        let mut rest = input;
        let mut i = 0;
        while !rest.is_empty() {
            let size = sizes[i % sizes.len()].clamp(1, rest.len());
            parser.feed(&rest[..size], &mut out).unwrap();
            rest = &rest[size..];
            i += 1;
        }
        parser.finish(&mut out);
        out
    }

    #[test]
    fn any_split_gives_the_same_events() {
        let input = ": OPENROUTER PROCESSING\r\n\r\nevent: message_start\r\ndata: {\"a\":\"héllo ✓\"}\r\n\r\ndata: one\ndata: two\n\ndata:[DONE]\r\r";
        let expected = vec![
            SseEvent {
                event: Some("message_start".into()),
                data: "{\"a\":\"héllo ✓\"}".into(),
            },
            SseEvent {
                event: None,
                data: "one\ntwo".into(),
            },
            SseEvent {
                event: None,
                data: "[DONE]".into(),
            },
        ];
        assert_eq!(parse_in_pieces(input.as_bytes(), &[input.len()]), expected);
        for size in 1..12 {
            assert_eq!(
                parse_in_pieces(input.as_bytes(), &[size]),
                expected,
                "size {size}"
            );
            assert_eq!(
                parse_in_pieces(input.as_bytes(), &[size, 1, 3]),
                expected,
                "sizes {size},1,3"
            );
        }
    }

    #[test]
    fn an_unterminated_last_event_is_delivered() {
        assert_eq!(
            parse_in_pieces(b"data: tail", &[4]),
            vec![SseEvent {
                event: None,
                data: "tail".into()
            }]
        );
    }

    #[test]
    fn comments_alone_yield_nothing() {
        assert!(parse_in_pieces(b": ping\n\n: ping\n\n", &[1]).is_empty());
    }
}
