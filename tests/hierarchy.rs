//! The hierarchical keyring with its DynamoDB branch key store, against stock moto (DynamoDB and
//! KMS on 127.0.0.1, `ESDK_KMS_ENDPOINT`).
//!
//! Start it with `source .ci/kms.sh start` (or `.ci/kms.sh run -- cargo test --test hierarchy`).
//! Without it every test prints a loud SKIP and returns, except under `CI=true`, where a missing
//! endpoint fails the test.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use esdk::cache::ManualClock;
use esdk::context::EncryptionContext;
use esdk::error::KeyringError;
use esdk::keyring::aws_kms::KmsClient;
use esdk::keyring::{
    BranchKeyMaterials, BranchKeySource, ContextKeyBranchKeyIdSupplier, HierarchicalKeyring,
    StaticBranchKeySource,
};
use esdk::keyring::{DynamoDbKeyStore, KmsConfiguration};
use esdk::{Client, Error};
use futures::future::BoxFuture;

const REGION: &str = "us-west-2";

fn endpoint() -> Option<String> {
    common::endpoint("ESDK_KMS_ENDPOINT", "the DynamoDB key store tests")
}

fn kms_sdk(endpoint: &str) -> aws_sdk_kms::Client {
    common::kms_sdk_client(endpoint, REGION)
}

fn ddb(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_dynamodb::config::Region::new(REGION))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

async fn kms_key(endpoint: &str) -> String {
    kms_sdk(endpoint)
        .create_key()
        .description("branch key store test")
        .send()
        .await
        .expect("CreateKey")
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("ARN")
        .to_owned()
}

fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn make_store(
    endpoint: &str,
    table: &str,
    logical: &str,
    config: KmsConfiguration,
) -> DynamoDbKeyStore {
    DynamoDbKeyStore::builder()
        .dynamodb_client(ddb(endpoint))
        .kms_client(KmsClient::from_sdk_client(kms_sdk(endpoint)))
        .table_name(table)
        .logical_key_store_name(logical)
        .kms_configuration(config)
        .build()
        .expect("key store")
}

/// A fresh table and KMS key, with the store over them.
async fn setup(endpoint: &str) -> (DynamoDbKeyStore, String) {
    let arn = kms_key(endpoint).await;
    let table = unique("bks");
    let s = make_store(
        endpoint,
        &table,
        &table,
        KmsConfiguration::KmsKeyArn(arn.clone()),
    );
    let table_arn = s.create_key_store().await.expect("create table");
    assert!(table_arn.contains(&table), "{table_arn}");
    (s, arn)
}

fn ec(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs.iter().copied().collect()
}

async fn items(endpoint: &str, table: &str, id: &str) -> Vec<HashMap<String, AttributeValue>> {
    ddb(endpoint)
        .query()
        .table_name(table)
        .key_condition_expression("#k = :id")
        .expression_attribute_names("#k", "branch-key-id")
        .expression_attribute_values(":id", AttributeValue::S(id.into()))
        .send()
        .await
        .expect("Query")
        .items
        .unwrap_or_default()
}

fn s<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> &'a str {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .unwrap_or_else(|| panic!("{name} missing or not S"))
}

