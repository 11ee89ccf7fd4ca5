//! Charts as SVG text, drawn on the server from a widget's rows: lines over time and
//! horizontal bars, in the view's colours, each value with an SVG `<title>` that the
//! browser shows on hover.
//!
//! Drawn by hand rather than with a plotting crate: the charts need a `<title>` on every
//! point and bar (values on hover), and plotters' SVG backend writes shapes and text only;
//! a line and a bar chart are a few dozen elements. Presentation attributes, not `style`:
//! the view's Content-Security-Policy allows no inline style. Every text that comes from
//! the store goes through [`escape`]: stored text stays text.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use observe_store::sql::Value;

use super::file::{ChartKind, Widget};

/// The view's colours (`assets/app.css`), one per series in turn.
const PALETTE: [&str; 8] = [
    "#4f46e5", "#059669", "#d97706", "#dc2626", "#2563eb", "#7c3aed", "#64748b", "#b45309",
];

/// Series drawn at most; the rest are named in a note.
const MAX_SERIES: usize = PALETTE.len();

/// Bars drawn at most.
const MAX_BARS: usize = 30;

const WIDTH: f64 = 640.0;
const PLOT_LEFT: f64 = 60.0;
const PLOT_RIGHT: f64 = 12.0;
const LINE_HEIGHT: f64 = 200.0;

/// One series: its name and its values by x.
#[derive(Debug)]
struct Series {
    name: String,
    points: Vec<(String, f64)>,
}

/// The SVG of a widget's rows, or `None` for the widgets drawn as HTML (tables, numbers).
///
/// ```
/// use observe_cli::dashboard::{chart_svg, Dashboard};
/// use observe_store::sql::Value;
/// let d = Dashboard::parse(
///     "[[widget]]\ntitle = \"t\"\nchart = \"line\"\nx = \"time\"\ny = \"n\"\nsql = \"\"",
/// )
/// .unwrap();
/// let columns = vec!["time".to_owned(), "n".to_owned()];
/// let rows = vec![
///     vec![Value::Text("2026-12-01 10:00:00+00".into()), Value::Integer(3)],
///     vec![Value::Text("2026-12-01 11:00:00+00".into()), Value::Integer(5)],
/// ];
/// let svg = chart_svg(&d.widgets[0], &columns, &rows).unwrap();
/// assert!(svg.starts_with("<svg"));
/// assert!(svg.contains("<title>n · 12-01 11:00: 5</title>"));
/// ```
pub fn chart_svg(widget: &Widget, columns: &[String], rows: &[Vec<Value>]) -> Option<String> {
    let kind = widget.chart;
    if matches!(kind, ChartKind::Table | ChartKind::Number) {
        return None;
    }
    let (series, dropped) = series_of(widget, columns, rows);
    Some(match kind {
        ChartKind::Line => line_chart(&series, dropped),
        _ => bar_chart(&series, dropped),
    })
}

/// The rows as series: one per value of the `series` column and per `y` column.
fn series_of(widget: &Widget, columns: &[String], rows: &[Vec<Value>]) -> (Vec<Series>, usize) {
    let find = |name: &str| columns.iter().position(|c| c == name);
    let x = widget.x.as_deref().and_then(find).unwrap_or(0);
    let split = widget.series.as_deref().and_then(find);
    let mut ys: Vec<usize> = widget.y().iter().filter_map(|c| find(c)).collect();
    if ys.is_empty() {
        // Every numeric column but x and the series.
        ys = (0..columns.len())
            .filter(|i| Some(*i) != split && *i != x)
            .filter(|i| rows.iter().any(|r| number(&r[*i]).is_some()))
            .collect();
    }
    let mut order: Vec<String> = Vec::new();
    let mut by_name: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for row in rows {
        let label = text(&row[x]);
        for &y in &ys {
            let Some(value) = number(&row[y]) else {
                continue;
            };
            let name = match split {
                Some(s) if ys.len() > 1 => format!("{} · {}", text(&row[s]), columns[y]),
                Some(s) => text(&row[s]),
                None => columns[y].clone(),
            };
            if !by_name.contains_key(&name) {
                order.push(name.clone());
            }
            by_name
                .entry(name)
                .or_default()
                .push((label.clone(), value));
        }
    }
    let mut all: Vec<Series> = order
        .into_iter()
        .map(|name| {
            let points = by_name.remove(&name).unwrap_or_default();
            Series { name, points }
        })
        .collect();
    let dropped = all.len().saturating_sub(MAX_SERIES);
    if dropped > 0 {
        // The largest series stay, in the order they came.
        let mut weights: Vec<(usize, f64)> = all
            .iter()
            .enumerate()
            .map(|(i, s)| (i, s.points.iter().map(|p| p.1.abs()).sum()))
            .collect();
        weights.sort_by(|a, b| b.1.total_cmp(&a.1));
        let kept: Vec<usize> = weights.iter().take(MAX_SERIES).map(|w| w.0).collect();
        let mut i = 0;
        all.retain(|_| {
            i += 1;
            kept.contains(&(i - 1))
        });
    }
    (all, dropped)
}

