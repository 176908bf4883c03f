//! Tests of the caching CMM. None of them sleeps: time is a `ManualClock`, and concurrency is
//! arranged with a gate (a semaphore) that holds the underlying keyring until the test opens it.

use std::future::IntoFuture;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::Semaphore;

use super::*;
use crate::cache::{LocalMaterialsCache, ManualClock};
use crate::client::{Client, MaterialsSource};
use crate::cmm::RequiredEncryptionContextCmm;
use crate::error::{AuthError, KeyringError};
use crate::keyring::RawAesKeyring;
use crate::materials::EncryptedDataKey;
use crate::suite::CommitmentPolicy;

/// A raw AES keyring that counts its calls and, when gated, waits for a permit before working.
#[derive(Debug)]
struct CountingKeyring {
    inner: RawAesKeyring,
    encrypts: AtomicUsize,
    decrypts: AtomicUsize,
    gate: Option<Arc<Semaphore>>,
    fail: bool,
}

impl CountingKeyring {
    fn new() -> Arc<Self> {
        Self::build(None, false)
    }

    fn gated(gate: Arc<Semaphore>) -> Arc<Self> {
        Self::build(Some(gate), false)
    }

    fn build(gate: Option<Arc<Semaphore>>, fail: bool) -> Arc<Self> {
        Arc::new(Self {
            inner: RawAesKeyring::new("test", "aes-key", &[7; 32]).unwrap(),
            encrypts: AtomicUsize::new(0),
            decrypts: AtomicUsize::new(0),
            gate,
            fail,
        })
    }

    fn encrypts(&self) -> usize {
        self.encrypts.load(Ordering::SeqCst)
    }

    fn decrypts(&self) -> usize {
        self.decrypts.load(Ordering::SeqCst)
    }

    async fn pass_gate(&self) {
        if let Some(gate) = &self.gate {
            drop(gate.acquire().await.unwrap());
        }
    }
}

impl Keyring for CountingKeyring {
    fn on_encrypt<'a>(
        &'a self,
        m: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        Box::pin(async move {
            self.encrypts.fetch_add(1, Ordering::SeqCst);
            self.pass_gate().await;
            if self.fail {
                return Err(KeyringError::Service {
                    key_id: "aes-key".into(),
                    message: "key service unavailable".into(),
                    source: None,
                }
                .into());
            }
            self.inner.on_encrypt(m).await
        })
    }

    fn on_decrypt<'a>(
        &'a self,
        m: DecryptionMaterials,
        edks: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        Box::pin(async move {
            self.decrypts.fetch_add(1, Ordering::SeqCst);
            self.pass_gate().await;
            self.inner.on_decrypt(m, edks).await
        })
    }
}

/// A CMM wrapper that records the requests it forwards, and can force a suite.
#[derive(Debug)]
struct Recorder {
    inner: Arc<dyn CryptographicMaterialsManager>,
    force_suite: Option<AlgorithmSuite>,
    lengths: Mutex<Vec<Option<u64>>>,
}

impl Recorder {
    fn new(keyring: Arc<dyn Keyring>, force_suite: Option<AlgorithmSuite>) -> Arc<Self> {
        Arc::new(Self {
            inner: Arc::new(DefaultCmm::new(keyring)),
            force_suite,
            lengths: Mutex::new(Vec::new()),
        })
    }

    fn lengths(&self) -> Vec<Option<u64>> {
        self.lengths.lock().unwrap().clone()
    }
}

impl CryptographicMaterialsManager for Recorder {
    fn get_encryption_materials<'a>(
        &'a self,
        mut request: EncryptionMaterialsRequest,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        self.lengths
            .lock()
            .unwrap()
            .push(request.max_plaintext_length);
        if let Some(s) = self.force_suite {
            request.algorithm_suite = Some(s);
        }
        self.inner.get_encryption_materials(request)
    }

    fn decrypt_materials<'a>(
        &'a self,
        request: DecryptMaterialsRequest,
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        self.inner.decrypt_materials(request)
    }
}

const TTL: Duration = Duration::from_secs(60);

