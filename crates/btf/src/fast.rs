//! The hash tables of this crate: keyed by type ids, string offsets and
//! names, looked up millions of times per kernel BTF. foldhash is several
//! times faster than the standard SipHash on such short keys, and its
//! per-process random seed keeps a hostile file from arranging collisions
//! in advance.

/// A map with foldhash's seeded hasher.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A set with foldhash's seeded hasher.
pub(crate) type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
