//! `tracedeck proxy`: runs [`tracedeck_cli::proxy`] until Ctrl-C.

use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use tracedeck::Mode;
use tracedeck::replay::Speed;
use tracedeck_cli::proxy::{self, ProxyConfig};

use crate::Outcome;
use crate::args::ProxyArgs;
use crate::error::CliError;
use crate::store::Location;

/// `--speed`: `instant`, or how many times faster than recorded to replay
/// (`2` twice as fast: every recorded offset divided by 2).
pub(crate) fn parse_speed(value: &str) -> Result<Speed, CliError> {
    let bad = |reason: String| CliError::BadOption {
        option: "--speed",
        value: value.to_owned(),
        reason,
    };
    let trimmed = value.trim();
    if trimmed.eq_ignore_ascii_case("instant") {
        return Ok(Speed::instant());
    }
    let factor: f64 = trimmed
        .parse()
        .map_err(|_| bad("must be `instant` or a number such as 0.5, 1 or 2".to_owned()))?;
    if factor == 0.0 {
        return Ok(Speed::instant());
    }
    if factor.is_nan() || factor < 0.0 {
        return Err(bad("must be a positive number, 0 or `instant`".to_owned()));
    }
    Speed::scaled(1.0 / factor).map_err(|e| bad(e.to_string()))
}

/// Runs the proxy over the cassette folder at `location`. The proxy records
/// through the local store's writer (atomic files, superseding, the usage
/// ledger), so an object-store URL is [`CliError::NotOnObjectStorage`].
pub(crate) fn run(
    location: &Location,
    args: &ProxyArgs,
    out: &mut dyn Write,
) -> Result<Outcome, CliError> {
    let dir: &Path = match location {
        Location::Folder(dir) => dir,
        Location::Url(url) => {
            return Err(CliError::NotOnObjectStorage {
                command: "proxy",
                url: url.into(),
                why: "the proxy records through the local store (atomic files, superseding \
                      re-recordings); run it on a folder and copy the cassettes to the bucket",
            });
        }
    };
    let mode = match &args.mode {
        Some(mode) => Mode::from_str(mode).map_err(|e| CliError::BadOption {
            option: "--mode",
            value: mode.clone(),
            reason: e.to_string(),
        })?,
        None => Mode::from_env().map_err(|e| CliError::BadOption {
            option: "TRACEDECK_MODE",
            value: std::env::var(Mode::ENV_VAR).unwrap_or_default(),
            reason: e.to_string(),
        })?,
    };
    let mut config = ProxyConfig::new(dir, mode)
        .listen(args.listen)
        .speed(parse_speed(&args.speed)?)
        .default_key(args.key.clone());
    config.upstream = args.upstream.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let handle = proxy::serve(config).await?;
        writeln!(
            out,
            "tracedeck proxy: {mode} mode, cassettes in {}, listening on {}{}",
            dir.display(),
            handle.url(),
            match &args.upstream {
                Some(u) => format!(", forwarding to {u}"),
                None => String::new(),
            }
        )?;
        writeln!(
            out,
            "  OpenAI base URL {0}/v1 · Anthropic base URL {0} · key header {1} or path {2}<key>/v1/...; Ctrl-C stops",
            handle.url(),
            proxy::KEY_HEADER,
            proxy::KEY_PREFIX
        )?;
        out.flush()?;
        tokio::signal::ctrl_c().await?;
        let report = handle.shutdown().await;
        if report.is_clean() {
            Ok(Outcome::Clean)
        } else {
            Err(CliError::Lost {
                lost: report.lost,
                reasons: report
                    .errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_takes_instant_zero_and_factors() {
        assert!(parse_speed("instant").unwrap().is_instant());
        assert!(parse_speed("0").unwrap().is_instant());
        assert_eq!(parse_speed("2.0").unwrap(), Speed::scaled(0.5).unwrap());
        assert_eq!(parse_speed("0.5").unwrap(), Speed::scaled(2.0).unwrap());
        assert_eq!(parse_speed("1").unwrap(), Speed::scaled(1.0).unwrap());
        assert!(parse_speed("-1").is_err());
        assert!(parse_speed("fast").is_err());
        assert!(parse_speed("NaN").is_err());
    }
}
