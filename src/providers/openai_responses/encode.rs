//! Parts back to the Responses API: `response.created`, output items and
//! their deltas, then `response.completed` / `response.incomplete` /
//! `response.failed`; and the non-streamed `response` body.

use serde_json::{Value, json};

use super::mapping::responses_finish;
use crate::model::{FinishKind, FinishReason, ModelResponse, StreamPart, Usage};
use crate::providers::codec::SseWriter;
use crate::providers::codec::{PartEncoder, StreamEnd, StreamError, next_content};
use crate::providers::openai_chat::arguments_text;

/// A [`Usage`] as a Responses `usage` object. A figure the usage lacks has
/// no details object, unless `complete`: then it is `0`, as the API always
/// sends it and as SDKs that require the details (async-openai) read it.
fn usage_json(usage: &Usage, complete: bool) -> Value {
    let mut object = json!({
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens(),
    });
    if let Some(cached) = usage.cached_input_tokens.or(complete.then_some(0)) {
        object["input_tokens_details"] = json!({"cached_tokens": cached});
    }
    if let Some(reasoning) = usage.reasoning_tokens.or(complete.then_some(0)) {
        object["output_tokens_details"] = json!({"reasoning_tokens": reasoning});
    }
    object
}

/// How a response with `reason` ends: its `status` and, for an incomplete
/// one, the reason in `incomplete_details`. Stop and tool calls are
/// `completed` (the decoder tells them apart by the calls made); the
/// others are `incomplete` with the raw string as the reason (`failed`
/// only comes with an error).
fn end_status(reason: &FinishReason) -> (&'static str, Option<String>) {
    match reason.kind {
        FinishKind::Stop | FinishKind::ToolCalls => ("completed", None),
        FinishKind::Length => (
            "incomplete",
            Some(raw_or(reason, FinishKind::Length, "max_output_tokens")),
        ),
        FinishKind::ContentFilter => (
            "incomplete",
            Some(raw_or(reason, FinishKind::ContentFilter, "content_filter")),
        ),
        _ if reason.raw.is_empty() || reason.raw == "incomplete" => ("incomplete", None),
        _ => ("incomplete", Some(reason.raw.clone())),
    }
}

/// The raw reason when the decoder reads it as `kind`, else `word`.
fn raw_or(reason: &FinishReason, kind: FinishKind, word: &str) -> String {
    let probe = json!({"status": "incomplete", "incomplete_details": {"reason": reason.raw}});
    if responses_finish(&probe, "incomplete", false).kind == kind {
        reason.raw.clone()
    } else {
        word.to_owned()
    }
}

/// What an output item is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ItemKind {
    Message,
    Reasoning,
    /// A function call, with its call id and name.
    Call(String, String),
}

/// An output item the stream has opened.
#[derive(Debug, Clone)]
struct Item {
    index: u32,
    kind: ItemKind,
    /// What its deltas added: text (message), summary (reasoning) or arguments (call).
    text: String,
    refusal: String,
    /// The content parts opened so far, in order (`output_text`, `refusal`).
    parts: Vec<&'static str>,
    synthesized: bool,
}

impl Item {
    fn id(&self) -> String {
        match &self.kind {
            ItemKind::Call(call_id, _) => call_id.clone(),
            ItemKind::Message => format!("msg_{}", self.index),
            ItemKind::Reasoning => format!("rs_{}", self.index),
        }
    }

