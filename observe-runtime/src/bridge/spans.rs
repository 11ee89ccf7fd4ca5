//! The bridged spans open in the process, by layer and span id: where any thread finds a
//! span's observation on enter, record and close.
//!
//! A table of our own rather than the registry's span extensions: an extension costs a slab
//! lookup, the extensions' lock, a boxed value and a hash map entry per span, and the
//! registry's clear of it on close; here a span costs one uncontended lock of one of
//! [`SHARDS`] small maps (by a hash of its id) on creation and on close, and entering it on
//! the thread that made it (the usual case) no lock at all ([`MADE`]). Looking up a span
//! that is not bridged costs one load while its shard is empty.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crossbeam_utils::CachePadded;
use rustc_hash::FxBuildHasher;

use super::node::Node;

/// Shards of the table, so that threads opening spans at once rarely meet on one lock.
const SHARDS: usize = 64;

/// A span of one layer: span ids are unique only within one registry, and a process may
/// have several (a test's own subscriber beside the global one).
type Key = (u64, u64);

/// Span ids are small slab indices (with a generation in the high bits): a multiplicative
/// hash spreads them over the map's buckets and control bytes.
type Map = HashMap<Key, Arc<Node>, FxBuildHasher>;

/// One shard of the table; [`TABLE`] pads each onto cache lines of its own.
struct Shard {
    map: Mutex<Map>,
    /// The map's length, stored under the lock: a span looked up in an empty shard (the
    /// spans of a process with no bridged span open) costs one load, not the lock. A span
    /// looked up is open, so every store since its insertion counts it: this is never 0
    /// for a shard holding a span being looked up.
    len: AtomicUsize,
}

static TABLE: [CachePadded<Shard>; SHARDS] = [const {
    CachePadded::new(Shard {
        map: Mutex::new(HashMap::with_hasher(FxBuildHasher)),
        len: AtomicUsize::new(0),
    })
}; SHARDS];