fn line_chart(series: &[Series], dropped: usize) -> String {
    let mut xs: Vec<&str> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0.as_str()))
        .collect();
    xs.sort_unstable();
    xs.dedup();
    let (legend, legend_height) = legend(series, dropped);
    let top = 8.0 + legend_height;
    let height = top + LINE_HEIGHT + 28.0;
    let mut svg = open_svg(height);
    svg.push_str(&legend);
    if xs.is_empty() {
        return no_data(svg, top);
    }
    let values = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (low, high, step) = scale(values);
    let plot_width = WIDTH - PLOT_LEFT - PLOT_RIGHT;
    let x_at = |i: usize| {
        if xs.len() == 1 {
            PLOT_LEFT + plot_width / 2.0
        } else {
            PLOT_LEFT + plot_width * i as f64 / (xs.len() - 1) as f64
        }
    };
    let y_at = |v: f64| top + LINE_HEIGHT * (1.0 - (v - low) / (high - low));
    axes(&mut svg, low, high, step, top, LINE_HEIGHT, &y_at);
    let labels = xs.len().min(6);
    for k in 0..labels {
        let i = if labels == 1 {
            0
        } else {
            k * (xs.len() - 1) / (labels - 1)
        };
        let anchor = match (k, labels) {
            (0, n) if n > 1 => "start",
            (k, n) if k + 1 == n && n > 1 => "end",
            _ => "middle",
        };
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#6b7280" text-anchor="{anchor}">{}</text>"##,
            x_at(i),
            top + LINE_HEIGHT + 16.0,
            escape(&short_x(xs[i]))
        );
    }
    let position: BTreeMap<&str, usize> = xs.iter().enumerate().map(|(i, x)| (*x, i)).collect();
    for (n, s) in series.iter().enumerate() {
        let colour = PALETTE[n % PALETTE.len()];
        let points: Vec<String> = s
            .points
            .iter()
            .map(|(x, v)| format!("{:.1},{:.1}", x_at(position[x.as_str()]), y_at(*v)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{}"/>"#,
            points.join(" ")
        );
        for (x, v) in &s.points {
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"><title>{} · {}: {}</title></circle>"#,
                x_at(position[x.as_str()]),
                y_at(*v),
                escape(&s.name),
                escape(&short_x(x)),
                exact(*v)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

fn bar_chart(series: &[Series], dropped: usize) -> String {
    let mut bars: Vec<(String, &str, f64, usize)> = Vec::new();
    for (n, s) in series.iter().enumerate() {
        for (x, v) in &s.points {
            bars.push((x.clone(), s.name.as_str(), *v, n));
        }
    }
    // Grouped by x, in the order the rows came.
    let mut first_seen: Vec<String> = Vec::new();
    for b in &bars {
        if !first_seen.contains(&b.0) {
            first_seen.push(b.0.clone());
        }
    }
    bars.sort_by_key(|b| first_seen.iter().position(|x| *x == b.0));
    let cut = bars.len().saturating_sub(MAX_BARS);
    bars.truncate(MAX_BARS);
    let (legend, legend_height) = legend(series, dropped);
    let top = 8.0 + legend_height;
    let bar = 16.0;
    let label_width = 150.0;
    let height = top + (bars.len().max(1) as f64) * (bar + 4.0) + 24.0;
    let mut svg = open_svg(height);
    svg.push_str(&legend);
    if bars.is_empty() {
        return no_data(svg, top);
    }
    let low = bars.iter().map(|b| b.2).fold(0.0, f64::min);
    let high = bars.iter().map(|b| b.2).fold(0.0, f64::max);
    let span = if high - low > 0.0 { high - low } else { 1.0 };
    let width = WIDTH - label_width - 70.0;
    let x_at = |v: f64| label_width + width * (v - low) / span;
    for (i, (x, name, v, n)) in bars.iter().enumerate() {
        let y = top + i as f64 * (bar + 4.0);
        let (from, to) = (x_at(0.0_f64.max(low)), x_at(*v));
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#1f2330" text-anchor="end">{}</text><rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{bar}" rx="2" fill="{}"><title>{}{}: {}</title></rect><text x="{:.1}" y="{:.1}" font-size="11" fill="#6b7280">{}</text>"##,
            label_width - 6.0,
            y + 12.0,
            escape(&cut_text(x, 24)),
            from.min(to),
            (to - from).abs().max(1.0),
            PALETTE[n % PALETTE.len()],
            escape(x),
            if series.len() > 1 {
                format!(" · {}", escape(name))
            } else {
                String::new()
            },
            exact(*v),
            from.max(to) + 4.0,
            y + 12.0,
            short_number(*v)
        );
    }
    if cut > 0 {
        let _ = write!(
            svg,
            r##"<text x="{label_width}" y="{:.1}" font-size="11" fill="#6b7280">{cut} more bars not drawn</text>"##,
            height - 8.0
        );
    }
    svg.push_str("</svg>");
    svg
}

fn open_svg(height: f64) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0}" width="{WIDTH}" height="{height:.0}" font-family="system-ui, sans-serif" role="img">"#
    )
}

