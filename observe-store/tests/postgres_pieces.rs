//! Records in pieces (`observe serve`) written into a real PostgreSQL end as they end in the
//! SQLite store: every case of `tests/pieces.rs` is written into both, with the same
//! requests in the same order, and the rows of `traces`, `observations` and `scores` are
//! compared column by column (JSON as values, times to the microsecond PostgreSQL keeps).
//! Four writers sending pieces of the same traces at once lose nothing and never deadlock.

mod pg_support;
mod pieces_cases;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use observe_model::model::{Json, ObservationType, ScoreValue, Timestamp, TraceAttributes, Usage};
use observe_model::piece::{ObservationPiece, Piece, ScorePiece, TracePiece};
use observe_store::postgres::{PgExporter, PgSettings};
use observe_store::{PieceReport, StoreExporter};
use pg_support::PgServer;
use pieces_cases::*;
use serde_json::Value;

/// Times past this are the arrival time of a request (a piece that gave none), which
/// differs between the two stores' writes: compared as "arrival".
const ARRIVAL_AFTER_US: i64 = ((T0 + 365 * 24 * 3_600_000 * MS) / 1_000) as i64;

/// The two stores, written request by request alike.
struct Both {
    server: PgServer,
    pg: PgExporter,
    dir: tempfile::TempDir,
    sqlite: StoreExporter,
}

impl Both {
    fn start() -> Both {
        let server = PgServer::start();
        let settings = PgSettings::from_url_with_env(&server.url(), |_| None).expect("settings");
        let pg = PgExporter::connect(settings).expect("connect");
        let dir = tempfile::tempdir().unwrap();
        let sqlite = StoreExporter::open(dir.path().join("traces.db")).unwrap();
        Both {
            server,
            pg,
            dir,
            sqlite,
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("traces.db")
    }

    /// Writes one request into both; their reports must agree.
    fn write(&mut self, project: Option<&str>, pieces: &[Piece]) -> PieceReport {
        let sqlite = self.sqlite.write_pieces(project, pieces).unwrap();
        let pg = self.pg.write_pieces(project, pieces).unwrap();
        assert_eq!(pg.stored(), sqlite.stored(), "{pg:?} {sqlite:?}");
        assert_eq!(
            (pg.observations_created, pg.observations_merged),
            (sqlite.observations_created, sqlite.observations_merged),
            "{pg:?} {sqlite:?}"
        );
        assert_eq!(
            (pg.traces_created, pg.traces_merged, pg.scores),
            (sqlite.traces_created, sqlite.traces_merged, sqlite.scores),
            "{pg:?} {sqlite:?}"
        );
        let refused = |r: &PieceReport| r.refused.iter().map(|p| p.index).collect::<Vec<_>>();
        assert_eq!(refused(&pg), refused(&sqlite), "{pg:?} {sqlite:?}");
        pg
    }

    /// Asserts that both stores hold the same rows, and returns PostgreSQL's.
    fn same_rows(&self) -> Rows {
        let sqlite = sqlite_rows(&self.path());
        let pg = pg_rows(&mut self.server.connect());
        for (table, (s, p)) in TABLES.iter().zip(sqlite.0.iter().zip(&pg.0)) {
            assert_eq!(
                p, s,
                "{}: PostgreSQL (left) and SQLite (right) differ",
                table.0
            );
        }
        pg
    }

    /// Empties both stores.
    fn clear(&mut self) {
        self.server
            .connect()
            .batch_execute("TRUNCATE traces, observations, scores")
            .unwrap();
        self.sqlite = StoreExporter::open(self.dir.path().join("other.db")).unwrap();
        std::fs::remove_file(self.path()).unwrap();
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(self.dir.path().join(format!("traces.db{suffix}")));
        }
        self.sqlite = StoreExporter::open(self.path()).unwrap();
    }
}

/// How a column is compared.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    /// JSON text, compared as a value.
    Json,
    Int,
    Real,
    Flag,
    /// A time, to the microsecond.
    Time,
    /// Nanoseconds, compared to the microsecond.
    Nanos,
    /// Whether a time was given (SQLite: not empty text; PostgreSQL: not NULL).
    Given,
}