struct Setup {
    keyring: Arc<CountingKeyring>,
    cache: Arc<LocalMaterialsCache>,
    clock: Arc<ManualClock>,
    cmm: Arc<CachingCmm>,
}

impl Setup {
    fn new(configure: impl FnOnce(CachingCmmBuilder) -> CachingCmmBuilder) -> Self {
        Self::with_keyring(CountingKeyring::new(), configure)
    }

    fn with_keyring(
        keyring: Arc<CountingKeyring>,
        configure: impl FnOnce(CachingCmmBuilder) -> CachingCmmBuilder,
    ) -> Self {
        let clock = Arc::new(ManualClock::new());
        let cache = Arc::new(LocalMaterialsCache::with_clock(100, clock.clone()));
        let builder = CachingCmm::builder_with_keyring(keyring.clone(), cache.clone(), TTL)
            .clock(clock.clone());
        let cmm = Arc::new(configure(builder).build().unwrap());
        Self {
            keyring,
            cache,
            clock,
            cmm,
        }
    }

    fn source(&self) -> MaterialsSource {
        MaterialsSource::Cmm(self.cmm.clone())
    }
}

fn request(ec: &[(&str, &str)], length: Option<u64>) -> EncryptionMaterialsRequest {
    let mut r = EncryptionMaterialsRequest::new(
        ec.iter().copied().collect(),
        CommitmentPolicy::REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
    );
    r.max_plaintext_length = length;
    r
}

fn first_edk(m: &EncryptionMaterials) -> EncryptedDataKey {
    m.encrypted_data_keys()[0].clone()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn entry_ids_match_the_python_esdk() {
    // Made by testdata/caching_entry_ids.py with the Python ESDK's own cache-key functions.
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("testdata/caching_entry_ids.json")).unwrap();
    let cache = Arc::new(LocalMaterialsCache::new(1));
    let keyring = CountingKeyring::new();
    let (mut encrypts, mut decrypts) = (0, 0);
    for v in vectors.as_array().unwrap() {
        let partition = v["partition"].as_str().unwrap();
        let cmm = CachingCmm::builder_with_keyring(keyring.clone(), cache.clone(), TTL)
            .partition_id(partition)
            .build()
            .unwrap();
        let ec: EncryptionContext = v["ec"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let suite = v["suite"]
            .as_u64()
            .map(|id| AlgorithmSuite::from_id(id as u16).unwrap());
        let id = match v["kind"].as_str().unwrap() {
            "encrypt" => {
                encrypts += 1;
                let mut r = EncryptionMaterialsRequest::new(
                    ec,
                    CommitmentPolicy::REQUIRE_ENCRYPT_ALLOW_DECRYPT,
                );
                r.algorithm_suite = suite;
                cmm.encryption_entry_id(&r).unwrap()
            }
            "decrypt" => {
                decrypts += 1;
                let edks = v["edks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| {
                        EncryptedDataKey::new(
                            e["provider_id"].as_str().unwrap(),
                            hex(e["provider_info"].as_str().unwrap()),
                            hex(e["ciphertext"].as_str().unwrap()),
                        )
                    })
                    .collect();
                let r = DecryptMaterialsRequest {
                    algorithm_suite: suite.unwrap(),
                    commitment_policy: CommitmentPolicy::REQUIRE_ENCRYPT_ALLOW_DECRYPT,
                    encrypted_data_keys: edks,
                    encryption_context: ec,
                    reproduced_encryption_context: None,
                    checks: Default::default(),
                };
                cmm.decryption_entry_id(&r).unwrap()
            }
            other => panic!("unknown kind {other}"),
        };
        assert_eq!(id, hex(v["id"].as_str().unwrap()), "vector {v}");
    }
    assert_eq!((encrypts, decrypts), (72, 120));
}