#[tokio::test]
async fn create_table_create_key_version_and_read() {
    let Some(ep) = endpoint() else { return };
    let (store, arn) = setup(&ep).await;
    // CreateKeyStore again: the table is there with the right schema.
    store.create_key_store().await.expect("idempotent");

    let id = store
        .create_key(Some("tenant-a-key"), &ec(&[("department", "admin")]))
        .await
        .expect("CreateKey");
    assert_eq!(id, "tenant-a-key");
    let active1 = store.get_active_branch_key(&id).await.expect("active");
    assert_eq!(active1.branch_key_id(), id);
    assert_eq!(
        active1.encryption_context(),
        &ec(&[("department", "admin")])
    );
    let v1 = active1.version();
    let by_version = store.get_branch_key_version(&id, &v1).await.unwrap();
    assert_eq!(by_version.version(), v1);

    // The items, as every Material Providers Library writes them.
    let got = items(&ep, store.table_name(), &id).await;
    assert_eq!(got.len(), 3);
    let mut types: Vec<&str> = got.iter().map(|i| s(i, "type")).collect();
    types.sort();
    assert_eq!(
        types,
        [
            "beacon:ACTIVE",
            "branch:ACTIVE",
            &format!("branch:version:{v1}")[..]
        ]
    );
    for item in &got {
        assert_eq!(s(item, "kms-arn"), arn);
        assert_eq!(s(item, "aws-crypto-ec:department"), "admin");
        assert_eq!(item["hierarchy-version"], AttributeValue::N("1".into()));
        assert!(item["enc"].as_b().is_ok());
        let t = s(item, "create-time");
        assert!(
            t.len() == 27 && t.ends_with('Z') && t.as_bytes()[19] == b'.',
            "{t}"
        );
        let has_version = item.contains_key("version");
        assert_eq!(has_version, s(item, "type") == "branch:ACTIVE");
    }
    let active_item = got
        .iter()
        .find(|i| s(i, "type") == "branch:ACTIVE")
        .unwrap();
    assert_eq!(s(active_item, "version"), format!("branch:version:{v1}"));

    // A chosen ID needs an encryption context; the same ID twice fails.
    assert!(matches!(
        store.create_key(Some("x"), &EncryptionContext::new()).await,
        Err(Error::Keyring(KeyringError::InvalidConfiguration(_)))
    ));
    assert!(matches!(
        store
            .create_key(Some(&id), &ec(&[("department", "admin")]))
            .await,
        Err(Error::Keyring(KeyringError::Service { .. }))
    ));

    // VersionKey: a new active version, the old one still readable.
    store.version_key(&id).await.expect("VersionKey");
    let active2 = store.get_active_branch_key(&id).await.unwrap();
    let v2 = active2.version();
    assert_ne!(v1, v2);
    assert_eq!(
        active2.encryption_context(),
        &ec(&[("department", "admin")])
    );
    let old = store.get_branch_key_version(&id, &v1).await.unwrap();
    assert_eq!(old.version(), v1);
    assert_eq!(items(&ep, store.table_name(), &id).await.len(), 4);

    // The beacon key.
    let beacon = store.get_beacon_key(&id).await.unwrap();
    assert_eq!(beacon.key().len(), 32);
    assert_eq!(beacon.branch_key_id(), id);

    // A random ID when none is given.
    let random = store
        .create_key(None, &EncryptionContext::new())
        .await
        .unwrap();
    assert_eq!(random.len(), 36);
    store.get_active_branch_key(&random).await.unwrap();
}

/// Encrypts with `keyring`, returning the message.
async fn encrypt(
    keyring: &HierarchicalKeyring,
    context: &EncryptionContext,
    data: &[u8],
) -> esdk::EncryptOutput {
    Client::new()
        .encrypt(keyring.clone(), data)
        .encryption_context(context.iter())
        .await
        .expect("encrypt")
}

async fn decrypt(
    keyring: &HierarchicalKeyring,
    msg: &esdk::EncryptOutput,
) -> Result<Vec<u8>, Error> {
    Client::new()
        .decrypt(keyring.clone(), &msg.ciphertext)
        .await
        .map(|out| out.plaintext)
}

fn edk_version(msg: &esdk::EncryptOutput) -> String {
    let edk = &msg.header.encrypted_data_keys()[0];
    assert_eq!(edk.provider_id(), "aws-kms-hierarchy");
    let v: [u8; 16] = edk.ciphertext()[28..44].try_into().unwrap();
    BranchKeyMaterials::new("x", &uuid_text(&v), &[0; 32])
        .unwrap()
        .version()
}

