//! The storm-tracking cryptographic materials cache
//! (`framework/storm-tracking-cryptographic-materials-cache.md`): an LRU cache that sends one
//! caller to refresh an entry shortly before it expires while the others keep using it, and
//! makes callers of a missing entry wait for the one fetching it.
//!
//! ```text
//! get(id):  entry live?
//!   yes ─ fan-out reached, or not yet within the grace period of its expiry ─► the entry
//!       ─ within the grace period, a refresh started less than a grace interval ago ─► the entry
//!       ─ within the grace period, no recent refresh ─► miss; id in flight since now
//!   no  ─ fan-out reached, or a fetch started less than a grace interval ago ─► wait
//!       ─ otherwise ─► miss; id in flight since now
//!   wait: woken by any put or delete, or after `sleep`; fail once `in_flight_ttl` has passed
//! put(id):    store; id no longer in flight; wake the waiters
//! ```
//!
//! A miss is an instruction to the caller: fetch the materials and put them. The keyring and
//! the CMM of this crate see [`coordinates_fetches`](CryptographicMaterialsCache::coordinates_fetches)
//! and then skip their own single flight. A caller that fails (or is cancelled) does not put;
//! a grace interval after its miss, the next caller is sent to fetch instead.
//!
//! "Within the grace period" is `expiry − grace_period ≤ now`; "a grace interval ago" is
//! `now < in-flight time + grace_interval`. The fan-out counts identifiers in flight; one in
//! flight for longer than the in-flight TTL stops counting.
//!
//! Waits sleep on Tokio's timer, so `get_cache_entry` must run inside a Tokio runtime with
//! time enabled (as `#[tokio::main]` and `#[tokio::test]` make); outside any Tokio runtime a
//! wait fails with [`Error::ApiMisuse`] instead of blocking.

use std::collections::HashMap;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use futures::future::BoxFuture;
use tokio::sync::Notify;

use crate::cache::local::Lru;
use crate::cache::{CacheEntry, Clock, CryptographicMaterialsCache, StormTrackingCache, Usage};
use crate::error::{Error, LimitError, Result};

/// An in-memory LRU cache with storm tracking, safe to share between tasks and threads. Made
/// from [`StormTrackingCache`] settings; see the [module documentation](self) for its rules.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> esdk::Result<()> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use esdk::cache::{CryptographicMaterialsCache, StormTrackingCache, Usage};
///
/// let cache = StormTrackingCache::new()
///     .grace_period(Duration::from_secs(60))
///     .build()?;
/// // The first caller of a missing entry is told to fetch it.
/// assert!(cache.get_cache_entry(b"id", Usage::None).await?.is_none());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct StormTrackingMaterialsCache {
    settings: StormTrackingCache,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    /// Woken on every put and delete.
    changed: Notify,
}

#[derive(Debug)]
struct State {
    lru: Lru,
    /// When each identifier in flight was last answered with a miss.
    in_flight: HashMap<Vec<u8>, Instant>,
}

/// What one look at the cache decided.
enum Decision {
    Hit(CacheEntry),
    Fetch,
    Wait,
}