#[test]
fn extensions_apply_only_when_present() {
    let s = Setup::new(|b| b.partition_id("p"));
    let plain = request(&[("a", "1")], Some(1));
    let mut with_required = plain.clone();
    with_required.required_encryption_context_keys = vec!["a".into()];
    let base = s.cmm.encryption_entry_id(&plain).unwrap();
    let ext = s.cmm.encryption_entry_id(&with_required).unwrap();
    assert_ne!(base, ext);
    // Order and duplicates of the required keys do not matter.
    let mut shuffled = request(&[("a", "1"), ("b", "2")], Some(1));
    shuffled.required_encryption_context_keys = vec!["b".into(), "a".into(), "b".into()];
    let mut sorted = request(&[("a", "1"), ("b", "2")], Some(1));
    sorted.required_encryption_context_keys = vec!["a".into(), "b".into()];
    assert_eq!(
        s.cmm.encryption_entry_id(&shuffled).unwrap(),
        s.cmm.encryption_entry_id(&sorted).unwrap()
    );

    let decrypt = |reproduced: Option<&[(&str, &str)]>| DecryptMaterialsRequest {
        algorithm_suite: AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        commitment_policy: CommitmentPolicy::REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
        encrypted_data_keys: vec![EncryptedDataKey::new("p", vec![1], vec![2])],
        encryption_context: [("a", "1")].into_iter().collect(),
        reproduced_encryption_context: reproduced.map(|r| r.iter().copied().collect()),
        checks: Default::default(),
    };
    let none = s.cmm.decryption_entry_id(&decrypt(None)).unwrap();
    // Reproduced pairs the header already holds change nothing; others do.
    assert_eq!(
        none,
        s.cmm
            .decryption_entry_id(&decrypt(Some(&[("a", "1")])))
            .unwrap()
    );
    assert_ne!(
        none,
        s.cmm
            .decryption_entry_id(&decrypt(Some(&[("a", "1"), ("r", "x")])))
            .unwrap()
    );
    assert_ne!(
        s.cmm
            .decryption_entry_id(&decrypt(Some(&[("r", "x")])))
            .unwrap(),
        s.cmm
            .decryption_entry_id(&decrypt(Some(&[("r", "y")])))
            .unwrap()
    );
}

#[tokio::test]
async fn many_messages_through_the_client_call_the_keyring_once() {
    let s = Setup::new(|b| b);
    let source = s.source();
    let client = Client::new();
    let mut messages = Vec::new();
    for i in 0..50u8 {
        let pt = vec![i; 1024];
        let msg = client
            .encrypt(&source, &pt)
            .encryption_context([("tenant", "a")])
            .await
            .unwrap();
        messages.push((pt, msg));
    }
    assert_eq!(s.keyring.encrypts(), 1);
    let edks = messages[0].1.header.encrypted_data_keys().to_vec();
    for (_, msg) in &messages {
        assert_eq!(msg.header.encrypted_data_keys(), edks.as_slice());
    }
    // Every message decrypts, through the cache (one unwrap) and without it.
    let plain = MaterialsSource::keyring(RawAesKeyring::new("test", "aes-key", &[7; 32]).unwrap());
    for (pt, msg) in &messages {
        let out = client.decrypt(&source, &msg.ciphertext).await.unwrap();
        assert_eq!(&out.plaintext, pt);
        let out = client.decrypt(&plain, &msg.ciphertext).await.unwrap();
        assert_eq!(&out.plaintext, pt);
    }
    assert_eq!(s.keyring.decrypts(), 1);
    // Another context is another entry.
    client
        .encrypt(&source, b"x")
        .encryption_context([("tenant", "b")])
        .await
        .unwrap();
    assert_eq!(s.keyring.encrypts(), 2);
}

#[tokio::test]
async fn an_entry_past_its_max_age_is_not_reused() {
    let s = Setup::new(|b| b);
    let client = Client::new();
    let source = s.source();
    let first = client.encrypt(&source, b"one").await.unwrap();
    s.clock.advance(TTL);
    let second = client.encrypt(&source, b"two").await.unwrap();
    assert_eq!(s.keyring.encrypts(), 1, "reused at exactly the TTL");
    assert_eq!(
        first.header.encrypted_data_keys(),
        second.header.encrypted_data_keys()
    );
    s.clock.advance(Duration::from_nanos(1));
    let third = client.encrypt(&source, b"three").await.unwrap();
    assert_eq!(s.keyring.encrypts(), 2, "not reused past the TTL");
    assert_ne!(
        first.header.encrypted_data_keys(),
        third.header.encrypted_data_keys()
    );

    // Decryption materials age the same way.
    client.decrypt(&source, &third.ciphertext).await.unwrap();
    s.clock.advance(TTL);
    client.decrypt(&source, &third.ciphertext).await.unwrap();
    assert_eq!(s.keyring.decrypts(), 1);
    s.clock.advance(Duration::from_nanos(1));
    client.decrypt(&source, &third.ciphertext).await.unwrap();
    assert_eq!(s.keyring.decrypts(), 2);
}

