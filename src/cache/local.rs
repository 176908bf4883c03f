//! The local cryptographic materials cache (`framework/local-cryptographic-materials-cache.md`):
//! an in-memory, least-recently-used cache of a fixed number of entries.
//!
//! ```text
//! entries: HashMap<id, (entry, tick)>      order: BTreeMap<tick, id>
//!                                           first = least recently used ─► evicted first
//! get:  prune the N least recently used if expired; find; count usage; tick = next
//! put:  prune the N least recently used if expired; insert (tick = next); evict the least
//!       recently used until len ≤ capacity
//! ```
//!
//! One `std::sync::Mutex` guards both maps. It is held only inside the synchronous body of
//! each operation, never across an `.await` (the trait's futures are ready at once).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use futures::future::{BoxFuture, ready};

use crate::cache::{CacheEntry, Clock, CryptographicMaterialsCache, SystemClock, Usage};
use crate::error::Result;

/// The default number of least-recently-used entries checked for expiry on each operation (the
/// Material Providers Library's default).
pub const DEFAULT_PRUNING_TAIL_SIZE: usize = 1;

/// An in-memory LRU materials cache, safe to share between tasks and threads.
///
/// The Material Providers Library has a single-threaded and a multi-threaded flavour of this
/// cache; here both are this one type, whose state sits behind a mutex held only for the
/// synchronous body of each operation (see [`CacheType`](crate::cache::CacheType)).
///
/// ```
/// use std::sync::Arc;
/// use esdk::cache::{CryptographicMaterialsCache, LocalMaterialsCache};
///
/// let cache: Arc<dyn CryptographicMaterialsCache> = Arc::new(LocalMaterialsCache::new(100));
/// ```
#[derive(Debug)]
pub struct LocalMaterialsCache {
    clock: Arc<dyn Clock>,
    state: Mutex<Lru>,
}

/// The LRU bookkeeping without a lock or a clock: [`LocalMaterialsCache`] and the storm-tracking
/// cache each keep one behind their own mutex and pass in the time.
#[derive(Debug)]
pub(crate) struct Lru {
    capacity: usize,
    pruning_tail_size: usize,
    entries: HashMap<Vec<u8>, Slot>,
    /// Recency order: the smallest tick is the least recently used.
    order: BTreeMap<u64, Vec<u8>>,
    next_tick: u64,
}

#[derive(Debug)]
struct Slot {
    entry: CacheEntry,
    tick: u64,
}

