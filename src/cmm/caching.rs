//! The caching CMM (`framework/caching-cmm.md`): reuses materials from a
//! [`CryptographicMaterialsCache`] so that a key service is called once per data key rather
//! than once per message.
//!
//! ```text
//! get_encryption_materials(request)
//!   bypass ─► underlying (request unchanged), nothing stored, when:
//!             the requested suite has an identity KDF (0x00xx), or
//!             the plaintext length is unknown, or it is above limit_bytes
//!   id = entry identifier (below)
//!   cache.get(id, one message of `length` bytes) ─ hit within limits ─► materials
//!   miss ─► single flight for `id`: wait for any fetch already running, look again,
//!           else underlying(request, max_plaintext_length = limit_bytes)
//!           ─► cache.put(id, messages 1, bytes `length`) unless the suite has an identity KDF
//!
//! decrypt_materials(request)
//!   identity-KDF suite ─► underlying, nothing stored
//!   reproduced pairs that contradict the header ─► error
//!   cache.get(id) ─ hit younger than the TTL ─► materials
//!   miss ─► single flight ─► underlying ─► cache.put(id)
//! ```
//!
//! **Unknown lengths.** The one-shot [`Client::encrypt`](crate::Client::encrypt) always knows
//! the plaintext length. A streaming encryption must set
//! [`EncryptOptions::max_plaintext_length`](crate::EncryptOptions::max_plaintext_length) to benefit:
//! without a length the request bypasses the cache (as the Material Providers Library and the
//! Python ESDK do), since a data key could not be charged for what it encrypts.
//!
//! **Limits.** An encryption entry is reused only while its age is at most the TTL, the
//! messages it has encrypted (the current one included) are at most `limit_messages` and the
//! bytes at most `limit_bytes`; otherwise the next fetch replaces it. Decryption entries are
//! reused until the TTL, whatever their use.
//!
//! **Single flight.** Concurrent misses for one entry cause one call to the underlying CMM:
//! the first caller fetches while the others wait on a per-entry `tokio::sync::Mutex`, then
//! find the new entry (counting their own use of it). If the fetch fails, the callers that were
//! waiting for it get the same error instead of trying again one after another. If the
//! fetching task is cancelled, the next waiter fetches.
//!
//! **Cache types.** The cache is chosen with a [`CacheType`]: an `Arc` of a cache (shared with
//! other CMMs or hierarchical keyrings), or settings from which the CMM makes its own. With
//! [`CacheType::No`] every request goes to the underlying CMM. A storm-tracking cache
//! coordinates its callers itself ([`CryptographicMaterialsCache::coordinates_fetches`]): a
//! miss from it is fetched at once, without the single flight above, and its errors (an
//! exceeded in-flight TTL) are returned; an entry found past this CMM's limits still goes
//! through the single flight.
//!
//! # Cache entry identifiers
//!
//! The implementations (the Python ESDK, the Material Providers Library's `CachingCMM.dfy`) and
//! the specification's v0.3 use SHA-512 formulas; the specification's v0.4 changed to SHA-384
//! with null-byte separators, which no ESDK we interoperate with uses. Identifiers never leave
//! the process, so only consistency matters: this crate uses the **implementations' SHA-512
//! formulas**, byte for byte (a test checks them against the Python ESDK's own functions).
//! Their 64-byte identifiers also cannot collide with the 48-byte SHA-384 identifiers that
//! hierarchical keyrings put in a shared cache. With `P = SHA512(UTF-8 partition ID)` and
//! `E = SHA512(serialized encryption context)`:
//!
//! ```text
//! encrypt, no suite requested:  SHA512(P ‖ 0x00 ‖ E)
//! encrypt, suite requested:     SHA512(P ‖ 0x01 ‖ suite ID (2) ‖ E)
//! decrypt:                      SHA512(P ‖ suite ID (2) ‖ sorted(SHA512(serialized EDK))… ‖ 0x00 × 64 ‖ E)
//! ```
//!
//! The formulas predate required encryption context keys, which change the materials. So that
//! a cached entry is only ever returned for a request that would have produced it, two inputs
//! the formulas omit are appended **only when present** (requests without them get exactly the
//! formulas above):
//!
//! * encrypt with required keys: `‖ 0x02 ‖ SHA512(for each sorted key: u64be(len) ‖ key)`;
//! * decrypt with reproduced pairs that the header does not store:
//!   `‖ 0x03 ‖ SHA512(serialize(those pairs))`.
//!
//! Without the second rule, a decryption that had supplied the required pairs would let a later
//! one that does not decrypt from the cache.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;

