//! OpenAI-compatible Chat Completions (skeleton: the model helper replaces this file).
use std::time::Duration;
use super::{ModelError, ModelRequest, OpenFuture, Provider, Secret};

pub struct OpenAiProvider {
    #[allow(dead_code)]
    base_url: String,
    #[allow(dead_code)]
    key: Option<Secret>,
}

impl OpenAiProvider {
    pub fn new(base_url: &str, key: Option<Secret>, _connect_timeout: Duration) -> Result<Self, ModelError> {
        Ok(OpenAiProvider { base_url: base_url.to_string(), key })
    }
}

impl Provider for OpenAiProvider {
    fn name(&self) -> &str { "openai" }
    fn open<'a>(&'a self, _req: &'a ModelRequest) -> OpenFuture<'a> {
        Box::pin(async move { Err(ModelError::Config("openai skeleton".into())) })
    }
}
