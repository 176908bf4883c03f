//! AWS KMS keyrings against a real local KMS (moto on 127.0.0.1).
//!
//! Start the servers with `source .ci/kms.sh start` (or `.ci/kms.sh run -- cargo test --test kms`):
//!
//! * `ESDK_KMS_ENDPOINT`: stock moto, for what stock moto serves correctly (symmetric keys,
//!   aliases, several Regions, discovery);
//! * `ESDK_KMS_MRK_ENDPOINT`: `../shared/kms/moto_kms_esdk.py` (moto with fixes for multi-Region
//!   keys, disabled keys and cross-Region ARNs) started on a copy of the KMS vectors' state.
//!
//! Without them every test here prints a loud SKIP and returns, except under `CI=true`, where a
//! missing endpoint fails the test.

mod common;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use esdk::error::KeyringError;
use esdk::keyring::aws_kms::{
    AwsKmsDiscoveryKeyring, AwsKmsKeyring, AwsKmsMrkDiscoveryKeyring, AwsKmsMrkKeyring,
    AwsKmsMultiKeyring, ClientSupplier, DefaultClientSupplier, DiscoveryFilter, KmsClient,
};
use esdk::{Client, Error, MaterialsSource};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const ACCOUNT: &str = "123456789012";
const WEST: &str = "us-west-2";
const EAST: &str = "us-east-1";
/// A generous bound on any one test step: reaching it means something hung.
const HANG: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Servers and clients

/// Stock moto's endpoint, or `None` (skip).
fn stock() -> Option<String> {
    common::endpoint("ESDK_KMS_ENDPOINT", "the tests against stock moto")
}

/// The fixed launcher's endpoint, or `None` (skip).
fn fixed() -> Option<String> {
    common::endpoint(
        "ESDK_KMS_MRK_ENDPOINT",
        "the tests that need ../shared/kms/moto_kms_esdk.py (multi-Region keys, disabled keys, KMS vectors)",
    )
}

fn kms(endpoint: &str, region: &str) -> KmsClient {
    KmsClient::from_sdk_client(common::kms_sdk_client(endpoint, region))
}

/// The crate's own supplier, pointed at a local server.
fn supplier(endpoint: &str) -> Arc<dyn ClientSupplier> {
    Arc::new(
        DefaultClientSupplier::builder()
            .endpoint_url(endpoint)
            .static_credentials("test", "test", None)
            .build(),
    )
}

async fn create_key(endpoint: &str, region: &str, description: &str) -> String {
    let out = common::kms_sdk_client(endpoint, region)
        .create_key()
        .description(description)
        .send()
        .await
        .expect("CreateKey");
    out.key_metadata()
        .and_then(|m| m.arn())
        .expect("key ARN")
        .to_owned()
}

/// A multi-Region key in `us-west-2` and its replica in `us-east-1`.
async fn create_mrk(endpoint: &str) -> (String, String) {
    let primary = common::kms_sdk_client(endpoint, WEST)
        .create_key()
        .multi_region(true)
        .description("esdk tests: mrk")
        .send()
        .await
        .expect("CreateKey (multi-Region)");
    let arn = primary
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("ARN")
        .to_owned();
    assert!(arn.contains(":key/mrk-"), "{arn}");
    let replica = common::kms_sdk_client(endpoint, WEST)
        .replicate_key()
        .key_id(&arn)
        .replica_region(EAST)
        .send()
        .await
        .expect("ReplicateKey");
    let replica_arn = replica
        .replica_key_metadata()
        .and_then(|m| m.arn())
        .expect("replica ARN")
        .to_owned();
    assert_eq!(replica_arn, arn.replace(WEST, EAST));
    (arn, replica_arn)
}

fn ec() -> [(&'static str, &'static str); 2] {
    [("purpose", "esdk kms tests"), ("tenant", "42")]
}

async fn encrypt(
    source: impl Into<MaterialsSource>,
    plaintext: &[u8],
) -> esdk::Result<esdk::EncryptOutput> {
    let client = Client::new();
    tokio::time::timeout(
        HANG,
        client
            .encrypt(source, plaintext)
            .encryption_context(ec())
            .into_future(),
    )
    .await
    .expect("encrypt hung")
}

async fn decrypt(source: impl Into<MaterialsSource>, ciphertext: &[u8]) -> esdk::Result<Vec<u8>> {
    let client = Client::new();
    tokio::time::timeout(
        HANG,
        client
            .decrypt(source, ciphertext)
            .encryption_context(ec())
            .into_future(),
    )
    .await
    .expect("decrypt hung")
    .map(|out| out.plaintext)
}

fn edk_arns(msg: &esdk::EncryptOutput) -> Vec<String> {
    msg.header
        .encrypted_data_keys()
        .iter()
        .map(|e| {
            assert_eq!(e.provider_id(), "aws-kms");
            String::from_utf8(e.provider_info().to_vec()).expect("UTF-8 provider info")
        })
        .collect()
}

