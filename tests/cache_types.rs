//! The cache types of the hierarchical keyring and the caching CMM (`CacheType`: none, default
//! LRU, storm tracking, shared), with in-process key stores, so no server is needed:
//!
//! * a storm of 1,000 tasks at the expiry of a branch key, against a slow key store, on Tokio's
//!   paused clock (so the figures count calls and virtual time, and are the same on every
//!   machine); `cargo test --test cache_types storm -- --nocapture` prints them;
//! * keyrings sharing one cache under different partition IDs;
//! * the branch key cache identifiers against the Python MPL's
//!   (`.ci/hierarchy_cache_ids_with_python.py`);
//! * each cache type behind the hierarchical keyring and behind the caching CMM.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use esdk::cache::{
    CacheEntry, CacheType, CryptographicMaterialsCache, DefaultCache, LocalMaterialsCache,
    StormTrackingCache, TokioClock, Usage,
};
use esdk::cmm::{CryptographicMaterialsManager, EncryptionMaterialsRequest};
use esdk::error::KeyringError;
use esdk::keyring::{
    BranchKeyMaterials, BranchKeySource, ContextKeyBranchKeyIdSupplier, HierarchicalKeyring,
    Keyring,
};
use esdk::{
    AlgorithmSuite, CachingCmm, Client, CommitmentPolicy, DecryptionMaterials, EncryptedDataKey,
    EncryptionContext, EncryptionMaterials, Error, RawAesKeyring,
};
use futures::future::BoxFuture;
use tokio::time::Instant;

const V1: &str = "e9ce18a3-edb5-4272-9f86-1cacb7997ff6";
const SUITE: AlgorithmSuite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;

/// An in-process branch key store holding one version of each branch key it is asked for (all
/// under one key), answering after `delay` of Tokio time.
#[derive(Debug)]
struct SlowStore {
    name: String,
    key: [u8; 32],
    delay: Duration,
    calls: AtomicUsize,
}

impl SlowStore {
    fn new(name: &str, key: u8, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            name: name.into(),
            key: [key; 32],
            delay,
            calls: AtomicUsize::new(0),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    async fn answer(&self, id: &str) -> esdk::Result<BranchKeyMaterials> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        BranchKeyMaterials::new(id, V1, &self.key)
    }
}

impl BranchKeySource for SlowStore {
    fn active_branch_key<'a>(
        &'a self,
        branch_key_id: &'a str,
    ) -> BoxFuture<'a, esdk::Result<BranchKeyMaterials>> {
        Box::pin(self.answer(branch_key_id))
    }

    fn branch_key_version<'a>(
        &'a self,
        branch_key_id: &'a str,
        version: &'a str,
    ) -> BoxFuture<'a, esdk::Result<BranchKeyMaterials>> {
        Box::pin(async move {
            assert_eq!(version, V1);
            self.answer(branch_key_id).await
        })
    }

    fn logical_key_store_name(&self) -> &str {
        &self.name
    }
}

/// A cache that records the identifiers put into the cache it wraps.
#[derive(Debug)]
struct Recording {
    inner: Arc<dyn CryptographicMaterialsCache>,
    puts: Mutex<Vec<Vec<u8>>>,
}

impl Recording {
    fn new(inner: Arc<dyn CryptographicMaterialsCache>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            puts: Mutex::new(Vec::new()),
        })
    }

    fn puts(&self) -> Vec<Vec<u8>> {
        self.puts.lock().unwrap().clone()
    }
}

impl CryptographicMaterialsCache for Recording {
    fn get_cache_entry<'a>(
        &'a self,
        identifier: &'a [u8],
        usage: Usage,
    ) -> BoxFuture<'a, esdk::Result<Option<CacheEntry>>> {
        self.inner.get_cache_entry(identifier, usage)
    }

    fn put_cache_entry<'a>(
        &'a self,
        identifier: &'a [u8],
        entry: CacheEntry,
    ) -> BoxFuture<'a, esdk::Result<()>> {
        self.puts.lock().unwrap().push(identifier.to_vec());
        self.inner.put_cache_entry(identifier, entry)
    }

    fn delete_cache_entry<'a>(&'a self, identifier: &'a [u8]) -> BoxFuture<'a, esdk::Result<()>> {
        self.inner.delete_cache_entry(identifier)
    }

    fn coordinates_fetches(&self) -> bool {
        self.inner.coordinates_fetches()
    }
}