use crate::cache::{
    CacheEntry, CacheType, CachedMaterials, Clock, CryptographicMaterialsCache, SystemClock, Usage,
};
use crate::cmm::{
    CryptographicMaterialsManager, DecryptMaterialsRequest, DefaultCmm, EncryptionMaterialsRequest,
};
use crate::crypto::{CryptoProvider, HashAlgorithm, default_provider};
use crate::error::{Error, PolicyError, Result};
use crate::format::context::EncryptionContext;
use crate::keyring::Keyring;
use crate::materials::{DecryptionMaterials, EncryptionMaterials};
use crate::suite::{AlgorithmSuite, Kdf};

/// The default most plaintext bytes one cached data key may encrypt: 2^63 − 1.
pub const DEFAULT_LIMIT_BYTES: u64 = i64::MAX as u64;
/// The default most messages one cached data key may encrypt: 2^32.
pub const DEFAULT_LIMIT_MESSAGES: u64 = 1 << 32;
/// The largest `limit_messages` accepted (2^32, as the Python ESDK allows).
pub const MAX_LIMIT_MESSAGES: u64 = 1 << 32;

/// A CMM that caches the materials of another CMM. See the [module docs](self).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> esdk::Result<()> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use esdk::{CachingCmm, Client, LocalMaterialsCache, MaterialsSource, RawAesKeyring};
///
/// let keyring = Arc::new(RawAesKeyring::new("my-app", "key-1", &[0x42; 32])?);
/// let cache = Arc::new(LocalMaterialsCache::new(100));
/// let cmm = CachingCmm::builder_with_keyring(keyring, cache, Duration::from_secs(300))
///     .limit_messages(1000)
///     .build()?;
/// let source = MaterialsSource::from(cmm);
/// let client = Client::new();
/// for _ in 0..10 {
///     // One keyring call for all ten messages.
///     client.encrypt(&source, b"data").await?;
/// }
/// # Ok(()) }
/// ```
pub struct CachingCmm {
    underlying: Arc<dyn CryptographicMaterialsManager>,
    /// `None` for [`CacheType::No`].
    cache: Option<Arc<dyn CryptographicMaterialsCache>>,
    partition_id: String,
    partition_hash: Vec<u8>,
    ttl: Duration,
    limit_bytes: u64,
    limit_messages: u64,
    clock: Arc<dyn Clock>,
    provider: CryptoProvider,
    flights: Mutex<HashMap<Vec<u8>, Arc<Flight>>>,
}

impl fmt::Debug for CachingCmm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingCmm")
            .field("underlying", &self.underlying)
            .field("cache", &self.cache)
            .field("partition_id", &self.partition_id)
            .field("ttl", &self.ttl)
            .field("limit_bytes", &self.limit_bytes)
            .field("limit_messages", &self.limit_messages)
            .finish_non_exhaustive()
    }
}

enum Underlying {
    Cmm(Arc<dyn CryptographicMaterialsManager>),
    Keyring(Arc<dyn Keyring>),
}

/// Builds a [`CachingCmm`]; see [`CachingCmm::builder`].
#[must_use = "a builder does nothing until built"]
pub struct CachingCmmBuilder {
    underlying: Underlying,
    cache: CacheType,
    ttl: Duration,
    partition_id: Option<String>,
    limit_bytes: u64,
    limit_messages: u64,
    clock: Arc<dyn Clock>,
    provider: CryptoProvider,
}

