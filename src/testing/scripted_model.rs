use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;
use futures::stream;
use tokio::time::{Instant, sleep_until};

use super::script::{Script, Step};
use crate::model::{
    Model, ModelError, ModelInfo, ModelRequest, ModelResponse, PartStream, ResponseAccumulator,
};

type ScriptFn = dyn Fn(&ModelRequest) -> Script + Send + Sync;

/// A [`Model`] whose every call follows a [`Script`], exactly on tokio's clock.
///
/// One script for every call ([`new`](ScriptedModel::new)), or one chosen per
/// request ([`from_fn`](ScriptedModel::from_fn)), e.g. to echo a marker from
/// the prompt. Under a paused clock (`#[tokio::test(start_paused = true)]`)
/// every delay is virtual: instant and exact.
#[derive(Clone)]
pub struct ScriptedModel {
    info: ModelInfo,
    script: Arc<ScriptFn>,
    requests: Arc<Mutex<Vec<ModelRequest>>>,
}

impl std::fmt::Debug for ScriptedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedModel")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl ScriptedModel {
    /// Every call follows `script`.
    pub fn new(script: Script) -> Self {
        Self::from_fn(move |_| script.clone())
    }

    /// Each call follows the script `f` returns for its request.
    pub fn from_fn(f: impl Fn(&ModelRequest) -> Script + Send + Sync + 'static) -> Self {
        Self {
            info: ModelInfo::new("scripted", "scripted-model"),
            script: Arc::new(f),
            requests: Arc::default(),
        }
    }

    /// Reports `info` as the model's provider and id.
    pub fn with_info(mut self, info: ModelInfo) -> Self {
        self.info = info;
        self
    }

    /// Every request received so far, in call order.
    pub fn requests(&self) -> Vec<ModelRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn script_for(&self, req: ModelRequest) -> Script {
        let script = (self.script)(&req);
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(req);
        script
    }
}

impl Model for ScriptedModel {
    fn info(&self) -> ModelInfo {
        self.info.clone()
    }

    fn generate(&self, req: ModelRequest) -> BoxFuture<'static, Result<ModelResponse, ModelError>> {
        let start = Instant::now();
        let script = self.script_for(req);
        let info = self.info.clone();
        Box::pin(async move {
            sleep_until(start + script.duration()).await;
            if let Some(err) = script.open_error {
                return Err(err);
            }
            let mut acc = ResponseAccumulator::new(info);
            for step in &script.steps {
                match step {
                    Step::Part { part, .. } => acc.push(part),
                    Step::Error { error, .. } => return Err(error.clone()),
                }
            }
            Ok(script.response.unwrap_or_else(|| acc.finish()))
        })
    }

    fn stream(&self, req: ModelRequest) -> BoxFuture<'static, Result<PartStream, ModelError>> {
        let start = Instant::now();
        let script = self.script_for(req);
        Box::pin(async move {
            let opened = start + script.open_delay;
            sleep_until(opened).await;
            if let Some(err) = script.open_error {
                return Err(err);
            }
            let steps = script.steps.into_iter();
            let parts = stream::unfold(
                (steps, opened, false),
                |(mut steps, at, failed)| async move {
                    if failed {
                        return None;
                    }
                    let step = steps.next()?;
                    let at = at + step.delay();
                    sleep_until(at).await;
                    Some(match step {
                        Step::Part { part, .. } => (Ok(part), (steps, at, false)),
                        Step::Error { error, .. } => (Err(error), (steps, at, true)),
                    })
                },
            );
            Ok(Box::pin(parts) as PartStream)
        })
    }
}
