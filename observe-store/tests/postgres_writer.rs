//! The PostgreSQL destination on a real server: batches round trip, writes are idempotent,
//! traces merge across writers as in the SQLite store, refused values are kept.

mod pg_support;

use std::sync::Arc;

use observe_model::export::{Batch, Exporter};
use observe_model::model::{
    Cost, Json, Level, Observation, ObservationType, Score, ScoreValue, SpanId, Timestamp,
    TraceAttributes, TraceId, Usage,
};
use observe_store::postgres::{PgExporter, PgSettings};
use pg_support::PgServer;

const T0: u64 = 1_764_282_066_000_000_000;

fn exporter(server: &PgServer) -> PgExporter {
    let settings = PgSettings::from_url_with_env(&server.url(), |_| None).expect("settings");
    PgExporter::connect(settings).expect("connect")
}

fn attrs(f: impl FnOnce(&mut TraceAttributes)) -> Arc<TraceAttributes> {
    let mut a = TraceAttributes::default();
    f(&mut a);
    Arc::new(a)
}

/// An observation of trace `trace`, `id`, from `start` to `end` ms after [`T0`].
fn obs(
    trace: u128,
    id: u64,
    parent: Option<u64>,
    (start, end): (u64, u64),
    a: &Arc<TraceAttributes>,
) -> Box<Observation> {
    Box::new(Observation {
        trace_id: TraceId(trace),
        id: SpanId(id),
        parent_id: parent.map(SpanId),
        name: format!("op{id}").into(),
        kind: ObservationType::Span,
        level: Level::Default,
        start: Timestamp(T0 + start * 1_000_000),
        end: Timestamp(T0 + end * 1_000_000),
        details: None,
        trace: Arc::clone(a),
    })
}

fn count(client: &mut postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).expect(sql).get(0)
}