impl Lru {
    pub(crate) fn new(capacity: usize, pruning_tail_size: usize) -> Self {
        Self {
            capacity,
            pruning_tail_size,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next_tick: 0,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn tick(&mut self) -> u64 {
        let t = self.next_tick;
        self.next_tick += 1;
        t
    }

    pub(crate) fn remove(&mut self, id: &[u8]) -> Option<CacheEntry> {
        let slot = self.entries.remove(id)?;
        self.order.remove(&slot.tick);
        Some(slot.entry)
    }

    /// Evicts the expired entries among the `n` least recently used.
    fn prune(&mut self, n: usize, now: Instant) {
        let expired: Vec<Vec<u8>> = self
            .order
            .values()
            .take(n)
            .filter(|id| {
                self.entries
                    .get(*id)
                    .is_some_and(|s| s.entry.is_expired(now))
            })
            .cloned()
            .collect();
        for id in expired {
            self.remove(&id);
        }
    }

    /// Removes every expired entry.
    pub(crate) fn prune_all(&mut self, now: Instant) {
        let n = self.entries.len();
        self.prune(n, now);
    }

    /// Prunes the tail, then the expiry time of the live entry for `id` (an expired one is
    /// removed). Neither recency nor usage changes.
    pub(crate) fn live_expiry(&mut self, id: &[u8], now: Instant) -> Option<Instant> {
        self.prune(self.pruning_tail_size, now);
        let expired = self.entries.get(id)?.entry.is_expired(now);
        if expired {
            self.remove(id);
            return None;
        }
        self.entries.get(id).map(|s| s.entry.expiry_time())
    }

    /// Marks the entry for `id` most recently used, counts `usage` against it and returns a
    /// copy.
    pub(crate) fn touch(&mut self, id: &[u8], usage: Usage) -> Option<CacheEntry> {
        let tick = self.tick();
        let slot = self.entries.get_mut(id)?;
        let old_tick = std::mem::replace(&mut slot.tick, tick);
        if let Usage::Message { bytes } = usage {
            slot.entry.record_use(bytes);
        }
        let entry = slot.entry.clone();
        self.order.remove(&old_tick);
        self.order.insert(tick, id.to_vec());
        Some(entry)
    }

    pub(crate) fn get(&mut self, id: &[u8], usage: Usage, now: Instant) -> Option<CacheEntry> {
        self.live_expiry(id, now)?;
        self.touch(id, usage)
    }

    pub(crate) fn put(&mut self, id: &[u8], entry: CacheEntry, now: Instant) {
        self.prune(self.pruning_tail_size, now);
        self.remove(id);
        let tick = self.tick();
        self.entries.insert(id.to_vec(), Slot { entry, tick });
        self.order.insert(tick, id.to_vec());
        while self.entries.len() > self.capacity {
            match self.order.pop_first() {
                Some((_, id)) => {
                    self.entries.remove(&id);
                }
                None => break,
            }
        }
    }
}

impl LocalMaterialsCache {
    /// A cache of at most `capacity` entries (0 stores nothing), using the system clock.
    pub fn new(capacity: usize) -> Self {
        Self::with_clock(capacity, Arc::new(SystemClock))
    }

    /// A cache of at most `capacity` entries that reads the time from `clock`.
    pub fn with_clock(capacity: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            state: Mutex::new(Lru::new(capacity, DEFAULT_PRUNING_TAIL_SIZE)),
        }
    }

    /// How many least-recently-used entries each operation checks for expiry (default 1).
    #[must_use]
    pub fn pruning_tail_size(mut self, n: usize) -> Self {
        self.state
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .pruning_tail_size = n;
        self
    }

    /// The most entries the cache holds.
    pub fn capacity(&self) -> usize {
        self.lock().capacity()
    }

    /// The number of entries held now (expired ones not yet pruned included).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every expired entry.
    pub fn prune_expired(&self) {
        let now = self.clock.now();
        self.lock().prune_all(now);
    }

    fn lock(&self) -> MutexGuard<'_, Lru> {
        // No operation panics half-way through an update, so a poisoned lock still guards a
        // consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The synchronous body of `get_cache_entry`.
    pub fn get(&self, identifier: &[u8], usage: Usage) -> Option<CacheEntry> {
        let now = self.clock.now();
        self.lock().get(identifier, usage, now)
    }

    /// The synchronous body of `put_cache_entry`.
    pub fn put(&self, identifier: &[u8], entry: CacheEntry) {
        let now = self.clock.now();
        self.lock().put(identifier, entry, now);
    }

    /// The synchronous body of `delete_cache_entry`.
    pub fn delete(&self, identifier: &[u8]) {
        self.lock().remove(identifier);
    }
}

impl CryptographicMaterialsCache for LocalMaterialsCache {
    fn get_cache_entry<'a>(
        &'a self,
        identifier: &'a [u8],
        usage: Usage,
    ) -> BoxFuture<'a, Result<Option<CacheEntry>>> {
        Box::pin(ready(Ok(self.get(identifier, usage))))
    }

    fn put_cache_entry<'a>(
        &'a self,
        identifier: &'a [u8],
        entry: CacheEntry,
    ) -> BoxFuture<'a, Result<()>> {
        self.put(identifier, entry);
        Box::pin(ready(Ok(())))
    }

    fn delete_cache_entry<'a>(&'a self, identifier: &'a [u8]) -> BoxFuture<'a, Result<()>> {
        self.delete(identifier);
        Box::pin(ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cache::{CachedMaterials, ManualClock};
    use crate::format::context::EncryptionContext;
    use crate::materials::{DataKey, DecryptionMaterials};
    use crate::suite::AlgorithmSuite;

    fn entry(clock: &ManualClock, ttl: Duration, key_byte: u8) -> CacheEntry {
        let mut m = DecryptionMaterials::new(
            AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
            EncryptionContext::new(),
            vec![],
            None,
        );
        m.set_data_key(DataKey::new(vec![key_byte; 32])).unwrap();
        let now = clock.now();
        CacheEntry::new(CachedMaterials::Decryption(m), now, now + ttl, 1, 0)
    }

    fn key_byte(e: &CacheEntry) -> u8 {
        match e.materials() {
            CachedMaterials::Decryption(m) => m.data_key().unwrap().expose()[0],
            other => panic!("unexpected materials {other:?}"),
        }
    }

    fn setup(capacity: usize) -> (Arc<ManualClock>, LocalMaterialsCache) {
        let clock = Arc::new(ManualClock::new());
        let cache = LocalMaterialsCache::with_clock(capacity, clock.clone());
        (clock, cache)
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn put_get_replace_delete() {
        let (clock, cache) = setup(10);
        assert!(cache.get(b"a", Usage::None).is_none());
        cache.put(b"a", entry(&clock, HOUR, 1));
        assert_eq!(key_byte(&cache.get(b"a", Usage::None).unwrap()), 1);
        cache.put(b"a", entry(&clock, HOUR, 2));
        assert_eq!(cache.len(), 1);
        assert_eq!(key_byte(&cache.get(b"a", Usage::None).unwrap()), 2);
        cache.delete(b"a");
        cache.delete(b"a"); // a missing entry deletes fine
        assert!(cache.get(b"a", Usage::None).is_none());
        assert!(cache.is_empty());
    }

    #[test]
    fn least_recently_used_entry_is_evicted_at_capacity() {
        let (clock, cache) = setup(2);
        cache.put(b"a", entry(&clock, HOUR, 1));
        cache.put(b"b", entry(&clock, HOUR, 2));
        assert!(cache.get(b"a", Usage::None).is_some()); // b is now the least recently used
        cache.put(b"c", entry(&clock, HOUR, 3));
        assert_eq!(cache.len(), 2);
        assert!(cache.get(b"b", Usage::None).is_none());
        assert!(cache.get(b"a", Usage::None).is_some());
        assert!(cache.get(b"c", Usage::None).is_some());
        // Replacing an entry does not evict another.
        cache.put(b"a", entry(&clock, HOUR, 4));
        assert!(cache.get(b"c", Usage::None).is_some());
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn zero_capacity_stores_nothing() {
        let (clock, cache) = setup(0);
        cache.put(b"a", entry(&clock, HOUR, 1));
        assert!(cache.is_empty());
        assert!(cache.get(b"a", Usage::None).is_none());
    }

    #[test]
    fn expired_entries_are_never_returned_and_are_pruned() {
        let (clock, cache) = setup(10);
        cache.put(b"short", entry(&clock, Duration::from_secs(10), 1));
        cache.put(b"long", entry(&clock, HOUR, 2));
        clock.advance(Duration::from_secs(10));
        assert!(
            cache.get(b"short", Usage::None).is_some(),
            "live up to expiry"
        );
        clock.advance(Duration::from_nanos(1));
        assert!(cache.get(b"long", Usage::None).is_some());
        // "short" is now the least recently used, and expired: any operation prunes it.
        assert_eq!(cache.len(), 2);
        cache.get(b"long", Usage::None);
        assert_eq!(cache.len(), 1);
        assert!(cache.get(b"short", Usage::None).is_none());
    }

    #[test]
    fn pruning_looks_at_the_tail_only_unless_asked() {
        let (clock, cache) = setup(10);
        let cache = cache.pruning_tail_size(1);
        cache.put(b"live", entry(&clock, HOUR, 1));
        cache.put(b"x", entry(&clock, Duration::from_secs(1), 2));
        cache.put(b"y", entry(&clock, Duration::from_secs(1), 3));
        clock.advance(Duration::from_secs(2));
        cache.get(b"live", Usage::None); // tail was "live": nothing pruned
        assert_eq!(cache.len(), 3);
        cache.get(b"live", Usage::None); // tail was "x"
        assert_eq!(cache.len(), 2);
        cache.prune_expired();
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn get_counts_usage_atomically() {
        let (clock, cache) = setup(10);
        cache.put(b"a", entry(&clock, HOUR, 1));
        let e = cache.get(b"a", Usage::Message { bytes: 100 }).unwrap();
        assert_eq!((e.messages_used(), e.bytes_used()), (2, 100));
        let e = cache.get(b"a", Usage::None).unwrap();
        assert_eq!((e.messages_used(), e.bytes_used()), (2, 100));
        let e = cache.get(b"a", Usage::Message { bytes: u64::MAX }).unwrap();
        assert_eq!((e.messages_used(), e.bytes_used()), (3, u64::MAX));
    }

    #[test]
    fn usable_from_many_threads() {
        let (clock, cache) = setup(1000);
        let cache = Arc::new(cache);
        cache.put(b"shared", entry(&clock, HOUR, 9));
        std::thread::scope(|s| {
            for t in 0..8u8 {
                let cache = cache.clone();
                let clock = &clock;
                s.spawn(move || {
                    for i in 0..100u8 {
                        cache.put(&[t, i], entry(clock, HOUR, i));
                        cache.get(b"shared", Usage::Message { bytes: 1 }).unwrap();
                    }
                });
            }
        });
        let e = cache.get(b"shared", Usage::None).unwrap();
        assert_eq!((e.messages_used(), e.bytes_used()), (801, 800));
        assert_eq!(cache.len(), 801);
    }
}