fn keyring(
    store: Arc<SlowStore>,
    branch_key_id: &str,
    ttl: Duration,
    cache: impl Into<CacheType>,
) -> HierarchicalKeyring {
    HierarchicalKeyring::builder(store)
        .branch_key_id(branch_key_id)
        .ttl(ttl)
        .cache(cache)
        .clock(Arc::new(TokioClock))
        .build()
        .unwrap()
}

/// One on-encrypt of the keyring (what every message costs it).
async fn wrap(keyring: &HierarchicalKeyring) -> esdk::Result<EncryptionMaterials> {
    let context: EncryptionContext = [("k", "v")].into_iter().collect();
    keyring
        .on_encrypt(EncryptionMaterials::new(SUITE, context, vec![], None))
        .await
}

async fn seal(keyring: &HierarchicalKeyring, data: &[u8]) -> Vec<u8> {
    Client::new()
        .encrypt(keyring.clone(), data)
        .await
        .expect("encrypt")
        .ciphertext
}

async fn open(keyring: &HierarchicalKeyring, message: &[u8]) -> esdk::Result<Vec<u8>> {
    Client::new()
        .decrypt(keyring.clone(), message)
        .await
        .map(|out| out.plaintext)
}

// ---------------------------------------------------------------------------------------------
// (a) The storm.

const TASKS: u32 = 1000;
/// Each task asks for the key every 200 ms, the tasks spread evenly over those 200 ms: 5,000
/// requests per second.
const PERIOD: Duration = Duration::from_millis(200);
const ROUNDS: u32 = 20;
const TTL: Duration = Duration::from_secs(60);
/// The storm starts this long before the branch key expires, and lasts ROUNDS × PERIOD (4 s).
const LEAD: Duration = Duration::from_secs(2);

#[derive(Debug, PartialEq, Eq)]
struct Figures {
    requests: usize,
    store_calls: usize,
    /// Requests that took any time at all (waited for the store, directly or not). Each task
    /// asks again only once answered, so a stall costs a task one request, however long.
    waited: usize,
    longest_wait: Duration,
    total_wait: Duration,
}

/// 1,000 tasks encrypting through one keyring across the expiry of its branch key, against a
/// store that answers after `delay`.
async fn storm(cache: CacheType, delay: Duration) -> Figures {
    let store = SlowStore::new("store", 7, delay);
    let keyring = Arc::new(keyring(store.clone(), "bk", TTL, cache));
    wrap(&keyring).await.unwrap(); // the entry, made now, expires at made + TTL
    let made = Instant::now();
    let warm_calls = store.calls();
    let start = made + TTL - LEAD;
    tokio::time::sleep_until(start).await;
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let keyring = keyring.clone();
            let offset = start + PERIOD * i / TASKS;
            tokio::spawn(async move {
                let mut waits = Vec::with_capacity(ROUNDS as usize);
                for round in 0..ROUNDS {
                    tokio::time::sleep_until(offset + PERIOD * round).await;
                    let t = Instant::now();
                    wrap(&keyring).await.unwrap();
                    waits.push(t.elapsed());
                }
                waits
            })
        })
        .collect();
    let mut waits = Vec::new();
    for t in tasks {
        waits.extend(t.await.unwrap());
    }
    Figures {
        requests: waits.len(),
        store_calls: store.calls() - warm_calls,
        waited: waits.iter().filter(|w| !w.is_zero()).count(),
        longest_wait: waits.iter().copied().max().unwrap_or_default(),
        total_wait: waits.iter().sum(),
    }
}

