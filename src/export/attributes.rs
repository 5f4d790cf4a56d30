//! What one recorded span says in OpenTelemetry GenAI terms, independent of
//! where it is exported to.

use crate::model::{ModelError, ModelRequest, ModelResponse, StreamPart};
use crate::span::{Span, SpanKind, SpanStatus};

/// The GenAI operation of a model call: every call through a
/// [`Model`](crate::Model) is a chat/messages completion.
pub(crate) const CHAT: &str = "chat";

/// The `error.type` of an error without a more specific one (the
/// conventions' fallback value).
pub(crate) const OTHER_ERROR: &str = "_OTHER";

/// A recorded span's attributes, named as the OpenTelemetry GenAI semantic
/// conventions name them, plus tracedeck's own times.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpanAttributes {
    /// The span name: `{operation} {model}` for a call, the key for a task.
    pub name: String,
    /// The span's key.
    pub key: String,
    /// The span's id within its trace.
    pub span_id: u64,
    /// `ok`, `error` or `cancelled`.
    pub status: &'static str,
    /// The span's start, from the trace start, in microseconds.
    pub start_us: u64,
    /// From the span's start to its end, in microseconds.
    pub duration_us: u64,
    /// `error.type`, for a span with status error.
    pub error_type: Option<String>,
    /// The GenAI attributes of a model call; `None` for a task.
    pub gen_ai: Option<GenAi>,
}

/// The `gen_ai.*` attributes of one model call. Each is `None` (absent)
/// when the recording does not know it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct GenAi {
    /// `gen_ai.operation.name`.
    pub operation: &'static str,
    /// `gen_ai.provider.name`.
    pub provider: Option<String>,
    /// `gen_ai.request.model`.
    pub request_model: Option<String>,
    /// `gen_ai.request.temperature`.
    pub temperature: Option<f64>,
    /// `gen_ai.request.max_tokens`.
    pub max_tokens: Option<u64>,
    /// `gen_ai.request.top_p`.
    pub top_p: Option<f64>,
    /// `gen_ai.request.top_k`, from the request's provider-specific fields.
    pub top_k: Option<f64>,
    /// `gen_ai.request.seed`.
    pub seed: Option<u64>,
    /// `gen_ai.request.frequency_penalty`, from the provider-specific fields.
    pub frequency_penalty: Option<f64>,
    /// `gen_ai.request.presence_penalty`, from the provider-specific fields.
    pub presence_penalty: Option<f64>,
    /// `gen_ai.request.stop_sequences`.
    pub stop_sequences: Vec<String>,
    /// `gen_ai.response.id`, from the stream's response metadata.
    pub response_id: Option<String>,
    /// `gen_ai.response.model`.
    pub response_model: Option<String>,
    /// `gen_ai.response.finish_reasons`: the provider's own strings.
    pub finish_reasons: Vec<String>,
    /// `gen_ai.usage.input_tokens`.
    pub input_tokens: Option<u64>,
    /// `gen_ai.usage.output_tokens`.
    pub output_tokens: Option<u64>,
    /// `gen_ai.usage.cache_read.input_tokens`.
    pub cache_read_input_tokens: Option<u64>,
    /// `gen_ai.usage.cache_creation.input_tokens`.
    pub cache_creation_input_tokens: Option<u64>,
    /// `gen_ai.usage.reasoning.output_tokens`.
    pub reasoning_output_tokens: Option<u64>,
    /// `gen_ai.response.time_to_first_chunk`, in seconds: the span's TTFT
    /// (the first content part, never framing). Streams only.
    pub time_to_first_chunk: Option<f64>,
}

impl SpanAttributes {
    /// The attributes of `span`.
    pub(crate) fn of(span: &Span) -> Self {
        let gen_ai = (span.kind == SpanKind::Llm).then(|| GenAi::of(span));
        let name = match &gen_ai {
            Some(g) => match &g.request_model {
                Some(model) => format!("{} {model}", g.operation),
                None => g.operation.to_owned(),
            },
            None => span.key.clone(),
        };
        let status = match span.status {
            SpanStatus::Ok => "ok",
            SpanStatus::Error => "error",
            SpanStatus::Cancelled => "cancelled",
        };
        let error_type = (span.status == SpanStatus::Error).then(|| {
            span.error
                .as_ref()
                .map_or_else(|| OTHER_ERROR.to_owned(), error_type)
        });
        Self {
            name,
            key: span.key.clone(),
            span_id: span.id.0,
            status,
            start_us: span.timing.start_us,
            duration_us: span.timing.duration_us,
            error_type,
            gen_ai,
        }
    }
}

impl GenAi {
    fn of(span: &Span) -> Self {
        let request: Option<ModelRequest> = span.request();
        let response: Option<ModelResponse> = span.response();
        let mut out = GenAi {
            operation: CHAT,
            provider: span.model.as_ref().map(|m| m.provider.clone()),
            ..GenAi::default()
        };
        out.request_model = request
            .as_ref()
            .map(|r| r.model.clone())
            .filter(|m| !m.is_empty())
            .or_else(|| span.model.as_ref().map(|m| m.model.clone()));
        if let Some(request) = &request {
            let settings = &request.settings;
            out.temperature = settings.temperature;
            out.max_tokens = settings.max_tokens.map(u64::from);
            out.top_p = settings.top_p;
            out.seed = settings.seed;
            out.stop_sequences = settings.stop.clone();
            let extra = |name: &str| request.extra.get(name).and_then(|v| v.as_f64());
            out.top_k = extra("top_k");
            out.frequency_penalty = extra("frequency_penalty");
            out.presence_penalty = extra("presence_penalty");
        }
        out.response_id = span.parts.iter().find_map(|p| match &p.part {
            StreamPart::ResponseMetadata { id: Some(id), .. } => Some(id.clone()),
            _ => None,
        });
        if let Some(response) = &response {
            out.response_model = Some(response.model.model.clone()).filter(|m| !m.is_empty());
            out.finish_reasons = response
                .finish_reason
                .iter()
                .map(|r| r.raw.clone())
                .collect();
            if let Some(usage) = response.usage {
                out.input_tokens = Some(usage.input_tokens);
                out.output_tokens = Some(usage.output_tokens);
                out.cache_read_input_tokens = usage.cached_input_tokens;
                out.cache_creation_input_tokens = usage.cache_creation_input_tokens;
                out.reasoning_output_tokens = usage.reasoning_tokens;
            }
        }
        // Timing::ttft_us is the first content-bearing part (contract 2);
        // whole microseconds over 1e6 give the exact f64 of the seconds.
        out.time_to_first_chunk = span
            .streamed
            .then_some(span.timing.ttft_us)
            .flatten()
            .map(|us| us as f64 / 1_000_000.0);
        out
    }
}