impl fmt::Debug for CachingCmmBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingCmmBuilder")
            .field("cache", &self.cache)
            .field("ttl", &self.ttl)
            .field("partition_id", &self.partition_id)
            .field("limit_bytes", &self.limit_bytes)
            .field("limit_messages", &self.limit_messages)
            .finish_non_exhaustive()
    }
}

impl CachingCmmBuilder {
    /// The partition ID. Caching CMMs that share a cache share entries only when their
    /// partition IDs are equal. Default: a random UUID (version 4) string, unique to this CMM.
    pub fn partition_id(mut self, partition_id: impl Into<String>) -> Self {
        self.partition_id = Some(partition_id.into());
        self
    }

    /// The most plaintext bytes one data key may encrypt (default 2^63 − 1).
    pub fn limit_bytes(mut self, limit: u64) -> Self {
        self.limit_bytes = limit;
        self
    }

    /// The most messages one data key may encrypt: 1 to 2^32 (default 2^32).
    pub fn limit_messages(mut self, limit: u64) -> Self {
        self.limit_messages = limit;
        self
    }

    /// The clock for entry ages (default [`SystemClock`]); also the clock of the cache made
    /// when the cache type is not `Shared` (give a shared cache the same clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The crypto provider, for the identifier hashes, the random partition ID and the default
    /// CMM put around a keyring (default: [`default_provider`]).
    pub fn crypto_provider(mut self, provider: &CryptoProvider) -> Self {
        self.provider = *provider;
        self
    }

    /// The caching CMM.
    ///
    /// # Errors
    /// [`Error::ApiMisuse`] for a zero TTL, `limit_messages` outside 1 to 2^32, cache
    /// settings the MPL refuses, or a storm-tracking grace period not shorter than the TTL; a
    /// random source failure when making the default partition ID.
    pub fn build(self) -> Result<CachingCmm> {
        if self.ttl.is_zero() {
            return Err(Error::misuse(
                "the caching CMM's TTL must be greater than zero",
            ));
        }
        crate::cache::types::check_ttl(&self.cache, self.ttl).map_err(Error::misuse)?;
        let cache = self.cache.create(self.clock.clone())?;
        if !(1..=MAX_LIMIT_MESSAGES).contains(&self.limit_messages) {
            return Err(Error::misuse(format!(
                "the caching CMM's message limit must be between 1 and 2^32, not {}",
                self.limit_messages
            )));
        }
        let partition_id = match self.partition_id {
            Some(p) => p,
            None => random_uuid(&self.provider)?,
        };
        let partition_hash = self
            .provider
            .hash
            .digest(HashAlgorithm::Sha512, &[partition_id.as_bytes()]);
        let underlying = match self.underlying {
            Underlying::Cmm(cmm) => cmm,
            Underlying::Keyring(keyring) => {
                Arc::new(DefaultCmm::new(keyring).crypto_provider(&self.provider))
            }
        };
        Ok(CachingCmm {
            underlying,
            cache,
            partition_id,
            partition_hash,
            ttl: self.ttl,
            limit_bytes: self.limit_bytes,
            limit_messages: self.limit_messages,
            clock: self.clock,
            provider: self.provider,
            flights: Mutex::new(HashMap::new()),
        })
    }
}

