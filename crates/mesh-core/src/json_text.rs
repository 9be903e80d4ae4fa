//! JSON text exactly as the reference writes it.
//!
//! The reference serialises with Python's `json.dumps(..., ensure_ascii=False)`:
//! `", "` between items, `": "` after keys, non-ASCII left as is, and control
//! characters escaped. Writing the same bytes keeps stored payloads identical
//! whichever implementation wrote them, so a replica never sees a spurious
//! difference between two copies of one observation.

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;

/// serde_json formatter with Python's default separators.
#[derive(Debug, Default, Clone, Copy)]
pub struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }
}

/// Serialise `value` the way the reference would.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::with_capacity(512);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    // Serialising our own models into memory cannot fail: keys are strings
    // and there is no I/O. Fall back to an empty object rather than panic.
    if value.serialize(&mut ser).is_err() {
        return "{}".to_owned();
    }
    String::from_utf8(out).unwrap_or_else(|_| "{}".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn separators_match_python() {
        let v = json!({"a": [1, 2], "b": {"c": "d"}, "e": []});
        assert_eq!(to_string(&v), r#"{"a": [1, 2], "b": {"c": "d"}, "e": []}"#);
    }

    #[test]
    fn non_ascii_is_kept_and_controls_are_escaped_like_python() {
        // Python: json.dumps({"k": "日本語\n\t\"\\\x01\x7f"}, ensure_ascii=False)
        let v = json!({"k": "日本語\n\t\"\\\u{1}\u{7f}"});
        assert_eq!(
            to_string(&v),
            "{\"k\": \"日本語\\n\\t\\\"\\\\\\u0001\u{7f}\"}"
        );
    }
}
