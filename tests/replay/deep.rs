//! A request nested deeper than any cassette can hold is a miss, never a
//! stack overflow, whichever API plays it back.

use serde_json::{Value, json};
use tracedeck::model::ModelError;
use tracedeck::{Model, ModelRequest, Player, Script, ScriptedModel, with_span};

/// `[[[ ... 0 ... ]]]`, `depth` arrays deep, built without recursion.
fn deep_value(depth: usize) -> Value {
    let mut value = json!(0);
    for _ in 0..depth {
        value = Value::Array(vec![value]);
    }
    value
}

#[test]
fn a_request_too_deep_to_record_is_a_miss_on_replay() {
    tracedeck::testing::run_paused(async {
        let traces = tracedeck::Collector::new();
        let model =
            tracedeck::Recorder::new(ScriptedModel::new(Script::text("ok")), traces.clone());
        with_span("turn", "in", async {
            model
                .generate(ModelRequest::new("m").user("hi"))
                .await
                .unwrap();
        })
        .await;
        let player = Player::from_traces("turn", traces.traces());
        for depth in [1_500, 10_000] {
            let req = ModelRequest::new("m")
                .user("hi")
                .extra("deep", deep_value(depth));
            let err = player.generate(req).await.unwrap_err();
            assert!(
                matches!(err, ModelError::CassetteMiss { .. }),
                "depth {depth}: {err:?}"
            );
        }
    });
}