fn is_no_decryptable_key(e: &Error) -> bool {
    matches!(e, Error::Keyring(KeyringError::NoDecryptableKey { .. }))
}

// ---------------------------------------------------------------------------------------------
// Round trips, stock moto

#[tokio::test]
async fn strict_keyring_round_trip() {
    let Some(ep) = stock() else { return };
    let arn = create_key(&ep, WEST, "esdk tests: strict").await;
    let keyring = AwsKmsKeyring::new(&arn, kms(&ep, WEST))
        .unwrap()
        .grant_tokens(["grant-token-1"]);
    let msg = encrypt(keyring.clone(), b"kms round trip").await.unwrap();
    assert_eq!(edk_arns(&msg), [arn.as_str()]);
    assert_eq!(
        decrypt(keyring.clone(), &msg.ciphertext).await.unwrap(),
        b"kms round trip"
    );
    // Every suite's data key length is asked for and checked (16, 24 and 32 bytes).
    for suite in [
        esdk::AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256,
        esdk::AlgorithmSuite::AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
    ] {
        let client = Client::builder()
            .commitment_policy(esdk::CommitmentPolicy::FORBID_ENCRYPT_ALLOW_DECRYPT)
            .build();
        let msg = client
            .encrypt(keyring.clone(), b"legacy suite")
            .algorithm_suite(suite)
            .await
            .unwrap();
        let out = client
            .decrypt(keyring.clone(), &msg.ciphertext)
            .await
            .unwrap();
        assert_eq!(out.plaintext, b"legacy suite");
    }
}

#[tokio::test]
async fn wrong_encryption_context_is_refused_by_kms() {
    let Some(ep) = stock() else { return };
    let arn = create_key(&ep, WEST, "esdk tests: ec").await;
    let keyring = AwsKmsKeyring::new(&arn, kms(&ep, WEST)).unwrap();
    // Encrypt the data key by hand under one context, then ask the keyring to unwrap it
    // under another.
    let msg = encrypt(keyring.clone(), b"x").await.unwrap();
    let mut materials = esdk::DecryptionMaterials::new(
        msg.header.algorithm_suite(),
        [("purpose", "something else")].into_iter().collect(),
        vec![],
        None,
    );
    let edks = msg.header.encrypted_data_keys().to_vec();
    use esdk::Keyring;
    let err = keyring
        .on_decrypt(materials.clone(), &edks)
        .await
        .unwrap_err();
    match &err {
        Error::Keyring(KeyringError::Service {
            key_id,
            message,
            source,
        }) => {
            assert_eq!(key_id, &arn);
            assert!(message.contains("InvalidCiphertextException"), "{message}");
            assert!(source.is_some(), "the SDK error is kept as the source");
        }
        other => panic!("expected a service error, got {other}"),
    }
    assert!(std::error::Error::source(&err).is_some());
    // The right context unwraps the same EDK.
    materials = esdk::DecryptionMaterials::new(
        msg.header.algorithm_suite(),
        msg.encryption_context.clone(),
        vec![],
        None,
    );
    assert!(
        keyring
            .on_decrypt(materials, &edks)
            .await
            .unwrap()
            .data_key()
            .is_some()
    );
}

#[tokio::test]
async fn alias_keyring_encrypts_but_only_the_arn_decrypts() {
    let Some(ep) = stock() else { return };
    let arn = create_key(&ep, WEST, "esdk tests: alias").await;
    let alias = format!("alias/esdk-tests-{}", &arn[arn.len() - 12..]);
    common::kms_sdk_client(&ep, WEST)
        .create_alias()
        .alias_name(&alias)
        .target_key_id(&arn)
        .send()
        .await
        .expect("CreateAlias");
    let by_alias = AwsKmsKeyring::new(&alias, kms(&ep, WEST)).unwrap();
    let msg = encrypt(by_alias.clone(), b"aliased").await.unwrap();
    assert_eq!(
        edk_arns(&msg),
        [arn.as_str()],
        "the EDK names the key ARN KMS returned"
    );
    let err = decrypt(by_alias, &msg.ciphertext).await.unwrap_err();
    assert!(is_no_decryptable_key(&err), "{err}");
    let by_arn = AwsKmsKeyring::new(&arn, kms(&ep, WEST)).unwrap();
    assert_eq!(decrypt(by_arn, &msg.ciphertext).await.unwrap(), b"aliased");
}

