use std::fmt::Write as _;

use super::tree::Tree;
use super::{Span, SpanKind, SpanStatus, Trace};

impl Trace {
    /// The trace as a text tree, one line per span: key, kind, status,
    /// duration, and for model calls the model, `opened`, TTFT, tokens and
    /// part count.
    ///
    /// ```text
    /// chat-turn #0 task ok 1.250s
    /// └── llm #1 scripted/m stream ok 1.250s opened 800ms ttft 1.200s tokens 12→30 parts 6
    /// ```
    ///
    /// Linear in the number of spans. Each span is drawn once, under its
    /// parent (a parent cycle in a hand-edited recording ends the tree), and
    /// spans nested more than 64 deep are drawn at that depth with their own
    /// depth written before them.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // For the line being drawn: whether each of its ancestors below the
        // root is the last child of its parent (then no `│` continues under it).
        let mut lasts: Vec<bool> = Vec::new();
        for visit in Tree::of(self).walk() {
            if visit.depth > 0 {
                lasts.truncate(visit.depth - 1);
                let drawn = visit.depth.min(MAX_DRAWN_DEPTH);
                for &last in lasts.iter().take(drawn - 1) {
                    out.push_str(if last { "    " } else { "│   " });
                }
                out.push_str(if visit.last {
                    "└── "
                } else {
                    "├── "
                });
                if visit.depth > MAX_DRAWN_DEPTH {
                    let _ = write!(out, "[depth {}] ", visit.depth);
                }
                lasts.push(visit.last);
            }
            let _ = writeln!(out, "{}", describe(&self.spans[visit.index]));
        }
        out
    }
}

/// Spans nested deeper than this are drawn at this depth, their own depth
/// written before them, so a hand-edited chain of thousands of spans draws
/// in lines of bounded width.
const MAX_DRAWN_DEPTH: usize = 64;

/// One span as a line of text: key, id, kind, status, duration and, for calls, timing and tokens.
pub(super) fn describe(span: &Span) -> String {
    let mut line = format!("{} {}", span.key, span.id);
    match span.kind {
        SpanKind::Task => line.push_str(" task"),
        SpanKind::Llm => {
            if let Some(model) = &span.model {
                let _ = write!(line, " {model}");
            }
            line.push_str(if span.streamed {
                " stream"
            } else {
                " generate"
            });
        }
    }
    line.push_str(match span.status {
        SpanStatus::Ok => " ok",
        SpanStatus::Error => " error",
        SpanStatus::Cancelled => " cancelled",
    });
    let _ = write!(line, " {}", format_us(span.timing.duration_us));
    if let Some(opened) = span.timing.opened_us {
        let _ = write!(line, " opened {}", format_us(opened));
    }
    if span.kind == SpanKind::Llm && span.streamed {
        match span.timing.ttft_us {
            Some(ttft) => {
                let _ = write!(line, " ttft {}", format_us(ttft));
            }
            None => line.push_str(" ttft -"),
        }
    }
    // Only a model call's output is a response: a task's output that happens
    // to decode as one is the task's business, not token usage.
    let response = (span.kind == SpanKind::Llm)
        .then(|| span.response())
        .flatten();
    if let Some(usage) = response.and_then(|r| r.usage) {
        let _ = write!(
            line,
            " tokens {}→{}",
            usage.input_tokens, usage.output_tokens
        );
    }
    if span.streamed {
        let _ = write!(line, " parts {}", span.parts.len());
    }
    if let Some(err) = &span.error {
        let first = err.to_string();
        let _ = write!(line, " ({})", first.lines().next().unwrap_or_default());
    }
    line
}

