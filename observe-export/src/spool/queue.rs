//! [`Spool`]: one destination's durable queue of batches in segment files.
//!
//! A process appends to a segment of its own (it never appends to one an earlier process
//! left); the sender reads entries in order, marks an entry in flight before it sends it
//! and acked once the server answered. Both marks live in a small cursor file rewritten in
//! place, so after a crash at most the entries between the two marks are sent again, and
//! they are counted as `resent`. A segment wholly acked is deleted.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use observe_model::export::Batch;

use super::entry::{self, Found};
use super::{codec, FullPolicy, SpoolError, SpoolOptions};

/// Where an entry starts or ends: a segment and a byte offset in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Position {
    segment: u64,
    offset: u64,
}

struct Segment {
    path: PathBuf,
    len: u64,
    /// Records in entries not yet acked.
    unacked: u64,
}

/// One entry handed to the sender: acknowledge it with [`Spool::ack`] once the destination
/// answered (taken or refused), or leave it and it is handed out again.
#[derive(Debug)]
pub struct Entry {
    /// The records.
    pub batch: Batch,
    /// Records the entry holds (observations and scores).
    pub records: u64,
    /// Spooled by an earlier process (or an earlier opening of this spool).
    pub earlier: bool,
    /// The records may have reached the server before (in flight at a crash or at a
    /// deadline): delivering them is counted as resent.
    pub maybe_sent: bool,
    start: Position,
    end: Position,
}

/// What [`Spool::oldest`] found.
#[derive(Debug)]
pub enum Next {
    /// The oldest entry not yet acked.
    Entry(Entry),
    /// A corrupt or truncated stretch was skipped; `records` is what its header claimed (0
    /// when even that was unreadable). `earlier` as for [`Entry`].
    Corrupt {
        /// Records the skipped entry claimed to hold.
        records: u64,
        /// Written by an earlier process.
        earlier: bool,
        /// What was wrong.
        why: &'static str,
    },
    /// Nothing left to send.
    Empty,
}

/// Records the full policy removed to make room, by who spooled them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evicted {
    /// Records this opening of the spool wrote.
    pub own: u64,
    /// Records an earlier process wrote.
    pub earlier: u64,
}

/// A destination's spool directory, locked by this process while the value lives.
///
/// ```
/// use observe_export::spool::{Next, Spool, SpoolOptions};
/// use observe_model::export::Batch;
/// let dir = tempfile_dir();
/// let mut spool = Spool::open(&dir, SpoolOptions::default()).unwrap();
/// spool.append(&Batch::default(), false).unwrap();
/// let Next::Entry(entry) = spool.oldest() else { panic!() };
/// spool.begin(&entry).unwrap();
/// spool.ack(&entry).unwrap();
/// assert!(matches!(spool.oldest(), Next::Empty));
/// # fn tempfile_dir() -> std::path::PathBuf {
/// #     let d = std::env::temp_dir().join(format!("observe-spool-doc-{}", std::process::id()));
/// #     let _ = std::fs::remove_dir_all(&d);
/// #     d
/// # }
/// ```
pub struct Spool {
    dir: PathBuf,
    options: SpoolOptions,
    /// Held for the lifetime of the value: the advisory lock is released when it closes.
    _lock: File,
    cursor_file: File,
    acked: Position,
    inflight: Position,
    /// The next entry to hand out (never behind `acked`).
    read: Position,
    /// The first position this opening wrote; entries before it are `earlier`.
    own_from: Position,
    segments: BTreeMap<u64, Segment>,
    writer: Option<(u64, File)>,
    /// Where the entry being sent starts (between [`Spool::begin`] and its answer): the
    /// full policy never deletes its segment, so its records are counted once.
    sending: Option<Sending>,
    bytes: u64,
    dirty: bool,
    last_sync: Instant,
}