#[tokio::test]
async fn age_is_checked_against_this_cmms_ttl_even_when_the_cache_keeps_longer() {
    // Two CMMs share a cache and a partition; the one with the shorter TTL does not use the
    // other's older entries.
    let s = Setup::new(|b| b.partition_id("shared"));
    let short = CachingCmm::builder_with_keyring(
        s.keyring.clone(),
        s.cache.clone(),
        Duration::from_secs(10),
    )
    .partition_id("shared")
    .clock(s.clock.clone())
    .build()
    .unwrap();
    s.cmm
        .get_encryption_materials(request(&[], Some(1)))
        .await
        .unwrap();
    s.clock.advance(Duration::from_secs(11));
    short
        .get_encryption_materials(request(&[], Some(1)))
        .await
        .unwrap();
    assert_eq!(s.keyring.encrypts(), 2);
}

#[tokio::test]
async fn an_entry_past_max_messages_is_not_reused() {
    let s = Setup::new(|b| b.limit_messages(3));
    let mut edks = Vec::new();
    for _ in 0..10 {
        let m = s
            .cmm
            .get_encryption_materials(request(&[], Some(10)))
            .await
            .unwrap();
        edks.push(first_edk(&m));
    }
    assert_eq!(s.keyring.encrypts(), 4); // ceil(10 / 3)
    for (i, chunk) in edks.chunks(3).enumerate() {
        assert!(chunk.iter().all(|e| *e == chunk[0]), "chunk {i}");
    }
    assert_ne!(edks[0], edks[3]);
    assert_ne!(edks[3], edks[6]);
    assert_ne!(edks[6], edks[9]);
}

#[tokio::test]
async fn the_byte_limit_is_honoured() {
    let s = Setup::new(|b| b.limit_bytes(1000));
    // 400-byte messages: two fit under 1000 bytes, the third needs a new data key.
    let mut per_key: Vec<(EncryptedDataKey, u64)> = Vec::new();
    for _ in 0..6 {
        let m = s
            .cmm
            .get_encryption_materials(request(&[], Some(400)))
            .await
            .unwrap();
        let edk = first_edk(&m);
        match per_key.iter_mut().find(|(e, _)| *e == edk) {
            Some((_, total)) => *total += 400,
            None => per_key.push((edk, 400)),
        }
    }
    assert_eq!(s.keyring.encrypts(), 3);
    assert!(per_key.iter().all(|(_, total)| *total <= 1000));

    // Exactly the limit is allowed; one more byte is not.
    let s = Setup::new(|b| b.limit_bytes(1000));
    let a = s
        .cmm
        .get_encryption_materials(request(&[], Some(1000)))
        .await
        .unwrap();
    let b = s
        .cmm
        .get_encryption_materials(request(&[], Some(0)))
        .await
        .unwrap();
    assert_eq!(first_edk(&a), first_edk(&b));
    s.cmm
        .get_encryption_materials(request(&[], Some(1)))
        .await
        .unwrap();
    assert_eq!(s.keyring.encrypts(), 2);

    // A message longer than the limit bypasses the cache entirely.
    let s = Setup::new(|b| b.limit_bytes(1000));
    for _ in 0..3 {
        s.cmm
            .get_encryption_materials(request(&[], Some(1001)))
            .await
            .unwrap();
    }
    assert_eq!(s.keyring.encrypts(), 3);
    assert!(s.cache.is_empty());
}

