//! [rig](https://docs.rs/rig-core) over a tracedeck [`Model`]:
//! [`completion_model`] gives a rig completion model (a
//! `rig_core::Model` of a [`TracedeckWire`], convertible into the
//! `rig_core::DynModel<Completion>` every rig agent takes) whose calls,
//! unary or streamed, are served in process by the model you give it. Put a
//! [`Recorder`](crate::Recorder) around a live model to record a rig
//! program; give it a [`Player`](crate::Player) or a
//! [`CassetteModel`](crate::CassetteModel) in Replay mode to replay it with
//! no network at all; give it a [`ScriptedModel`](crate::ScriptedModel) to
//! script it. A rig `Agent` (crate `rig-agent`), tools included, runs over
//! it unchanged.
//!
//! ```
//! use std::sync::Arc;
//! use rig_core::completion::CompletionRequest;
//! use tracedeck::context::with_span_result;
//! use tracedeck::{Collector, Recorder, Script, ScriptedModel};
//!
//! # tracedeck::testing::run_paused(async {
//! let traces = Collector::new();
//! let model = Recorder::new(ScriptedModel::new(Script::text("Paris")), traces.clone());
//! let rig_model = tracedeck::adapters::rig::completion_model(Arc::new(model));
//!
//! let request = CompletionRequest::new("Capital of France?").preamble("One word.");
//! // `with_span_result`: rig's errors do not serialize.
//! let answer = with_span_result("qa", "Capital of France?", rig_model.call(request))
//!     .await
//!     .unwrap();
//! assert_eq!(answer.text(), "Paris");
//! let trace = &traces.traces_for("qa")[0];
//! assert_eq!(trace.spans.len(), 2, "the turn and its model call");
//! # });
//! ```
//!
//! # How a call goes through
//!
//! rig 0.44 calls a model through a *wire* (what to send, how to read the
//! reply) and a *transport* (how it travels); [`TracedeckWire`] is both.
//!
//! 1. rig prepares the `CompletionRequest` (preamble first, documents joined
//!    into the history) and the wire encodes it into a [`ModelRequest`]
//!    ([`encode_request`]): the leading system message is the
//!    [`system`](ModelRequest::system) prompt, user and assistant turns are
//!    messages, tool results are [`Role::Tool`] messages, tools, temperature,
//!    max tokens, tool choice, the output schema, `top_p`, `seed` and `stop`
//!    are typed settings, and `additional_params` (a JSON object) is
//!    merged into [`extra`](ModelRequest::extra). Reasoning and
//!    provider-opaque blocks of earlier assistant turns are not sent (the
//!    model boundary has no place for them); rig's other generation options
//!    (reasoning effort, cache retention, service tier, verbosity,
//!    parallel tool calls) are refused through rig's own
//!    `OnUnsupported` policy. Media the boundary cannot carry is replaced
//!    by rig's placeholder before encoding (images by URL or inline base64
//!    are sent; a text document becomes its text); whatever still cannot
//!    cross (a tool choice of two tools, non-object `additional_params`) is
//!    a request error naming it, never a panic.
//! 2. The transport calls the tracedeck model when rig first polls the
//!    reply, in that same task: so the call's parent is the polling task's
//!    current span (contract 1) and its t0 is the instant rig sent it. No
//!    task is spawned.
//! 3. A unary call (`call`) is [`Model::generate`]; its response is handed
//!    to rig as the parts it adds up to, with the tracedeck response as the
//!    reply's `raw`. A streamed call (`stream`) is [`Model::stream`]: each
//!    [`StreamPart`] reaches rig's decoder the moment the model yields it, so
//!    replayed parts arrive at their recorded offsets. rig reads the stream
//!    to its end, so a recorder sees it finish.
//! 4. Token counts become rig's `Usage`, the finish reason rig's, a refusal
//!    the turn's error, and a [`ModelError`] a `ProviderError` with the same
//!    message (an HTTP error keeps its status).
//!
//! # Agents and attribution
//!
//! rig-agent serves an `Agent`'s model calls and tool calls from the
//! agent's own bus, which whichever of the agent's runs is waiting polls.
//! One turn at a time per `Agent` value, everything is attributed to the
//! turn's span. When concurrent turns share one `Agent`, a call of one turn
//! may be polled by another, so:
//!
//! - build the agent with [`agent`] (or add the [`Attribution`] hook
//!   yourself): each turn notes its span in its own task before each model
//!   call, and the call is made inside it, so every llm span lands under
//!   its own turn;
//! - a tool's body still runs wherever the bus is polled, so spans *inside*
//!   a tool (a `with_span` in its `call`) may land under another turn of
//!   the shared agent. For those to be exact too, build an `Agent` per turn
//!   over one shared model (a clone of the same `completion_model`): each
//!   turn's bus is then polled by that turn alone.