/// A random UUID version 4 in its usual text form.
fn random_uuid(provider: &CryptoProvider) -> Result<String> {
    let mut b = [0u8; 16];
    provider.random.fill(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

impl CachingCmm {
    /// A builder for a caching CMM over `underlying`, storing entries for at most `ttl` in
    /// `cache`: an `Arc` of a cache (possibly shared), or a [`CacheType`] from which the CMM
    /// makes its own.
    pub fn builder(
        underlying: Arc<dyn CryptographicMaterialsManager>,
        cache: impl Into<CacheType>,
        ttl: Duration,
    ) -> CachingCmmBuilder {
        Self::builder_from(Underlying::Cmm(underlying), cache.into(), ttl)
    }

    /// A builder for a caching CMM over a [`DefaultCmm`] around `keyring`.
    pub fn builder_with_keyring(
        keyring: Arc<dyn Keyring>,
        cache: impl Into<CacheType>,
        ttl: Duration,
    ) -> CachingCmmBuilder {
        Self::builder_from(Underlying::Keyring(keyring), cache.into(), ttl)
    }

    fn builder_from(underlying: Underlying, cache: CacheType, ttl: Duration) -> CachingCmmBuilder {
        CachingCmmBuilder {
            underlying,
            cache,
            ttl,
            partition_id: None,
            limit_bytes: DEFAULT_LIMIT_BYTES,
            limit_messages: DEFAULT_LIMIT_MESSAGES,
            clock: Arc::new(SystemClock),
            provider: *default_provider(),
        }
    }

    /// The partition ID.
    pub fn partition_id(&self) -> &str {
        &self.partition_id
    }

    /// The longest an entry is reused.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The most plaintext bytes one data key may encrypt.
    pub fn limit_bytes(&self) -> u64 {
        self.limit_bytes
    }

    /// The most messages one data key may encrypt.
    pub fn limit_messages(&self) -> u64 {
        self.limit_messages
    }

    fn sha512(&self, parts: &[&[u8]]) -> Vec<u8> {
        self.provider.hash.digest(HashAlgorithm::Sha512, parts)
    }

    /// The cache entry identifier of an encryption request (module docs).
    pub(crate) fn encryption_entry_id(
        &self,
        request: &EncryptionMaterialsRequest,
    ) -> Result<Vec<u8>> {
        let ec_hash = self.sha512(&[&request.encryption_context.serialize()?]);
        let suite_info: Vec<u8> = match request.algorithm_suite {
            None => vec![0x00],
            Some(s) => {
                let mut v = vec![0x01];
                v.extend_from_slice(&s.id().to_be_bytes());
                v
            }
        };
        let mut extension = Vec::new();
        let mut required = request.required_encryption_context_keys.clone();
        if !required.is_empty() {
            required.sort();
            required.dedup();
            let mut keys = Vec::new();
            for k in &required {
                keys.extend_from_slice(&(k.len() as u64).to_be_bytes());
                keys.extend_from_slice(k.as_bytes());
            }
            extension.push(0x02);
            extension.extend_from_slice(&self.sha512(&[&keys]));
        }
        Ok(self.sha512(&[&self.partition_hash, &suite_info, &ec_hash, &extension]))
    }

    /// The cache entry identifier of a decryption request (module docs).
    pub(crate) fn decryption_entry_id(&self, request: &DecryptMaterialsRequest) -> Result<Vec<u8>> {
        let mut edk_hashes = Vec::with_capacity(request.encrypted_data_keys.len());
        let mut buf = Vec::new();
        for edk in &request.encrypted_data_keys {
            buf.clear();
            edk.encode(&mut buf)?;
            edk_hashes.push(self.sha512(&[&buf]));
        }
        edk_hashes.sort();
        let ec_hash = self.sha512(&[&request.encryption_context.serialize()?]);
        let mut extension = Vec::new();
        let extra = reproduced_only(request);
        if !extra.is_empty() {
            extension.push(0x03);
            extension.extend_from_slice(&self.sha512(&[&extra.serialize()?]));
        }
        let suite = request.algorithm_suite.id().to_be_bytes();
        let mut parts: Vec<&[u8]> = Vec::with_capacity(edk_hashes.len() + 5);
        parts.push(&self.partition_hash);
        parts.push(&suite);
        parts.extend(edk_hashes.iter().map(Vec::as_slice));
        parts.push(&[0u8; 64]);
        parts.push(&ec_hash);
        parts.push(&extension);
        Ok(self.sha512(&parts))
    }

    /// Whether `entry` is no older than this CMM's TTL (the cache may keep it longer, when
    /// another CMM with a longer TTL stored it).
    fn young_enough(&self, entry: &CacheEntry) -> bool {
        self.clock
            .now()
            .saturating_duration_since(entry.creation_time())
            <= self.ttl
    }

    /// Looks `id` up, counting `usage`. A failing cache is a miss (caching is an
    /// optimisation), except a coordinating one, whose errors are the caller's.
    async fn find(
        cache: &Arc<dyn CryptographicMaterialsCache>,
        id: &[u8],
        usage: Usage,
    ) -> Result<Option<CacheEntry>> {
        match cache.get_cache_entry(id, usage).await {
            Ok(found) => Ok(found),
            Err(e) if cache.coordinates_fetches() => Err(e),
            Err(_) => Ok(None),
        }
    }

    /// A cached entry for an encryption request, after counting this message against it;
    /// [`Found::Unusable`] when it is past a limit or does not suit the request.
    async fn lookup_encryption(
        &self,
        cache: &Arc<dyn CryptographicMaterialsCache>,
        id: &[u8],
        length: u64,
        request: &EncryptionMaterialsRequest,
    ) -> Result<Found<EncryptionMaterials>> {
        let Some(entry) = Self::find(cache, id, Usage::Message { bytes: length }).await? else {
            return Ok(Found::Miss);
        };
        let within_limits = self.young_enough(&entry)
            && entry.bytes_used() <= self.limit_bytes
            && entry.messages_used() <= self.limit_messages;
        Ok(match entry.into_materials() {
            CachedMaterials::Encryption(m) if within_limits && suits(&m, request) => Found::Hit(m),
            _ => Found::Unusable,
        })
    }

    async fn lookup_decryption(
        &self,
        cache: &Arc<dyn CryptographicMaterialsCache>,
        id: &[u8],
        request: &DecryptMaterialsRequest,
    ) -> Result<Found<DecryptionMaterials>> {
        let Some(entry) = Self::find(cache, id, Usage::None).await? else {
            return Ok(Found::Miss);
        };
        let young = self.young_enough(&entry);
        Ok(match entry.into_materials() {
            CachedMaterials::Decryption(m)
                if young && m.algorithm_suite() == request.algorithm_suite =>
            {
                Found::Hit(m)
            }
            _ => Found::Unusable,
        })
    }

    async fn store(
        &self,
        cache: &Arc<dyn CryptographicMaterialsCache>,
        id: &[u8],
        materials: CachedMaterials,
        length: u64,
    ) {
        let now = self.clock.now();
        let Some(expiry) = now.checked_add(self.ttl) else {
            return;
        };
        let entry = CacheEntry::new(materials, now, expiry, 1, length);
        // A cache that cannot store only costs a later miss.
        let _ = cache.put_cache_entry(id, entry).await;
    }

    /// Asks the underlying CMM for encryption materials and caches them.
    async fn fetch_encryption(
        &self,
        cache: &Arc<dyn CryptographicMaterialsCache>,
        id: &[u8],
        length: u64,
        request: &EncryptionMaterialsRequest,
    ) -> Result<EncryptionMaterials> {
        // The underlying CMM is told how much plaintext these materials may protect.
        let mut inner = request.clone();
        inner.max_plaintext_length = Some(self.limit_bytes);
        let result = self.underlying.get_encryption_materials(inner).await;
        if let Ok(m) = &result
            && !has_identity_kdf(m.algorithm_suite())
            && suits(m, request)
        {
            self.store(cache, id, CachedMaterials::Encryption(m.clone()), length)
                .await;
        }
        result
    }

    /// Asks the underlying CMM for decryption materials and caches them.
    async fn fetch_decryption(
        &self,
        cache: &Arc<dyn CryptographicMaterialsCache>,
        id: &[u8],
        request: &DecryptMaterialsRequest,
    ) -> Result<DecryptionMaterials> {
        let result = self.underlying.decrypt_materials(request.clone()).await;
        if let Ok(m) = &result
            && m.algorithm_suite() == request.algorithm_suite
            && m.data_key().is_some()
        {
            self.store(cache, id, CachedMaterials::Decryption(m.clone()), 0)
                .await;
        }
        result
    }

    /// Waits until no other task is fetching the entry `id`. `Err` carries the error of a
    /// fetch that failed while this task waited for it.
    async fn enter(&self, id: &[u8]) -> Result<Lease<'_>> {
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            flights.entry(id.to_vec()).or_default().clone()
        };
        // From here on the lease owns our reference, so that every way out (an error, a
        // cancelled wait) runs its clean-up.
        let mut lease = Lease {
            cmm: self,
            id: id.to_vec(),
            flight,
            guard: None,
        };
        let seen = lease.flight.completed.load(Ordering::Acquire);
        let guard = lease.flight.last_error.clone().lock_owned().await;
        if lease.flight.completed.load(Ordering::Acquire) != seen
            && let Some(e) = guard.as_ref()
        {
            let e = duplicate(e);
            drop(guard);
            return Err(e);
        }
        lease.guard = Some(guard);
        Ok(lease)
    }
}