use Kind::*;

type Table = (&'static str, &'static str, &'static [(&'static str, Kind)]);

/// Each table compared, its order, and its columns.
const TABLES: [Table; 3] = [
    (
        "traces",
        "id",
        &[
            ("id", Text),
            ("name", Text),
            ("user_id", Text),
            ("session_id", Text),
            ("timestamp", Time),
            ("end_time", Time),
            ("start_ns", Nanos),
            ("end_ns", Nanos),
            ("latency_ms", Real),
            ("calculated_total_cost", Real),
            ("computed_cost", Real),
            ("observation_count", Int),
            ("has_root", Flag),
            ("metadata", Json),
            ("tags", Json),
            ("version", Text),
            ("release", Text),
            ("environment", Text),
            ("public", Flag),
            ("input", Text),
            ("output", Text),
            ("project_id", Text),
        ],
    ),
    (
        "observations",
        "trace_id, id",
        &[
            ("id", Text),
            ("trace_id", Text),
            ("parent_observation_id", Text),
            ("type", Text),
            ("name", Text),
            ("level", Text),
            ("status_message", Text),
            ("start_time", Given),
            ("end_time", Given),
            ("start_ns", Nanos),
            ("end_ns", Nanos),
            ("latency_ms", Real),
            ("completion_start_time", Time),
            ("model", Text),
            ("model_parameters", Json),
            ("usage_details", Json),
            ("cost_details", Json),
            ("calculated_total_cost", Real),
            ("input", Text),
            ("output", Text),
            ("metadata", Json),
            ("prompt_name", Text),
            ("prompt_version", Int),
            ("version", Text),
            ("cost_computed", Flag),
            ("project_id", Text),
        ],
    ),
    (
        "scores",
        "id",
        &[
            ("id", Text),
            ("trace_id", Text),
            ("observation_id", Text),
            ("session_id", Text),
            ("name", Text),
            ("data_type", Text),
            ("value", Real),
            ("string_value", Text),
            ("comment", Text),
            ("timestamp", Time),
            ("project_id", Text),
        ],
    ),
];

/// The rows of each of [`TABLES`], each a list of comparable values.
#[derive(Debug)]
struct Rows([Vec<Vec<Value>>; 3]);

impl Rows {
    /// The value of `column` in the row of `table` whose first column is `id`.
    fn get(&self, table: &str, id: &str, column: &str) -> Value {
        let t = TABLES.iter().position(|t| t.0 == table).unwrap();
        let c = TABLES[t].2.iter().position(|c| c.0 == column).unwrap();
        let row = self.0[t]
            .iter()
            .find(|r| r[0] == Value::String(id.into()))
            .unwrap_or_else(|| panic!("no {table} row {id}: {self:?}"));
        row[c].clone()
    }

    fn count(&self, table: &str) -> usize {
        self.0[TABLES.iter().position(|t| t.0 == table).unwrap()].len()
    }
}

fn micros(us: i64) -> Value {
    if us > ARRIVAL_AFTER_US {
        Value::String("arrival".into())
    } else {
        Value::from(us)
    }
}

fn real(x: f64) -> Value {
    Value::String(format!("{x:.9e}"))
}

/// A column's text (as each store spells it) as a comparable value.
fn comparable(kind: Kind, text: Option<&str>) -> Value {
    let Some(text) = text else {
        return match kind {
            Given => Value::Bool(false),
            _ => Value::Null,
        };
    };
    match kind {
        Text => Value::String(text.into()),
        Json => serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}")),
        Int => Value::from(text.parse::<i64>().unwrap()),
        Real => real(text.parse().unwrap()),
        Flag => Value::Bool(matches!(text, "1" | "t" | "true")),
        Time => micros(text.parse().unwrap()),
        Nanos => micros(text.parse::<i64>().unwrap() / 1_000),
        Given => Value::Bool(!text.is_empty()),
    }
}

