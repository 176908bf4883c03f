//! The cache type option of the hierarchical keyring and the caching CMM, spelled as in the
//! Material Providers Library (`CacheType`, `DefaultCache`, `StormTrackingCache`).

use std::sync::Arc;
use std::time::Duration;

use crate::cache::{
    Clock, CryptographicMaterialsCache, LocalMaterialsCache, StormTrackingMaterialsCache,
    SystemClock,
};
use crate::error::{Error, Result};

/// The default entry capacity of a [`DefaultCache`] and a [`StormTrackingCache`] (the MPL's).
pub const DEFAULT_ENTRY_CAPACITY: usize = 1000;

/// Which cache a hierarchical keyring or a caching CMM uses (the MPL's `CacheType`). See the
/// [module documentation](crate::cache#which-cache) for how to choose.
///
/// Every type but `Shared` makes a cache for the one keyring or CMM it is given to. An
/// `Arc` of any cache converts into `Shared`, and the settings types into their variants, so
/// the builders that take `impl Into<CacheType>` accept all of them:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use esdk::cache::{CacheType, DefaultCache, LocalMaterialsCache, StormTrackingCache};
///
/// let lru: CacheType = DefaultCache::new(500).into();
/// let storm: CacheType = StormTrackingCache::new()
///     .grace_period(Duration::from_secs(30))
///     .into();
/// let shared: CacheType = Arc::new(LocalMaterialsCache::new(10_000)).into();
/// # let _ = (lru, storm, shared);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CacheType {
    /// No cache: every request reaches the key store or the underlying CMM.
    No,
    /// An LRU cache by entry capacity ([`LocalMaterialsCache`]). The MPL's `SingleThreaded`
    /// and `MultiThreaded` caches are this type too: it is thread-safe.
    ///
    /// The MPL itself backs its `Default` with its storm-tracking cache at the default
    /// settings (which also makes it refuse keyring TTLs of 10 s or less); for that behaviour
    /// here, choose `StormTracking` with [`StormTrackingCache::new`].
    Default(DefaultCache),
    /// A storm-tracking cache ([`StormTrackingMaterialsCache`]).
    StormTracking(StormTrackingCache),
    /// A cache made by the caller and shared with other keyrings or CMMs. Entries are kept
    /// apart by the consumers' partition IDs (and, for hierarchical keyrings, the logical key
    /// store name and the branch key ID): consumers that share all of them share entries.
    Shared(Arc<dyn CryptographicMaterialsCache>),
}

impl Default for CacheType {
    /// `Default` with [`DEFAULT_ENTRY_CAPACITY`] entries.
    fn default() -> Self {
        CacheType::Default(DefaultCache::default())
    }
}

impl From<DefaultCache> for CacheType {
    fn from(c: DefaultCache) -> Self {
        CacheType::Default(c)
    }
}

impl From<StormTrackingCache> for CacheType {
    fn from(c: StormTrackingCache) -> Self {
        CacheType::StormTracking(c)
    }
}

impl From<Arc<dyn CryptographicMaterialsCache>> for CacheType {
    fn from(c: Arc<dyn CryptographicMaterialsCache>) -> Self {
        CacheType::Shared(c)
    }
}

impl<C: CryptographicMaterialsCache + 'static> From<Arc<C>> for CacheType {
    fn from(c: Arc<C>) -> Self {
        CacheType::Shared(c)
    }
}

impl CacheType {
    /// Checks the settings and makes the cache (`None` for [`CacheType::No`]; the given cache
    /// for [`CacheType::Shared`]), reading the time from `clock`.
    ///
    /// # Errors
    /// [`Error::ApiMisuse`] for settings the MPL also refuses (see [`DefaultCache`] and
    /// [`StormTrackingCache`]).
    pub fn create(
        &self,
        clock: Arc<dyn Clock>,
    ) -> Result<Option<Arc<dyn CryptographicMaterialsCache>>> {
        Ok(match self {
            CacheType::No => None,
            CacheType::Default(c) => Some(Arc::new(c.build_with_clock(clock)?)),
            CacheType::StormTracking(c) => Some(Arc::new(c.build_with_clock(clock)?)),
            CacheType::Shared(c) => Some(c.clone()),
        })
    }