#[tokio::test]
async fn strict_keyring_refuses_edks_of_keys_it_was_not_given() {
    let Some(ep) = stock() else { return };
    let a = create_key(&ep, WEST, "esdk tests: listed").await;
    let b = create_key(&ep, WEST, "esdk tests: not listed").await;
    let msg = encrypt(AwsKmsKeyring::new(&b, kms(&ep, WEST)).unwrap(), b"for b")
        .await
        .unwrap();
    // Key A exists and the caller may use it, but the message was wrapped under B only.
    let err = decrypt(
        AwsKmsKeyring::new(&a, kms(&ep, WEST)).unwrap(),
        &msg.ciphertext,
    )
    .await
    .unwrap_err();
    assert!(is_no_decryptable_key(&err), "{err}");
    assert!(
        err.to_string().contains("no encrypted data key matches"),
        "{err}"
    );
    // A key id differing only in case is another string: refused too.
    let split = b.find("key/").unwrap() + 4;
    let upper = format!("{}{}", &b[..split], b[split..].to_uppercase());
    assert!(
        decrypt(
            AwsKmsKeyring::new(&upper, kms(&ep, WEST)).unwrap(),
            &msg.ciphertext
        )
        .await
        .is_err()
    );
}

#[tokio::test]
async fn multi_keyring_with_keys_in_two_regions() {
    let Some(ep) = stock() else { return };
    let generator = create_key(&ep, WEST, "esdk tests: multi generator").await;
    let east = create_key(&ep, EAST, "esdk tests: multi east").await;
    let west = create_key(&ep, WEST, "esdk tests: multi west").await;
    let supplier = supplier(&ep);
    let multi = AwsKmsMultiKeyring::strict()
        .generator(&generator)
        .key_ids([&east, &west])
        .client_supplier(supplier.clone())
        .grant_tokens(["t1"])
        .build()
        .await
        .unwrap();
    let msg = encrypt(multi.clone(), b"two regions").await.unwrap();
    assert_eq!(
        edk_arns(&msg),
        [generator.clone(), east.clone(), west.clone()],
        "configured order"
    );
    assert_eq!(
        decrypt(multi, &msg.ciphertext).await.unwrap(),
        b"two regions"
    );
    // Each key alone, with a client in its own Region, decrypts.
    for (arn, region) in [(&generator, WEST), (&east, EAST), (&west, WEST)] {
        let k = AwsKmsKeyring::new(arn, kms(&ep, region)).unwrap();
        assert_eq!(
            decrypt(k, &msg.ciphertext).await.unwrap(),
            b"two regions",
            "{arn}"
        );
    }
    // Children only: the materials must already carry a data key, so encryption fails.
    let children_only = AwsKmsMultiKeyring::strict()
        .key_ids([&east])
        .client_supplier(supplier.clone())
        .build()
        .await
        .unwrap();
    assert!(matches!(
        encrypt(children_only, b"x").await.unwrap_err(),
        Error::Keyring(KeyringError::InvalidMaterials(_))
    ));
    // Configuration errors.
    assert!(AwsKmsMultiKeyring::strict().build().await.is_err());
    assert!(
        AwsKmsMultiKeyring::strict()
            .generator("arn:aws:kms:us-west-2")
            .build()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn discovery_limited_by_account() {
    let Some(ep) = stock() else { return };
    let west = create_key(&ep, WEST, "esdk tests: discovery west").await;
    let east = create_key(&ep, EAST, "esdk tests: discovery east").await;
    let s = supplier(&ep);
    let writer = AwsKmsMultiKeyring::strict()
        .generator(&east)
        .key_ids([&west])
        .client_supplier(s.clone())
        .build()
        .await
        .unwrap();
    let msg = encrypt(writer, b"discover me").await.unwrap();
    let filter = DiscoveryFilter::new("aws", [ACCOUNT]).unwrap();
    // One discovery keyring per Region, limited to our account.
    let discovery = AwsKmsMultiKeyring::discovery([WEST, EAST])
        .filter(filter.clone())
        .client_supplier(s.clone())
        .build()
        .await
        .unwrap();
    assert_eq!(
        decrypt(discovery, &msg.ciphertext).await.unwrap(),
        b"discover me"
    );
    // A single discovery keyring with a user-passed client.
    let single = AwsKmsDiscoveryKeyring::new(kms(&ep, EAST)).filter(filter);
    assert_eq!(
        decrypt(single.clone(), &msg.ciphertext).await.unwrap(),
        b"discover me"
    );
    // Discovery keyrings never encrypt.
    assert!(matches!(
        encrypt(single, b"x").await.unwrap_err(),
        Error::Keyring(KeyringError::Unsupported(_))
    ));
}

#[tokio::test]
async fn wrong_account_or_partition_filter_refuses() {
    let Some(ep) = stock() else { return };
    let arn = create_key(&ep, WEST, "esdk tests: filter").await;
    let msg = encrypt(
        AwsKmsKeyring::new(&arn, kms(&ep, WEST)).unwrap(),
        b"filtered",
    )
    .await
    .unwrap();
    for filter in [
        DiscoveryFilter::new("aws", ["111111111111", "222222222222"]).unwrap(),
        DiscoveryFilter::new("aws-cn", [ACCOUNT]).unwrap(),
    ] {
        let k = AwsKmsDiscoveryKeyring::new(kms(&ep, WEST)).filter(filter.clone());
        let err = decrypt(k, &msg.ciphertext).await.unwrap_err();
        assert!(is_no_decryptable_key(&err), "{filter:?}: {err}");
        let multi = AwsKmsMultiKeyring::discovery([WEST])
            .filter(filter.clone())
            .client_supplier(supplier(&ep))
            .build()
            .await
            .unwrap();
        assert!(is_no_decryptable_key(
            &decrypt(multi, &msg.ciphertext).await.unwrap_err()
        ));
    }
    assert!(
        AwsKmsMultiKeyring::discovery(Vec::<String>::new())
            .build()
            .await
            .is_err()
    );
    assert!(AwsKmsMultiKeyring::discovery([""]).build().await.is_err());
}

#[tokio::test]
async fn invalid_provider_info_fails_decryption() {
    let Some(ep) = stock() else { return };
    let arn = create_key(&ep, WEST, "esdk tests: provider info").await;
    let keyring = AwsKmsKeyring::new(&arn, kms(&ep, WEST)).unwrap();
    let msg = encrypt(keyring.clone(), b"x").await.unwrap();
    let good = msg.header.encrypted_data_keys()[0].clone();
    let alias_info = esdk::EncryptedDataKey::new(
        "aws-kms",
        b"arn:aws:kms:us-west-2:123456789012:alias/a".to_vec(),
        vec![1],
    );
    let materials = esdk::DecryptionMaterials::new(
        msg.header.algorithm_suite(),
        msg.encryption_context.clone(),
        vec![],
        None,
    );
    use esdk::Keyring;
    // An aws-kms EDK whose provider info is not a key ARN fails the call, even next to a good one.
    let err = keyring
        .on_decrypt(materials.clone(), &[alias_info, good.clone()])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Keyring(KeyringError::InvalidKey(_))),
        "{err}"
    );
    // EDKs of other providers are ignored.
    let other = esdk::EncryptedDataKey::new("raw-aes", b"whatever".to_vec(), vec![0; 48]);
    assert!(keyring.on_decrypt(materials, &[other, good]).await.is_ok());
}

