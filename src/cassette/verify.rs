use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use super::atomic::is_temp_name;
use super::error::CassetteError;
use super::format;
use super::index::{self, IndexCheck};
use super::key::validate_key;
use super::scan::{FoundFile, SYMLINK, scan};
use super::secrets::{SecretFinding, find_secrets, find_secrets_in_text};
use super::store::{Store, read_bounded};
use crate::json::{canonical_json, sha256_hex};

/// What [`Store::verify`] found, file by file.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Every cassette file (`*.json`) and leftover temporary file, in path order.
    pub files: Vec<FileReport>,
    /// Problems not about one file: folders that could not be read.
    pub errors: Vec<CassetteError>,
    /// How the lookup index compares with the files (see
    /// [`Store::rebuild_index`]). An index out of date makes lookups
    /// slower, never wrong, so it does not make the report unclean.
    pub index: IndexCheck,
}

/// What [`Store::verify`] found in one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// The key its folder stands for, if the folder is a valid key.
    pub key: Option<String>,
    /// The sha256 of its bytes, if it could be read.
    pub hash: Option<String>,
    /// Everything wrong with it; empty for a good cassette.
    pub problems: Vec<CassetteError>,
    /// Secret-looking strings in it.
    pub secrets: Vec<SecretFinding>,
}

impl FileReport {
    /// Whether the file is a good cassette with nothing secret-looking in it.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.secrets.is_empty()
    }
}

impl VerifyReport {
    /// Whether every file is a good cassette, none holds a secret-looking
    /// string, and every folder could be read.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty() && self.files.iter().all(FileReport::is_ok)
    }

    /// How many files were checked.
    pub fn checked(&self) -> usize {
        self.files.len()
    }

    /// The files with a problem or a secret.
    pub fn failing(&self) -> impl Iterator<Item = &FileReport> + '_ {
        self.files.iter().filter(|f| !f.is_ok())
    }

    /// Every problem, of files and folders.
    pub fn problems(&self) -> impl Iterator<Item = &CassetteError> + '_ {
        self.files
            .iter()
            .flat_map(|f| f.problems.iter())
            .chain(self.errors.iter())
    }

    /// Every secret-looking string, with its file.
    pub fn secrets(&self) -> impl Iterator<Item = (&Path, &SecretFinding)> + '_ {
        self.files
            .iter()
            .flat_map(|f| f.secrets.iter().map(move |s| (f.path.as_path(), s)))
    }
}

impl fmt::Display for VerifyReport {
    /// One line per problem and per secret, then a summary line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for error in &self.errors {
            writeln!(f, "error: {error}")?;
        }
        for file in &self.files {
            for problem in &file.problems {
                writeln!(f, "error: {problem}")?;
            }
            for secret in &file.secrets {
                writeln!(f, "secret: {}: {secret}", file.path.display())?;
            }
        }
        let bad = self.failing().count();
        write!(
            f,
            "{} files checked, {} ok, {} with problems",
            self.checked(),
            self.checked() - bad,
            bad
        )?;
        if !self.errors.is_empty() {
            write!(f, ", {} unreadable folders", self.errors.len())?;
        }
        Ok(())
    }
}

