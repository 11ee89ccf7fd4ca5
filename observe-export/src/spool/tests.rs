use std::fs::{self, OpenOptions};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use observe_model::export::{Batch, ExportError, Exporter};
use observe_model::model::{
    Level, Observation, ObservationType, SpanId, Timestamp, TraceAttributes, TraceId,
};

use super::*;

fn batch(first: u64, n: u64) -> Batch {
    let trace = Arc::new(TraceAttributes::default());
    Batch {
        observations: (first..first + n)
            .map(|i| {
                Box::new(Observation {
                    trace_id: TraceId(1),
                    id: SpanId(i),
                    parent_id: None,
                    name: "o".into(),
                    kind: ObservationType::Span,
                    level: Level::Default,
                    start: Timestamp(i),
                    end: Timestamp(i),
                    details: None,
                    trace: trace.clone(),
                })
            })
            .collect(),
        scores: Vec::new(),
    }
}

/// Takes everything and remembers the ids.
#[derive(Default)]
struct Taker(Vec<u64>);

impl Exporter for Taker {
    fn name(&self) -> &str {
        "taker"
    }
    fn export(&mut self, b: &Batch) -> Result<(), ExportError> {
        self.0.extend(b.observations.iter().map(|o| o.id.0));
        Ok(())
    }
}

fn options() -> SpoolOptions {
    SpoolOptions::default().fsync_interval(Duration::ZERO)
}

#[test]
fn entries_come_back_in_order_once_acked_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), options()).unwrap();
    for i in 0..5 {
        spool.append(&batch(i * 10, 3), false).unwrap();
    }
    assert_eq!(spool.unacked(), 15);
    let Next::Entry(first) = spool.oldest() else {
        panic!("an entry")
    };
    assert!(!first.earlier);
    spool.begin(&first).unwrap();
    spool.ack(&first).unwrap();
    // The second is in flight when the process goes away.
    let Next::Entry(second) = spool.oldest() else {
        panic!("an entry")
    };
    spool.begin(&second).unwrap();
    drop(spool);

    let mut spool = Spool::open(dir.path(), options()).unwrap();
    assert_eq!(spool.unacked(), 12);
    let mut taker = Taker::default();
    let s = replay(&mut spool, &mut taker, &mut |_| {});
    assert_eq!(
        taker.0,
        vec![10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42]
    );
    assert_eq!((s.delivered, s.resent, s.remaining), (12, 3, 0));
    drop(spool);
    let mut spool = Spool::open(dir.path(), options()).unwrap();
    assert!(matches!(spool.oldest(), Next::Empty));
    assert_eq!(spool.unacked(), 0);
}

#[test]
fn a_second_opener_is_refused_and_open_slot_takes_the_next_slot() {
    let dir = tempfile::tempdir().unwrap();
    let a = Spool::open(dir.path(), options()).unwrap();
    assert!(matches!(
        Spool::open(dir.path(), options()),
        Err(SpoolError::Locked { .. })
    ));
    drop(a);
    assert!(Spool::open(dir.path(), options()).is_ok());
    let x = open_slot(dir.path(), "d", options()).unwrap();
    let y = open_slot(dir.path(), "d", options()).unwrap();
    assert!(x.dir().ends_with("d/0") && y.dir().ends_with("d/1"));
}

#[test]
fn drop_newest_refuses_and_drop_oldest_evicts_counting_records() {
    let dir = tempfile::tempdir().unwrap();
    let one = entry::frame(&codec::encode(&batch(0, 2)), 2, 0).len() as u64;
    let small = options().max_bytes(small_bytes(one));
    let mut spool = Spool::open(dir.path(), small.clone()).unwrap();
    for i in 0..3 {
        spool.append(&batch(i * 10, 2), false).unwrap();
    }
    assert!(matches!(
        spool.append(&batch(90, 2), false),
        Err(SpoolError::Full { records: 2 })
    ));
    assert!(spool.bytes() <= small.max_bytes);
    drop(spool);

    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), small.full(FullPolicy::DropOldest)).unwrap();
    let mut evicted = Evicted::default();
    for i in 0..10 {
        let e = spool.append(&batch(i * 10, 2), false).unwrap();
        evicted.own += e.own;
    }
    assert!(spool.bytes() <= small_bytes(one));
    // Every record is either on disk or counted evicted.
    assert_eq!(evicted.own + spool.unacked(), 20);
    assert!(evicted.own > 0);
    let mut taker = Taker::default();
    replay(&mut spool, &mut taker, &mut |_| {});
    assert_eq!(taker.0.last(), Some(&91), "the newest are kept");
}

fn small_bytes(one: u64) -> u64 {
    // Room for three entries whatever the width of their numbers.
    one * 3 + 32
}