/// Span `key`'s shard: the top bits of a multiplicative hash of its own, not of the map's
/// hash, whose bits would then be the same for every key of a shard (hashbrown takes its
/// control bytes from the top of that hash).
fn shard_index(key: Key) -> usize {
    let spread = (key.1 ^ key.0.rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (spread >> 58) as usize % SHARDS
}

/// Span `key`'s shard, locked, unless it holds no span at all.
fn shard(key: Key) -> Option<Locked> {
    let shard = &TABLE[shard_index(key)];
    if shard.len.load(Ordering::Relaxed) == 0 {
        return None;
    }
    Some(Locked::new(shard))
}

/// A locked shard that stores its length on unlock.
struct Locked {
    map: MutexGuard<'static, Map>,
    len: &'static AtomicUsize,
}

impl Locked {
    fn new(shard: &'static Shard) -> Locked {
        Locked {
            map: shard.map.lock().unwrap_or_else(PoisonError::into_inner),
            len: &shard.len,
        }
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        // Under the lock still (the guard is dropped after this).
        self.len.store(self.map.len(), Ordering::Relaxed);
    }
}

thread_local! {
    /// Spans made on this thread, so that entering them here finds them without a lock.
    /// An entry outlives its span when the span closes on another thread (its node then
    /// says `closed`, and its key may come to name another span); such entries are dropped
    /// when the list fills.
    static MADE: RefCell<Vec<(Key, Arc<Node>)>> = const { RefCell::new(Vec::new()) };
}

/// Entries of [`MADE`] at most: past them, spans are found through the shared table.
const MADE_CAP: usize = 16;

/// A fresh layer instance number, never 0 and never reused.
pub(super) fn next_instance() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Records span `key`'s node until [`remove`].
pub(super) fn insert(key: Key, node: Arc<Node>) {
    let _ = MADE.try_with(|made| {
        let Ok(mut made) = made.try_borrow_mut() else {
            return;
        };
        if made.len() >= MADE_CAP {
            made.retain(|(_, node)| !node.closed.load(Ordering::Acquire));
        }
        if made.len() < MADE_CAP {
            made.push((key, node.clone()));
        }
    });
    // A previous node under the key (impossible while ids are unique among open spans) is
    // dropped after the lock is released.
    let previous = Locked::new(&TABLE[shard_index(key)]).map.insert(key, node);
    drop(previous);
}

/// The node of span `key`, if it is bridged.
pub(super) fn get(key: Key) -> Option<Arc<Node>> {
    shard(key)?.map.get(&key).cloned()
}

/// Runs `f` on the node of span `key`, if it is bridged, holding the table's lock (so the
/// span's close waits). `f` must not call back into the table.
pub(super) fn with<R>(key: Key, f: impl FnOnce(&Node) -> R) -> Option<R> {
    shard(key)?.map.get(&key).map(|node| f(node))
}

/// The address of span `key`'s node, if it is bridged: it stays valid until the span's
/// [`remove`], which only its close does. Looked up in this thread's [`MADE`] first.
pub(super) fn get_ptr(key: Key) -> Option<*const Node> {
    let made = MADE
        .try_with(|made| {
            let made = made.try_borrow().ok()?;
            made.iter()
                .rev()
                .find(|(k, node)| *k == key && !node.closed.load(Ordering::Acquire))
                .map(|(_, node)| Arc::as_ptr(node))
        })
        .ok()
        .flatten();
    made.or_else(|| shard(key)?.map.get(&key).map(Arc::as_ptr))
}

/// Takes span `key`'s node out (the span is closing) and marks it closed, before the
/// registry can give its id to another span.
pub(super) fn remove(key: Key) -> Option<Arc<Node>> {
    let node = shard(key)?.map.remove(&key)?;
    node.closed.store(true, Ordering::Release);
    let _ = MADE.try_with(|made| {
        let Ok(mut made) = made.try_borrow_mut() else {
            return;
        };
        if let Some(at) = made.iter().rposition(|(_, n)| Arc::ptr_eq(n, &node)) {
            // Not the last reference (`node` is another), so no node is dropped here.
            made.swap_remove(at);
        }
    });
    Some(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_two_layers_with_the_same_span_id_stay_apart() {
        let (a, b) = (next_instance(), next_instance());
        assert_ne!(a, b);
        assert!(get((a, 1)).is_none());
        let node = Arc::new(Node::for_test());
        insert((a, 1), node.clone());
        assert!(Arc::ptr_eq(&get((a, 1)).expect("inserted"), &node));
        assert!(get((b, 1)).is_none());
        assert_eq!(get_ptr((a, 1)), Some(Arc::as_ptr(&node)));
        assert!(Arc::ptr_eq(&remove((a, 1)).expect("inserted"), &node));
        assert!(remove((a, 1)).is_none());
        assert!(get_ptr((a, 1)).is_none());
        assert_eq!(Arc::strong_count(&node), 1, "neither table keeps it");
    }

    #[test]
    fn a_span_closed_on_another_thread_is_not_found_here_under_its_old_key() {
        let layer = next_instance();
        let node = Arc::new(Node::for_test());
        insert((layer, 7), node.clone());
        std::thread::scope(|s| {
            s.spawn(|| assert!(remove((layer, 7)).is_some()));
        });
        // This thread's list still holds the node (stale), but the key is free again.
        assert_eq!(Arc::strong_count(&node), 2);
        assert!(get_ptr((layer, 7)).is_none());
        let next = Arc::new(Node::for_test());
        insert((layer, 7), next.clone());
        assert_eq!(get_ptr((layer, 7)), Some(Arc::as_ptr(&next)));
        assert!(remove((layer, 7)).is_some());
    }

    #[test]
    fn stale_entries_are_dropped_when_the_list_fills() {
        let layer = next_instance();
        let first = Arc::new(Node::for_test());
        insert((layer, 1), first.clone());
        std::thread::scope(|s| {
            s.spawn(|| remove((layer, 1)));
        });
        for id in 2..=MADE_CAP as u64 + 1 {
            insert((layer, id), Arc::new(Node::for_test()));
        }
        assert_eq!(Arc::strong_count(&first), 1, "the stale entry went");
        for id in 2..=MADE_CAP as u64 + 1 {
            assert!(remove((layer, id)).is_some());
        }
    }

    #[test]
    fn the_hasher_spreads_consecutive_ids_over_shards() {
        let used: std::collections::HashSet<usize> =
            (1..=256u64).map(|id| shard_index((1, id))).collect();
        assert!(used.len() > SHARDS / 2, "only {} shards used", used.len());
    }
}
