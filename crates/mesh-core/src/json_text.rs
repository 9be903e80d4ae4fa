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

    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(python_float(value).as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        writer.write_all(python_float(f64::from(value)).as_bytes())
    }
}

/// A float as Python's `repr` writes it: the shortest digits that read
/// back exactly, fixed notation with a `.0` for exponents -4 to 15, else
/// `d.ddde+XX`. A float kept in an unknown field is thus written back with
/// the bytes the reference would write.
fn python_float(value: f64) -> String {
    if !value.is_finite() {
        // json.dumps writes these; no JSON parser reads them back.
        return if value.is_nan() {
            "NaN".to_owned()
        } else if value > 0.0 {
            "Infinity".to_owned()
        } else {
            "-Infinity".to_owned()
        };
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..16).contains(&exponent) {
        let fixed = value.to_string();
        if fixed.contains('.') {
            fixed
        } else {
            format!("{fixed}.0")
        }
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
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
    fn floats_are_written_as_python_writes_them() {
        // Python: [repr(x) for x in ...]
        for (value, python) in [
            (4.295e27, "4.295e+27"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (2.0, "2.0"),
            (-3.25, "-3.25"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
        ] {
            assert_eq!(to_string(&json!(value)), python, "{value:e}");
        }
    }

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