#[tokio::test]
async fn unknown_plaintext_length_bypasses_the_cache() {
    let keyring = CountingKeyring::new();
    let recorder = Recorder::new(keyring.clone(), None);
    let cache = Arc::new(LocalMaterialsCache::new(10));
    let cmm = CachingCmm::builder(recorder.clone(), cache.clone(), TTL)
        .limit_bytes(5000)
        .build()
        .unwrap();
    for _ in 0..3 {
        cmm.get_encryption_materials(request(&[], None))
            .await
            .unwrap();
    }
    assert_eq!(keyring.encrypts(), 3);
    assert!(cache.is_empty());
    // Bypassed requests reach the underlying CMM unchanged; cached fetches carry the byte
    // limit, the most plaintext the materials may protect.
    cmm.get_encryption_materials(request(&[], Some(10)))
        .await
        .unwrap();
    cmm.get_encryption_materials(request(&[], Some(10)))
        .await
        .unwrap();
    assert_eq!(keyring.encrypts(), 4);
    assert_eq!(recorder.lengths(), vec![None, None, None, Some(5000)]);
}

#[tokio::test]
async fn identity_kdf_suites_are_never_cached() {
    let s = Setup::new(|b| b);
    let client = Client::builder()
        .commitment_policy(CommitmentPolicy::FORBID_ENCRYPT_ALLOW_DECRYPT)
        .build();
    let source = s.source();
    for suite in [
        AlgorithmSuite::AES_128_GCM_IV12_TAG16_NO_KDF,
        AlgorithmSuite::AES_192_GCM_IV12_TAG16_NO_KDF,
        AlgorithmSuite::AES_256_GCM_IV12_TAG16_NO_KDF,
    ] {
        let before = (s.keyring.encrypts(), s.keyring.decrypts());
        let mut last = None;
        for _ in 0..3 {
            let msg = client
                .encrypt(&source, b"legacy")
                .algorithm_suite(suite)
                .await
                .unwrap();
            last = Some(msg.ciphertext);
        }
        let ct = last.unwrap();
        for _ in 0..3 {
            let out = client.decrypt(&source, &ct).await.unwrap();
            assert_eq!(out.plaintext, b"legacy");
        }
        assert_eq!(
            (s.keyring.encrypts(), s.keyring.decrypts()),
            (before.0 + 3, before.1 + 3),
            "{suite:?}"
        );
        assert!(s.cache.is_empty());
    }

    // Nor when the underlying CMM picks an identity suite on its own.
    let keyring = CountingKeyring::new();
    let cache = Arc::new(LocalMaterialsCache::new(10));
    let forced = Recorder::new(
        keyring.clone(),
        Some(AlgorithmSuite::AES_256_GCM_IV12_TAG16_NO_KDF),
    );
    let cmm = CachingCmm::builder(forced, cache.clone(), TTL)
        .build()
        .unwrap();
    for _ in 0..3 {
        let mut r = request(&[], Some(5));
        r.commitment_policy = CommitmentPolicy::FORBID_ENCRYPT_ALLOW_DECRYPT;
        let m = cmm.get_encryption_materials(r).await.unwrap();
        assert_eq!(
            m.algorithm_suite(),
            AlgorithmSuite::AES_256_GCM_IV12_TAG16_NO_KDF
        );
    }
    assert_eq!(keyring.encrypts(), 3);
    assert!(cache.is_empty());
}

#[tokio::test]
async fn requested_suite_and_context_are_part_of_the_entry() {
    let s = Setup::new(|b| b);
    let get = |suite: Option<AlgorithmSuite>, ec: &'static [(&'static str, &'static str)]| {
        let mut r = request(ec, Some(1));
        r.algorithm_suite = suite;
        s.cmm.get_encryption_materials(r)
    };
    let suite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
    let commit = Some(suite);
    let none = get(None, &[]).await.unwrap();
    assert_eq!(
        none.algorithm_suite(),
        AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
    );
    let with = get(commit, &[]).await.unwrap();
    assert_eq!(with.algorithm_suite(), suite);
    get(commit, &[("k", "v")]).await.unwrap();
    assert_eq!(s.keyring.encrypts(), 3);
    get(None, &[]).await.unwrap();
    get(commit, &[]).await.unwrap();
    get(commit, &[("k", "v")]).await.unwrap();
    assert_eq!(s.keyring.encrypts(), 3);
}

