//! The tombstone: an existence-based delete marker at the mirrored key.
//!
//! A tombstone hides its observation whatever the clocks say; there is no
//! last-writer-wins between the two.

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::{Map, Value};

use crate::error::{CoreError, Result};
use crate::json_text;
use crate::observation::string_field;
use crate::timestamp;

const TOMBSTONE_FIELDS: [&str; 3] = ["observation_id", "reason", "deleted_at"];

/// A delete marker.
#[derive(Debug, Clone, PartialEq)]
pub struct Tombstone {
    /// The observation it hides.
    pub observation_id: String,
    /// Why (free text, may be empty).
    pub reason: String,
    /// Wire timestamp of the delete.
    pub deleted_at: String,
    /// Unknown fields, kept and written back first.
    pub extras: Map<String, Value>,
}

impl Tombstone {
    /// A tombstone for `observation_id`, deleted now.
    pub fn new(observation_id: &str, reason: &str) -> Self {
        Self {
            observation_id: observation_id.to_owned(),
            reason: reason.to_owned(),
            deleted_at: timestamp::now(),
            extras: Map::new(),
        }
    }

    /// Parse a tombstone tolerantly.
    pub fn from_json(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|e| malformed(&e.to_string()))?;
        let Value::Object(mut map) = value else {
            return Err(malformed("the payload is not a JSON object"));
        };
        let observation_id = string_field(&map, "observation_id")
            .map_err(|_| malformed("'observation_id' must be a string"))?;
        if observation_id.is_empty() {
            return Err(malformed("'observation_id' is missing"));
        }
        let reason =
            string_field(&map, "reason").map_err(|_| malformed("'reason' must be a string"))?;
        let deleted_at = match map.get("deleted_at") {
            None | Some(Value::Null) => timestamp::now(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(malformed("'deleted_at' must be a string")),
        };
        map.retain(|k, _| !TOMBSTONE_FIELDS.contains(&k.as_str()));
        Ok(Self {
            observation_id,
            reason,
            deleted_at,
            extras: map,
        })
    }

    /// The payload in the reference's JSON text.
    pub fn to_json(&self) -> String {
        json_text::to_string(self)
    }
}

impl Serialize for Tombstone {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        let mut m = serializer.serialize_map(None)?;
        for (k, v) in &self.extras {
            if !TOMBSTONE_FIELDS.contains(&k.as_str()) {
                m.serialize_entry(k, v)?;
            }
        }
        m.serialize_entry("observation_id", &self.observation_id)?;
        m.serialize_entry("reason", &self.reason)?;
        m.serialize_entry("deleted_at", &self.deleted_at)?;
        m.end()
    }
}

fn malformed(message: &str) -> CoreError {
    CoreError::MalformedJson {
        what: "tombstone",
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_tombstone_round_trips() {
        let text = r#"{"observation_id": "933f1c1cdce6404db34d991e229affc7", "reason": "", "deleted_at": "2026-11-23T19:52:00.000001Z"}"#;
        let t = Tombstone::from_json(text).unwrap();
        assert_eq!(t.to_json(), text);
    }

    #[test]
    fn extras_survive_and_garbage_is_an_error() {
        let text = r#"{"v": 2, "observation_id": "933f1c1cdce6404db34d991e229affc7"}"#;
        let t = Tombstone::from_json(text).unwrap();
        assert!(t.to_json().starts_with(r#"{"v": 2, "observation_id""#));
        for bad in ["{}", "[1]", "nope", r#"{"observation_id": 7}"#] {
            assert!(Tombstone::from_json(bad).is_err(), "{bad}");
        }
    }
}
