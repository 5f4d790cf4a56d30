//! Latency and token statistics over a set of traces: p50 / p95 / max of TTFT
//! and duration, and token totals, per model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Span, SpanStatus, Trace};
use crate::model::ModelInfo;

/// The 50th and 95th percentiles and the maximum of a set of microsecond
/// values, by the nearest-rank method: the p-th percentile is the smallest
/// value that at least p % of the values are less than or equal to, so every
/// reported number is one that was actually measured.
///
/// ```
/// use tracedeck::span::Percentiles;
/// let p = Percentiles::of([30, 10, 20, 40]).unwrap();
/// assert_eq!((p.count, p.p50_us, p.p95_us, p.max_us), (4, 20, 40, 40));
/// assert_eq!(Percentiles::of([]), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Percentiles {
    /// How many values.
    pub count: usize,
    /// The median.
    pub p50_us: u64,
    /// The 95th percentile.
    pub p95_us: u64,
    /// The largest value.
    pub max_us: u64,
}

impl Percentiles {
    /// The percentiles of `values`, or `None` when there are none.
    pub fn of(values: impl IntoIterator<Item = u64>) -> Option<Self> {
        let mut sorted: Vec<u64> = values.into_iter().collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_unstable();
        Some(Self {
            count: sorted.len(),
            p50_us: nearest_rank(&sorted, 50),
            p95_us: nearest_rank(&sorted, 95),
            max_us: sorted[sorted.len() - 1],
        })
    }
}

/// The `percent`-th percentile of non-empty `sorted` by nearest rank:
/// the value at rank ⌈percent/100 · n⌉ (1-based).
fn nearest_rank(sorted: &[u64], percent: usize) -> u64 {
    let n = sorted.len();
    let rank = (percent * n).div_ceil(100).clamp(1, n);
    sorted[rank - 1]
}

/// Token totals over a set of calls, from each call's reported usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenTotals {
    /// Calls whose response reported usage; the others count as nothing.
    pub calls_with_usage: usize,
    /// Prompt tokens, summed.
    pub input: u64,
    /// Completion tokens, summed.
    pub output: u64,
}

impl TokenTotals {
    /// Input plus output tokens.
    pub fn total(&self) -> u64 {
        self.input.saturating_add(self.output)
    }
}

/// The statistics of every model call made through one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelStats {
    /// The model the recorder wrapped (the request's model id under provider
    /// `unknown` for a span that does not name one).
    pub model: ModelInfo,
    /// Calls made.
    pub calls: usize,
    /// Calls that streamed.
    pub streamed: usize,
    /// Calls that ended with status `error`.
    pub errors: usize,
    /// Calls that ended with status `cancelled`.
    pub cancelled: usize,
    /// Time to first token over the streamed calls that produced content.
    pub ttft: Option<Percentiles>,
    /// Call durations, every call included.
    pub duration: Percentiles,
    /// Tokens used.
    pub tokens: TokenTotals,
}

/// Statistics over a set of traces: their durations, and per model the
/// latency (TTFT and duration percentiles), outcomes and tokens of the calls.
///
/// ```
/// use tracedeck::span::TraceStats;
/// use tracedeck::{Collector, Model, ModelRequest, Recorder, Script, ScriptedModel, with_span};
/// # tracedeck::testing::run_paused(async {
/// let traces = Collector::new();
/// let model = Recorder::new(ScriptedModel::new(Script::text("hi")), traces.clone());
/// for _ in 0..3 {
///     with_span("turn", (), async {
///         model.generate(ModelRequest::new("m").user("hello")).await.unwrap();
///     })
///     .await;
/// }
/// let stats = TraceStats::of(&traces.traces());
/// assert_eq!(stats.traces, 3);
/// assert_eq!(stats.models[0].model.to_string(), "scripted/scripted-model");
/// assert_eq!(stats.models[0].calls, 3);
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceStats {
    /// How many traces.
    pub traces: usize,
    /// Model calls, over every trace and model.
    pub calls: usize,
    /// Trace durations (start to the last span's end); `None` for no traces.
    pub duration: Option<Percentiles>,
    /// One entry per model, sorted by provider then model id.
    pub models: Vec<ModelStats>,
}

impl TraceStats {
    /// The statistics of `traces`.
    pub fn of<'a>(traces: impl IntoIterator<Item = &'a Trace>) -> Self {
        let mut count = 0;
        let mut durations = Vec::new();
        let mut by_model: BTreeMap<(String, String), Vec<&Span>> = BTreeMap::new();
        for trace in traces {
            count += 1;
            durations.push(trace.duration_us());
            for span in trace.llm_spans() {
                let info = model_of(span);
                by_model
                    .entry((info.provider, info.model))
                    .or_default()
                    .push(span);
            }
        }
        let models: Vec<ModelStats> = by_model
            .into_iter()
            .filter_map(|((provider, model), spans)| {
                model_stats(ModelInfo::new(provider, model), &spans)
            })
            .collect();
        Self {
            traces: count,
            calls: models.iter().map(|m| m.calls).sum(),
            duration: Percentiles::of(durations),
            models,
        }
    }
}

fn model_of(span: &Span) -> ModelInfo {
    span.model.clone().unwrap_or_else(|| {
        let id = span
            .input
            .get("model")
            .and_then(|m| m.as_str())
            .unwrap_or("unknown");
        ModelInfo::new("unknown", id)
    })
}

fn model_stats(model: ModelInfo, spans: &[&Span]) -> Option<ModelStats> {
    let mut tokens = TokenTotals::default();
    for usage in spans
        .iter()
        .filter_map(|s| s.response().and_then(|r| r.usage))
    {
        tokens.calls_with_usage += 1;
        tokens.input = tokens.input.saturating_add(usage.input_tokens);
        tokens.output = tokens.output.saturating_add(usage.output_tokens);
    }
    let count_status = |status| spans.iter().filter(|s| s.status == status).count();
    Some(ModelStats {
        calls: spans.len(),
        streamed: spans.iter().filter(|s| s.streamed).count(),
        errors: count_status(SpanStatus::Error),
        cancelled: count_status(SpanStatus::Cancelled),
        ttft: Percentiles::of(spans.iter().filter_map(|s| s.timing.ttft_us)),
        duration: Percentiles::of(spans.iter().map(|s| s.timing.duration_us))?,
        tokens,
        model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_picks_measured_values() {
        let p = Percentiles::of(1..=100).unwrap();
        assert_eq!((p.p50_us, p.p95_us, p.max_us), (50, 95, 100));
        let one = Percentiles::of([7]).unwrap();
        assert_eq!(
            (one.count, one.p50_us, one.p95_us, one.max_us),
            (1, 7, 7, 7)
        );
        // 20 values: p95 is the 19th, not the max.
        let p = Percentiles::of((1..=20).rev()).unwrap();
        assert_eq!((p.p50_us, p.p95_us, p.max_us), (10, 19, 20));
    }
}
