//! What a model call reports beside model and usage: the provider, the kind of call, the
//! provider's response id and the finish reasons (OpenTelemetry's `gen_ai.provider.name`,
//! `gen_ai.operation.name`, `gen_ai.response.id`, `gen_ai.response.finish_reasons`).

use super::ObservationUpdate;
use crate::model::GenAiCall;

impl ObservationUpdate {
    /// Who served the call, as the GenAI conventions name providers (`openai`, `anthropic`,
    /// `gcp.gemini`, `aws.bedrock`, `azure.ai.openai`, `mistral_ai`...). Without it, OTLP
    /// destinations derive it from the model name when they know the family.
    ///
    /// ```
    /// use observe_runtime::ObservationUpdate;
    /// let u = ObservationUpdate::new().model("my-finetune").provider("openai");
    /// # drop(u);
    /// ```
    pub fn provider(mut self, provider: impl Into<String>) -> Self {
        self.call().provider = Some(provider.into());
        self
    }

    /// The operation of a generation when it is not a chat: `text_completion` or
    /// `generate_content` (`chat` is the default). Any other name is dropped with a warning:
    /// an operation such as `invoke_agent` would make Langfuse read the generation as
    /// another type and drop its usage.
    ///
    /// ```
    /// use observe_runtime::ObservationUpdate;
    /// let kept = ObservationUpdate::new().operation("text_completion");
    /// let dropped = ObservationUpdate::new().operation("invoke_agent");
    /// assert_ne!(kept, ObservationUpdate::new());
    /// assert_eq!(dropped, ObservationUpdate::new());
    /// ```
    pub fn operation(mut self, operation: impl Into<String>) -> Self {
        let operation = operation.into();
        if !crate::genai::GENERATION_OPERATIONS.contains(&operation.as_str()) {
            tracing::warn!(
                operation,
                "observe: operation dropped: a generation's operation is one of {:?}",
                crate::genai::GENERATION_OPERATIONS
            );
            return self;
        }
        self.call().operation = Some(operation);
        self
    }

    /// The provider's id of the answer (`chatcmpl-...`, `msg_...`).
    ///
    /// ```
    /// use observe_runtime::ObservationUpdate;
    /// let u = ObservationUpdate::new().response_id("chatcmpl-9x").finish_reasons(["stop"]);
    /// # drop(u);
    /// ```
    pub fn response_id(mut self, id: impl Into<String>) -> Self {
        self.call().response_id = Some(id.into());
        self
    }

    /// Why the answer stopped, one reason per choice (`stop`, `length`, `tool_calls`...);
    /// replaces the reasons given before.
    pub fn finish_reasons<I, S>(mut self, reasons: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.call().finish_reasons = reasons.into_iter().map(Into::into).collect();
        self
    }

    fn call(&mut self) -> &mut GenAiCall {
        self.gen_ai.get_or_insert_with(Default::default)
    }
}

/// Merges `update` into what an observation holds: each given field replaces.
pub(super) fn merge(into: &mut Option<Box<GenAiCall>>, update: GenAiCall) {
    let call = into.get_or_insert_with(Default::default);
    if update.provider.is_some() {
        call.provider = update.provider;
    }
    if update.operation.is_some() {
        call.operation = update.operation;
    }
    if update.response_id.is_some() {
        call.response_id = update.response_id;
    }
    if !update.finish_reasons.is_empty() {
        call.finish_reasons = update.finish_reasons;
    }
}
