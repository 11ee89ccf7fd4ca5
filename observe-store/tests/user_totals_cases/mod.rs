//! The writes both `tests/user_totals.rs` (SQLite) and `tests/postgres_user_totals.rs`
//! make: batches of new traces and of merges into stored ones, pieces for several projects,
//! and edits by hand, all drawn from a seeded sequence so that a failure replays.

#![allow(dead_code)]

use std::sync::Arc;

use observe_model::export::Batch;
use observe_model::model::{
    Cost, Level, Observation, ObservationDetails, ObservationType, SpanId, Timestamp,
    TraceAttributes, TraceId,
};
use observe_model::piece::{ObservationPiece, Piece, TracePiece};

pub const MS: u64 = 1_000_000;
/// 2025-01-01T00:00:00Z.
pub const T0: u64 = 1_735_689_600_000_000_000;

pub fn at(ms: u64) -> Timestamp {
    Timestamp(T0 + ms * MS)
}

/// A small deterministic sequence, so a failure can be replayed.
pub struct Dice(pub u64);

impl Dice {
    pub fn roll(&mut self, sides: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % sides
    }
}

pub fn attributes(user: Option<String>, session: Option<String>) -> Arc<TraceAttributes> {
    Arc::new(TraceAttributes {
        user_id: user,
        session_id: session,
        ..TraceAttributes::default()
    })
}

pub fn user(dice: &mut Dice) -> Option<String> {
    match dice.roll(6) {
        0 => None,
        n => Some(format!("user-{n}")),
    }
}

pub fn session(dice: &mut Dice) -> Option<String> {
    match dice.roll(5) {
        0 => None,
        n => Some(format!("session-{n}")),
    }
}

pub fn observation(dice: &mut Dice, trace: u128, id: u64, root: bool) -> Box<Observation> {
    let start = dice.roll(10_000);
    let mut o = Observation {
        trace_id: TraceId(trace),
        id: SpanId(id),
        parent_id: (!root).then_some(SpanId(1)),
        name: "step".into(),
        kind: ObservationType::Span,
        level: Level::Default,
        start: at(start),
        end: at(start + 1 + dice.roll(5_000)),
        details: None,
        trace: attributes(user(dice), session(dice)),
    };
    if dice.roll(2) == 0 {
        o.details_mut().cost = Some(Cost::total_only(dice.roll(1_000) as f64 / 7_000.0));
    }
    Box::new(o)
}

/// Batches for the exporter: new traces, then observations of stored traces again
/// (merges), some with another user or session.
pub fn batches(dice: &mut Dice) -> Vec<Batch> {
    let mut batches = Vec::new();
    for round in 0..6u64 {
        let mut batch = Batch::default();
        for n in 0..40u64 {
            let trace = u128::from(dice.roll(120) + 1);
            let id = round * 100 + n + 2;
            let root = dice.roll(4) == 0;
            batch
                .observations
                .push(observation(dice, trace, if root { 1 } else { id }, root));
        }
        batches.push(batch);
    }
    batches
}

/// Requests of pieces as `observe serve` writes them, for two projects and none, with
/// trace pieces that set or change a trace's user and session after its observations
/// arrived.
pub fn piece_requests(dice: &mut Dice) -> Vec<(Option<&'static str>, Vec<Piece>)> {
    let mut requests = Vec::new();
    for round in 0..8u64 {
        let project = match dice.roll(3) {
            0 => None,
            1 => Some("p1"),
            _ => Some("p2"),
        };
        let mut pieces = Vec::new();
        for n in 0..30u64 {
            let trace = format!("piece-trace-{}", dice.roll(40));
            if dice.roll(3) == 0 {
                pieces.push(Piece::Trace(TracePiece {
                    timestamp: Some(at(dice.roll(10_000))),
                    attributes: TraceAttributes {
                        user_id: user(dice),
                        session_id: session(dice),
                        ..TraceAttributes::default()
                    },
                    ..TracePiece::new(trace)
                }));
                continue;
            }
            let start = dice.roll(10_000);
            let mut piece = ObservationPiece::new(trace, format!("o-{round}-{n}"));
            piece.name = Some("call".into());
            piece.start = Some(at(start));
            piece.end = Some(at(start + dice.roll(3_000)));
            piece.trace = attributes(user(dice), session(dice));
            if dice.roll(2) == 0 {
                piece.details = Some(Box::new(ObservationDetails {
                    cost: Some(Cost::total_only(dice.roll(500) as f64 / 3_000.0)),
                    ..ObservationDetails::default()
                }));
            }
            pieces.push(Piece::Observation(piece));
        }
        requests.push((project, pieces));
    }
    requests
}

/// What no writer of this build does but a hand or a retention job may: a trace moved to
/// another user, session or project, a user removed, shorter and earlier traces, traces
/// deleted. The same SQL runs on SQLite and PostgreSQL.
pub const HAND_EDITS: [&str; 7] = [
    "UPDATE traces SET user_id = 'user-moved' WHERE seq % 7 = 0",
    "UPDATE traces SET session_id = 'session-moved' WHERE seq % 5 = 0",
    "UPDATE traces SET project_id = 'p3' WHERE seq % 11 = 0",
    "UPDATE traces SET user_id = NULL WHERE seq % 13 = 0",
    "UPDATE traces SET user_id = 'user-late' WHERE user_id IS NULL AND seq % 3 = 0",
    "UPDATE traces SET latency_ms = latency_ms / 2, \"timestamp\" = '2000-01-01T00:00:00Z'
     WHERE seq % 4 = 0",
    "DELETE FROM traces WHERE seq % 9 = 0",
];

/// Every write of [`batches`] and [`piece_requests`] drawn from `dice`, through one
/// PostgreSQL writer connected to `url`, shut down at the end (so everything is committed).
#[cfg(feature = "postgres")]
pub fn write_all_to_postgres(url: &str, dice: &mut Dice) {
    use observe_model::export::Exporter;
    use observe_store::postgres::{PgExporter, PgSettings};

    let settings = PgSettings::from_url_with_env(url, |_| None).expect("settings");
    let mut pg = PgExporter::connect(settings).expect("connect");
    for batch in batches(dice) {
        pg.export(&batch).unwrap();
    }
    for (project, pieces) in piece_requests(dice) {
        pg.write_pieces(project, &pieces).unwrap();
    }
    pg.shutdown().unwrap();
}