    /// The grace period of a `StormTracking` type (`None` for the others), which must be
    /// shorter than the consumer's TTL.
    pub(crate) fn grace_period(&self) -> Option<Duration> {
        match self {
            CacheType::StormTracking(c) => Some(c.grace_period),
            _ => None,
        }
    }
}

/// Settings of an LRU cache by entry capacity (the MPL's `DefaultCache`, and also its
/// `SingleThreadedCache` and `MultiThreadedCache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "cache settings do nothing until a cache is made from them"]
pub struct DefaultCache {
    /// The most entries held (at least 1; default [`DEFAULT_ENTRY_CAPACITY`]).
    pub entry_capacity: usize,
    /// How many least-recently-used entries each operation checks for expiry (at least 1;
    /// default 1).
    pub entry_pruning_tail_size: usize,
}

impl Default for DefaultCache {
    fn default() -> Self {
        Self::new(DEFAULT_ENTRY_CAPACITY)
    }
}

impl DefaultCache {
    /// An LRU cache of `entry_capacity` entries.
    pub fn new(entry_capacity: usize) -> Self {
        Self {
            entry_capacity,
            entry_pruning_tail_size: crate::cache::local::DEFAULT_PRUNING_TAIL_SIZE,
        }
    }

    /// Sets [`entry_pruning_tail_size`](Self::entry_pruning_tail_size).
    pub fn entry_pruning_tail_size(mut self, n: usize) -> Self {
        self.entry_pruning_tail_size = n;
        self
    }

    /// The cache, on the system clock.
    ///
    /// # Errors
    /// [`Error::ApiMisuse`] for a zero capacity or pruning tail size.
    pub fn build(&self) -> Result<LocalMaterialsCache> {
        self.build_with_clock(Arc::new(SystemClock))
    }

    /// The cache, reading the time from `clock`.
    ///
    /// # Errors
    /// As [`build`](Self::build).
    pub fn build_with_clock(&self, clock: Arc<dyn Clock>) -> Result<LocalMaterialsCache> {
        at_least_one("entry_capacity", self.entry_capacity)?;
        at_least_one("entry_pruning_tail_size", self.entry_pruning_tail_size)?;
        Ok(LocalMaterialsCache::with_clock(self.entry_capacity, clock)
            .pruning_tail_size(self.entry_pruning_tail_size))
    }
}

/// Settings of a storm-tracking cache (the MPL's `StormTrackingCache`); see
/// [`StormTrackingMaterialsCache`] for what each does.
///
/// The defaults are the MPL's (its `DefaultStorm`): 1000 entries, pruning tail 1, grace period
/// 10 s, grace interval 1 s, fan-out 20, in-flight TTL 10 s, sleep 20 ms. (The specification
/// text suggests an in-flight TTL of 20 s, which its own consistency rule, in-flight TTL ≤
/// grace period, would refuse next to a 10 s grace period.) The MPL's `timeUnits` has no
/// counterpart: the periods are [`Duration`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "cache settings do nothing until a cache is made from them"]
pub struct StormTrackingCache {
    /// The most entries held (at least 1).
    pub entry_capacity: usize,
    /// How many least-recently-used entries each operation checks for expiry (at least 1).
    pub entry_pruning_tail_size: usize,
    /// How long before its expiry an entry starts being refreshed. Must be shorter than the
    /// TTL of the keyrings and CMMs using the cache.
    pub grace_period: Duration,
    /// How long a refresh (or a first fetch) is waited for before another caller is sent to
    /// fetch.
    pub grace_interval: Duration,
    /// The most identifiers with a fetch in flight at once.
    pub fan_out: usize,
    /// How long a caller waits for another caller's fetch before failing; also how long a
    /// fetch counts against the fan-out.
    pub in_flight_ttl: Duration,
    /// How often a waiting caller looks at the cache again when nothing woke it (it is also
    /// woken as soon as any entry is put or deleted).
    pub sleep: Duration,
}

