//! The model table: prices and context sizes, bundled in `assets/models.toml` and extendable
//! from config files.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    /// USD per million prompt tokens.
    #[serde(default)]
    pub input: f64,
    /// USD per million completion tokens.
    #[serde(default)]
    pub output: f64,
    /// Context window in tokens.
    #[serde(default)]
    pub context: Option<u64>,
    /// Most output tokens one answer may have; repeated truncation raises `max_tokens` up to
    /// it.
    #[serde(default)]
    pub max_output: Option<u64>,
}

/// The context budget for models the table does not know.
pub const DEFAULT_CONTEXT: u64 = 128_000;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelTable {
    models: BTreeMap<String, ModelInfo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    models: BTreeMap<String, ModelInfo>,
}

const BUNDLED: &str = include_str!("../../assets/models.toml");

impl ModelTable {
    /// The bundled table with `extra` entries added or replacing bundled ones.
    pub fn with_overrides(extra: &BTreeMap<String, ModelInfo>) -> ModelTable {
        // The bundled file is tested to parse; an empty table is the safe fallback.
        let mut models = toml::from_str::<TableFile>(BUNDLED).map(|t| t.models).unwrap_or_default();
        models.extend(extra.iter().map(|(k, v)| (k.clone(), *v)));
        ModelTable { models }
    }

    pub fn lookup(&self, model: &str) -> Option<&ModelInfo> {
        let find = |name: &str| {
            self.models.get(name).or_else(|| {
                self.models
                    .iter()
                    .filter(|(k, _)| name.starts_with(k.as_str()))
                    .max_by_key(|(k, _)| k.len())
                    .map(|(_, v)| v)
            })
        };
        find(model).or_else(|| model.rsplit_once('/').and_then(|(_, m)| find(m)))
    }

    /// Cost in USD and whether the model had a price.
    pub fn cost(&self, model: &str, prompt_tokens: u64, completion_tokens: u64) -> (f64, bool) {
        match self.lookup(model) {
            Some(p) => ((prompt_tokens as f64 * p.input + completion_tokens as f64 * p.output) / 1e6, true),
            None => (0.0, false),
        }
    }

    pub fn context(&self, model: &str) -> u64 {
        self.lookup(model).and_then(|m| m.context).unwrap_or(DEFAULT_CONTEXT)
    }

    /// The model's output limit, when the table knows it.
    pub fn max_output(&self, model: &str) -> Option<u64> {
        self.lookup(model).and_then(|m| m.max_output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_table_parses_and_matches_prefixes() {
        toml::from_str::<TableFile>(BUNDLED).expect("bundled models.toml parses");
        let t = ModelTable::with_overrides(&BTreeMap::new());
        assert_eq!(t.lookup("claude-sonnet-4-5-20250929").map(|m| m.input), Some(3.0));
        assert_eq!(t.lookup("gpt-4o-mini-2024-07-18").map(|m| m.input), Some(0.15));
        assert_eq!(t.lookup("openai/gpt-4o").map(|m| m.output), Some(10.0));
        let (cost, priced) = t.cost("gpt-4o", 1_000_000, 100_000);
        assert!(priced && (cost - 3.5).abs() < 1e-9);
        assert_eq!(t.cost("my-local-llama", 10, 10), (0.0, false));
        assert_eq!(t.context("my-local-llama"), DEFAULT_CONTEXT);
        assert_eq!(t.max_output("claude-sonnet-4-5-20250929"), Some(64_000));
        assert_eq!(t.max_output("gpt-4o-mini-2024-07-18"), Some(16_384));
        assert_eq!(t.max_output("my-local-llama"), None);
    }

    #[test]
    fn overrides_extend_and_replace() {
        let mut extra = BTreeMap::new();
        extra.insert("gpt-4o".to_string(), ModelInfo { input: 1.0, output: 1.0, context: Some(1000), max_output: None });
        extra.insert("qwen3-coder".to_string(), ModelInfo { input: 0.5, output: 0.5, context: None, max_output: Some(4096) });
        let t = ModelTable::with_overrides(&extra);
        assert_eq!(t.context("gpt-4o"), 1000);
        assert!(t.cost("qwen3-coder", 1, 1).1);
        assert_eq!(t.max_output("qwen3-coder"), Some(4096));
        assert_eq!(t.max_output("gpt-4o"), None, "an override replaces the whole entry");
    }
}
