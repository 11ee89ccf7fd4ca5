//! The durable spool (feature `spool`): what a remote destination could not deliver waits on
//! disk, checksummed and bounded, until this process or the next one (or `observe push
//! --spool`) sends it.
//!
//! Layout: `<root>/<destination>/<slot>/`, each slot a [`Spool`]: segment files
//! (`0000000000000001.seg`, append-only, each entry a length, a record count, flags, a
//! CRC-32 and the batch), a `cursor` file with the acked and in-flight marks, and a `lock`
//! file a process holds (an advisory lock) while it uses the slot, so two processes never
//! send the same record. A second process finds the first slot locked and takes the next
//! one ([`open_slot`]).
//!
//! An entry holds the destination's records (a [`Batch`]), not an encoded request: a replay
//! goes through the destination's exporter, so `413` splitting and `207` partial refusals
//! count per record, and one spool format serves OTLP and the ingestion API alike.
//!
//! ```
//! use observe_export::spool::{open_slot, replay_dir, SpoolOptions};
//! use observe_model::export::{Batch, ExportError, Exporter};
//!
//! struct Taker(usize);
//! impl Exporter for Taker {
//!     fn name(&self) -> &str { "taker" }
//!     fn export(&mut self, b: &Batch) -> Result<(), ExportError> { self.0 += b.len(); Ok(()) }
//! }
//!
//! let root = std::env::temp_dir().join(format!("observe-spool-mod-doc-{}", std::process::id()));
//! let _ = std::fs::remove_dir_all(&root);
//! let mut spool = open_slot(&root, "taker", SpoolOptions::default()).unwrap();
//! spool.append(&Batch::default(), false).unwrap();
//! spool.sync().unwrap();
//! drop(spool); // the lock goes with it
//! let summary = replay_dir(&root.join("taker"), &mut Taker(0), SpoolOptions::default(), &mut |_| {});
//! assert_eq!(summary.entries, 1);
//! ```

mod codec;
mod entry;
mod queue;
mod replay;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use queue::{Entry, Evicted, Next, Spool};
pub use replay::{answer, replay, replay_dir, Answer, Progress, ReplaySummary};

#[cfg(doc)]
use observe_model::export::Batch;

/// What the spool does when a new batch does not fit in [`SpoolOptions::max_bytes`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum FullPolicy {
    /// Keep what is on disk, refuse the new batch (counted as dropped).
    #[default]
    DropNewest,
    /// Delete the oldest segment (its records counted as dropped) to make room.
    DropOldest,
}

impl std::str::FromStr for FullPolicy {
    type Err = String;

    /// `drop-newest` or `drop-oldest`.
    ///
    /// ```
    /// use observe_export::spool::FullPolicy;
    /// assert_eq!("drop-oldest".parse::<FullPolicy>(), Ok(FullPolicy::DropOldest));
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "drop-newest" | "drop_newest" | "newest" => Ok(FullPolicy::DropNewest),
            "drop-oldest" | "drop_oldest" | "oldest" => Ok(FullPolicy::DropOldest),
            other => Err(format!(
                "`{other}` is not a spool full policy: expected drop-newest or drop-oldest"
            )),
        }
    }
}

/// How a spool is bounded and how often it reaches the disk.
///
/// ```
/// use observe_export::spool::SpoolOptions;
/// let o = SpoolOptions::default();
/// assert_eq!(o.max_bytes, 256 * 1024 * 1024);
/// assert_eq!(o.fsync_interval.as_millis(), 500);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SpoolOptions {
    /// Bytes the segment files of one slot take at most (`OBSERVE_SPOOL_MAX_BYTES`).
    pub max_bytes: u64,
    /// When a batch does not fit.
    pub full: FullPolicy,
    /// Longest an appended entry waits for its `fsync`: the window a power loss can cost (a
    /// process crash costs nothing that was appended: the kernel has it).
    pub fsync_interval: Duration,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        SpoolOptions {
            max_bytes: 256 * 1024 * 1024,
            full: FullPolicy::default(),
            fsync_interval: Duration::from_millis(500),
        }
    }
}