impl Store {
    /// Checks every file of the store, reporting per file.
    ///
    /// For each `*.json` file: it loads as [`load`](Store::load) would (name
    /// is the hash of the bytes, whole JSON, known format and version,
    /// well-formed trace, in its key's folder, the folder a valid key) and
    /// is byte-for-byte canonical; and every string in it is scanned for
    /// secret-looking values (see [`find_secrets`]). Temporary files left by
    /// interrupted writes are reported too, and so is every symbolic link
    /// and every entry named like a cassette or temporary file that is not a
    /// regular file (a FIFO, socket, device, or a folder named
    /// `<sha256>.json`): [`CassetteError::NotRegular`], never followed or
    /// opened. A file larger than [`Store::max_file_bytes`] is
    /// [`CassetteError::TooLarge`], not read. Other files (a README, say) are
    /// ignored. Never fails: an unreadable store folder is reported in
    /// [`VerifyReport::errors`]. Files are checked on as many threads as
    /// the machine has cores (at most 8) when there are hundreds of them.
    /// The lookup index is compared with the files too
    /// ([`VerifyReport::index`]), by names only.
    pub fn verify(&self) -> VerifyReport {
        let (files, errors) = match scan(self.dir()) {
            Ok(found) => found,
            Err(e) => {
                return VerifyReport {
                    files: Vec::new(),
                    errors: vec![e],
                    index: IndexCheck::default(),
                };
            }
        };
        let index = {
            let hashes: HashSet<&str> = files
                .iter()
                .filter(|f| f.folder_is_key)
                .filter_map(|f| {
                    f.name
                        .strip_suffix(".json")
                        .filter(|h| format::is_full_hash(h))
                })
                .collect();
            index::check(self.dir(), &hashes)
        };
        let mut report = VerifyReport {
            files: Vec::new(),
            errors,
            index,
        };
        let max_bytes = self.max_file_bytes();
        let mut cassettes = Vec::new();
        for file in files {
            if let Some(what) = file.not_regular {
                // Named like a cassette, or a link (perhaps to a key folder
                // out of the store): reported, never followed or opened.
                if what == SYMLINK || is_temp_name(&file.name) || file.name.ends_with(".json") {
                    report.files.push(FileReport {
                        key: file.folder_is_key.then(|| file.folder.clone()),
                        hash: None,
                        problems: vec![CassetteError::NotRegular {
                            path: file.path.clone(),
                            what,
                        }],
                        secrets: Vec::new(),
                        path: file.path,
                    });
                }
            } else if is_temp_name(&file.name) {
                report.files.push(FileReport {
                    key: file.folder_is_key.then(|| file.folder.clone()),
                    hash: None,
                    problems: vec![CassetteError::PartialWrite {
                        path: file.path.clone(),
                    }],
                    secrets: Vec::new(),
                    path: file.path,
                });
            } else if file.name.ends_with(".json") {
                cassettes.push(file);
            }
        }
        report.files.extend(verify_files(cassettes, max_bytes));
        report.files.sort_by(|a, b| a.path.cmp(&b.path));
        report
    }
}

/// Below this many files, verifying stays on the calling thread.
const PARALLEL_FROM: usize = 256;

/// [`verify_file`] of each of `files`, on as many threads as the machine
/// has cores (at most 8) when there are many: the checks of one file need
/// nothing from another's. The reports come back in `files`' order.
fn verify_files(files: Vec<FoundFile>, max_bytes: u64) -> Vec<FileReport> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if threads == 1 || files.len() < PARALLEL_FROM {
        return files
            .into_iter()
            .map(|f| verify_file(f, max_bytes))
            .collect();
    }
    let chunk = files.len().div_ceil(threads);
    let mut chunks = Vec::with_capacity(threads);
    let mut files = files.into_iter();
    loop {
        let part: Vec<FoundFile> = files.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        chunks.push(part);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|part| {
                scope.spawn(move || {
                    part.into_iter()
                        .map(|f| verify_file(f, max_bytes))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            // A panic while checking a file is a bug: pass it on.
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

fn verify_file(file: FoundFile, max_bytes: u64) -> FileReport {
    let key = file.folder_is_key.then(|| file.folder.clone());
    match read_bounded(&file.path, max_bytes) {
        Ok(bytes) => verify_bytes(file.path, &file.folder, key, &bytes),
        Err(e) => FileReport {
            key,
            hash: None,
            problems: vec![e],
            secrets: Vec::new(),
            path: file.path,
        },
    }
}

/// The checks of [`Store::verify`] on the bytes of one cassette read from
/// `path`, which lies in `folder` (relative to the store, `/`-separated,
/// empty for the store's top); `key` is `folder` when that is a valid key.
/// Shared with the object-store cassettes' `verify`.
pub(crate) fn verify_bytes(
    path: PathBuf,
    folder: &str,
    key: Option<String>,
    bytes: &[u8],
) -> FileReport {
    let mut report = FileReport {
        key,
        hash: None,
        problems: Vec::new(),
        secrets: Vec::new(),
        path,
    };
    let path = report.path.as_path();
    report.hash = Some(sha256_hex(bytes));
    if !folder.is_empty() {
        // A folder that is not a valid key: no key could have put the file there.
        if let Err(e) = validate_key(folder) {
            report.problems.push(e);
        }
    }
    let folder_key = report.key.as_deref();
    match format::decode(path, bytes, folder_key) {
        Ok(decoded) => {
            if folder.is_empty() {
                report.problems.push(CassetteError::KeyMismatch {
                    path: path.to_owned(),
                    folder_key: String::new(),
                    trace_key: decoded.trace.key().to_owned(),
                });
            }
            if canonical_json(&decoded.value).ok().as_deref() != Some(bytes) {
                report.problems.push(CassetteError::NotCanonical {
                    path: path.to_owned(),
                });
            }
            report.secrets = find_secrets(&decoded.value);
        }
        Err(problem) => {
            report.problems.push(problem);
            report.secrets = match format::parse(path, bytes) {
                Ok(value) => find_secrets(&value),
                Err(_) => find_secrets_in_text(&String::from_utf8_lossy(bytes)),
            };
        }
    }
    report
}