fn sqlite_rows(path: &Path) -> Rows {
    let conn = rusqlite::Connection::open(path).unwrap();
    Rows(TABLES.map(|(table, order, columns)| {
        let select: Vec<String> = columns.iter().map(|(c, _)| format!("\"{c}\"")).collect();
        let sql = format!("SELECT {} FROM {table} ORDER BY {order}", select.join(", "));
        let mut stmt = conn.prepare(&sql).unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok(columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, kind))| {
                        let text: Option<String> = match r.get_ref(i).unwrap() {
                            rusqlite::types::ValueRef::Null => None,
                            rusqlite::types::ValueRef::Integer(n) => Some(n.to_string()),
                            rusqlite::types::ValueRef::Real(x) => Some(x.to_string()),
                            rusqlite::types::ValueRef::Text(t) => {
                                Some(String::from_utf8_lossy(t).into_owned())
                            }
                            rusqlite::types::ValueRef::Blob(_) => panic!("a blob"),
                        };
                        // The stored RFC 3339 text, as microseconds.
                        let text = match kind {
                            Time => text.filter(|t| !t.is_empty()).map(|t| {
                                let at = Timestamp::parse_rfc3339(&t).expect("a stored time");
                                (at.as_nanos() / 1_000).to_string()
                            }),
                            _ => text,
                        };
                        comparable(*kind, text.as_deref())
                    })
                    .collect::<Vec<Value>>())
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        rows
    }))
}

fn pg_rows(client: &mut postgres::Client) -> Rows {
    Rows(TABLES.map(|(table, order, columns)| {
        let select: Vec<String> = columns
            .iter()
            .map(|(c, kind)| match kind {
                Time => format!("(extract(epoch FROM \"{c}\") * 1000000)::bigint::text"),
                Given => format!("CASE WHEN \"{c}\" IS NOT NULL THEN 'given' END"),
                Json if *c == "tags" => format!("to_json(\"{c}\")::text"),
                _ => format!("\"{c}\"::text"),
            })
            .collect();
        // In SQLite's order: by bytes.
        let order: Vec<String> = order
            .split(", ")
            .map(|c| format!("{c} COLLATE \"C\""))
            .collect();
        let sql = format!(
            "SELECT {} FROM {table} ORDER BY {}",
            select.join(", "),
            order.join(", ")
        );
        client
            .query(&sql, &[])
            .unwrap()
            .iter()
            .map(|r| {
                columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, kind))| comparable(*kind, r.get::<_, Option<&str>>(i)))
                    .collect()
            })
            .collect()
    }))
}

/// What the four pieces make, whatever their order.
fn check_merged(rows: &Rows) {
    let o = |c| rows.get("observations", CHILD, c);
    assert_eq!(o("name"), "llm");
    assert_eq!(o("type"), "GENERATION");
    assert_eq!(o("level"), "WARNING");
    assert_eq!(o("parent_observation_id"), ROOT);
    assert_eq!(o("latency_ms"), real(200.0));
    assert_eq!(
        o("usage_details"),
        serde_json::json!({"input": 1000, "output": 500, "total": 1500})
    );
    assert_eq!(o("calculated_total_cost"), real(0.25));
    assert_eq!(o("metadata"), serde_json::json!({"a": 1, "b": 2}));
    let t = |c| rows.get("traces", TRACE, c);
    assert_eq!(t("observation_count"), 2);
    assert_eq!(t("calculated_total_cost"), real(0.25));
    assert_eq!(t("latency_ms"), real(400.0));
    assert_eq!(t("session_id"), "chat-1");
    assert_eq!(t("tags"), serde_json::json!(["beta"]));
    assert_eq!(t("name"), "agent", "the root's name names the trace");
    assert_eq!(t("has_root"), true);
    assert_eq!(rows.count("observations"), 2, "one row per observation id");
    assert_eq!(rows.count("traces"), 1);
}

