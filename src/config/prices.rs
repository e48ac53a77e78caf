//! The model table: prices and context sizes, bundled in `assets/models.toml` and extendable
//! from config files.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::TokenUsage;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    /// USD per million prompt tokens.
    #[serde(default)]
    pub input: f64,
    /// USD per million completion tokens.
    #[serde(default)]
    pub output: f64,
    /// USD per million prompt tokens read from the provider's cache; `input` when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<f64>,
    /// USD per million prompt tokens written to the cache (Anthropic charges a premium);
    /// `input` when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
    /// Context window in tokens.
    #[serde(default)]
    pub context: Option<u64>,
    /// Most output tokens one answer may have; repeated truncation raises `max_tokens` up to
    /// it.
    #[serde(default)]
    pub max_output: Option<u64>,
    /// The Chat Completions field for the output limit, when the name does not tell:
    /// OpenAI reasoning models (`o*`, `gpt-5*`) take `max_completion_tokens`, everything else
    /// `max_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens_field: Option<MaxTokensField>,
    /// An OpenAI reasoning model (no temperature, reasoning items on the Responses API), when
    /// the name does not tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxTokensField {
    MaxTokens,
    MaxCompletionTokens,
}

impl MaxTokensField {
    pub fn as_str(self) -> &'static str {
        match self {
            MaxTokensField::MaxTokens => "max_tokens",
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
        }
    }
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
            self.models
                .get(name)
                .or_else(|| self.models.iter().filter(|(k, _)| name.starts_with(k.as_str())).max_by_key(|(k, _)| k.len()).map(|(_, v)| v))
        };
        find(model).or_else(|| model.rsplit_once('/').and_then(|(_, m)| find(m)))
    }

    /// Cost in USD and whether the model had a price. Cached prompt tokens are part of
    /// `prompt_tokens` and are priced at the cache's rates instead of `input`.
    pub fn cost(&self, model: &str, usage: &TokenUsage) -> (f64, bool) {
        let Some(p) = self.lookup(model) else { return (0.0, false) };
        let read = usage.cache_read_tokens.min(usage.prompt_tokens);
        let write = usage.cache_write_tokens.min(usage.prompt_tokens - read);
        let fresh = usage.prompt_tokens - read - write;
        let dollars = fresh as f64 * p.input
            + read as f64 * p.cache_read.unwrap_or(p.input)
            + write as f64 * p.cache_write.unwrap_or(p.input)
            + usage.completion_tokens as f64 * p.output;
        (dollars / 1e6, true)
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
        let (cost, priced) = t.cost("gpt-4o", &TokenUsage::new(1_000_000, 100_000));
        assert!(priced && (cost - 3.5).abs() < 1e-9);
        assert_eq!(t.cost("my-local-llama", &TokenUsage::new(10, 10)), (0.0, false));
        assert_eq!(t.context("my-local-llama"), DEFAULT_CONTEXT);
        assert_eq!(t.max_output("claude-sonnet-4-5-20250929"), Some(64_000));
        assert_eq!(t.max_output("gpt-4o-mini-2024-07-18"), Some(16_384));
        assert_eq!(t.max_output("my-local-llama"), None);
    }

    #[test]
    fn overrides_extend_and_replace() {
        let mut extra = BTreeMap::new();
        extra.insert("gpt-4o".to_string(), ModelInfo { input: 1.0, output: 1.0, context: Some(1000), ..Default::default() });
        extra.insert("qwen3-coder".to_string(), ModelInfo { input: 0.5, output: 0.5, max_output: Some(4096), ..Default::default() });
        let t = ModelTable::with_overrides(&extra);
        assert_eq!(t.context("gpt-4o"), 1000);
        assert!(t.cost("qwen3-coder", &TokenUsage::new(1, 1)).1);
        assert_eq!(t.max_output("qwen3-coder"), Some(4096));
        assert_eq!(t.max_output("gpt-4o"), None, "an override replaces the whole entry");
    }

    #[test]
    fn cached_prompt_tokens_cost_the_cache_rates() {
        let t = ModelTable::with_overrides(&BTreeMap::new());
        // claude-sonnet-4: $3 input, $0.30 cache read, $3.75 cache write, $15 output.
        let u = TokenUsage { prompt_tokens: 1_000_000, completion_tokens: 0, cache_read_tokens: 800_000, cache_write_tokens: 100_000 };
        let (cost, _) = t.cost("claude-sonnet-4-5", &u);
        assert!((cost - (0.1 * 3.0 + 0.8 * 0.30 + 0.1 * 3.75)).abs() < 1e-9, "{cost}");
        // gpt-4.1: $2 input, $0.50 cached; OpenAI reports no cache writes.
        let u = TokenUsage { prompt_tokens: 1_000_000, completion_tokens: 1_000_000, cache_read_tokens: 750_000, cache_write_tokens: 0 };
        let (cost, _) = t.cost("gpt-4.1", &u);
        assert!((cost - (0.25 * 2.0 + 0.75 * 0.5 + 8.0)).abs() < 1e-9, "{cost}");
        // Without cache prices, cached tokens cost what any prompt token costs.
        let mut extra = BTreeMap::new();
        extra.insert("local".to_string(), ModelInfo { input: 1.0, output: 2.0, ..Default::default() });
        let t = ModelTable::with_overrides(&extra);
        let u = TokenUsage { prompt_tokens: 1_000_000, completion_tokens: 0, cache_read_tokens: 500_000, cache_write_tokens: 500_000 };
        assert!((t.cost("local", &u).0 - 1.0).abs() < 1e-9);
        // Figures a provider got wrong (more cached than sent) never make a cost negative.
        let u = TokenUsage { prompt_tokens: 10, completion_tokens: 0, cache_read_tokens: 50, cache_write_tokens: 50 };
        assert!(t.cost("local", &u).0 >= 0.0);
    }

    #[test]
    fn every_bundled_entry_has_cache_prices_where_the_provider_publishes_them() {
        let t = ModelTable::with_overrides(&BTreeMap::new());
        for m in ["gpt-5", "gpt-4.1", "gpt-4o", "o3", "claude-sonnet-4", "claude-opus-4", "claude-haiku-4-5", "deepseek-chat"] {
            let info = t.lookup(m).unwrap();
            let read = info.cache_read.unwrap_or_else(|| panic!("{m} has no cache_read price"));
            assert!(read < info.input, "{m}: reading the cache is cheaper than sending");
        }
        for m in ["claude-sonnet-4", "claude-opus-4-5", "claude-3-5-haiku"] {
            let info = t.lookup(m).unwrap();
            assert!((info.cache_write.unwrap() - info.input * 1.25).abs() < 1e-9, "{m}: a 5-minute cache write costs 1.25x");
        }
    }
}