#[test]
fn a_batch_round_trips_and_a_second_send_adds_nothing() {
    let server = PgServer::start();
    let mut e = exporter(&server);
    let a = attrs(|a| {
        a.name = Some("chat".into());
        a.user_id = Some("u1".into());
        a.session_id = Some("s1".into());
        a.tags = vec!["x".into(), "y".into()];
        a.metadata.insert("k".into(), Json::from_value(&"v"));
    });
    let mut llm = obs(7, 2, Some(1), (10, 40), &a);
    llm.kind = ObservationType::Generation;
    {
        let d = llm.details_mut();
        d.model = Some("gpt-4o".into());
        d.usage = Some(Usage::new(1000, 100));
        d.input = Some(Json::from_value(&"tab\there\nnew\\line"));
        d.metadata
            .insert("nul".into(), Json::from_value(&"a\u{0}b"));
        d.prompt_version = Some(3);
    }
    let mut given = obs(7, 3, Some(1), (20, 30), &a);
    given.details_mut().cost = Some(Cost::total_only(0.5));
    let root = obs(7, 1, None, (0, 100), &a);
    let score = Box::new(Score {
        id: "s-1".into(),
        trace_id: TraceId(7),
        observation_id: Some(SpanId(2)),
        name: "quality".into(),
        value: ScoreValue::Numeric(0.9),
        comment: Some("good".into()),
        timestamp: Timestamp(T0),
        session_id: Some("s1".into()),
    });
    let batch = Batch {
        observations: vec![llm, given, root],
        scores: vec![score],
    };
    e.export(&batch).expect("export");
    e.export(&batch).expect("export again");

    let mut c = server.connect();
    assert_eq!(count(&mut c, "SELECT count(*) FROM observations"), 3);
    assert_eq!(count(&mut c, "SELECT count(*) FROM traces"), 1);
    assert_eq!(count(&mut c, "SELECT count(*) FROM scores"), 1);
    let t = c
        .query_one(
            "SELECT name, user_id, session_id, tags, metadata->>'k', latency_ms,
                    observation_count, has_root, calculated_total_cost, computed_cost,
                    (EXTRACT(EPOCH FROM end_time - \"timestamp\") * 1000)::float8
             FROM traces WHERE id = lpad('7', 32, '0')",
            &[],
        )
        .expect("the trace row");
    assert_eq!(t.get::<_, Option<String>>(0).as_deref(), Some("chat"));
    assert_eq!(t.get::<_, Option<String>>(1).as_deref(), Some("u1"));
    assert_eq!(t.get::<_, Option<String>>(2).as_deref(), Some("s1"));
    assert_eq!(t.get::<_, Vec<String>>(3), vec!["x", "y"]);
    assert_eq!(t.get::<_, Option<String>>(4).as_deref(), Some("v"));
    assert_eq!(t.get::<_, f64>(5), 100.0);
    assert_eq!(t.get::<_, i32>(6), 3);
    assert!(t.get::<_, bool>(7));
    let (total, computed): (f64, f64) = (t.get(8), t.get(9));
    assert!(computed > 0.0, "gpt-4o is priced from its usage");
    assert!(
        (total - (0.5 + computed)).abs() < 1e-12,
        "{total} {computed}"
    );
    assert_eq!(t.get::<_, f64>(10), 100.0);

    let o = c
        .query_one(
            "SELECT input, metadata->>'nul', prompt_version, cost_computed, model,
                    (usage_details->>'input')::int
             FROM observations WHERE id = lpad('2', 16, '0')",
            &[],
        )
        .expect("the generation");
    assert_eq!(
        o.get::<_, Option<String>>(0).as_deref(),
        Some(r#""tab\there\nnew\\line""#)
    );
    assert_eq!(o.get::<_, Option<String>>(1).as_deref(), Some("a\u{fffd}b"));
    assert_eq!(o.get::<_, Option<i32>>(2), Some(3));
    assert!(o.get::<_, bool>(3));
    assert_eq!(o.get::<_, Option<String>>(4).as_deref(), Some("gpt-4o"));
    assert_eq!(o.get::<_, Option<i32>>(5), Some(1000));
}

#[test]
fn spans_of_one_trace_from_two_writers_merge_into_one_trace() {
    let server = PgServer::start();
    let (mut first, mut second) = (exporter(&server), exporter(&server));
    let early = attrs(|a| {
        a.user_id = Some("u1".into());
        a.tags = vec!["a".into()];
        a.metadata.insert("from".into(), Json::from_value(&"child"));
        a.metadata.insert("child_only".into(), Json::from_value(&1));
    });
    let last = attrs(|a| {
        a.name = Some("final".into());
        a.tags = vec!["b".into(), "a".into()];
        a.metadata.insert("from".into(), Json::from_value(&"root"));
    });
    // The root first, then a child from another process with older attributes: the root's
    // attributes stay, metadata merges by key, tags are a union.
    first
        .export(&Batch {
            observations: vec![obs(9, 1, None, (0, 50), &last)],
            scores: vec![],
        })
        .unwrap();
    let mut child = obs(9, 2, Some(1), (5, 70), &early);
    child.details_mut().cost = Some(Cost::total_only(0.25));
    second
        .export(&Batch {
            observations: vec![child],
            scores: vec![],
        })
        .unwrap();
    let mut c = server.connect();
    let t = c
        .query_one(
            "SELECT name, user_id, tags, metadata::text, observation_count, latency_ms,
                    calculated_total_cost, has_root FROM traces",
            &[],
        )
        .unwrap();
    assert_eq!(t.get::<_, Option<String>>(0).as_deref(), Some("final"));
    assert_eq!(t.get::<_, Option<String>>(1).as_deref(), Some("u1"));
    assert_eq!(t.get::<_, Vec<String>>(2), vec!["b", "a"]);
    let metadata: String = t.get(3);
    assert_eq!(metadata, r#"{"from": "root", "child_only": 1}"#);
    assert_eq!(t.get::<_, i32>(4), 2);
    assert_eq!(t.get::<_, f64>(5), 70.0);
    assert_eq!(t.get::<_, f64>(6), 0.25);
    assert!(t.get::<_, bool>(7));
}

#[test]
fn an_observation_sent_again_merges_given_fields_and_keeps_absent_ones() {
    let server = PgServer::start();
    let mut e = exporter(&server);
    let a = attrs(|_| {});
    let mut full = obs(5, 1, None, (0, 10), &a);
    full.details_mut().model = Some("m".into());
    full.details_mut().cost = Some(Cost::total_only(1.0));
    e.export(&Batch {
        observations: vec![full],
        scores: vec![],
    })
    .unwrap();
    let mut later = obs(5, 1, None, (0, 20), &a);
    later.details_mut().output = Some(Json::from_value(&"done"));
    e.export(&Batch {
        observations: vec![later],
        scores: vec![],
    })
    .unwrap();
    let mut c = server.connect();
    let o = c
        .query_one(
            "SELECT model, output, calculated_total_cost, latency_ms FROM observations",
            &[],
        )
        .unwrap();
    assert_eq!(o.get::<_, Option<String>>(0).as_deref(), Some("m"));
    assert_eq!(o.get::<_, Option<String>>(1).as_deref(), Some("\"done\""));
    assert_eq!(o.get::<_, f64>(2), 1.0);
    assert_eq!(o.get::<_, f64>(3), 20.0);
    assert_eq!(
        count(&mut c, "SELECT observation_count::bigint FROM traces"),
        1
    );
}

/// Set in the child processes of [`four_processes_writing_the_same_traces`].
const CHILD_URL: &str = "OBSERVE_PG_TEST_CHILD_URL";
const CHILD_NUMBER: &str = "OBSERVE_PG_TEST_CHILD_NUMBER";
/// Enough traces that each batch (two observations of each) is shared between the
/// writer's two connections.
const TRACES: u128 = 64;
const BATCHES: u64 = 30;

/// One writer process of [`four_processes_writing_the_same_traces`]; does nothing when run
/// as a test of its own.
#[test]
fn concurrent_writer_child() {
    let (Ok(url), Ok(number)) = (std::env::var(CHILD_URL), std::env::var(CHILD_NUMBER)) else {
        return;
    };
    let number: u64 = number.parse().expect("child number");
    let settings = PgSettings::from_url_with_env(&url, |_| None).expect("settings");
    let mut e = PgExporter::connect(settings).expect("connect");
    let a = attrs(|a| a.tags = vec![format!("writer{number}")]);
    for b in 0..BATCHES {
        // Every batch touches every trace, each writer in its own order; each writer adds
        // spans of its own and spans every writer sends (the same ids).
        let mut traces: Vec<u128> = (1..=TRACES).collect();
        traces.rotate_left(((number * 7 + b) % TRACES as u64) as usize);
        if number % 2 == 1 {
            traces.reverse();
        }
        let mut observations = Vec::new();
        for t in traces {
            observations.push(obs(t, 1_000 + number * 100 + b, Some(1), (1, 2), &a));
            observations.push(obs(t, 10 + b, Some(1), (1, 3), &a));
        }
        // `write`, not `export`: no retry, so a deadlock would fail the child.
        e.write(&Batch {
            observations,
            scores: vec![],
        })
        .unwrap_or_else(|err| panic!("writer {number}, batch {b}: {err}"));
    }
}

#[test]
fn four_processes_writing_the_same_traces() {
    let server = PgServer::start();
    // Migrated once before the children start, so that they race on the rows only.
    drop(exporter(&server));
    let me = std::env::current_exe().expect("the test binary");
    let children: Vec<_> = (0..4)
        .map(|n| {
            std::process::Command::new(&me)
                .args(["--exact", "concurrent_writer_child", "--nocapture"])
                .env(CHILD_URL, server.url())
                .env(CHILD_NUMBER, n.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn a writer")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait for a writer");
        assert!(
            out.status.success(),
            "a writer failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut c = server.connect();
    let per_trace = 4 * BATCHES as i64 + BATCHES as i64;
    assert_eq!(count(&mut c, "SELECT count(*) FROM traces"), TRACES as i64);
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM observations"),
        TRACES as i64 * per_trace
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM (SELECT DISTINCT trace_id, id FROM observations) d"
        ),
        TRACES as i64 * per_trace
    );
    assert_eq!(
        count(
            &mut c,
            &format!("SELECT count(*) FROM traces WHERE observation_count = {per_trace}")
        ),
        TRACES as i64
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM traces WHERE cardinality(tags) = 4"
        ),
        TRACES as i64
    );
}

#[test]
fn a_dropped_connection_is_opened_again() {
    let server = PgServer::start();
    let mut e = exporter(&server);
    let a = attrs(|_| {});
    let one = |id| Batch {
        observations: vec![obs(3, id, None, (0, 1), &a)],
        scores: vec![],
    };
    e.export(&one(1)).unwrap();
    let mut admin = server.connect();
    let ended = count(
        &mut admin,
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = 'observe') k",
    );
    assert_eq!(ended, 1);
    e.export(&one(2))
        .expect("the second batch, on a new connection");
    assert!(e.retries() >= 1, "the lost connection cost a retry");
    assert_eq!(count(&mut admin, "SELECT count(*) FROM observations"), 2);
}

#[test]
fn a_server_restarted_mid_run_gets_the_batch_once_it_is_back() {
    let server = PgServer::start();
    let mut e = exporter(&server);
    let context = observe_model::export::ExportContext::default();
    e.attach(context.clone());
    let a = attrs(|_| {});
    let one = |id| Batch {
        observations: vec![obs(4, id, None, (0, 1), &a)],
        scores: vec![],
    };
    e.export(&one(1)).unwrap();
    server.stop();
    // Exported while the server is down: retried until it is back.
    let batch = one(2);
    let writer = std::thread::spawn(move || {
        let result = e.export(&batch);
        (e, result)
    });
    // The server comes back once the writer has failed and retried.
    while context.retried() < 2 {
        std::thread::yield_now();
    }
    server.resume();
    let (e, result) = writer.join().expect("the writer thread");
    result.expect("written once the server was back");
    assert!(e.retries() >= 1);
    let mut c = server.connect();
    assert_eq!(count(&mut c, "SELECT count(*) FROM observations"), 2);
}

#[test]
fn connection_failures_say_what_failed_without_the_password() {
    let server = PgServer::start();
    let good = server.password_user("alice", "correct-horse");
    let connect = |url: &str| {
        let settings = PgSettings::from_url_with_env(url, |_| None)?;
        PgExporter::connect(settings).map(drop)
    };
    connect(&good).expect("the right password");
    let wrong = good.replace("correct-horse", "battery-staple");
    let e = connect(&wrong).unwrap_err().to_string();
    assert!(e.contains("password authentication failed"), "{e}");
    assert!(e.contains("alice@127.0.0.1"), "{e}");
    assert!(!e.contains("battery-staple"), "{e}");

    let unknown = "postgres://alice:battery-staple@no-such-host.invalid/observe?sslmode=disable";
    let e = connect(unknown).unwrap_err().to_string();
    assert!(e.contains("no-such-host.invalid"), "{e}");
    assert!(!e.contains("battery-staple"), "{e}");

    let refused = format!(
        "postgres://alice:battery-staple@127.0.0.1:{}/observe?sslmode=disable",
        free_port()
    );
    let e = connect(&refused).unwrap_err().to_string();
    assert!(e.contains("could not connect"), "{e}");
    assert!(!e.contains("battery-staple"), "{e}");

    let e = connect("postgres://alice:battery-staple@host:port/db")
        .unwrap_err()
        .to_string();
    assert!(e.contains("URL"), "{e}");
    assert!(!e.contains("battery-staple"), "{e}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Whether the exporter's session (application `observe`) is encrypted.
fn observe_session_uses_tls(server: &PgServer) -> bool {
    let mut admin = server.connect();
    admin
        .query_one(
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = 'observe'",
            &[],
        )
        .expect("the session's TLS state")
        .get::<_, Option<bool>>(0)
        .expect("one observe session")
}

#[test]
fn sslmode_require_encrypts_and_verifies_disable_does_not() {
    let server = PgServer::start();
    let plain_url = format!("{}?sslmode=require", server.url());
    // No TLS on the server yet: `require` refuses to go on in plain text.
    let e = PgExporter::connect(PgSettings::from_url_with_env(&plain_url, |_| None).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("could not connect"), "{e}");

    let ca = server.enable_tls();
    let with_ca = format!("{plain_url}&sslrootcert={}", ca.display());
    let e = PgExporter::connect(PgSettings::from_url_with_env(&plain_url, |_| None).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.to_lowercase().contains("certificate"),
        "a server certificate from an unknown CA is refused: {e}"
    );

    let mut e =
        PgExporter::connect(PgSettings::from_url_with_env(&with_ca, |_| None).unwrap()).unwrap();
    let a = attrs(|_| {});
    e.write(&Batch {
        observations: vec![obs(1, 1, None, (0, 1), &a)],
        scores: vec![],
    })
    .expect("a batch over TLS");
    assert!(observe_session_uses_tls(&server));
    drop(e);
    // The server ends the closed session's backend on its own time.
    let mut admin = server.connect();
    while count(
        &mut admin,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'observe'",
    ) > 0
    {
        std::thread::yield_now();
    }

    // PGSSLMODE=disable: plain TCP even though the server offers TLS.
    let disabled = PgSettings::from_url_with_env(&server.url(), |name| {
        (name == "PGSSLMODE").then(|| "disable".to_owned())
    })
    .unwrap();
    let _plain = PgExporter::connect(disabled).unwrap();
    assert!(!observe_session_uses_tls(&server));
}

#[test]
fn a_record_the_server_refuses_is_counted_and_the_rest_of_the_batch_written() {
    let server = PgServer::start();
    let mut e = exporter(&server);
    let a = attrs(|_| {});
    let score = |id: String| {
        Box::new(Score {
            id,
            trace_id: TraceId(8),
            observation_id: None,
            name: "quality".into(),
            value: ScoreValue::Numeric(1.0),
            comment: None,
            timestamp: Timestamp(T0),
            session_id: None,
        })
    };
    // An id too long for the scores' primary-key index (about 2.7 kB at most), and not
    // compressible below it.
    let mut state = 1u64;
    let huge: String = (0..20_000)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            char::from(b'a' + (state >> 59) as u8 % 26)
        })
        .collect();
    let batch = Batch {
        observations: vec![obs(8, 2, Some(1), (1, 2), &a), obs(8, 1, None, (0, 3), &a)],
        scores: vec![score("fine".into()), score(huge)],
    };
    let err = e.export(&batch).unwrap_err();
    assert_eq!(err.failed_of(batch.len()), 1, "{err}");
    assert!(
        err.to_string().contains("index row"),
        "the server's reason: {err}"
    );
    let mut c = server.connect();
    assert_eq!(count(&mut c, "SELECT count(*) FROM observations"), 2);
    assert_eq!(count(&mut c, "SELECT count(*) FROM scores"), 1);
    assert_eq!(
        count(&mut c, "SELECT observation_count::bigint FROM traces"),
        2
    );
}

#[test]
fn a_big_batch_is_shared_between_connections_and_a_second_send_adds_nothing() {
    let server = PgServer::start();
    let mut e = exporter(&server).with_connections(2);
    let a = attrs(|a| a.tags = vec!["big".into()]);
    let traces = 60u64;
    let mut observations = Vec::new();
    let mut scores = Vec::new();
    for t in 1..=traces {
        observations.push(obs(u128::from(t), 1, None, (0, 20 + t), &a));
        for i in 2..=5 {
            observations.push(obs(u128::from(t), i, Some(1), (i, i + 5), &a));
        }
        scores.push(Box::new(Score {
            id: format!("s-{t}"),
            trace_id: TraceId(u128::from(t)),
            observation_id: None,
            name: "quality".into(),
            value: ScoreValue::Numeric(t as f64),
            comment: None,
            timestamp: Timestamp(T0),
            session_id: None,
        }));
    }
    let batch = Batch {
        observations,
        scores,
    };
    e.write(&batch).expect("write");
    let mut c = server.connect();
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_stat_activity
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ),
        2,
        "the exporter writes a big batch on two connections"
    );
    e.write(&batch).expect("write again");
    e.export(&batch).expect("export again");

    let n = traces as i64;
    assert_eq!(count(&mut c, "SELECT count(*) FROM traces"), n);
    assert_eq!(count(&mut c, "SELECT count(*) FROM observations"), 5 * n);
    assert_eq!(count(&mut c, "SELECT count(*) FROM scores"), n);
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM traces WHERE observation_count = 5 AND has_root
                AND tags = '{big}'"
        ),
        n
    );
    // Each trace's root spans it: its latency is 20 + t ms, t being the trace's number
    // (and its score's value).
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM traces
             WHERE latency_ms = 20 + (SELECT value FROM scores s WHERE s.trace_id = traces.id)"
        ),
        n
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM traces t JOIN (SELECT trace_seq, min(start_ns) AS s,
                max(end_ns) AS e, count(*) AS k FROM observations GROUP BY trace_seq) o
                ON o.trace_seq = t.seq
             WHERE (t.start_ns, t.end_ns, t.observation_count::bigint) = (o.s, o.e, o.k)"
        ),
        n
    );
}