fn uuid_text(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[tokio::test]
async fn keyring_round_trip_rotation_and_static_source_interop() {
    let Some(ep) = endpoint() else { return };
    let (store, _) = setup(&ep).await;
    let id = store
        .create_key(None, &EncryptionContext::new())
        .await
        .unwrap();
    let store = Arc::new(store);
    let keyring = HierarchicalKeyring::builder(store.clone())
        .branch_key_id(&id)
        .ttl(Duration::from_secs(600))
        .build()
        .unwrap();
    let context = ec(&[("purpose", "test")]);
    let msg1 = encrypt(&keyring, &context, b"first").await;
    assert_eq!(decrypt(&keyring, &msg1).await.unwrap(), b"first");
    let v1 = store.get_active_branch_key(&id).await.unwrap();
    assert_eq!(edk_version(&msg1), v1.version());

    // What the store-backed keyring wrote, a keyring over the same branch key held in memory
    // reads; and the other way round.
    let fixed = HierarchicalKeyring::new(Arc::new(StaticBranchKeySource::new(v1.clone())), &id);
    assert_eq!(decrypt(&fixed, &msg1).await.unwrap(), b"first");
    let from_static = encrypt(&fixed, &context, b"static").await;
    assert_eq!(decrypt(&keyring, &from_static).await.unwrap(), b"static");

    // Rotate. A fresh keyring (empty cache) encrypts under the new version and still decrypts
    // the old message.
    store.version_key(&id).await.unwrap();
    let v2 = store.get_active_branch_key(&id).await.unwrap().version();
    let fresh = HierarchicalKeyring::builder(store.clone())
        .branch_key_id(&id)
        .ttl(Duration::from_secs(600))
        .build()
        .unwrap();
    let msg2 = encrypt(&fresh, &context, b"second").await;
    assert_eq!(edk_version(&msg2), v2);
    assert_eq!(decrypt(&fresh, &msg1).await.unwrap(), b"first");
    assert_eq!(decrypt(&fresh, &msg2).await.unwrap(), b"second");
    // The old keyring's cache still holds version 1 as active until its TTL: it keeps
    // encrypting under v1, which is what the TTL means.
    assert_eq!(
        edk_version(&encrypt(&keyring, &context, b"x").await),
        v1.version()
    );
    // The static keyring holds v1 only: it cannot read a v2 message.
    assert!(matches!(
        decrypt(&fixed, &msg2).await,
        Err(Error::Keyring(KeyringError::NoDecryptableKey { .. }))
    ));
    // Another branch key ID does not match the message.
    let other = store
        .create_key(None, &EncryptionContext::new())
        .await
        .unwrap();
    let wrong = HierarchicalKeyring::new(store.clone(), other);
    assert!(matches!(
        decrypt(&wrong, &msg1).await,
        Err(Error::Keyring(KeyringError::NoDecryptableKey { .. }))
    ));
}

#[tokio::test]
async fn supplier_picks_the_branch_key_from_the_encryption_context() {
    let Some(ep) = endpoint() else { return };
    let (store, _) = setup(&ep).await;
    let a = store
        .create_key(Some("tenant-a"), &ec(&[("t", "a")]))
        .await
        .unwrap();
    let b = store
        .create_key(Some("tenant-b"), &ec(&[("t", "b")]))
        .await
        .unwrap();
    let store = Arc::new(store);
    let keyring = HierarchicalKeyring::builder(store.clone())
        .branch_key_id_supplier(Arc::new(ContextKeyBranchKeyIdSupplier::new("tenant")))
        .ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    assert_eq!(keyring.branch_key_id(), None);
    let msg_a = encrypt(&keyring, &ec(&[("tenant", &a)]), b"for a").await;
    let msg_b = encrypt(&keyring, &ec(&[("tenant", &b)]), b"for b").await;
    assert_eq!(
        msg_b.header.encrypted_data_keys()[0].provider_info(),
        b"tenant-b"
    );
    assert_eq!(decrypt(&keyring, &msg_a).await.unwrap(), b"for a");
    assert_eq!(decrypt(&keyring, &msg_b).await.unwrap(), b"for b");
    // A keyring fixed on tenant-a reads only tenant-a's message.
    let only_a = HierarchicalKeyring::new(store.clone(), "tenant-a");
    assert_eq!(decrypt(&only_a, &msg_a).await.unwrap(), b"for a");
    assert!(decrypt(&only_a, &msg_b).await.is_err());
    // No tenant in the context: a typed error from the supplier.
    let err = Client::new()
        .encrypt(keyring.clone(), b"x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Keyring(KeyringError::InvalidConfiguration(_))),
        "{err:?}"
    );
}

/// Counts the calls reaching the store.
#[derive(Debug)]
struct Counting {
    inner: Arc<DynamoDbKeyStore>,
    calls: AtomicUsize,
}

impl BranchKeySource for Counting {
    fn active_branch_key<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, esdk::Result<BranchKeyMaterials>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.active_branch_key(id)
    }

    fn branch_key_version<'a>(
        &'a self,
        id: &'a str,
        version: &'a str,
    ) -> BoxFuture<'a, esdk::Result<BranchKeyMaterials>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.branch_key_version(id, version)
    }

    fn logical_key_store_name(&self) -> &str {
        self.inner.logical_key_store_name()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_tracking_cache_picks_up_a_rotation_before_expiry() {
    let Some(ep) = endpoint() else { return };
    let (store, _) = setup(&ep).await;
    let id = store
        .create_key(None, &EncryptionContext::new())
        .await
        .unwrap();
    let store = Arc::new(store);
    let counting = Arc::new(Counting {
        inner: store.clone(),
        calls: AtomicUsize::new(0),
    });
    let clock = Arc::new(ManualClock::new());
    let keyring = HierarchicalKeyring::builder(counting.clone())
        .branch_key_id(&id)
        .ttl(Duration::from_secs(60))
        .cache(esdk::cache::StormTrackingCache::new())
        .clock(clock.clone())
        .build()
        .unwrap();
    let context = ec(&[("k", "v")]);
    let first = encrypt(&keyring, &context, b"one").await;
    store.version_key(&id).await.unwrap();
    // Outside the grace period (the last 10 s of the TTL): the cached version.
    clock.advance(Duration::from_secs(49));
    let second = encrypt(&keyring, &context, b"two").await;
    assert_eq!(counting.calls.load(Ordering::SeqCst), 1);
    assert_eq!(edk_version(&first), edk_version(&second));
    // Inside it: one refresh from the store, which brings the rotated version, then hits.
    clock.advance(Duration::from_secs(2));
    let third = encrypt(&keyring, &context, b"three").await;
    encrypt(&keyring, &context, b"four").await;
    assert_eq!(counting.calls.load(Ordering::SeqCst), 2);
    assert_ne!(edk_version(&first), edk_version(&third));
    for (m, want) in [(&first, &b"one"[..]), (&third, &b"three"[..])] {
        assert_eq!(decrypt(&keyring, m).await.unwrap(), want);
    }
    assert_eq!(
        counting.calls.load(Ordering::SeqCst),
        4,
        "one read per version"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branch_key_cache_ttl_and_single_fetch_against_the_store() {
    let Some(ep) = endpoint() else { return };
    let (store, _) = setup(&ep).await;
    let id = store
        .create_key(None, &EncryptionContext::new())
        .await
        .unwrap();
    let counting = Arc::new(Counting {
        inner: Arc::new(store),
        calls: AtomicUsize::new(0),
    });
    let clock = Arc::new(ManualClock::new());
    let keyring = HierarchicalKeyring::builder(counting.clone())
        .branch_key_id(&id)
        .ttl(Duration::from_secs(300))
        .cache_capacity(10)
        .clock(clock.clone())
        .build()
        .unwrap();
    let context = ec(&[("k", "v")]);
    // Eight concurrent encryptions with a cold cache: one store read.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let k = keyring.clone();
            let c = context.clone();
            tokio::spawn(async move { encrypt(&k, &c, format!("m{i}").as_bytes()).await })
        })
        .collect();
    let mut msgs = Vec::new();
    for t in tasks {
        msgs.push(t.await.unwrap());
    }
    assert_eq!(counting.calls.load(Ordering::SeqCst), 1);
    // Decrypting: one read of the version, then hits.
    for m in &msgs {
        decrypt(&keyring, m).await.unwrap();
    }
    assert_eq!(counting.calls.load(Ordering::SeqCst), 2);
    // Within the TTL: still cached. Past it: read again.
    clock.advance(Duration::from_secs(300));
    encrypt(&keyring, &context, b"x").await;
    assert_eq!(counting.calls.load(Ordering::SeqCst), 2);
    clock.advance(Duration::from_secs(1));
    encrypt(&keyring, &context, b"x").await;
    assert_eq!(counting.calls.load(Ordering::SeqCst), 3);
    // Builder checks.
    assert!(
        HierarchicalKeyring::builder(counting.clone())
            .branch_key_id(&id)
            .ttl(Duration::ZERO)
            .build()
            .is_err()
    );
    assert!(
        HierarchicalKeyring::builder(counting.clone())
            .ttl(Duration::from_secs(1))
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn failures_are_typed() {
    let Some(ep) = endpoint() else { return };
    let (store, arn) = setup(&ep).await;
    let id = store
        .create_key(Some("bk"), &ec(&[("a", "b")]))
        .await
        .unwrap();

    // Missing keys.
    match store.get_active_branch_key("nope").await {
        Err(Error::Keyring(KeyringError::BranchKeyNotFound {
            branch_key_id,
            item_type,
        })) => {
            assert_eq!(branch_key_id, "nope");
            assert_eq!(item_type, "branch:ACTIVE");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store
            .get_branch_key_version(&id, "00000000-0000-4000-8000-000000000000")
            .await,
        Err(Error::Keyring(KeyringError::BranchKeyNotFound { .. }))
    ));
    assert!(matches!(
        store.version_key("nope").await,
        Err(Error::Keyring(KeyringError::BranchKeyNotFound { .. }))
    ));

    // Another logical name over the same table: KMS refuses (the name is in the context).
    let renamed = make_store(
        &ep,
        store.table_name(),
        "another-name",
        KmsConfiguration::KmsKeyArn(arn.clone()),
    );
    assert!(matches!(
        renamed.get_active_branch_key(&id).await,
        Err(Error::Keyring(KeyringError::Service { .. }))
    ));
    // Another KMS key configured: the item's kms-arn is refused before any KMS call.
    let other_arn = kms_key(&ep).await;
    let other_key = make_store(
        &ep,
        store.table_name(),
        store.logical_key_store_name(),
        KmsConfiguration::KmsKeyArn(other_arn),
    );
    assert!(matches!(
        other_key.get_active_branch_key(&id).await,
        Err(Error::Keyring(KeyringError::KeyStore(_)))
    ));
    // Discovery reads, but neither creates nor rotates.
    let discovery = make_store(
        &ep,
        store.table_name(),
        store.logical_key_store_name(),
        KmsConfiguration::Discovery,
    );
    discovery.get_active_branch_key(&id).await.unwrap();
    assert!(matches!(
        discovery.create_key(None, &EncryptionContext::new()).await,
        Err(Error::Keyring(KeyringError::Unsupported(_)))
    ));
    assert!(matches!(
        discovery.version_key(&id).await,
        Err(Error::Keyring(KeyringError::Unsupported(_)))
    ));
    // Aliases are refused at configuration.
    assert!(
        DynamoDbKeyStore::builder()
            .dynamodb_client(ddb(&ep))
            .kms_client(KmsClient::from_sdk_client(kms_sdk(&ep)))
            .table_name("t")
            .logical_key_store_name("t")
            .kms_configuration(KmsConfiguration::KmsKeyArn(
                "arn:aws:kms:us-west-2:123456789012:alias/a".into()
            ))
            .build()
            .is_err()
    );

    // A tampered item: an attribute changed in DynamoDB no longer matches the KMS context.
    let client = ddb(&ep);
    let mut item = items(&ep, store.table_name(), &id)
        .await
        .into_iter()
        .find(|i| s(i, "type") == "branch:ACTIVE")
        .unwrap();
    item.insert(
        "aws-crypto-ec:a".into(),
        AttributeValue::S("changed".into()),
    );
    client
        .put_item()
        .table_name(store.table_name())
        .set_item(Some(item.clone()))
        .send()
        .await
        .unwrap();
    assert!(matches!(
        store.get_active_branch_key(&id).await,
        Err(Error::Keyring(KeyringError::Service { .. }))
    ));
    // VersionKey authenticates the active item first: it refuses to rotate the tampered one.
    assert!(matches!(
        store.version_key(&id).await,
        Err(Error::Keyring(KeyringError::Service { .. }))
    ));
    // A malformed item: `enc` missing.
    item.remove("enc");
    client
        .put_item()
        .table_name(store.table_name())
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
    assert!(matches!(
        store.get_active_branch_key(&id).await,
        Err(Error::Keyring(KeyringError::KeyStore(_)))
    ));

    // A table with another key schema is refused by CreateKeyStore.
    let odd = unique("odd");
    client
        .create_table()
        .table_name(&odd)
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let odd_store = make_store(&ep, &odd, &odd, KmsConfiguration::KmsKeyArn(arn));
    assert!(matches!(
        odd_store.create_key_store().await,
        Err(Error::Keyring(KeyringError::KeyStore(_)))
    ));
}

#[tokio::test]
async fn concurrent_rotations_do_not_lose_a_version() {
    let Some(ep) = endpoint() else { return };
    let (store, _) = setup(&ep).await;
    let id = store
        .create_key(None, &EncryptionContext::new())
        .await
        .unwrap();
    let (a, b) = tokio::join!(store.version_key(&id), store.version_key(&id));
    // Either both went through one after the other, or the second lost the race on the ACTIVE
    // item's condition; never two "active" versions with one of them missing.
    let ok = [a.is_ok(), b.is_ok()].iter().filter(|x| **x).count();
    assert!(ok >= 1);
    let all = items(&ep, store.table_name(), &id).await;
    assert_eq!(
        all.len(),
        3 + ok,
        "one version item per successful rotation"
    );
    let active = store.get_active_branch_key(&id).await.unwrap();
    store
        .get_branch_key_version(&id, &active.version())
        .await
        .unwrap();
}

#[tokio::test]
async fn python_mpl_reads_our_store_and_we_read_its() {
    let Some(ep) = endpoint() else { return };
    let Some(python) =
        common::peers_python("hierarchical keyring / key store interop with the Python MPL")
    else {
        return;
    };
    let (store, arn) = setup(&ep).await;
    let store = Arc::new(store);

    // Ours: one key used as created, one rotated (its message under the first version).
    let plain = store
        .create_key(None, &EncryptionContext::new())
        .await
        .unwrap();
    let rotated = store
        .create_key(Some("esdk-rotated"), &ec(&[("origin", "esdk")]))
        .await
        .unwrap();
    let mut cases = Vec::new();
    let mut expected_versions = Vec::new();
    for (name, id, rotate) in [("plain", &plain, false), ("rotated", &rotated, true)] {
        let keyring = HierarchicalKeyring::builder(store.clone())
            .branch_key_id(id)
            .ttl(Duration::from_secs(60))
            .build()
            .unwrap();
        let pt = format!("esdk to python: {name}").into_bytes();
        let msg = encrypt(&keyring, &ec(&[("writer", "esdk")]), &pt).await;
        if rotate {
            store.version_key(id).await.unwrap();
            assert_ne!(
                edk_version(&msg),
                store.get_active_branch_key(id).await.unwrap().version()
            );
        }
        expected_versions.push(store.get_active_branch_key(id).await.unwrap().version());
        cases.push(serde_json::json!({
            "name": name, "branch_key_id": id,
            "ciphertext": common::hex(&msg.ciphertext), "plaintext": common::hex(&pt),
        }));
    }
    let python_key = unique("py");
    let job = serde_json::json!({
        "endpoint": ep, "region": REGION, "table": store.table_name(),
        "logical": store.logical_key_store_name(), "kms_arn": arn,
        "messages": cases, "python_branch_key_id": python_key,
    });
    let dir = std::env::temp_dir().join(unique("esdk-hierarchy-python"));
    std::fs::create_dir_all(&dir).unwrap();
    let (job_file, out_file) = (dir.join("job.json"), dir.join("out.json"));
    std::fs::write(&job_file, serde_json::to_vec(&job).unwrap()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/hierarchy_with_python.py");
    let mut cmd = std::process::Command::new(&python);
    cmd.arg(script).arg(&job_file).arg(&out_file);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("OK python decrypts").count(), 2, "{stdout}");
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    // The MPL saw the same active versions and custom encryption context.
    for (seen, want) in result["ours"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&expected_versions)
    {
        assert_eq!(seen["active_version"], want.as_str());
    }
    assert_eq!(result["ours"][1]["encryption_context"]["origin"], "esdk");

    // What the MPL wrote, our store reads and our keyring decrypts (both versions).
    let theirs = &result["theirs"];
    let id = theirs["branch_key_id"].as_str().unwrap();
    assert_eq!(id, python_key);
    let active = store.get_active_branch_key(id).await.unwrap();
    assert_eq!(active.encryption_context(), &ec(&[("origin", "python")]));
    store.get_beacon_key(id).await.unwrap();
    let keyring = HierarchicalKeyring::builder(store.clone())
        .branch_key_id(id)
        .ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    let msgs = theirs["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_ne!(msgs[0]["version"], msgs[1]["version"]);
    assert_eq!(msgs[1]["version"], active.version().as_str());
    for m in msgs {
        let out = Client::new()
            .decrypt(
                keyring.clone(),
                &common::unhex(m["ciphertext"].as_str().unwrap()),
            )
            .await
            .expect("decrypt the MPL's message");
        assert_eq!(
            out.plaintext,
            common::unhex(m["plaintext"].as_str().unwrap())
        );
        assert_eq!(out.encryption_context.get("writer"), Some("python"));
    }
    // Our rotation of the MPL's key, read back by a fresh keyring.
    store.version_key(id).await.unwrap();
    assert_ne!(
        store.get_active_branch_key(id).await.unwrap().version(),
        active.version()
    );
}

#[allow(dead_code)]
#[path = "../examples/hierarchical.rs"]
mod hierarchical_example;

#[tokio::test]
async fn hierarchical_example_runs_against_local_moto() {
    let Some(ep) = endpoint() else { return };
    let summary = hierarchical_example::demo(hierarchical_example::Settings {
        endpoint: Some(ep),
        kms_key_arn: None,
        table: unique("example"),
    })
    .await
    .expect("example demo");
    eprintln!("{summary}");
    assert!(summary.contains("still decrypts"), "{summary}");
}