/// What a look at the cache found.
enum Found<T> {
    /// Materials this CMM may use.
    Hit(T),
    /// An entry past this CMM's limits, or not suiting the request.
    Unusable,
    /// No entry (from a coordinating cache: this caller is to fetch).
    Miss,
}

/// True when cached encryption materials answer `request` exactly as the underlying CMM would:
/// the same suite if one was requested, a suite the request's policy allows, and the same
/// required keys.
fn suits(m: &EncryptionMaterials, request: &EncryptionMaterialsRequest) -> bool {
    let suite = m.algorithm_suite();
    if request.algorithm_suite.is_some_and(|s| s != suite) {
        return false;
    }
    if request.commitment_policy.check_encrypt(suite).is_err() {
        return false;
    }
    let mut want = request.required_encryption_context_keys.clone();
    want.sort();
    want.dedup();
    let mut have = m.required_encryption_context_keys().to_vec();
    have.sort();
    have.dedup();
    want == have
}

/// The reproduced pairs whose keys the header does not store.
fn reproduced_only(request: &DecryptMaterialsRequest) -> EncryptionContext {
    let mut extra = EncryptionContext::new();
    if let Some(reproduced) = &request.reproduced_encryption_context {
        for (k, v) in reproduced.iter() {
            if !request.encryption_context.contains_key(k) {
                extra.insert(k, v);
            }
        }
    }
    extra
}