#[test]
fn pieces_in_any_order_end_as_in_sqlite() {
    let all = pieces();
    let mut both = Both::start();
    let mut order = vec![0, 1, 2, 3];
    for n in 0..24 {
        if n > 0 {
            // The next permutation, lexicographically.
            let i = (0..3).rev().find(|&i| order[i] < order[i + 1]).unwrap();
            let j = (i + 1..4).rev().find(|&j| order[i] < order[j]).unwrap();
            order.swap(i, j);
            order[i + 1..].reverse();
            both.clear();
        }
        for &i in &order {
            let report = both.write(None, &all[i..=i]);
            assert_eq!(report.stored(), 1, "{order:?}");
        }
        check_merged(&both.same_rows());
    }
}

#[test]
fn pieces_of_one_request_merge_in_it() {
    let mut both = Both::start();
    let report = both.write(Some("p1"), &pieces());
    assert_eq!(
        (report.observations_created, report.observations_merged),
        (2, 2)
    );
    check_merged(&both.same_rows());
}

#[test]
fn usage_that_arrives_later_is_priced_and_counted_in_the_trace() {
    let mut both = Both::start();
    let create = ObservationPiece {
        name: Some("chat".into()),
        kind: Some(ObservationType::Generation),
        start: at(0),
        details: details(|d| d.model = Some("gpt-4o".into())),
        ..piece("gen-1")
    };
    both.write(None, &[Piece::Observation(create)]);
    assert_eq!(
        both.same_rows()
            .get("traces", TRACE, "calculated_total_cost"),
        real(0.0)
    );
    let update = ObservationPiece {
        end: at(1_000),
        details: details(|d| d.usage = Some(Usage::new(1_000_000, 0))),
        ..piece("gen-1")
    };
    both.write(None, &[Piece::Observation(update)]);
    let rows = both.same_rows();
    assert_eq!(rows.get("observations", "gen-1", "cost_computed"), true);
    let cost = rows.get("traces", TRACE, "calculated_total_cost");
    assert_ne!(cost, real(0.0), "priced from the built-in list");
    assert_eq!(rows.get("traces", TRACE, "computed_cost"), cost);
    assert_eq!(rows.get("traces", TRACE, "latency_ms"), real(1_000.0));
}

#[test]
fn a_trace_with_no_observation_merges_like_attributes() {
    let mut both = Both::start();
    let [first, second] = trace_pieces();
    let report = both.write(None, &[first, second]);
    assert_eq!((report.traces_created, report.traces_merged), (1, 1));
    // A later request moves its time while it has no observation.
    let later = TracePiece {
        timestamp: at(7),
        attributes: TraceAttributes {
            tags: vec!["a".into(), "d".into()],
            ..TraceAttributes::default()
        },
        ..TracePiece::new("t-9")
    };
    assert_eq!(both.write(None, &[Piece::Trace(later)]).traces_merged, 1);
    let rows = both.same_rows();
    let t = |c| rows.get("traces", "t-9", c);
    assert_eq!(t("name"), "ask-renamed");
    assert_eq!(t("tags"), serde_json::json!(["a", "b", "c", "d"]));
    assert_eq!(t("metadata"), serde_json::json!({"k1": 1, "k2": 2}));
    assert_eq!(t("timestamp"), micros(((T0 + 7 * MS) / 1_000) as i64));
    assert_eq!(t("observation_count"), 0);
}

#[test]
fn scores_with_text_ids_are_stored_and_replaced_by_id() {
    let mut both = Both::start();
    let session = ScorePiece {
        id: "score-2".into(),
        trace_id: None,
        observation_id: None,
        session_id: Some("chat-1".into()),
        name: "tone".into(),
        value: ScoreValue::Categorical("warm".into()),
        comment: None,
        timestamp: at(10),
    };
    both.write(
        Some("p1"),
        &[
            Piece::Score(score(ScoreValue::Numeric(0.5))),
            Piece::Score(session),
        ],
    );
    // Twice in one request: the later one stays.
    both.write(
        Some("p1"),
        &[
            Piece::Score(score(ScoreValue::Numeric(0.7))),
            Piece::Score(score(ScoreValue::Boolean(true))),
        ],
    );
    let rows = both.same_rows();
    assert_eq!(rows.get("scores", "score-1", "data_type"), "BOOLEAN");
    assert_eq!(rows.get("scores", "score-1", "value"), real(1.0));
    assert_eq!(rows.get("scores", "score-1", "project_id"), "p1");
    assert_eq!(rows.get("scores", "score-2", "trace_id"), "");
    assert_eq!(rows.get("scores", "score-2", "string_value"), "warm");
}