/// The low-cardinality `error.type` of a model error: the HTTP status, the
/// provider's own error type, or the kind of failure.
pub(crate) fn error_type(error: &ModelError) -> String {
    match error {
        ModelError::Http { status, .. } => status.to_string(),
        ModelError::Provider { kind, .. } if !kind.is_empty() => kind.clone(),
        ModelError::Provider { .. } => "provider".to_owned(),
        ModelError::Transport { .. } => "transport".to_owned(),
        ModelError::Truncated { .. } => "truncated".to_owned(),
        ModelError::Decode { .. } => "decode".to_owned(),
        ModelError::CassetteMiss { .. } => "cassette_miss".to_owned(),
        ModelError::Config { .. } => "config".to_owned(),
        ModelError::Other { .. } => OTHER_ERROR.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FinishReason, ModelInfo, Usage};
    use crate::span::RecordedPart;

    fn call() -> Span {
        let mut span = Span::fixture(1, Some(0), "llm", SpanKind::Llm);
        span.model = Some(ModelInfo::new("openai", "gpt-4o-mini"));
        span.input = serde_json::to_value(
            ModelRequest::new("gpt-4o-mini")
                .user("hi")
                .temperature(0.5)
                .max_tokens(64)
                .extra("top_k", serde_json::json!(40)),
        )
        .unwrap()
        .into();
        span
    }

    #[test]
    fn a_call_is_named_by_operation_and_requested_model() {
        let attrs = SpanAttributes::of(&call());
        assert_eq!(attrs.name, "chat gpt-4o-mini");
        let g = attrs.gen_ai.unwrap();
        assert_eq!(g.provider.as_deref(), Some("openai"));
        assert_eq!(g.temperature, Some(0.5));
        assert_eq!(g.max_tokens, Some(64));
        assert_eq!(g.top_k, Some(40.0));
        assert_eq!((g.top_p, g.seed), (None, None));
        assert_eq!(attrs.error_type, None);
    }

    #[test]
    fn a_task_is_named_by_its_key_and_has_no_gen_ai_attributes() {
        let attrs = SpanAttributes::of(&Span::fixture(0, None, "turn", SpanKind::Task));
        assert_eq!(attrs.name, "turn");
        assert_eq!(attrs.gen_ai, None);
    }

    #[test]
    fn ttft_comes_from_the_timing_of_streams_only() {
        let mut span = call();
        span.timing.ttft_us = Some(1_200_000);
        assert_eq!(
            SpanAttributes::of(&span)
                .gen_ai
                .unwrap()
                .time_to_first_chunk,
            None
        );
        span.streamed = true;
        span.timing.first_part_us = Some(800_000);
        assert_eq!(
            SpanAttributes::of(&span)
                .gen_ai
                .unwrap()
                .time_to_first_chunk,
            Some(1.2)
        );
    }

    #[test]
    fn the_response_gives_id_model_finish_reasons_and_usage() {
        let mut span = call();
        span.parts = vec![RecordedPart {
            offset_us: 5,
            part: StreamPart::ResponseMetadata {
                id: Some("resp_9".into()),
                model: None,
            },
        }];
        let mut response =
            ModelResponse::text(ModelInfo::new("openai", "gpt-4o-mini-2024-07-18"), "ok");
        response.finish_reason = Some(FinishReason::length());
        response.usage = Some(Usage {
            cached_input_tokens: Some(3),
            reasoning_tokens: Some(2),
            ..Usage::new(10, 5)
        });
        span.output = Some(serde_json::to_value(response).unwrap().into());
        let g = SpanAttributes::of(&span).gen_ai.unwrap();
        assert_eq!(g.response_id.as_deref(), Some("resp_9"));
        assert_eq!(g.response_model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
        assert_eq!(g.finish_reasons, ["length"]);
        assert_eq!((g.input_tokens, g.output_tokens), (Some(10), Some(5)));
        assert_eq!(g.cache_read_input_tokens, Some(3));
        assert_eq!(g.cache_creation_input_tokens, None);
        assert_eq!(g.reasoning_output_tokens, Some(2));
    }

    #[test]
    fn errors_have_a_low_cardinality_type() {
        let mut span = call();
        span.status = SpanStatus::Error;
        assert_eq!(
            SpanAttributes::of(&span).error_type.as_deref(),
            Some("_OTHER")
        );
        span.error = Some(ModelError::Http {
            provider: "openai".into(),
            status: 429,
            message: "slow down".into(),
            retry_after_ms: None,
        });
        assert_eq!(SpanAttributes::of(&span).error_type.as_deref(), Some("429"));
        span.status = SpanStatus::Cancelled;
        assert_eq!(SpanAttributes::of(&span).error_type, None);
    }
}
