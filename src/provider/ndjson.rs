//! An incremental newline-delimited JSON splitter (Ollama's stream): bytes in, complete lines
//! out, whatever the chunking. Pure and easy to fuzz.

use super::decoder::{LineTooLong, Splitter};

/// The longest line accepted.
const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// Splitter state between reads.
#[derive(Debug, Default)]
pub struct NdjsonParser {
    line: Vec<u8>,
}

impl NdjsonParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed one chunk; complete non-blank lines are pushed to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<String>) -> Result<(), LineTooLong> {
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&rest[..end]);
            rest = &rest[end + 1..];
            self.emit(out);
        }
        self.line.extend_from_slice(rest);
        if self.line.len() > MAX_LINE_BYTES {
            self.line.clear();
            return Err(LineTooLong(MAX_LINE_BYTES));
        }
        Ok(())
    }

    /// The stream ended: a last line without its newline still counts.
    pub fn finish(&mut self, out: &mut Vec<String>) {
        self.emit(out);
    }

    fn emit(&mut self, out: &mut Vec<String>) {
        let line = std::mem::take(&mut self.line);
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if !text.is_empty() {
            out.push(text.to_string());
        }
    }
}

impl Splitter for NdjsonParser {
    type Unit = String;

    fn feed(&mut self, chunk: &[u8], out: &mut Vec<String>) -> Result<(), LineTooLong> {
        NdjsonParser::feed(self, chunk, out)
    }

    fn finish(&mut self, out: &mut Vec<String>) {
        NdjsonParser::finish(self, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_split_gives_the_same_lines() {
        let input = "{\"message\":{\"content\":\"ü\"}}\r\n\n{\"done\":true}";
        for size in 1..input.len() {
            let mut parser = NdjsonParser::new();
            let mut out = Vec::new();
            for piece in input.as_bytes().chunks(size) {
                parser.feed(piece, &mut out).unwrap();
            }
            parser.finish(&mut out);
            assert_eq!(
                out,
                ["{\"message\":{\"content\":\"ü\"}}", "{\"done\":true}"],
                "size {size}"
            );
        }
    }
}
