//! A destination's side of the durable spool: the settings, and the one spool slot a remote
//! destination appends to and sends from (feature `spool`; without it the settings are
//! accepted and nothing is spooled, with one warning).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::export::{Batch, ExportContext, Exporter};

/// When records go to the durable spool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpoolMode {
    /// Never: what a destination cannot deliver is counted as failed or dropped.
    #[default]
    Off,
    /// What a remote destination has not delivered when its retry deadline passes, when its
    /// queue is full (it is unreachable or slow), or at the shutdown deadline goes to disk
    /// instead of being dropped (`OBSERVE_SPOOL=on`).
    Fallback,
    /// Every record of a remote destination is appended to the spool first; a thread sends
    /// from it; shutdown gives delivery half a second, then returns, the rest on disk
    /// (`OBSERVE_SPOOL=first`).
    First,
}

impl std::str::FromStr for SpoolMode {
    type Err = String;

    /// `off`, `on` (or `fallback`), `first`.
    ///
    /// ```
    /// use observe_runtime::SpoolMode;
    /// assert_eq!("first".parse::<SpoolMode>(), Ok(SpoolMode::First));
    /// assert_eq!("on".parse::<SpoolMode>(), Ok(SpoolMode::Fallback));
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "0" | "false" | "no" | "" => Ok(SpoolMode::Off),
            "on" | "1" | "true" | "yes" | "fallback" => Ok(SpoolMode::Fallback),
            "first" => Ok(SpoolMode::First),
            other => Err(format!(
                "`{other}` is not a spool mode: expected off, on or first"
            )),
        }
    }
}

impl std::fmt::Display for SpoolMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SpoolMode::Off => "off",
            SpoolMode::Fallback => "on",
            SpoolMode::First => "first",
        })
    }
}

/// Where and how remote destinations spool (see docs/CONFIGURATION.md).
///
/// ```
/// use observe_runtime::{PipelineSettings, SpoolMode, SpoolSettings};
/// let settings = PipelineSettings {
///     spool: SpoolSettings::new(SpoolMode::First, "/tmp/my-app-spool"),
///     ..Default::default()
/// };
/// assert_eq!(settings.spool.mode, SpoolMode::First);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SpoolSettings {
    /// When records are spooled.
    pub mode: SpoolMode,
    /// The spool's root: one subdirectory per destination (`OBSERVE_SPOOL_DIR`).
    pub dir: PathBuf,
    /// Bytes one slot of a destination's spool takes at most (`OBSERVE_SPOOL_MAX_BYTES`):
    /// a slot per process using the spool at a time, up to 8 of them.
    pub max_bytes: u64,
    /// When full, delete the oldest records rather than refuse the new ones
    /// (`OBSERVE_SPOOL_FULL=drop-oldest`); either way the records are counted as dropped.
    pub drop_oldest: bool,
    /// Longest an appended record waits for its `fsync` (`OBSERVE_SPOOL_FSYNC_MS`): what a
    /// power loss can cost. A process crash loses nothing that was appended.
    pub fsync_interval: Duration,
}

/// The default root, beside the default store.
pub const DEFAULT_SPOOL_DIR: &str = ".observe/spool";

impl Default for SpoolSettings {
    fn default() -> Self {
        SpoolSettings::new(SpoolMode::Off, DEFAULT_SPOOL_DIR)
    }
}

impl SpoolSettings {
    /// `mode` in `dir`, with the default bound (256 MiB per slot), full policy
    /// (drop the newest) and fsync interval (500 ms).
    ///
    /// ```
    /// use observe_runtime::{SpoolMode, SpoolSettings};
    /// let s = SpoolSettings::new(SpoolMode::Fallback, "spool");
    /// assert_eq!(s.max_bytes, 256 * 1024 * 1024);
    /// ```
    pub fn new(mode: SpoolMode, dir: impl Into<PathBuf>) -> Self {
        SpoolSettings {
            mode,
            dir: dir.into(),
            max_bytes: 256 * 1024 * 1024,
            drop_oldest: false,
            fsync_interval: Duration::from_millis(500),
        }
    }
}

/// Longest a shutdown waits, at its deadline, for a request under way to come back (its
/// timeout ends at the deadline): then whether the batch may have reached the server is
/// known rather than guessed.
const REQUEST_GRACE: Duration = Duration::from_millis(100);

