use std::fmt::Write as _;

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
    pub fn render(&self) -> String {
        let mut out = String::new();
        render_span(self, self.root(), "", "", 0, &mut out);
        out
    }
}

fn render_span(
    trace: &Trace,
    span: &Span,
    lead: &str,
    child_lead: &str,
    depth: usize,
    out: &mut String,
) {
    let _ = writeln!(out, "{lead}{}", describe(span));
    // A hand-edited recording may hold a parent cycle: never recurse past the span count.
    if depth >= trace.spans.len() {
        return;
    }
    let children: Vec<&Span> = trace.children(span.id).collect();
    for (i, child) in children.iter().enumerate() {
        let last = i + 1 == children.len();
        let (branch, cont) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        render_span(
            trace,
            child,
            &format!("{child_lead}{branch}"),
            &format!("{child_lead}{cont}"),
            depth + 1,
            out,
        );
    }
}

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
    if let Some(usage) = span.response().and_then(|r| r.usage) {
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