// ---------------------------------------------------------------------------------------------
// Multi-Region keys: the fixed launcher

#[tokio::test]
async fn mrk_keyrings_decrypt_with_a_replica() {
    let Some(ep) = fixed() else { return };
    let (primary, replica) = create_mrk(&ep).await;
    let writer = AwsKmsMrkKeyring::new(&primary, kms(&ep, WEST)).unwrap();
    let msg = encrypt(writer.clone(), b"multi-region").await.unwrap();
    assert_eq!(edk_arns(&msg), [primary.as_str()]);
    assert_eq!(
        decrypt(writer, &msg.ciphertext).await.unwrap(),
        b"multi-region"
    );

    // The replica in us-east-1 decrypts a data key wrapped by the primary in us-west-2...
    let mrk_east = AwsKmsMrkKeyring::new(&replica, kms(&ep, EAST)).unwrap();
    assert_eq!(
        decrypt(mrk_east, &msg.ciphertext).await.unwrap(),
        b"multi-region"
    );
    // ...but the strict keyring wants the exact ARN.
    let strict_east = AwsKmsKeyring::new(&replica, kms(&ep, EAST)).unwrap();
    assert!(is_no_decryptable_key(
        &decrypt(strict_east, &msg.ciphertext).await.unwrap_err()
    ));

    // MRK discovery in us-east-1 calls the local replica.
    let filter = DiscoveryFilter::new("aws", [ACCOUNT]).unwrap();
    let mrk_discovery = AwsKmsMrkDiscoveryKeyring::new(kms(&ep, EAST))
        .unwrap()
        .filter(filter.clone());
    assert_eq!(mrk_discovery.region(), EAST);
    assert_eq!(
        decrypt(mrk_discovery, &msg.ciphertext).await.unwrap(),
        b"multi-region"
    );
    // Plain discovery in us-east-1 calls the us-west-2 ARN there, which KMS refuses.
    let discovery_east = AwsKmsDiscoveryKeyring::new(kms(&ep, EAST));
    let err = decrypt(discovery_east, &msg.ciphertext).await.unwrap_err();
    assert!(
        matches!(err, Error::Keyring(KeyringError::Service { .. })),
        "{err}"
    );

    // Multi forms.
    let s = supplier(&ep);
    let mrk_multi = AwsKmsMultiKeyring::mrk()
        .key_ids([&replica])
        .client_supplier(s.clone())
        .build()
        .await
        .unwrap();
    assert_eq!(
        decrypt(mrk_multi, &msg.ciphertext).await.unwrap(),
        b"multi-region"
    );
    let mrk_discovery_multi = AwsKmsMultiKeyring::mrk_discovery([EAST])
        .filter(filter)
        .client_supplier(s.clone())
        .build()
        .await
        .unwrap();
    assert_eq!(
        decrypt(mrk_discovery_multi, &msg.ciphertext).await.unwrap(),
        b"multi-region"
    );
    // Two replicas of one MRK in one MRK multi-keyring are ambiguous.
    let err = AwsKmsMultiKeyring::mrk()
        .generator(&primary)
        .key_ids([&replica])
        .client_supplier(s)
        .build()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&primary) && err.to_string().contains(&replica),
        "{err}"
    );
}

