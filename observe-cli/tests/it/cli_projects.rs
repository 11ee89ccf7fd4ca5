//! `observe --project NAME`: every view reads one project's rows (as `observe serve` stamps
//! them), and without the flag every project's. The traces are written as `observe serve`
//! writes them, in pieces with text ids (UUIDs), so the views also show such ids.

use std::path::Path;

use observe_model::model::{ObservationType, Timestamp, TraceAttributes};
use observe_model::piece::{ObservationPiece, Piece};
use observe_store::StoreExporter;
use serde_json::Value;

use crate::common::{failed, observe, ok};

const PROJECTS: [(&str, &str); 2] = [
    ("alpha", "5d0c1b9e-8f3a-4e2d-9b7c-1a2b3c4d5e6f"),
    ("beta", "7e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"),
];

/// For each project, a trace `trace-<project>` of session `s-<project>`, user `u-<project>`:
/// an agent with a generation whose id is a UUID, the child sent before its parent.
fn write_projects(path: &Path) {
    let mut store = StoreExporter::open(path).unwrap();
    let now = Timestamp::now().as_nanos();
    for (project, child) in PROJECTS {
        let trace = format!("trace-{project}");
        let root = format!("root-{project}");
        let generation = ObservationPiece {
            parent_id: Some(root.as_str().into()),
            name: Some(format!("llm-{project}")),
            kind: Some(ObservationType::Generation),
            start: Some(Timestamp(now + 1_000_000)),
            end: Some(Timestamp(now + 2_000_000)),
            ..ObservationPiece::new(trace.as_str(), child)
        };
        let agent = ObservationPiece {
            name: Some(format!("agent-{project}")),
            kind: Some(ObservationType::Agent),
            start: Some(Timestamp(now)),
            end: Some(Timestamp(now + 3_000_000)),
            trace: std::sync::Arc::new(TraceAttributes {
                session_id: Some(format!("s-{project}")),
                user_id: Some(format!("u-{project}")),
                ..TraceAttributes::default()
            }),
            ..ObservationPiece::new(trace.as_str(), root.as_str())
        };
        let report = store
            .write_pieces(
                Some(project),
                &[Piece::Observation(generation), Piece::Observation(agent)],
            )
            .unwrap();
        assert_eq!(report.observations_created, 2);
    }
}

pub(crate) fn json(db: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(&observe(Some(db), &all))).unwrap()
}

pub(crate) fn column(rows: &Value, key: &str) -> Vec<String> {
    let mut out: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[key].as_str().unwrap_or_default().to_owned())
        .collect();
    out.sort();
    out
}

/// What `--project` reads in `db` (a file or a PostgreSQL URL) holding the traces
/// `trace-alpha` (session `s-alpha`) and `trace-beta` (session `s-beta`, two
/// observations) of the projects `alpha` and `beta`: each project its own rows, every
/// project's without the flag.
pub(crate) fn each_project_reads_its_own(db: &Path) {
    assert_eq!(
        column(&json(db, &["sessions"]), "session"),
        ["s-alpha", "s-beta"]
    );
    assert_eq!(
        column(&json(db, &["--project", "alpha", "sessions"]), "session"),
        ["s-alpha"]
    );
    assert_eq!(
        column(&json(db, &["--project", "beta", "traces"]), "id"),
        ["trace-beta"]
    );
    let count = json(
        db,
        &[
            "--project",
            "beta",
            "query",
            "SELECT COUNT(*) AS n FROM observations",
        ],
    );
    assert_eq!(count[0]["n"], 2, "{count}");
    let none = json(db, &["--project", "gamma", "traces"]);
    assert_eq!(none.as_array().unwrap().len(), 0, "{none}");

    let err = failed(&observe(
        Some(db),
        &["--project", "alpha", "session", "s-beta"],
    ));
    assert!(err.contains("no session"), "{err}");
    let err = failed(&observe(
        Some(db),
        &["--project", "beta", "trace", "trace-alpha"],
    ));
    assert!(err.contains("trace-alpha"), "{err}");
}

#[test]
fn views_read_one_project_or_all() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("traces.db");
    write_projects(&db);
    each_project_reads_its_own(&db);

    // A project's own session shows its tree, the generation
    // (a UUID id, sent before its parent) nested under the agent.
    let session = json(&db, &["--project", "alpha", "session", "s-alpha"]);
    let root = &session["traces"][0]["observations"][0];
    assert_eq!(root["name"], "agent-alpha", "{session}");
    assert_eq!(root["children"][0]["name"], "llm-alpha", "{session}");
    // Ids as the sender wrote them.
    assert_eq!(session["traces"][0]["id"], "trace-alpha", "{session}");
    assert_eq!(root["id"], "root-alpha", "{session}");
    assert_eq!(root["children"][0]["id"], PROJECTS[0].1, "{session}");
    let trace = ok(&observe(
        Some(&db),
        &["--project", "alpha", "trace", "trace-alpha"],
    ));
    assert!(trace.contains("llm-alpha"), "{trace}");
    // A command the flag does not limit says so rather than ignoring it.
    let err = failed(&observe(Some(&db), &["--project", "beta", "migrate"]));
    assert!(err.contains("--project applies to"), "{err}");
}

#[cfg(feature = "ui")]
#[test]
fn the_views_json_api_takes_a_project() {
    use crate::ui_support::UiProcess;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("traces.db");
    write_projects(&db);
    let ui = UiProcess::start(&db);
    let get = |path: &str| -> Value {
        let response = reqwest::blocking::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("{}api/{path}", ui.url))
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        serde_json::from_str(&response.text().unwrap()).unwrap()
    };
    assert_eq!(
        column(&get("sessions")["sessions"], "id"),
        ["s-alpha", "s-beta"]
    );
    assert_eq!(
        column(&get("sessions?project=beta")["sessions"], "id"),
        ["s-beta"]
    );
    let users = get("users?project=alpha");
    let names: Vec<String> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["u-alpha"], "{users}");
    // A trace named by its text id, its generation's UUID shown as sent.
    let trace = get("trace/trace-alpha?project=alpha");
    assert!(trace.to_string().contains(PROJECTS[0].1), "{trace}");
    // The next request without a project reads every project again.
    assert_eq!(
        column(&get("sessions")["sessions"], "id"),
        ["s-alpha", "s-beta"]
    );
}
