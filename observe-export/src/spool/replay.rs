//! Sending a spool to an exporter until it is empty or the destination stops answering.

use std::path::Path;

use observe_model::export::{ExportError, Exporter};

use super::{slots, Next, Spool, SpoolError, SpoolOptions};

/// What a replay did, in records (and slots for the directory-wide call).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplaySummary {
    /// Entries handed to the exporter.
    pub entries: u64,
    /// Records the destination took.
    pub delivered: u64,
    /// Records the destination refused (counted failed, never sent again).
    pub failed: u64,
    /// Records in corrupt or truncated entries, skipped (as their headers counted them).
    pub dropped_corrupt: u64,
    /// Of `delivered`, records that may have reached the server before (in flight at a
    /// crash or at a deadline): the bound on duplicates.
    pub resent: u64,
    /// Records left on disk (the destination was unreachable, or a slot was in use).
    pub remaining: u64,
    /// Slots skipped because another process holds them.
    pub locked_slots: u64,
    /// Why the replay stopped early, if it did.
    pub stopped: Option<String>,
}

/// The running totals, given to the progress callback after each entry.
pub type Progress = ReplaySummary;

/// How the destination answered one entry.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Taken, or refused for good: `failed` of its records refused.
    Done {
        /// Records refused.
        failed: u64,
    },
    /// Not answered (unreachable, timed out, a local failure): try again later.
    Later(String),
}

/// Sorts an exporter's result for an entry of `records` records: an unreachable destination
/// (or a request whose answer never came) is asked again later; a refusal is final.
///
/// ```
/// use observe_export::spool::{answer, Answer};
/// use observe_model::export::ExportError;
/// let down = ExportError::Unavailable { destination: "d".into(), message: "timed out".into() };
/// assert!(matches!(answer(Err(down), 3), Answer::Later(_)));
/// assert_eq!(answer(Ok(()), 3), Answer::Done { failed: 0 });
/// ```
pub fn answer(result: Result<(), ExportError>, records: u64) -> Answer {
    match result {
        Ok(()) => Answer::Done { failed: 0 },
        Err(e @ (ExportError::Unavailable { .. } | ExportError::Io { .. })) => {
            Answer::Later(e.to_string())
        }
        Err(e) => Answer::Done {
            failed: e.failed_of(records as usize) as u64,
        },
    }
}

/// Sends `spool`'s entries, oldest first, to `exporter`, acking each answered one, until the
/// spool is empty or the destination does not answer (then what is left stays on disk).
/// `progress` hears the totals after each entry.
///
/// ```
/// use observe_export::spool::{replay, Spool, SpoolOptions};
/// use observe_model::export::{Batch, ExportError, Exporter};
/// struct Down;
/// impl Exporter for Down {
///     fn name(&self) -> &str { "down" }
///     fn export(&mut self, _: &Batch) -> Result<(), ExportError> {
///         Err(ExportError::Unavailable { destination: "down".into(), message: "refused".into() })
///     }
/// }
/// let dir = std::env::temp_dir().join(format!("observe-replay-doc-{}", std::process::id()));
/// let _ = std::fs::remove_dir_all(&dir);
/// let mut spool = Spool::open(&dir, SpoolOptions::default()).unwrap();
/// spool.append(&Batch::default(), false).unwrap();
/// let summary = replay(&mut spool, &mut Down, &mut |_| {});
/// assert_eq!(summary.delivered, 0);
/// assert!(summary.stopped.is_some());
/// ```
pub fn replay(
    spool: &mut Spool,
    exporter: &mut dyn Exporter,
    progress: &mut dyn FnMut(&Progress),
) -> ReplaySummary {
    let mut summary = ReplaySummary::default();
    loop {
        match spool.oldest() {
            Next::Empty => break,
            Next::Corrupt { records, why, .. } => {
                tracing::warn!(
                    "observe: skipped a damaged stretch of the spool {} ({why}; {records} records \
                     counted as dropped)",
                    spool.dir().display()
                );
                summary.dropped_corrupt += records;
            }
            Next::Entry(entry) => {
                if let Err(e) = spool.begin(&entry) {
                    summary.stopped = Some(e.to_string());
                    break;
                }
                summary.entries += 1;
                match answer(exporter.export(&entry.batch), entry.records) {
                    Answer::Later(why) => {
                        summary.stopped = Some(why);
                        break;
                    }
                    Answer::Done { failed } => {
                        summary.failed += failed;
                        summary.delivered += entry.records - failed;
                        if entry.maybe_sent {
                            summary.resent += entry.records - failed;
                        }
                        if let Err(e) = spool.ack(&entry) {
                            summary.stopped = Some(e.to_string());
                            break;
                        }
                    }
                }
            }
        }
        summary.remaining = spool.unacked();
        progress(&summary);
    }
    if let Err(e) = exporter.flush() {
        summary.stopped.get_or_insert(e.to_string());
    }
    let _ = spool.sync();
    summary.remaining = spool.unacked();
    summary
}

/// Replays every slot of one destination's spool directory (`<root>/<destination>`) that no
/// other process holds; the totals are summed, held slots counted in
/// [`ReplaySummary::locked_slots`].
///
/// ```
/// use observe_export::spool::{replay_dir, SpoolOptions};
/// use observe_model::export::{Batch, ExportError, Exporter};
/// struct Taker;
/// impl Exporter for Taker {
///     fn name(&self) -> &str { "taker" }
///     fn export(&mut self, _: &Batch) -> Result<(), ExportError> { Ok(()) }
/// }
/// let s = replay_dir(std::path::Path::new("/nonexistent"), &mut Taker, SpoolOptions::default(), &mut |_| {});
/// assert_eq!(s.entries, 0);
/// ```
pub fn replay_dir(
    destination_dir: &Path,
    exporter: &mut dyn Exporter,
    options: SpoolOptions,
    progress: &mut dyn FnMut(&Progress),
) -> ReplaySummary {
    let mut total = ReplaySummary::default();
    for dir in slots(destination_dir) {
        let mut spool = match Spool::open(&dir, options.clone()) {
            Ok(spool) => spool,
            Err(SpoolError::Locked { .. }) => {
                total.locked_slots += 1;
                continue;
            }
            Err(e) => {
                total.stopped.get_or_insert(e.to_string());
                continue;
            }
        };
        let before = total.clone();
        let s = replay(&mut spool, exporter, &mut |p| {
            let mut running = before.clone();
            add(&mut running, p);
            progress(&running);
        });
        add(&mut total, &s);
        if s.stopped.is_some() {
            total.stopped = s.stopped;
            break;
        }
    }
    total
}

fn add(total: &mut ReplaySummary, s: &ReplaySummary) {
    total.entries += s.entries;
    total.delivered += s.delivered;
    total.failed += s.failed;
    total.dropped_corrupt += s.dropped_corrupt;
    total.resent += s.resent;
    total.remaining += s.remaining;
}
