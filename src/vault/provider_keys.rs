//! API key formats per provider, and how keys are shown (masked) to people.

/// Known key prefixes, longest first: several providers share `sk-`.
const PREFIXES: &[(&str, &str, usize)] = &[
    // (provider, prefix, minimum total length)
    ("openrouter", "sk-or-v1-", 40),
    ("anthropic", "sk-ant-", 40),
    ("openai", "sk-proj-", 40),
    ("openai", "sk-", 20),
    ("groq", "gsk_", 40),
    ("gemini", "AIza", 39),
];

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFormatError {
    /// What the provider's keys look like, for the message.
    pub expected: String,
    pub reason: String,
}

/// Check `key` for `provider`. Built-in providers must match their prefixes and lengths;
/// others must be non-empty without blanks or control characters.
pub fn check(provider: &str, key: &str) -> Result<(), KeyFormatError> {
    if key.is_empty()
        || key.len() > 1024
        || key.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(KeyFormatError {
            expected: "a non-empty key without spaces or control characters".into(),
            reason: "the key is empty, too long, or contains spaces or control characters".into(),
        });
    }
    let rules: Vec<_> = PREFIXES.iter().filter(|(p, _, _)| *p == provider).collect();
    if rules.is_empty() {
        return Ok(());
    }
    let expected = rules
        .iter()
        .map(|(_, prefix, _)| format!("{prefix}..."))
        .collect::<Vec<_>>()
        .join(" or ");
    // The longest matching prefix across all providers decides whose key this is.
    let owner = PREFIXES
        .iter()
        .find(|(_, prefix, _)| key.starts_with(prefix));
    match owner {
        Some((owner, _, minimum)) if *owner == provider => {
            if key.len() < *minimum {
                Err(KeyFormatError {
                    expected,
                    reason: format!("the key is shorter than {minimum} characters"),
                })
            } else {
                Ok(())
            }
        }
        Some((owner, _, _)) => Err(KeyFormatError {
            expected,
            reason: format!("this looks like a {owner} key"),
        }),
        None => Err(KeyFormatError {
            expected,
            reason: "the key does not start with the provider's prefix".into(),
        }),
    }
}

/// A key as shown to people: its known prefix (or first 3 characters), `...`, the last 4.
pub fn mask(key: &str) -> String {
    let prefix = PREFIXES
        .iter()
        .find(|(_, prefix, _)| key.starts_with(prefix))
        .map(|(_, prefix, _)| *prefix)
        .unwrap_or_else(|| key.get(..3).unwrap_or(""));
    if key.chars().count() < prefix.chars().count() + 8 {
        return format!("{prefix}...");
    }
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{prefix}...{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_checked_longest_prefix_first() {
        let body = "a".repeat(48);
        assert!(check("openai", &format!("sk-{body}")).is_ok());
        assert!(check("openai", &format!("sk-proj-{body}")).is_ok());
        assert!(check("openrouter", &format!("sk-or-v1-{body}")).is_ok());
        assert!(check("anthropic", &format!("sk-ant-api03-{body}")).is_ok());
        assert!(check("groq", &format!("gsk_{body}")).is_ok());
        assert!(check("gemini", &format!("AIza{}", "b".repeat(35))).is_ok());
        let err = check("openai", &format!("sk-ant-{body}")).unwrap_err();
        assert!(err.reason.contains("anthropic"), "{err:?}");
        assert!(check("openrouter", &format!("sk-{body}")).is_err());
        assert!(check("groq", "gsk_short").is_err());
        assert!(check("openai", "sk-short").is_err());
        assert!(check("mine", "anything-goes").is_ok());
        assert!(check("mine", "has space").is_err());
        assert!(check("mine", "").is_err());
        assert!(check("mine", "tab\there").is_err());
    }

    #[test]
    fn masks_keep_prefix_and_last_four() {
        assert_eq!(mask("sk-proj-abcdefghijklmnop1234"), "sk-proj-...1234");
        assert_eq!(mask("gsk_zzzzzzzzzzzzzzzzzzzza1b2"), "gsk_...a1b2");
        assert_eq!(mask("custom-key-9999-abcd"), "cus...abcd");
        assert_eq!(mask("sk-abc"), "sk-...");
    }
}