impl SpoolOptions {
    /// Sets the size bound.
    ///
    /// ```
    /// use observe_export::spool::SpoolOptions;
    /// assert_eq!(SpoolOptions::default().max_bytes(1 << 20).max_bytes, 1 << 20);
    /// ```
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Sets the full policy.
    ///
    /// ```
    /// use observe_export::spool::{FullPolicy, SpoolOptions};
    /// let o = SpoolOptions::default().full(FullPolicy::DropOldest);
    /// assert_eq!(o.full, FullPolicy::DropOldest);
    /// ```
    pub fn full(mut self, policy: FullPolicy) -> Self {
        self.full = policy;
        self
    }

    /// Sets the fsync interval (zero: every append).
    ///
    /// ```
    /// use std::time::Duration;
    /// use observe_export::spool::SpoolOptions;
    /// let o = SpoolOptions::default().fsync_interval(Duration::ZERO);
    /// assert!(o.fsync_interval.is_zero());
    /// ```
    pub fn fsync_interval(mut self, every: Duration) -> Self {
        self.fsync_interval = every;
        self
    }

    /// A segment rolls over at an eighth of the bound (so dropping the oldest frees at
    /// most that much), between 64 KiB and 16 MiB.
    fn segment_bytes(&self) -> u64 {
        (self.max_bytes / 8)
            .clamp(64 * 1024, 16 * 1024 * 1024)
            .min(self.max_bytes.max(1))
    }
}

/// Why the spool could not take or give a batch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// Another process holds this slot.
    #[error("the spool {} is in use by another process", dir.display())]
    Locked {
        /// The slot.
        dir: PathBuf,
    },
    /// A file of the spool could not be read or written (a full disk, a read-only
    /// directory, a file size limit).
    #[error("spool file {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The batch does not fit (the bound and the full policy refuse it).
    #[error("the spool is full: {records} records dropped")]
    Full {
        /// Records of the refused batch.
        records: u64,
    },
}

/// Slots a destination's spool may use: one per process sharing the directory at a time.
pub const SLOTS: usize = 8;

/// A destination's name as a directory name: letters, digits, `-`, `_` and `.` kept, the
/// rest `_`.
///
/// ```
/// assert_eq!(observe_export::spool::dir_name("langfuse otlp/1"), "langfuse_otlp_1");
/// ```
pub fn dir_name(destination: &str) -> String {
    let name: String = destination
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match name.trim_matches('.') {
        "" => "destination".to_owned(),
        _ => name,
    }
}

/// Opens the first slot of `destination`'s spool under `root` that no other process holds.
///
/// ```
/// use observe_export::spool::{open_slot, SpoolOptions};
/// let root = std::env::temp_dir().join(format!("observe-spool-slot-doc-{}", std::process::id()));
/// let a = open_slot(&root, "otlp", SpoolOptions::default()).unwrap();
/// let b = open_slot(&root, "otlp", SpoolOptions::default()).unwrap();
/// assert_ne!(a.dir(), b.dir());
/// ```
pub fn open_slot(
    root: &Path,
    destination: &str,
    options: SpoolOptions,
) -> Result<Spool, SpoolError> {
    let base = root.join(dir_name(destination));
    let mut last = None;
    for slot in 0..SLOTS {
        match Spool::open(&base.join(slot.to_string()), options.clone()) {
            Ok(spool) => return Ok(spool),
            Err(e @ SpoolError::Locked { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(SpoolError::Locked { dir: base }))
}

/// The slot directories of one destination's spool (`<root>/<destination>`) that exist.
///
/// ```
/// let none = observe_export::spool::slots(std::path::Path::new("/nonexistent/otlp"));
/// assert!(none.is_empty());
/// ```
pub fn slots(destination_dir: &Path) -> Vec<PathBuf> {
    (0..SLOTS)
        .map(|slot| destination_dir.join(slot.to_string()))
        .filter(|d| d.is_dir())
        .collect()
}

#[cfg(test)]
mod tests;