/// True when the batch (or spool entry) being sent cannot have reached the server: no
/// request of it is out and none went unanswered (connections refused, or not sent at
/// all). Takes the exporter's note of an unanswered request.
pub(crate) fn nothing_out(context: &ExportContext) -> bool {
    let until = Instant::now() + REQUEST_GRACE;
    while context.request_open() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(1));
    }
    !context.request_open() && !context.take_unanswered()
}

/// What appending a batch did, in records.
#[cfg_attr(not(feature = "spool"), allow(dead_code))]
#[derive(Default)]
pub(crate) struct Appended {
    /// Now on disk.
    pub(crate) spooled: u64,
    /// Refused (full, or the disk failed): counted as dropped.
    pub(crate) dropped: u64,
    /// This process's records the full policy deleted to make room.
    pub(crate) evicted_own: u64,
    /// Records of an earlier process the full policy deleted.
    pub(crate) evicted_earlier: u64,
}

/// What sending the spool's oldest entry did, in records.
#[cfg_attr(not(feature = "spool"), allow(dead_code))]
pub(crate) enum Drained {
    /// The spool is empty.
    Nothing,
    /// The destination answered.
    Sent {
        earlier: bool,
        delivered: u64,
        failed: u64,
        resent: u64,
    },
    /// A damaged stretch was skipped.
    Corrupt { earlier: bool, records: u64 },
    /// No answer: the entry stays on disk.
    Unreachable,
}

#[cfg(feature = "spool")]
pub(crate) use enabled::Spooler;

#[cfg(feature = "spool")]
mod enabled {
    use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

    use observe_export::spool::{self, FullPolicy, Next, Spool, SpoolError, SpoolOptions};

    use super::*;

    /// One destination's spool slot, shared by the worker (appends) and the destination's
    /// thread (sends). A spool whose disk failed stops being written, with one warning; what
    /// would have gone there is counted as dropped.
    pub(crate) struct Spooler {
        mode: SpoolMode,
        dir: std::path::PathBuf,
        inner: Arc<Mutex<Inner>>,
    }

    struct Inner {
        /// `None` once released: the slot's lock goes with it, for the next client.
        spool: Option<Spool>,
        /// The destination's other slots that no live process held at open and that hold
        /// records an earlier run left: sent after this slot's own, each closed (its lock
        /// released) once empty.
        others: Vec<Spool>,
        broken: bool,
    }

    impl Spooler {
        /// Opens a slot for `exporter` when the mode asks for one and it is remote; `None`
        /// (with one warning when a spool was asked for) when it cannot be opened.
        pub(crate) fn open(settings: &SpoolSettings, exporter: &dyn Exporter) -> Option<Spooler> {
            if settings.mode == SpoolMode::Off || !exporter.remote() {
                return None;
            }
            let options = SpoolOptions::default()
                .max_bytes(settings.max_bytes)
                .full(if settings.drop_oldest {
                    FullPolicy::DropOldest
                } else {
                    FullPolicy::DropNewest
                })
                .fsync_interval(settings.fsync_interval);
            match spool::open_slot(&settings.dir, exporter.name(), options.clone()) {
                Ok(spool) => {
                    let dir = spool.dir().to_owned();
                    let others: Vec<Spool> =
                        spool::slots(&settings.dir.join(spool::dir_name(exporter.name())))
                            .into_iter()
                            .filter(|slot| *slot != dir)
                            .filter_map(|slot| Spool::open(&slot, options.clone()).ok())
                            .filter(|other| other.unacked() > 0)
                            .collect();
                    let earlier = spool.unacked() + others.iter().map(Spool::unacked).sum::<u64>();
                    if earlier > 0 {
                        tracing::info!(
                            destination = exporter.name(),
                            "observe: {earlier} records spooled by an earlier run in {} are sent \
                             in the background",
                            dir.parent().unwrap_or(&dir).display()
                        );
                    }
                    let inner = Arc::new(Mutex::new(Inner {
                        spool: Some(spool),
                        others,
                        broken: false,
                    }));
                    if !settings.fsync_interval.is_zero() {
                        start_sync_timer(Arc::downgrade(&inner), settings.fsync_interval);
                    }
                    Some(Spooler {
                        mode: settings.mode,
                        dir,
                        inner,
                    })
                }
                Err(err) => {
                    tracing::warn!(
                        destination = exporter.name(),
                        "observe: no spool for `{}` ({err}); what it cannot deliver is counted \
                         as dropped",
                        exporter.name()
                    );
                    None
                }
            }
        }