#[tokio::test]
async fn mrk_discovery_skips_single_region_keys_of_other_regions() {
    let Some(ep) = fixed() else { return };
    let west = create_key(&ep, WEST, "esdk tests: srk west").await;
    let msg = encrypt(AwsKmsKeyring::new(&west, kms(&ep, WEST)).unwrap(), b"srk")
        .await
        .unwrap();
    let east = AwsKmsMrkDiscoveryKeyring::new(kms(&ep, EAST)).unwrap();
    let err = decrypt(east, &msg.ciphertext).await.unwrap_err();
    assert!(
        err.to_string().contains("no encrypted data key matches"),
        "{err}"
    );
    let west_k = AwsKmsMrkDiscoveryKeyring::new(kms(&ep, WEST)).unwrap();
    assert_eq!(decrypt(west_k, &msg.ciphertext).await.unwrap(), b"srk");
}

// ---------------------------------------------------------------------------------------------
// Concurrency: a proxy that holds each request until N are in flight

#[derive(Default)]
struct ProxyStats {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    requests: AtomicUsize,
    released: AtomicBool,
    log: Mutex<Vec<u8>>,
}

/// The calls the holding proxy holds: `Encrypt` (the children), not `GenerateDataKey`.
const HELD_TARGET: &str = "TrentService.Encrypt\r\n";

/// A TCP proxy to `upstream` that records what it forwards. With `hold > 0`, each KMS
/// `Encrypt` request waits (up to 5 s) until `hold` requests have been in flight at once; a
/// keyring that sends its calls one by one never gets there, and waits 5 s per call.
async fn start_proxy(upstream: SocketAddr, hold: usize) -> (SocketAddr, Arc<ProxyStats>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stats = Arc::new(ProxyStats::default());
    let st = stats.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let st = st.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let awaiting = Arc::new(AtomicBool::new(false));
                let (st2, awaiting2) = (st.clone(), awaiting.clone());
                let up = async move {
                    let mut buf = vec![0u8; 16384];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if !awaiting.swap(true, Ordering::SeqCst) {
                            st.requests.fetch_add(1, Ordering::SeqCst);
                            let now = st.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            st.max_in_flight.fetch_max(now, Ordering::SeqCst);
                            if now >= hold {
                                st.released.store(true, Ordering::SeqCst);
                            }
                            let held = hold > 0
                                && String::from_utf8_lossy(&buf[..n]).contains(HELD_TARGET);
                            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
                            while held
                                && !st.released.load(Ordering::SeqCst)
                                && tokio::time::Instant::now() < deadline
                            {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                        }
                        st.log.lock().unwrap().extend_from_slice(&buf[..n]);
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                let down = async move {
                    let mut buf = vec![0u8; 16384];
                    loop {
                        let n = match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if awaiting2.swap(false, Ordering::SeqCst) {
                            st2.in_flight.fetch_sub(1, Ordering::SeqCst);
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                tokio::join!(up, down);
            });
        }
    });
    (addr, stats)
}

fn socket_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("http://IP:PORT endpoint")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_keyring_wraps_concurrently() {
    let Some(ep) = stock() else { return };
    let generator = create_key(&ep, WEST, "esdk tests: concurrency generator").await;
    let mut children = Vec::new();
    for region in [WEST, EAST, WEST] {
        children.push(create_key(&ep, region, "esdk tests: concurrency child").await);
    }
    let (proxy, stats) = start_proxy(socket_of(&ep), children.len()).await;
    let multi = AwsKmsMultiKeyring::strict()
        .generator(&generator)
        .key_ids(&children)
        .client_supplier(supplier(&format!("http://{proxy}")))
        .build()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let msg = encrypt(multi, b"concurrent").await.unwrap();
    let elapsed = started.elapsed();
    // GenerateDataKey alone, then the three Encrypt calls at once: the proxy released them
    // because all three were in flight together (one by one, each would wait out the 5 s hold
    // and the most in flight would be 1).
    assert_eq!(stats.requests.load(Ordering::SeqCst), 1 + children.len());
    assert_eq!(stats.max_in_flight.load(Ordering::SeqCst), children.len());
    assert!(stats.released.load(Ordering::SeqCst));
    let mut expected = vec![generator];
    expected.extend(children);
    assert_eq!(edk_arns(&msg), expected, "EDKs in configured order");
    eprintln!("multi-keyring encrypt through the holding proxy took {elapsed:?}");
}