fn no_data(mut svg: String, top: f64) -> String {
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" font-size="13" fill="#6b7280" text-anchor="middle">no data in this range</text></svg>"##,
        WIDTH / 2.0,
        top + 40.0
    );
    svg
}

/// The series' names and colours above the plot, wrapped; its height.
fn legend(series: &[Series], dropped: usize) -> (String, f64) {
    let mut svg = String::new();
    let (mut x, mut y) = (PLOT_LEFT, 14.0);
    let mut items: Vec<(String, &str)> = series
        .iter()
        .enumerate()
        .map(|(n, s)| (cut_text(&s.name, 40), PALETTE[n % PALETTE.len()]))
        .collect();
    if dropped > 0 {
        items.push((format!("{dropped} smaller series not drawn"), "#ffffff"));
    }
    for (name, colour) in items {
        // An estimate of the text's width: 6.5 px a character at 11 px.
        let width = 18.0 + 6.5 * name.chars().count() as f64;
        if x + width > WIDTH && x > PLOT_LEFT {
            x = PLOT_LEFT;
            y += 16.0;
        }
        let _ = write!(
            svg,
            r##"<rect x="{x:.1}" y="{:.1}" width="10" height="10" rx="2" fill="{colour}"/><text x="{:.1}" y="{y:.1}" font-size="11" fill="#1f2330">{}</text>"##,
            y - 9.0,
            x + 14.0,
            escape(&name)
        );
        x += width + 10.0;
    }
    (svg, y + 6.0)
}

/// The y axis's grid lines and labels.
fn axes(
    svg: &mut String,
    low: f64,
    high: f64,
    step: f64,
    top: f64,
    height: f64,
    y_at: &dyn Fn(f64) -> f64,
) {
    let mut v = low;
    while v <= high + step / 1e6 {
        let y = y_at(v);
        let _ = write!(
            svg,
            r##"<line x1="{PLOT_LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e7eb"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#6b7280" text-anchor="end">{}</text>"##,
            WIDTH - PLOT_RIGHT,
            PLOT_LEFT - 6.0,
            y + 4.0,
            short_number(v)
        );
        v += step;
    }
    let _ = write!(
        svg,
        r##"<line x1="{PLOT_LEFT}" x2="{PLOT_LEFT}" y1="{top:.1}" y2="{:.1}" stroke="#9ca3af"/>"##,
        top + height
    );
}

/// The axis's bounds and grid step: round numbers around the values, zero included.
fn scale(values: impl Iterator<Item = f64>) -> (f64, f64, f64) {
    let (mut low, mut high) = (0.0_f64, 0.0_f64);
    for v in values {
        low = low.min(v);
        high = high.max(v);
    }
    if high - low <= 0.0 {
        high = low + 1.0;
    }
    let rough = (high - low) / 4.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(rough);
    (
        (low / step).floor() * step,
        (high / step).ceil() * step,
        step,
    )
}

/// A value as a number, if it is one.
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(i) => Some(*i as f64),
        Value::Real(r) if r.is_finite() => Some(*r),
        Value::Text(t) => t.trim().parse().ok().filter(|f: &f64| f.is_finite()),
        _ => None,
    }
}

/// A value as a label.
fn text(value: &Value) -> String {
    match value {
        Value::Null => "(none)".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => exact(*r),
        Value::Text(t) => t.clone(),
        Value::Blob(b) => format!("({} bytes)", b.len()),
    }
}

/// A bucket's time without what every bucket shares: `2026-12-01 14:00:00+00` as
/// `12-01 14:00`, a day as `2026-12-01`.
fn short_x(x: &str) -> String {
    let b = x.as_bytes();
    let is_time = b.len() >= 16 && b[4] == b'-' && b[10] == b' ' && b[13] == b':';
    if !is_time {
        return cut_text(x, 20);
    }
    if x[10..].starts_with(" 00:00:00") {
        x[..10].to_owned()
    } else {
        x[5..16].to_owned()
    }
}