// rig's traits return rig's own errors (`ProviderError`, `EncodeError`),
// which are large; rig-core itself allows this lint.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::{FutureExt, StreamExt};
use rig_agent::AgentBuilder;
use rig_agent::agent::{
    AgentHook, CompletionCallAction, CompletionCallEvent, HookContext, RequestPatch,
};
use rig_core::completion::message::{
    AssistantContent, DocumentSourceKind, Image, MimeType, ToolResultContent, UserContent,
};
use rig_core::completion::options::{Mapping, OptionFields, OptionMap};
use rig_core::completion::{Accepts, CompletionRequest, Media, ReplayTarget};
use rig_core::driver::{Exchange, Opened, Opening, Transport};
use rig_core::error::{EncodeError, ProviderError};
use rig_core::message::{Api, ToolChoice as RigToolChoice};
use rig_core::operation::{Block, CallFragment, Completion, Finish};
use rig_core::wire::document::{Reassemble, Serves};
use rig_core::wire::{Capabilities, Decoder, Descriptor, Flow, Mode, Out, Wire, WireEvent};
use serde_json::Value;

use crate::context::{InSpan, SpanContext, current_span};
use crate::model::{
    ContentPart, FinishKind, FinishReason, ImageSource, Message, Model, ModelError, ModelInfo,
    ModelRequest, ModelResponse, ResponseAccumulator, ResponseFormat, Role, StreamPart, ToolChoice,
    ToolDefinition, Usage,
};

/// The API name rig records on the turns this wire produces.
const API: &str = "tracedeck";

/// A rig completion model served by `model`: every call, unary or streamed,
/// is a call to `model` made in the task that polls it. Hand it (or
/// `.erase()` it) to anything that takes a rig model, such as
/// `rig_agent::AgentBuilder::new`. See the [module docs](self).
pub fn completion_model(model: Arc<dyn Model>) -> rig_core::Model<TracedeckWire, TracedeckWire> {
    let wire = TracedeckWire::new(model);
    rig_core::Model::new(wire.clone(), wire)
}

/// The wire and transport behind [`completion_model`]: it encodes rig's
/// requests into [`ModelRequest`]s, sends them to a tracedeck [`Model`] and
/// decodes its [`StreamPart`]s into rig's reply.
///
/// The provider and model id rig sees are the model's
/// [`info`](Model::info); a request that names no model is sent for that id.
#[derive(Clone)]
pub struct TracedeckWire {
    model: Arc<dyn Model>,
    info: ModelInfo,
}

impl std::fmt::Debug for TracedeckWire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedeckWire")
            .field("model", &self.info)
            .finish()
    }
}

impl TracedeckWire {
    /// A wire served by `model`.
    pub fn new(model: Arc<dyn Model>) -> Self {
        let info = model.info();
        Self { model, info }
    }
}

impl ReplayTarget for TracedeckWire {
    fn api(&self) -> Api {
        Api::from_static(API)
    }

    fn provider(&self) -> &str {
        &self.info.provider
    }

    fn model(&self) -> &str {
        &self.info.model
    }

    /// Images in user messages, tools and their results; images elsewhere
    /// are replaced by rig's placeholders before the wire sees them.
    fn accepts(&self, _model: &str) -> Accepts {
        Accepts {
            user_images: true,
            assistant_images: false,
            tool_result_images: false,
            tools: true,
        }
    }