impl Default for StormTrackingCache {
    fn default() -> Self {
        Self {
            entry_capacity: DEFAULT_ENTRY_CAPACITY,
            entry_pruning_tail_size: crate::cache::local::DEFAULT_PRUNING_TAIL_SIZE,
            grace_period: Duration::from_secs(10),
            grace_interval: Duration::from_secs(1),
            fan_out: 20,
            in_flight_ttl: Duration::from_secs(10),
            sleep: Duration::from_millis(20),
        }
    }
}

impl StormTrackingCache {
    /// The MPL's default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`entry_capacity`](Self::entry_capacity).
    pub fn entry_capacity(mut self, n: usize) -> Self {
        self.entry_capacity = n;
        self
    }

    /// Sets [`entry_pruning_tail_size`](Self::entry_pruning_tail_size).
    pub fn entry_pruning_tail_size(mut self, n: usize) -> Self {
        self.entry_pruning_tail_size = n;
        self
    }

    /// Sets [`grace_period`](Self::grace_period).
    pub fn grace_period(mut self, d: Duration) -> Self {
        self.grace_period = d;
        self
    }

    /// Sets [`grace_interval`](Self::grace_interval).
    pub fn grace_interval(mut self, d: Duration) -> Self {
        self.grace_interval = d;
        self
    }

    /// Sets [`fan_out`](Self::fan_out).
    pub fn fan_out(mut self, n: usize) -> Self {
        self.fan_out = n;
        self
    }

    /// Sets [`in_flight_ttl`](Self::in_flight_ttl).
    pub fn in_flight_ttl(mut self, d: Duration) -> Self {
        self.in_flight_ttl = d;
        self
    }

    /// Sets [`sleep`](Self::sleep).
    pub fn sleep(mut self, d: Duration) -> Self {
        self.sleep = d;
        self
    }

    /// Checks the settings as the specification and the MPL do: every count at least 1, every
    /// period above zero, and grace interval ≤ in-flight TTL ≤ grace period.
    ///
    /// # Errors
    /// [`Error::ApiMisuse`] naming the first setting at fault.
    pub fn validate(&self) -> Result<()> {
        at_least_one("entry_capacity", self.entry_capacity)?;
        at_least_one("entry_pruning_tail_size", self.entry_pruning_tail_size)?;
        at_least_one("fan_out", self.fan_out)?;
        for (name, d) in [
            ("grace_period", self.grace_period),
            ("grace_interval", self.grace_interval),
            ("in_flight_ttl", self.in_flight_ttl),
            ("sleep", self.sleep),
        ] {
            if d.is_zero() {
                return Err(Error::misuse(format!(
                    "the storm-tracking cache's {name} must be above zero"
                )));
            }
        }
        if self.grace_interval > self.grace_period {
            return Err(Error::misuse(format!(
                "the storm-tracking cache's grace_interval ({:?}) must not exceed its \
                 grace_period ({:?})",
                self.grace_interval, self.grace_period
            )));
        }
        if self.in_flight_ttl > self.grace_period {
            return Err(Error::misuse(format!(
                "the storm-tracking cache's in_flight_ttl ({:?}) must not exceed its \
                 grace_period ({:?})",
                self.in_flight_ttl, self.grace_period
            )));
        }
        if self.grace_interval > self.in_flight_ttl {
            return Err(Error::misuse(format!(
                "the storm-tracking cache's grace_interval ({:?}) must not exceed its \
                 in_flight_ttl ({:?})",
                self.grace_interval, self.in_flight_ttl
            )));
        }
        Ok(())
    }

    /// The cache, on the system clock.
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn build(&self) -> Result<StormTrackingMaterialsCache> {
        self.build_with_clock(Arc::new(SystemClock))
    }

