//! The hierarchical keyring's branch key cache (`aws-kms-hierarchical-keyring.md`, "Cache" and
//! "Cache Entry Identifier"): a [`BranchKeySource`] that keeps what another source returned for
//! a time-to-live, in a cache chosen by [`CacheType`].
//!
//! * **TTL.** An entry is used only while `now − creation time ≤ ttl`, measured on the
//!   source's [`Clock`], whatever expiry the cache itself keeps (a cache shared with other
//!   keyrings may hold entries stored under a longer TTL).
//! * **Cache type.** By default a [`LocalMaterialsCache`](crate::cache::LocalMaterialsCache)
//!   of 1000 entries (LRU), the MPL's default size; [`CacheType::StormTracking`] refreshes
//!   entries shortly before they expire;
//!   [`CacheType::Shared`] uses a cache shared with other keyrings or caching CMMs;
//!   [`CacheType::No`] passes every call through.
//! * **Single flight.** With a cache that does not coordinate fetches itself (all but the
//!   storm-tracking one), concurrent misses for one entry call the underlying source once: the
//!   first task fetches, the others wait for it and then find its entry. When the fetch fails,
//!   the next waiter tries again (an error is not cached). A storm-tracking cache does this
//!   itself ([`CryptographicMaterialsCache::coordinates_fetches`]): its misses are fetched at
//!   once, and its errors returned.
//! * **Entry identifiers** are the spec's: SHA-384 over `0x02 ‖ 0x00 ‖ scope ‖ 0x00 ‖ partition
//!   ID ‖ 0x00 ‖ logical key store name ‖ 0x00 ‖ branch key ID`, with scope `0x01` for the
//!   active version (encrypt) and `0x02` followed by `0x00 ‖ version` for a given version
//!   (decrypt). The partition ID is the UTF-8 of the one given, by default the 16 bytes of a
//!   random version 4 UUID, so keyrings sharing one cache do not share entries unless they are
//!   given the same partition ID (and logical key store name, and branch key ID).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;

use crate::cache::{
    CacheEntry, CacheType, CachedMaterials, Clock, CryptographicMaterialsCache, DefaultCache,
    SystemClock, Usage,
};
use crate::crypto::{CryptoProvider, HashAlgorithm, default_provider};
use crate::error::{Error, KeyringError, Result};
use crate::keyring::hierarchy::source::BranchKeySource;
use crate::materials::BranchKeyMaterials;

/// The default number of entries of the cache a [`CachingBranchKeySource`] makes for itself.
pub const DEFAULT_BRANCH_KEY_CACHE_CAPACITY: usize = crate::cache::DEFAULT_ENTRY_CAPACITY;

/// A [`BranchKeySource`] that caches another source's branch keys for a time-to-live.
///
/// See the [module documentation](self) for the rules it follows.
pub struct CachingBranchKeySource {
    inner: Arc<dyn BranchKeySource>,
    /// `None` for [`CacheType::No`].
    cache: Option<Arc<dyn CryptographicMaterialsCache>>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    partition_id: Vec<u8>,
    provider: CryptoProvider,
    flights: Mutex<HashMap<Vec<u8>, Arc<tokio::sync::Mutex<()>>>>,
}

impl fmt::Debug for CachingBranchKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingBranchKeySource")
            .field("inner", &self.inner)
            .field("cache", &self.cache)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// What a look at the cache found.
enum Lookup {
    /// Usable branch key materials.
    Hit(BranchKeyMaterials),
    /// An entry this source cannot use (too old for its TTL, or another key).
    Unusable,
    /// No entry (from a coordinating cache: this caller is to fetch).
    Miss,
}

impl CachingBranchKeySource {
    /// Caches `inner`'s branch keys for `ttl` in a new [`LocalMaterialsCache`](crate::cache::LocalMaterialsCache)
    /// of [`DEFAULT_BRANCH_KEY_CACHE_CAPACITY`] entries.
    ///
    /// # Errors
    /// [`KeyringError::InvalidConfiguration`] for a zero TTL.
    pub fn new(inner: Arc<dyn BranchKeySource>, ttl: Duration) -> Result<Self> {
        Self::builder(inner, ttl).build()
    }

    /// A builder, to choose the cache type, the partition ID or the clock.
    pub fn builder(
        inner: Arc<dyn BranchKeySource>,
        ttl: Duration,
    ) -> CachingBranchKeySourceBuilder {
        CachingBranchKeySourceBuilder {
            inner,
            ttl,
            cache: CacheType::default(),
            partition_id: None,
            clock: None,
        }
    }

    /// The time-to-live of cached branch keys.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The partition ID bytes that go into the entry identifiers.
    pub fn partition_id(&self) -> &[u8] {
        &self.partition_id
    }

