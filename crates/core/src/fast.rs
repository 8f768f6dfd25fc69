//! The hash tables of this crate, keyed by type ids, spec strings and
//! instruction addresses, looked up once per relocation or interpreted
//! instruction: hashbrown with its default hasher (foldhash, seeded per
//! process), several times cheaper than SipHash on such keys.

/// A map with hashbrown's default hasher.
pub(crate) type FastMap<K, V> = hashbrown::HashMap<K, V>;

/// A set with hashbrown's default hasher.
pub(crate) type FastSet<K> = hashbrown::HashSet<K>;
