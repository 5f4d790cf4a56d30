//! Where the cassettes are: a local folder ([`Store`]) or, with the
//! `object-store` feature, a bucket ([`ObjectStoreCassettes`]) named by a
//! URL such as `s3://bucket/prefix`. Every command goes through
//! [`Cassettes`], one type over both, so no command is written twice.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use tracedeck::cassette::{CassetteError, KeyListing, KeyTraces, Store, StoredTrace, VerifyReport};

use crate::error::CliError;

/// What `--dir` (or a command's folder argument) names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A cassette folder on this machine.
    Folder(PathBuf),
    /// An object-store URL (`scheme://...`), opened with the `object-store`
    /// feature.
    Url(String),
}

impl FromStr for Location {
    type Err = Infallible;

    /// A URL when it starts with a scheme of two or more letters and `://`
    /// (so a Windows path like `C:\cassettes` stays a folder); else a folder.
    fn from_str(text: &str) -> Result<Self, Infallible> {
        let is_url = text.split_once("://").is_some_and(|(scheme, _)| {
            scheme.len() >= 2
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        });
        Ok(if is_url {
            Self::Url(text.to_owned())
        } else {
            Self::Folder(PathBuf::from(text))
        })
    }
}

/// The cassettes a command reads: a local [`Store`], or a prefix of an
/// object store. Paths in what it returns name a file on this machine, or
/// the object by its full URL (`s3://bucket/prefix/key/<hash>.json`);
/// errors from the library name an object by its location in the bucket
/// (`prefix/key/<hash>.json`). A bucket is not checked for holding several
/// stores, as a folder is: a nested store's cassettes show up as key
/// mismatches, with the hint `ls` and `verify` give for those.
#[derive(Debug)]
pub enum Cassettes {
    /// A folder.
    Local(Store),
    /// A bucket's prefix.
    #[cfg(feature = "object-store")]
    Remote(remote::Remote),
}

impl Cassettes {
    /// The local store, if the cassettes are in a folder.
    pub fn local(&self) -> Option<&Store> {
        match self {
            Self::Local(store) => Some(store),
            #[cfg(feature = "object-store")]
            Self::Remote(_) => None,
        }
    }

    /// The folder, or the URL as given (less a trailing `/`), for messages.
    pub fn dir(&self) -> &Path {
        match self {
            Self::Local(store) => store.dir(),
            #[cfg(feature = "object-store")]
            Self::Remote(remote) => remote.url(),
        }
    }

    /// Every key with at least one cassette, sorted.
    pub fn keys(&self) -> Result<Vec<String>, CassetteError> {
        match self {
            Self::Local(store) => store.keys(),
            #[cfg(feature = "object-store")]
            Self::Remote(remote) => remote.keys(),
        }
    }

    /// The cassettes of `key`, loaded and checked, in content order.
    pub fn traces(&self, key: &str) -> Result<KeyTraces, CassetteError> {
        match self {
            Self::Local(store) => store.traces(key),
            #[cfg(feature = "object-store")]
            Self::Remote(remote) => remote.traces(key),
        }
    }

    /// The cassette files of `key` with sizes and times, not decoded.
    pub fn list(&self, key: &str) -> Result<KeyListing, CassetteError> {
        match self {
            Self::Local(store) => store.list(key),
            #[cfg(feature = "object-store")]
            Self::Remote(remote) => remote.list(key),
        }
    }

    /// The cassette whose hash is or starts with `hash`.
    pub fn load(&self, hash: &str) -> Result<StoredTrace, CassetteError> {
        match self {
            Self::Local(store) => store.load(hash),
            #[cfg(feature = "object-store")]
            Self::Remote(remote) => remote.load(hash),
        }
    }

    /// Every cassette checked: hash, format, key folder, secrets.
    pub fn verify(&self) -> Result<VerifyReport, CassetteError> {
        match self {
            Self::Local(store) => Ok(store.verify()),
            #[cfg(feature = "object-store")]
            Self::Remote(remote) => remote.verify(),
        }
    }
}

/// Opens the object store `url` names (feature `object-store`).
#[cfg(feature = "object-store")]
pub fn open_url(url: &str) -> Result<Cassettes, CliError> {
    remote::Remote::open(url).map(Cassettes::Remote)
}

/// Without the `object-store` feature, a URL is an error saying how to get it.
#[cfg(not(feature = "object-store"))]
pub fn open_url(url: &str) -> Result<Cassettes, CliError> {
    Err(CliError::ObjectStoreDisabled {
        url: url.to_owned(),
    })
}

#[cfg(feature = "object-store")]
pub mod remote {
    //! The object-store side of [`Cassettes`](super::Cassettes).

    use std::future::Future;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use object_store::ObjectStoreScheme;
    use tracedeck::cassette::{
        CassetteError, KeyListing, KeyTraces, ObjectStoreCassettes, StoredTrace, VerifyReport,
    };
    use url::Url;

    use crate::error::CliError;

