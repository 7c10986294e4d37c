//! Field paths of JSON objects, for server-side apply's field ownership:
//! every leaf (a scalar, or a list, which the fake treats as atomic) is
//! named by a JSON pointer such as `/spec/holderIdentity`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Fields the server owns, not any field manager.
const SERVER_FIELDS: [&str; 9] = [
    "/apiVersion",
    "/kind",
    "/metadata/name",
    "/metadata/namespace",
    "/metadata/uid",
    "/metadata/resourceVersion",
    "/metadata/generation",
    "/metadata/creationTimestamp",
    "/metadata/managedFields",
];

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

fn segments(path: &str) -> Vec<String> {
    path.trim_start_matches('/').split('/').map(unescape).collect()
}

/// Every leaf an object sets (nulls excluded), by path.
pub fn leaves(object: &Value) -> BTreeMap<String, Value> {
    fn walk(value: &Value, path: String, out: &mut BTreeMap<String, Value>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    walk(v, format!("{path}/{}", escape(k)), out);
                }
            }
            Value::Null => {}
            leaf => {
                if !SERVER_FIELDS.contains(&path.as_str()) && !path.starts_with("/status") {
                    out.insert(path, leaf.clone());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(object, String::new(), &mut out);
    out
}

pub fn get_path<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    segments(path).iter().try_fold(object, |value, key| value.get(key))
}

pub fn set_path(object: &mut Value, path: &str, leaf: Value) {
    let keys = segments(path);
    let mut value = object;
    for key in &keys[..keys.len() - 1] {
        if !value.get(key).is_some_and(Value::is_object) {
            value[key.as_str()] = Value::Object(Map::new());
        }
        value = value.get_mut(key).unwrap();
    }
    value[keys[keys.len() - 1].as_str()] = leaf;
}

pub fn remove_path(object: &mut Value, path: &str) {
    let keys = segments(path);
    let parent = keys[..keys.len() - 1].iter().try_fold(object, |value, key| value.get_mut(key));
    if let Some(Value::Object(map)) = parent {
        map.remove(&keys[keys.len() - 1]);
    }
}

/// JSON merge patch (RFC 7386): objects merge, `null` deletes, anything
/// else replaces. Strategic merge patches of the fields these tests use
/// (no lists) mean the same.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let map = target.as_object_mut().unwrap();
            for (k, v) in fields {
                if v.is_null() {
                    map.remove(k);
                } else {
                    merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Whether a merge patch deletes `path` (sets it, or a parent, to null).
pub fn nulled(patch: &Value, path: &str) -> bool {
    let mut value = patch;
    for key in segments(path) {
        match value.get(&key) {
            Some(Value::Null) => return true,
            Some(next) => value = next,
            None => return false,
        }
    }
    false
}
