//! The local vulnerability database: one directory, one normalised file per feed.
//!
//! Layout of the directory:
//! - `<feed>.json`: the feed in its stored form (see [`crate::vuln::feeds`]);
//! - `<feed>.meta.json`: where it came from, when it was fetched or imported, and the
//!   `ETag` and `Last-Modified` validators for the next conditional request;
//! - `lock`: held exclusively while a feed is replaced and shared while a scan reads, so a
//!   scan never sees one feed half-way through an update.
//!
//! Writes go to a temporary file in the same directory, are flushed to disk and then renamed
//! over the old file, so a crash or a failed download leaves the previous data in place.
//! The data file is replaced before its record: if the record write is lost, the old record
//! makes the feed look older than it is, never newer.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::feeds::{self, FeedError, FeedName};

/// Largest feed download accepted; the full Debian tracker feed is well under this.
const MAX_DOWNLOAD: u64 = 1 << 30;

/// Why the database could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot use database directory {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("record of feed {feed} in {path} is unreadable")]
    Meta {
        feed: FeedName,
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("downloading {feed} from {url}")]
    Download {
        feed: FeedName,
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("downloading {feed} from {url}: server answered {status}")]
    Status {
        feed: FeedName,
        url: String,
        status: u16,
    },
    #[error(transparent)]
    Feed(#[from] FeedError),
}

/// How a feed's data arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Download,
    Import,
}

/// What the database knows about one stored feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedRecord {
    pub feed: FeedName,
    /// The URL or path the data came from.
    pub source: String,
    pub origin: Origin,
    /// When the data was last fetched, confirmed unchanged by the server, or imported.
    pub fetched_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// Size of the stored data in bytes.
    pub size: u64,
}

impl FeedRecord {
    /// Time since the data was fetched or imported, zero if the clock went backwards.
    pub fn age(&self, now: DateTime<Utc>) -> Duration {
        (now - self.fetched_at).to_std().unwrap_or_default()
    }
}

/// What `update` did for one feed.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateOutcome {
    /// The server said the data has not changed (HTTP 304).
    NotModified,
    Replaced {
        size: u64,
    },
}

#[derive(Debug, Clone)]
pub struct Database {
    dir: PathBuf,
}

/// A held lock on the database; released when dropped.
#[derive(Debug)]
pub struct DbLock {
    _file: File,
}

impl Database {
    pub fn new(dir: impl Into<PathBuf>) -> Database {
        Database { dir: dir.into() }
    }