        pub(crate) fn mode(&self) -> SpoolMode {
            self.mode
        }

        fn lock(&self) -> MutexGuard<'_, Inner> {
            lock_inner(&self.inner)
        }

        /// Appends `batch`; `maybe_sent` when it may have reached the server already.
        pub(crate) fn append(&self, batch: &Batch, maybe_sent: bool) -> Appended {
            let n = batch.len() as u64;
            let mut inner = self.lock();
            let Inner { spool, broken, .. } = &mut *inner;
            let Some(spool) = spool.as_mut().filter(|_| !*broken) else {
                return Appended {
                    dropped: n,
                    ..Appended::default()
                };
            };
            match spool.append(batch, maybe_sent) {
                Ok(evicted) => Appended {
                    spooled: n,
                    dropped: 0,
                    evicted_own: evicted.own,
                    evicted_earlier: evicted.earlier,
                },
                Err(SpoolError::Full { .. }) => Appended {
                    dropped: n,
                    ..Appended::default()
                },
                Err(err) => {
                    tracing::warn!(
                        "observe: the spool {} cannot be written ({err}); records it would have \
                         kept are counted as dropped from now on",
                        spool.dir().display()
                    );
                    *broken = true;
                    Appended {
                        dropped: n,
                        ..Appended::default()
                    }
                }
            }
        }

        /// Something was written and not synced yet.
        #[cfg(test)]
        pub(super) fn needs_sync(&self) -> bool {
            self.lock().spool.as_ref().is_some_and(Spool::needs_sync)
        }

        /// Records on disk not yet sent.
        pub(crate) fn unacked(&self) -> u64 {
            let inner = self.lock();
            inner.spool.as_ref().map_or(0, Spool::unacked)
                + inner.others.iter().map(Spool::unacked).sum::<u64>()
        }

        /// Where the records go.
        pub(crate) fn dir(&self) -> std::path::PathBuf {
            self.dir.clone()
        }

        /// Syncs what is due (or everything, `all`).
        pub(crate) fn sync(&self, all: bool) {
            let mut inner = self.lock();
            let result = match inner.spool.as_mut() {
                None => return,
                Some(spool) if all => spool.sync(),
                Some(spool) => spool.sync_due(),
            };
            inner.note_sync(result);
        }

        /// Syncs and closes the slot, releasing its lock: the destination is done with it
        /// (a send still under way cannot ack; its entry is in flight, so a replay counts
        /// it as resent).
        ///
        /// `nothing_out` (see [`nothing_out`]): the entry being sent never reached the
        /// server, so it is not left marked in flight.
        pub(crate) fn release(&self, nothing_out: bool) {
            let mut inner = self.lock();
            for other in &mut inner.others {
                if nothing_out {
                    let _ = other.none_in_flight_sent();
                }
                // Only marks were written there: a lost one means a resend, never a loss.
                let _ = other.sync();
            }
            inner.others.clear();
            if nothing_out {
                if let Some(spool) = inner.spool.as_mut() {
                    let _ = spool.none_in_flight_sent();
                }
            }
            drop(inner);
            self.sync(true);
            self.lock().spool = None;
        }