fn has_identity_kdf(suite: AlgorithmSuite) -> bool {
    suite.kdf() == Kdf::Identity
}

/// A copy of an error, for the tasks that waited on a failed fetch. Every category but I/O is
/// `Clone`; an I/O error keeps its kind and message.
fn duplicate(e: &Error) -> Error {
    match e {
        Error::Format(x) => Error::Format(x.clone()),
        Error::Authentication(x) => Error::Authentication(x.clone()),
        Error::Policy(x) => Error::Policy(x.clone()),
        Error::Keyring(x) => Error::Keyring(x.clone()),
        Error::Limit(x) => Error::Limit(x.clone()),
        Error::Io(x) => Error::Io(io::Error::new(x.kind(), x.to_string())),
        Error::ApiMisuse(x) => Error::ApiMisuse(x.clone()),
        Error::Crypto(x) => Error::Crypto(*x),
    }
}

/// The fetches of one cache entry: one at a time, behind `last_error`'s lock.
#[derive(Debug, Default)]
struct Flight {
    /// How many fetches have completed; read before waiting, to tell whether a fetch finished
    /// while this task waited.
    completed: AtomicU64,
    /// The error of the last completed fetch (`None` if it succeeded).
    last_error: Arc<tokio::sync::Mutex<Option<Error>>>,
}

