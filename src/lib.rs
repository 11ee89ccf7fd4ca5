//! Workspace root of observe: it owns the bundled example (`examples/content_analysis.rs`)
//! and the integration tests (`tests/`). The library users depend on is `observe-runtime`.