#[test]
fn a_corrupt_or_truncated_segment_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), options()).unwrap();
    spool.append(&batch(0, 2), false).unwrap();
    spool.append(&batch(10, 2), false).unwrap();
    drop(spool);
    // The next process writes a segment of its own.
    let mut spool = Spool::open(dir.path(), options()).unwrap();
    spool.append(&batch(20, 2), false).unwrap();
    drop(spool);
    let mut segs: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segs.sort();
    assert_eq!(segs.len(), 2);
    // Flip a byte in the first segment's first entry, and cut a tail onto the second.
    let mut bytes = fs::read(&segs[0]).unwrap();
    bytes[20] ^= 0xff;
    fs::write(&segs[0], &bytes).unwrap();
    OpenOptions::new()
        .append(true)
        .open(&segs[1])
        .unwrap()
        .write_all(&[7, 0, 0, 0, 1])
        .unwrap();

    let mut spool = Spool::open(dir.path(), options()).unwrap();
    let mut taker = Taker::default();
    let s = replay(&mut spool, &mut taker, &mut |_| {});
    assert_eq!(
        taker.0,
        vec![10, 11, 20, 21],
        "the entry after the damaged one is kept"
    );
    assert_eq!(s.delivered, 4);
    assert_eq!(
        s.dropped_corrupt, 2,
        "the damaged entry's records, by its header"
    );
}

#[test]
fn random_bytes_never_panic() {
    for seed in 0..50u64 {
        fastrand::seed(seed);
        let dir = tempfile::tempdir().unwrap();
        let len = fastrand::usize(0..400);
        let junk: Vec<u8> = (0..len).map(|_| fastrand::u8(..)).collect();
        fs::write(dir.path().join("0000000000000001.seg"), &junk).unwrap();
        fs::write(dir.path().join("cursor"), &junk[..len.min(40)]).unwrap();
        let mut spool = Spool::open(dir.path(), options()).unwrap();
        let s = replay(&mut spool, &mut Taker::default(), &mut |_| {});
        assert_eq!(s.delivered, 0);
    }
}

/// Refuses one record in each batch, as a 207 does.
struct Picky;

impl Exporter for Picky {
    fn name(&self) -> &str {
        "picky"
    }
    fn export(&mut self, _: &Batch) -> Result<(), ExportError> {
        Err(ExportError::Partial {
            destination: "picky".into(),
            refused: 1,
            message: "no".into(),
        })
    }
}

#[test]
fn partial_refusals_count_per_record_and_are_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), options()).unwrap();
    spool.append(&batch(0, 4), false).unwrap();
    spool.append(&batch(10, 4), true).unwrap();
    let s = replay(&mut spool, &mut Picky, &mut |_| {});
    assert_eq!((s.delivered, s.failed, s.resent), (6, 2, 3));
    assert!(matches!(spool.oldest(), Next::Empty));
}

#[test]
fn a_read_only_directory_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    fs::write(&file, b"x").unwrap();
    assert!(matches!(
        Spool::open(&file.join("spool"), options()),
        Err(SpoolError::Io { .. })
    ));
}

#[test]
fn segments_written_after_the_cursor_passed_every_segment_on_disk_are_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), options()).unwrap();
    spool.append(&batch(0, 2), false).unwrap();
    spool.append(&batch(10, 2), false).unwrap();
    for _ in 0..2 {
        let Next::Entry(entry) = spool.oldest() else {
            panic!("an entry")
        };
        spool.begin(&entry).unwrap();
        spool.ack(&entry).unwrap();
    }
    drop(spool);
    // The acked mark now points into segment 1; the segment goes, by hand.
    for item in fs::read_dir(dir.path()).unwrap() {
        let path = item.unwrap().path();
        if path.extension().is_some_and(|e| e == "seg") {
            fs::remove_file(path).unwrap();
        }
    }
    let mut spool = Spool::open(dir.path(), options()).unwrap();
    assert_eq!(spool.unacked(), 0);
    spool.append(&batch(20, 2), false).unwrap();
    spool.append(&batch(30, 2), false).unwrap();
    let mut taker = Taker::default();
    let s = replay(&mut spool, &mut taker, &mut |_| {});
    assert_eq!(taker.0, vec![20, 21, 30, 31]);
    assert_eq!((s.delivered, s.resent, s.remaining), (4, 0, 0));
}

#[test]
fn a_truncated_own_segment_skipped_then_more_appends_are_still_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), options()).unwrap();
    spool.append(&batch(0, 2), false).unwrap();
    // A tail as a failed write leaves it, on the segment being written.
    let seg = dir.path().join("0000000000000001.seg");
    let whole = fs::metadata(&seg).unwrap().len();
    OpenOptions::new()
        .append(true)
        .open(&seg)
        .unwrap()
        .write_all(&[200, 0, 0, 0, 9, 0, 0, 0])
        .unwrap();
    drop(spool);
    let mut spool = Spool::open(dir.path(), options()).unwrap();
    let mut taker = Taker::default();
    replay(&mut spool, &mut taker, &mut |_| {});
    assert_eq!(taker.0, vec![0, 1]);
    assert!(whole > 0);
    spool.append(&batch(10, 2), false).unwrap();
    drop(spool);
    let mut spool = Spool::open(dir.path(), options()).unwrap();
    assert_eq!(spool.unacked(), 2);
    replay(&mut spool, &mut taker, &mut |_| {});
    assert_eq!(taker.0, vec![0, 1, 10, 11]);
}