#[tokio::test]
async fn partitions_separate_cmms_sharing_a_cache() {
    let keyring = CountingKeyring::new();
    let cache = Arc::new(LocalMaterialsCache::new(10));
    let make = |partition: Option<&str>| {
        let b = CachingCmm::builder_with_keyring(keyring.clone(), cache.clone(), TTL);
        match partition {
            Some(p) => b.partition_id(p),
            None => b,
        }
        .build()
        .unwrap()
    };
    let (a, b) = (make(None), make(None));
    assert_ne!(a.partition_id(), b.partition_id());
    for p in [a.partition_id(), b.partition_id()] {
        let groups: Vec<usize> = p.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{p}");
        assert_eq!(&p[14..15], "4", "{p}");
    }
    a.get_encryption_materials(request(&[], Some(1)))
        .await
        .unwrap();
    b.get_encryption_materials(request(&[], Some(1)))
        .await
        .unwrap();
    assert_eq!(keyring.encrypts(), 2);

    let (c, d) = (make(Some("team")), make(Some("team")));
    let mc = c
        .get_encryption_materials(request(&[], Some(1)))
        .await
        .unwrap();
    let md = d
        .get_encryption_materials(request(&[], Some(1)))
        .await
        .unwrap();
    assert_eq!(keyring.encrypts(), 3);
    assert_eq!(first_edk(&mc), first_edk(&md));
}