#[tokio::test]
async fn encryption_context_and_grant_tokens_reach_kms() {
    let Some(ep) = stock() else { return };
    let generator = create_key(&ep, WEST, "esdk tests: wire generator").await;
    let child = create_key(&ep, WEST, "esdk tests: wire child").await;
    let (proxy, stats) = start_proxy(socket_of(&ep), 0).await;
    let multi = AwsKmsMultiKeyring::strict()
        .generator(&generator)
        .key_ids([&child])
        .client_supplier(supplier(&format!("http://{proxy}")))
        .grant_tokens(["grant-token-on-the-wire"])
        .build()
        .await
        .unwrap();
    let msg = encrypt(multi.clone(), b"wire").await.unwrap();
    assert_eq!(decrypt(multi, &msg.ciphertext).await.unwrap(), b"wire");
    let log = String::from_utf8_lossy(&stats.log.lock().unwrap()).into_owned();
    for op in ["GenerateDataKey", "Encrypt", "Decrypt"] {
        assert!(
            log.contains(&format!("TrentService.{op}")),
            "no {op} call seen"
        );
    }
    assert_eq!(
        log.matches("\"GrantTokens\":[\"grant-token-on-the-wire\"]")
            .count(),
        3,
        "{log}"
    );
    assert_eq!(
        log.matches("\"tenant\":\"42\"").count(),
        3,
        "encryption context on every call"
    );
    assert!(log.contains("\"NumberOfBytes\":32"));
}

// ---------------------------------------------------------------------------------------------
// Faults: each gives a typed error in bounded time

/// Each error of `err`'s chain, `Display`ed.
fn chain(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out = vec![err.to_string()];
    let mut next = err.source();
    while let Some(e) = next {
        out.push(e.to_string());
        next = e.source();
    }
    out
}

/// No esdk error of the chain repeats the text of its source (printing the chain shows it
/// once). The SDK's own errors are not checked: its operation error and the modeled error it
/// wraps print the same text.
fn assert_no_repeats(err: &(dyn std::error::Error + 'static)) {
    let mut current = err;
    while current.is::<Error>() || current.is::<KeyringError>() {
        let Some(source) = current.source() else {
            return;
        };
        let (text, source_text) = (current.to_string(), source.to_string());
        assert!(
            !source_text.is_empty() && !text.contains(&source_text),
            "{text:?} repeats its source {source_text:?} (chain {:?})",
            chain(err)
        );
        current = source;
    }
}

/// A key service error that names `needle` (the service's error code, or for a failure with no
/// answer, somewhere in its source chain), keeps the SDK error as its source, counts as
/// `Unavailable`, and prints each text of its chain once.
fn assert_service_error(err: &Error, needle: &str) {
    match err {
        Error::Keyring(KeyringError::Service {
            message, source, ..
        }) => {
            let texts = chain(err).join(" / ");
            assert!(texts.contains(needle), "{texts:?} lacks {needle:?}");
            assert!(source.is_some(), "the SDK error is kept as the source");
            assert_eq!(err.kind(), esdk::ErrorKind::Unavailable, "{message}");
            assert_no_repeats(err);
        }
        other => panic!("expected a KMS service error mentioning {needle:?}, got {other}"),
    }
}

fn fault_supplier(endpoint: &str) -> Arc<dyn ClientSupplier> {
    Arc::new(
        DefaultClientSupplier::builder()
            .endpoint_url(endpoint)
            .static_credentials("test", "test", None)
            .connect_timeout(Duration::from_millis(500))
            .attempt_timeout(Duration::from_millis(500))
            .operation_timeout(Duration::from_secs(3))
            .max_attempts(2)
            .build(),
    )
}

const SOME_KEY: &str =
    "arn:aws:kms:us-west-2:123456789012:key/00000000-0000-0000-0000-000000000000";

#[tokio::test]
async fn fault_server_down() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again: nothing listens there
    let client = fault_supplier(&format!("http://127.0.0.1:{port}"))
        .client(Some(WEST))
        .await
        .unwrap();
    let err = encrypt(
        AwsKmsKeyring::new(SOME_KEY, client).unwrap(),
        b"never written",
    )
    .await
    .unwrap_err();
    assert_service_error(&err, "GenerateDataKey failed");
    let source = std::error::Error::source(&err).expect("source");
    assert!(
        format!("{source:?}").contains("DispatchFailure"),
        "{source:?}"
    );
}

