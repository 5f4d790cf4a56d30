//! `Trace::timeline_svg`: well-formed SVG, one bar per span, one tick per
//! streamed part, TTFT marked, any key text escaped, any span tree drawn.

use std::time::Duration;

use futures::StreamExt;
use tracedeck::model::FinishReason;
use tracedeck::span::SpanId;
use tracedeck::{
    Collector, Model, ModelRequest, Recorder, Script, ScriptedModel, StreamPart, Trace, with_span,
};

/// A turn with two streamed calls (framing + content) and a plain generate call.
async fn session(key: &str) -> Trace {
    let script = Script::new()
        .open_after(Duration::from_millis(300))
        .part(StreamPart::StreamStart)
        .part_after(Duration::from_millis(200), StreamPart::text("a"))
        .part_after(Duration::from_millis(20), StreamPart::text("b"))
        .part_after(
            Duration::from_millis(20),
            StreamPart::finish(FinishReason::stop()),
        );
    let traces = Collector::new();
    let model = Recorder::new(ScriptedModel::new(script), traces.clone());
    with_span(key, (), async {
        for _ in 0..2 {
            let mut parts = model
                .stream(ModelRequest::new("m").user("hi"))
                .await
                .unwrap();
            while let Some(part) = parts.next().await {
                part.unwrap();
            }
        }
        model
            .generate(ModelRequest::new("m").user("hi"))
            .await
            .unwrap();
    })
    .await;
    traces.traces().remove(0)
}

fn elements<'a>(doc: &'a roxmltree::Document<'_>, class: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| {
            n.attribute("class")
                .is_some_and(|c| c.split(' ').next() == Some(class))
        })
        .collect()
}

fn x_of(node: &roxmltree::Node<'_, '_>, attr: &str) -> f64 {
    node.attribute(attr).unwrap().parse().unwrap()
}

#[tokio::test(start_paused = true)]
async fn one_bar_per_span_one_tick_per_part_and_ttft_marked() {
    let trace = session("chat-turn").await;
    assert_eq!(trace.spans.len(), 4);
    let svg = trace.timeline_svg();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );

    let bars = elements(&doc, "bar");
    assert_eq!(bars.len(), trace.spans.len());
    let ticks = elements(&doc, "tick");
    let parts: usize = trace.spans.iter().map(|s| s.parts.len()).sum();
    assert_eq!(parts, 8);
    assert_eq!(ticks.len(), parts);
    for span in &trace.spans {
        let id = span.id.0.to_string();
        let of_span = |nodes: &[roxmltree::Node<'_, '_>]| {
            nodes
                .iter()
                .filter(|n| n.attribute("data-span") == Some(id.as_str()))
                .count()
        };
        assert_eq!(of_span(&bars), 1, "span {}", span.id);
        assert_eq!(of_span(&ticks), span.parts.len(), "span {}", span.id);
        assert_eq!(
            of_span(&elements(&doc, "ttft")),
            usize::from(span.timing.ttft_us.is_some()),
            "span {}",
            span.id
        );
    }
    // Content and framing ticks are told apart.
    let content = ticks
        .iter()
        .filter(|t| t.attribute("class") == Some("tick content"))
        .count();
    assert_eq!(content, 4);
}

#[tokio::test(start_paused = true)]
async fn positions_follow_the_time_axis() {
    let trace = session("chat-turn").await;
    let svg = trace.timeline_svg();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let bars = elements(&doc, "bar");
    let bar = |id: u64| {
        bars.iter()
            .find(|b| b.attribute("data-span") == Some(id.to_string().as_str()))
            .unwrap()
    };
    let (root_x, root_w) = (x_of(bar(0), "x"), x_of(bar(0), "width"));
    // The second call starts where the first ends, the root spans them all.
    let first_end = x_of(bar(1), "x") + x_of(bar(1), "width");
    assert!((x_of(bar(2), "x") - first_end).abs() < 0.02);
    assert!((x_of(bar(3), "x") + x_of(bar(3), "width") - (root_x + root_w)).abs() < 0.02);

    // Ticks of one call are in arrival order and the last (the finish) sits at the call's end.
    let ticks: Vec<f64> = elements(&doc, "tick")
        .iter()
        .filter(|t| t.attribute("data-span") == Some("1"))
        .map(|t| x_of(t, "x1"))
        .collect();
    assert!(ticks.windows(2).all(|w| w[0] <= w[1]));
    assert!((ticks[ticks.len() - 1] - first_end).abs() < 0.02);
    // TTFT (500 ms of a 540 ms call) sits at the first content tick, not on the framing.
    let call = &trace.spans[1];
    assert_eq!(call.timing.ttft_us, Some(500_000));
    let per_us = root_w / trace.duration_us() as f64;
    assert!((ticks[1] - (root_x + 500_000.0 * per_us)).abs() < 0.02);
    assert!((ticks[0] - (root_x + 300_000.0 * per_us)).abs() < 0.02);
}

#[tokio::test(start_paused = true)]
async fn any_key_text_is_escaped() {
    let key = r#"<script>alert("x & y")</script>'"#;
    let svg = session(key).await.timeline_svg();
    let doc = roxmltree::Document::parse(&svg).expect("escaped keys keep the XML well-formed");
    assert!(doc.descendants().any(|n| n.text() == Some(key)));
    assert!(!svg.contains("<script>"));
}

#[tokio::test(start_paused = true)]
async fn broken_trees_still_get_one_row_per_span() {
    let mut trace = session("chat-turn").await;
    // A parent that does not exist, and a cycle between two spans.
    trace.spans[1].parent = Some(SpanId(99));
    trace.spans[2].parent = Some(SpanId(3));
    trace.spans[3].parent = Some(SpanId(2));
    let svg = trace.timeline_svg();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(elements(&doc, "bar").len(), 4);
    assert_eq!(elements(&doc, "tick").len(), 8);
}

#[test]
fn an_instant_trace_still_draws() {
    let mut trace = tracedeck::testing::run_paused(session("t"));
    for span in &mut trace.spans {
        span.timing.start_us = 0;
        span.timing.duration_us = 0;
        for part in &mut span.parts {
            part.offset_us = 0;
        }
    }
    let svg = trace.timeline_svg();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    for bar in elements(&doc, "bar") {
        assert!(x_of(&bar, "width") >= 1.0, "an instant span stays visible");
        assert!(x_of(&bar, "x").is_finite());
    }
}
