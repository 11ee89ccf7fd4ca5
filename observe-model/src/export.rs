//! Destinations: where finished observations and scores go.
//!
//! The background worker turns records into [`Observation`]s once and hands the same batch
//! to every configured [`Exporter`]'s own queue; each exporter runs on a thread of its own,
//! with its own budget and counters, never on the instrumented path, so a slow or
//! unreachable destination delays and drops only its own records. An exporter owns its wire format and transport;
//! the pipeline owns batching, sampling, masking and truncation, so an exporter sees records
//! that are ready to leave the process.
//!
//! ```
//! use observe_model::export::{Batch, ExportError, Exporter};
//!
//! /// Counts what it is given.
//! #[derive(Default)]
//! struct Counting(usize);
//!
//! impl Exporter for Counting {
//!     fn name(&self) -> &str { "counting" }
//!     fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
//!         self.0 += batch.observations.len() + batch.scores.len();
//!         Ok(())
//!     }
//! }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use crate::model::{Observation, Score};

/// One batch of records, in the order they finished.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Batch {
    /// Finished observations.
    pub observations: Vec<Box<Observation>>,
    /// Scores.
    pub scores: Vec<Box<Score>>,
}

impl Batch {
    /// True when the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.observations.is_empty() && self.scores.is_empty()
    }

    /// Number of records (observations and scores).
    pub fn len(&self) -> usize {
        self.observations.len() + self.scores.len()
    }
}