#[test]
fn pieces_of_another_projects_trace_are_refused_and_the_rest_stored() {
    let mut both = Both::start();
    both.write(
        Some("a"),
        &[Piece::Observation(ObservationPiece {
            start: at(0),
            ..piece("o-1")
        })],
    );
    let report = both.write(
        Some("b"),
        &[
            Piece::Observation(piece("o-2")),
            Piece::Observation(ObservationPiece::new("other", "")),
            Piece::Observation(ObservationPiece {
                start: at(3),
                ..ObservationPiece::new("other", "o-3")
            }),
            Piece::Trace(TracePiece::new("")),
        ],
    );
    assert_eq!(report.refused.len(), 3, "{report:?}");
    assert!(
        report.refused[0].reason.contains("project `a`"),
        "{report:?}"
    );
    assert!(report.refused[1].reason.contains("observation id is empty"));
    assert!(report.refused[2].reason.contains("trace id is empty"));
    let rows = both.same_rows();
    assert_eq!(rows.get("observations", "o-1", "project_id"), "a");
    assert_eq!(rows.get("observations", "o-3", "project_id"), "b");
    assert_eq!(rows.get("traces", "other", "project_id"), "b");
    assert_eq!(rows.count("observations"), 2);
}

#[test]
fn a_row_the_server_refuses_leaves_out_only_the_pieces_that_make_it() {
    let mut both = Both::start();
    rusqlite::Connection::open(both.path())
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_bad BEFORE INSERT ON observations WHEN NEW.name = 'bad'
             BEGIN SELECT RAISE(ABORT, 'no bad names'); END;",
        )
        .unwrap();
    both.server
        .connect()
        .batch_execute(
            "CREATE FUNCTION refuse_bad() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.name = 'bad' THEN
                     RAISE EXCEPTION 'no bad names' USING ERRCODE = 'check_violation';
                 END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER refuse_bad BEFORE INSERT ON observations
                 FOR EACH ROW EXECUTE FUNCTION refuse_bad();",
        )
        .unwrap();
    let mut pieces: Vec<Piece> = (0..40)
        .flat_map(|i| create_update(&format!("o-{i}"), if i == 20 { "bad" } else { "step" }))
        .collect();
    // A trace whose only piece is refused leaves no row behind.
    pieces.push(Piece::Observation(ObservationPiece {
        name: Some("bad".into()),
        ..ObservationPiece::new("lonely", "o-x")
    }));
    let report = both.write(Some("p"), &pieces);
    assert_eq!(report.refused.len(), 2, "{report:?}");
    assert_eq!(report.refused[0].index, 40);
    assert!(
        report.refused[0].reason.contains("no bad names"),
        "{report:?}"
    );
    assert_eq!(
        (report.observations_created, report.observations_merged),
        (40, 39)
    );
    let rows = both.same_rows();
    assert_eq!(rows.count("observations"), 40);
    assert_eq!(rows.get("observations", "o-20", "input"), Value::Null);
    assert_eq!(rows.get("traces", TRACE, "observation_count"), 40);
    assert_eq!(rows.count("traces"), 1, "{rows:?}");
}

#[test]
fn updates_of_many_stored_observations_merge_into_each_row() {
    let mut both = Both::start();
    let ids: Vec<String> = (0..45).map(|i| format!("o-{i}")).collect();
    let [creates, updates]: [Vec<Piece>; 2] = [0, 1].map(|half| {
        ids.iter()
            .map(|id| create_update(id, "step")[half].clone())
            .collect()
    });
    assert_eq!(both.write(Some("p"), &creates).observations_created, 45);
    let second = both.write(Some("p"), &updates);
    assert_eq!(
        (second.observations_created, second.observations_merged),
        (0, 45)
    );
    let rows = both.same_rows();
    assert_eq!(rows.get("observations", "o-44", "output"), "\"answer\"");
    assert_eq!(rows.get("observations", "o-44", "input"), "\"question\"");
    assert_eq!(rows.get("traces", TRACE, "observation_count"), 45);
}