    /// The environment variables read for each kind of URL: those whose
    /// names start with the prefix, as object_store's `from_env` builders
    /// read them (`AWS_ACCESS_KEY_ID` is the option `aws_access_key_id`).
    fn env_prefix(scheme: &ObjectStoreScheme) -> Option<&'static str> {
        match scheme {
            ObjectStoreScheme::AmazonS3 => Some("AWS_"),
            ObjectStoreScheme::GoogleCloudStorage => Some("GOOGLE_"),
            ObjectStoreScheme::MicrosoftAzure => Some("AZURE_"),
            _ => None,
        }
    }

    /// Cassettes under a prefix of an object store, read through a
    /// current-thread tokio runtime of the command's own.
    pub struct Remote {
        cassettes: ObjectStoreCassettes,
        runtime: tokio::runtime::Runtime,
        /// The URL as given, less a trailing `/`.
        url: PathBuf,
        /// What an object's location (which includes the prefix) is joined
        /// to for its full URL: `s3://bucket`, `file://`.
        base: String,
    }

    impl std::fmt::Debug for Remote {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Remote")
                .field("url", &self.url)
                .field("cassettes", &self.cassettes)
                .finish_non_exhaustive()
        }
    }

    impl Remote {
        /// Opens `text`, an object-store URL, with credentials and settings
        /// from the environment. Nothing is requested until a command reads.
        pub fn open(text: &str) -> Result<Self, CliError> {
            let bad = |problem: String| CliError::ObjectStoreUrl {
                url: text.to_owned(),
                problem,
            };
            let url = Url::parse(text).map_err(|e| bad(e.to_string()))?;
            let (scheme, _) = ObjectStoreScheme::parse(&url).map_err(|e| {
                bad(format!(
                    "{e}; use s3://bucket/prefix, gs://bucket/prefix, az://container/prefix or file:///absolute/folder"
                ))
            })?;
            match scheme {
                ObjectStoreScheme::Memory => {
                    return Err(bad(
                        "memory:// is a store inside one process: a new `tracedeck` run would always find it empty".into(),
                    ));
                }
                ObjectStoreScheme::Http => {
                    return Err(bad(
                        "plain http(s):// object stores are not supported; for an S3-compatible server use s3://bucket/prefix with AWS_ENDPOINT_URL".into(),
                    ));
                }
                _ => {}
            }
            let options: Vec<(String, String)> = match env_prefix(&scheme) {
                Some(prefix) => std::env::vars()
                    .filter(|(name, _)| name.starts_with(prefix))
                    .map(|(name, value)| (name.to_ascii_lowercase(), value))
                    .collect(),
                None => Vec::new(),
            };
            // object_store's HTTP client is rustls without a default crypto
            // provider: use ring (an error means one is already installed).
            let _ = rustls::crypto::ring::default_provider().install_default();
            let (store, prefix) =
                object_store::parse_url_opts(&url, options).map_err(|e| bad(e.to_string()))?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| bad(format!("could not start the async runtime: {e}")))?;
            let base = url[..url::Position::BeforePath].to_owned();
            Ok(Self {
                cassettes: ObjectStoreCassettes::new(Arc::from(store), prefix.as_ref()),
                runtime,
                url: PathBuf::from(text.trim_end_matches('/')),
                base,
            })
        }

        /// The URL as given, less a trailing `/`.
        pub fn url(&self) -> &Path {
            &self.url
        }

        fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
            self.runtime.block_on(future)
        }

        /// The full URL of the object at `location` (bucket-relative).
        fn full(&self, location: &Path) -> PathBuf {
            PathBuf::from(format!("{}/{}", self.base, location.display()))
        }

        fn full_trace(&self, mut stored: StoredTrace) -> StoredTrace {
            stored.path = self.full(&stored.path);
            stored
        }

        pub fn keys(&self) -> Result<Vec<String>, CassetteError> {
            self.block_on(self.cassettes.keys())
        }

        pub fn traces(&self, key: &str) -> Result<KeyTraces, CassetteError> {
            let mut found = self.block_on(self.cassettes.traces(key))?;
            found.traces = found
                .traces
                .into_iter()
                .map(|t| self.full_trace(t))
                .collect();
            Ok(found)
        }

        pub fn list(&self, key: &str) -> Result<KeyListing, CassetteError> {
            let mut listing = self.block_on(self.cassettes.list(key))?;
            for file in &mut listing.files {
                file.path = self.full(&file.path);
            }
            Ok(listing)
        }

        pub fn load(&self, hash: &str) -> Result<StoredTrace, CassetteError> {
            match self.block_on(self.cassettes.load(hash)) {
                Ok(stored) => Ok(self.full_trace(stored)),
                Err(CassetteError::NotFound { hash, .. }) => Err(CassetteError::NotFound {
                    hash,
                    dir: self.url.clone(),
                }),
                Err(CassetteError::AmbiguousHash { prefix, matches }) => {
                    Err(CassetteError::AmbiguousHash {
                        prefix,
                        matches: matches.iter().map(|m| self.full(m)).collect(),
                    })
                }
                Err(e) => Err(e),
            }
        }

        pub fn verify(&self) -> Result<VerifyReport, CassetteError> {
            let mut report = self.block_on(self.cassettes.verify())?;
            for file in &mut report.files {
                file.path = self.full(&file.path);
            }
            Ok(report)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Location {
        text.parse().unwrap_or_else(|e: Infallible| match e {})
    }

    #[test]
    fn urls_are_told_from_folders_by_their_scheme() {
        for url in [
            "s3://bucket/prefix",
            "gs://bucket",
            "az://container/p",
            "file:///tmp/c",
            "memory:///",
        ] {
            assert_eq!(parse(url), Location::Url(url.to_owned()), "{url}");
        }
        for folder in [
            "cassettes",
            "/abs/cassettes",
            r"C:\cassettes",
            "C://cassettes",
            "weird name://x",
            "./s3:/bucket",
        ] {
            assert_eq!(
                parse(folder),
                Location::Folder(PathBuf::from(folder)),
                "{folder}"
            );
        }
    }
}