fn report(what: &str, f: &Figures) {
    println!(
        "{what:<44} requests {:>6}  key-store calls {:>6}  requests that waited {:>6}  \
         longest wait {:>6} ms  total wait {:>9.1} s",
        f.requests,
        f.store_calls,
        f.waited,
        f.longest_wait.as_millis(),
        f.total_wait.as_secs_f64()
    );
}

#[tokio::test(start_paused = true)]
async fn storm_at_expiry_with_and_without_storm_tracking() {
    let requests = (TASKS * ROUNDS) as usize;
    let ms = Duration::from_millis;

    // A store answering in 500 ms (shorter than the storm tracker's 1 s grace interval).
    let none = storm(CacheType::No, ms(500)).await;
    report("no cache, store 500 ms", &none);
    assert_eq!(none.store_calls, requests);
    assert_eq!(none.waited, requests);

    let lru = storm(CacheType::default(), ms(500)).await;
    report("default (LRU + single flight), store 500 ms", &lru);
    // One call at expiry, but every task asks during it, and stalls until it returns.
    assert_eq!(lru.store_calls, 1);
    assert_eq!(lru.longest_wait, ms(500));
    assert_eq!(lru.waited, TASKS as usize);

    let storm_tracking = storm(StormTrackingCache::new().into(), ms(500)).await;
    report(
        "storm tracking (MPL defaults), store 500 ms",
        &storm_tracking,
    );
    // The first request inside the grace period refreshes; everyone else keeps the old key.
    assert_eq!(storm_tracking.store_calls, 1);
    assert_eq!(storm_tracking.waited, 1);
    assert_eq!(storm_tracking.longest_wait, ms(500));

    // A store slower than the grace interval (2.5 s): one more refresh per grace interval
    // until the first returns, and the requests after expiry wait for the first refresh.
    let lru_slow = storm(CacheType::default(), ms(2_500)).await;
    report("default (LRU + single flight), store 2.5 s", &lru_slow);
    assert_eq!(lru_slow.store_calls, 1);
    assert_eq!(lru_slow.longest_wait, ms(2_500));
    let storm_slow = storm(StormTrackingCache::new().into(), ms(2_500)).await;
    report("storm tracking (MPL defaults), store 2.5 s", &storm_slow);
    // Refreshes at expiry − 2 s, − 1 s and at expiry; the first lands 0.5 s after expiry.
    assert_eq!(storm_slow.store_calls, 3);
    assert_eq!(storm_slow.longest_wait, ms(2_500));
    assert!(
        storm_slow.total_wait * 4 < lru_slow.total_wait,
        "{storm_slow:?} vs {lru_slow:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// (b) Shared caches and partition IDs.

#[tokio::test]
async fn keyrings_sharing_a_cache_under_different_partition_ids_never_see_each_others_entries() {
    let shared_caches: [Arc<dyn CryptographicMaterialsCache>; 2] = [
        Arc::new(LocalMaterialsCache::new(100)),
        Arc::new(StormTrackingCache::new().build().unwrap()),
    ];
    for shared in shared_caches {
        let cache = Recording::new(shared);
        // Same logical key store name, branch key ID and version, different keys: an entry
        // served to the wrong keyring would show.
        let store_a = SlowStore::new("store", 1, Duration::ZERO);
        let store_b = SlowStore::new("store", 2, Duration::ZERO);
        let a = HierarchicalKeyring::builder(store_a.clone())
            .branch_key_id("bk")
            .ttl(Duration::from_secs(600))
            .cache(cache.clone())
            .partition_id("tenant-a")
            .build()
            .unwrap();
        let b = HierarchicalKeyring::builder(store_b.clone())
            .branch_key_id("bk")
            .ttl(Duration::from_secs(600))
            .cache(cache.clone())
            .partition_id("tenant-b")
            .build()
            .unwrap();
        let ma = seal(&a, b"for a").await;
        let mb = seal(&b, b"for b").await;
        seal(&a, b"again").await;
        seal(&b, b"again").await;
        assert_eq!(
            (store_a.calls(), store_b.calls()),
            (1, 1),
            "one active key each"
        );
        assert_eq!(open(&a, &ma).await.unwrap(), b"for a");
        assert_eq!(open(&b, &mb).await.unwrap(), b"for b");
        assert_eq!(
            (store_a.calls(), store_b.calls()),
            (2, 2),
            "one version each"
        );
        // b never got a's branch key: a's message does not open with b's (its own version
        // entry holds b's key).
        assert!(matches!(
            open(&b, &ma).await,
            Err(Error::Keyring(KeyringError::NoDecryptableKey { .. }))
        ));
        assert!(open(&a, &mb).await.is_err());
        assert_eq!(
            (store_a.calls(), store_b.calls()),
            (2, 2),
            "all from the cache"
        );
        let mut ids = cache.puts();
        assert_eq!(ids.len(), 4);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 4, "four distinct identifiers");

        // The same partition ID (with the same logical name and branch key ID) does share:
        // this keyring's store would give another key, but it is never asked.
        let store_c = SlowStore::new("store", 3, Duration::ZERO);
        let c = HierarchicalKeyring::builder(store_c.clone())
            .branch_key_id("bk")
            .ttl(Duration::from_secs(600))
            .cache(cache.clone())
            .partition_id("tenant-a")
            .build()
            .unwrap();
        let mc = seal(&c, b"from c").await;
        assert_eq!(store_c.calls(), 0);
        assert_eq!(open(&a, &mc).await.unwrap(), b"from c");
        // Default partition IDs are random: nothing shared.
        let store_d = SlowStore::new("store", 1, Duration::ZERO);
        let d = HierarchicalKeyring::builder(store_d.clone())
            .branch_key_id("bk")
            .ttl(Duration::from_secs(600))
            .cache(cache.clone())
            .build()
            .unwrap();
        seal(&d, b"d").await;
        assert_eq!(store_d.calls(), 1);
    }
}

// ---------------------------------------------------------------------------------------------
// (c) Identifiers against the Python MPL.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_identifiers_match_the_python_mpl() {
    let Some(python) = common::peers_python("the branch key cache identifiers") else {
        return;
    };
    let cases = [
        ("ascii", "tenant-a", "store", "bk"),
        (
            "uuid-like partition",
            "1d5b3c62-9a7e-4b8e-a1f0-2c9d6e4f7a10",
            "ks",
            "branch-1",
        ),
        (
            "non-ascii",
            "caf\u{e9}-\u{5206}\u{533a}",
            "logical-\u{e9}",
            "cl\u{e9}-\u{1f511}",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut job = Vec::new();
    let mut keys = Vec::new();
    for (n, (name, partition, logical, branch_key_id)) in cases.iter().enumerate() {
        let key = 0x40 + n as u8;
        let store = SlowStore::new(logical, key, Duration::ZERO);
        let cache = Recording::new(Arc::new(LocalMaterialsCache::new(10)));
        let k = HierarchicalKeyring::builder(store)
            .branch_key_id(*branch_key_id)
            .ttl(Duration::from_secs(600))
            .cache(cache.clone())
            .partition_id(*partition)
            .build()
            .unwrap();
        let plaintext = format!("esdk, case {name}").into_bytes();
        let message = seal(&k, &plaintext).await;
        assert_eq!(open(&k, &message).await.unwrap(), plaintext);
        let ids = cache.puts();
        assert_eq!(ids.len(), 2, "active then version");
        job.push(serde_json::json!({
            "name": name,
            "partition_id": partition,
            "logical": logical,
            "branch_key_id": branch_key_id,
            "version": V1,
            "branch_key": common::hex(&[key; 32]),
            "active_id": common::hex(&ids[0]),
            "version_id": common::hex(&ids[1]),
            "ciphertext": common::hex(&message),
            "plaintext": common::hex(&plaintext),
        }));
        keys.push((key, logical, branch_key_id));
    }
    let job_path = dir.path().join("job.json");
    let out_path = dir.path().join("out.json");
    std::fs::write(&job_path, serde_json::json!({ "cases": job }).to_string()).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/.ci/hierarchy_cache_ids_with_python.py"
    );
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(&job_path)
        .arg(&out_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "Python MPL check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("OK ").count(), 3 * cases.len());
    // Python's messages, encrypted from the cache entries under our identifiers, open here.
    let theirs: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    assert_eq!(theirs.len(), cases.len());
    for (m, (key, logical, branch_key_id)) in theirs.iter().zip(keys) {
        let k =
            HierarchicalKeyring::new(SlowStore::new(logical, key, Duration::ZERO), *branch_key_id);
        let plaintext = open(&k, &common::unhex(m["ciphertext"].as_str().unwrap()))
            .await
            .unwrap();
        assert_eq!(plaintext, common::unhex(m["plaintext"].as_str().unwrap()));
    }
}

// ---------------------------------------------------------------------------------------------
// Each cache type behind the hierarchical keyring.

#[tokio::test(start_paused = true)]
async fn hierarchical_keyring_with_each_cache_type() {
    let ttl = Duration::from_secs(60);
    // No: every request reaches the store; no TTL needed either.
    let store = SlowStore::new("s", 1, Duration::ZERO);
    let none = keyring(store.clone(), "bk", ttl, CacheType::No);
    for _ in 0..3 {
        wrap(&none).await.unwrap();
    }
    assert_eq!(store.calls(), 3);
    let untimed = HierarchicalKeyring::builder(store.clone())
        .branch_key_id("bk")
        .cache(CacheType::No)
        .build()
        .unwrap();
    wrap(&untimed).await.unwrap();
    assert_eq!(store.calls(), 4);

    // Default: LRU by capacity. With room for one entry, alternating branch keys refetch.
    let store = SlowStore::new("s", 1, Duration::ZERO);
    let one = HierarchicalKeyring::builder(store.clone())
        .branch_key_id_supplier(Arc::new(ContextKeyBranchKeyIdSupplier::new("tenant")))
        .ttl(ttl)
        .cache(DefaultCache::new(1))
        .build()
        .unwrap();
    let two = HierarchicalKeyring::builder(store.clone())
        .branch_key_id_supplier(Arc::new(ContextKeyBranchKeyIdSupplier::new("tenant")))
        .ttl(ttl)
        .cache(DefaultCache::new(2))
        .build()
        .unwrap();
    for (k, want) in [(&one, 4), (&two, 2)] {
        let before = store.calls();
        for tenant in ["x", "y", "x", "y"] {
            let context: EncryptionContext = [("tenant", tenant)].into_iter().collect();
            k.on_encrypt(EncryptionMaterials::new(SUITE, context, vec![], None))
                .await
                .unwrap();
        }
        assert_eq!(store.calls() - before, want);
    }

    // Storm tracking: refreshed once inside the grace period, never missed.
    let store = SlowStore::new("s", 1, Duration::from_millis(100));
    let storm = keyring(store.clone(), "bk", ttl, StormTrackingCache::new());
    wrap(&storm).await.unwrap();
    tokio::time::advance(Duration::from_secs(49)).await;
    wrap(&storm).await.unwrap();
    assert_eq!(store.calls(), 1, "outside the grace period");
    tokio::time::advance(Duration::from_secs(2)).await;
    let t = Instant::now();
    wrap(&storm).await.unwrap();
    assert_eq!(
        (store.calls(), t.elapsed()),
        (2, Duration::from_millis(100))
    );
    tokio::time::advance(Duration::from_secs(30)).await;
    wrap(&storm).await.unwrap();
    assert_eq!(store.calls(), 2, "the refreshed entry lives on");
    // A grace period not shorter than the TTL is refused, as the spec requires.
    let err = HierarchicalKeyring::builder(store.clone())
        .branch_key_id("bk")
        .ttl(Duration::from_secs(10))
        .cache(StormTrackingCache::new())
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Keyring(KeyringError::InvalidConfiguration(ref m)) if m.contains("grace period")
    ));
    assert!(
        HierarchicalKeyring::builder(store)
            .branch_key_id("bk")
            .ttl(ttl)
            .cache(StormTrackingCache::new().fan_out(0))
            .build()
            .is_err()
    );
    // Shared: see keyrings_sharing_a_cache_under_different_partition_ids_never_see_each_others_entries.
}

