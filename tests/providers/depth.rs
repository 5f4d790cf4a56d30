//! A request nested deeper than the depth limit is refused by the HTTP
//! adapters before anything is copied, encoded or sent: a typed error, never
//! a stack overflow in the caller's task (issue 11 item 3).

use serde_json::{Value, json};
use tracedeck::model::ModelError;
use tracedeck::{Anthropic, Model, ModelRequest, OpenAi, OpenAiResponses};

/// `[[[ ... 0 ... ]]]`, `depth` arrays deep, built without recursion.
fn deep_value(depth: usize) -> Value {
    let mut value = json!(0);
    for _ in 0..depth {
        value = Value::Array(vec![value]);
    }
    value
}

fn deep_request(depth: usize) -> ModelRequest {
    ModelRequest::new("m")
        .user("hi")
        .extra("deep", deep_value(depth))
}

fn assert_refused(result: Result<(), ModelError>, adapter: &str) {
    match result {
        Err(ModelError::Config { message }) => {
            assert!(message.contains("deeper than"), "{adapter}: {message}")
        }
        other => panic!("{adapter}: expected a Config error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_adapters_refuse_a_request_nested_past_the_limit() {
    // Nothing listens here: a refused request never reaches the network.
    let base = "http://127.0.0.1:9";
    let models: Vec<(&str, Box<dyn Model>)> = vec![
        (
            "OpenAi",
            Box::new(OpenAi::new("m").api_key("k").base_url(base)),
        ),
        (
            "OpenAiResponses",
            Box::new(OpenAiResponses::new("m").api_key("k").base_url(base)),
        ),
        (
            "Anthropic",
            Box::new(Anthropic::new("m").api_key("k").base_url(base)),
        ),
    ];
    for (name, model) in &models {
        for depth in [1_500, 10_000] {
            let generated = model.generate(deep_request(depth)).await.map(|_| ());
            assert_refused(generated, name);
            let streamed = model.stream(deep_request(depth)).await.map(|_| ());
            assert_refused(streamed, name);
        }
    }
}