/// Formats microseconds for people: `950µs`, `800ms`, `12.345ms`, `1.200s`.
pub fn format_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        if us % 1_000 == 0 {
            format!("{}ms", us / 1_000)
        } else {
            format!("{:.3}ms", us as f64 / 1_000.0)
        }
    } else {
        format!("{:.3}s", us as f64 / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{ModelError, ModelInfo, ModelResponse, StreamPart, Usage};
    use crate::span::RecordedPart;

    #[test]
    fn durations_read_as_microseconds_milliseconds_or_seconds() {
        let cases = [
            (0, "0µs"),
            (999, "999µs"),
            (1_000, "1ms"),
            (1_500, "1.500ms"),
            (800_000, "800ms"),
            (999_999, "999.999ms"),
            (1_000_000, "1.000s"),
            (1_200_000, "1.200s"),
            (61_234_567, "61.235s"),
        ];
        for (us, text) in cases {
            assert_eq!(format_us(us), text, "{us}µs");
        }
    }

    #[test]
    fn the_tree_draws_branches_for_every_level() {
        let trace = Trace::new(vec![
            Span::fixture(0, None, "root", SpanKind::Task),
            Span::fixture(1, Some(0), "a", SpanKind::Task),
            Span::fixture(2, Some(0), "b", SpanKind::Task),
            Span::fixture(3, Some(1), "c", SpanKind::Task),
        ])
        .unwrap();
        assert_eq!(
            trace.render(),
            "root #0 task ok 0µs\n\
             ├── a #1 task ok 0µs\n\
             │   └── c #3 task ok 0µs\n\
             └── b #2 task ok 0µs\n"
        );
    }

    fn streamed_call(parts: Vec<StreamPart>) -> Span {
        let mut span = Span::fixture(1, Some(0), "llm", SpanKind::Llm);
        span.model = Some(ModelInfo::new("scripted", "m"));
        span.streamed = true;
        span.timing.duration_us = 1_250_000;
        span.timing.opened_us = Some(800_000);
        span.parts = parts
            .into_iter()
            .map(|part| RecordedPart {
                offset_us: 800_000,
                part,
            })
            .collect();
        span
    }

    #[test]
    fn a_streamed_call_shows_model_open_ttft_tokens_and_parts() {
        let mut call = streamed_call(vec![StreamPart::StreamStart, StreamPart::text("hi")]);
        call.timing.ttft_us = Some(1_200_000);
        let mut response = ModelResponse::text(ModelInfo::new("scripted", "m"), "hi");
        response.usage = Some(Usage::new(12, 30));
        call.output = Some(serde_json::to_value(response).unwrap().into());
        assert_eq!(
            describe(&call),
            "llm #1 scripted/m stream ok 1.250s opened 800ms ttft 1.200s tokens 12→30 parts 2"
        );
    }

    #[test]
    fn a_stream_without_content_shows_no_ttft() {
        let call = streamed_call(vec![StreamPart::KeepAlive]);
        assert_eq!(
            describe(&call),
            "llm #1 scripted/m stream ok 1.250s opened 800ms ttft - parts 1"
        );
    }

    #[test]
    fn a_failed_generate_shows_the_first_line_of_its_error_and_no_ttft() {
        let mut call = Span::fixture(1, Some(0), "llm", SpanKind::Llm);
        call.model = Some(ModelInfo::new("scripted", "m"));
        call.status = SpanStatus::Error;
        call.timing.duration_us = 2_000;
        call.error = Some(ModelError::CassetteMiss {
            key: "chat".into(),
            detail: "closest request differs at /messages/0\nmore".into(),
        });
        assert_eq!(
            describe(&call),
            "llm #1 scripted/m generate error 2ms \
             (no recorded call in cassette key `chat` matches this request)"
        );
    }

    #[test]
    fn a_task_whose_output_looks_like_a_response_shows_no_tokens() {
        let mut task = Span::fixture(0, None, "turn", SpanKind::Task);
        let mut response = ModelResponse::text(ModelInfo::new("scripted", "m"), "hi");
        response.usage = Some(Usage::new(1, 2));
        task.output = Some(serde_json::to_value(response).unwrap().into());
        task.status = SpanStatus::Cancelled;
        assert_eq!(describe(&task), "turn #0 task cancelled 0µs");
    }

    #[test]
    fn a_chain_deeper_than_the_drawing_keeps_its_lines_narrow() {
        let spans = (0..10_000)
            .map(|i| Span::fixture(i, i.checked_sub(1), "step", SpanKind::Task))
            .collect();
        let text = Trace::new(spans).unwrap().render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 10_000);
        assert_eq!(lines[2], "    └── step #2 task ok 0µs");
        assert!(
            lines
                .iter()
                .all(|l| l.chars().count() < 4 * MAX_DRAWN_DEPTH + 40)
        );
        assert!(lines[9_999].ends_with("└── [depth 9999] step #9999 task ok 0µs"));
    }

    #[test]
    fn a_parent_cycle_in_a_hand_edited_trace_renders_a_bounded_tree() {
        let mut root = Span::fixture(0, Some(1), "root", SpanKind::Task);
        root.input = json!("cyclic").into();
        let trace = Trace::new(vec![root, Span::fixture(1, Some(0), "a", SpanKind::Task)]).unwrap();
        let lines = trace.render().lines().count();
        assert!(lines <= 4, "{}", trace.render());
    }
}
