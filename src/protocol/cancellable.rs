//! Which requests `$/cancelRequest` (or a signal, or `exit`) may cut short.
//!
//! Aborting a request's task does not stop work already handed to the blocking pool: a
//! password change, a restore or a clear goes on to the end. Answering `-32800` for such a
//! call would tell the editor that nothing happened when it did. So only calls that change
//! nothing, or that record their own cancellation (a chat turn is kept as `cancelled`), can
//! be cancelled; every other call runs to the end and answers its real result. A method not
//! listed here is not cancellable: a new method is safe until someone decides otherwise.

/// The methods that can be cancelled, sorted.
pub const CANCELLABLE: &[&str] = &[
    "$/test/sleep",
    "chat/edit",
    "chat/previewContext",
    "chat/regenerate",
    "chat/rewrite",
    "chat/send",
    "history/get",
    "history/list",
    "history/search",
    "initialize",
    "models/list",
    "presets/list",
    "providers/list",
    "settings/get",
    "vault/listKeys",
    "vault/status",
];

/// Whether a request for `method` may be cancelled (see the module docs).
pub fn is_cancellable(method: &str) -> bool {
    CANCELLABLE.binary_search(&method).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destructive_calls_are_not_cancellable() {
        assert!(
            CANCELLABLE.windows(2).all(|pair| pair[0] < pair[1]),
            "sorted"
        );
        for method in [
            "vault/setPassword",
            "vault/rotateKey",
            "vault/reset",
            "vault/setKey",
            "vault/deleteKey",
            "history/clear",
            "history/restore",
            "history/delete",
            "history/import",
            "history/export",
            "history/backup",
            "settings/set",
            "chat/switch",
            "no/such",
        ] {
            assert!(!is_cancellable(method), "{method}");
        }
        assert!(is_cancellable("chat/send"));
        assert!(is_cancellable("chat/regenerate"));
        assert!(is_cancellable("chat/edit"));
    }
}