    fn map_options(&self, _request: &CompletionRequest, fields: OptionFields<'_>) -> OptionMap {
        let OptionFields {
            reasoning,
            cache,
            service_tier,
            verbosity,
            parallel_tool_calls,
            top_p,
            seed,
            stop,
        } = fields;
        let refused = |option: &str| {
            Mapping::unsupported(format!(
                "tracedeck's ModelRequest has no `{option}` setting; \
                 pass the provider's own field in additional_params"
            ))
        };
        OptionMap {
            reasoning: Mapping::of(reasoning, |_| refused("reasoning")),
            cache: Mapping::of(cache, |_| refused("cache")),
            service_tier: Mapping::of(service_tier, |_| refused("service_tier")),
            verbosity: Mapping::of(verbosity, |_| refused("verbosity")),
            parallel_tool_calls: Mapping::of(parallel_tool_calls, |_| {
                refused("parallel_tool_calls")
            }),
            top_p: Mapping::of(top_p, |top_p| {
                Mapping::Send(serde_json::json!({"top_p": top_p}))
            }),
            seed: Mapping::of(seed, |seed| {
                Mapping::Send(serde_json::json!({"seed": seed}))
            }),
            stop: Mapping::of_stop(stop, |stop| {
                Mapping::Send(serde_json::json!({"stop": stop}))
            }),
        }
    }

    /// Images by URL or inline base64 with a media type; nothing else. rig
    /// turns a refused text document into its text, and any other refused
    /// part into a placeholder.
    fn encodes(&self, _model: &str, media: Media<'_>) -> bool {
        match media {
            Media::Image(image, _) => image_source(image).is_ok(),
            Media::Audio(_) | Media::Video(_) | Media::Document(_) => false,
        }
    }

    /// A reply ends when the model's stream ends: a tracedeck stream that
    /// ends without a finish part ended cleanly.
    fn states_finish_reason(&self) -> bool {
        false
    }
}

impl Wire for TracedeckWire {
    type Op = Completion;
    type Payload = WireCall;
    type Frame = StreamPart;
    type Decoder<'id> = PartDecoder;
    type Reassembler = PartDocument;

    fn describe(&self) -> Descriptor<'_> {
        Descriptor::new(&self.info.provider)
            .model(self.info.model.as_str())
            .capabilities(Capabilities::default())
            .replay(self)
    }

    fn encode(&self, mut request: CompletionRequest, _mode: Mode) -> Result<WireCall, EncodeError> {
        let parent = take_parent(&mut request);
        Ok(WireCall {
            request: encode_request(request, &self.info.model)?,
            parent,
        })
    }

    fn decoder<'id>(&self) -> Self::Decoder<'id> {
        PartDecoder::default()
    }

    fn reassembler(&self) -> PartDocument {
        PartDocument(ResponseAccumulator::new(self.info.clone()))
    }
}

impl Transport<TracedeckWire> for TracedeckWire {
    fn send(&self, payload: WireCall, exchange: Exchange) -> Opening<StreamPart> {
        let WireCall { request, parent } = payload;
        let model = self.model.clone();
        // The model is called when rig first polls the opening, in the task
        // that polls it: its current span is the call's parent.
        let opening = match exchange.mode {
            Mode::Unary => async move {
                let call = model.generate(request);
                let response = call.await.map_err(provider_error)?;
                let document = serde_json::to_value(&response).unwrap_or(Value::Null);
                let parts = parts_of(response);
                Ok(
                    Opened::new(futures::stream::iter(parts.into_iter().map(Ok)))
                        .with_document(document),
                )
            }
            .boxed(),
            Mode::Streaming => async move {
                let open = model.stream(request);
                let parts = open.await.map_err(provider_error)?;
                Ok(Opened::new(parts.map(|part| part.map_err(provider_error))))
            }
            .boxed(),
        };
        match parent {
            // The turn that made the call, noted by `Attribution` in the
            // turn's own task: the call is made inside its span, whichever
            // task polls it.
            Some(span) => Opening::new(opening.in_span(Some(span))),
            None => Opening::new(opening),
        }
    }
}

/// What [`TracedeckWire`] hands its transport: the request, and the span
/// of the turn that makes it when [`Attribution`] noted one.
#[derive(Debug)]
pub struct WireCall {
    /// The request, as the model receives (and a recorder records) it.
    pub request: ModelRequest,
    /// The span the call is made in; `None`: the polling task's current span.
    pub parent: Option<SpanContext>,
}

/// The `additional_params` key [`Attribution`] carries a turn's span under.
/// The wire takes it out of the request before encoding it, so it is never
/// sent, recorded or matched.
const PARENT_PARAM: &str = "$tracedeck_parent";

/// How many spans [`Attribution`] keeps for requests not yet encoded; past
/// it the oldest is forgotten (a request that was never sent, say, because
/// a later hook stopped the run).
const MAX_PENDING_PARENTS: usize = 4096;