    /// The cache, reading the time from `clock` (its waits sleep on Tokio's timer, so give it
    /// [`SystemClock`] or, under a paused Tokio clock, [`TokioClock`](crate::cache::TokioClock)).
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn build_with_clock(&self, clock: Arc<dyn Clock>) -> Result<StormTrackingMaterialsCache> {
        self.validate()?;
        Ok(StormTrackingMaterialsCache::from_settings(*self, clock))
    }
}

fn at_least_one(name: &str, n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::misuse(format!(
            "the cache's {name} must be at least 1"
        )));
    }
    Ok(())
}

/// Checks a consumer's TTL against a storm-tracking cache type's grace period (the
/// hierarchical keyring spec: the grace period MUST be less than the TTL).
pub(crate) fn check_ttl(cache: &CacheType, ttl: Duration) -> std::result::Result<(), String> {
    match cache.grace_period() {
        Some(grace) if grace >= ttl => Err(format!(
            "the storm-tracking cache's grace period ({grace:?}) must be shorter than the TTL \
             ({ttl:?}), or every entry would always be due for a refresh"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_mpls() {
        let s = StormTrackingCache::new();
        assert_eq!(
            (
                s.entry_capacity,
                s.entry_pruning_tail_size,
                s.grace_period,
                s.grace_interval,
                s.fan_out,
                s.in_flight_ttl,
                s.sleep
            ),
            (
                1000,
                1,
                Duration::from_secs(10),
                Duration::from_secs(1),
                20,
                Duration::from_secs(10),
                Duration::from_millis(20)
            )
        );
        s.validate().unwrap();
        assert_eq!(DefaultCache::default().entry_capacity, 1000);
        assert!(matches!(
            CacheType::default(),
            CacheType::Default(DefaultCache {
                entry_capacity: 1000,
                entry_pruning_tail_size: 1
            })
        ));
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        let s = StormTrackingCache::new;
        let secs = Duration::from_secs;
        for (bad, what) in [
            (s().entry_capacity(0), "entry_capacity"),
            (s().entry_pruning_tail_size(0), "entry_pruning_tail_size"),
            (s().fan_out(0), "fan_out"),
            (s().sleep(Duration::ZERO), "sleep"),
            (s().grace_period(Duration::ZERO), "grace_period"),
            (s().grace_interval(secs(11)), "grace_interval"),
            (s().in_flight_ttl(secs(11)), "in_flight_ttl"),
            (
                s().grace_interval(secs(5)).in_flight_ttl(secs(4)),
                "grace_interval",
            ),
        ] {
            match bad.build() {
                Err(Error::ApiMisuse(m)) => assert!(m.contains(what), "{m}"),
                other => panic!("{what}: {other:?}"),
            }
        }
        assert!(DefaultCache::new(0).build().is_err());
        assert!(
            DefaultCache::new(1)
                .entry_pruning_tail_size(0)
                .build()
                .is_err()
        );
        assert!(check_ttl(&s().into(), secs(10)).is_err());
        assert!(check_ttl(&s().into(), secs(11)).is_ok());
        assert!(check_ttl(&DefaultCache::new(1).into(), secs(1)).is_ok());
    }

    #[test]
    fn each_type_makes_its_cache() {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        assert!(CacheType::No.create(clock.clone()).unwrap().is_none());
        let lru = CacheType::default().create(clock.clone()).unwrap().unwrap();
        assert!(!lru.coordinates_fetches());
        let storm = CacheType::from(StormTrackingCache::new())
            .create(clock.clone())
            .unwrap()
            .unwrap();
        assert!(storm.coordinates_fetches());
        let mine: Arc<dyn CryptographicMaterialsCache> = Arc::new(LocalMaterialsCache::new(3));
        let shared = CacheType::from(mine.clone())
            .create(clock)
            .unwrap()
            .unwrap();
        assert!(Arc::ptr_eq(&shared, &mine));
    }
}
