//! `tracing` callsites whose span name is chosen at run time.
//!
//! A `tracing` span's name is part of its static [`Metadata`], which the
//! `span!` macros fix at compile time. The GenAI conventions name a span
//! `{operation} {model}` and a task span is named by its key, so each
//! distinct name gets a callsite of its own, made once, leaked (callsites
//! live for the whole program, as the macros' statics do) and registered
//! with `tracing`. Names are few in practice (keys and model ids); past
//! [`MAX_NAMES`] distinct names, spans share one callsite named
//! [`FALLBACK_NAME`], and every span also carries its name in the
//! `otel.name` field, so nothing is lost and memory stays bounded.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use tracing_core::callsite::{Callsite, DefaultCallsite};
use tracing_core::field::FieldSet;
use tracing_core::metadata::Kind;
use tracing_core::subscriber::Interest;
use tracing_core::{Level, Metadata};

/// The target of every exported span, for filters (`tracedeck::export=info`).
pub(crate) const TARGET: &str = "tracedeck::export";

/// The level of every exported span.
pub(crate) const LEVEL: Level = Level::INFO;

/// The most distinct span names that get a callsite of their own.
pub(crate) const MAX_NAMES: usize = 1024;

/// The name of the shared callsite used past [`MAX_NAMES`].
pub(crate) const FALLBACK_NAME: &str = "tracedeck.span";

/// Every field an exported span can carry, in the order of
/// [`Field`](super::tracing_sink::Field). One list for tasks and calls: a
/// field a span does not know is left empty.
pub(crate) const FIELDS: &[&str] = &[
    "otel.name",
    "otel.kind",
    "otel.status_code",
    "error.type",
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.request.temperature",
    "gen_ai.request.max_tokens",
    "gen_ai.request.top_p",
    "gen_ai.request.top_k",
    "gen_ai.request.seed",
    "gen_ai.request.frequency_penalty",
    "gen_ai.request.presence_penalty",
    "gen_ai.request.stop_sequences",
    "gen_ai.response.id",
    "gen_ai.response.model",
    "gen_ai.response.finish_reasons",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.response.time_to_first_chunk",
    "tracedeck.key",
    "tracedeck.span_id",
    "tracedeck.status",
    "tracedeck.start_us",
    "tracedeck.duration_us",
];

/// How many fields there are.
pub(crate) const FIELD_COUNT: usize = FIELDS.len();

static FALLBACK_CALLSITE: DefaultCallsite = DefaultCallsite::new(&FALLBACK_META);
static FALLBACK_META: Metadata<'static> = Metadata::new(
    FALLBACK_NAME,
    TARGET,
    LEVEL,
    None,
    None,
    Some(TARGET),
    FieldSet::new(FIELDS, tracing_core::identify_callsite!(&FALLBACK_CALLSITE)),
    Kind::SPAN,
);

/// A callsite made at run time for one span name.
struct NamedCallsite {
    meta: OnceLock<Metadata<'static>>,
}

impl Callsite for NamedCallsite {
    /// Interest is asked of the dispatcher each time a span is made
    /// ([`metadata_for`] callers check `enabled`), so none is cached here.
    fn set_interest(&self, _interest: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        // Set before the callsite is registered or handed out.
        self.meta.get().unwrap_or(&FALLBACK_META)
    }
}

/// Span names and the metadata of their callsites.
type Names = Mutex<HashMap<String, &'static Metadata<'static>>>;

/// The metadata of spans named `name`, made and registered on first use.
pub(crate) fn metadata_for(name: &str) -> &'static Metadata<'static> {
    static NAMES: OnceLock<Names> = OnceLock::new();
    metadata_in(NAMES.get_or_init(Names::default), name, MAX_NAMES)
}

/// [`metadata_for`] over the callsites in `names`, holding at most `max`.
fn metadata_in(names: &Names, name: &str, max: usize) -> &'static Metadata<'static> {
    let mut names = names.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(meta) = names.get(name) {
        return meta;
    }
    if names.len() >= max {
        FALLBACK_CALLSITE.register();
        return &FALLBACK_META;
    }
    let callsite: &'static NamedCallsite = Box::leak(Box::new(NamedCallsite {
        meta: OnceLock::new(),
    }));
    let static_name: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let meta = callsite.meta.get_or_init(|| {
        Metadata::new(
            static_name,
            TARGET,
            LEVEL,
            None,
            None,
            Some(TARGET),
            FieldSet::new(FIELDS, tracing_core::identify_callsite!(callsite)),
            Kind::SPAN,
        )
    });
    tracing_core::callsite::register(callsite);
    names.insert(name.to_owned(), meta);
    meta
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_name_one_callsite() {
        let a = metadata_for("chat unit-test-model");
        let b = metadata_for("chat unit-test-model");
        assert!(std::ptr::eq(a, b));
        assert_eq!(a.name(), "chat unit-test-model");
        assert_eq!(a.target(), TARGET);
        assert_eq!(a.fields().len(), FIELD_COUNT);
        assert!(a.is_span());
        let other = metadata_for("chat another-unit-test-model");
        assert!(!std::ptr::eq(a, other));
        assert_ne!(a.callsite(), other.callsite());
    }

    #[test]
    fn past_the_cap_names_share_the_fallback_callsite() {
        let names = Names::default();
        let a = metadata_in(&names, "task-a", 2);
        let b = metadata_in(&names, "task-b", 2);
        let c = metadata_in(&names, "task-c", 2);
        assert_eq!((a.name(), b.name()), ("task-a", "task-b"));
        assert_eq!(c.name(), FALLBACK_NAME);
        assert_eq!(c.fields().len(), FIELD_COUNT);
        // Names made before the cap keep their own callsite.
        assert!(std::ptr::eq(metadata_in(&names, "task-a", 2), a));
        assert_eq!(names.lock().unwrap().len(), 2);
    }
}