#[test]
fn values_postgres_cannot_hold_are_replaced_not_lost() {
    let mut both = Both::start();
    // A NUL in text and `\u0000` in JSON (which the SQLite store keeps): stored with
    // U+FFFD, as the batch writer does.
    let o = ObservationPiece {
        name: Some("a\0b".into()),
        start: at(1),
        details: details(|d| {
            d.metadata.insert("k".into(), Json::from_value(&"x\u{0}y"));
            d.input = Some(Json::string("in\0put"));
        }),
        ..piece("nul")
    };
    let report = both
        .pg
        .write_pieces(None, &[Piece::Observation(o)])
        .unwrap();
    assert!(report.refused.is_empty(), "{report:?}");
    let row = both
        .server
        .connect()
        .query_one("SELECT name, metadata->>'k', input FROM observations", &[])
        .unwrap();
    assert_eq!(row.get::<_, &str>(0), "a\u{fffd}b");
    assert_eq!(row.get::<_, &str>(1), "x\u{fffd}y");
    // Input is `text`: the JSON escape is six characters there, kept as sent.
    assert_eq!(row.get::<_, &str>(2), r#""in\u0000put""#);
}

/// A small generator of pseudo-random numbers, so the writers' orders differ but each
/// run is the same.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

#[test]
fn four_writers_on_the_same_traces_lose_nothing_and_never_deadlock() {
    let both = Both::start();
    const TRACES: usize = 12;
    const SPANS: usize = 8;
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let url = both.server.url();
            std::thread::spawn(move || {
                let settings = PgSettings::from_url_with_env(&url, |_| None).unwrap();
                let mut pg = PgExporter::connect(settings).unwrap();
                let mut rng = Lcg(w + 1);
                // Every writer sends every span of every trace (as a create from writer 0,
                // 2, an update from 1, 3), in its own order, in requests of 1 to 20.
                let mut all: Vec<Piece> = (0..TRACES)
                    .flat_map(|t| (0..SPANS).map(move |s| (t, s)))
                    .map(|(t, s)| {
                        let mut p = ObservationPiece::new(format!("t-{t}"), format!("s-{s}"));
                        if w % 2 == 0 {
                            p.start = at(s as u64);
                            p.name = Some(format!("span {s}"));
                        } else {
                            p.end = at(100 + s as u64);
                        }
                        p.trace = Arc::new(TraceAttributes {
                            tags: vec![format!("writer-{w}")],
                            ..TraceAttributes::default()
                        });
                        Piece::Observation(p)
                    })
                    .collect();
                for i in (1..all.len()).rev() {
                    all.swap(i, rng.below(i + 1));
                }
                while !all.is_empty() {
                    let n = (1 + rng.below(20)).min(all.len());
                    let request: Vec<Piece> = all.drain(..n).collect();
                    let report = pg.write_pieces(Some("team"), &request).unwrap();
                    assert_eq!(report.stored(), n, "{report:?}");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("a writer failed");
    }
    let mut client = both.server.connect();
    let counts: (i64, i64, i64) = {
        let r = client
            .query_one(
                "SELECT (SELECT count(*) FROM traces), (SELECT count(*) FROM observations),
                    (SELECT count(*) FROM observations
                     WHERE start_time IS NOT NULL AND end_time IS NOT NULL AND name <> '')",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    let spans = (TRACES * SPANS) as i64;
    assert_eq!(counts, (TRACES as i64, spans, spans));
    for r in client
        .query(
            "SELECT observation_count, latency_ms, cardinality(tags) FROM traces",
            &[],
        )
        .unwrap()
    {
        assert_eq!(r.get::<_, i32>(0), SPANS as i32);
        assert_eq!(r.get::<_, f64>(1), 107.0);
        assert_eq!(r.get::<_, i32>(2), 4, "every writer's tag");
    }
}