    /// `$RENDERER_VULNDB`, else the user's cache directory.
    pub fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("RENDERER_VULNDB") {
            return dir.into();
        }
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from("."));
        cache.join("renderer-image").join("vulndb")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io(&self, path: &Path) -> impl FnOnce(std::io::Error) -> DbError {
        let path = path.to_path_buf();
        move |source| DbError::Io { path, source }
    }

    fn lock_file(&self, create: bool) -> Result<File, DbError> {
        let path = self.dir.join("lock");
        if create {
            std::fs::create_dir_all(&self.dir).map_err(self.io(&self.dir))?;
        }
        std::fs::OpenOptions::new()
            .create(create)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(self.io(&path))
    }

    /// Locks the database for writing, waiting for readers and other writers to finish.
    pub fn lock_exclusive(&self) -> Result<DbLock, DbError> {
        let file = self.lock_file(true)?;
        fs4::FileExt::lock(&file).map_err(self.io(&self.dir.join("lock")))?;
        Ok(DbLock { _file: file })
    }

    /// Locks the database for reading; a database that does not exist needs no lock.
    pub fn lock_shared(&self) -> Result<Option<DbLock>, DbError> {
        if !self.dir.exists() {
            return Ok(None);
        }
        let file = self.lock_file(true)?;
        fs4::FileExt::lock_shared(&file).map_err(self.io(&self.dir.join("lock")))?;
        Ok(Some(DbLock { _file: file }))
    }

    fn data_path(&self, feed: FeedName) -> PathBuf {
        self.dir.join(format!("{feed}.json"))
    }

    fn meta_path(&self, feed: FeedName) -> PathBuf {
        self.dir.join(format!("{feed}.meta.json"))
    }

    /// The record of a stored feed, if the feed is there.
    pub fn record(&self, feed: FeedName) -> Result<Option<FeedRecord>, DbError> {
        let path = self.meta_path(feed);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(&path)(e)),
        };
        serde_json::from_slice(&data)
            .map(Some)
            .map_err(|source| DbError::Meta { feed, path, source })
    }

    /// The stored data of a feed.
    pub fn read(&self, feed: FeedName) -> Result<Vec<u8>, DbError> {
        let path = self.data_path(feed);
        std::fs::read(&path).map_err(self.io(&path))
    }

    /// Replaces a feed's data and record. Call with the exclusive lock held.
    pub fn store(&self, data: &[u8], record: &FeedRecord) -> Result<(), DbError> {
        std::fs::create_dir_all(&self.dir).map_err(self.io(&self.dir))?;
        self.replace(&self.data_path(record.feed), data)?;
        self.write_record(record)
    }

    fn write_record(&self, record: &FeedRecord) -> Result<(), DbError> {
        let meta = serde_json::to_vec_pretty(record).map_err(|source| DbError::Meta {
            feed: record.feed,
            path: self.meta_path(record.feed),
            source,
        })?;
        self.replace(&self.meta_path(record.feed), &meta)
    }

    /// Writes `data` next to `path` and renames it over `path`.
    fn replace(&self, path: &Path, data: &[u8]) -> Result<(), DbError> {
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&tmp)?;
            file.write_all(data)?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)?;
            if let Ok(dir) = File::open(&self.dir) {
                let _ = dir.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            self.io(path)(e)
        })
    }

    /// Imports a feed from a file, directory or zip. Takes the exclusive lock.
    pub fn import(&self, feed: FeedName, path: &Path) -> Result<FeedRecord, DbError> {
        let data = feeds::import_path(feed, path)?;
        let record = FeedRecord {
            feed,
            source: path.display().to_string(),
            origin: Origin::Import,
            fetched_at: Utc::now(),
            etag: None,
            last_modified: None,
            size: data.len() as u64,
        };
        let _lock = self.lock_exclusive()?;
        self.store(&data, &record)?;
        Ok(record)
    }

    /// Downloads a feed, asking the server only for data newer than what is stored.
    ///
    /// Nothing is replaced unless the whole download arrived and parsed: a failure at any
    /// point leaves the stored data and its record as they were. The lock is taken only to
    /// replace the files, so scans are not held up by a slow download.
    pub fn update(
        &self,
        feed: FeedName,
        url: &str,
        timeout: Duration,
    ) -> Result<UpdateOutcome, DbError> {
        let previous = self
            .record(feed)?
            .filter(|r| r.source == url && self.data_path(feed).exists());
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent(concat!("renderer-image/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let mut request = agent.get(url);
        if let Some(prev) = &previous {
            if let Some(etag) = &prev.etag {
                request = request.header("If-None-Match", etag);
            }
            if let Some(modified) = &prev.last_modified {
                request = request.header("If-Modified-Since", modified);
            }
        }
        let download = |source: ureq::Error| DbError::Download {
            feed,
            url: url.to_string(),
            source: Box::new(source),
        };
        let mut response = request.call().map_err(download)?;
        let status = response.status().as_u16();
        if status == 304
            && let Some(mut prev) = previous
        {
            prev.fetched_at = Utc::now();
            let _lock = self.lock_exclusive()?;
            self.write_record(&prev)?;
            return Ok(UpdateOutcome::NotModified);
        }
        if status != 200 {
            return Err(DbError::Status {
                feed,
                url: url.to_string(),
                status,
            });
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let etag = header("etag");
        let last_modified = header("last-modified");
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_DOWNLOAD)
            .read_to_vec()
            .map_err(download)?;
        let data = feeds::normalise(feed, &body, url)?;
        let record = FeedRecord {
            feed,
            source: url.to_string(),
            origin: Origin::Download,
            fetched_at: Utc::now(),
            etag,
            last_modified,
            size: data.len() as u64,
        };
        let _lock = self.lock_exclusive()?;
        self.store(&data, &record)?;
        Ok(UpdateOutcome::Replaced {
            size: data.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_replaces_data_and_records_when() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::new(dir.path().join("db"));
        let feed_file = dir.path().join("tracker.json");
        std::fs::write(&feed_file, br#"{"a": {"CVE-1": {"releases": []}}}"#).unwrap();
        let record = db.import(FeedName::Debian, &feed_file).unwrap();
        assert_eq!(record.origin, Origin::Import);
        assert_eq!(db.record(FeedName::Debian).unwrap(), Some(record));
        assert!(db.record(FeedName::Nodejs).unwrap().is_none());

        std::fs::write(&feed_file, b"{ not json").unwrap();
        assert!(db.import(FeedName::Debian, &feed_file).is_err());
        let kept = db.read(FeedName::Debian).unwrap();
        assert_eq!(kept, br#"{"a": {"CVE-1": {"releases": []}}}"#);
    }

    #[test]
    fn shared_lock_waits_for_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::new(dir.path());
        let writer = db.lock_exclusive().unwrap();
        let other = db.lock_file(false).unwrap();
        let busy = fs4::FileExt::try_lock_shared(&other);
        assert!(matches!(busy, Err(fs4::TryLockError::WouldBlock)));
        drop(writer);
        assert!(fs4::FileExt::try_lock_shared(&other).is_ok());
    }
}