    fn entry_id(&self, branch_key_id: &str, version: Option<&str>) -> Vec<u8> {
        let name = self.inner.logical_key_store_name();
        let scope: &[u8] = if version.is_some() { &[2] } else { &[1] };
        let mut parts: Vec<&[u8]> = vec![
            &[2],
            &[0],
            scope,
            &[0],
            &self.partition_id,
            &[0],
            name.as_bytes(),
            &[0],
            branch_key_id.as_bytes(),
        ];
        if let Some(v) = version {
            parts.push(&[0]);
            parts.push(v.as_bytes());
        }
        self.provider.hash.digest(HashAlgorithm::Sha384, &parts)
    }

    async fn lookup(
        &self,
        cache: &Arc<dyn CryptographicMaterialsCache>,
        id: &[u8],
        want: &Want<'_>,
    ) -> Result<Lookup> {
        let entry = match cache.get_cache_entry(id, Usage::None).await {
            Ok(Some(entry)) => entry,
            Ok(None) => return Ok(Lookup::Miss),
            Err(e) if cache.coordinates_fetches() => return Err(e),
            // A failing cache is a miss: caching is an optimisation.
            Err(_) => return Ok(Lookup::Miss),
        };
        let now = self.clock.now();
        let young = now
            .checked_duration_since(entry.creation_time())
            .is_some_and(|age| age <= self.ttl);
        Ok(match entry.into_materials() {
            CachedMaterials::BranchKey(m) if young && want.matches(&m) => Lookup::Hit(m),
            _ => Lookup::Unusable,
        })
    }

    async fn fetch(&self, want: &Want<'_>) -> Result<BranchKeyMaterials> {
        match want.version {
            None => self.inner.active_branch_key(want.branch_key_id).await,
            Some(v) => self.inner.branch_key_version(want.branch_key_id, v).await,
        }
    }

    async fn fetch_and_store(
        &self,
        cache: &Arc<dyn CryptographicMaterialsCache>,
        id: &[u8],
        want: &Want<'_>,
    ) -> Result<BranchKeyMaterials> {
        let m = self.fetch(want).await?;
        let now = self.clock.now();
        if let Some(expiry) = now.checked_add(self.ttl) {
            let entry = CacheEntry::new(CachedMaterials::BranchKey(m.clone()), now, expiry, 0, 0);
            // A cache that cannot store only costs a later miss.
            let _ = cache.put_cache_entry(id, entry).await;
        }
        Ok(m)
    }

    async fn get(&self, want: Want<'_>) -> Result<BranchKeyMaterials> {
        let Some(cache) = &self.cache else {
            return self.fetch(&want).await;
        };
        let id = self.entry_id(want.branch_key_id, want.version);
        match self.lookup(cache, &id, &want).await? {
            Lookup::Hit(m) => return Ok(m),
            // A coordinating cache chose this caller to fetch.
            Lookup::Miss if cache.coordinates_fetches() => {
                return self.fetch_and_store(cache, &id, &want).await;
            }
            _ => {}
        }
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            flights.entry(id.clone()).or_default().clone()
        };
        let _cleanup = FlightCleanup {
            source: self,
            id: &id,
            flight: &flight,
        };
        let _turn = flight.lock().await;
        // Whoever held the lock before us may have fetched the entry.
        if let Lookup::Hit(m) = self.lookup(cache, &id, &want).await? {
            return Ok(m);
        }
        self.fetch_and_store(cache, &id, &want).await
    }
}
/// What a lookup asks for: the active version (`version: None`) or a given one.
struct Want<'a> {
    branch_key_id: &'a str,
    version: Option<&'a str>,
}

impl Want<'_> {
    fn matches(&self, m: &BranchKeyMaterials) -> bool {
        m.branch_key_id() == self.branch_key_id
            && self
                .version
                .is_none_or(|v| m.version().eq_ignore_ascii_case(v))
    }
}

/// Removes an entry's flight from the map when the last task interested in it leaves (also
/// when its future is dropped half-way).
struct FlightCleanup<'a> {
    source: &'a CachingBranchKeySource,
    id: &'a [u8],
    flight: &'a Arc<tokio::sync::Mutex<()>>,
}

impl Drop for FlightCleanup<'_> {
    fn drop(&mut self) {
        let mut flights = self
            .source
            .flights
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Clones are made only under this lock: two references (the map's and ours) mean no
        // other task waits for this entry.
        if let Some(f) = flights.get(self.id)
            && Arc::ptr_eq(f, self.flight)
            && Arc::strong_count(self.flight) == 2
        {
            flights.remove(self.id);
        }
    }
}