#[tokio::test]
async fn fault_server_slower_than_the_timeout() {
    // Accepts connections and reads requests, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let acc = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            acc.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    let client = fault_supplier(&format!("http://{addr}"))
        .client(Some(WEST))
        .await
        .unwrap();
    let err = encrypt(AwsKmsKeyring::new(SOME_KEY, client.clone()).unwrap(), b"x")
        .await
        .unwrap_err();
    assert_service_error(&err, "timeout");
    assert!(accepted.load(Ordering::SeqCst) >= 1);
    // Decrypt side too: an EDK naming the key, the same silent server.
    let edk = esdk::EncryptedDataKey::new("aws-kms", SOME_KEY.as_bytes().to_vec(), vec![1, 2, 3]);
    let materials = esdk::DecryptionMaterials::new(
        esdk::AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        Default::default(),
        vec![],
        None,
    );
    use esdk::Keyring;
    let k = AwsKmsKeyring::new(SOME_KEY, client).unwrap();
    let err = tokio::time::timeout(HANG, k.on_decrypt(materials, &[edk]))
        .await
        .expect("hung")
        .unwrap_err();
    assert_service_error(&err, "timeout");
}

#[tokio::test]
async fn fault_throttling_is_retried_then_reported() {
    // Answers every request with KMS's throttling error.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let c = c.clone();
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    // One request: headers, then Content-Length bytes of body.
                    let (head_end, body_len) = loop {
                        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&pending[..i]).to_ascii_lowercase();
                            let len = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            break (i + 4, len);
                        }
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&buf[..n]),
                        }
                    };
                    while pending.len() < head_end + body_len {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&buf[..n]),
                        }
                    }
                    pending.drain(..head_end + body_len);
                    c.fetch_add(1, Ordering::SeqCst);
                    let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
                    let resp = format!(
                        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\n\
                         x-amzn-RequestId: test\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let client = fault_supplier(&format!("http://{addr}"))
        .client(Some(WEST))
        .await
        .unwrap();
    let err = encrypt(AwsKmsKeyring::new(SOME_KEY, client.clone()).unwrap(), b"x")
        .await
        .unwrap_err();
    assert_service_error(&err, "ThrottlingException");
    assert!(
        err.to_string().contains("ThrottlingException"),
        "the service's error code is in the message: {err}"
    );
    assert_eq!(
        count.load(Ordering::SeqCst),
        2,
        "the SDK retried once (max_attempts = 2)"
    );

    // Decrypt with two EDKs for the key: both attempts are throttled. The "no decryptable key"
    // error keeps each attempt's typed error, so it counts as Unavailable (retry later), not as
    // Authentication (no key matched).
    use esdk::Keyring;
    let edks: Vec<_> = (0..2u8)
        .map(|i| esdk::EncryptedDataKey::new("aws-kms", SOME_KEY.as_bytes().to_vec(), vec![i; 3]))
        .collect();
    let materials = || {
        esdk::DecryptionMaterials::new(
            esdk::AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
            Default::default(),
            vec![],
            None,
        )
    };
    let keyring = AwsKmsKeyring::new(SOME_KEY, client).unwrap();
    let err = keyring.on_decrypt(materials(), &edks).await.unwrap_err();
    let Error::Keyring(KeyringError::NoDecryptableKey { attempts }) = &err else {
        panic!("expected NoDecryptableKey, got {err}");
    };
    assert_eq!(attempts.len(), 2, "{err}");
    for a in attempts {
        assert_eq!(a.kind(), Some(esdk::ErrorKind::Unavailable), "{a}");
        let typed = a.error.as_deref().expect("the attempt keeps its error");
        assert_service_error(typed, "ThrottlingException");
    }
    assert_eq!(err.kind(), esdk::ErrorKind::Unavailable, "{err}");
    assert_no_repeats(&err);

    // Whereas no matching key at all (an EDK for another key) is Authentication, with no
    // typed error behind the attempt.
    let other = esdk::EncryptedDataKey::new(
        "aws-kms",
        SOME_KEY.replace("us-west-2", "eu-west-1").into_bytes(),
        vec![1],
    );
    let err = keyring.on_decrypt(materials(), &[other]).await.unwrap_err();
    assert_eq!(err.kind(), esdk::ErrorKind::Authentication, "{err}");
    let Error::Keyring(KeyringError::NoDecryptableKey { attempts }) = &err else {
        panic!("expected NoDecryptableKey, got {err}");
    };
    assert!(attempts.iter().all(|a| a.error.is_none()), "{err}");
}

#[tokio::test]
async fn fault_disabled_key() {
    let Some(ep) = fixed() else { return };
    let arn = create_key(&ep, WEST, "esdk tests: disabled").await;
    let keyring = AwsKmsKeyring::new(&arn, kms(&ep, WEST)).unwrap();
    let msg = encrypt(keyring.clone(), b"before").await.unwrap();
    common::kms_sdk_client(&ep, WEST)
        .disable_key()
        .key_id(&arn)
        .send()
        .await
        .expect("DisableKey");
    let err = encrypt(keyring.clone(), b"after").await.unwrap_err();
    assert_service_error(&err, "DisabledException");
    let err = decrypt(keyring.clone(), &msg.ciphertext).await.unwrap_err();
    assert_service_error(&err, "DisabledException");
    // A disabled child fails the whole multi-keyring encryption, though the generator worked.
    let generator = create_key(&ep, EAST, "esdk tests: enabled generator").await;
    let multi = AwsKmsMultiKeyring::strict()
        .generator(&generator)
        .key_ids([&arn])
        .client_supplier(supplier(&ep))
        .build()
        .await
        .unwrap();
    let err = encrypt(multi.clone(), b"after").await.unwrap_err();
    assert_service_error(&err, "DisabledException");
    // On decrypt, the multi-keyring reports each keyring's failure.
    let err = decrypt(multi, &msg.ciphertext).await.unwrap_err();
    assert!(is_no_decryptable_key(&err), "{err}");
    assert!(err.to_string().contains("DisabledException"), "{err}");
    common::kms_sdk_client(&ep, WEST)
        .enable_key()
        .key_id(&arn)
        .send()
        .await
        .expect("EnableKey");
    assert_eq!(decrypt(keyring, &msg.ciphertext).await.unwrap(), b"before");
}