impl StormTrackingMaterialsCache {
    pub(crate) fn from_settings(settings: StormTrackingCache, clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Mutex::new(State {
                lru: Lru::new(settings.entry_capacity, settings.entry_pruning_tail_size),
                in_flight: HashMap::new(),
            }),
            settings,
            clock,
            changed: Notify::new(),
        }
    }

    /// The settings the cache was made with.
    pub fn settings(&self) -> &StormTrackingCache {
        &self.settings
    }

    /// The number of entries held now (expired ones not yet pruned included).
    pub fn len(&self) -> usize {
        self.lock().lru.len()
    }

    /// True when the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of identifiers in flight (answered with a miss and not yet put).
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight.len()
    }

    /// Removes every expired entry.
    pub fn prune_expired(&self) {
        let now = self.clock.now();
        self.lock().lru.prune_all(now);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No operation panics half-way through an update, so a poisoned lock still guards a
        // consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn in_grace_period(&self, expiry: Instant, now: Instant) -> bool {
        // An expiry closer to the clock's origin than the grace period is within it.
        expiry
            .checked_sub(self.settings.grace_period)
            .is_none_or(|start| start <= now)
    }

    fn within_grace_interval(&self, since: Instant, now: Instant) -> bool {
        since
            .checked_add(self.settings.grace_interval)
            .is_none_or(|end| now < end)
    }

    /// Whether `fan_out` identifiers are in flight, after forgetting those in flight for at
    /// least the in-flight TTL.
    fn fan_out_reached(&self, state: &mut State, now: Instant) -> bool {
        if state.in_flight.len() < self.settings.fan_out {
            return false;
        }
        let ttl = self.settings.in_flight_ttl;
        state
            .in_flight
            .retain(|_, since| now.saturating_duration_since(*since) < ttl);
        state.in_flight.len() >= self.settings.fan_out
    }

    fn decide(&self, id: &[u8], usage: Usage, now: Instant) -> Decision {
        let mut state = self.lock();
        let expiry = state.lru.live_expiry(id, now);
        let fan_out_reached = self.fan_out_reached(&mut state, now);
        let recent_fetch = state
            .in_flight
            .get(id)
            .is_some_and(|since| self.within_grace_interval(*since, now));
        let fetch = match expiry {
            Some(expiry) => !fan_out_reached && self.in_grace_period(expiry, now) && !recent_fetch,
            None if fan_out_reached || recent_fetch => return Decision::Wait,
            None => true,
        };
        if fetch {
            state.in_flight.insert(id.to_vec(), now);
            return Decision::Fetch;
        }
        match state.lru.touch(id, usage) {
            Some(entry) => Decision::Hit(entry),
            // Unreachable: the entry was found under the same lock.
            None => Decision::Fetch,
        }
    }

    /// The synchronous body of `put_cache_entry`.
    pub fn put(&self, identifier: &[u8], entry: CacheEntry) {
        let now = self.clock.now();
        {
            let mut state = self.lock();
            state.lru.put(identifier, entry, now);
            state.in_flight.remove(identifier);
        }
        self.changed.notify_waiters();
    }

    /// The synchronous body of `delete_cache_entry`.
    pub fn delete(&self, identifier: &[u8]) {
        {
            let mut state = self.lock();
            state.lru.remove(identifier);
            state.in_flight.remove(identifier);
        }
        self.changed.notify_waiters();
    }

    async fn get(&self, identifier: &[u8], usage: Usage) -> Result<Option<CacheEntry>> {
        let start = self.clock.now();
        loop {
            // Registered before looking, so that a put between the look and the wait still
            // wakes this caller.
            let mut woken = pin!(self.changed.notified());
            woken.as_mut().enable();
            match self.decide(identifier, usage, self.clock.now()) {
                Decision::Hit(entry) => return Ok(Some(entry)),
                Decision::Fetch => return Ok(None),
                Decision::Wait => {}
            }
            let waited = self.clock.now().saturating_duration_since(start);
            if waited > self.settings.in_flight_ttl {
                return Err(LimitError::InFlightTtlExceeded(self.settings.in_flight_ttl).into());
            }
            if tokio::runtime::Handle::try_current().is_err() {
                return Err(Error::misuse(
                    "the storm-tracking cache waits on Tokio's timer: call it inside a Tokio \
                     runtime",
                ));
            }
            let _ = tokio::time::timeout(self.settings.sleep, woken).await;
        }
    }
}

