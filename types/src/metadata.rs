//! Metadata: the client's own references on an account or a payment, a
//! small map of strings that payrail stores, returns and searches by, and
//! never interprets.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// Most keys a metadata map holds.
pub const MAX_METADATA_KEYS: usize = 20;
/// Longest key, in characters.
pub const MAX_METADATA_KEY_CHARS: usize = 40;
/// Longest value, in characters.
pub const MAX_METADATA_VALUE_CHARS: usize = 500;

/// A valid metadata map: at most [`MAX_METADATA_KEYS`] keys of 1 to
/// [`MAX_METADATA_KEY_CHARS`] characters of `[A-Za-z0-9_.-]`, each with a
/// string of at most [`MAX_METADATA_VALUE_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct Metadata(BTreeMap<String, String>);

/// A change to a metadata map: each key set to a value, or removed (`null`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataPatch(BTreeMap<String, Option<String>>);

/// The schema of a map of metadata, or of a change to one (`null`
/// values), from the limits [`check_key`] and [`check_value`] apply. A
/// change has no key limit of its own: removals do not count, and whether
/// the result stays within [`MAX_METADATA_KEYS`] depends on the map it
/// applies to.
fn map_schema(values_may_be_null: bool) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let value_type = if values_may_be_null {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    let value = ObjectBuilder::new()
        .schema_type(value_type)
        .max_length(Some(MAX_METADATA_VALUE_CHARS))
        .pattern(Some(r"^[^\u0000]*$"));
    let key = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^[A-Za-z0-9_.-]{{1,{MAX_METADATA_KEY_CHARS}}}$")));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(value))
        .property_names(Some(key))
        .max_properties((!values_may_be_null).then_some(MAX_METADATA_KEYS))
        .into()
}

impl utoipa::PartialSchema for Metadata {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        map_schema(false)
    }
}

impl utoipa::ToSchema for Metadata {}

/// Keys set to a string, or removed with `null`.
impl utoipa::PartialSchema for MetadataPatch {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        map_schema(true)
    }
}

impl utoipa::ToSchema for MetadataPatch {}

/// Why metadata is refused. The text is shown to API clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("metadata must be an object of string values")]
    NotAnObject,
    #[error("metadata has more than {MAX_METADATA_KEYS} keys")]
    TooManyKeys,
    #[error(
        "metadata key {0:?} must be 1 to {MAX_METADATA_KEY_CHARS} characters of A-Z, a-z, 0-9, '_', '.', '-'"
    )]
    BadKey(String),
    #[error("metadata value of {0:?} must be a string")]
    NotAString(String),
    #[error("metadata value of {0:?} is longer than {MAX_METADATA_VALUE_CHARS} characters")]
    ValueTooLong(String),
    /// PostgreSQL's jsonb cannot hold NUL, and no reference needs one.
    #[error("metadata value of {0:?} must not contain the NUL character")]
    ValueHasNul(String),
}

/// Checks a key: 1 to 40 characters of `[A-Za-z0-9_.-]`.
pub fn check_key(key: &str) -> Result<(), MetadataError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"_.-".contains(&b);
    if key.is_empty() || key.len() > MAX_METADATA_KEY_CHARS || !key.bytes().all(allowed) {
        return Err(MetadataError::BadKey(key.chars().take(MAX_METADATA_KEY_CHARS + 1).collect()));
    }
    Ok(())
}

/// Checks a value of `key`.
pub fn check_value(key: &str, value: &str) -> Result<(), MetadataError> {
    if value.chars().count() > MAX_METADATA_VALUE_CHARS {
        return Err(MetadataError::ValueTooLong(key.into()));
    }
    if value.contains('\0') {
        return Err(MetadataError::ValueHasNul(key.into()));
    }
    Ok(())
}