/// At most `n` characters, with `…` when cut.
fn cut_text(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(n - 1).collect();
    cut.push('…');
    cut
}

/// A value for an axis or a bar's end: `1.2k`, `3.4M`, `0.0056`.
fn short_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else {
        exact(v)
    }
}

/// A value with up to four significant digits (more when it is whole).
fn exact(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let text = format!("{v:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// `text` safe inside an SVG element or attribute.
///
/// ```
/// assert_eq!(
///     observe_cli::dashboard::escape("<img onerror=\"x\"> & 'y'"),
///     "&lt;img onerror=&quot;x&quot;&gt; &amp; &apos;y&apos;"
/// );
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML does not allow at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::Dashboard;

    fn widget(toml: &str) -> Widget {
        Dashboard::parse(&format!("[[widget]]\ntitle = \"t\"\nsql = \"\"\n{toml}"))
            .unwrap()
            .widgets
            .remove(0)
    }

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn stored_text_stays_text_in_every_label() {
        let w = widget("chart = \"bar\"\nx = \"name\"\ny = \"n\"\nseries = \"s\"");
        let xss = "<script>alert(1)</script>";
        let rows = vec![
            vec![t(xss), t("<img src=x onerror=alert(2)>"), Value::Integer(2)],
            vec![t("ok"), t("b"), Value::Integer(1)],
        ];
        let columns = ["name", "s", "n"].map(String::from);
        let svg = chart_svg(&w, &columns, &rows).unwrap();
        assert!(!svg.contains("<script"), "{svg}");
        assert!(!svg.contains("<img"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        let lines = chart_svg(
            &widget("chart = \"line\"\nx = \"name\"\ny = \"n\"\nseries = \"s\""),
            &columns,
            &rows,
        )
        .unwrap();
        assert!(!lines.contains("<img"), "{lines}");
        assert!(lines.contains("&lt;img src=x onerror=alert(2)&gt;"));
    }

    #[test]
    fn series_come_from_the_series_column_and_each_y() {
        let w = widget("chart = \"line\"\nx = \"time\"\ny = [\"a\", \"b\"]");
        let columns = ["time", "a", "b"].map(String::from);
        let rows = vec![
            vec![
                t("2026-12-01 10:00:00+00"),
                Value::Integer(1),
                Value::Real(2.5),
            ],
            vec![t("2026-12-01 11:00:00+00"), Value::Integer(3), Value::Null],
        ];
        let (series, dropped) = series_of(&w, &columns, &rows);
        assert_eq!(dropped, 0);
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].name, "a");
        assert_eq!(series[0].points.len(), 2);
        // A null is no point, not a zero.
        assert_eq!(
            series[1].points,
            vec![("2026-12-01 10:00:00+00".to_owned(), 2.5)]
        );
        let svg = chart_svg(&w, &columns, &rows).unwrap();
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("<title>b · 12-01 10:00: 2.5</title>"));
    }

    #[test]
    fn beyond_eight_series_the_largest_stay() {
        let w = widget("chart = \"bar\"\nx = \"s\"\ny = \"n\"\nseries = \"s\"");
        let columns = ["s", "n"].map(String::from);
        let rows: Vec<Vec<Value>> = (0..10)
            .map(|i| vec![t(&format!("s{i}")), Value::Integer(i)])
            .collect();
        let (series, dropped) = series_of(&w, &columns, &rows);
        assert_eq!(dropped, 2);
        let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"]);
    }

    #[test]
    fn tables_and_numbers_are_not_drawn_and_empty_charts_say_so() {
        assert!(chart_svg(&widget("chart = \"table\""), &[], &[]).is_none());
        assert!(chart_svg(&widget("chart = \"number\""), &[], &[]).is_none());
        let svg = chart_svg(&widget("chart = \"line\""), &["x".into()], &[]).unwrap();
        assert!(svg.contains("no data in this range"));
    }

    #[test]
    fn scales_are_round_and_hold_every_value() {
        assert_eq!(scale([0.0, 7.0].into_iter()), (0.0, 8.0, 2.0));
        assert_eq!(scale([-3.0, 10.0].into_iter()), (-5.0, 10.0, 5.0));
        assert_eq!(scale(std::iter::empty()), (0.0, 1.0, 0.25));
        assert_eq!(exact(0.005_605), "0.005605");
        assert_eq!(exact(1234.5678), "1235");
        assert_eq!(exact(1230.2), "1230");
        assert_eq!(short_number(123_456.0), "123.5k");
        assert_eq!(short_x("2026-12-01 00:00:00+00"), "2026-12-01");
    }
}
