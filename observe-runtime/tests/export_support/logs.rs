//! The log lines code run on this thread writes, as a `tracing_subscriber::fmt` subscriber
//! prints them (level, target, message and fields), for tests that check what is said.

use std::sync::{Arc, Mutex};

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

/// Runs `f` with a subscriber on this thread that keeps every line at `level` or above;
/// returns `f`'s result and the lines.
pub fn lines_of<R>(level: tracing::Level, f: impl FnOnce() -> R) -> (R, Vec<String>) {
    lines_beside(tracing_subscriber::layer::Identity::new(), level, f)
}

/// As [`lines_of`], with `layer` (the bridge's `ObserveLayer`...) in the same subscriber,
/// seeing every span and event whatever `level`.
pub fn lines_beside<L, R>(
    layer: L,
    level: tracing::Level,
    f: impl FnOnce() -> R,
) -> (R, Vec<String>)
where
    L: Layer<Registry> + Send + Sync + 'static,
{
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let printed = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .without_time()
        .with_writer(move || writer.clone())
        .with_filter(LevelFilter::from_level(level));
    let subscriber = tracing_subscriber::registry().with(layer).with(printed);
    let result = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    (result, text.lines().map(str::to_owned).collect())
}

/// The lines at exactly `level` (`"WARN"`, `"ERROR"`...).
pub fn at<'a>(lines: &'a [String], level: &str) -> Vec<&'a String> {
    lines
        .iter()
        .filter(|l| l.trim_start().starts_with(level))
        .collect()
}