/// Why an export failed. The pipeline counts failures per exporter and per record (a
/// [`ExportError::Partial`] fails only the records it names, any other error the whole batch)
/// and logs the first of an outage as an error; it never retries on its own: retrying is the exporter's business (see the HTTP
/// exporters), because only it knows which failures are worth another try.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The destination refused the data for good (bad keys, malformed payload...).
    #[error("{destination} rejected the batch: {message}")]
    Rejected {
        /// Which destination.
        destination: String,
        /// What it said, and what to do about it.
        message: String,
    },
    /// The destination could not be reached or kept failing until the deadline.
    #[error("{destination} unavailable: {message}")]
    Unavailable {
        /// Which destination.
        destination: String,
        /// The last failure.
        message: String,
    },
    /// Some records of the batch were refused (a 207 with errors, rows the store could not
    /// write); the rest were accepted.
    #[error("{destination} refused {refused} of the batch's records: {message}")]
    Partial {
        /// Which destination.
        destination: String,
        /// How many records were refused.
        refused: usize,
        /// The first refusal's text.
        message: String,
    },
    /// The destination refused the request as too large (`413`): the caller may split the
    /// batch and send the halves (see [`send_halving`]).
    #[error("{destination} refused the request as too large: {message}")]
    TooLarge {
        /// Which destination.
        destination: String,
        /// What it said.
        message: String,
    },
    /// A local I/O failure (the store's file, the console).
    #[error("{destination}: {source}")]
    Io {
        /// Which destination.
        destination: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A destination for finished observations and scores.
///
/// Called on a thread of its own (one per exporter), one batch at a time; it may block (on
/// I/O, on retries) up to its own deadline or the shutdown's (see [`ExportContext`]), and
/// neither the instrumented code nor the other destinations wait for it.
pub trait Exporter: Send + 'static {
    /// A short name for logs and counters (`otlp`, `langfuse-ingestion`, `store`...).
    fn name(&self) -> &str;

    /// Sends one batch.
    fn export(&mut self, batch: &Batch) -> Result<(), ExportError>;

    /// How many queued batches this exporter takes in one [`Exporter::export_many`] call.
    /// The default, 1, sends one batch at a time; a destination whose fixed cost is paid
    /// per call (the store's commit) says more, and its thread then hands it every batch
    /// waiting in its queue, up to this many, at once.
    ///
    /// ```
    /// use observe_model::export::{Batch, ExportError, Exporter};
    ///
    /// struct Dropping;
    /// impl Exporter for Dropping {
    ///     fn name(&self) -> &str { "dropping" }
    ///     fn export(&mut self, _: &Batch) -> Result<(), ExportError> { Ok(()) }
    /// }
    /// assert_eq!(Dropping.batches_at_once(), 1);
    /// ```
    fn batches_at_once(&self) -> usize {
        1
    }

    /// Sends several batches together, all or nothing where the destination allows it (the
    /// store writes them in one transaction). The result stands for all their records: an
    /// [`ExportError::Partial`] names how many of them were refused, any other error fails
    /// them all. The default sends them one by one and reports the refused records of all
    /// as one [`ExportError::Partial`] (a single batch's error as it is).
    ///
    /// ```
    /// use observe_model::export::{Batch, ExportError, Exporter};
    ///
    /// #[derive(Default)]
    /// struct Counting(usize);
    /// impl Exporter for Counting {
    ///     fn name(&self) -> &str { "counting" }
    ///     fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
    ///         self.0 += batch.len();
    ///         Ok(())
    ///     }
    /// }
    /// let mut counting = Counting::default();
    /// counting.export_many(&[&Batch::default(), &Batch::default()]).unwrap();
    /// assert_eq!(counting.0, 0);
    /// ```
    fn export_many(&mut self, batches: &[&Batch]) -> Result<(), ExportError> {
        let mut refused = 0;
        let mut first: Option<ExportError> = None;
        for batch in batches {
            if let Err(err) = self.export(batch) {
                refused += err.failed_of(batch.len());
                first.get_or_insert(err);
            }
        }
        match first {
            None => Ok(()),
            Some(err) if batches.len() == 1 => Err(err),
            Some(err) => Err(ExportError::Partial {
                destination: self.name().to_owned(),
                refused,
                message: err.to_string(),
            }),
        }
    }

    /// Makes sure everything exported so far is durable or sent (called by `flush`).
    fn flush(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Retries made so far (for the pipeline's counters); exporters that retry report here.
    fn retries(&self) -> u64 {
        0
    }

    /// True for a destination across the network: what it could not deliver may wait in the
    /// pipeline's durable spool (when one is configured) rather than be dropped. Local
    /// destinations (a file, memory, the console) keep the default, false.
    fn remote(&self) -> bool {
        false
    }

    /// Releases resources; called once, after the last batch.
    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.flush()
    }

    /// Receives the pipeline's [`ExportContext`] once, before the first batch: exporters that
    /// retry count their retries there as they happen, and stop at its deadline.
    fn attach(&mut self, context: ExportContext) {
        let _ = context;
    }
}

impl ExportError {
    /// How many of a batch of `len` records this error makes failed: the refused ones of a
    /// [`ExportError::Partial`], else all.
    ///
    /// ```
    /// use observe_model::export::ExportError;
    /// let e = ExportError::Partial { destination: "d".into(), refused: 2, message: "m".into() };
    /// assert_eq!(e.failed_of(5), 2);
    /// ```
    pub fn failed_of(&self, len: usize) -> usize {
        match self {
            ExportError::Partial { refused, .. } => (*refused).min(len),
            _ => len,
        }
    }
}

/// The pipeline's side of one destination, lent to its exporter: a retry counter read live
/// by the pipeline's `Stats`, and the deadline of a `shutdown` under way (no retry, no request
/// goes past it).
///
/// ```
/// use std::time::{Duration, Instant};
/// use observe_model::export::ExportContext;
/// let context = ExportContext::default();
/// assert!(context.deadline().is_none());
/// context.set_deadline(Instant::now() + Duration::from_secs(1));
/// assert!(context.remaining().unwrap() <= Duration::from_secs(1));
/// context.count_retry();
/// assert_eq!(context.retried(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct ExportContext {
    retried: Arc<AtomicU64>,
    /// A request of the last batch got no answer: the server may have taken it.
    unanswered: Arc<std::sync::atomic::AtomicBool>,
    /// A request is out and its answer (or its failure) has not come back yet.
    open: Arc<std::sync::atomic::AtomicBool>,
    /// Nanoseconds after [`EPOCH`]; `u64::MAX` when no deadline is set.
    deadline: Arc<AtomicU64>,
}

/// The origin of the deadlines kept as integers.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

impl Default for ExportContext {
    fn default() -> Self {
        ExportContext {
            retried: Arc::new(AtomicU64::new(0)),
            unanswered: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            open: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            deadline: Arc::new(AtomicU64::new(u64::MAX)),
        }
    }
}

impl ExportContext {
    /// Counts one retry.
    pub fn count_retry(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }

    /// Retries counted so far.
    pub fn retried(&self) -> u64 {
        self.retried.load(Ordering::Relaxed)
    }

    /// Notes that a request went out and no answer came (a timeout): the batch may have
    /// reached the destination, so sending it again may duplicate it.
    ///
    /// ```
    /// use observe_model::export::ExportContext;
    /// let context = ExportContext::default();
    /// context.note_unanswered();
    /// assert!(context.take_unanswered());
    /// assert!(!context.take_unanswered());
    /// ```
    pub fn note_unanswered(&self) {
        self.unanswered.store(true, Ordering::Relaxed);
    }

    /// Notes that a request goes out (`true`) or that it came back, answered or failed
    /// (`false`): a batch taken away while one is out may have reached the destination.
    ///
    /// ```
    /// use observe_model::export::ExportContext;
    /// let context = ExportContext::default();
    /// context.note_request(true);
    /// assert!(context.request_open());
    /// context.note_request(false);
    /// assert!(!context.request_open());
    /// ```
    pub fn note_request(&self, open: bool) {
        self.open.store(open, Ordering::Release);
    }

