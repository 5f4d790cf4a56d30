//! Contract 3, pass-through: the caller gets every inner part unchanged, in
//! order, each at the virtual instant the inner model produced it, exactly
//! as if no recorder were there.

use std::time::Duration;

use futures::future::BoxFuture;
use futures::{StreamExt, stream};
use proptest::prelude::*;
use tokio::time::{Instant, sleep};
use tracedeck::model::{ModelInfo, PartStream};
use tracedeck::span::SpanStatus;
use tracedeck::testing::{run_paused, strategies};
use tracedeck::{
    Collector, Model, ModelError, ModelRequest, ModelResponse, Recorder, Script, ScriptedModel,
    StreamPart,
};

type Item = Result<StreamPart, ModelError>;

/// What a consumer saw of one stream call: when (µs from the call) and what.
#[derive(Debug, Clone, PartialEq)]
struct Timeline {
    /// When the open resolved, and whether it failed.
    opened: (u64, Result<(), ModelError>),
    /// Every item, with its arrival offset.
    items: Vec<(u64, Item)>,
}

fn micros_since(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_micros()).expect("fits")
}

fn request() -> ModelRequest {
    ModelRequest::new("m").user("hi")
}

/// Streams one call on `model`, pausing `pace[i]` after the i-th item (a
/// slow consumer), and notes when everything arrived.
async fn timeline(model: &impl Model, pace: &[Duration]) -> Timeline {
    let t0 = Instant::now();
    let mut parts = match model.stream(request()).await {
        Ok(parts) => parts,
        Err(err) => {
            return Timeline {
                opened: (micros_since(t0), Err(err)),
                items: Vec::new(),
            };
        }
    };
    let opened = (micros_since(t0), Ok(()));
    let mut items = Vec::new();
    while let Some(item) = parts.next().await {
        items.push((micros_since(t0), item));
        if let Some(pause) = pace.get(items.len() - 1) {
            sleep(*pause).await;
        }
    }
    Timeline { opened, items }
}

/// A `generate` call's answer and when it came.
async fn generate_timed(model: &impl Model) -> (u64, Result<ModelResponse, ModelError>) {
    let t0 = Instant::now();
    let result = model.generate(request()).await;
    (micros_since(t0), result)
}

fn any_script() -> impl Strategy<Value = Script> {
    (strategies::script(), prop::bool::weighted(0.1)).prop_map(|(script, refuse)| {
        if refuse {
            script.fail_to_open(ModelError::other("refused to open"))
        } else {
            script
        }
    })
}

fn consumer_pace() -> impl Strategy<Value = Vec<Duration>> {
    prop::collection::vec(strategies::delay(), 0..16)
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(64)
    })]

    /// For arbitrary scripts and consumer paces, a recorded stream's timeline
    /// (every item, in order, at its instant) equals the bare model's, also
    /// through two stacked recorders; and the span holds what the consumer got.
    #[test]
    fn a_recorded_stream_is_indistinguishable_from_the_bare_one(
        script in any_script(),
        pace in consumer_pace(),
    ) {
        let traces = Collector::new();
        let (bare, recorded, stacked) = run_paused(async {
            let bare = timeline(&ScriptedModel::new(script.clone()), &pace).await;
            let recorder = Recorder::new(ScriptedModel::new(script.clone()), traces.clone());
            let recorded = timeline(&recorder, &pace).await;
            let stacked = Recorder::new(
                Recorder::new(ScriptedModel::new(script.clone()), Collector::new()),
                Collector::new(),
            );
            let stacked = timeline(&stacked, &pace).await;
            (bare, recorded, stacked)
        });
        prop_assert_eq!(&recorded, &bare);
        prop_assert_eq!(&stacked, &bare);

        let [trace] = traces.traces().try_into().expect("one trace");
        let received: Vec<(u64, StreamPart)> = recorded
            .items
            .iter()
            .filter_map(|(at, item)| item.clone().ok().map(|p| (*at, p)))
            .collect();
        let kept: Vec<(u64, StreamPart)> = trace
            .root()
            .parts
            .iter()
            .map(|p| (p.offset_us, p.part.clone()))
            .collect();
        prop_assert_eq!(kept, received);
    }

    /// A recorded `generate` answers exactly what the bare model answers, at
    /// the same instant.
    #[test]
    fn a_recorded_generate_is_indistinguishable_from_the_bare_one(script in any_script()) {
        let (bare, recorded) = run_paused(async {
            let bare = generate_timed(&ScriptedModel::new(script.clone())).await;
            let recorder = Recorder::new(ScriptedModel::new(script.clone()), Collector::new());
            (bare, generate_timed(&recorder).await)
        });
        prop_assert_eq!(recorded, bare);
    }
}

/// The example, spelled out: each part reaches the consumer at the
/// instant the inner model produced it.
#[tokio::test(start_paused = true)]
async fn each_part_arrives_at_the_instant_the_inner_model_produced_it() {
    let script = Script::new()
        .open_after(Duration::from_millis(800))
        .part(StreamPart::StreamStart)
        .part_after(Duration::from_millis(400), StreamPart::text("Hel"))
        .part_after(Duration::from_millis(30), StreamPart::text("lo"))
        .part_after(
            Duration::from_millis(5),
            StreamPart::finish(tracedeck::model::FinishReason::stop()),
        );
    let recorder = Recorder::new(ScriptedModel::new(script.clone()), Collector::new());
    let recorded = timeline(&recorder, &[]).await;
    let bare = timeline(&ScriptedModel::new(script), &[]).await;
    assert_eq!(recorded, bare);
    let instants: Vec<u64> = recorded.items.iter().map(|(at, _)| *at).collect();
    assert_eq!(instants, [800_000, 1_200_000, 1_230_000, 1_235_000]);
}

/// A model whose stream yields a fixed list of items, errors included, and
/// keeps going after an error: a stream the recorder must not fuse or filter.
struct ListModel(Vec<Item>);

impl Model for ListModel {
    fn info(&self) -> ModelInfo {
        ModelInfo::new("list", "list")
    }
    fn generate(
        &self,
        _req: ModelRequest,
    ) -> BoxFuture<'static, Result<ModelResponse, ModelError>> {
        Box::pin(async { Err(ModelError::other("stream only")) })
    }
    fn stream(&self, _req: ModelRequest) -> BoxFuture<'static, Result<PartStream, ModelError>> {
        let items = self.0.clone();
        Box::pin(async move { Ok(Box::pin(stream::iter(items)) as PartStream) })
    }
}

/// Items after an error still pass through unchanged; the span ends at the
/// first error and keeps only what came before it.
#[tokio::test(start_paused = true)]
async fn items_after_an_error_still_pass_through_unchanged() {
    let items: Vec<Item> = vec![
        Ok(StreamPart::text("a")),
        Err(ModelError::other("hiccup")),
        Ok(StreamPart::text("b")),
        Ok(StreamPart::KeepAlive),
    ];
    let traces = Collector::new();
    let recorder = Recorder::new(ListModel(items.clone()), traces.clone());
    let received: Vec<Item> = recorder.stream(request()).await.unwrap().collect().await;
    assert_eq!(received, items);

    let [trace] = traces.traces().try_into().expect("one trace");
    let call = trace.root();
    assert_eq!(call.status, SpanStatus::Error);
    assert_eq!(call.error, Some(ModelError::other("hiccup")));
    assert_eq!(call.parts.len(), 1);
    assert_eq!(call.parts[0].part, StreamPart::text("a"));
}
