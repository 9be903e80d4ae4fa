//! Locating object keys in strict JSON text by byte range, so that a repair
//! can rewrite one key token and copy every other byte through (number
//! spellings, escapes, spacing), instead of re-serialising a document that
//! is not ours.

use std::collections::HashSet;
use std::ops::Range;

use jsonc_parser::ast::{Object, ObjectPropName, Value};
use jsonc_parser::{CollectOptions, ParseOptions};

/// JSON as Claude Code reads it: no comments, no JSON5.
fn strict() -> ParseOptions {
    ParseOptions {
        allow_comments: false,
        allow_loose_object_property_names: false,
        allow_trailing_commas: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

/// The edits that rename each `(legacy, current)` key of the object at
/// `object_path` in `text`. Errors (as text) when the document has a
/// duplicate key anywhere (its meaning depends on the reader) or a key
/// cannot be located.
pub fn key_edits(
    text: &str,
    object_path: &[String],
    renames: &[(String, String)],
) -> Result<Vec<(Range<usize>, String)>, String> {
    let parsed = jsonc_parser::parse_to_ast(text, &CollectOptions::default(), &strict())
        .map_err(|e| format!("cannot locate the JSON keys to edit: {e}"))?;
    let root = parsed
        .value
        .ok_or_else(|| "the document is empty".to_owned())?;
    if let Some(duplicate) = first_duplicate(&root, &mut Vec::new()) {
        return Err(format!("the document has a duplicate JSON key {duplicate}"));
    }
    let object = object_path
        .iter()
        .try_fold(&root, |node, key| Some(&node.as_object()?.get(key)?.value))
        .and_then(Value::as_object)
        .ok_or_else(|| format!("cannot locate {}", object_path.join(".")))?;
    renames
        .iter()
        .map(|(legacy, current)| {
            let prop = object
                .get(legacy)
                .ok_or_else(|| format!("cannot locate the {legacy} key"))?;
            let ObjectPropName::String(name) = &prop.name else {
                return Err(format!("the {legacy} key is not a string token"));
            };
            let token = serde_json::to_string(current).map_err(|e| e.to_string())?;
            Ok((name.range.start..name.range.end, token))
        })
        .collect()
}

/// The dotted path of the first key that appears twice in one object.
fn first_duplicate(value: &Value<'_>, path: &mut Vec<String>) -> Option<String> {
    match value {
        Value::Object(object) => object_duplicate(object, path),
        Value::Array(array) => array.elements.iter().enumerate().find_map(|(i, v)| {
            path.push(i.to_string());
            let found = first_duplicate(v, path);
            path.pop();
            found
        }),
        _ => None,
    }
}

fn object_duplicate(object: &Object<'_>, path: &mut Vec<String>) -> Option<String> {
    let mut seen = HashSet::new();
    for prop in &object.properties {
        let name = prop.name.as_str().to_owned();
        path.push(name.clone());
        if !seen.insert(name) {
            return Some(path.join("."));
        }
        let found = first_duplicate(&prop.value, path);
        path.pop();
        if found.is_some() {
            return found;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rename(legacy: &str, current: &str) -> Vec<(String, String)> {
        vec![(legacy.to_owned(), current.to_owned())]
    }

    #[test]
    fn the_key_token_is_located_exactly() {
        let text = "{\"a\":{\"env\" : {\"X\":1e400, \"OLD\" :\"v\"}}}";
        let path = vec!["a".to_owned(), "env".to_owned()];
        let edits = key_edits(text, &path, &rename("OLD", "NEW")).unwrap();
        assert_eq!(edits.len(), 1);
        assert_eq!(&text[edits[0].0.clone()], "\"OLD\"");
        assert_eq!(edits[0].1, "\"NEW\"");
    }

    #[test]
    fn duplicates_comments_and_missing_keys_are_refused() {
        let path = vec!["env".to_owned()];
        let r = rename("OLD", "NEW");
        assert!(
            key_edits("{\"env\":{\"OLD\":\"a\",\"OLD\":\"b\"}}", &path, &r)
                .unwrap_err()
                .contains("duplicate JSON key env.OLD")
        );
        assert!(key_edits("{\"env\":{\"OLD\":\"a\"} // c\n}", &path, &r).is_err());
        assert!(key_edits("{\"env\":{}}", &path, &r).is_err());
    }
}