impl CryptographicMaterialsCache for StormTrackingMaterialsCache {
    fn get_cache_entry<'a>(
        &'a self,
        identifier: &'a [u8],
        usage: Usage,
    ) -> BoxFuture<'a, Result<Option<CacheEntry>>> {
        Box::pin(self.get(identifier, usage))
    }

    fn put_cache_entry<'a>(
        &'a self,
        identifier: &'a [u8],
        entry: CacheEntry,
    ) -> BoxFuture<'a, Result<()>> {
        self.put(identifier, entry);
        Box::pin(futures::future::ready(Ok(())))
    }

    fn delete_cache_entry<'a>(&'a self, identifier: &'a [u8]) -> BoxFuture<'a, Result<()>> {
        self.delete(identifier);
        Box::pin(futures::future::ready(Ok(())))
    }

    fn coordinates_fetches(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cache::{CachedMaterials, TokioClock};
    use crate::format::context::EncryptionContext;
    use crate::materials::{DataKey, DecryptionMaterials};
    use crate::suite::AlgorithmSuite;

    const SEC: Duration = Duration::from_secs(1);

    fn entry(ttl: Duration, key_byte: u8) -> CacheEntry {
        let mut m = DecryptionMaterials::new(
            AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
            EncryptionContext::new(),
            vec![],
            None,
        );
        m.set_data_key(DataKey::new(vec![key_byte; 32])).unwrap();
        let now = TokioClock.now();
        CacheEntry::new(CachedMaterials::Decryption(m), now, now + ttl, 1, 0)
    }

    fn key_byte(e: &CacheEntry) -> u8 {
        match e.materials() {
            CachedMaterials::Decryption(m) => m.data_key().unwrap().expose()[0],
            other => panic!("unexpected materials {other:?}"),
        }
    }

    /// Grace period 10 s, grace interval 1 s, in-flight TTL 5 s, sleep 20 ms, fan-out 2.
    fn cache() -> Arc<StormTrackingMaterialsCache> {
        Arc::new(
            StormTrackingCache::new()
                .in_flight_ttl(5 * SEC)
                .fan_out(2)
                .build_with_clock(Arc::new(TokioClock))
                .unwrap(),
        )
    }

    async fn get(c: &StormTrackingMaterialsCache, id: &[u8]) -> Result<Option<CacheEntry>> {
        c.get_cache_entry(id, Usage::None).await
    }

    #[tokio::test(start_paused = true)]
    async fn refreshes_once_per_grace_interval_inside_the_grace_period() {
        let c = cache();
        c.put(b"a", entry(60 * SEC, 1));
        // Outside the grace period: always the entry.
        tokio::time::advance(49 * SEC).await;
        assert_eq!(key_byte(&get(&c, b"a").await.unwrap().unwrap()), 1);
        // Inside it (expiry − 10 s ≤ now): the first caller is sent to refresh, the others
        // keep getting the entry for a grace interval.
        tokio::time::advance(SEC).await;
        assert!(get(&c, b"a").await.unwrap().is_none());
        assert_eq!(c.in_flight(), 1);
        for _ in 0..5 {
            assert!(get(&c, b"a").await.unwrap().is_some());
        }
        tokio::time::advance(SEC - Duration::from_millis(1)).await;
        assert!(get(&c, b"a").await.unwrap().is_some());
        // A grace interval later without a put: the next caller refreshes.
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(get(&c, b"a").await.unwrap().is_none());
        assert!(get(&c, b"a").await.unwrap().is_some());
        // The put ends the flight; the new entry is outside its grace period.
        c.put(b"a", entry(60 * SEC, 2));
        assert_eq!(c.in_flight(), 0);
        assert_eq!(key_byte(&get(&c, b"a").await.unwrap().unwrap()), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_missing_entry_is_fetched_once_and_waited_for() {
        let c = cache();
        assert!(
            get(&c, b"a").await.unwrap().is_none(),
            "first caller fetches"
        );
        let waiters: Vec<_> = (0..10)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move {
                    let t0 = tokio::time::Instant::now();
                    let e = get(&c, b"a").await.unwrap().unwrap();
                    (key_byte(&e), t0.elapsed())
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.put(b"a", entry(60 * SEC, 7));
        for w in waiters {
            let (byte, waited) = w.await.unwrap();
            assert_eq!(byte, 7);
            // Woken by the put itself, not by the next 20 ms poll.
            assert_eq!(waited, Duration::from_millis(300));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_fetch_is_taken_over_after_a_grace_interval() {
        let c = cache();
        assert!(get(&c, b"a").await.unwrap().is_none());
        // Nobody puts: the next caller waits one grace interval, then is sent to fetch.
        let t0 = tokio::time::Instant::now();
        assert!(get(&c, b"a").await.unwrap().is_none());
        let waited = t0.elapsed();
        assert!(
            (SEC..SEC + Duration::from_millis(20)).contains(&waited),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_ends_with_an_error_after_the_in_flight_ttl() {
        // Fan-out 1, and every second the one slot passes to another identifier before the
        // waiter gets to look: it never gets a turn, and gives up after the in-flight TTL.
        let c = Arc::new(
            StormTrackingCache::new()
                .in_flight_ttl(5 * SEC)
                .fan_out(1)
                .build_with_clock(Arc::new(TokioClock))
                .unwrap(),
        );
        assert!(get(&c, &[0]).await.unwrap().is_none());
        let waiter = {
            let c = c.clone();
            tokio::spawn(async move {
                let t0 = tokio::time::Instant::now();
                (get(&c, b"w").await.map(|e| e.is_some()), t0.elapsed())
            })
        };
        for i in 1..=6u8 {
            tokio::time::sleep(SEC).await;
            c.put(&[i - 1], entry(60 * SEC, i));
            assert!(get(&c, &[i]).await.unwrap().is_none());
        }
        let (result, waited) = waiter.await.unwrap();
        match result {
            Err(Error::Limit(LimitError::InFlightTtlExceeded(ttl))) => assert_eq!(ttl, 5 * SEC),
            other => panic!("expected InFlightTtlExceeded, got {other:?}"),
        }
        assert!(
            (5 * SEC..5 * SEC + Duration::from_millis(40)).contains(&waited),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn fan_out_limits_identifiers_in_flight() {
        let c = cache(); // fan-out 2
        assert!(get(&c, b"a").await.unwrap().is_none());
        assert!(get(&c, b"b").await.unwrap().is_none());
        // A third identifier waits for a slot...
        let third = {
            let c = c.clone();
            tokio::spawn(async move { get(&c, b"c").await.map(|e| e.is_none()) })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!third.is_finished());
        // ...which the put of "a" frees: "c" is then sent to fetch.
        c.put(b"a", entry(60 * SEC, 1));
        assert!(third.await.unwrap().unwrap());
        // With the fan-out reached, entries in their grace period are served, not refreshed.
        c.put(b"d", entry(5 * SEC, 4));
        assert_eq!(c.in_flight(), 2); // b, c
        assert!(get(&c, b"d").await.unwrap().is_some());
        // Flights older than the in-flight TTL stop counting.
        tokio::time::advance(5 * SEC - Duration::from_millis(200)).await;
        assert!(get(&c, b"d").await.unwrap().is_some());
        assert_eq!(c.in_flight(), 2);
        tokio::time::advance(Duration::from_millis(200)).await;
        assert!(get(&c, b"e").await.unwrap().is_none(), "b and c forgotten");
    }

    #[tokio::test(start_paused = true)]
    async fn expired_entries_are_never_returned_and_usage_is_counted_on_hits() {
        let c = cache();
        c.put(b"a", entry(60 * SEC, 1));
        let e = c
            .get_cache_entry(b"a", Usage::Message { bytes: 10 })
            .await
            .unwrap()
            .unwrap();
        assert_eq!((e.messages_used(), e.bytes_used()), (2, 10));
        tokio::time::advance(61 * SEC).await;
        assert!(get(&c, b"a").await.unwrap().is_none());
        c.delete(b"a");
        assert_eq!(c.in_flight(), 0);
        assert!(c.is_empty());
    }

    #[test]
    fn outside_tokio_a_wait_is_an_error_not_a_panic() {
        let c = StormTrackingCache::new().build().unwrap();
        let r = futures::executor::block_on(async {
            assert!(get(&c, b"a").await.unwrap().is_none());
            get(&c, b"a").await
        });
        assert!(matches!(r, Err(Error::ApiMisuse(_))), "{r:?}");
    }
}
