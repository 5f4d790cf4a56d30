use std::time::Duration;

use crate::model::{ModelError, ModelResponse, StreamPart};

/// One step of a [`Script`]'s stream: after `delay` (from the previous
/// step's instant, the first from the stream opening), yield a part or fail.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Step {
    /// Yield `part` after `delay`.
    Part {
        /// Wait before the part.
        delay: Duration,
        /// The part.
        part: StreamPart,
    },
    /// Yield `error` after `delay` and end the stream.
    Error {
        /// Wait before the error.
        delay: Duration,
        /// The error.
        error: ModelError,
    },
}

impl Step {
    /// The step's delay.
    pub fn delay(&self) -> Duration {
        match self {
            Step::Part { delay, .. } | Step::Error { delay, .. } => *delay,
        }
    }
}

/// What a [`ScriptedModel`](crate::ScriptedModel) does on a call, exactly, on
/// tokio's clock.
///
/// `stream`: wait [`open_after`](Script::open_after) (or fail to open), then
/// play the steps, each after its delay. Steps are timed from the stream's
/// opening like a server pushing at fixed times: a slow consumer does not
/// shift them. `generate`: wait the open delay plus every step's delay, then
/// answer [`respond_with`](Script::respond_with)'s response, or what the parts
/// add up to; a step error fails it.
///
/// ```
/// use std::time::Duration;
/// use tracedeck::{Script, StreamPart};
/// let script = Script::new()
///     .open_after(Duration::from_millis(800))
///     .part(StreamPart::StreamStart)
///     .part_after(Duration::from_millis(400), StreamPart::text("Hello"))
///     .part_after(Duration::from_millis(20), StreamPart::text(" world"));
/// assert_eq!(script.duration(), Duration::from_millis(1220));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script {
    /// How long opening the stream takes.
    pub open_delay: Duration,
    /// Opening fails with this error, after the open delay.
    pub open_error: Option<ModelError>,
    /// The stream's steps.
    pub steps: Vec<Step>,
    /// `generate`'s answer; `None` answers what the parts add up to.
    pub response: Option<ModelResponse>,
}

impl Script {
    /// An empty script: opens at once, yields nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// A script that opens at once and yields `text` as one text delta then a
    /// `stop` finish.
    pub fn text(text: impl Into<String>) -> Self {
        Self::new()
            .part(StreamPart::text(text))
            .part(StreamPart::finish(crate::model::FinishReason::stop()))
    }

    /// Opening the stream takes `delay`.
    pub fn open_after(mut self, delay: Duration) -> Self {
        self.open_delay = delay;
        self
    }

    /// Opening the stream fails with `error` (after the open delay).
    pub fn fail_to_open(mut self, error: ModelError) -> Self {
        self.open_error = Some(error);
        self
    }

    /// Yields `part` right after the previous step.
    pub fn part(self, part: StreamPart) -> Self {
        self.part_after(Duration::ZERO, part)
    }

    /// Yields `part` `delay` after the previous step.
    pub fn part_after(mut self, delay: Duration, part: StreamPart) -> Self {
        self.steps.push(Step::Part { delay, part });
        self
    }

    /// Fails with `error` `delay` after the previous step, ending the stream.
    pub fn error_after(mut self, delay: Duration, error: ModelError) -> Self {
        self.steps.push(Step::Error { delay, error });
        self
    }

    /// `generate` answers `response` instead of what the parts add up to.
    pub fn respond_with(mut self, response: ModelResponse) -> Self {
        self.response = Some(response);
        self
    }

    /// From the call to the last step.
    pub fn duration(&self) -> Duration {
        self.open_delay + self.steps.iter().map(Step::delay).sum::<Duration>()
    }

    /// The offset from the call of the first content part, if any comes before an error.
    pub fn expected_ttft(&self) -> Option<Duration> {
        if self.open_error.is_some() {
            return None;
        }
        let mut at = self.open_delay;
        for step in &self.steps {
            at += step.delay();
            match step {
                Step::Part { part, .. } if part.is_content() => return Some(at),
                Step::Part { .. } => {}
                Step::Error { .. } => return None,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn framing_then(content: StreamPart) -> Script {
        Script::new()
            .open_after(ms(800))
            .part(StreamPart::StreamStart)
            .part(StreamPart::RoleDelta {
                role: Role::Assistant,
            })
            .part_after(ms(100), StreamPart::text(""))
            .part_after(ms(300), content)
    }

    #[test]
    fn expected_ttft_is_the_first_content_step_from_the_call() {
        let script = framing_then(StreamPart::text("Hello"));
        assert_eq!(script.expected_ttft(), Some(ms(1_200)));
        assert_eq!(script.duration(), ms(1_200));
    }

    #[test]
    fn expected_ttft_is_none_without_content_or_when_an_error_comes_first() {
        assert_eq!(framing_then(StreamPart::KeepAlive).expected_ttft(), None);
        let failed_first = Script::new()
            .error_after(ms(5), ModelError::other("x"))
            .part(StreamPart::text("never"));
        assert_eq!(failed_first.expected_ttft(), None);
        let refused = framing_then(StreamPart::text("Hello")).fail_to_open(ModelError::other("x"));
        assert_eq!(refused.expected_ttft(), None);
    }

    #[test]
    fn text_is_one_delta_then_a_stop() {
        let script = Script::text("hi");
        assert_eq!(script.duration(), Duration::ZERO);
        assert_eq!(script.expected_ttft(), Some(Duration::ZERO));
        assert_eq!(script.steps.len(), 2);
    }
}
