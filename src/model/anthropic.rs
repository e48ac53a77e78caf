//! Anthropic Messages (skeleton: the model helper replaces this file).
use std::time::Duration;
use super::{ModelError, ModelRequest, OpenFuture, Provider, Secret};

pub struct AnthropicProvider {
    #[allow(dead_code)]
    base_url: String,
    #[allow(dead_code)]
    key: Option<Secret>,
}

impl AnthropicProvider {
    pub fn new(base_url: &str, key: Option<Secret>, _connect_timeout: Duration) -> Result<Self, ModelError> {
        Ok(AnthropicProvider { base_url: base_url.to_string(), key })
    }
}

impl Provider for AnthropicProvider {
    fn name(&self) -> &str { "anthropic" }
    fn open<'a>(&'a self, _req: &'a ModelRequest) -> OpenFuture<'a> {
        Box::pin(async move { Err(ModelError::Config("anthropic skeleton".into())) })
    }
}