// ---------------------------------------------------------------------------------------------
// Each cache type behind the caching CMM.

/// A raw AES keyring that counts its on-encrypt calls.
#[derive(Debug)]
struct Counting {
    inner: RawAesKeyring,
    calls: AtomicUsize,
}

impl Keyring for Counting {
    fn on_encrypt<'a>(
        &'a self,
        materials: EncryptionMaterials,
    ) -> BoxFuture<'a, esdk::Result<EncryptionMaterials>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.on_encrypt(materials)
    }

    fn on_decrypt<'a>(
        &'a self,
        materials: DecryptionMaterials,
        encrypted_data_keys: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, esdk::Result<DecryptionMaterials>> {
        self.inner.on_decrypt(materials, encrypted_data_keys)
    }
}

fn counting() -> Arc<Counting> {
    Arc::new(Counting {
        inner: RawAesKeyring::new("ns", "key", &[9; 32]).unwrap(),
        calls: AtomicUsize::new(0),
    })
}

fn cmm(keyring: Arc<Counting>, cache: impl Into<CacheType>, partition: Option<&str>) -> CachingCmm {
    let mut b = CachingCmm::builder_with_keyring(keyring, cache, Duration::from_secs(60))
        .clock(Arc::new(TokioClock));
    if let Some(p) = partition {
        b = b.partition_id(p);
    }
    b.build().unwrap()
}

