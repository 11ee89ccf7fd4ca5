//! Which language a dashboard file is written in: TOML or YAML. Both read into the same
//! [`Dashboard`](super::Dashboard) with the same fields and checks; only the parser differs.

use std::path::Path;

/// The language of a dashboard file.
///
/// ```
/// use observe_cli::dashboard::DashboardFormat;
/// use std::path::Path;
/// assert_eq!(DashboardFormat::of(Path::new("d.yml"), ""), DashboardFormat::Yaml);
/// assert_eq!(DashboardFormat::of(Path::new("d.toml"), "title: x"), DashboardFormat::Toml);
/// // Without an extension, the first line that says something decides.
/// assert_eq!(DashboardFormat::of(Path::new("d"), "# mine\ntitle: Mine"), DashboardFormat::Yaml);
/// assert_eq!(DashboardFormat::of(Path::new("d"), "[[widget]]"), DashboardFormat::Toml);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DashboardFormat {
    /// `title = "..."` and `[[widget]]` tables.
    Toml,
    /// `title: ...` and a `widget:` (or `widgets:`) list.
    Yaml,
}

impl DashboardFormat {
    /// By the file's extension (`.toml`; `.yaml` or `.yml`); for any other name, by
    /// [`DashboardFormat::sniff`] of its text.
    pub fn of(path: &Path, text: &str) -> DashboardFormat {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("toml") => DashboardFormat::Toml,
            Some("yaml" | "yml") => DashboardFormat::Yaml,
            _ => DashboardFormat::sniff(text),
        }
    }

    /// By the first line that is neither blank nor a comment (`#` starts one in both): a
    /// table header (`[`) or a key followed by `=` before any `:` is TOML; anything else
    /// (`key: value`, `---`, `- item`) is YAML. An empty text is TOML, whose error then
    /// says a dashboard needs a widget.
    ///
    /// ```
    /// use observe_cli::dashboard::DashboardFormat;
    /// assert_eq!(DashboardFormat::sniff("title = \"a: b\""), DashboardFormat::Toml);
    /// assert_eq!(DashboardFormat::sniff("title: \"a = b\""), DashboardFormat::Yaml);
    /// assert_eq!(DashboardFormat::sniff("---\nwidget: []"), DashboardFormat::Yaml);
    /// ```
    pub fn sniff(text: &str) -> DashboardFormat {
        let Some(line) = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
        else {
            return DashboardFormat::Toml;
        };
        if line.starts_with('[') {
            return DashboardFormat::Toml;
        }
        match (line.find('='), line.find(':')) {
            (Some(eq), Some(colon)) if eq < colon => DashboardFormat::Toml,
            (Some(_), None) => DashboardFormat::Toml,
            _ => DashboardFormat::Yaml,
        }
    }

    /// `TOML` or `YAML`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            DashboardFormat::Toml => "TOML",
            DashboardFormat::Yaml => "YAML",
        }
    }

    /// How a widget is added in this language, for the error about a file without one.
    pub(super) fn widget_hint(self) -> &'static str {
        match self {
            DashboardFormat::Toml => "add one as [[widget]] with title, chart and sql",
            DashboardFormat::Yaml => "add one under `widget:` as `- title: ...` with chart and sql",
        }
    }
}