/// The spans [`Attribution`] captured, by token, until the wire encodes the
/// request that carries the token.
static PARENTS: Mutex<BTreeMap<u64, SpanContext>> = Mutex::new(BTreeMap::new());
static NEXT_PARENT: AtomicU64 = AtomicU64::new(0);

fn parents() -> std::sync::MutexGuard<'static, BTreeMap<u64, SpanContext>> {
    // Only whole entries are written under the lock: a poisoned one is still valid.
    PARENTS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A rig-agent hook that carries the span of the turn that makes each model
/// call to the call, for an `Agent` shared by concurrent turns.
///
/// rig-agent serves an agent's model calls from the agent's bus, which
/// whichever of its runs is waiting polls, so without this hook a call of
/// one turn can run (and be recorded) under another turn's span. The hook
/// runs in the turn's own task just before each model call, notes the
/// turn's current span, and the wire makes the call inside it. Add it with
/// `AgentBuilder::add_hook(Attribution)`, or build the agent with
/// [`agent`], which does. It only tags requests to a
/// [`completion_model`]: another model would be sent the tag as a
/// parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attribution;

impl AgentHook for Attribution {
    fn name(&self) -> Option<String> {
        Some("tracedeck::adapters::rig::Attribution".to_owned())
    }

    async fn on_completion_call(
        &self,
        _ctx: &HookContext,
        _event: CompletionCallEvent<'_>,
    ) -> CompletionCallAction {
        let Some(span) = current_span() else {
            return CompletionCallAction::Continue;
        };
        let token = NEXT_PARENT.fetch_add(1, Ordering::Relaxed);
        {
            let mut parents = parents();
            parents.insert(token, span);
            while parents.len() > MAX_PENDING_PARENTS {
                parents.pop_first();
            }
        }
        CompletionCallAction::Patch(
            RequestPatch::default().additional_params(serde_json::json!({ PARENT_PARAM: token })),
        )
    }
}

/// A rig-agent `AgentBuilder` over [`completion_model`]`(model)` with the
/// [`Attribution`] hook: each turn's model calls land under the turn's span
/// even when concurrent turns share the built `Agent`.
pub fn agent(model: Arc<dyn Model>) -> AgentBuilder {
    AgentBuilder::new(completion_model(model)).add_hook(Attribution)
}

/// Takes [`Attribution`]'s tag out of `request`, and the span it names.
fn take_parent(request: &mut CompletionRequest) -> Option<SpanContext> {
    let Some(Value::Object(params)) = &mut request.additional_params else {
        return None;
    };
    let token = params.remove(PARENT_PARAM)?.as_u64();
    if params.is_empty() {
        request.additional_params = None;
    }
    parents().remove(&token?)
}

/// A [`ModelError`] as rig's `ProviderError`, with the same message: an
/// HTTP error keeps its status (so rig's retry rules read it), anything
/// else is a provider failure.
pub fn provider_error(error: ModelError) -> ProviderError {
    match &error {
        ModelError::Http {
            status, message, ..
        } => match http::StatusCode::from_u16(*status) {
            Ok(status) => ProviderError::from_http_response(status, message.clone()),
            Err(_) => ProviderError::Provider(error.to_string()),
        },
        ModelError::Config { .. } => ProviderError::request(error.to_string()),
        _ => ProviderError::Provider(error.to_string()),
    }
}

/// The parts a whole response adds up to, in the order rig shows its
/// blocks: metadata, reasoning, text, refusal, tool calls, the finish.
fn parts_of(response: ModelResponse) -> Vec<StreamPart> {
    let ModelResponse {
        text,
        reasoning,
        refusal,
        tool_calls,
        usage,
        finish_reason,
        model,
    } = response;
    let mut parts = vec![StreamPart::ResponseMetadata {
        id: None,
        model: Some(model.model),
    }];
    if !reasoning.is_empty() {
        parts.push(StreamPart::ReasoningDelta { text: reasoning });
    }
    if !text.is_empty() {
        parts.push(StreamPart::TextDelta { text });
    }
    if !refusal.is_empty() {
        parts.push(StreamPart::RefusalDelta { text: refusal });
    }
    for call in tool_calls {
        parts.push(StreamPart::ToolCallStart {
            id: call.id.clone(),
            name: call.name,
        });
        let arguments = match call.arguments {
            // Arguments that did not parse are kept as their raw text.
            Value::String(raw) => raw,
            other => other.to_string(),
        };
        parts.push(StreamPart::ToolCallDelta {
            id: call.id,
            arguments,
        });
    }
    if let Some(reason) = finish_reason {
        parts.push(StreamPart::Finish { reason, usage });
    } else if let Some(usage) = usage {
        parts.push(StreamPart::Usage { usage });
    }
    parts
}

