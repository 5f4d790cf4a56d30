//! Contract 9: replay needs no credentials (issue 12, item 6).
//!
//! `OpenAi::from_env(..)` (and the Responses and Anthropic adapters) no
//! longer fail when the key variable is missing: the first call that would
//! go to the network fails instead, with `AdapterError::MissingApiKey`
//! naming the variable. So the README's CI recipe — a `CassetteModel` in
//! front of `OpenAi::from_env(..)`, in the mode `CI` selects — replays on a
//! machine with no keys at all.
//!
//! The keyless part runs in a second process: this test binary again, with
//! its environment cleared but for `CI=true`, `PATH` and the folder to
//! replay, so no key the developer has set (and no other test) can leak in.

use std::path::Path;
use std::process::Command;

use futures::StreamExt;
use tracedeck::providers::{AdapterError, Anthropic, OpenAi, OpenAiResponses};
use tracedeck::testing::{Reply, SseServer};
use tracedeck::{CassetteModel, Mode, Model, ModelError, ModelRequest, StreamPart};

const README: &str = include_str!("../../README.md");

/// Tells the child process where the cassettes are (and that it is the child).
const CHILD_DIR: &str = "TRACEDECK_TEST_KEYLESS_DIR";
const CHILD_TEST: &str = "without_keys::keyless_child_replays_the_readme_ci_recipe";

const CHAT: &str = concat!(
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"A recording.\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: [DONE]\n\n",
);

const RESPONSES: &str = concat!(
    "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"model\":\"gpt-5-mini\"}}\n\n",
    "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[]}}\n\n",
    "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"output_index\":0,\"content_index\":0,\"delta\":\"A recording.\"}\n\n",
    "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"id\":\"msg_1\",\"type\":\"message\"}}\n\n",
    "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"usage\":{\"input_tokens\":5,\"output_tokens\":2}}}\n\n",
);

const MESSAGES: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-haiku-4-5\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"A recording.\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

/// The three adapters, by their API's name, and the model each is asked for.
const APIS: [(&str, &str); 3] = [
    ("chat", "gpt-4o-mini"),
    ("responses", "gpt-5-mini"),
    ("anthropic", "claude-haiku-4-5"),
];

fn request(model: &str) -> ModelRequest {
    ModelRequest::new(model).user("What is a cassette?")
}

/// Streams `req` through `model` and returns the text.
async fn text_of(model: &dyn Model, req: ModelRequest) -> Result<String, ModelError> {
    let mut parts = model.stream(req).await?;
    let mut text = String::new();
    while let Some(part) = parts.next().await {
        if let StreamPart::TextDelta { text: delta } = part? {
            text.push_str(&delta);
        }
    }
    Ok(text)
}

/// Records one call per adapter into `dir`, live against a loopback server
/// with an explicit key, on the real clock.
async fn record(dir: &Path) {
    for (api, model_id) in APIS {
        let body = match api {
            "chat" => CHAT,
            "responses" => RESPONSES,
            _ => MESSAGES,
        };
        let server = SseServer::serve(Reply::sse_events(body)).await.unwrap();
        let live: Box<dyn Model> = match api {
            "chat" => Box::new(
                OpenAi::new(model_id)
                    .api_key("sk-rec")
                    .base_url(server.url()),
            ),
            "responses" => Box::new(
                OpenAiResponses::new(model_id)
                    .api_key("sk-rec")
                    .base_url(server.url()),
            ),
            _ => Box::new(
                Anthropic::new(model_id)
                    .api_key("sk-ant-rec")
                    .base_url(server.url()),
            ),
        };
        let cassette = CassetteModel::at(dir)
            .mode(Mode::Record)
            .in_front_of(live)
            .unwrap();
        let text = text_of(&cassette, request(model_id)).await.unwrap();
        assert_eq!(text, "A recording.");
        let report = cassette.flush().await;
        assert!(report.is_clean(), "{report:?}");
    }
}

#[tokio::test]
async fn the_readme_ci_recipe_replays_with_the_environment_cleared_and_ci_set() {
    // The recipe tested below is the README's.
    for line in [
        "let live = OpenAi::from_env(\"gpt-4o-mini\")?;",
        "CassetteModel::at(\"tests/cassettes\").in_front_of(live)?",
        "The default is `Replay` when the `CI` variable is set",
    ] {
        assert!(README.contains(line), "the README no longer says {line:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    record(dir.path()).await;

    let output = Command::new(std::env::current_exe().unwrap())
        .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env_clear()
        .env("CI", "true")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(CHILD_DIR, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("keyless replay: 3 adapters served"),
        "the child did not run the recipe:\n{stdout}\n{stderr}"
    );
}

/// The child: runs only when the parent sets [`CHILD_DIR`]; passes
/// trivially otherwise.
#[tokio::test(start_paused = true)]
async fn keyless_child_replays_the_readme_ci_recipe() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    for variable in ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "TRACEDECK_MODE"] {
        assert!(std::env::var_os(variable).is_none(), "{variable} leaked in");
    }
    assert_eq!(std::env::var("CI").as_deref(), Ok("true"));

    let mut served = 0;
    for (api, model_id) in APIS {
        // The README's recipe, for each adapter: no key anywhere, the mode
        // from the environment.
        let live: Box<dyn Model> = match api {
            "chat" => Box::new(OpenAi::from_env(model_id).unwrap()),
            "responses" => Box::new(OpenAiResponses::from_env(model_id).unwrap()),
            _ => Box::new(Anthropic::from_env(model_id).unwrap()),
        };
        let model = CassetteModel::at(&dir).in_front_of(live).unwrap();
        assert_eq!(model.mode(), Mode::Replay);
        let text = text_of(&model, request(model_id)).await.unwrap();
        assert_eq!(text, "A recording.", "{api}");
        served += 1;
    }
    println!("keyless replay: {served} adapters served");

    // A call that would go to the network says which variable to set.
    let cases: [(Box<dyn Model>, AdapterError); 3] = [
        (
            Box::new(OpenAi::from_env("gpt-4o-mini").unwrap()),
            AdapterError::MissingApiKey {
                adapter: "OpenAi",
                variable: "OPENAI_API_KEY",
            },
        ),
        (
            Box::new(OpenAiResponses::from_env("gpt-5-mini").unwrap()),
            AdapterError::MissingApiKey {
                adapter: "OpenAiResponses",
                variable: "OPENAI_API_KEY",
            },
        ),
        (
            Box::new(Anthropic::from_env("claude-haiku-4-5").unwrap()),
            AdapterError::MissingApiKey {
                adapter: "Anthropic",
                variable: "ANTHROPIC_API_KEY",
            },
        ),
    ];
    for (live, expected) in cases {
        let err = live
            .generate(request("m"))
            .await
            .expect_err("no key, no call");
        assert_eq!(err, ModelError::from(expected.clone()));
        let streamed = text_of(&*live, request("m")).await.unwrap_err();
        assert_eq!(streamed, ModelError::from(expected));
    }
}
