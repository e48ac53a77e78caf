//! How requests are shaped beyond the conversation: reasoning settings, and what a model needs
//! that the wire format does not say (which output-limit field it takes, whether it accepts a
//! temperature).

use serde::{Deserialize, Serialize};

use crate::config::prices::{MaxTokensField, ModelTable};
use crate::protocol::Role;

/// `--reasoning-effort`: how hard an OpenAI reasoning model thinks before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ReasoningEffort {
    Minimal,
    Low,
    Medium,
    High,
}

impl ReasoningEffort {
    pub fn as_str(self) -> &'static str {
        match self {
            ReasoningEffort::Minimal => "minimal",
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
        }
    }
}

/// Anthropic's smallest thinking budget.
pub const MIN_THINKING_BUDGET: u32 = 1024;

/// Settings every request of a provider takes into account.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// `--reasoning-effort`, for the agent's requests (OpenAI-compatible and Responses).
    pub reasoning_effort: Option<ReasoningEffort>,
    /// `--thinking`: Anthropic extended thinking budget in tokens, for the agent's requests.
    pub thinking_budget: Option<u32>,
    /// The model table, for per-model flags and output limits.
    pub models: ModelTable,
}

impl RequestOptions {
    /// The reasoning effort a request asks for. Only the agent's requests carry the flags: the
    /// writer, verifier and judge may be other models that reject them, and they answer in one
    /// turn where thinking buys little.
    pub fn effort(&self, role: Role) -> Option<ReasoningEffort> {
        self.reasoning_effort.filter(|_| role == Role::Agent)
    }

    /// The thinking budget a request asks for (agent requests only, as above).
    pub fn thinking(&self, role: Role) -> Option<u32> {
        self.thinking_budget.filter(|_| role == Role::Agent)
    }

    /// Whether `model` is an OpenAI reasoning model: the table's `reasoning` flag, else the
    /// name (`o1`, `o3`, `o4-mini`…, `gpt-5*` but not the `-chat` variants). Reasoning models
    /// reject a temperature and `max_tokens`, and return reasoning items on the Responses API.
    pub fn is_reasoning_model(&self, model: &str) -> bool {
        if let Some(flag) = self.models.lookup(model).and_then(|m| m.reasoning) {
            return flag;
        }
        let name = base_name(model);
        let o_series = name.strip_prefix('o').is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
        o_series || (name.starts_with("gpt-5") && !name.contains("-chat"))
    }

    /// The field that carries the output limit on Chat Completions: the table's
    /// `max_tokens_field`, else `max_completion_tokens` for OpenAI reasoning models (which
    /// reject `max_tokens`), else `max_tokens`, which vLLM, llama.cpp and Ollama expect.
    pub fn max_tokens_field(&self, model: &str) -> MaxTokensField {
        if let Some(field) = self.models.lookup(model).and_then(|m| m.max_tokens_field) {
            return field;
        }
        if self.is_reasoning_model(model) { MaxTokensField::MaxCompletionTokens } else { MaxTokensField::MaxTokens }
    }

    /// Anthropic's `max_tokens` with thinking on: the thinking budget comes out of it, so it is
    /// raised by the budget to leave the answer its own limit, within the model's output limit
    /// when the table knows it (and always above the budget, as the API requires).
    pub fn max_tokens_with_thinking(&self, model: &str, answer: u32, budget: u32) -> u32 {
        let want = answer.saturating_add(budget);
        match self.models.max_output(model).map(|m| u32::try_from(m).unwrap_or(u32::MAX)) {
            Some(ceiling) => want.min(ceiling).max(budget.saturating_add(1)),
            None => want,
        }
    }
}

/// The model's name without an OpenRouter-style `vendor/` prefix.
fn base_name(model: &str) -> &str {
    model.rsplit_once('/').map_or(model, |(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::config::prices::ModelInfo;

    fn opts(extra: &[(&str, ModelInfo)]) -> RequestOptions {
        let extra: BTreeMap<String, ModelInfo> = extra.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        RequestOptions { models: ModelTable::with_overrides(&extra), ..Default::default() }
    }

    #[test]
    fn reasoning_models_by_name_and_by_flag() {
        let o = opts(&[
            ("my-reasoner", ModelInfo { reasoning: Some(true), ..Default::default() }),
            ("o3-compat", ModelInfo { reasoning: Some(false), ..Default::default() }),
        ]);
        for m in ["o1", "o3-mini", "o4-mini-2025-04-16", "gpt-5", "gpt-5-mini", "openai/o3", "my-reasoner"] {
            assert!(o.is_reasoning_model(m), "{m}");
        }
        for m in ["gpt-4.1", "gpt-4o", "gpt-5-chat-latest", "ollama", "qwen3", "o3-compat", "deepseek-reasoner"] {
            assert!(!o.is_reasoning_model(m), "{m}");
        }
    }

    #[test]
    fn the_output_limit_field_follows_the_model() {
        let o = opts(&[("local-o1-clone", ModelInfo { max_tokens_field: Some(MaxTokensField::MaxTokens), ..Default::default() })]);
        assert_eq!(o.max_tokens_field("o3"), MaxTokensField::MaxCompletionTokens);
        assert_eq!(o.max_tokens_field("gpt-5-mini"), MaxTokensField::MaxCompletionTokens);
        assert_eq!(o.max_tokens_field("gpt-4o"), MaxTokensField::MaxTokens);
        assert_eq!(o.max_tokens_field("qwen2.5-coder:32b"), MaxTokensField::MaxTokens);
        assert_eq!(o.max_tokens_field("local-o1-clone"), MaxTokensField::MaxTokens, "the table's flag wins over the name");
        let o = opts(&[("vllm-model", ModelInfo { max_tokens_field: Some(MaxTokensField::MaxCompletionTokens), ..Default::default() })]);
        assert_eq!(o.max_tokens_field("vllm-model"), MaxTokensField::MaxCompletionTokens);
    }

    #[test]
    fn flags_apply_to_the_agent_only() {
        let o = RequestOptions { reasoning_effort: Some(ReasoningEffort::High), thinking_budget: Some(4096), ..Default::default() };
        assert_eq!((o.effort(Role::Agent), o.thinking(Role::Agent)), (Some(ReasoningEffort::High), Some(4096)));
        for role in [Role::Writer, Role::Verifier, Role::Judge] {
            assert_eq!((o.effort(role), o.thinking(role)), (None, None));
        }
    }

    #[test]
    fn thinking_raises_max_tokens_within_the_model_limit() {
        let o = opts(&[]);
        assert_eq!(o.max_tokens_with_thinking("claude-sonnet-4-5", 8192, 4096), 12_288);
        assert_eq!(o.max_tokens_with_thinking("claude-opus-4-1", 16_000, 30_000), 32_000, "capped at max_output");
        assert_eq!(o.max_tokens_with_thinking("claude-3-5-haiku", 8192, 10_000), 10_001, "always above the budget");
        assert_eq!(o.max_tokens_with_thinking("unknown-model", 8192, 2048), 10_240);
    }
}