/// Read with the same limits the server applies to what it is sent.
impl<'de> serde::Deserialize<'de> for Metadata {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Metadata::from_json(&Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl Metadata {
    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Every key and value, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Parses metadata as sent: a JSON object of strings.
    pub fn from_json(value: &Value) -> Result<Self, MetadataError> {
        let Value::Object(map) = value else { return Err(MetadataError::NotAnObject) };
        if map.len() > MAX_METADATA_KEYS {
            return Err(MetadataError::TooManyKeys);
        }
        let mut metadata = BTreeMap::new();
        for (key, value) in map {
            check_key(key)?;
            let Value::String(value) = value else { return Err(MetadataError::NotAString(key.clone())) };
            check_value(key, value)?;
            metadata.insert(key.clone(), value.clone());
        }
        Ok(Metadata(metadata))
    }

    /// Reads metadata back from the database, where only valid maps are.
    pub fn from_db(value: &Value) -> Option<Self> {
        Metadata::from_json(value).ok()
    }

    /// The map as JSON, as stored.
    pub fn to_json(&self) -> Value {
        Value::Object(self.0.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
    }
}

impl MetadataPatch {
    /// Parses a change as sent: a JSON object of strings and nulls.
    pub fn from_json(value: &Value) -> Result<Self, MetadataError> {
        let Value::Object(map) = value else { return Err(MetadataError::NotAnObject) };
        let mut patch = BTreeMap::new();
        for (key, value) in map {
            check_key(key)?;
            let value = match value {
                Value::Null => None,
                Value::String(value) => {
                    check_value(key, value)?;
                    Some(value.clone())
                }
                _ => return Err(MetadataError::NotAString(key.clone())),
            };
            patch.insert(key.clone(), value);
        }
        // More keys set than a map may hold can never apply.
        if patch.values().filter(|v| v.is_some()).count() > MAX_METADATA_KEYS {
            return Err(MetadataError::TooManyKeys);
        }
        Ok(MetadataPatch(patch))
    }

    /// The keys set, as a JSON object to merge into the stored map.
    pub fn set(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), Value::String(v.clone()))))
                .collect(),
        )
    }

    /// The keys removed.
    pub fn removed(&self) -> Vec<String> {
        self.0.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| k.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_up_to_twenty_keys_of_the_allowed_characters() {
        let mut map = serde_json::Map::new();
        for i in 0..MAX_METADATA_KEYS {
            map.insert(format!("key_{i}.A-z"), json!("v"));
        }
        let metadata = Metadata::from_json(&Value::Object(map.clone())).expect("valid");
        assert_eq!(metadata.to_json(), Value::Object(map.clone()));
        map.insert("one_more".into(), json!("v"));
        assert_eq!(Metadata::from_json(&Value::Object(map)), Err(MetadataError::TooManyKeys));
        assert_eq!(Metadata::from_json(&json!({})), Ok(Metadata::default()));
    }

    #[test]
    fn refuses_bad_keys_values_and_shapes() {
        let long_key = "k".repeat(MAX_METADATA_KEY_CHARS + 1);
        for bad in [
            json!({"": "v"}),
            json!({"a b": "v"}),
            json!({"é": "v"}),
            json!({"a/b": "v"}),
            json!({long_key: "v"}),
        ] {
            assert!(matches!(Metadata::from_json(&bad), Err(MetadataError::BadKey(_))), "{bad}");
        }
        assert!(Metadata::from_json(&json!({"k".repeat(MAX_METADATA_KEY_CHARS): "v"})).is_ok());
        for bad in [json!({"k": 1}), json!({"k": null}), json!({"k": {"a": "b"}}), json!({"k": ["v"]})] {
            assert_eq!(Metadata::from_json(&bad), Err(MetadataError::NotAString("k".into())), "{bad}");
        }
        for bad in [json!(null), json!([]), json!("k=v")] {
            assert_eq!(Metadata::from_json(&bad), Err(MetadataError::NotAnObject), "{bad}");
        }
        // The value limit counts characters, not bytes.
        assert!(Metadata::from_json(&json!({"k": "é".repeat(MAX_METADATA_VALUE_CHARS)})).is_ok());
        assert_eq!(
            Metadata::from_json(&json!({"k": "é".repeat(MAX_METADATA_VALUE_CHARS + 1)})),
            Err(MetadataError::ValueTooLong("k".into()))
        );
        assert_eq!(
            Metadata::from_json(&json!({"k": "a\u{0}b"})),
            Err(MetadataError::ValueHasNul("k".into()))
        );
    }

    #[test]
    fn a_patch_is_the_keys_set_and_the_keys_removed() {
        let patch = MetadataPatch::from_json(&json!({"a": null, "c": "3", "missing": null})).expect("valid");
        assert_eq!(patch.set(), json!({"c": "3"}));
        assert_eq!(patch.removed(), ["a", "missing"]);
        let mut many = serde_json::Map::new();
        for i in 0..=MAX_METADATA_KEYS {
            many.insert(format!("k{i}"), json!("v"));
        }
        assert_eq!(MetadataPatch::from_json(&Value::Object(many)), Err(MetadataError::TooManyKeys));
        assert!(matches!(MetadataPatch::from_json(&json!({"a b": null})), Err(MetadataError::BadKey(_))));
        assert_eq!(MetadataPatch::from_json(&json!({"k": 5})), Err(MetadataError::NotAString("k".into())));
    }
}