impl BranchKeySource for CachingBranchKeySource {
    fn active_branch_key<'a>(
        &'a self,
        branch_key_id: &'a str,
    ) -> BoxFuture<'a, Result<BranchKeyMaterials>> {
        Box::pin(self.get(Want {
            branch_key_id,
            version: None,
        }))
    }

    fn branch_key_version<'a>(
        &'a self,
        branch_key_id: &'a str,
        version: &'a str,
    ) -> BoxFuture<'a, Result<BranchKeyMaterials>> {
        Box::pin(self.get(Want {
            branch_key_id,
            version: Some(version),
        }))
    }

    fn logical_key_store_name(&self) -> &str {
        self.inner.logical_key_store_name()
    }
}

/// Settings for a [`CachingBranchKeySource`].
#[must_use = "a builder does nothing until built"]
pub struct CachingBranchKeySourceBuilder {
    inner: Arc<dyn BranchKeySource>,
    ttl: Duration,
    cache: CacheType,
    partition_id: Option<Vec<u8>>,
    clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for CachingBranchKeySourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingBranchKeySourceBuilder")
            .field("inner", &self.inner)
            .field("ttl", &self.ttl)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl CachingBranchKeySourceBuilder {
    /// The cache type (default: [`CacheType::Default`] of
    /// [`DEFAULT_BRANCH_KEY_CACHE_CAPACITY`] entries). An `Arc` of a cache converts into
    /// [`CacheType::Shared`]: entries are then kept in that cache, possibly shared with other
    /// keyrings or caching CMMs.
    pub fn cache(mut self, cache: impl Into<CacheType>) -> Self {
        self.cache = cache.into();
        self
    }

    /// Shorthand for `.cache(DefaultCache::new(entries))`.
    pub fn capacity(self, entries: usize) -> Self {
        self.cache(DefaultCache::new(entries))
    }

    /// The partition ID of the entry identifiers (default: the 16 bytes of a random version
    /// 4 UUID). Keyrings given the same partition ID and cache share branch keys.
    pub fn partition_id(mut self, id: impl Into<Vec<u8>>) -> Self {
        self.partition_id = Some(id.into());
        self
    }

    /// The clock that ages entries (default [`SystemClock`]); also the clock of the cache made
    /// when the type is not `Shared`.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The caching source.
    ///
    /// # Errors
    /// [`KeyringError::InvalidConfiguration`] for a zero TTL, cache settings the MPL refuses
    /// (a zero capacity, inconsistent storm-tracking periods) or a storm-tracking grace period
    /// not shorter than the TTL; an error of the random source while making the partition ID.
    pub fn build(self) -> Result<CachingBranchKeySource> {
        if self.ttl.is_zero() {
            return Err(KeyringError::InvalidConfiguration(
                "the branch key cache TTL must be above zero".into(),
            )
            .into());
        }
        crate::cache::types::check_ttl(&self.cache, self.ttl)
            .map_err(KeyringError::InvalidConfiguration)?;
        let provider = *default_provider();
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let cache = self.cache.create(clock.clone()).map_err(|e| match e {
            Error::ApiMisuse(m) => Error::from(KeyringError::InvalidConfiguration(m)),
            e => e,
        })?;
        let partition_id = match self.partition_id {
            Some(p) => p,
            None => {
                let mut p = vec![0u8; 16];
                provider.random.fill(&mut p)?;
                // A version 4 UUID, as the specification describes the default.
                p[6] = (p[6] & 0x0f) | 0x40;
                p[8] = (p[8] & 0x3f) | 0x80;
                p
            }
        };
        Ok(CachingBranchKeySource {
            inner: self.inner,
            cache,
            clock,
            ttl: self.ttl,
            partition_id,
            provider,
            flights: Mutex::new(HashMap::new()),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::cache::{LocalMaterialsCache, ManualClock};
    use crate::keyring::hierarchy::StaticBranchKeySource;

    const V1: &str = "e9ce18a3-edb5-4272-9f86-1cacb7997ff6";

    /// A source that counts its calls and answers after yielding, so concurrent callers
    /// overlap.
    #[derive(Debug)]
    struct Counting {
        inner: StaticBranchKeySource,
        calls: AtomicUsize,
        fail: bool,
    }

    impl Counting {
        fn new(fail: bool) -> Arc<Self> {
            let m = BranchKeyMaterials::new("bk", V1, &[7; 32]).unwrap();
            Arc::new(Self {
                inner: StaticBranchKeySource::new(m),
                calls: AtomicUsize::new(0),
                fail,
            })
        }
    }

    impl BranchKeySource for Counting {
        fn active_branch_key<'a>(
            &'a self,
            id: &'a str,
        ) -> BoxFuture<'a, Result<BranchKeyMaterials>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                if self.fail {
                    return Err(KeyringError::KeyStore("unavailable".into()).into());
                }
                self.inner.active_branch_key(id).await
            })
        }