/// The right to fetch one entry. Dropping it lets the next waiter in; the last task out
/// removes the entry's flight from the map.
struct Lease<'a> {
    cmm: &'a CachingCmm,
    id: Vec<u8>,
    flight: Arc<Flight>,
    guard: Option<tokio::sync::OwnedMutexGuard<Option<Error>>>,
}

impl Lease<'_> {
    /// Records the outcome of this task's fetch for the tasks waiting on it.
    fn complete<T>(&mut self, result: &Result<T>) {
        if let Some(guard) = self.guard.as_mut() {
            **guard = result.as_ref().err().map(duplicate);
            self.flight.completed.fetch_add(1, Ordering::Release);
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut flights = self.cmm.flights.lock().unwrap_or_else(|e| e.into_inner());
        // Clones are made only under this lock: two references (the map's and ours) mean no
        // task waits for this entry any more.
        if let Some(f) = flights.get(&self.id)
            && Arc::ptr_eq(f, &self.flight)
            && Arc::strong_count(&self.flight) == 2
        {
            flights.remove(&self.id);
        }
    }
}

impl CryptographicMaterialsManager for CachingCmm {
    fn get_encryption_materials<'a>(
        &'a self,
        request: EncryptionMaterialsRequest,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        Box::pin(async move {
            let Some(cache) = &self.cache else {
                return self.underlying.get_encryption_materials(request).await;
            };
            let length = match request.max_plaintext_length {
                Some(n) if n <= self.limit_bytes => n,
                // Unknown or too long a plaintext: these materials could not be reused.
                _ => return self.underlying.get_encryption_materials(request).await,
            };
            if request.algorithm_suite.is_some_and(has_identity_kdf) {
                return self.underlying.get_encryption_materials(request).await;
            }
            let id = self.encryption_entry_id(&request)?;
            match self.lookup_encryption(cache, &id, length, &request).await? {
                Found::Hit(m) => return Ok(m),
                Found::Miss if cache.coordinates_fetches() => {
                    return self.fetch_encryption(cache, &id, length, &request).await;
                }
                _ => {}
            }
            let mut lease = self.enter(&id).await?;
            if let Found::Hit(m) = self.lookup_encryption(cache, &id, length, &request).await? {
                return Ok(m);
            }
            let result = self.fetch_encryption(cache, &id, length, &request).await;
            lease.complete(&result);
            result
        })
    }

    fn decrypt_materials<'a>(
        &'a self,
        request: DecryptMaterialsRequest,
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        Box::pin(async move {
            let suite = request.algorithm_suite;
            request.commitment_policy.check_decrypt(suite)?;
            let Some(cache) = &self.cache else {
                return self.underlying.decrypt_materials(request).await;
            };
            if has_identity_kdf(suite) {
                return self.underlying.decrypt_materials(request).await;
            }
            if let Some(reproduced) = &request.reproduced_encryption_context {
                for (k, v) in reproduced.iter() {
                    if request.encryption_context.get(k).is_some_and(|h| h != v) {
                        return Err(PolicyError::EncryptionContextMismatch(k.to_owned()).into());
                    }
                }
            }
            let id = self.decryption_entry_id(&request)?;
            match self.lookup_decryption(cache, &id, &request).await? {
                Found::Hit(m) => return Ok(m),
                Found::Miss if cache.coordinates_fetches() => {
                    return self.fetch_decryption(cache, &id, &request).await;
                }
                _ => {}
            }
            let mut lease = self.enter(&id).await?;
            if let Found::Hit(m) = self.lookup_decryption(cache, &id, &request).await? {
                return Ok(m);
            }
            let result = self.fetch_decryption(cache, &id, &request).await;
            lease.complete(&result);
            result
        })
    }
}

#[cfg(test)]
#[path = "caching_tests.rs"]
mod tests;
