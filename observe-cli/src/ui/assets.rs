//! The pages' files, embedded in the binary: nothing is fetched from elsewhere.

/// One embedded file.
#[derive(Clone, Copy, Debug)]
pub struct Asset {
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

const INDEX: Asset = Asset {
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../../assets/index.html"),
};

const FILES: &[(&str, Asset)] = &[
    ("/", INDEX),
    ("/index.html", INDEX),
    (
        "/app.js",
        Asset {
            content_type: "text/javascript; charset=utf-8",
            body: include_bytes!("../../assets/app.js"),
        },
    ),
    (
        "/app.css",
        Asset {
            content_type: "text/css; charset=utf-8",
            body: include_bytes!("../../assets/app.css"),
        },
    ),
    (
        "/favicon.svg",
        Asset {
            content_type: "image/svg+xml",
            body: include_bytes!("../../assets/favicon.svg"),
        },
    ),
];

/// The embedded file served at `path`.
///
/// ```
/// let page = observe_cli::ui::assets::find("/").unwrap();
/// assert!(page.content_type.starts_with("text/html"));
/// assert!(observe_cli::ui::assets::find("/../Cargo.toml").is_none());
/// ```
pub fn find(path: &str) -> Option<Asset> {
    FILES
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, asset)| *asset)
}