/// Reads a tracedeck reply into rig's: text and reasoning deltas grow one
/// block each until output of another kind comes, each tool call is its
/// own block, and the reply ends when the model's stream ends (parts after
/// the finish, such as a late usage, are still read).
#[derive(Debug, Default)]
pub struct PartDecoder {
    /// The rig index of each tool call, by the call's id.
    calls: HashMap<String, usize>,
    /// The index of the call the last tool-call part went to.
    last_call: Option<usize>,
    usage: Option<Usage>,
    reason: Option<FinishReason>,
    response_id: Option<String>,
    model: Option<String>,
    refusal: String,
}

impl<'id> Decoder<'id, Completion, StreamPart> for PartDecoder {
    type Event = StreamPart;

    fn classify(&self, part: StreamPart) -> WireEvent<StreamPart> {
        WireEvent::Known(part)
    }

    fn decode(
        &mut self,
        part: StreamPart,
        mut out: Out<'id, Completion>,
    ) -> Result<Flow, ProviderError> {
        match part {
            StreamPart::TextDelta { text } if !text.is_empty() => {
                out.run(Block::Text, &text)?;
            }
            StreamPart::ReasoningDelta { text } if !text.is_empty() => {
                out.run(Block::Reasoning { redacted: false }, &text)?;
            }
            StreamPart::RedactedReasoning { data } => {
                out.end_run()?;
                let index = out.fresh_index();
                let item = serde_json::json!({ "type": "redacted_reasoning", "data": data });
                out.whole(index, Block::Reasoning { redacted: true }, item, "")?;
            }
            StreamPart::RefusalDelta { text } => self.refusal.push_str(&text),
            StreamPart::ToolCallStart { id, name } => {
                out.end_run()?;
                let index = out.fresh_index();
                self.calls.insert(id.clone(), index);
                self.last_call = Some(index);
                out.fragment(
                    Some(index),
                    CallFragment {
                        id: Some(&id),
                        name: Some(&name),
                        arguments: None,
                    },
                )?;
            }
            StreamPart::ToolCallDelta { id, arguments } => {
                // A delta names its call by id; one with no id continues the
                // last call, and one with an id not seen yet opens a call.
                let known = self.calls.get(&id).copied();
                let index = match (known, self.last_call) {
                    (Some(index), _) => index,
                    (None, Some(last)) if id.is_empty() => last,
                    (None, _) => {
                        out.end_run()?;
                        let index = out.fresh_index();
                        self.calls.insert(id.clone(), index);
                        index
                    }
                };
                self.last_call = Some(index);
                out.fragment(
                    Some(index),
                    CallFragment {
                        id: Some(&id).filter(|id| !id.is_empty()).map(String::as_str),
                        name: None,
                        arguments: Some(&arguments),
                    },
                )?;
            }
            StreamPart::ResponseMetadata { id, model } => {
                self.response_id = id.or(self.response_id.take());
                self.model = model.or(self.model.take());
            }
            StreamPart::Usage { usage } => self.usage = Some(usage),
            StreamPart::Finish { reason, usage } => {
                self.reason = Some(reason);
                if usage.is_some() {
                    self.usage = usage;
                }
            }
            // Framing, and empty deltas: nothing to show.
            _ => {}
        }
        Ok(Flow::More)
    }

    fn eof(&mut self, mut out: Out<'id, Completion>) -> Result<Flow, ProviderError> {
        out.end_run()?;
        out.finish_open()?;
        let finish = Finish {
            usage: self.usage.map(rig_usage).unwrap_or_default(),
            reason: self.reason.take().map(rig_finish_reason),
            response_id: self.response_id.take(),
            model: self.model.take(),
            error: (!self.refusal.is_empty()).then(|| std::mem::take(&mut self.refusal)),
        };
        Ok(out.end(finish))
    }
}

/// A reply's `raw` when it was streamed: the tracedeck [`ModelResponse`]
/// its parts add up to, as JSON (a unary reply's `raw` is the model's
/// response itself).
#[derive(Debug, Clone)]
pub struct PartDocument(ResponseAccumulator);