async fn materials(cmm: &CachingCmm) {
    let mut request = EncryptionMaterialsRequest::new(
        EncryptionContext::new(),
        CommitmentPolicy::REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
    );
    request.max_plaintext_length = Some(100);
    cmm.get_encryption_materials(request).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn caching_cmm_with_each_cache_type() {
    // No: every request reaches the keyring.
    let k = counting();
    let none = cmm(k.clone(), CacheType::No, None);
    for _ in 0..3 {
        materials(&none).await;
    }
    assert_eq!(k.calls.load(Ordering::SeqCst), 3);

    // Default: one data key for all.
    let k = counting();
    let lru = cmm(k.clone(), DefaultCache::new(10), None);
    for _ in 0..3 {
        materials(&lru).await;
    }
    assert_eq!(k.calls.load(Ordering::SeqCst), 1);

    // Storm tracking: a new data key inside the grace period (TTL 60 s, grace 10 s).
    let k = counting();
    let storm = cmm(k.clone(), StormTrackingCache::new(), None);
    materials(&storm).await;
    tokio::time::advance(Duration::from_secs(49)).await;
    materials(&storm).await;
    assert_eq!(k.calls.load(Ordering::SeqCst), 1);
    tokio::time::advance(Duration::from_secs(2)).await;
    materials(&storm).await;
    materials(&storm).await;
    assert_eq!(k.calls.load(Ordering::SeqCst), 2);
    // ... and a grace period as long as the TTL is refused.
    assert!(matches!(
        CachingCmm::builder_with_keyring(
            counting(),
            StormTrackingCache::new(),
            Duration::from_secs(10)
        )
        .build(),
        Err(Error::ApiMisuse(_))
    ));

    // Shared: CMMs with one partition ID share data keys, with another they do not.
    let shared: Arc<dyn CryptographicMaterialsCache> = Arc::new(
        StormTrackingCache::new()
            .build_with_clock(Arc::new(TokioClock))
            .unwrap(),
    );
    let k = counting();
    let a1 = cmm(k.clone(), shared.clone(), Some("a"));
    let a2 = cmm(k.clone(), shared.clone(), Some("a"));
    let b = cmm(k.clone(), shared, Some("b"));
    materials(&a1).await;
    materials(&a2).await;
    assert_eq!(k.calls.load(Ordering::SeqCst), 1);
    materials(&b).await;
    assert_eq!(k.calls.load(Ordering::SeqCst), 2);
}
