//! `observe ui --dashboard FILE.yaml`: a dashboard file in YAML serves as the TOML one does
//! (a broken widget answers its error in place, the others render, labels stay text), and
//! a file that is not a dashboard is refused before anything listens, naming the line.

use crate::common::observe;
use crate::ui_dashboard::ui_with_dashboard_named;
use crate::ui_endpoints::get;

const MINE: &str = r#"# The team's dashboard, reviewed like code.
title: "Mine <b>bold</b>"
widgets:
  - title: Broken
    chart: line
    sql: SELECT nonsense FROM nowhere WHERE {{filter}}
  - title: Names
    chart: bar
    x: name
    y: traces
    sql: >-
      SELECT name, COUNT(*) AS traces FROM traces WHERE {{filter}}
      GROUP BY 1 ORDER BY 1
  - title: Traces
    chart: number
    y: [traces]
    sql: SELECT COUNT(*) AS traces FROM traces WHERE {{filter}}
"#;

#[test]
fn a_yaml_dashboard_renders_beside_its_broken_widget() {
    let dir = tempfile::tempdir().unwrap();
    let ui = ui_with_dashboard_named(dir.path(), "mine.yaml", MINE);
    let api = format!("{}api", ui.url);
    let (status, outline) = get(&format!("{api}/dashboard"));
    assert_eq!(status, 200, "{outline}");
    assert_eq!(outline["title"], "Mine <b>bold</b>");
    let titles: Vec<&str> = outline["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Broken", "Names", "Traces"]);

    let (_, broken) = get(&format!("{api}/dashboard/widget/0"));
    assert!(
        broken["error"].as_str().unwrap().contains("nowhere"),
        "{broken}"
    );
    let (_, names) = get(&format!("{api}/dashboard/widget/1"));
    assert!(names["error"].is_null(), "{names}");
    let svg = names["svg"].as_str().unwrap();
    assert!(!svg.contains("<img"), "{svg}");
    assert!(svg.contains("&lt;img src=x onerror="), "{svg}");
    let (_, traces) = get(&format!("{api}/dashboard/widget/2"));
    assert!(traces["error"].is_null(), "{traces}");
}

#[test]
fn a_yaml_file_that_is_not_a_dashboard_is_refused_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("traces.db");
    drop(observe_store::StoreExporter::open(&store).unwrap());
    // No extension: the first line says YAML. The chart type on line 5 is unknown.
    let file = dir.path().join("dashboard");
    std::fs::write(
        &file,
        "title: Mine\nwidget:\n  - title: Pie\n    sql: SELECT 1\n    chart: pie\n",
    )
    .unwrap();
    let out = observe(
        Some(&store),
        &["ui", "--port", "0", "--dashboard", file.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the dashboard is not valid"), "{stderr}");
    assert!(stderr.contains("pie"), "{stderr}");
    assert!(stderr.contains("line 5"), "{stderr}");
}
