//! The quickstart's core path, through the example's own functions: a first
//! run records eight concurrent chat turns from the loopback simulator through
//! the real `OpenAi` adapter, a TTFT for every call; a second run replays
//! them without recording again.
//!
//! Real time over loopback (about 1.5 s), as the example runs.

use crate::example;

use std::collections::BTreeSet;
use std::path::Path;

use tracedeck::Mode;
use tracedeck::cassette::Store;

fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir.join(example::KEY))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Span-tree lines of model calls that show a TTFT.
fn calls_with_ttft(output: &str) -> usize {
    output
        .lines()
        .filter(|l| l.contains(" llm #") && l.contains(" stream ok ") && l.contains(" ttft "))
        .count()
}

#[test]
fn records_once_then_replays_without_recording_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("quickstart");

    let mut first_out = Vec::new();
    let first = example::run(&dir, example::Source::Simulator, Mode::Auto, &mut first_out).unwrap();
    let first_text = String::from_utf8(first_out).unwrap();
    assert_eq!(first.recorded, 8, "{first_text}");
    assert!(first.report.is_unchanged(), "{first_text}");
    assert_eq!(first.report.traces.len(), 8);
    let recorded = files(&dir);
    assert_eq!(recorded.len(), 8);
    assert!(Store::open(&dir).unwrap().verify().is_clean());

    // Every call has a TTFT, printed on its line of the span tree; weather
    // questions made a tool round trip (two calls and the tool's span).
    let mut calls = 0;
    for turn in &first.report.traces {
        let replayed = turn.replayed.as_ref().expect("each replay finishes");
        let question = replayed.root().input.as_str().unwrap();
        let llm: Vec<_> = replayed.llm_spans().collect();
        let expected_calls = if question.contains("weather") { 2 } else { 1 };
        assert_eq!(llm.len(), expected_calls, "{question}");
        for call in llm {
            let ttft = call.timing.ttft_us.expect("a TTFT for every call");
            let opened = call.timing.opened_us.unwrap();
            // The simulator sends headers after 300 ms and the first token after 500 ms.
            assert!(
                opened >= 300_000 && ttft >= 500_000 && ttft > opened,
                "{question}"
            );
            calls += 1;
        }
    }
    assert_eq!(calls, 11);
    assert_eq!(calls_with_ttft(&first_text), calls, "{first_text}");
    assert!(first_text.contains("replay of `chat-turn`: 8 trace(s): 8 unchanged"));
    assert!(
        first_text.contains("8/8 turns done"),
        "the progress line reaches the end"
    );

    let mut second_out = Vec::new();
    let second = example::run(
        &dir,
        example::Source::Simulator,
        Mode::Auto,
        &mut second_out,
    )
    .unwrap();
    let second_text = String::from_utf8(second_out).unwrap();
    assert_eq!(second.recorded, 0, "{second_text}");
    assert!(
        second_text.starts_with("8 recorded turns in"),
        "{second_text}"
    );
    assert!(second.report.is_unchanged());
    assert_eq!(files(&dir), recorded, "nothing recorded again");
    assert_eq!(calls_with_ttft(&second_text), calls);
}
