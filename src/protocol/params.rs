//! Typed method params whose errors name the offending field and the expected type, and
//! never quote the value that did not fit.
//!
//! serde's own messages quote values (`invalid type: string "correct horse", expected ...`),
//! and a value in the wrong place is often a password or an API key: a positional
//! `vault/unlock ["..."]`, a key given as the provider. Those messages reach the editor in
//! `-32602` data and the log. So params are read through a deserializer of our own whose
//! error type keeps only the kind of value (`string`, `sequence`) and what was expected.

use serde::de::{
    self, DeserializeOwned, Deserializer, Expected, IntoDeserializer, Unexpected, Visitor,
};
use serde::{Deserialize, forward_to_deserialize_any};
use serde_json::Value;

use crate::redact;

/// Method params deserialized as `T`. On failure the error names the path of the field that
/// did not fit and what it should have been (`options.temperature: invalid type: string,
/// expected f32`), without the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Params<T>(pub T);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Params<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Syntax errors cannot happen here: the frame was parsed as JSON already.
        let value = Value::deserialize(deserializer)?;
        from_value(value).map(Params).map_err(de::Error::custom)
    }
}

/// Why a JSON value did not fit as a `T`: where (`options.temperature`), and what was
/// wrong, never the value itself. Safe to show and to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    /// Empty when the whole value did not fit.
    pub path: String,
    pub problem: ParamError,
}

impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.problem)
        } else {
            write!(f, "{}: {}", self.path, self.problem)
        }
    }
}

impl std::error::Error for ValueError {}

/// `value` as `T`. For any JSON from outside (params, an imported file).
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ValueError> {
    from_value_at(value, "")
}

/// `value` as `T`, where `value` sits at `path` in a larger document (`chats[3]`): error
/// paths start there.
pub fn from_value_at<T: DeserializeOwned>(value: Value, path: &str) -> Result<T, ValueError> {
    serde_path_to_error::deserialize(ValueDeserializer(value)).map_err(|error| ValueError {
        path: safe_path(path, error.path()),
        problem: error.into_inner(),
    })
}

/// `start` followed by the path, as `options.temperature` or `chats[3].createdAt`; a map key
/// that could be a secret (a key sent as a field name) shows as `?`.
fn safe_path(start: &str, path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = start.to_string();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(redact::quotable_name(key).unwrap_or("?"));
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    out
}

/// Why params did not fit, keeping only what is safe to show: kinds of values, names we
/// declared, lengths. Built by serde through the overridden [`de::Error`] constructors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("invalid type: {found}, expected {expected}")]
    InvalidType {
        found: &'static str,
        expected: String,
    },
    #[error("invalid value: {found}, expected {expected}")]
    InvalidValue {
        found: &'static str,
        expected: String,
    },
    #[error("invalid length {length}, expected {expected}")]
    InvalidLength { length: usize, expected: String },
    #[error("unknown variant, expected {}", one_of(.expected))]
    UnknownVariant { expected: &'static [&'static str] },
    /// `name` only when it cannot be a secret sent as a field name.
    #[error("unknown field{}, expected {}", .name.as_ref().map(|n| format!(" `{n}`")).unwrap_or_default(), one_of(.expected))]
    UnknownField {
        name: Option<String>,
        expected: &'static [&'static str],
    },
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    #[error("duplicate field `{0}`")]
    DuplicateField(&'static str),
    /// A message from a `Deserialize` impl (ours and serde's derive never quote values); it
    /// is scrubbed of key-shaped text all the same.
    #[error("{0}")]
    Custom(String),
}

