//! Maps and sets keyed by ids as `observe serve` receives them: text chosen by whoever
//! sends the request. SipHash, the standard library's, cost the writer about 2 % of the
//! server's time on them; foldhash is several times faster on short keys and, seeded at
//! random for each map, still leaves a sender no fixed set of ids that collide.

/// A map keyed by (or by tuples holding) ids from the network.
pub(crate) type IdMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A set of ids from the network.
pub(crate) type IdSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
