//! `with_span_result`: a span around a `Result` whose error is any `Display`
//! (io::Error, anyhow, `Box<dyn Error>`), recorded as status error with its
//! message and source chain (issue 11 item 8).

use std::fmt;

use serde_json::json;

use std::error::Error;
use std::future::Future;

use tracedeck::context::with_span_result;
use tracedeck::span::{Span, SpanStatus};
use tracedeck::testing::run_paused;
use tracedeck::{
    Collector, Model, ModelError, ModelRequest, Recorder, Script, ScriptedModel, with_span,
};

/// An error with a source, as a `thiserror` `#[source]` field gives.
#[derive(Debug)]
struct Layered {
    message: &'static str,
    source: Option<Box<Layered>>,
}

impl fmt::Display for Layered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

impl Error for Layered {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn Error + 'static))
    }
}

fn chain() -> Layered {
    Layered {
        message: "could not load the prompt",
        source: Some(Box::new(Layered {
            message: "prompts/a.txt is unreadable",
            source: Some(Box::new(Layered {
                message: "permission denied",
                source: None,
            })),
        })),
    }
}

/// The root span of the one trace recorded by running `body` (after one
/// model call, so the trace reaches the collector) inside `wrap`.
fn root_of<O>(wrap: impl FnOnce(Recorder<ScriptedModel>) -> O) -> Span
where
    O: Future,
{
    run_paused(async move {
        let traces = Collector::new();
        let model = Recorder::new(ScriptedModel::new(Script::text("ok")), traces.clone());
        wrap(model).await;
        let traces = traces.traces();
        assert_eq!(traces.len(), 1);
        traces[0].root().clone()
    })
}

#[test]
fn an_io_error_is_recorded_as_an_error_with_its_source_chain() {
    let root = root_of(|model| {
        with_span_result("load", "a.txt", async move {
            model
                .generate(ModelRequest::new("m").user("hi"))
                .await
                .unwrap();
            Err::<String, _>(std::io::Error::other(chain()))
        })
    });
    assert_eq!(root.status, SpanStatus::Error);
    let sources = ["prompts/a.txt is unreadable", "permission denied"];
    assert_eq!(
        root.output,
        Some(json!({"Err": {"message": "could not load the prompt", "sources": sources}}).into())
    );
    assert_eq!(
        root.error,
        Some(ModelError::other(
            "could not load the prompt: prompts/a.txt is unreadable: permission denied"
        ))
    );
}

#[test]
fn a_boxed_dyn_error_keeps_its_chain() {
    let root = root_of(|model| {
        with_span_result("load", "a.txt", async move {
            model
                .generate(ModelRequest::new("m").user("hi"))
                .await
                .unwrap();
            let err: Box<dyn Error + Send + Sync> = Box::new(chain());
            Err::<u32, _>(err)
        })
    });
    assert_eq!(root.status, SpanStatus::Error);
    assert_eq!(
        root.output.unwrap()["Err"]["sources"],
        json!(["prompts/a.txt is unreadable", "permission denied"])
    );
}

#[test]
fn a_display_only_error_records_its_message() {
    let root = root_of(|model| {
        with_span_result("load", "a.txt", async move {
            model
                .generate(ModelRequest::new("m").user("hi"))
                .await
                .unwrap();
            Err::<(), _>(chain())
        })
    });
    assert_eq!(root.status, SpanStatus::Error);
    assert_eq!(
        root.output,
        Some(json!({"Err": {"message": "could not load the prompt", "sources": []}}).into())
    );
}

#[test]
fn ok_is_recorded_as_with_span_records_it() {
    let via_result = root_of(|model| {
        with_span_result("k", "in", async move {
            let reply = model.generate(ModelRequest::new("m").user("hi")).await;
            reply.map(|r| r.text).map_err(std::io::Error::other)
        })
    });
    let via_serialize = root_of(|model| {
        with_span("k", "in", async move {
            let reply = model.generate(ModelRequest::new("m").user("hi")).await;
            reply.map(|r| r.text)
        })
    });
    assert_eq!(via_result.status, SpanStatus::Ok);
    assert_eq!(via_result.output, Some(json!({"Ok": "ok"}).into()));
    assert_eq!(via_result.output, via_serialize.output);
    assert_eq!(via_result.error, None);
}

#[test]
fn a_serializable_err_is_still_recorded_as_serde_writes_it() {
    let root = root_of(|model| {
        with_span("k", "in", async move {
            model
                .generate(ModelRequest::new("m").user("hi"))
                .await
                .unwrap();
            Err::<String, _>(ModelError::other("no"))
        })
    });
    assert_eq!(root.status, SpanStatus::Error);
    assert_eq!(
        root.output,
        Some(json!({"Err": {"type": "other", "message": "no"}}).into())
    );
    assert_eq!(root.error, None);
}

/// An error shaped like `anyhow::Error`: its plain form is the outer message,
/// its alternate form (`{:#}`) the whole chain; it is no `std::error::Error`.
struct AnyhowLike;

impl fmt::Display for AnyhowLike {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            f.write_str("could not load the prompt: prompts/a.txt: permission denied")
        } else {
            f.write_str("could not load the prompt")
        }
    }
}

#[test]
fn an_anyhow_like_error_keeps_the_chain_its_alternate_form_shows() {
    let root = root_of(|model| async move {
        let _: Result<(), AnyhowLike> = with_span_result("load", "a.txt", async move {
            model
                .generate(ModelRequest::new("m").user("hi"))
                .await
                .unwrap();
            Err(AnyhowLike)
        })
        .await;
    });
    assert_eq!(root.status, SpanStatus::Error);
    let err = &root.output.as_ref().unwrap()["Err"];
    assert_eq!(err["message"], "could not load the prompt");
    assert_eq!(err["sources"], json!(["prompts/a.txt: permission denied"]));
    assert_eq!(
        root.error.unwrap().to_string(),
        "could not load the prompt: prompts/a.txt: permission denied"
    );
}
