//! The secret guard: before a message or a context item leaves the machine, anything shaped
//! like a credential is replaced by `[redacted: kind]` and listed, so the user sees what was
//! held back and can send it anyway, one turn at a time.
//!
//! Shapes, not entropy: a false positive costs the user one click in the preview, a false
//! negative costs a leaked key. Each pattern names its kind so the manifest can say what it
//! found without saying what it was.

use std::sync::OnceLock;

use regex::Regex;
use zeroize::Zeroizing;

pub use crate::history::Redaction;

/// The patterns, in the order they are tried; earlier ones win where two overlap.
fn patterns() -> &'static [(&'static str, Regex)] {
    static PATTERNS: OnceLock<Vec<(&'static str, Regex)>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let table: [(&str, &str); 10] = [
            (
                "private-key",
                r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY-----|\z)",
            ),
            ("anthropic-key", r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),
            ("openrouter-key", r"\bsk-or-v1-[A-Za-z0-9]{20,}"),
            ("openai-key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
            ("groq-key", r"\bgsk_[A-Za-z0-9]{20,}"),
            ("gemini-key", r"\bAIza[0-9A-Za-z_\-]{35}"),
            ("aws-access-key", r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
            (
                "github-token",
                r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
            ),
            // `NAME=value`, `NAME: value`, `export NAME="value"`, `"name": "value"`, for names
            // like `*_KEY`, `*_TOKEN`, `*_SECRET`, `*_PASSWORD` (any case), `apiKey`, and a bare
            // `PASSWORD`. Only the value is replaced; an unquoted value must be one token
            // (so `api_key = config.get("x")` is code, not a secret).
            (
                "assignment",
                r#"(?m)(?:^|[\s{,;(])(?:export\s+)?["']?(?:[A-Za-z0-9_.\-]*[_\-.](?i:key|token|secret|password|passwd|pwd)|[a-z][A-Za-z0-9]*(?:Key|Token|Secret|Password)|PASSWORD|PASSWD|SECRET|TOKEN|password)["']?(?:\s*:\s*[&A-Za-z0-9_<>'\[\]]{1,40}\s*=|\s*[:=])\s*(?:(?P<value>"[^"\n]{4,}"|'[^'\n]{4,}')|(?P<bare>[A-Za-z0-9_\-+/=.~:@!$%^&*]{4,})(?:[\s,;#}]|$))"#,
            ),
            // Credentials in URLs: `https://user:password@host`.
            ("assignment", r"(?i)\b[a-z][a-z0-9+.\-]*://[^\s:/@]+:(?P<value>[^\s@/]{4,})@"),
        ];
        table
            .into_iter()
            // Each compiles (a test checks them all); a pattern that did not would be left
            // out rather than take the server down.
            .filter_map(|(kind, pattern)| Regex::new(pattern).ok().map(|regex| (kind, regex)))
            .collect()
    })
}

/// Exact secrets shorter than this are not searched for.
const MIN_KNOWN_LEN: usize = 8;

/// The guard: the shapes above and the exact keys the vault holds.
pub struct Guard {
    known: Vec<Zeroizing<String>>,
}

impl Guard {
    pub fn new(known: Vec<Zeroizing<String>>) -> Self {
        let known = known
            .into_iter()
            .filter(|key| key.len() >= MIN_KNOWN_LEN)
            .collect();
        Guard { known }
    }

