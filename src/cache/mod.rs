//! Cryptographic materials caches (`framework/cryptographic-materials-cache.md`): where a
//! [`CachingCmm`](crate::CachingCmm) keeps materials for reuse.
//!
//! A cache maps an opaque identifier (bytes; the caching CMM derives it from the request) to a
//! [`CacheEntry`]: the materials, when they were made, when they expire, and how much they have
//! been used. [`CryptographicMaterialsCache`] is the interface; [`LocalMaterialsCache`] is the
//! in-memory LRU implementation (`framework/local-cryptographic-materials-cache.md`).
//!
//! Time comes from a [`Clock`], so tests (and callers) can drive expiry without waiting:
//! [`SystemClock`] reads the monotonic clock, [`ManualClock`] moves only when told to, and
//! [`TokioClock`] follows Tokio's clock (which tests can pause and advance).
//!
//! # Which cache
//!
//! The hierarchical keyring and the caching CMM take a [`CacheType`], spelled as in the
//! Material Providers Library (MPL):
//!
//! | [`CacheType`] | what it is |
//! |---|---|
//! | `No` | no cache: every request reaches the key store or the underlying CMM |
//! | `Default` ([`DefaultCache`]) | a [`LocalMaterialsCache`]: LRU by entry capacity; the consumer (keyring or CMM) lets one caller fetch a missing entry while the others wait for it |
//! | `StormTracking` ([`StormTrackingCache`]) | a [`StormTrackingMaterialsCache`]: an LRU that starts refreshing an entry a grace period before it expires, while the other callers keep using it (`framework/storm-tracking-cryptographic-materials-cache.md`) |
//! | `Shared` | a cache made once (any of the above, or your own) and handed to several keyrings and CMMs, whose partition IDs keep their entries apart |
//!
//! The MPL's `SingleThreaded` and `MultiThreaded` caches are both `Default` here: every cache
//! in this module is thread-safe, and an uncontended `std::sync::Mutex` costs the
//! single-threaded case next to nothing. The [manual](crate::manual#which-cache) compares the
//! types under a storm of requests.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use crate::error::Result;
use crate::materials::{DecryptionMaterials, EncryptionMaterials};

pub mod local;
pub mod storm;
pub(crate) mod types;

pub use local::LocalMaterialsCache;
pub use storm::StormTrackingMaterialsCache;
pub use types::{CacheType, DEFAULT_ENTRY_CAPACITY, DefaultCache, StormTrackingCache};

/// A source of the current time for cache expiry.
///
/// [`Instant`]s are monotonic, so a wall-clock change can never make an entry live longer.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Instant;
}

/// The system's monotonic clock ([`Instant::now`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that stands still until [`advance`](ManualClock::advance) moves it: for tests of
/// expiry that must not sleep.
///
/// ```
/// use std::time::Duration;
/// use esdk::cache::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let t0 = clock.now();
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now() - t0, Duration::from_secs(90));
/// ```
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    offset_nanos: AtomicU64,
}

impl ManualClock {
    /// A clock reading the moment it was made, until advanced.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            offset_nanos: AtomicU64::new(0),
        }
    }

    /// Moves the clock forward by `by` (saturating at about 584 years).
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .offset_nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(nanos))
            });
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + Duration::from_nanos(self.offset_nanos.load(Ordering::SeqCst))
    }
}

/// Tokio's clock ([`tokio::time::Instant::now`]): the system's monotonic clock, except in a
/// runtime whose time is paused (`#[tokio::test(start_paused = true)]`), where it moves only
/// as Tokio advances it. Give it to a [`StormTrackingMaterialsCache`] that should wait on
/// Tokio's paused time in tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

/// The materials a cache entry holds.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CachedMaterials {
    /// Materials to encrypt messages (a data key, its encrypted copies, maybe a signing key).
    Encryption(EncryptionMaterials),
    /// Materials to decrypt messages (a data key, maybe a verification key).
    Decryption(DecryptionMaterials),
    /// A branch key version, as the hierarchical keyring's branch key cache keeps it.
    BranchKey(crate::materials::BranchKeyMaterials),
}

