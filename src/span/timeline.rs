//! A trace as a waterfall picture (SVG): one bar per span on a shared time
//! axis, a tick under the bar for every streamed part, and time to first
//! token marked.

use std::fmt::Write as _;

use super::render::{describe, format_us};
use super::tree::Tree;
use super::{Span, SpanKind, SpanStatus, Trace};

/// Canvas width in pixels.
const WIDTH: f64 = 1200.0;
/// Where the plot starts: the label column is left of it.
const PLOT_LEFT: f64 = 330.0;
/// Where the plot ends: the per-bar summary text is right of it.
const PLOT_RIGHT: f64 = 900.0;
/// Top of the first row.
const ROWS_TOP: f64 = 92.0;
/// Height of one row.
const ROW_HEIGHT: f64 = 36.0;
/// Height of a bar.
const BAR_HEIGHT: f64 = 14.0;
/// Length of a streamed-part tick, drawn under the bar.
const TICK_LENGTH: f64 = 6.0;
/// Indentation per tree level in the label column.
const INDENT: f64 = 14.0;
/// The longest label shown before it is cut (the full text is in the tooltip).
const MAX_LABEL_CHARS: usize = 40;
/// Height of the legend under the rows.
const LEGEND_HEIGHT: f64 = 64.0;

const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";

/// The colors of a bar: the part of the span before the first token (light)
/// and after it (strong).
struct Palette {
    light: &'static str,
    strong: &'static str,
}

const TASK: Palette = Palette {
    light: "#cbd5e1",
    strong: "#64748b",
};
const CALL_OK: Palette = Palette {
    light: "#bfdbfe",
    strong: "#2563eb",
};
const CALL_ERROR: Palette = Palette {
    light: "#fecaca",
    strong: "#dc2626",
};
const CALL_CANCELLED: Palette = Palette {
    light: "#fde68a",
    strong: "#d97706",
};
/// Waiting for the stream to open (headers), drawn over the light part.
const WAITING: &str = "#eff6ff";
const TTFT: &str = "#db2777";
const TICK_CONTENT: &str = "#0f172a";
const TICK_FRAMING: &str = "#94a3b8";
const GRID: &str = "#e2e8f0";
const TEXT: &str = "#0f172a";
const MUTED: &str = "#64748b";

impl Trace {
    /// The trace as a waterfall picture, as a standalone SVG document.
    ///
    /// One row per span, in tree order (children under their parent, in start
    /// order), with the span's key, id and model on the left and a bar on a
    /// shared time axis from the trace start. A streamed call's bar is pale
    /// while it waits for the stream to open, light until its first token and
    /// strong after it; a magenta marker stands at the time to first token.
    /// Under each call, a tick marks the arrival of every streamed part: dark
    /// for content, grey for framing. Errors are red, cancellations amber.
    /// Hovering a bar shows the span's full description.
    ///
    /// Elements carry classes for tools and tests: every bar is a `rect`
    /// with class `bar`, every part a `line` with class `tick`, every TTFT a
    /// `path` with class `ttft`, each with a `data-span` attribute holding the
    /// span's id.
    ///
    /// ```
    /// use tracedeck::{Collector, Model, ModelRequest, Recorder, Script, ScriptedModel, with_span};
    /// # tracedeck::testing::run_paused(async {
    /// let traces = Collector::new();
    /// let model = Recorder::new(ScriptedModel::new(Script::text("hi")), traces.clone());
    /// with_span("turn", (), async {
    ///     let _ = model.stream(ModelRequest::new("m").user("hello")).await;
    /// })
    /// .await;
    /// let svg = traces.traces()[0].timeline_svg();
    /// assert!(svg.starts_with("<svg"));
    /// assert_eq!(svg.matches("class=\"bar ").count(), 2); // the turn and its call
    /// # });
    /// ```
    pub fn timeline_svg(&self) -> String {
        Timeline::new(self).render()
    }
}

/// One row of the picture: a span and its depth in the tree.
struct Row<'a> {
    span: &'a Span,
    depth: usize,
}

struct Timeline<'a> {
    trace: &'a Trace,
    rows: Vec<Row<'a>>,
    /// The time the plot's width stands for, at least 1 µs.
    total_us: u64,
}

