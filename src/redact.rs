//! Scrubbing secrets out of text we did not write: a provider's error body may echo the key
//! it was sent (some 401 answers do), and an editor may put a key where a name belongs. Such
//! text goes into error messages, logs, saved history and exports, so it is cleaned first.
//!
//! Two passes: the exact secrets known to be in play (the key in use), then anything shaped
//! like a key: the providers' prefixes (`sk-`, which covers `sk-proj-`, `sk-ant-` and
//! `sk-or-v1-`; `gsk_`; `AIza`) followed by a key-like tail, and the token after `Bearer`,
//! `Basic` or an API-key header name. Masked keys (`gsk_...a1b2`) are left alone.

use std::ops::Range;

/// What a scrubbed secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Exact secrets shorter than this are not searched for: replacing every `abc` in a message
/// would garble it and protect nothing.
const MIN_SECRET_LEN: usize = 4;

/// Key prefixes of the providers we know. `sk-` covers OpenAI's `sk-proj-`, Anthropic's
/// `sk-ant-` and OpenRouter's `sk-or-v1-`.
const KEY_PREFIXES: [&str; 3] = ["sk-", "gsk_", "AIza"];

/// A prefix followed by fewer key characters than this is a word, not a key (`sk-learn`).
const MIN_KEY_TAIL: usize = 8;

/// Words after which a token is a credential (compared without case).
const CREDENTIAL_LABELS: [&str; 7] = [
    "bearer",
    "basic",
    "x-api-key",
    "x-goog-api-key",
    "api-key",
    "api_key",
    "apikey",
];

/// A token after a label shorter than this is prose (`Bearer token is invalid`).
const MIN_TOKEN_LEN: usize = 8;

/// `text` with every secret in `secrets` and everything shaped like a key replaced by
/// [`REDACTED`].
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_string();
    for secret in secrets {
        if secret.len() >= MIN_SECRET_LEN && text.contains(secret) {
            text = text.replace(secret, REDACTED);
        }
    }
    scrub_shapes(&text)
}

/// Whether `text` holds something shaped like a key.
pub fn looks_like_key(text: &str) -> bool {
    !key_spans(text).is_empty()
}

/// `name` as it may be quoted in a message about it (an unknown provider, say), or `None`
/// when it could be a secret given in the wrong field: too long, not a plain name, or shaped
/// like a key.
pub fn quotable_name(name: &str) -> Option<&str> {
    let plain = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    (plain && !looks_like_key(name)).then_some(name)
}

/// `name` for a message about it, or [`REDACTED`] when it could be a secret.
pub fn name_for_message(name: &str) -> &str {
    quotable_name(name).unwrap_or(REDACTED)
}

