//! `TraceStats`: nearest-rank percentiles of TTFT and duration, outcomes and
//! token totals per model, over a set of recorded traces.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tracedeck::model::{FinishReason, ModelInfo, Usage};
use tracedeck::span::Percentiles;
use tracedeck::span::TraceStats;
use tracedeck::{
    Collector, Model, ModelError, ModelRequest, Recorder, Script, ScriptedModel, Sink, StreamPart,
    with_span,
};

/// Call `i` (1-based, from the prompt) takes `10·i` ms to its first token and
/// `10·i + 20` ms in all, and reports `i` input and `2·i` output tokens.
fn numbered(req: &ModelRequest) -> Script {
    let i: u64 = req.messages[0].text_content().parse().unwrap();
    Script::new()
        .open_after(Duration::from_millis(5 * i))
        .part(StreamPart::StreamStart)
        .part_after(Duration::from_millis(5 * i), StreamPart::text("x"))
        .part_after(
            Duration::from_millis(20),
            StreamPart::Finish {
                reason: FinishReason::stop(),
                usage: Some(Usage::new(i, 2 * i)),
            },
        )
}

async fn consume(model: &dyn Model, prompt: String) -> Result<(), ModelError> {
    let mut parts = model.stream(ModelRequest::new("m").user(prompt)).await?;
    while let Some(part) = parts.next().await {
        part?;
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn percentiles_tokens_and_outcomes_per_model() {
    let traces = Collector::new();
    let sink: Arc<dyn Sink> = Arc::new(traces.clone());
    let big = Recorder::with_shared_sink(
        ScriptedModel::from_fn(numbered).with_info(ModelInfo::new("openai", "big")),
        Arc::clone(&sink),
    );
    let failing = Recorder::with_shared_sink(
        ScriptedModel::new(
            Script::new()
                .open_after(Duration::from_millis(7))
                .fail_to_open(ModelError::other("down")),
        )
        .with_info(ModelInfo::new("anthropic", "small")),
        sink,
    );
    for i in 1..=20u64 {
        with_span("turn", i, consume(&big, i.to_string()))
            .await
            .unwrap();
    }
    // One trace with a failed call to the second model, and a stream dropped unread.
    with_span("turn", 0, async {
        let _ = consume(&failing, "1".into()).await;
        drop(big.stream(ModelRequest::new("m").user("3")).await.unwrap());
    })
    .await;

    let all = traces.traces();
    let stats = TraceStats::of(&all);
    assert_eq!(stats.traces, 21);
    assert_eq!(stats.calls, 22);
    let names: Vec<String> = stats.models.iter().map(|m| m.model.to_string()).collect();
    assert_eq!(names, ["anthropic/small", "openai/big"]);

    let small = &stats.models[0];
    assert_eq!(
        (small.calls, small.streamed, small.errors, small.cancelled),
        (1, 1, 1, 0)
    );
    assert_eq!(small.ttft, None);
    assert_eq!(
        small.duration,
        Percentiles {
            count: 1,
            p50_us: 7_000,
            p95_us: 7_000,
            max_us: 7_000
        }
    );
    assert_eq!(small.tokens.calls_with_usage, 0);

    let big = &stats.models[1];
    assert_eq!(
        (big.calls, big.streamed, big.errors, big.cancelled),
        (21, 21, 0, 1)
    );
    // TTFT 10, 20, … 200 ms: p50 is the 10th value, p95 the 19th. The dropped stream had none.
    assert_eq!(
        big.ttft,
        Some(Percentiles {
            count: 20,
            p50_us: 100_000,
            p95_us: 190_000,
            max_us: 200_000
        })
    );
    // Durations 30 … 220 ms, plus the dropped stream (opened at 15 ms, dropped at once).
    assert_eq!(
        big.duration,
        Percentiles {
            count: 21,
            p50_us: 120_000,
            p95_us: 210_000,
            max_us: 220_000
        }
    );
    assert_eq!(big.tokens.calls_with_usage, 20);
    assert_eq!((big.tokens.input, big.tokens.output), (210, 420));
    assert_eq!(big.tokens.total(), 630);

    // Trace durations: 30 … 220 ms and 7 + 15 = 22 ms.
    assert_eq!(
        stats.duration,
        Some(Percentiles {
            count: 21,
            p50_us: 120_000,
            p95_us: 210_000,
            max_us: 220_000
        })
    );
}

#[test]
fn no_traces_no_numbers() {
    let stats = TraceStats::of(&[]);
    assert_eq!((stats.traces, stats.calls, stats.duration), (0, 0, None));
    assert!(stats.models.is_empty());
}