impl<'a> Timeline<'a> {
    fn new(trace: &'a Trace) -> Self {
        let mut rows = Vec::with_capacity(trace.spans.len());
        let mut seen = vec![false; trace.spans.len()];
        for visit in Tree::of(trace).walk() {
            seen[visit.index] = true;
            rows.push(Row {
                span: &trace.spans[visit.index],
                depth: visit.depth,
            });
        }
        // Spans the tree walk did not reach (a hand-edited parent link) still get a row.
        for (i, span) in trace.spans.iter().enumerate() {
            if !seen[i] {
                seen[i] = true;
                rows.push(Row { span, depth: 0 });
            }
        }
        let end = trace
            .spans
            .iter()
            .map(|s| s.timing.start_us.saturating_add(s.timing.duration_us))
            .max()
            .unwrap_or(0);
        Self {
            trace,
            rows,
            total_us: end.max(1),
        }
    }

    fn x(&self, us: u64) -> f64 {
        PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * (us.min(self.total_us) as f64 / self.total_us as f64)
    }

    fn height(&self) -> f64 {
        ROWS_TOP + ROW_HEIGHT * self.rows.len() as f64 + LEGEND_HEIGHT
    }

    fn render(&self) -> String {
        let mut svg = String::new();
        let height = self.height();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="{FONT}" font-size="12">"#
        );
        let _ = writeln!(
            svg,
            r#"<rect class="background" x="0" y="0" width="{WIDTH}" height="{height}" fill="white"/>"#
        );
        self.header(&mut svg);
        self.axis(&mut svg);
        for (i, row) in self.rows.iter().enumerate() {
            self.row(i, row, &mut svg);
        }
        self.legend(&mut svg);
        svg.push_str("</svg>\n");
        svg
    }

    fn header(&self, svg: &mut String) {
        let key = self.trace.spans.first().map_or("", |s| s.key.as_str());
        let calls = self.trace.llm_spans().count();
        let parts: usize = self.trace.spans.iter().map(|s| s.parts.len()).sum();
        let _ = writeln!(
            svg,
            r#"<text x="16" y="28" font-size="17" font-weight="600" fill="{TEXT}">{}</text>"#,
            escape(&truncate(key, 60))
        );
        let _ = writeln!(
            svg,
            r#"<text x="16" y="48" fill="{MUTED}">{} · {} · {} · {}</text>"#,
            format_us(self.trace.duration_us()),
            count(self.trace.spans.len(), "span"),
            count(calls, "model call"),
            count(parts, "streamed part"),
        );
    }

    fn axis(&self, svg: &mut String) {
        let step = nice_step(self.total_us);
        let top = ROWS_TOP - 8.0;
        let bottom = ROWS_TOP + ROW_HEIGHT * self.rows.len() as f64;
        let _ = writeln!(svg, r#"<g class="axis">"#);
        let mut at = 0u64;
        loop {
            let x = self.x(at);
            let _ = writeln!(
                svg,
                r#"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="{GRID}"/>"#
            );
            let _ = writeln!(
                svg,
                r#"<text x="{x:.1}" y="{}" text-anchor="middle" fill="{MUTED}">{}</text>"#,
                top - 6.0,
                axis_label(at, step)
            );
            match at.checked_add(step) {
                Some(next) if next <= self.total_us => at = next,
                _ => break,
            }
        }
        let _ = writeln!(svg, "</g>");
    }

    fn row(&self, index: usize, row: &Row<'_>, svg: &mut String) {
        let span = row.span;
        let id = span.id.0;
        let top = ROWS_TOP + ROW_HEIGHT * index as f64;
        let bar_y = top + 6.0;
        let start = span.timing.start_us;
        let end = start.saturating_add(span.timing.duration_us);
        let palette = palette(span);
        let class = format!("{} {}", kind_name(span.kind), status_name(span.status));

        let _ = writeln!(svg, r#"<g class="span" data-span="{id}">"#);
        let _ = writeln!(svg, "<title>{}</title>", escape(&describe(span)));
        if index % 2 == 1 {
            let _ = writeln!(
                svg,
                r##"<rect x="0" y="{top}" width="{WIDTH}" height="{ROW_HEIGHT}" fill="#f8fafc"/>"##
            );
        }

        // The label column: tree-indented key and id, then what served the call.
        let label_x = 16.0 + INDENT * row.depth.min(12) as f64;
        let _ = writeln!(
            svg,
            r#"<text x="{label_x}" y="{}" fill="{TEXT}">{} <tspan fill="{MUTED}">{}</tspan></text>"#,
            top + 15.0,
            escape(&truncate(&span.key, MAX_LABEL_CHARS)),
            span.id
        );
        let _ = writeln!(
            svg,
            r#"<text x="{label_x}" y="{}" font-size="10" fill="{MUTED}">{}</text>"#,
            top + 28.0,
            escape(&truncate(&served_by(span), MAX_LABEL_CHARS + 8))
        );

        // The bar, at least one pixel wide so an instant span stays visible.
        let x0 = self.x(start);
        let width = (self.x(end) - x0).max(1.0);
        let _ = writeln!(
            svg,
            r#"<rect class="bar {class}" data-span="{id}" x="{x0:.2}" y="{bar_y}" width="{width:.2}" height="{BAR_HEIGHT}" rx="2" fill="{}"/>"#,
            if span.streamed {
                palette.light
            } else {
                palette.strong
            }
        );
        if span.streamed {
            if let Some(opened) = span.timing.opened_us {
                let x1 = self.x(start.saturating_add(opened));
                if x1 > x0 {
                    let _ = writeln!(
                        svg,
                        r#"<rect class="phase waiting" x="{x0:.2}" y="{bar_y}" width="{:.2}" height="{BAR_HEIGHT}" fill="{WAITING}" stroke="{}" stroke-width="0.5"/>"#,
                        x1 - x0,
                        palette.light
                    );
                }
            }
            if let Some(ttft) = span.timing.ttft_us {
                let x1 = self.x(start.saturating_add(ttft));
                let x2 = self.x(end);
                let _ = writeln!(
                    svg,
                    r#"<rect class="phase generating" x="{x1:.2}" y="{bar_y}" width="{:.2}" height="{BAR_HEIGHT}" fill="{}"/>"#,
                    (x2 - x1).max(1.0),
                    palette.strong
                );
            }
        }

        // A tick under the bar per streamed part.
        let tick_top = bar_y + BAR_HEIGHT + 1.0;
        for part in &span.parts {
            let x = self.x(start.saturating_add(part.offset_us));
            let (kind, color) = if part.part.is_content() {
                ("content", TICK_CONTENT)
            } else {
                ("framing", TICK_FRAMING)
            };
            let _ = writeln!(
                svg,
                r#"<line class="tick {kind}" data-span="{id}" x1="{x:.2}" y1="{tick_top}" x2="{x:.2}" y2="{}" stroke="{color}" stroke-width="1"/>"#,
                tick_top + TICK_LENGTH
            );
        }

        // Time to first token: a marker above the bar, pointing down at it.
        if let Some(ttft) = span.timing.ttft_us {
            let x = self.x(start.saturating_add(ttft));
            let _ = writeln!(
                svg,
                r#"<path class="ttft" data-span="{id}" d="M {:.2} {} L {:.2} {} L {x:.2} {} Z" fill="{TTFT}"/>"#,
                x - 4.5,
                bar_y - 6.0,
                x + 4.5,
                bar_y - 6.0,
                bar_y + 1.0
            );
        }

        // A summary right of the plot.
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" fill="{TEXT}">{}</text>"#,
            PLOT_RIGHT + 12.0,
            bar_y + 11.0,
            escape(&summary(span))
        );
        let _ = writeln!(svg, "</g>");
    }

    fn legend(&self, svg: &mut String) {
        let y = ROWS_TOP + ROW_HEIGHT * self.rows.len() as f64 + 28.0;
        let _ = writeln!(svg, r#"<g class="legend" font-size="11" fill="{TEXT}">"#);
        let mut x = 16.0;
        let mut swatch = |svg: &mut String, fill: &str, label: &str| {
            let _ = writeln!(
                svg,
                r#"<rect x="{x}" y="{}" width="14" height="10" fill="{fill}" stroke="{}" stroke-width="0.5"/><text x="{}" y="{y}">{label}</text>"#,
                y - 9.0,
                CALL_OK.light,
                x + 19.0
            );
            x += 24.0 + 6.2 * label.chars().count() as f64;
        };
        swatch(svg, TASK.strong, "task");
        swatch(svg, WAITING, "call: opening");
        swatch(svg, CALL_OK.light, "call: until first token");
        swatch(svg, CALL_OK.strong, "call: streaming");
        swatch(svg, CALL_ERROR.strong, "error");
        swatch(svg, CALL_CANCELLED.strong, "cancelled");
        let _ = writeln!(
            svg,
            r#"<path d="M {} {} L {} {} L {} {} Z" fill="{TTFT}"/><text x="{}" y="{y}">time to first token</text>"#,
            x,
            y - 9.0,
            x + 9.0,
            y - 9.0,
            x + 4.5,
            y - 1.0,
            x + 15.0
        );
        x += 140.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{TICK_CONTENT}"/><line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{TICK_FRAMING}"/><text x="{}" y="{y}">streamed part: content / framing</text>"#,
            y - 10.0,
            y,
            x + 5.0,
            y - 10.0,
            x + 5.0,
            y,
            x + 12.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="16" y="{}" fill="{MUTED}">Times are offsets from the trace start; ticks mark when each streamed part arrived.</text>"#,
            y + 22.0
        );
        let _ = writeln!(svg, "</g>");
    }
}