/// One cache entry: materials, their lifetime, and their usage so far.
///
/// Usage counts what the entry's *encryption* materials have protected: the number of messages
/// and of plaintext bytes. Decryption lookups do not count.
#[derive(Debug, Clone)]
pub struct CacheEntry {
    materials: CachedMaterials,
    creation_time: Instant,
    expiry_time: Instant,
    messages_used: u64,
    bytes_used: u64,
}

impl CacheEntry {
    /// An entry made at `creation_time` that no cache returns after `expiry_time`, with the
    /// given usage (a caching CMM stores new encryption materials with one message and that
    /// message's length).
    pub fn new(
        materials: CachedMaterials,
        creation_time: Instant,
        expiry_time: Instant,
        messages_used: u64,
        bytes_used: u64,
    ) -> Self {
        Self {
            materials,
            creation_time,
            expiry_time,
            messages_used,
            bytes_used,
        }
    }

    /// The materials.
    pub fn materials(&self) -> &CachedMaterials {
        &self.materials
    }

    /// Takes the materials out of the entry.
    pub fn into_materials(self) -> CachedMaterials {
        self.materials
    }

    /// When the entry was made.
    pub fn creation_time(&self) -> Instant {
        self.creation_time
    }

    /// The last moment at which a cache may return the entry.
    pub fn expiry_time(&self) -> Instant {
        self.expiry_time
    }

    /// Messages encrypted with the entry's materials, the lookup that returned it included.
    pub fn messages_used(&self) -> u64 {
        self.messages_used
    }

    /// Plaintext bytes encrypted with the entry's materials, the lookup that returned it
    /// included.
    pub fn bytes_used(&self) -> u64 {
        self.bytes_used
    }

    /// True once `now` is past the expiry time.
    pub fn is_expired(&self, now: Instant) -> bool {
        now > self.expiry_time
    }

    /// Counts one more message of `bytes` plaintext bytes (saturating).
    pub fn record_use(&mut self, bytes: u64) {
        self.messages_used = self.messages_used.saturating_add(1);
        self.bytes_used = self.bytes_used.saturating_add(bytes);
    }
}

/// What a lookup counts against the entry it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Usage {
    /// Nothing (decryption lookups).
    None,
    /// One message of this many plaintext bytes (encryption lookups).
    Message {
        /// The message's plaintext length.
        bytes: u64,
    },
}

/// Stores materials under opaque identifiers (`framework/cryptographic-materials-cache.md`).
///
/// Implementations must be safe to share between tasks. The futures are boxed so the trait is
/// object-safe (`Arc<dyn CryptographicMaterialsCache>`) and so that a cache kept in another
/// process could be reached asynchronously; the local cache's futures are ready at once.
///
/// * `get_cache_entry` never returns an entry past its expiry time. When it finds one, it
///   first applies `usage` to the stored entry (atomically with the lookup), then returns a copy
///   with the updated usage.
/// * `put_cache_entry` replaces any entry under the same identifier.
/// * `delete_cache_entry` of a missing identifier succeeds.
pub trait CryptographicMaterialsCache: Send + Sync + fmt::Debug {
    /// The live entry for `identifier`, after counting `usage` against it; `None` on a miss.
    fn get_cache_entry<'a>(
        &'a self,
        identifier: &'a [u8],
        usage: Usage,
    ) -> BoxFuture<'a, Result<Option<CacheEntry>>>;

    /// Stores `entry` under `identifier`, replacing any entry there.
    fn put_cache_entry<'a>(
        &'a self,
        identifier: &'a [u8],
        entry: CacheEntry,
    ) -> BoxFuture<'a, Result<()>>;

    /// Removes the entry for `identifier`, if any.
    fn delete_cache_entry<'a>(&'a self, identifier: &'a [u8]) -> BoxFuture<'a, Result<()>>;

    /// True when the cache itself coordinates the callers of a missing or expiring entry, as
    /// the storm-tracking cache does: a miss (`Ok(None)`) is then an instruction to fetch the
    /// materials and put them, the other callers being served the old entry or made to wait
    /// inside `get_cache_entry`. Its errors (such as an exceeded in-flight TTL) are then to be
    /// returned to the caller rather than taken for a miss.
    ///
    /// When false (the default), a consumer lets one caller fetch a missing entry while the
    /// others wait for it (single flight), and takes a failing cache for a miss.
    fn coordinates_fetches(&self) -> bool {
        false
    }
}