#[test]
fn only_names_the_spool_writes_are_segments_so_numbering_cannot_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), options()).unwrap();
    spool.append(&batch(0, 2), false).unwrap();
    drop(spool);
    let seg = dir.path().join("0000000000000001.seg");
    fs::copy(&seg, dir.path().join("18446744073709551615.seg")).unwrap();
    fs::copy(&seg, dir.path().join("+000000000000002.seg")).unwrap();
    let mut spool = Spool::open(dir.path(), options()).unwrap();
    assert_eq!(spool.unacked(), 2, "the foreign names are not read");
    spool.append(&batch(10, 2), false).unwrap();
    let mut taker = Taker::default();
    replay(&mut spool, &mut taker, &mut |_| {});
    assert_eq!(taker.0, vec![0, 1, 10, 11]);
}

#[test]
fn a_damaged_header_cannot_claim_more_records_than_its_bytes_hold() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&640u32.to_le_bytes());
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&[b'x'; 640]);
    fs::write(dir.path().join("0000000000000001.seg"), &bytes).unwrap();
    let mut spool = Spool::open(dir.path(), options()).unwrap();
    assert!(spool.unacked() <= 10, "{}", spool.unacked());
    let s = replay(&mut spool, &mut Taker::default(), &mut |_| {});
    assert!(s.dropped_corrupt <= 10, "{s:?}");
    // Cut short, it holds fewer still.
    fs::write(dir.path().join("0000000000000002.seg"), &bytes[..16 + 128]).unwrap();
    drop(spool);
    let mut spool = Spool::open(dir.path(), options()).unwrap();
    let s = replay(&mut spool, &mut Taker::default(), &mut |_| {});
    assert!(s.dropped_corrupt <= 2, "{s:?}");
    assert_eq!(spool.unacked(), 0, "nothing is left to send");
}

#[test]
fn what_is_left_is_counted_at_open_by_the_headers_and_a_bad_payload_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), options()).unwrap();
    for i in 0..3 {
        spool.append(&batch(i * 10, 3), false).unwrap();
    }
    drop(spool);
    let seg = dir.path().join("0000000000000001.seg");
    let mut bytes = fs::read(&seg).unwrap();
    bytes[20] ^= 0xff; // the first entry's payload: its header still holds
    fs::write(&seg, &bytes).unwrap();
    let mut spool = Spool::open(dir.path(), options()).unwrap();
    assert_eq!(spool.unacked(), 9);
    let mut taker = Taker::default();
    let s = replay(&mut spool, &mut taker, &mut |_| {});
    assert_eq!((s.delivered, s.dropped_corrupt, s.remaining), (6, 3, 0));
    assert_eq!(taker.0, vec![10, 11, 12, 20, 21, 22]);
}

#[test]
fn drop_oldest_never_evicts_the_entry_being_sent() {
    let dir = tempfile::tempdir().unwrap();
    let one = entry::frame(&codec::encode(&batch(0, 2)), 2, 0).len() as u64;
    let small = options()
        .max_bytes(small_bytes(one))
        .full(FullPolicy::DropOldest);
    let mut spool = Spool::open(dir.path(), small).unwrap();
    let (mut appended, mut refused, mut evicted) = (0, 0, 0);
    for i in 0..3 {
        spool.append(&batch(i * 10, 2), false).unwrap();
        appended += 2;
    }
    let Next::Entry(sending) = spool.oldest() else {
        panic!("an entry")
    };
    spool.begin(&sending).unwrap();
    for i in 3..6 {
        match spool.append(&batch(i * 10, 2), false) {
            Ok(e) => evicted += e.own + e.earlier,
            Err(SpoolError::Full { records }) => refused += records,
            Err(e) => panic!("{e}"),
        }
        appended += 2;
    }
    // The send answers: its records are counted by that answer, so not by eviction too.
    spool.ack(&sending).unwrap();
    let delivered = sending.records;
    assert_eq!(
        evicted + refused + delivered + spool.unacked(),
        appended,
        "evicted {evicted}, refused {refused}, delivered {delivered}, left {}",
        spool.unacked()
    );
    let mut taker = Taker::default();
    let s = replay(&mut spool, &mut taker, &mut |_| {});
    assert!(!taker.0.contains(&0), "the entry sent is not sent again");
    assert_eq!(s.delivered + evicted + refused + delivered, appended);
}

#[test]
fn an_entry_taken_back_after_a_refused_connection_is_not_counted_resent() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), options()).unwrap();
    spool.append(&batch(0, 2), false).unwrap();
    let Next::Entry(entry) = spool.oldest() else {
        panic!("an entry")
    };
    spool.begin(&entry).unwrap();
    spool.not_sent(&entry).unwrap();
    drop(spool);
    let mut spool = Spool::open(dir.path(), options()).unwrap();
    let s = replay(&mut spool, &mut Taker::default(), &mut |_| {});
    assert_eq!((s.delivered, s.resent), (2, 0));
}
