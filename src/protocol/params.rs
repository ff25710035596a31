//! Typed method params that name the offending field when they do not fit.

use serde::{Deserialize, Deserializer};

/// Method params deserialized as `T`. On failure the error names the path of the field that
/// did not fit (`options.temperature: invalid type ...`), which plain serde_json does not do
/// for type errors.
#[derive(Debug, Clone, PartialEq)]
pub struct Params<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Params<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_path_to_error::deserialize(deserializer)
            .map(Params)
            .map_err(|error| {
                let path = error.path().to_string();
                let inner = error.into_inner();
                if path == "." {
                    serde::de::Error::custom(inner)
                } else {
                    serde::de::Error::custom(format_args!("{path}: {inner}"))
                }
            })
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
    #[allow(dead_code)]
    struct Inner {
        temperature: f32,
    }

    #[test]
    fn type_errors_name_the_field() {
        let err = serde_json::from_str::<Params<Sample>>(
            r#"{"chatId":"a","options":{"temperature":"hot"}}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("options.temperature: invalid type"),
            "{err}"
        );
    }

    #[test]
    fn missing_fields_are_named() {
        let err = serde_json::from_str::<Params<Sample>>(r#"{}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `chatId`"), "{err}");
    }
}
