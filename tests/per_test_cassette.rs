//! Per-test cassettes with `#[tracedeck::test]`: the example to copy.
//!
//! Each test below gets a model backed by its own cassette, the key
//! `per_test_cassette/<test name>` (this file's name, then the function's)
//! under `tests/cassettes/`. The cassettes are committed, so:
//!
//! - `cargo test` on CI (`CI` set) replays them on a paused clock: no
//!   network, no API key, recorded timing exact;
//! - locally (Auto mode) a call that is recorded is replayed and a new one
//!   goes to the live model and is recorded next to the others;
//! - `TRACEDECK_MODE=record cargo test --test per_test_cassette` records all
//!   of them again, replacing the old cassettes.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tracedeck::{Model, ModelError, ModelRequest, Script, ScriptedModel, StreamPart};

/// The code under test: asks for the capital of `country`, streaming.
async fn capital_of(model: &dyn Model, country: &str) -> Result<String, ModelError> {
    let request = ModelRequest::new("gpt-4o-mini")
        .system("Answer with the city name only.")
        .user(format!("What is the capital of {country}?"));
    let mut parts = model.stream(request).await?;
    let mut answer = String::new();
    while let Some(part) = parts.next().await {
        if let StreamPart::TextDelta { text } = part? {
            answer.push_str(&text);
        }
    }
    Ok(answer)
}

/// The model the cassettes are recorded from, built only when a call goes
/// live. In a real project: `OpenAi::from_env("gpt-4o-mini")`. Here a script
/// answering from a tiny atlas, so anyone can record the same cassettes.
fn live_model() -> ScriptedModel {
    ScriptedModel::from_fn(|request| {
        let question = serde_json::to_string(&request.messages).unwrap_or_default();
        let city = [("France", "Paris"), ("Japan", "Tokyo"), ("Peru", "Lima")]
            .into_iter()
            .find(|(country, _)| question.contains(country))
            .map_or("I do not know", |(_, city)| city);
        Script::new()
            .open_after(Duration::from_millis(40))
            .part(StreamPart::StreamStart)
            .part_after(Duration::from_millis(25), StreamPart::text(city))
    })
}

// The model comes in as an argument; the mode comes from the environment.
#[tracedeck::test(live = live_model())]
async fn answers_with_the_capital(model: Arc<dyn Model>) {
    let answer = capital_of(model.as_ref(), "France").await.unwrap();
    assert_eq!(answer, "Paris");
}

// A test may return a `Result`: an `Err` fails it, and `?` works.
#[tracedeck::test(live = live_model())]
async fn several_calls_in_one_test(model: Arc<dyn Model>) -> Result<(), ModelError> {
    assert_eq!(capital_of(model.as_ref(), "Japan").await?, "Tokyo");
    assert_eq!(capital_of(model.as_ref(), "Peru").await?, "Lima");
    Ok(())
}

// Tests made by a macro get the cassette of the name the macro gives them:
// `per_test_cassette/capital_of_japan`, `per_test_cassette/capital_of_peru`.
macro_rules! capital_case {
    ($name:ident, $country:literal, $city:literal) => {
        #[tracedeck::test(live = live_model())]
        async fn $name(model: Arc<dyn Model>) -> Result<(), ModelError> {
            assert_eq!(capital_of(model.as_ref(), $country).await?, $city);
            Ok(())
        }
    };
}

capital_case!(capital_of_japan, "Japan", "Tokyo");
capital_case!(capital_of_peru, "Peru", "Lima");