fn palette(span: &Span) -> &'static Palette {
    match (span.kind, span.status) {
        (_, SpanStatus::Error) => &CALL_ERROR,
        (_, SpanStatus::Cancelled) => &CALL_CANCELLED,
        (SpanKind::Task, SpanStatus::Ok) => &TASK,
        (SpanKind::Llm, SpanStatus::Ok) => &CALL_OK,
    }
}

fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Task => "task",
        SpanKind::Llm => "llm",
    }
}

fn status_name(status: SpanStatus) -> &'static str {
    match status {
        SpanStatus::Ok => "ok",
        SpanStatus::Error => "error",
        SpanStatus::Cancelled => "cancelled",
    }
}

/// The second label line: the model and call type, or `task`.
fn served_by(span: &Span) -> String {
    match (span.kind, &span.model) {
        (SpanKind::Task, _) => "task".to_owned(),
        (SpanKind::Llm, Some(model)) => format!(
            "{model} · {}",
            if span.streamed { "stream" } else { "generate" }
        ),
        (SpanKind::Llm, None) => "model call".to_owned(),
    }
}

/// The text right of the plot: duration, TTFT, part count, and a non-ok status.
fn summary(span: &Span) -> String {
    let mut text = format_us(span.timing.duration_us);
    if let Some(ttft) = span.timing.ttft_us {
        let _ = write!(text, " · ttft {}", format_us(ttft));
    }
    if !span.parts.is_empty() {
        let _ = write!(text, " · {} parts", span.parts.len());
    }
    match span.status {
        SpanStatus::Ok => {}
        SpanStatus::Error => text.push_str(" · error"),
        SpanStatus::Cancelled => text.push_str(" · cancelled"),
    }
    text
}

