//! JSON-RPC 2.0 envelopes: sorting what arrives into requests, notifications and invalid
//! messages, and writing responses and notifications as bytes for the transport.

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};

use super::errors::{AppError, ErrorCode};

/// One message from the editor, sorted by what the server must do with it.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    /// A call that expects an answer. `params` is an object, an array or absent.
    Request {
        id: Value,
        method: String,
        params: Option<Value>,
    },
    /// A call that expects no answer.
    Notification {
        method: String,
        params: Option<Value>,
    },
    /// A response to a request of ours. The server sends none, so these are ignored.
    Response,
    /// Not a valid JSON-RPC message: answered with -32600 and the id, when one could be read.
    Invalid { id: Value, reason: String },
}

impl Incoming {
    /// Sort one decoded JSON value.
    pub fn classify(value: Value) -> Incoming {
        let Value::Object(mut object) = value else {
            return invalid(Value::Null, "a JSON-RPC message must be an object");
        };
        let id = object.remove("id");
        let id_for_errors = match &id {
            Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
            _ => Value::Null,
        };
        if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return invalid(id_for_errors, "`jsonrpc` must be \"2.0\"");
        }
        let method = match object.remove("method") {
            Some(Value::String(method)) => method,
            Some(_) => return invalid(id_for_errors, "`method` must be a string"),
            None if object.contains_key("result") || object.contains_key("error") => {
                return Incoming::Response;
            }
            None => return invalid(id_for_errors, "`method` is missing"),
        };
        let params = match object.remove("params") {
            // Strictly invalid, but common (Emacs's jsonrpc.el sends it for nil params).
            None | Some(Value::Null) => None,
            Some(params @ (Value::Object(_) | Value::Array(_))) => Some(params),
            Some(_) => return invalid(id_for_errors, "`params` must be an object or an array"),
        };
        match id {
            None => Incoming::Notification { method, params },
            Some(id @ (Value::String(_) | Value::Number(_) | Value::Null)) => {
                Incoming::Request { id, method, params }
            }
            Some(_) => invalid(Value::Null, "`id` must be a string, a number or null"),
        }
    }
}

fn invalid(id: Value, reason: &str) -> Incoming {
    Incoming::Invalid {
        id,
        reason: reason.to_string(),
    }
}

/// The JSON text of a request as jsonrpsee's dispatcher takes it.
///
/// Every method takes one params object; an object is wrapped in a one-element array so the
/// generated code hands it whole to the method's typed `Params<T>` (which names bad fields).
pub fn dispatch_text(id: &Value, method: &str, params: Option<Value>) -> String {
    let params = match params {
        Some(object @ Value::Object(_)) => Value::Array(vec![object]),
        Some(other) => other,
        None => Value::Array(Vec::new()),
    };
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

/// An error response.
pub fn error_response(id: &Value, error: &AppError) -> Bytes {
    #[derive(Serialize)]
    struct Body<'a> {
        code: i32,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<&'a Value>,
    }
    #[derive(Serialize)]
    struct Response<'a> {
        jsonrpc: &'static str,
        id: &'a Value,
        error: Body<'a>,
    }
    let response = Response {
        jsonrpc: "2.0",
        id,
        error: Body {
            code: error.code.code(),
            message: &error.message,
            data: error.data.as_ref(),
        },
    };
    // Serializing our own plain structs to a Vec cannot fail.
    Bytes::from(serde_json::to_vec(&response).unwrap_or_default())
}

/// The standard "request cancelled" response.
pub fn cancelled_response(id: &Value) -> Bytes {
    error_response(
        id,
        &AppError::new(ErrorCode::RequestCancelled, "request cancelled"),
    )
}

/// A notification from the server.
pub fn notification<P: Serialize>(method: &str, params: &P) -> Bytes {
    #[derive(Serialize)]
    struct Notification<'a, P> {
        jsonrpc: &'static str,
        method: &'a str,
        params: &'a P,
    }
    let message = Notification {
        jsonrpc: "2.0",
        method,
        params,
    };
    // Serializing our own plain structs to a Vec cannot fail.
    Bytes::from(serde_json::to_vec(&message).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_messages() {
        let request = json!({"jsonrpc":"2.0","id":1,"method":"m","params":{"a":1}});
        assert!(matches!(
            Incoming::classify(request),
            Incoming::Request { .. }
        ));
        let note = json!({"jsonrpc":"2.0","method":"exit"});
        assert!(matches!(
            Incoming::classify(note),
            Incoming::Notification { .. }
        ));
        let response = json!({"jsonrpc":"2.0","id":1,"result":null});
        assert_eq!(Incoming::classify(response), Incoming::Response);
        let bad_version = json!({"jsonrpc":"1.0","id":7,"method":"m"});
        assert_eq!(
            Incoming::classify(bad_version),
            Incoming::Invalid {
                id: json!(7),
                reason: "`jsonrpc` must be \"2.0\"".into()
            }
        );
        let bad_params = json!({"jsonrpc":"2.0","id":"x","method":"m","params":3});
        assert!(
            matches!(Incoming::classify(bad_params), Incoming::Invalid { id, .. } if id == json!("x"))
        );
        assert!(matches!(
            Incoming::classify(json!(5)),
            Incoming::Invalid { .. }
        ));
    }

    #[test]
    fn wraps_object_params() {
        let text = dispatch_text(&json!(1), "m", Some(json!({"a": 1})));
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["params"], json!([{"a": 1}]));
    }
}