    /// The item as `output_item.added` (empty) or `.done` (whole) shows it.
    fn json(&self, whole: bool) -> Value {
        let id = self.id();
        let status = if whole { "completed" } else { "in_progress" };
        match &self.kind {
            ItemKind::Message => {
                let content: Vec<Value> = if whole {
                    self.parts
                        .iter()
                        .map(|part| match *part {
                            "refusal" => json!({"type": "refusal", "refusal": self.refusal}),
                            _ => {
                                json!({"type": "output_text", "text": self.text, "annotations": []})
                            }
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                json!({"id": id, "type": "message", "status": status, "role": "assistant", "content": content})
            }
            ItemKind::Reasoning => {
                let summary = if whole && !self.text.is_empty() {
                    json!([{"type": "summary_text", "text": self.text}])
                } else {
                    json!([])
                };
                json!({"id": id, "type": "reasoning", "summary": summary})
            }
            ItemKind::Call(call_id, name) => json!({
                "id": id, "type": "function_call", "status": status, "call_id": call_id,
                "name": name, "arguments": if whole { self.text.as_str() } else { "" },
            }),
        }
    }
}

/// Writes a Responses stream, part by part.
#[derive(Debug)]
pub(crate) struct ResponsesEncoder {
    created: bool,
    id: String,
    model: String,
    sequence: u64,
    items: Vec<Item>,
    /// The item content goes into, by position in `items`.
    current: Option<usize>,
    next_index: u32,
    /// Usage parts wait for the final event, the only one that reports usage.
    usage: Option<Usage>,
    /// The recording ends in a provider error: a `failed` finish becomes
    /// `response.failed` with it.
    fails: bool,
    error: Option<(String, String)>,
    done: bool,
    /// Usage details are always sent (see [`usage_json`]).
    complete_usage: bool,
}

impl ResponsesEncoder {
    /// An encoder for a recording that ends in `error`, if any.
    pub(crate) fn new(error: Option<&StreamError>) -> Self {
        let mut encoder = Self {
            created: false,
            id: String::new(),
            model: String::new(),
            sequence: 0,
            items: Vec::new(),
            current: None,
            next_index: 0,
            usage: None,
            fails: false,
            error: None,
            done: false,
            complete_usage: false,
        };
        if let Some(error) = error {
            encoder.will_fail(error);
        }
        encoder
    }

    /// The stream being encoded turns out to end in `error` (an encoder of
    /// a live stream learns it once the parts before it are sent): a
    /// `failed` finish not yet encoded becomes `response.failed` with it.
    pub(crate) fn will_fail(&mut self, error: &StreamError) {
        self.fails = true;
        if let StreamError::Event { kind, message } = error {
            self.error = Some((kind.clone(), message.clone()));
        }
    }

    /// Sends every usage figure, a missing one as `0`, for clients whose
    /// types require them (see [`usage_json`]).
    #[cfg(feature = "async-openai")]
    pub(crate) fn with_complete_usage(mut self) -> Self {
        self.complete_usage = true;
        self
    }

    fn event(&mut self, kind: &str, mut data: Value, out: &mut SseWriter) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.sequence);
        self.sequence = self.sequence.saturating_add(1);
        out.event(Some(kind), &data);
    }

    fn response(&self, status: &str) -> Value {
        json!({"id": self.id, "object": "response", "created_at": 0, "model": self.model,
            "status": status, "output": [], "error": null, "incomplete_details": null})
    }

    fn create(&mut self, out: &mut SseWriter) {
        if !self.created {
            self.created = true;
            let response = self.response("in_progress");
            self.event("response.created", json!({"response": response}), out);
        }
    }

    fn add_item(
        &mut self,
        index: u32,
        kind: ItemKind,
        synthesized: bool,
        out: &mut SseWriter,
    ) -> usize {
        self.next_index = self.next_index.max(index.saturating_add(1));
        let item = Item {
            index,
            kind,
            text: String::new(),
            refusal: String::new(),
            parts: Vec::new(),
            synthesized,
        };
        let json = item.json(false);
        self.event(
            "response.output_item.added",
            json!({"output_index": index, "item": json}),
            out,
        );
        self.items.push(item);
        self.current = Some(self.items.len() - 1);
        self.items.len() - 1
    }

    fn item_done(&mut self, at: usize, out: &mut SseWriter) {
        let item = &self.items[at];
        let data = json!({"output_index": item.index, "item": item.json(true)});
        self.event("response.output_item.done", data, out);
        if self.current == Some(at) {
            self.current = None;
        }
    }

    fn close_synthesized(&mut self, out: &mut SseWriter) {
        if let Some(at) = self.current.filter(|&at| self.items[at].synthesized) {
            self.item_done(at, out);
        }
    }

    /// The current item if it is a `want`, else a new one the encoder opens.
    fn item_for(&mut self, want: &ItemKind, out: &mut SseWriter) -> usize {
        if let Some(at) = self.current {
            let fits = match (&self.items[at].kind, want) {
                (ItemKind::Call(a, _), ItemKind::Call(b, _)) => a == b,
                (have, want) => have == want,
            };
            if fits {
                return at;
            }
        }
        self.close_synthesized(out);
        self.add_item(self.next_index, want.clone(), true, out)
    }

    fn content_delta(&mut self, kind: &str, want: ItemKind, text: &str, out: &mut SseWriter) {
        let at = self.item_for(&want, out);
        let refusal = kind == "response.refusal.delta";
        let item = &mut self.items[at];
        let (item_id, output_index) = (item.id(), item.index);
        // The content part (or summary part) a delta goes into opens first,
        // as the API sends it: clients that build the response need it.
        let part = if refusal { "refusal" } else { "output_text" };
        let position = item.parts.iter().position(|p| *p == part);
        let (index, added) = match position {
            Some(index) => (index, None),
            None => {
                item.parts.push(part);
                let index = item.parts.len() - 1;
                let added = if want == ItemKind::Reasoning {
                    (
                        "response.reasoning_summary_part.added",
                        "summary_index",
                        json!({"type": "summary_text", "text": ""}),
                    )
                } else if refusal {
                    (
                        "response.content_part.added",
                        "content_index",
                        json!({"type": "refusal", "refusal": ""}),
                    )
                } else {
                    (
                        "response.content_part.added",
                        "content_index",
                        json!({"type": "output_text", "text": "", "annotations": []}),
                    )
                };
                (index, Some(added))
            }
        };
        if refusal {
            item.refusal.push_str(text);
        } else {
            item.text.push_str(text);
        }
        let index_key = if want == ItemKind::Reasoning {
            "summary_index"
        } else {
            "content_index"
        };
        if let Some((event, key, part)) = added {
            let data =
                json!({"item_id": item_id, "output_index": output_index, key: index, "part": part});
            self.event(event, data, out);
        }
        let data = json!({"item_id": item_id, "output_index": output_index, index_key: index, "delta": text});
        self.event(kind, data, out);
    }

    fn final_event(
        &mut self,
        reason: Option<&FinishReason>,
        usage: Option<Usage>,
        out: &mut SseWriter,
    ) {
        self.close_synthesized(out);
        let failed =
            self.fails && self.error.is_some() && reason.is_some_and(|r| r.raw == "failed");
        let (kind, status, details) = if failed {
            ("response.failed", "failed", None)
        } else {
            let (status, details) = reason.map_or(("completed", None), end_status);
            let kind = if status == "completed" {
                "response.completed"
            } else {
                "response.incomplete"
            };
            (kind, status, details)
        };
        let mut response = self.response(status);
        response["output"] = self.items.iter().map(|item| item.json(true)).collect();
        if let Some(usage) = usage.or(self.usage) {
            response["usage"] = usage_json(&usage, self.complete_usage);
        }
        if let Some(reason) = details {
            response["incomplete_details"] = json!({"reason": reason});
        }
        if failed {
            if let Some((kind, message)) = self.error.take() {
                response["error"] = json!({"code": kind, "message": message});
            }
        }
        self.done = true;
        self.event(kind, json!({"response": response}), out);
    }
}

impl PartEncoder for ResponsesEncoder {
    fn part(&mut self, parts: &[StreamPart], at: usize, out: &mut SseWriter) -> usize {
        if self.done {
            return 1;
        }
        let part = &parts[at];
        match part {
            StreamPart::ResponseMetadata { id, model } => {
                if !self.created {
                    self.id = id.clone().unwrap_or_default();
                    self.model = model.clone().unwrap_or_default();
                    self.create(out);
                }
                return 1;
            }
            StreamPart::KeepAlive => {
                out.comment("keep-alive");
                return 1;
            }
            StreamPart::StreamStart | StreamPart::RoleDelta { .. } => return 1,
            StreamPart::Usage { usage } => {
                self.usage = Some(*usage);
                return 1;
            }
            _ => self.create(out),
        }
        match part {
            StreamPart::BlockStart { index } => {
                self.close_synthesized(out);
                let (kind, used) = match parts.get(at + 1) {
                    Some(StreamPart::ToolCallStart { id, name }) => {
                        (ItemKind::Call(id.clone(), name.clone()), 2)
                    }
                    _ if matches!(
                        next_content(&parts[at + 1..]),
                        Some(StreamPart::ReasoningDelta { .. })
                    ) =>
                    {
                        (ItemKind::Reasoning, 1)
                    }
                    _ => (ItemKind::Message, 1),
                };
                self.add_item(*index, kind, false, out);
                return used;
            }
            StreamPart::BlockStop { index } => {
                match self.items.iter().rposition(|i| i.index == *index) {
                    Some(at) => self.item_done(at, out),
                    None => {
                        let item = Item {
                            index: *index,
                            kind: ItemKind::Message,
                            text: String::new(),
                            refusal: String::new(),
                            parts: Vec::new(),
                            synthesized: false,
                        };
                        let data = json!({"output_index": index, "item": item.json(true)});
                        self.event("response.output_item.done", data, out);
                    }
                }
            }
            StreamPart::TextDelta { text } if !text.is_empty() => {
                self.content_delta("response.output_text.delta", ItemKind::Message, text, out)
            }
            StreamPart::RefusalDelta { text } if !text.is_empty() => {
                self.content_delta("response.refusal.delta", ItemKind::Message, text, out)
            }
            StreamPart::ReasoningDelta { text } if !text.is_empty() => self.content_delta(
                "response.reasoning_summary_text.delta",
                ItemKind::Reasoning,
                text,
                out,
            ),
            StreamPart::ToolCallStart { id, name } => {
                self.close_synthesized(out);
                self.add_item(
                    self.next_index,
                    ItemKind::Call(id.clone(), name.clone()),
                    true,
                    out,
                );
            }
            StreamPart::ToolCallDelta { id, arguments } if !arguments.is_empty() => {
                let known = match self.current {
                    Some(at) if matches!(&self.items[at].kind, ItemKind::Call(c, _) if c == id) => {
                        Some(at)
                    }
                    _ => self
                        .items
                        .iter()
                        .rposition(|i| matches!(&i.kind, ItemKind::Call(c, _) if c == id)),
                };
                let at = match known {
                    Some(at) => at,
                    None => self.item_for(&ItemKind::Call(id.clone(), String::new()), out),
                };
                let item = &mut self.items[at];
                item.text.push_str(arguments);
                let data =
                    json!({"item_id": item.id(), "output_index": item.index, "delta": arguments});
                self.event("response.function_call_arguments.delta", data, out);
            }
            StreamPart::Finish { reason, usage } => {
                // Responses has no finish before an error but `response.failed`.
                let failed = self.error.is_some() && reason.raw == "failed";
                if !self.fails || failed {
                    self.final_event(Some(reason), *usage, out);
                }
            }
            // Empty deltas carry nothing; Responses does not stream redacted reasoning.
            _ => {}
        }
        1
    }