/// `n` and `noun`, plural unless `n` is 1.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A round axis step (1, 2 or 5 × 10ⁿ µs) giving at most about ten gridlines.
fn nice_step(total_us: u64) -> u64 {
    let raw = total_us.div_ceil(10).max(1);
    let mut magnitude = 1u64;
    loop {
        for factor in [1, 2, 5] {
            let step = magnitude.saturating_mul(factor);
            if step >= raw {
                return step;
            }
        }
        match magnitude.checked_mul(10) {
            Some(next) => magnitude = next,
            None => return u64::MAX,
        }
    }
}

/// An axis label with no more digits than the step needs: `0`, `250ms`, `1.5s`.
fn axis_label(us: u64, step: u64) -> String {
    if us == 0 {
        return "0".to_owned();
    }
    let (unit, scale) = if us >= 1_000_000 && step >= 1_000 {
        ("s", 1_000_000u64)
    } else if step >= 1_000 {
        ("ms", 1_000)
    } else {
        ("µs", 1)
    };
    let value = us as f64 / scale as f64;
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{unit}")
}

/// `text` cut to `max` characters, with an ellipsis when cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Escapes text for XML content and attribute values; drops characters XML 1.0 cannot hold.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round_and_few() {
        assert_eq!(nice_step(1), 1);
        assert_eq!(nice_step(1_000_000), 100_000);
        assert_eq!(nice_step(1_234_567), 200_000);
        assert_eq!(nice_step(45), 5);
        assert!(nice_step(u64::MAX) > 0);
    }

    #[test]
    fn axis_labels_say_no_more_than_needed() {
        assert_eq!(axis_label(0, 100_000), "0");
        assert_eq!(axis_label(200_000, 100_000), "200ms");
        assert_eq!(axis_label(1_000_000, 200_000), "1s");
        assert_eq!(axis_label(1_200_000, 200_000), "1.2s");
        assert_eq!(axis_label(1_500_000, 500_000), "1.5s");
        assert_eq!(axis_label(250_000, 50_000), "250ms");
        assert_eq!(axis_label(40, 5), "40µs");
    }

    #[test]
    fn escape_makes_any_text_safe() {
        assert_eq!(escape("a<b>&\"c'\u{1}"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