impl Default for PartDocument {
    fn default() -> Self {
        Self(ResponseAccumulator::new(ModelInfo::new(API, "")))
    }
}

impl Reassemble<StreamPart> for PartDocument {
    fn absorb(&mut self, part: &StreamPart) {
        self.0.push(part);
    }

    fn finish(self) -> Value {
        serde_json::to_value(self.0.finish()).unwrap_or(Value::Null)
    }
}

impl Serves<Completion> for PartDocument {}

/// tracedeck's token counts as rig's.
pub fn rig_usage(usage: Usage) -> rig_core::completion::Usage {
    rig_core::completion::Usage::new()
        .input_tokens(usage.input_tokens)
        .output_tokens(usage.output_tokens)
        .total_tokens(usage.total_tokens())
        .cached_input_tokens(usage.cached_input_tokens)
        .cache_creation_input_tokens(usage.cache_creation_input_tokens)
        .reasoning_tokens(usage.reasoning_tokens)
}

/// tracedeck's finish reason as rig's: an error or unknown finish keeps the
/// provider's own word.
fn rig_finish_reason(reason: FinishReason) -> rig_core::completion::FinishReason {
    use rig_core::completion::FinishReason as Rig;
    match reason.kind {
        FinishKind::Stop => Rig::Stop,
        FinishKind::Length => Rig::Length,
        FinishKind::ToolCalls => Rig::ToolCalls,
        FinishKind::ContentFilter => Rig::ContentFilter,
        _ => Rig::Other(reason.raw),
    }
}

/// rig's request as a [`ModelRequest`] for `default_model` (the model when
/// the request names none). See the [module docs](self) for the mapping; a
/// request the model boundary cannot hold is an `EncodeError` naming what.
pub fn encode_request(
    request: CompletionRequest,
    default_model: &str,
) -> Result<ModelRequest, EncodeError> {
    let schema_name = request.output_schema_name();
    let mut out = ModelRequest::new(
        request
            .model
            .clone()
            .filter(|model| !model.is_empty())
            .unwrap_or_else(|| default_model.to_owned()),
    );
    let mut history = request.chat_history.into_iter().peekable();
    if let Some(rig_core::message::Message::System { content }) = history.peek() {
        out.system = Some(content.clone());
        history.next();
    }
    for message in history {
        match message {
            rig_core::message::Message::System { content } => {
                out.messages.push(Message::text(Role::System, content));
            }
            rig_core::message::Message::User { content } => user_messages(content, &mut out)?,
            rig_core::message::Message::Assistant(turn) => {
                let content = assistant_content(turn.content)?;
                if !content.is_empty() {
                    out.messages.push(Message {
                        role: Role::Assistant,
                        content,
                    });
                }
            }
        }
    }
    // Documents the request still carries (rig joins them into the history
    // before it encodes, so only a request encoded directly has any).
    if !request.documents.is_empty() {
        let text: String = request.documents.iter().map(ToString::to_string).collect();
        out.messages.insert(0, Message::user(text));
    }
    out.tools = request
        .tools
        .into_iter()
        .map(|tool| ToolDefinition {
            name: tool.name.to_string(),
            description: Some(tool.description).filter(|d| !d.is_empty()),
            parameters: tool.parameters,
        })
        .collect();
    out.settings.temperature = request.temperature;
    out.settings.max_tokens = request
        .max_tokens
        .map(|max| {
            u32::try_from(max).map_err(|_| {
                EncodeError::request(format!("max_tokens {max} does not fit in 32 bits"))
            })
        })
        .transpose()?;
    out.settings.tool_choice = request.tool_choice.map(tool_choice).transpose()?;
    if let Some(schema) = &request.output_schema {
        out.settings.response_format = Some(ResponseFormat::JsonSchema {
            name: schema_name.unwrap_or_else(|| "response_schema".to_owned()),
            schema: schema.as_value().clone(),
            strict: true,
        });
    }
    let options = &request.options;
    out.settings.top_p = options.top_p;
    out.settings.seed = options.seed;
    out.settings.stop = options.stop.clone();
    match request.additional_params {
        None | Some(Value::Null) => {}
        Some(Value::Object(params)) => out.extra.extend(params),
        Some(other) => {
            return Err(EncodeError::request(format!(
                "additional_params must be a JSON object to merge into the request, not {other}"
            )));
        }
    }
    Ok(out)
}

