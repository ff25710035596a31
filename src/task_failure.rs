//! Reporting a task that panicked or was cancelled without repeating its panic message.
//!
//! tokio's `JoinError` displays the panic payload ("task 12 panicked with message ..."), and
//! a formatted panic message can hold whatever the task was handling: a password, a key, a
//! chat. So only *that* it panicked and *where* (which piece of work) are ever logged; the
//! panic hook (`cli::install_panic_hook`) adds the source location.

use tokio::task::JoinError;

/// Log that the task doing `work` failed, without its payload. Returns the text to show:
/// fixed, safe for the editor and the log.
pub fn report(error: &JoinError, work: &'static str) -> &'static str {
    if error.is_panic() {
        tracing::error!(work, task = %error.id(), "a task panicked (message withheld)");
        "internal error (a task panicked); details are in the log"
    } else {
        tracing::warn!(work, task = %error.id(), "a task was cancelled");
        "internal error (a task was cancelled)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_payload_is_never_in_the_text() {
        let joined = tokio::task::spawn_blocking(|| {
            let secret = String::from("hunter2-secret");
            panic!("failed with {secret}");
        })
        .await;
        let error = joined.unwrap_err();
        assert!(
            error.to_string().contains("hunter2-secret"),
            "tokio shows it"
        );
        let text = report(&error, "test");
        assert!(!text.contains("hunter2"));
    }
}
