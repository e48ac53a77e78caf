//! Typed access to a call's JSON arguments, with errors that name the argument and the type
//! the model should have given.

use serde_json::{Map, Value};

use super::ToolError;

pub(super) struct Args<'a> {
    tool: &'a str,
    map: Option<&'a Map<String, Value>>,
}

pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'a> Args<'a> {
    pub(super) fn new(tool: &'a str, raw: &'a Value) -> Result<Args<'a>, ToolError> {
        match raw {
            Value::Object(map) => Ok(Args { tool, map: Some(map) }),
            // Tools whose arguments are all optional may be called with nothing.
            Value::Null => Ok(Args { tool, map: None }),
            other => Err(ToolError(format!("the arguments of {tool} must be a JSON object, got {}", type_name(other)))),
        }
    }

    /// The value of `name`, treating an explicit null as absent.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(name)).filter(|v| !v.is_null())
    }

    fn missing(&self, name: &str, expected: &str) -> ToolError {
        ToolError(format!("{}: missing required argument `{name}` (expected {expected})", self.tool))
    }

    fn wrong(&self, name: &str, expected: &str, got: &Value) -> ToolError {
        ToolError(format!("{}: argument `{name}` must be {expected}, got {}", self.tool, type_name(got)))
    }

    pub(super) fn str(&self, name: &str) -> Result<&'a str, ToolError> {
        self.opt_str(name)?.ok_or_else(|| self.missing(name, "a string"))
    }

    pub(super) fn opt_str(&self, name: &str) -> Result<Option<&'a str>, ToolError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong(name, "a string", v)),
        }
    }

    /// A non-negative integer; integral floats and numeric strings are accepted because
    /// models produce both.
    pub(super) fn opt_u64(&self, name: &str) -> Result<Option<u64>, ToolError> {
        let expected = "a non-negative integer";
        match self.get(name) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
                (Some(u), _) => Ok(Some(u)),
                (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f < u64::MAX as f64 => Ok(Some(f as u64)),
                _ => Err(self.wrong(name, expected, v)),
            },
            Some(v @ Value::String(s)) => s.trim().parse().map(Some).map_err(|_| self.wrong(name, expected, v)),
            Some(v) => Err(self.wrong(name, expected, v)),
        }
    }

    pub(super) fn u64(&self, name: &str) -> Result<u64, ToolError> {
        self.opt_u64(name)?.ok_or_else(|| self.missing(name, "a non-negative integer"))
    }

    /// A boolean; `"true"` and `"false"` as strings are accepted too.
    pub(super) fn opt_bool(&self, name: &str) -> Result<Option<bool>, ToolError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v @ Value::String(s)) => match s.trim() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(self.wrong(name, "a boolean", v)),
            },
            Some(v) => Err(self.wrong(name, "a boolean", v)),
        }
    }

    pub(super) fn opt_f64(&self, name: &str) -> Result<Option<f64>, ToolError> {
        let expected = "a number";
        match self.get(name) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => n.as_f64().map(Some).ok_or_else(|| self.wrong(name, expected, v)),
            Some(v @ Value::String(s)) => s.trim().parse().map(Some).map_err(|_| self.wrong(name, expected, v)),
            Some(v) => Err(self.wrong(name, expected, v)),
        }
    }

    pub(super) fn array(&self, name: &str) -> Result<&'a [Value], ToolError> {
        match self.get(name) {
            None => Err(self.missing(name, "an array")),
            Some(Value::Array(a)) => Ok(a),
            Some(v) => Err(self.wrong(name, "an array", v)),
        }
    }
}