        /// Sends the oldest entry with `exporter`. The lock is not held while it is sent, so
        /// the worker keeps appending.
        /// `context` is the exporter's: whether a request went unanswered decides whether
        /// an entry that was not delivered may have reached the server.
        pub(crate) fn drain_one(
            &self,
            exporter: &mut dyn Exporter,
            context: &ExportContext,
        ) -> Drained {
            let (from, entry) = {
                let mut inner = self.lock();
                if inner.spool.is_none() {
                    return Drained::Nothing;
                }
                // This slot first, then the others an earlier run left.
                let mut from = None;
                let next = loop {
                    let Some(spool) = inner.slot(from) else {
                        return Drained::Nothing;
                    };
                    match spool.oldest() {
                        Next::Empty => match from {
                            None => from = Some(0),
                            Some(i) => drop(inner.others.remove(i)),
                        },
                        next => break next,
                    }
                };
                let Some(spool) = inner.slot(from) else {
                    return Drained::Nothing;
                };
                match next {
                    Next::Empty => return Drained::Nothing,
                    Next::Corrupt {
                        records,
                        earlier,
                        why,
                    } => {
                        tracing::warn!(
                            "observe: skipped a damaged stretch of the spool {} ({why}; {records} \
                             records counted as dropped)",
                            spool.dir().display()
                        );
                        return Drained::Corrupt { earlier, records };
                    }
                    Next::Entry(entry) => {
                        if spool.begin(&entry).is_err() {
                            return Drained::Unreachable;
                        }
                        (from, entry)
                    }
                }
            };
            context.take_unanswered(); // a note of an earlier send
            let result = exporter.export(&entry.batch);
            match spool::answer(result, entry.records) {
                spool::Answer::Later(_) => {
                    // Refused before any request went out: the entry never reached the
                    // server, so delivering it later is not a resend.
                    if !context.take_unanswered() {
                        if let Some(spool) = self.lock().slot(from) {
                            let _ = spool.not_sent(&entry);
                        }
                    }
                    Drained::Unreachable
                }
                spool::Answer::Done { failed } => {
                    // An ack that cannot be written means a resend later, never a loss.
                    if let Some(spool) = self.lock().slot(from) {
                        let _ = spool.ack(&entry);
                    }
                    let delivered = entry.records - failed;
                    Drained::Sent {
                        earlier: entry.earlier,
                        delivered,
                        failed,
                        resent: if entry.maybe_sent { delivered } else { 0 },
                    }
                }
            }
        }
    }

    impl Inner {
        /// This slot (`None`) or another one an earlier run left.
        fn slot(&mut self, from: Option<usize>) -> Option<&mut Spool> {
            match from {
                None => self.spool.as_mut(),
                Some(i) => self.others.get_mut(i),
            }
        }

        /// Notes a failed sync once: the spool stops being written.
        fn note_sync(&mut self, result: Result<(), SpoolError>) {
            if let Err(err) = result {
                if !self.broken {
                    self.broken = true;
                    tracing::warn!("observe: the spool cannot be synced: {err}");
                }
            }
        }
    }

    fn lock_inner(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
        inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Syncs the spool every `every` while something is unsynced, on a thread of its own:
    /// the destination's thread may be blocked in a send for as long as its retry deadline,
    /// and the fsync interval is the window a power loss can cost whatever it does. Ends
    /// once the spool is released or dropped.
    fn start_sync_timer(inner: Weak<Mutex<Inner>>, every: Duration) {
        let spawned = std::thread::Builder::new()
            .name("observe-spool-sync".into())
            .spawn(move || loop {
                std::thread::sleep(every);
                let Some(inner) = inner.upgrade() else {
                    return;
                };
                let mut inner = lock_inner(&inner);
                let result = match inner.spool.as_mut() {
                    None => return,
                    Some(spool) if spool.needs_sync() => spool.sync(),
                    Some(_) => Ok(()),
                };
                inner.note_sync(result);
            });
        if let Err(err) = spawned {
            tracing::warn!(
                "observe: no thread to sync the spool ({err}); appends are synced as they come"
            );
        }
    }
}

#[cfg(all(test, feature = "spool"))]
mod tests {
    use super::*;

    /// A remote destination that is never reached: the test is about the disk.
    struct Unreached;

    impl Exporter for Unreached {
        fn name(&self) -> &str {
            "unreached"
        }
        fn export(&mut self, _: &Batch) -> Result<(), crate::export::ExportError> {
            Ok(())
        }
        fn remote(&self) -> bool {
            true
        }
    }

    /// Takes everything and counts the records.
    struct Taker(u64);

    impl Exporter for Taker {
        fn name(&self) -> &str {
            "taker"
        }
        fn export(&mut self, batch: &Batch) -> Result<(), crate::export::ExportError> {
            self.0 += batch.len() as u64;
            Ok(())
        }
        fn remote(&self) -> bool {
            true
        }
    }

