//! TTFT over real HTTP: a loopback server sends the response headers after
//! 300 ms, framing events at once, and the first content 200 ms later.
//! Recorded through `Recorder`, each adapter's span shows `opened` ≥ 300 ms,
//! `first_part` < `ttft`, and `ttft` ≥ 500 ms.
//!
//! This runs on the real clock over real sockets, so only lower bounds and
//! order are asserted: a loaded machine may deliver late, never early.

use std::time::Duration;

use futures::StreamExt;
use tracedeck::providers::{Anthropic, OpenAi, OpenAiResponses};
use tracedeck::span::SpanStatus;
use tracedeck::testing::{Reply, SseServer};
use tracedeck::{Collector, Model, ModelRequest, Recorder, StreamPart, with_span};

const HEADERS_AFTER: Duration = Duration::from_millis(300);
const CONTENT_AFTER: Duration = Duration::from_millis(200);

/// (framing sent with the headers, content sent 200 ms later, the rest).
fn script(protocol: &str) -> (&'static str, &'static str, &'static str) {
    match protocol {
        "openai" => (
            concat!(
                "data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
                ": keep-alive\n\n",
            ),
            "data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\n\n",
            concat!(
                "data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
                "data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1}}\n\n",
                "data: [DONE]\n\n",
            ),
        ),
        "responses" => (
            concat!(
                "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"model\":\"gpt-5-mini\"}}\n\n",
                "event: response.in_progress\ndata: {\"type\":\"response.in_progress\",\"response\":{\"id\":\"resp_1\"}}\n\n",
                "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[]}}\n\n",
                "event: response.content_part.added\ndata: {\"type\":\"response.content_part.added\",\"output_index\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\"\"}}\n\n",
            ),
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hello\"}\n\n",
            concat!(
                "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"id\":\"msg_1\",\"type\":\"message\"}}\n\n",
                "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
            ),
        ),
        _ => (
            concat!(
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-haiku-4-5\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
                "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
                "event: ping\ndata: {\"type\":\"ping\"}\n\n",
            ),
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
            concat!(
                "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
                "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":1}}\n\n",
                "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
            ),
        ),
    }
}

async fn record_one(protocol: &'static str) {
    let (framing, content, rest) = script(protocol);
    let reply = Reply::sse()
        .headers_after(HEADERS_AFTER)
        .chunk(framing)
        .chunk_after(CONTENT_AFTER, content)
        .chunk(rest);
    let server = SseServer::serve(reply).await.unwrap();
    let model: Box<dyn Model> = match protocol {
        "openai" => Box::new(OpenAi::new("m").api_key("sk-test").base_url(server.url())),
        "responses" => Box::new(
            OpenAiResponses::new("m")
                .api_key("sk-test")
                .base_url(server.url()),
        ),
        _ => Box::new(
            Anthropic::new("m")
                .api_key("sk-test")
                .base_url(server.url()),
        ),
    };
    let traces = Collector::new();
    let model = Recorder::new(model, traces.clone());
    let text = with_span("ttft", protocol, async {
        let mut stream = model
            .stream(ModelRequest::new("m").user("hi"))
            .await
            .unwrap();
        let mut text = String::new();
        while let Some(part) = stream.next().await {
            if let StreamPart::TextDelta { text: t } = part.unwrap() {
                text.push_str(&t);
            }
        }
        text
    })
    .await;
    assert_eq!(text, "Hello", "{protocol}");

    let trace = &traces.traces()[0];
    let call = trace.llm_spans().next().unwrap();
    let timing = call.timing;
    let opened = timing.opened_us.unwrap();
    let first_part = timing.first_part_us.unwrap();
    let ttft = timing.ttft_us.unwrap();
    let label = format!("{protocol}: opened {opened}µs, first part {first_part}µs, ttft {ttft}µs");
    assert_eq!(call.status, SpanStatus::Ok, "{label}");
    assert!(opened >= 300_000, "{label}");
    assert!(first_part >= opened, "{label}");
    assert!(first_part < ttft, "{label}");
    assert!(ttft >= 500_000, "{label}");
    // TTFT is stamped on the content part, and only framing came before it.
    let at = call.parts.iter().position(|p| p.offset_us == ttft).unwrap();
    assert_eq!(call.parts[at].part, StreamPart::text("Hello"), "{label}");
    assert!(
        call.parts[..at].iter().all(|p| !p.part.is_content()),
        "{label}"
    );
    assert!(at >= 2, "{label}: framing parts arrived first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttft_over_real_http_lands_on_the_first_content_event_for_every_adapter() {
    // Run concurrently: each waits half a second of real time.
    futures::future::join_all(
        ["openai", "responses", "anthropic"].map(|p| tokio::spawn(record_one(p))),
    )
    .await
    .into_iter()
    .for_each(|joined| joined.unwrap());
}