    fn end(&mut self, error: Option<&StreamError>, out: &mut SseWriter) -> StreamEnd {
        if self.done && self.error.is_none() {
            return StreamEnd::Close;
        }
        match error {
            None => {
                self.create(out);
                self.final_event(None, None, out);
                StreamEnd::Close
            }
            Some(StreamError::Event { kind, message }) => {
                if !self.done {
                    self.event(
                        "error",
                        json!({"code": kind, "message": message, "param": null}),
                        out,
                    );
                }
                StreamEnd::Close
            }
            Some(StreamError::Undecodable) => {
                out.raw_data("<undecodable event>");
                StreamEnd::Close
            }
            Some(StreamError::Truncate) => StreamEnd::Close,
            Some(StreamError::Break) => StreamEnd::Break,
        }
    }
}

/// A [`ModelResponse`] as a non-streamed `response` body: a reasoning item
/// (its summary), a message item (text and refusal) and a function call
/// item per tool call.
pub(crate) fn responses_response_body(response: &ModelResponse) -> Value {
    response_body(response, false)
}

/// [`responses_response_body`] with every usage figure sent, a missing one
/// as `0` (see [`usage_json`]): what SDKs whose types require them read.
#[cfg(feature = "async-openai")]
pub(crate) fn responses_response_body_complete(response: &ModelResponse) -> Value {
    response_body(response, true)
}

fn response_body(response: &ModelResponse, complete_usage: bool) -> Value {
    let mut output = Vec::new();
    if !response.reasoning.is_empty() {
        output.push(json!({"id": "rs_0", "type": "reasoning",
            "summary": [{"type": "summary_text", "text": response.reasoning}]}));
    }
    let mut content = Vec::new();
    if !response.text.is_empty() {
        content.push(json!({"type": "output_text", "text": response.text, "annotations": []}));
    }
    if !response.refusal.is_empty() {
        content.push(json!({"type": "refusal", "refusal": response.refusal}));
    }
    if !content.is_empty() {
        output.push(
            json!({"id": "msg_0", "type": "message", "status": "completed",
            "role": "assistant", "content": content}),
        );
    }
    for call in &response.tool_calls {
        output.push(
            json!({"id": call.id, "type": "function_call", "status": "completed",
            "call_id": call.id, "name": call.name, "arguments": arguments_text(&call.arguments)}),
        );
    }
    let (status, details) = response
        .finish_reason
        .as_ref()
        .map_or(("incomplete", None), end_status);
    let mut body = json!({
        "id": "", "object": "response", "created_at": 0, "model": response.model.model,
        "status": status, "output": output, "error": null,
        "incomplete_details": details.map(|reason| json!({"reason": reason})),
    });
    if let Some(usage) = &response.usage {
        body["usage"] = usage_json(usage, complete_usage);
    }
    body
}