/// The entry between [`Spool::begin`] and its answer.
#[derive(Clone, Copy)]
struct Sending {
    start: Position,
    end: Position,
    /// It was marked possibly sent before this send began.
    maybe_sent: bool,
}

const CURSOR: &str = "cursor";
const LOCK: &str = "lock";
const MAGIC: &[u8; 4] = b"OSC1";
const CURSOR_LEN: usize = 4 + 32 + 4;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    }
}

fn segment_name(id: u64) -> String {
    format!("{id:016}.seg")
}

/// The id of a segment file the spool wrote: exactly 16 digits and `.seg`. Any other name
/// is not the spool's, so a hand-made `99999999999999999999.seg` cannot push the numbering
/// to its end.
fn segment_id(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 16 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segment after `id`; ids have 16 digits, so this never comes near `u64::MAX`.
fn after(id: u64) -> u64 {
    id.saturating_add(1)
}

/// Makes a file created or removed in `dir` survive a power loss.
fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

fn encode_cursor(acked: Position, inflight: Position) -> [u8; CURSOR_LEN] {
    let mut out = [0u8; CURSOR_LEN];
    out[..4].copy_from_slice(MAGIC);
    for (i, v) in [
        acked.segment,
        acked.offset,
        inflight.segment,
        inflight.offset,
    ]
    .into_iter()
    .enumerate()
    {
        out[4 + i * 8..12 + i * 8].copy_from_slice(&v.to_le_bytes());
    }
    let crc = crc32fast::hash(&out[..36]);
    out[36..].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The two marks, or `None` for a missing or damaged cursor (then nothing counts as acked:
/// a replay may send twice, never lose).
fn decode_cursor(bytes: &[u8]) -> Option<(Position, Position)> {
    if bytes.len() != CURSOR_LEN || &bytes[..4] != MAGIC {
        return None;
    }
    let crc = u32::from_le_bytes(bytes[36..40].try_into().ok()?);
    if crc32fast::hash(&bytes[..36]) != crc {
        return None;
    }
    let v =
        |i: usize| u64::from_le_bytes(bytes[4 + i * 8..12 + i * 8].try_into().unwrap_or([0; 8]));
    Some((
        Position {
            segment: v(0),
            offset: v(1),
        },
        Position {
            segment: v(2),
            offset: v(3),
        },
    ))
}

impl Spool {
    /// Opens (creating it) the spool in `dir` and takes its lock; [`SpoolError::Locked`]
    /// when another process holds it. Counts what earlier processes left unacked.
    pub fn open(dir: &Path, options: SpoolOptions) -> Result<Spool, SpoolError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(SpoolError::Locked {
                    dir: dir.to_owned(),
                })
            }
            Err(fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        let cursor_path = dir.join(CURSOR);
        let mut cursor_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&cursor_path)
            .map_err(io(&cursor_path))?;
        let mut raw = Vec::new();
        cursor_file
            .read_to_end(&mut raw)
            .map_err(io(&cursor_path))?;
        let (acked, inflight) = decode_cursor(&raw).unwrap_or_default();

        let mut segments = BTreeMap::new();
        for item in fs::read_dir(dir).map_err(io(dir))? {
            let item = item.map_err(io(dir))?;
            let name = item.file_name();
            let Some(id) = name.to_str().and_then(segment_id) else {
                continue;
            };
            let path = item.path();
            let len = item.metadata().map_err(io(&path))?.len();
            segments.insert(
                id,
                Segment {
                    path,
                    len,
                    unacked: 0,
                },
            );
        }
        let first = segments.keys().next().copied().unwrap_or(0);
        let acked = if acked.segment < first {
            Position {
                segment: first,
                offset: 0,
            }
        } else {
            acked
        };
        // A mark past every segment on disk (segments deleted by hand, or a damaged tail
        // skipped before anything followed it) means nothing on disk is left to send: bring
        // both marks back to where the next segment starts, so what this opening writes is
        // read rather than hidden behind them.
        let next_id = segments.keys().next_back().map_or(1, |&id| after(id));
        let end = Position {
            segment: next_id,
            offset: 0,
        };
        let (acked, inflight) = (acked.min(end), inflight.max(acked).min(end));
        let own_from = end;
        let mut spool = Spool {
            dir: dir.to_owned(),
            options,
            _lock: lock,
            cursor_file,
            acked,
            inflight,
            read: acked,
            own_from,
            bytes: segments.values().map(|s| s.len).sum(),
            segments,
            writer: None,
            sending: None,
            dirty: false,
            last_sync: Instant::now(),
        };
        spool.count_unacked();
        sync_dir(dir)?;
        Ok(spool)
    }

    /// Counts, per segment, the records of entries from `acked` on, by their headers (a
    /// damaged entry by what its header claims, as reading will; a payload's checksum is
    /// checked when it is read for sending, not here).
    fn count_unacked(&mut self) {
        let acked = self.acked;
        for (&id, seg) in self.segments.iter_mut() {
            if id < acked.segment {
                continue;
            }
            let Ok(mut file) = File::open(&seg.path) else {
                continue;
            };
            let mut offset = if id == acked.segment { acked.offset } else { 0 };
            loop {
                if let Some((records, len)) = entry::header_at(&mut file, offset, seg.len) {
                    seg.unacked += u64::from(records);
                    offset += len;
                    continue;
                }
                match entry::read_at(&mut file, offset, seg.len) {
                    Found::End => break,
                    Found::Entry { records, len, .. } => {
                        seg.unacked += u64::from(records);
                        offset += len;
                    }
                    Found::Bad { records, .. } => {
                        seg.unacked += u64::from(records);
                        offset = entry::resync(&mut file, offset, seg.len);
                    }
                }
            }
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes the segment files take.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Records on disk not yet acked.
    pub fn unacked(&self) -> u64 {
        self.segments.values().map(|s| s.unacked).sum()
    }

    /// Appends a batch; `maybe_sent` marks records that may have reached the server already.
    /// Makes room by the full policy first: [`SpoolError::Full`] when the policy (or the
    /// batch's own size) refuses it. The data reaches the disk at the next sync (at most
    /// the fsync interval later, see [`SpoolOptions::fsync_interval`]).
    pub fn append(&mut self, batch: &Batch, maybe_sent: bool) -> Result<Evicted, SpoolError> {
        let records = batch.len() as u64;
        let flags = if maybe_sent { entry::MAYBE_SENT } else { 0 };
        let bytes = entry::frame(
            &codec::encode(batch),
            u32::try_from(records).unwrap_or(u32::MAX),
            flags,
        );
        let need = bytes.len() as u64;
        if need > self.options.max_bytes {
            return Err(SpoolError::Full { records });
        }
        let mut evicted = Evicted::default();
        while self.bytes + need > self.options.max_bytes {
            match self.options.full {
                FullPolicy::DropNewest => return Err(SpoolError::Full { records }),
                FullPolicy::DropOldest => {
                    if !self.evict_oldest(&mut evicted)? {
                        return Err(SpoolError::Full { records });
                    }
                }
            }
        }
        let segment_max = self.options.segment_bytes();
        let roll = match &self.writer {
            None => true,
            Some((id, _)) => self
                .segments
                .get(id)
                .is_none_or(|s| s.len > 0 && s.len + need > segment_max),
        };
        if roll {
            self.roll()?;
        }
        let Some((id, file)) = &mut self.writer else {
            return Err(SpoolError::Full { records });
        };
        let seg = self
            .segments
            .get_mut(id)
            .ok_or(SpoolError::Full { records })?;
        if let Err(e) = file.write_all(&bytes) {
            // Cut a partial entry off again: its records are counted dropped here, and a
            // tail left behind would be counted dropped a second time by the next reader.
            // The segment is not appended to again.
            let _ = file.set_len(seg.len);
            let path = seg.path.clone();
            self.writer = None;
            return Err(io(&path)(e));
        }
        seg.len += need;
        seg.unacked += records;
        self.bytes += need;
        self.dirty = true;
        if self.last_sync.elapsed() >= self.options.fsync_interval {
            self.sync()?;
        }
        Ok(evicted)
    }

    /// Starts a new segment for this opening's appends.
    fn roll(&mut self) -> Result<(), SpoolError> {
        if let Some((_, file)) = self.writer.take() {
            file.sync_data().map_err(io(&self.dir))?;
        }
        // Past every segment and both marks: a segment numbered behind a mark would never
        // be read.
        let id = self
            .segments
            .keys()
            .next_back()
            .map_or(self.own_from.segment, |&last| after(last))
            .max(self.own_from.segment)
            .max(after(self.acked.max(self.inflight).segment));
        let path = self.dir.join(segment_name(id));
        if segment_id(&segment_name(id)).is_none() {
            return Err(io(&path)(std::io::Error::other(
                "the spool's segment numbers are used up",
            )));
        }
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        sync_dir(&self.dir)?;
        self.segments.insert(
            id,
            Segment {
                path,
                len: 0,
                unacked: 0,
            },
        );
        self.writer = Some((id, file));
        Ok(())
    }

    /// Deletes the oldest segment (after rolling the writer off it if it is the only one),
    /// counting its unacked records; false when there is nothing to evict. The segment of
    /// the entry being sent is kept: its records are counted by the send's answer.
    fn evict_oldest(&mut self, evicted: &mut Evicted) -> Result<bool, SpoolError> {
        let sending = self.sending.map(|s| s.start.segment);
        let Some(&oldest) = self.segments.keys().find(|&&id| Some(id) != sending) else {
            return Ok(false);
        };
        if self.writer.as_ref().is_some_and(|(id, _)| *id == oldest) {
            if self.segments[&oldest].len == 0 {
                return Ok(false);
            }
            self.roll()?;
        }
        let Some(seg) = self.segments.remove(&oldest) else {
            return Ok(false);
        };
        if oldest >= self.own_from.segment {
            evicted.own += seg.unacked;
        } else {
            evicted.earlier += seg.unacked;
        }
        self.bytes -= seg.len;
        let _ = fs::remove_file(&seg.path);
        if self.read.segment <= oldest {
            self.skip_to_after(oldest)?;
        }
        Ok(true)
    }

    /// Moves the read position and both marks past segment `id`.
    fn skip_to_after(&mut self, id: u64) -> Result<(), SpoolError> {
        let next = self
            .segments
            .range(after(id)..)
            .next()
            .map_or(after(id), |(k, _)| *k);
        let to = Position {
            segment: next,
            offset: 0,
        };
        self.read = self.read.max(to);
        self.acked = self.acked.max(to);
        self.inflight = self.inflight.max(to);
        self.write_cursor()
    }

    /// The oldest entry not yet acked; skips (and reports) a corrupt or truncated stretch,
    /// which ends that segment for reading.
    pub fn oldest(&mut self) -> Next {
        let next = self.read_oldest();
        if matches!(next, Next::Empty) {
            // Everything readable was handed out and acked (an entry handed out and not
            // acked is handed out again, never `Empty`): a count left over (a header that
            // claimed more than reading found) is not records waiting.
            for seg in self.segments.values_mut() {
                seg.unacked = 0;
            }
        }
        next
    }

    fn read_oldest(&mut self) -> Next {
        loop {
            let Some((&id, seg)) = self.segments.range(self.read.segment..).next() else {
                return Next::Empty;
            };
            if id != self.read.segment {
                self.read = Position {
                    segment: id,
                    offset: 0,
                };
            }
            let earlier = id < self.own_from.segment;
            let len = seg.len;
            let path = seg.path.clone();
            let read = match File::open(&path) {
                Ok(mut file) => entry::read_at(&mut file, self.read.offset, len),
                Err(_) => Found::Bad {
                    records: 0,
                    why: "segment unreadable",
                },
            };
            match read {
                Found::End => {
                    let is_writer = self.writer.as_ref().is_some_and(|(w, _)| *w == id);
                    if is_writer || self.segments.range(after(id)..).next().is_none() {
                        return Next::Empty;
                    }
                    self.read = Position {
                        segment: after(id),
                        offset: 0,
                    };
                }
                Found::Bad { records, why } => {
                    // Skip to the next entry whose checksum holds: one damaged entry costs
                    // itself, not the rest of its segment.
                    let resume = match File::open(&path) {
                        Ok(mut file) => entry::resync(&mut file, self.read.offset, len),
                        Err(_) => len,
                    };
                    if let Some(seg) = self.segments.get_mut(&id) {
                        seg.unacked = seg.unacked.saturating_sub(u64::from(records));
                    }
                    let is_writer = self.writer.as_ref().is_some_and(|(w, _)| *w == id);
                    if resume >= len {
                        if is_writer {
                            // Our own segment after a failed write: start a new one.
                            self.writer = None;
                        }
                        if let Some(seg) = self.segments.get_mut(&id) {
                            seg.unacked = 0;
                        }
                        let _ = self.skip_to_after(id);
                    } else {
                        let to = Position {
                            segment: id,
                            offset: resume,
                        };
                        self.read = to;
                        self.acked = self.acked.max(to);
                        self.inflight = self.inflight.max(to);
                        let _ = self.write_cursor();
                    }
                    self.delete_passed();
                    return Next::Corrupt {
                        records: u64::from(records),
                        earlier,
                        why,
                    };
                }
                Found::Entry {
                    records,
                    flags,
                    payload,
                    len,
                } => {
                    let start = self.read;
                    let end = Position {
                        segment: id,
                        offset: start.offset + len,
                    };
                    return match codec::decode(&payload) {
                        Ok(batch) => Next::Entry(Entry {
                            batch,
                            records: u64::from(records),
                            earlier,
                            maybe_sent: flags & entry::MAYBE_SENT != 0 || end <= self.inflight,
                            start,
                            end,
                        }),
                        Err(_) => {
                            // A checksum that holds over bytes that do not decode: written by
                            // another version. Skip this entry alone.
                            self.read = end;
                            self.acked = self.acked.max(end);
                            if let Some(seg) = self.segments.get_mut(&id) {
                                seg.unacked = seg.unacked.saturating_sub(u64::from(records));
                            }
                            let _ = self.write_cursor();
                            Next::Corrupt {
                                records: u64::from(records),
                                earlier,
                                why: "undecodable entry",
                            }
                        }
                    };
                }
            }
        }
    }

    /// Marks `entry` in flight: after a crash from here until its ack, it counts as resent.
    pub fn begin(&mut self, entry: &Entry) -> Result<(), SpoolError> {
        self.sending = Some(Sending {
            start: entry.start,
            end: entry.end,
            maybe_sent: entry.maybe_sent,
        });
        if entry.end > self.inflight {
            self.inflight = entry.end;
            self.write_cursor()?;
        }
        Ok(())
    }

    /// Marks `entry` done (the destination took or refused it): it is never handed out again.
    pub fn ack(&mut self, entry: &Entry) -> Result<(), SpoolError> {
        self.sending = None;
        if entry.end <= self.acked {
            return Ok(());
        }
        self.acked = entry.end;
        self.read = self.read.max(entry.end);
        if let Some(seg) = self.segments.get_mut(&entry.start.segment) {
            seg.unacked = seg.unacked.saturating_sub(entry.records);
        }
        self.write_cursor()?;
        self.delete_passed();
        Ok(())
    }

    /// Takes back [`Spool::begin`] for an entry the destination never received (the
    /// connection was refused, no request went unanswered): it stays unacked, and a later
    /// delivery, by this process or the next, is not counted as resent. An entry that was
    /// already possibly sent before keeps that mark.
    ///
    /// ```
    /// use observe_export::spool::{Next, Spool, SpoolOptions};
    /// use observe_model::export::Batch;
    /// let dir = std::env::temp_dir().join(format!("observe-spool-unsent-{}", std::process::id()));
    /// let _ = std::fs::remove_dir_all(&dir);
    /// let mut spool = Spool::open(&dir, SpoolOptions::default()).unwrap();
    /// spool.append(&Batch::default(), false).unwrap();
    /// let Next::Entry(entry) = spool.oldest() else { panic!() };
    /// spool.begin(&entry).unwrap();
    /// spool.not_sent(&entry).unwrap();
    /// let Next::Entry(again) = spool.oldest() else { panic!() };
    /// assert!(!again.maybe_sent);
    /// ```
    pub fn not_sent(&mut self, entry: &Entry) -> Result<(), SpoolError> {
        self.sending = Some(Sending {
            start: entry.start,
            end: entry.end,
            maybe_sent: entry.maybe_sent,
        });
        self.none_in_flight_sent()
    }

    /// [`Spool::not_sent`] for the entry begun and not yet answered, if there is one: for
    /// a caller that knows no request of it is out (a send cut short by a deadline before
    /// anything was answered) and closes the spool before the answer comes.
    pub fn none_in_flight_sent(&mut self) -> Result<(), SpoolError> {
        let Some(sending) = self.sending.take() else {
            return Ok(());
        };
        if sending.maybe_sent || self.inflight != sending.end {
            return Ok(());
        }
        self.inflight = sending.start.max(self.acked);
        self.write_cursor()
    }

    /// Deletes the segments wholly behind the ack mark (not the one being written).
    fn delete_passed(&mut self) {
        let writer = self.writer.as_ref().map(|(id, _)| *id);
        let passed: Vec<u64> = self
            .segments
            .iter()
            .filter(|(id, seg)| {
                Some(**id) != writer
                    && (**id < self.acked.segment
                        || (**id == self.acked.segment && self.acked.offset >= seg.len))
            })
            .map(|(id, _)| *id)
            .collect();
        for id in passed {
            if let Some(seg) = self.segments.remove(&id) {
                self.bytes -= seg.len;
                let _ = fs::remove_file(&seg.path);
            }
        }
    }

    fn write_cursor(&mut self) -> Result<(), SpoolError> {
        let bytes = encode_cursor(self.acked, self.inflight);
        let path = self.dir.join(CURSOR);
        // Rewritten in place: 40 bytes in one write do not tear on a process crash, and a
        // torn one after a power loss fails its checksum (then everything is resent).
        self.cursor_file
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.cursor_file.write_all(&bytes))
            .map_err(io(&path))?;
        self.dirty = true;
        Ok(())
    }

    /// Makes every append and mark so far durable (`fsync`).
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        if let Some((id, file)) = &self.writer {
            let path = self.dir.join(segment_name(*id));
            file.sync_data().map_err(io(&path))?;
        }
        self.cursor_file
            .sync_data()
            .map_err(io(&self.dir.join(CURSOR)))?;
        self.dirty = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Something was written or marked since the last [`Spool::sync`]: a timer that calls
    /// `sync` every fsync interval while this holds keeps the window a power loss can cost
    /// within that interval, whatever else the process is doing.
    pub fn needs_sync(&self) -> bool {
        self.dirty
    }

    /// Syncs when something was written more than the fsync interval ago.
    pub fn sync_due(&mut self) -> Result<(), SpoolError> {
        if self.dirty && self.last_sync.elapsed() >= self.options.fsync_interval {
            self.sync()?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.dir)
            .field("bytes", &self.bytes)
            .field("segments", &self.segments.len())
            .finish()
    }
}