fn tool_choice(choice: RigToolChoice) -> Result<ToolChoice, EncodeError> {
    Ok(match choice {
        RigToolChoice::Auto => ToolChoice::Auto,
        RigToolChoice::None => ToolChoice::None,
        RigToolChoice::Required => ToolChoice::Required,
        RigToolChoice::Specific { function_names } => match function_names.as_slice() {
            [name] => ToolChoice::Tool {
                name: name.to_string(),
            },
            names => {
                return Err(EncodeError::request(format!(
                    "tracedeck's tool choice names exactly one tool, not {}",
                    names.len()
                )));
            }
        },
    })
}

/// One rig user message as tracedeck messages: its tool results as `tool`
/// messages and the rest as `user` messages, in order.
fn user_messages(content: Vec<UserContent>, out: &mut ModelRequest) -> Result<(), EncodeError> {
    let mut push = |role: Role, part: ContentPart| match out.messages.last_mut() {
        Some(last) if last.role == role && role == Role::User => last.content.push(part),
        _ => out.messages.push(Message {
            role,
            content: vec![part],
        }),
    };
    for part in content {
        match part {
            UserContent::Text(text) => push(Role::User, ContentPart::text(text.text)),
            UserContent::Image(image) => push(
                Role::User,
                ContentPart::Image {
                    source: image_source(&image)?,
                },
            ),
            UserContent::ToolResult(result) => {
                let content = result
                    .content
                    .iter()
                    .map(|part| match part {
                        ToolResultContent::Text(text) => Ok(text.text.clone()),
                        ToolResultContent::Json { value } => Ok(value.to_string()),
                        ToolResultContent::Image(_) => Err(EncodeError::request(
                            "a tool result image cannot cross tracedeck's model boundary",
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .join("\n");
                push(
                    Role::Tool,
                    ContentPart::ToolResult {
                        call_id: result.call.wire().into_owned(),
                        content,
                        is_error: result.is_error,
                    },
                );
            }
            UserContent::Document(document) => match document.data {
                DocumentSourceKind::String(text) => push(Role::User, ContentPart::text(text)),
                _ => {
                    return Err(EncodeError::request(
                        "only text documents cross tracedeck's model boundary",
                    ));
                }
            },
            UserContent::Audio(_) => {
                return Err(EncodeError::request(
                    "audio cannot cross tracedeck's model boundary",
                ));
            }
            UserContent::Video(_) => {
                return Err(EncodeError::request(
                    "video cannot cross tracedeck's model boundary",
                ));
            }
        }
    }
    Ok(())
}

fn assistant_content(content: Vec<AssistantContent>) -> Result<Vec<ContentPart>, EncodeError> {
    let mut parts = Vec::with_capacity(content.len());
    for block in content {
        match block {
            AssistantContent::Text(text) => parts.push(ContentPart::text(text.text)),
            AssistantContent::ToolCall(call) => parts.push(ContentPart::ToolCall {
                id: call.id.wire().into_owned(),
                name: call.function.name.to_string(),
                arguments: match call.function.invalid_arguments {
                    // What the model sent, as it sent it.
                    Some(raw) => Value::String(raw),
                    None => Value::Object(call.function.arguments),
                },
            }),
            // No place at the model boundary: not sent, as over Chat Completions.
            AssistantContent::Reasoning(_) | AssistantContent::Opaque(_) => {}
            AssistantContent::Image(_) => {
                return Err(EncodeError::request(
                    "an assistant image cannot cross tracedeck's model boundary",
                ));
            }
            _ => {
                return Err(EncodeError::request(
                    "an assistant block of a kind tracedeck does not know",
                ));
            }
        }
    }
    Ok(parts)
}

fn image_source(image: &Image) -> Result<ImageSource, EncodeError> {
    match &image.data {
        DocumentSourceKind::Url(url) => Ok(ImageSource::Url { url: url.clone() }),
        DocumentSourceKind::Base64(data) => match &image.media_type {
            Some(media_type) => Ok(ImageSource::Base64 {
                media_type: media_type.to_mime_type().to_owned(),
                data: data.clone(),
            }),
            None => Err(EncodeError::request(
                "an inline image needs a media type to cross tracedeck's model boundary",
            )),
        },
        _ => Err(EncodeError::request(
            "only images by URL or inline base64 cross tracedeck's model boundary",
        )),
    }
}
