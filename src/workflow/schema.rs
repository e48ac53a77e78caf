//! A small JSON Schema validator for the answers of `agent(prompt, {schema})`.
//!
//! Written here rather than taken from the `jsonschema` crate: that crate brings a regex
//! engine, URI resolution with HTTP and TLS by default, and dozens of transitive crates, for a
//! job that needs the structural keywords only. The subset is `type`, `properties`,
//! `required`, `additionalProperties`, `items`, `enum`, `const`, `minItems`, `maxItems`,
//! `minLength`, `maxLength`, `minimum` and `maximum`; annotations (`title`, `description`,
//! `default`, `examples`, `$schema`, `$id`, `$comment`) are ignored. Any other keyword is
//! refused when the schema is checked, so a script never believes something is enforced that
//! is not.

use serde_json::Value;

const KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
];
const ANNOTATIONS: &[&str] = &["title", "description", "default", "examples", "$schema", "$id", "$comment"];
const TYPES: &[&str] = &["object", "array", "string", "number", "integer", "boolean", "null"];

/// Checks that `schema` uses only the supported subset, correctly. The error names the place.
pub fn check(schema: &Value) -> Result<(), String> {
    check_at(schema, "schema")
}

fn check_at(schema: &Value, at: &str) -> Result<(), String> {
    let Value::Object(o) = schema else {
        return match schema {
            Value::Bool(_) => Ok(()),
            _ => Err(format!("{at} must be an object")),
        };
    };
    for (k, v) in o {
        if ANNOTATIONS.contains(&k.as_str()) {
            continue;
        }
        if !KEYWORDS.contains(&k.as_str()) {
            return Err(format!("{at}: the keyword `{k}` is not supported (supported: {})", KEYWORDS.join(", ")));
        }
        match k.as_str() {
            "type" => {
                let names: Vec<&Value> = match v {
                    Value::Array(a) => a.iter().collect(),
                    one => vec![one],
                };
                for n in names {
                    if !n.as_str().is_some_and(|n| TYPES.contains(&n)) {
                        return Err(format!("{at}.type: {n} is not one of {}", TYPES.join(", ")));
                    }
                }
            }
            "properties" => {
                let Value::Object(props) = v else { return Err(format!("{at}.properties must be an object")) };
                for (name, sub) in props {
                    check_at(sub, &format!("{at}.properties.{name}"))?;
                }
            }
            "required" => {
                if !v.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
                    return Err(format!("{at}.required must be an array of property names"));
                }
            }
            "additionalProperties" | "items" => check_at(v, &format!("{at}.{k}"))?,
            "enum" => {
                if !v.is_array() {
                    return Err(format!("{at}.enum must be an array"));
                }
            }
            "const" => {}
            _ => {
                if !v.is_number() {
                    return Err(format!("{at}.{k} must be a number"));
                }
            }
        }
    }
    Ok(())
}