// ---------------------------------------------------------------------------------------------
// Client supplier

#[tokio::test]
async fn supplier_shares_one_client_per_region() {
    let Some(ep) = stock() else { return };
    let s = supplier(&ep);
    let west = create_key(&ep, WEST, "esdk tests: supplier").await;
    let a = s.client(Some(WEST)).await.unwrap();
    let b = s.client(Some(WEST)).await.unwrap();
    assert_eq!((a.region(), b.region()), (Some(WEST), Some(WEST)));
    let k = AwsKmsKeyring::new(&west, b).unwrap();
    let msg = encrypt(k, b"supplied").await.unwrap();
    assert_eq!(
        decrypt(AwsKmsKeyring::new(&west, a).unwrap(), &msg.ciphertext)
            .await
            .unwrap(),
        b"supplied"
    );
    assert!(format!("{s:?}").contains(WEST));
}

// ---------------------------------------------------------------------------------------------
// The other direction: the Python reference SDK decrypts what esdk wrapped with KMS

const PYTHON_DECRYPT: &str = r#"
import json, sys
import aws_encryption_sdk
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.key_providers.kms import (
    MRKAwareStrictAwsKmsMasterKeyProvider, StrictAwsKmsMasterKeyProvider)
client = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT)
for case in json.load(open(sys.argv[1])):
    cls = MRKAwareStrictAwsKmsMasterKeyProvider if case["mrk"] else StrictAwsKmsMasterKeyProvider
    plaintext, header = client.decrypt(source=bytes.fromhex(case["ciphertext"]),
                                       key_provider=cls(key_ids=[case["key"]]))
    assert plaintext == bytes.fromhex(case["plaintext"]), case["name"]
    assert header.encryption_context["tenant"] == "42", case["name"]
    print("OK", case["name"])
"#;

#[tokio::test]
async fn python_reference_decrypts_esdk_kms_messages() {
    let Some(ep) = fixed() else { return };
    let Some(python) = common::peers_python("esdk-to-Python KMS interop") else {
        return;
    };
    let generator = create_key(&ep, WEST, "esdk tests: python generator").await;
    let east = create_key(&ep, EAST, "esdk tests: python east").await;
    let (mrk, mrk_replica) = create_mrk(&ep).await;
    let s = supplier(&ep);
    let multi = AwsKmsMultiKeyring::strict()
        .generator(&generator)
        .key_ids([&east])
        .client_supplier(s.clone())
        .build()
        .await
        .unwrap();
    let mrk_keyring = AwsKmsMrkKeyring::new(&mrk, kms(&ep, WEST)).unwrap();
    let mut cases = Vec::new();
    for (name, source, key, is_mrk) in [
        (
            "multi-generator",
            MaterialsSource::from(multi.clone()),
            generator.clone(),
            false,
        ),
        (
            "multi-child-east",
            MaterialsSource::from(multi),
            east.clone(),
            false,
        ),
        (
            "mrk-via-replica",
            MaterialsSource::from(mrk_keyring),
            mrk_replica.clone(),
            true,
        ),
    ] {
        let plaintext = format!("esdk to python: {name}").into_bytes();
        let msg = encrypt(source, &plaintext).await.unwrap();
        cases.push(serde_json::json!({
            "name": name, "mrk": is_mrk, "key": key,
            "ciphertext": common::hex(&msg.ciphertext), "plaintext": common::hex(&plaintext),
        }));
    }
    let dir = std::env::temp_dir().join(format!("esdk-kms-python-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases_file = dir.join("cases.json");
    let script = dir.join("decrypt.py");
    std::fs::write(&cases_file, serde_json::to_vec(&cases).unwrap()).unwrap();
    std::fs::write(&script, PYTHON_DECRYPT).unwrap();
    let mut cmd = std::process::Command::new(&python);
    cmd.arg(&script)
        .arg(&cases_file)
        .env("AWS_ENDPOINT_URL_KMS", &ep)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", WEST);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("run python");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("OK ")).count(),
        cases.len(),
        "{stdout}"
    );
}
