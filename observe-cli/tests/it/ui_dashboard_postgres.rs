//! Every widget of the default dashboard gives the same rows from a real PostgreSQL as from
//! a store file holding the same traces: each widget's SQL rendered under the default
//! filter, under each breakdown the filter bar offers, and under a tag and metadata filter,
//! run through the reader the Dashboard page uses ([`Reader::query`]): as written on
//! PostgreSQL, translated on the file. Numbers agree within a relative 1e-9, everything
//! else (timestamps included) in the form `observe query` prints it.

#[path = "../../../observe-store/tests/pg_dialect/compare.rs"]
#[allow(dead_code)]
mod compare;
#[path = "../../../observe-store/tests/pg_dialect/generate.rs"]
mod generate;

use observe_cli::dashboard::{Breakdown, Dashboard, Filter, TimeRange, Widget};
use observe_store::sql::Table;
use observe_store::Reader;

use crate::pg_load::copy_store;
use crate::pg_support::PgServer;
use compare::{difference, Order};

/// Traces over the generator's 60 days: enough that the default range (the last 7 days)
/// holds several per breakdown value.
const TRACES: usize = 800;

/// The tags the generator gives traces (a breakdown by tag splits by the most used ones,
/// which are these).
const TAGS: [&str; 5] = ["prod", "beta", "fixture", "eval", "needs review"];

/// Every SQL a widget runs as under `filter`, rendered: its SQL over the traces always, and
/// its SQL over the hourly roll-up where the filter lets the roll-up answer (as the
/// dashboard chooses), so that each form is compared on both stores.
fn sql_forms(widget: &Widget, filter: &Filter) -> Vec<(&'static str, String)> {
    let mut forms = vec![("sql", filter.render(&widget.sql))];
    if let Some(rollup) = &widget.rollup_sql {
        if filter.rollup_applies(widget.sql.contains("{{bucket}}")) {
            forms.push(("rollup_sql", filter.render_rollup(rollup)));
        }
    }
    forms
}

/// The filters the widgets are rendered under: the default one, each breakdown the filter
/// bar offers, a tag and metadata filter, and the last 30 days.
fn filters() -> Vec<(String, Filter)> {
    let mut filters = vec![("default".to_owned(), Filter::default())];
    let breakdowns = [
        "model",
        "user",
        "session",
        "name",
        "tag",
        "environment",
        "release",
        "version",
        "metadata",
    ];
    for name in breakdowns {
        let mut breakdown = Breakdown::parse(name, Some("content_type")).unwrap();
        if breakdown == Breakdown::Tag(Vec::new()) {
            breakdown = Breakdown::Tag(TAGS.map(str::to_owned).to_vec());
        }
        filters.push((
            format!("breakdown {name}"),
            Filter {
                breakdown: Some(breakdown),
                ..Filter::default()
            },
        ));
    }
    filters.push((
        "tag and metadata filter".to_owned(),
        Filter {
            tags: vec!["prod".into()],
            exclude_tags: vec!["beta".into()],
            metadata: Some(("content_type".into(), "article".into())),
            breakdown: Some(Breakdown::Model),
            ..Filter::default()
        },
    ));
    let month = TimeRange::Last30Days;
    filters.push((
        "last 30 days".to_owned(),
        Filter {
            bucket: month.bucket(),
            range: month,
            breakdown: Some(Breakdown::User),
            ..Filter::default()
        },
    ));
    filters
}

fn run(reader: &mut Reader, sql: &str) -> Result<Table, String> {
    let mut table = Table {
        columns: Vec::new(),
        rows: Vec::new(),
    };
    reader
        .query(sql, None, &mut table)
        .map_err(|e| e.to_string())?;
    Ok(table)
}

#[test]
fn every_default_widget_gives_the_same_rows_on_postgresql_as_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    generate::write_store(&path, TRACES);
    let server = PgServer::start();
    let mut client = server.connect();
    copy_store(&path, &mut client);
    client.batch_execute("ANALYZE").unwrap();
    let mut on_file = Reader::open(path.as_os_str()).unwrap();
    let url = server.url();
    let mut on_pg = Reader::open(url.as_ref()).unwrap();

    let dashboard = Dashboard::builtin();
    let filters = filters();
    let mut failures = Vec::new();
    let mut compared = 0;
    let mut with_rows = std::collections::BTreeSet::new();
    for widget in &dashboard.widgets {
        for (filter_name, filter) in &filters {
            for (form, sql) in sql_forms(widget, filter) {
                let case = format!("{} ({form}, {filter_name})", widget.title);
                let pg = match run(&mut on_pg, &sql) {
                    Ok(t) => t,
                    Err(e) => {
                        failures.push(format!("{case}: PostgreSQL: {e}\n  {sql}"));
                        continue;
                    }
                };
                match run(&mut on_file, &sql) {
                    Err(e) => failures.push(format!("{case}: SQLite: {e}\n  {sql}")),
                    Ok(lite) => {
                        // Rows compare as sets: ORDER BY a bucket leaves the series within
                        // it in no order.
                        if let Some(d) = difference(&lite, &pg, Order::Any) {
                            failures.push(format!("{case}: {d}\n  {sql}"));
                        }
                    }
                }
                if !pg.rows.is_empty() {
                    with_rows.insert(widget.title.clone());
                }
                compared += 1;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} widget runs differ:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    let forms: usize = dashboard
        .widgets
        .iter()
        .flat_map(|w| filters.iter().map(move |(_, f)| sql_forms(w, f).len()))
        .sum();
    assert_eq!(
        compared, forms,
        "every form of every widget under every filter"
    );
    let rollup_runs = dashboard
        .widgets
        .iter()
        .flat_map(|w| filters.iter().map(move |(_, f)| sql_forms(w, f)))
        .flatten()
        .filter(|(form, _)| *form == "rollup_sql")
        .count();
    assert!(rollup_runs > 0, "the roll-up's SQL is compared too");
    // A widget with no rows under any filter agrees without testing anything.
    let empty: Vec<&str> = dashboard
        .widgets
        .iter()
        .map(|w| w.title.as_str())
        .filter(|t| !with_rows.contains(*t))
        .collect();
    assert!(empty.is_empty(), "widgets with no rows: {empty:?}");
}
