//! The router's pure part on arbitrary JSON: sorting a message and building the text handed to
//! the dispatcher must never panic, and what it builds must be valid JSON-RPC.
#![no_main]

use chinwag::protocol::envelope::{Incoming, dispatch_text, error_response};
use chinwag::protocol::{AppError, ErrorCode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let items = match value {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    for item in items {
        match Incoming::classify(item) {
            Incoming::Request { id, method, params } => {
                let text = dispatch_text(&id, &method, params);
                let parsed: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
                assert_eq!(parsed["jsonrpc"], "2.0");
                assert!(parsed["params"].is_array());
            }
            Incoming::Invalid { id, reason } => {
                let bytes = error_response(&id, &AppError::new(ErrorCode::InvalidRequest, reason));
                serde_json::from_slice::<serde_json::Value>(&bytes).expect("valid JSON");
            }
            Incoming::Notification { .. } | Incoming::Response => {}
        }
    }
});