/// Every way `value` fails `schema` (which passed [`check`]), each with its JSON path.
pub fn validate(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    validate_at(schema, value, "$", &mut errors);
    errors
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(v: &Value, t: &str) -> bool {
    match t {
        "integer" => v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => v.is_number(),
        other => type_name(v) == other,
    }
}

fn validate_at(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let o = match schema {
        Value::Bool(true) => return,
        Value::Bool(false) => {
            errors.push(format!("{path}: no value is allowed here"));
            return;
        }
        Value::Object(o) => o,
        _ => return,
    };
    if let Some(t) = o.get("type") {
        let allowed: Vec<&str> = match t {
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            one => one.as_str().into_iter().collect(),
        };
        if !allowed.iter().any(|t| has_type(value, t)) {
            errors.push(format!("{path}: expected {}, got {}", allowed.join(" or "), type_name(value)));
            // Nothing below makes sense for a value of the wrong type.
            return;
        }
    }
    if let Some(Value::Array(options)) = o.get("enum")
        && !options.contains(value)
    {
        let list: Vec<String> = options.iter().map(Value::to_string).collect();
        errors.push(format!("{path}: {value} is not one of {}", list.join(", ")));
    }
    if let Some(c) = o.get("const")
        && c != value
    {
        errors.push(format!("{path}: must be {c}"));
    }
    let num = |k: &str| o.get(k).and_then(Value::as_f64);
    match value {
        Value::Object(obj) => {
            let props = o.get("properties").and_then(Value::as_object);
            if let Some(Value::Array(req)) = o.get("required") {
                for name in req.iter().filter_map(Value::as_str) {
                    if !obj.contains_key(name) {
                        errors.push(format!("{path}: the property `{name}` is required"));
                    }
                }
            }
            for (k, v) in obj {
                let sub = format!("{path}.{k}");
                match props.and_then(|p| p.get(k)) {
                    Some(s) => validate_at(s, v, &sub, errors),
                    None => match o.get("additionalProperties") {
                        Some(Value::Bool(false)) => errors.push(format!("{path}: the property `{k}` is not allowed")),
                        Some(s) => validate_at(s, v, &sub, errors),
                        None => {}
                    },
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = o.get("items") {
                for (i, v) in items.iter().enumerate() {
                    validate_at(s, v, &format!("{path}[{i}]"), errors);
                }
            }
            if let Some(min) = num("minItems").filter(|m| (items.len() as f64) < *m) {
                errors.push(format!("{path}: at least {min} items are needed, got {}", items.len()));
            }
            if let Some(max) = num("maxItems").filter(|m| (items.len() as f64) > *m) {
                errors.push(format!("{path}: at most {max} items are allowed, got {}", items.len()));
            }
        }
        Value::String(s) => {
            let n = s.chars().count() as f64;
            if let Some(min) = num("minLength").filter(|m| n < *m) {
                errors.push(format!("{path}: at least {min} characters are needed, got {n}"));
            }
            if let Some(max) = num("maxLength").filter(|m| n > *m) {
                errors.push(format!("{path}: at most {max} characters are allowed, got {n}"));
            }
        }
        Value::Number(x) => {
            let x = x.as_f64().unwrap_or(0.0);
            if let Some(min) = num("minimum").filter(|m| x < *m) {
                errors.push(format!("{path}: {x} is below the minimum {min}"));
            }
            if let Some(max) = num("maximum").filter(|m| x > *m) {
                errors.push(format!("{path}: {x} is above the maximum {max}"));
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn review() -> Value {
        json!({
            "type": "object",
            "properties": {
                "verdict": {"type": "string", "enum": ["approve", "changes"]},
                "issues": {"type": "array", "items": {"type": "object", "properties": {"file": {"type": "string"}, "line": {"type": "integer", "minimum": 1}}, "required": ["file"]}},
                "score": {"type": "number", "minimum": 0, "maximum": 10}
            },
            "required": ["verdict", "issues"],
            "additionalProperties": false,
            "description": "a review"
        })
    }

    #[test]
    fn accepts_a_matching_value() {
        check(&review()).unwrap();
        let v = json!({"verdict": "approve", "issues": [{"file": "a.rs", "line": 3}], "score": 7.5});
        assert!(validate(&review(), &v).is_empty());
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let v = json!({"verdict": "maybe", "issues": [{"line": 0}, "x"], "extra": 1});
        let errors = validate(&review(), &v);
        let text = errors.join("\n");
        for want in [
            "$.verdict: \"maybe\" is not one of",
            "$.issues[0]: the property `file` is required",
            "$.issues[0].line: 0 is below the minimum 1",
            "$.issues[1]: expected object, got string",
            "$: the property `extra` is not allowed",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert_eq!(validate(&json!({"type": "integer"}), &json!(2.5)), vec!["$: expected integer, got number"]);
        assert!(validate(&json!({"type": ["string", "null"]}), &Value::Null).is_empty());
    }

    #[test]
    fn refuses_keywords_it_would_not_enforce() {
        let e = check(&json!({"type": "string", "pattern": "^a"})).unwrap_err();
        assert!(e.contains("`pattern` is not supported"), "{e}");
        let e = check(&json!({"properties": {"a": {"type": "strin"}}})).unwrap_err();
        assert!(e.contains("schema.properties.a.type"), "{e}");
    }
}
