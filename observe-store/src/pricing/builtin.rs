//! The built-in list: Langfuse's own price list, shipped in the crate with its source.

use std::path::Path;
use std::sync::{Arc, LazyLock};

use super::{PriceList, MODEL_PRICES_VAR};

/// The built-in list's text: an unmodified copy of Langfuse's
/// `worker/src/constants/default-model-prices.json` (see `prices/NOTICE.md`).
pub(crate) const BUILTIN_JSON: &str =
    include_str!("../../prices/langfuse-default-model-prices.json");

/// Where the built-in price list comes from: the file's repository, path and commit, and
/// that commit's date, which is how current its prices are.
///
/// ```
/// let source = observe_store::pricing::BUILTIN_SOURCE;
/// assert_eq!(source.repository, "langfuse/langfuse");
/// assert!(source.url().ends_with("default-model-prices.json"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListSource {
    /// The GitHub repository, `owner/name`.
    pub repository: &'static str,
    /// The file's path in it.
    pub path: &'static str,
    /// The last commit that changed the file before it was copied.
    pub commit: &'static str,
    /// That commit's date (YYYY-MM-DD).
    pub date: &'static str,
    /// The SHA-256 of the copied file, hex.
    pub sha256: &'static str,
}

impl ListSource {
    /// The file's address on GitHub at its commit.
    pub fn url(&self) -> String {
        format!(
            "https://github.com/{}/blob/{}/{}",
            self.repository, self.commit, self.path
        )
    }
}

/// The source of [`PriceList::builtin`] (also in `observe-store/prices/NOTICE.md`).
pub const BUILTIN_SOURCE: ListSource = ListSource {
    repository: "langfuse/langfuse",
    path: "worker/src/constants/default-model-prices.json",
    commit: "2b0e9d23a10f8ef9ed194c6c7084e56950766caa",
    date: "2026-08-21",
    sha256: "043bdc1a890924057232c036cc6fd71b25404101807d0706a69fc2df89383dda",
};

pub(crate) static BUILTIN: LazyLock<Arc<PriceList>> = LazyLock::new(|| {
    // Tested with this crate: a failure here is a bug in the shipped file, so the list is
    // empty rather than the user's process stopped.
    Arc::new(PriceList::from_json(BUILTIN_JSON).unwrap_or_else(|e| {
        tracing::warn!("observe: the built-in model price list does not load: {e}");
        PriceList::new()
    }))
});

pub(crate) static DEFAULT: LazyLock<Arc<PriceList>> = LazyLock::new(|| {
    let builtin = PriceList::builtin();
    match std::env::var_os(MODEL_PRICES_VAR).filter(|p| !p.is_empty()) {
        None => Arc::new(builtin),
        Some(path) => Arc::new(builtin.overriding_file(Path::new(&path))),
    }
});