fn scrub_shapes(text: &str) -> String {
    let spans = key_spans(text);
    if spans.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for span in spans {
        out.push_str(&text[copied..span.start]);
        out.push_str(REDACTED);
        copied = span.end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Byte ranges of key-shaped tokens, in order, not overlapping. Every boundary is next to an
/// ASCII byte, so the ranges are on character boundaries.
fn key_spans(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let boundary = at == 0 || !is_key_byte(bytes[at - 1]);
        if boundary && let Some(span) = prefixed_key(bytes, at).or_else(|| labelled(bytes, at)) {
            at = span.end;
            spans.push(span);
            continue;
        }
        at += 1;
    }
    spans
}

/// A known prefix at `at` followed by a key-like tail: the whole key.
fn prefixed_key(bytes: &[u8], at: usize) -> Option<Range<usize>> {
    let rest = &bytes[at..];
    let prefix = KEY_PREFIXES
        .iter()
        .find(|p| rest.starts_with(p.as_bytes()))?;
    let tail = run(&rest[prefix.len()..], |b| is_key_byte(b) || b == b'*');
    (tail >= MIN_KEY_TAIL).then(|| at..at + prefix.len() + tail)
}

/// A credential label at `at`, separators, then a token: the token only.
fn labelled(bytes: &[u8], at: usize) -> Option<Range<usize>> {
    let rest = &bytes[at..];
    let label = CREDENTIAL_LABELS.iter().find(|label| {
        rest.len() >= label.len() && rest[..label.len()].eq_ignore_ascii_case(label.as_bytes())
    })?;
    let after = &rest[label.len()..];
    let gap = run(after, |b| {
        matches!(b, b' ' | b'\t' | b':' | b'=' | b'"' | b'\'')
    });
    if gap == 0 {
        return None;
    }
    let token = run(&after[gap..], |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
    });
    let start = at + label.len() + gap;
    (token >= MIN_TOKEN_LEN).then(|| start..start + token)
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// How many leading bytes satisfy `keep`.
fn run(bytes: &[u8], keep: impl Fn(u8) -> bool) -> usize {
    bytes.iter().take_while(|&&b| keep(b)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_in_use_is_scrubbed_whatever_its_shape() {
        let scrubbed = scrub(
            "bad key: custom-KEY-123456 (custom-KEY-123456)",
            &["custom-KEY-123456"],
        );
        assert_eq!(scrubbed, "bad key: [redacted] ([redacted])");
        // Too short to search for without garbling the text.
        assert_eq!(scrub("a b c", &["b"]), "a b c");
    }

    #[test]
    fn every_known_key_shape_is_scrubbed() {
        for key in [
            "sk-0123456789abcdefghij0123",
            "sk-proj-abc_DEF-0123456789abcdefghij",
            "sk-ant-api03-0123456789abcdefghij",
            "sk-or-v1-0123456789abcdef0123456789abcdef",
            "gsk_0123456789abcdefghijklmnopqrstuvwxyz",
            "AIzaSy0123456789abcdefghijklmnopqrstu",
            "sk-proj-********************************abcd",
        ] {
            let text = format!("Incorrect API key provided: {key}.");
            assert_eq!(
                scrub(&text, &[]),
                "Incorrect API key provided: [redacted].",
                "{key}"
            );
            assert!(looks_like_key(key), "{key}");
        }
    }

    #[test]
    fn bearer_and_header_tokens_are_scrubbed() {
        assert_eq!(
            scrub("Authorization: Bearer eyJhbGciOi.J9x_y-z+/=", &[]),
            "Authorization: Bearer [redacted]"
        );
        assert_eq!(
            scrub("x-api-key: \"abcdefgh12345\" was refused", &[]),
            "x-api-key: \"[redacted]\" was refused"
        );
        assert_eq!(scrub("BASIC dXNlcjpwYXNzd29yZA==", &[]), "BASIC [redacted]");
    }

    #[test]
    fn ordinary_text_and_masked_keys_are_kept() {
        for text in [
            "The model `gpt-4o` does not exist",
            "task-oriented sk-learn risk-free ask-anything",
            "Bearer token is invalid",
            "bearers of bad news",
            "your key gsk_...a1b2 was refused",
            "AIza",
            "naïve ümlauts sk-ünïcode",
        ] {
            assert_eq!(scrub(text, &[]), text);
        }
    }

    #[test]
    fn keys_inside_words_and_unicode_are_handled() {
        // A key right after non-ASCII text still starts at a boundary.
        assert_eq!(scrub("clé:sk-0123456789abcdef", &[]), "clé:[redacted]");
        // Glued to a word, a prefix is part of that word.
        assert_eq!(scrub("xsk-0123456789abcdef", &[]), "xsk-0123456789abcdef");
    }

    #[test]
    fn names_are_quoted_only_when_they_cannot_be_secrets() {
        assert_eq!(quotable_name("openrouter"), Some("openrouter"));
        assert_eq!(quotable_name("my-local_1.2"), Some("my-local_1.2"));
        assert_eq!(quotable_name("gsk_0123456789abcdefghijklmnop"), None);
        assert_eq!(quotable_name("sk-0123456789ab"), None);
        assert_eq!(quotable_name(&"a".repeat(33)), None);
        assert_eq!(quotable_name("two words"), None);
        assert_eq!(quotable_name(""), None);
    }
}