    fn scores(n: usize) -> Batch {
        let score = crate::model::Score {
            id: "s".into(),
            trace_id: crate::model::TraceId(1),
            observation_id: None,
            name: "q".into(),
            value: crate::model::ScoreValue::Boolean(true),
            comment: None,
            timestamp: crate::model::Timestamp(1),
            session_id: None,
        };
        Batch {
            observations: Vec::new(),
            scores: (0..n).map(|_| Box::new(score.clone())).collect(),
        }
    }

    #[test]
    fn slots_no_live_process_holds_are_sent_too() {
        let dir = tempfile::tempdir().unwrap();
        let slots = dir.path().join("taker");
        let options = observe_export::spool::SpoolOptions::default();
        // Slot 2 was left by an earlier run; slot 1 is held by a live process.
        let mut left =
            observe_export::spool::Spool::open(&slots.join("2"), options.clone()).unwrap();
        left.append(&scores(3), false).unwrap();
        drop(left);
        let mut live =
            observe_export::spool::Spool::open(&slots.join("1"), options.clone()).unwrap();
        live.append(&scores(5), false).unwrap();
        let settings = SpoolSettings::new(SpoolMode::Fallback, dir.path());
        let spooler = Spooler::open(&settings, &Taker(0)).unwrap();
        assert!(spooler.dir().ends_with("taker/0"));
        assert_eq!(spooler.unacked(), 3);
        let mut taker = Taker(0);
        let context = ExportContext::default();
        match spooler.drain_one(&mut taker, &context) {
            Drained::Sent {
                earlier, delivered, ..
            } => assert!(earlier && delivered == 3),
            _ => panic!("the earlier slot's entry is sent"),
        }
        assert!(matches!(
            spooler.drain_one(&mut taker, &context),
            Drained::Nothing
        ));
        assert_eq!((taker.0, spooler.unacked()), (3, 0));
        // The emptied slot's lock is released; the live one's records are its own.
        drop(observe_export::spool::Spool::open(&slots.join("2"), options).unwrap());
        assert_eq!(live.unacked(), 5);
    }

    #[test]
    fn an_append_is_synced_within_the_interval_with_no_other_call() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = SpoolSettings::new(SpoolMode::First, dir.path());
        settings.fsync_interval = Duration::from_millis(100);
        let spooler = Spooler::open(&settings, &Unreached).unwrap();
        assert_eq!(spooler.append(&Batch::default(), false).spooled, 0);
        let unsynced = || spooler.needs_sync();
        assert!(unsynced(), "appended within the interval: not synced yet");
        // Nothing else touches the spool (as when the sending thread is blocked on the
        // network): the spool's own timer syncs it. The bound is generous on purpose.
        let give_up = Instant::now() + Duration::from_secs(20);
        while unsynced() && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!unsynced(), "the append was never synced");
    }
}

#[cfg(not(feature = "spool"))]
pub(crate) use disabled::Spooler;

#[cfg(not(feature = "spool"))]
mod disabled {
    use super::*;

    /// Built without the `spool` feature: there is never a spool.
    pub(crate) enum Spooler {}

    impl Spooler {
        pub(crate) fn open(settings: &SpoolSettings, exporter: &dyn Exporter) -> Option<Spooler> {
            if settings.mode != SpoolMode::Off && exporter.remote() {
                tracing::warn!(
                    "observe: a spool was asked for, but observe-runtime was built without its \
                     `spool` feature; undelivered records are counted as dropped"
                );
            }
            None
        }

        pub(crate) fn mode(&self) -> SpoolMode {
            match *self {}
        }

        pub(crate) fn append(&self, _: &Batch, _: bool) -> Appended {
            match *self {}
        }

        pub(crate) fn unacked(&self) -> u64 {
            match *self {}
        }

        pub(crate) fn dir(&self) -> PathBuf {
            match *self {}
        }

        pub(crate) fn sync(&self, _: bool) {
            match *self {}
        }

        pub(crate) fn release(&self, _: bool) {
            match *self {}
        }

        pub(crate) fn drain_one(&self, _: &mut dyn Exporter, _: &ExportContext) -> Drained {
            match *self {}
        }
    }
}