    /// `text` with every secret replaced, and what was replaced, in order.
    pub fn redact(&self, text: &str) -> (String, Vec<Redaction>) {
        // Spans to replace: (start, end, kind). Exact keys first, then the shapes.
        let mut spans: Vec<(usize, usize, &'static str)> = Vec::new();
        for key in &self.known {
            for (at, _) in text.match_indices(key.as_str()) {
                spans.push((at, at + key.len(), "vault-key"));
            }
        }
        for (kind, pattern) in patterns() {
            for found in pattern.captures_iter(text) {
                let Some(whole) = found.get(0) else {
                    continue;
                };
                let span = found
                    .name("value")
                    .or_else(|| found.name("bare"))
                    .unwrap_or(whole);
                let (start, end) = (span.start(), span.end());
                if !spans.iter().any(|&(s, e, _)| start < e && s < end) {
                    spans.push((start, end, kind));
                }
            }
        }
        if spans.is_empty() {
            return (text.to_string(), Vec::new());
        }
        spans.sort_by_key(|&(start, _, _)| start);
        let mut out = String::with_capacity(text.len());
        let mut redactions = Vec::with_capacity(spans.len());
        let mut at = 0;
        let mut line = 1;
        for (start, end, kind) in spans {
            if start < at {
                continue;
            }
            line += text[at..start].matches('\n').count();
            out.push_str(&text[at..start]);
            out.push_str(&format!("[redacted: {kind}]"));
            redactions.push(Redaction {
                kind: kind.to_string(),
                line,
            });
            line += text[start..end].matches('\n').count();
            at = end;
        }
        out.push_str(&text[at..]);
        (out, redactions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> (String, Vec<String>) {
        let guard = Guard::new(vec![Zeroizing::new("custom-vault-key-123456".into())]);
        let (out, found) = guard.redact(text);
        (out, found.into_iter().map(|r| r.kind).collect())
    }

    #[test]
    fn every_kind_of_canary_is_held_back() {
        let canaries = [
            ("openai-key", "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
            ("anthropic-key", "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx"),
            (
                "openrouter-key",
                "sk-or-v1-0123456789abcdef0123456789abcdef",
            ),
            ("groq-key", "gsk_AbCdEfGhIjKlMnOpQrStUvWxYz012345"),
            ("gemini-key", "AIzaSyA-0123456789abcdefghijklmnopqrstu"),
            ("aws-access-key", "AKIAIOSFODNN7EXAMPLE"),
            ("github-token", "ghp_0123456789abcdefghijklmnopqrstuvwxyz"),
            (
                "github-token",
                "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
            ),
            ("vault-key", "custom-vault-key-123456"),
        ];
        for (kind, canary) in canaries {
            let (out, found) = kinds(&format!("before {canary} after"));
            assert!(!out.contains(canary), "{kind}: {out}");
            assert_eq!(found, [kind], "{canary}");
            assert_eq!(out, format!("before [redacted: {kind}] after"));
        }
    }

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(patterns().len(), 10);
    }

    #[test]
    fn private_key_blocks_go_whole() {
        let text = "a\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\nAAAA\n-----END OPENSSH PRIVATE KEY-----\nz";
        let (out, found) = kinds(text);
        assert_eq!(out, "a\n[redacted: private-key]\nz");
        assert_eq!(found, ["private-key"]);
    }

    #[test]
    fn assignments_keep_their_names() {
        for (text, expected) in [
            (
                "OPENAI_API_KEY=abc123secretvalue",
                "OPENAI_API_KEY=[redacted: assignment]",
            ),
            (
                "export DB_PASSWORD=\"hunter2hunter2\"",
                "export DB_PASSWORD=[redacted: assignment]",
            ),
            (
                "  auth_token: s3cr3tv4lue",
                "  auth_token: [redacted: assignment]",
            ),
            (
                r#"{"client_secret": "abcd1234efgh"}"#,
                r#"{"client_secret": [redacted: assignment]}"#,
            ),
            (
                "const DB_PASSWORD: &str = \"hunter2hunter2\";",
                "const DB_PASSWORD: &str = [redacted: assignment];",
            ),
            (
                "api_token: Option<String> = Some(x)",
                "api_token: Option<String> = Some(x)",
            ),
            (
                "postgres://app:pa55word@db.local/x",
                "postgres://app:[redacted: assignment]@db.local/x",
            ),
        ] {
            assert_eq!(kinds(text).0, expected, "{text}");
        }
    }

    #[test]
    fn ordinary_code_passes_unchanged() {
        for text in [
            "let key = map.get(&id);",
            "fn token_count(text: &str) -> usize { text.len() / 4 }",
            "PASSWORD_MIN_LEN = 8",
            "sk-learn is a library; task-runner",
            "const KEY_PREFIXES: [&str; 3] = [\"sk-\", \"gsk_\", \"AIza\"];",
        ] {
            let (out, found) = kinds(text);
            assert_eq!(out, text);
            assert!(found.is_empty(), "{text}: {found:?}");
        }
    }

    #[test]
    fn lines_are_counted_from_one() {
        let guard = Guard::new(Vec::new());
        let (_, found) = guard.redact("a\nb\nAKIAIOSFODNN7EXAMPLE\n-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----\nTOKEN=abcdefgh");
        let lines: Vec<usize> = found.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 4, 7]);
    }
}