/// Runs `tasks` concurrent encryption requests for one entry on the current thread, with the
/// keyring held at its gate until every task has started and none has finished.
async fn concurrent_encrypts(
    s: &Setup,
    gate: &Semaphore,
    tasks: usize,
) -> Vec<Result<EncryptionMaterials>> {
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let cmm = s.cmm.clone();
            tokio::spawn(async move {
                cmm.get_encryption_materials(request(&[("k", "v")], Some(100)))
                    .await
            })
        })
        .collect();
    while s.keyring.encrypts() == 0 {
        tokio::task::yield_now().await;
    }
    for _ in 0..tasks {
        tokio::task::yield_now().await;
    }
    assert!(
        handles.iter().all(|h| !h.is_finished()),
        "every task is waiting: the misses overlap"
    );
    gate.add_permits(tasks);
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_misses_cause_one_fetch() {
    let gate = Arc::new(Semaphore::new(0));
    let s = Setup::with_keyring(CountingKeyring::gated(gate.clone()), |b| b);
    let results = concurrent_encrypts(&s, &gate, 64).await;
    assert_eq!(s.keyring.encrypts(), 1);
    let keys: Vec<Vec<u8>> = results
        .into_iter()
        .map(|r| r.unwrap().data_key().unwrap().expose().to_vec())
        .collect();
    assert!(keys.iter().all(|k| *k == keys[0]));
    // Every task's message was counted against the entry.
    let id = s
        .cmm
        .encryption_entry_id(&request(&[("k", "v")], Some(100)))
        .unwrap();
    let entry = s.cache.get(&id, Usage::None).unwrap();
    assert_eq!((entry.messages_used(), entry.bytes_used()), (64, 6400));
    assert!(s.cmm.flights.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_misses_respect_the_message_limit() {
    // With room for 10 messages per data key, 64 concurrent requests need 7 data keys, and
    // no data key serves more than 10 of them.
    let gate = Arc::new(Semaphore::new(0));
    let s = Setup::with_keyring(CountingKeyring::gated(gate.clone()), |b| {
        b.limit_messages(10)
    });
    let results = concurrent_encrypts(&s, &gate, 64).await;
    assert_eq!(s.keyring.encrypts(), 7);
    let mut uses: HashMap<Vec<u8>, usize> = HashMap::new();
    for r in results {
        *uses
            .entry(r.unwrap().data_key().unwrap().expose().to_vec())
            .or_default() += 1;
    }
    assert_eq!(uses.len(), 7);
    assert!(uses.values().all(|&n| n <= 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_on_many_threads_cause_one_fetch_per_entry() {
    let gate = Arc::new(Semaphore::new(0));
    let s = Setup::with_keyring(CountingKeyring::gated(gate.clone()), |b| b);
    let handles: Vec<_> = (0..200)
        .map(|i| {
            let cmm = s.cmm.clone();
            tokio::spawn(async move {
                let tenant = if i % 2 == 0 { "even" } else { "odd" };
                let m = cmm
                    .get_encryption_materials(request(&[("tenant", tenant)], Some(1)))
                    .await
                    .unwrap();
                (tenant, m.data_key().unwrap().expose().to_vec())
            })
        })
        .collect();
    while s.keyring.encrypts() < 2 {
        tokio::task::yield_now().await;
    }
    gate.add_permits(1000);
    let mut keys: HashMap<&str, Vec<Vec<u8>>> = HashMap::new();
    for h in handles {
        let (tenant, key) = h.await.unwrap();
        keys.entry(tenant).or_default().push(key);
    }
    assert_eq!(s.keyring.encrypts(), 2, "one fetch per entry");
    for ks in keys.values() {
        assert_eq!(ks.len(), 100);
        assert!(ks.iter().all(|k| *k == ks[0]));
    }
    assert_ne!(keys["even"][0], keys["odd"][0]);
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_decrypt_misses_cause_one_fetch() {
    let gate = Arc::new(Semaphore::new(u32::MAX as usize >> 4));
    let s = Setup::with_keyring(CountingKeyring::gated(gate.clone()), |b| b);
    let client = Client::new();
    let msg = client.encrypt(s.source(), b"shared").await.unwrap();
    // Close the gate: take every permit.
    gate.forget_permits(gate.available_permits());
    let header = msg.header.clone();
    let handles: Vec<_> = (0..32)
        .map(|_| {
            let cmm = s.cmm.clone();
            let header = header.clone();
            tokio::spawn(async move {
                let r = DecryptMaterialsRequest::new(
                    &header,
                    CommitmentPolicy::REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
                    None,
                );
                cmm.decrypt_materials(r).await
            })
        })
        .collect();
    while s.keyring.decrypts() == 0 {
        tokio::task::yield_now().await;
    }
    for _ in 0..32 {
        tokio::task::yield_now().await;
    }
    assert!(handles.iter().all(|h| !h.is_finished()));
    gate.add_permits(32);
    for h in handles {
        assert!(h.await.unwrap().unwrap().data_key().is_some());
    }
    assert_eq!(s.keyring.decrypts(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_fetch_fails_its_waiters_once() {
    let gate = Arc::new(Semaphore::new(0));
    let s = Setup::with_keyring(CountingKeyring::build(Some(gate.clone()), true), |b| b);
    let results = concurrent_encrypts(&s, &gate, 16).await;
    assert_eq!(
        s.keyring.encrypts(),
        1,
        "waiters do not retry one after another"
    );
    for r in results {
        match r {
            Err(Error::Keyring(KeyringError::Service { message, .. })) => {
                assert_eq!(message, "key service unavailable")
            }
            other => panic!("expected the fetch's error, got {other:?}"),
        }
    }
    // A later request tries again.
    gate.add_permits(1);
    assert!(
        s.cmm
            .get_encryption_materials(request(&[("k", "v")], Some(100)))
            .await
            .is_err()
    );
    assert_eq!(s.keyring.encrypts(), 2);
    assert!(s.cache.is_empty());
    assert!(s.cmm.flights.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_cancelled_fetch_lets_the_next_waiter_fetch() {
    let gate = Arc::new(Semaphore::new(0));
    let s = Setup::with_keyring(CountingKeyring::gated(gate.clone()), |b| b);
    let spawn = || {
        let cmm = s.cmm.clone();
        tokio::spawn(async move { cmm.get_encryption_materials(request(&[], Some(1))).await })
    };
    let leader = spawn();
    while s.keyring.encrypts() == 0 {
        tokio::task::yield_now().await;
    }
    let waiter = spawn();
    tokio::task::yield_now().await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    gate.add_permits(1);
    let m = waiter.await.unwrap().unwrap();
    assert!(m.data_key().is_some());
    assert_eq!(s.keyring.encrypts(), 2);
    assert!(s.cmm.flights.lock().unwrap().is_empty());
}

#[tokio::test]
async fn required_pairs_must_be_supplied_even_when_cached() {
    let s = Setup::new(|b| b);
    let client = Client::new();
    let enc = MaterialsSource::cmm(RequiredEncryptionContextCmm::new(s.cmm.clone(), ["secret"]));
    let ec = [("secret", "s1"), ("public", "p")];
    let msg = client
        .encrypt(&enc, b"pt")
        .encryption_context(ec)
        .await
        .unwrap();
    let msg2 = client
        .encrypt(&enc, b"pt2")
        .encryption_context(ec)
        .await
        .unwrap();
    assert_eq!(s.keyring.encrypts(), 1);
    assert!(!msg2.header.encryption_context().contains_key("secret"));
    // Without the required key, the same context is another entry.
    let open = client
        .encrypt(s.source(), b"pt3")
        .encryption_context(ec)
        .await
        .unwrap();
    assert_eq!(s.keyring.encrypts(), 2);
    assert!(open.header.encryption_context().contains_key("secret"));

    let source = s.source();
    for _ in 0..2 {
        let out = client
            .decrypt(&source, &msg.ciphertext)
            .encryption_context([("secret", "s1")])
            .await
            .unwrap();
        assert_eq!(out.plaintext, b"pt");
    }
    assert_eq!(s.keyring.decrypts(), 1);
    // The cached entry is not served to a request that does not supply the pair, nor to one
    // that supplies another value.
    assert!(matches!(
        client.decrypt(&source, &msg.ciphertext).await,
        Err(Error::Authentication(AuthError::HeaderAuth) | Error::Keyring(_))
    ));
    assert!(
        client
            .decrypt(&source, &msg.ciphertext)
            .encryption_context([("secret", "s2")])
            .await
            .is_err()
    );
    assert_eq!(s.keyring.decrypts(), 3);
    // A reproduced pair that contradicts the header is refused before any lookup.
    let r = client
        .decrypt(&source, &msg.ciphertext)
        .encryption_context([("secret", "s1"), ("public", "other")])
        .into_future()
        .await;
    assert!(matches!(
        r,
        Err(Error::Policy(PolicyError::EncryptionContextMismatch(k))) if k == "public"
    ));
    assert_eq!(s.keyring.decrypts(), 3);
}

#[tokio::test]
async fn clients_with_different_policies_can_share_a_caching_cmm() {
    let s = Setup::new(|b| b);
    let source = s.source();
    let forbid = Client::builder()
        .commitment_policy(CommitmentPolicy::FORBID_ENCRYPT_ALLOW_DECRYPT)
        .build();
    let require = Client::new();
    let a = forbid.encrypt(&source, b"a").await.unwrap();
    let b = require.encrypt(&source, b"b").await.unwrap();
    let c = forbid.encrypt(&source, b"c").await.unwrap();
    assert_eq!(
        a.header.algorithm_suite(),
        AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384
    );
    assert_eq!(
        b.header.algorithm_suite(),
        AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
    );
    assert_eq!(c.header.algorithm_suite(), a.header.algorithm_suite());
    assert_eq!(s.keyring.encrypts(), 3);
}

#[test]
fn builder_checks_its_settings() {
    let keyring = CountingKeyring::new();
    let cache = Arc::new(LocalMaterialsCache::new(1));
    let b = |ttl| CachingCmm::builder_with_keyring(keyring.clone(), cache.clone(), ttl);
    assert!(matches!(
        b(Duration::ZERO).build(),
        Err(Error::ApiMisuse(_))
    ));
    assert!(matches!(
        b(TTL).limit_messages(0).build(),
        Err(Error::ApiMisuse(_))
    ));
    assert!(matches!(
        b(TTL).limit_messages((1 << 32) + 1).build(),
        Err(Error::ApiMisuse(_))
    ));
    let cmm = b(TTL).limit_messages(1 << 32).build().unwrap();
    assert_eq!(
        (cmm.limit_messages(), cmm.limit_bytes(), cmm.ttl()),
        (1 << 32, (1 << 63) - 1, TTL)
    );
    assert!(!format!("{cmm:?}").is_empty());
}