        fn branch_key_version<'a>(
            &'a self,
            id: &'a str,
            version: &'a str,
        ) -> BoxFuture<'a, Result<BranchKeyMaterials>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                self.inner.branch_key_version(id, version).await
            })
        }
    }

    fn caching(
        inner: Arc<Counting>,
        clock: Arc<ManualClock>,
        ttl: Duration,
    ) -> CachingBranchKeySource {
        CachingBranchKeySource::builder(inner, ttl)
            .clock(clock)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn ttl_is_respected_on_the_injected_clock() {
        let inner = Counting::new(false);
        let clock = Arc::new(ManualClock::new());
        let c = caching(inner.clone(), clock.clone(), Duration::from_secs(60));
        c.active_branch_key("bk").await.unwrap();
        c.active_branch_key("bk").await.unwrap();
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
        clock.advance(Duration::from_secs(60));
        c.active_branch_key("bk").await.unwrap();
        assert_eq!(
            inner.calls.load(Ordering::SeqCst),
            1,
            "age == ttl still hits"
        );
        clock.advance(Duration::from_secs(1));
        c.active_branch_key("bk").await.unwrap();
        assert_eq!(
            inner.calls.load(Ordering::SeqCst),
            2,
            "past the TTL: fetched again"
        );
        // Versions are cached apart from the active key.
        c.branch_key_version("bk", V1).await.unwrap();
        c.branch_key_version("bk", V1).await.unwrap();
        assert_eq!(inner.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_shared_cache_entry_older_than_this_ttl_is_not_used() {
        let inner = Counting::new(false);
        let clock = Arc::new(ManualClock::new());
        let shared: Arc<dyn CryptographicMaterialsCache> =
            Arc::new(LocalMaterialsCache::with_clock(10, clock.clone()));
        let long = CachingBranchKeySource::builder(inner.clone(), Duration::from_secs(600))
            .cache(shared.clone())
            .partition_id(b"p".to_vec())
            .clock(clock.clone())
            .build()
            .unwrap();
        let short = CachingBranchKeySource::builder(inner.clone(), Duration::from_secs(10))
            .cache(shared)
            .partition_id(b"p".to_vec())
            .clock(clock.clone())
            .build()
            .unwrap();
        long.active_branch_key("bk").await.unwrap();
        short.active_branch_key("bk").await.unwrap();
        assert_eq!(
            inner.calls.load(Ordering::SeqCst),
            1,
            "same partition: shared"
        );
        clock.advance(Duration::from_secs(11));
        long.active_branch_key("bk").await.unwrap();
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
        short.active_branch_key("bk").await.unwrap();
        assert_eq!(
            inner.calls.load(Ordering::SeqCst),
            2,
            "too old for the short TTL"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_fetch_once() {
        let inner = Counting::new(false);
        let c =
            Arc::new(CachingBranchKeySource::new(inner.clone(), Duration::from_secs(60)).unwrap());
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move { c.active_branch_key("bk").await.map(|m| m.version()) })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), V1);
        }
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
        assert!(c.flights.lock().unwrap().is_empty(), "flights cleaned up");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn errors_are_not_cached() {
        let inner = Counting::new(true);
        let c =
            Arc::new(CachingBranchKeySource::new(inner.clone(), Duration::from_secs(60)).unwrap());
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move { c.active_branch_key("bk").await.map(|_| ()) })
            })
            .collect();
        for t in tasks {
            assert!(matches!(
                t.await.unwrap(),
                Err(crate::Error::Keyring(KeyringError::KeyStore(_)))
            ));
        }
        // One at a time: each waiter tried again after the fetch before it failed.
        assert_eq!(inner.calls.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn entry_ids_follow_the_spec_layout() {
        let inner = Counting::new(false);
        let c = CachingBranchKeySource::builder(inner, Duration::from_secs(1))
            .partition_id(b"part".to_vec())
            .build()
            .unwrap();
        let p = default_provider();
        let want = p
            .hash
            .digest(HashAlgorithm::Sha384, &[b"\x02\x00\x01\x00part\x00\x00bk"]);
        assert_eq!(c.entry_id("bk", None), want);
        let want = p.hash.digest(
            HashAlgorithm::Sha384,
            &[b"\x02\x00\x02\x00part\x00\x00bk\x00", V1.as_bytes()],
        );
        assert_eq!(c.entry_id("bk", Some(V1)), want);
        assert!(CachingBranchKeySource::new(Counting::new(false), Duration::ZERO).is_err());
    }
}