fn one_of(names: &[&str]) -> String {
    match names {
        [] => "nothing here".to_string(),
        [one] => format!("`{one}`"),
        many => format!(
            "one of {}",
            many.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What kind of value was found, without the value.
fn kind(unexpected: &Unexpected<'_>) -> &'static str {
    match unexpected {
        Unexpected::Bool(_) => "boolean",
        Unexpected::Unsigned(_) | Unexpected::Signed(_) => "integer",
        Unexpected::Float(_) => "floating point number",
        Unexpected::Char(_) => "character",
        Unexpected::Str(_) => "string",
        Unexpected::Bytes(_) => "byte array",
        Unexpected::Unit => "null",
        Unexpected::Option => "optional value",
        Unexpected::NewtypeStruct => "newtype struct",
        Unexpected::Seq => "sequence",
        Unexpected::Map => "map",
        Unexpected::Enum => "enum",
        Unexpected::UnitVariant => "unit variant",
        Unexpected::NewtypeVariant => "newtype variant",
        Unexpected::TupleVariant => "tuple variant",
        Unexpected::StructVariant => "struct variant",
        Unexpected::Other(_) => "other value",
    }
}

impl de::Error for ParamError {
    fn custom<M: std::fmt::Display>(message: M) -> Self {
        ParamError::Custom(redact::scrub(&message.to_string(), &[]))
    }

    fn invalid_type(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        ParamError::InvalidType {
            found: kind(&unexpected),
            expected: expected.to_string(),
        }
    }

    fn invalid_value(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        ParamError::InvalidValue {
            found: kind(&unexpected),
            expected: expected.to_string(),
        }
    }

    fn invalid_length(length: usize, expected: &dyn Expected) -> Self {
        ParamError::InvalidLength {
            length,
            expected: expected.to_string(),
        }
    }

    fn unknown_variant(_variant: &str, expected: &'static [&'static str]) -> Self {
        ParamError::UnknownVariant { expected }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        ParamError::UnknownField {
            name: redact::quotable_name(field).map(str::to_string),
            expected,
        }
    }

    fn missing_field(field: &'static str) -> Self {
        ParamError::MissingField(field)
    }

    fn duplicate_field(field: &'static str) -> Self {
        ParamError::DuplicateField(field)
    }
}

/// A JSON value as a deserializer whose errors are [`ParamError`]s. Strings are handed over
/// owned, so a password moves into its `Zeroizing` field without another copy.
struct ValueDeserializer(Value);

impl<'de> IntoDeserializer<'de, ParamError> for ValueDeserializer {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> Deserializer<'de> for ValueDeserializer {
    type Error = ParamError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_string(s),
            Value::Array(items) => {
                let mut seq =
                    de::value::SeqDeserializer::new(items.into_iter().map(ValueDeserializer));
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            Value::Object(map) => {
                let mut map = de::value::MapDeserializer::new(
                    map.into_iter().map(|(k, v)| (k, ValueDeserializer(v))),
                );
                let value = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(value)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(ValueDeserializer(other)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        match self.0 {
            // A unit variant: `"json"`.
            Value::String(variant) => visitor.visit_enum(variant.into_deserializer()),
            // Any other variant: `{"name": content}`.
            Value::Object(map) if map.len() == 1 => visitor.visit_enum(
                de::value::MapAccessDeserializer::new(de::value::MapDeserializer::new(
                    map.into_iter().map(|(k, v)| (k, ValueDeserializer(v))),
                )),
            ),
            other => Err(de::Error::invalid_type(unexpected(&other), &"an enum")),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(_) => Unexpected::Other("number"),
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Sample {
        chat_id: String,
        options: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        temperature: f32,
        format: Option<Format>,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    #[allow(dead_code)]
    enum Format {
        Markdown,
        Json,
    }

    const SECRET: &str = "sk-proj-SECRETSECRETSECRET0123456789";

    fn error(json: &str) -> String {
        serde_json::from_str::<Params<Sample>>(json)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn type_errors_name_the_field() {
        let err = error(r#"{"chatId":"a","options":{"temperature":"hot"}}"#);
        assert!(
            err.starts_with("options.temperature: invalid type: string, expected f32"),
            "{err}"
        );
        assert!(!err.contains("hot"), "{err}");
    }

    #[test]
    fn missing_fields_are_named() {
        let err = error(r#"{}"#);
        assert!(err.contains("missing field `chatId`"), "{err}");
    }

    #[test]
    fn no_error_quotes_the_value() {
        for json in [
            format!(r#""{SECRET}""#),
            format!(r#"["{SECRET}", "{SECRET}"]"#),
            format!(r#"{{"chatId":["{SECRET}"]}}"#),
            format!(r#"{{"chatId":"a","options":{{"temperature":1,"format":"{SECRET}"}}}}"#),
            format!(r#"{{"chatId":"a","options":{{"temperature":1,"{SECRET}":1}}}}"#),
            format!(r#"{{"chatId":"a","options":{{"temperature":1,"tags":[1,"{SECRET}",{{}}]}}}}"#),
            format!(r#"{{"chatId":"a","options":{{"temperature":"{SECRET}"}}}}"#),
            format!(r#"{{"chatId":"a","options":{{"temperature":1,"format":{{"{SECRET}":1}}}}}}"#),
        ] {
            let err = error(&json);
            assert!(!err.contains("SECRET"), "{json}: {err}");
            assert!(err.contains("expected") || err.contains("missing"), "{err}");
        }
    }

    #[test]
    fn unknown_names_are_quoted_only_when_harmless() {
        // serde_path_to_error counts the unknown key as part of the path.
        let err = error(r#"{"chatId":"a","options":{"temperature":1,"temprature":1}}"#);
        assert!(
            err.starts_with("options.temprature: unknown field `temprature`, expected one of"),
            "{err}"
        );
        let err = error(r#"{"chatId":"a","options":{"temperature":1,"format":"pdf"}}"#);
        assert!(
            err.starts_with("options.format: unknown variant, expected one of `markdown`, `json`"),
            "{err}"
        );
    }

    #[test]
    fn values_that_fit_are_read() {
        let Params(sample) = serde_json::from_str::<Params<Sample>>(
            r#"{"chatId":"a","options":{"temperature":0.5,"format":"json","tags":["x"]}}"#,
        )
        .unwrap();
        let options = sample.options.unwrap();
        assert_eq!(options.temperature, 0.5);
        assert!(matches!(options.format, Some(Format::Json)));
        assert_eq!(options.tags, vec!["x".to_string()]);
        // A struct given as a sequence still works positionally, as serde allows.
        let Params(sample) = serde_json::from_str::<Params<Sample>>(r#"["b", null]"#).unwrap();
        assert_eq!(sample.chat_id, "b");
    }
}
