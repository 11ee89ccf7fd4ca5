//! The prompt cache: one entry per name and label-or-version, served fresh for its TTL, then
//! served stale while one background refresh at a time replaces it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::prompt::Prompt;
use super::query::Selector;

/// The cache key: a name with a label or a version.
pub(crate) type Key = (String, Selector);

struct Entry {
    prompt: Prompt,
    fetched: Instant,
    ttl: Duration,
    /// A refresh is queued or under way: a second one is not asked for.
    refreshing: bool,
}

/// What a lookup found.
pub(crate) enum Lookup {
    /// Not cached: fetch it and wait.
    Miss,
    /// Within its TTL.
    Fresh(Prompt),
    /// Past its TTL: served as it is; `refresh` says whether the caller should queue the
    /// refresh (no other one is pending).
    Stale { prompt: Prompt, refresh: bool },
}

#[derive(Default)]
pub(crate) struct Cache {
    entries: Mutex<HashMap<Key, Entry>>,
}

impl Cache {
    pub(crate) fn lookup(&self, key: &Key, now: Instant) -> Lookup {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = entries.get_mut(key) else {
            return Lookup::Miss;
        };
        if now.saturating_duration_since(entry.fetched) < entry.ttl {
            return Lookup::Fresh(entry.prompt.clone());
        }
        let refresh = !entry.refreshing;
        entry.refreshing = true;
        Lookup::Stale {
            prompt: entry.prompt.clone(),
            refresh,
        }
    }

    pub(crate) fn store(&self, key: Key, prompt: Prompt, ttl: Duration) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert(
            key,
            Entry {
                prompt,
                fetched: Instant::now(),
                ttl,
                refreshing: false,
            },
        );
    }

    /// A refresh failed: the stale entry stays, and the next lookup may ask again.
    pub(crate) fn refresh_failed(&self, key: &Key) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = entries.get_mut(key) {
            entry.refreshing = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_then_stale_with_one_refresh_at_a_time() {
        let cache = Cache::default();
        let key: Key = ("p".into(), Selector::Label("production".into()));
        let t0 = Instant::now();
        assert!(matches!(cache.lookup(&key, t0), Lookup::Miss));
        cache.store(
            key.clone(),
            Prompt::fallback_text("p", "x"),
            Duration::from_secs(60),
        );
        assert!(matches!(cache.lookup(&key, t0), Lookup::Fresh(_)));
        let later = Instant::now() + Duration::from_secs(61);
        assert!(matches!(
            cache.lookup(&key, later),
            Lookup::Stale { refresh: true, .. }
        ));
        assert!(matches!(
            cache.lookup(&key, later),
            Lookup::Stale { refresh: false, .. }
        ));
        cache.refresh_failed(&key);
        assert!(matches!(
            cache.lookup(&key, later),
            Lookup::Stale { refresh: true, .. }
        ));
    }
}