    /// Whether a request is out now (see [`ExportContext::note_request`]).
    pub fn request_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Whether a request went unanswered since the last call (and forgets it).
    pub fn take_unanswered(&self) -> bool {
        self.unanswered.swap(false, Ordering::Relaxed)
    }

    /// Sets the deadline after which nothing more is attempted (earlier ones win).
    pub fn set_deadline(&self, at: Instant) {
        let nanos = at.saturating_duration_since(*EPOCH).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX - 1);
        self.deadline.fetch_min(nanos, Ordering::AcqRel);
    }

    /// The deadline, if one is set.
    pub fn deadline(&self) -> Option<Instant> {
        match self.deadline.load(Ordering::Acquire) {
            u64::MAX => None,
            nanos => Some(*EPOCH + Duration::from_nanos(nanos)),
        }
    }

    /// Time left before the deadline, if one is set (zero once it passed).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// True once the deadline passed.
    pub fn passed(&self) -> bool {
        self.remaining().is_some_and(|r| r.is_zero())
    }
}

/// Sends `batch`'s observations with `send`; when the destination answers
/// [`ExportError::TooLarge`], splits them in halves and sends each (recursively), so that only
/// a record too large on its own fails. The first call gets the batch as it is (an encoder
/// that sends only observations need not copy it); the halves carry no scores. The result
/// counts failed observations: `Ok`, the error of a batch that failed whole, or
/// [`ExportError::Partial`] with the observations that failed.
///
/// ```
/// use observe_model::export::{send_halving, Batch, ExportError};
/// let batch = Batch::default();
/// assert!(send_halving(&batch, &mut |_: &Batch| Ok(())).is_ok());
/// ```
pub fn send_halving(
    batch: &Batch,
    send: &mut dyn FnMut(&Batch) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let mut failed = 0;
    let mut first = None;
    halve(batch, send, &mut failed, &mut first);
    match first {
        None => Ok(()),
        Some(err) => Err(partial_or_whole(err, failed, batch.observations.len())),
    }
}

fn halve(
    batch: &Batch,
    send: &mut dyn FnMut(&Batch) -> Result<(), ExportError>,
    failed: &mut usize,
    first: &mut Option<ExportError>,
) {
    match send(batch) {
        Ok(()) => {}
        Err(ExportError::TooLarge { .. }) if batch.observations.len() > 1 => {
            let mid = batch.observations.len() / 2;
            for part in [&batch.observations[..mid], &batch.observations[mid..]] {
                let half = Batch {
                    observations: part.to_vec(),
                    scores: Vec::new(),
                };
                halve(&half, send, failed, first);
            }
        }
        Err(err) => {
            *failed += err.failed_of(batch.observations.len());
            first.get_or_insert(err);
        }
    }
}

/// One error for `failed` of `total` records: the error itself when all failed, else a
/// [`ExportError::Partial`].
fn partial_or_whole(err: ExportError, failed: usize, total: usize) -> ExportError {
    if failed >= total && !matches!(err, ExportError::Partial { .. }) {
        return err;
    }
    ExportError::Partial {
        destination: destination_of(&err).to_owned(),
        refused: failed,
        message: match err {
            ExportError::Partial { message, .. } => message,
            other => other.to_string(),
        },
    }
}

/// The outcomes of sending parts of one batch (each with its number of records) as one:
/// `Ok` when all went, the first error when all failed, else a [`ExportError::Partial`]
/// counting the records that failed.
///
/// ```
/// use observe_model::export::{combine, ExportError};
/// let refused = ExportError::Rejected { destination: "d".into(), message: "no".into() };
/// match combine(vec![(Ok(()), 3), (Err(refused), 2)]) {
///     Err(ExportError::Partial { refused, .. }) => assert_eq!(refused, 2),
///     other => panic!("{other:?}"),
/// }
/// ```
pub fn combine(parts: Vec<(Result<(), ExportError>, usize)>) -> Result<(), ExportError> {
    let mut failed = 0;
    let mut total = 0;
    let mut first = None;
    for (result, n) in parts {
        total += n;
        if let Err(err) = result {
            failed += err.failed_of(n);
            first.get_or_insert(err);
        }
    }
    match first {
        None => Ok(()),
        Some(err) => Err(partial_or_whole(err, failed, total)),
    }
}

/// The destination an error names.
pub(crate) fn destination_of(err: &ExportError) -> &str {
    match err {
        ExportError::Rejected { destination, .. }
        | ExportError::Unavailable { destination, .. }
        | ExportError::Partial { destination, .. }
        | ExportError::TooLarge { destination, .. }
        | ExportError::Io { destination, .. } => destination,
    }
}
