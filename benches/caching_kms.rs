//! The caching CMM's effect on 1 KiB messages encrypted with AWS KMS: messages per second with
//! and without it, against a local KMS (moto on 127.0.0.1).
//!
//! ```text
//! bash .ci/kms.sh run -- nice cargo bench --bench caching_kms -- --warm-up-time 1 --measurement-time 5
//! ```
//!
//! Needs `ESDK_KMS_ENDPOINT` (stock moto, started by `.ci/kms.sh`); without it the bench says so
//! and measures nothing. One `AwsKmsKeyring` on a fresh symmetric key, measured through a
//! default CMM (one `GenerateDataKey` or `Decrypt` round trip per message) and through a
//! caching CMM (local cache, 60 s TTL, default limits: the first message pays the round trip,
//! the others reuse its materials), encrypting and decrypting, with the committing suites
//! 0x0478 (unsigned) and 0x0578 (signed with ECDSA P-384, the default). Criterion reports each
//! as elements (messages) per second.
//!
//! The KMS latency here is a loopback HTTP round trip to a Python server (about a millisecond),
//! well under a real AWS Region's, so the ratio shown is a floor.
//!
//! Measured 2026-11-27 (2 cores shared with other builds, load average about 5; medians, in
//! messages per second):
//!
//! | | default CMM | caching CMM | ratio |
//! |---|---|---|---|
//! | encrypt 0x0478 | 239 | 143,700 | ×600 |
//! | decrypt 0x0478 | 221 | 132,700 | ×600 |
//! | encrypt 0x0578 | 188 | 2,354 | ×12.5 (ECDSA P-384 signing per message remains) |
//! | decrypt 0x0578 | 181 | 1,294 | ×7.1 (signature verification per message remains) |

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use criterion::{Criterion, Throughput};
use esdk::keyring::aws_kms::KmsClient;
use esdk::{
    AlgorithmSuite, AwsKmsKeyring, CachingCmm, Client, Keyring, LocalMaterialsCache,
    MaterialsSource,
};

fn bench(c: &mut Criterion, endpoint: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("test", "test", None, None, "bench"))
        .build();
    let sdk = aws_sdk_kms::Client::from_conf(conf);
    let arn = rt
        .block_on(sdk.create_key().description("caching bench").send())
        .expect("CreateKey")
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("ARN")
        .to_owned();
    let keyring: Arc<dyn Keyring> =
        Arc::new(AwsKmsKeyring::new(&arn, KmsClient::from_sdk_client(sdk)).unwrap());
    let cache = Arc::new(LocalMaterialsCache::new(100));
    let caching = CachingCmm::builder_with_keyring(keyring.clone(), cache, Duration::from_secs(60))
        .build()
        .unwrap();
    let sources = [
        ("default-cmm", MaterialsSource::Keyring(keyring)),
        ("caching-cmm", MaterialsSource::from(caching)),
    ];
    let client = Client::new();
    let plaintext = vec![0x61u8; 1024];

    let mut group = c.benchmark_group("kms-1KiB");
    group.throughput(Throughput::Elements(1));
    for suite in [
        AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    ] {
        let suite_name = format!("{:04x}", suite.id());
        for (source_name, source) in &sources {
            group.bench_function(format!("encrypt/{suite_name}/{source_name}"), |b| {
                b.iter(|| {
                    rt.block_on(
                        client
                            .encrypt(source, &plaintext)
                            .algorithm_suite(suite)
                            .into_future(),
                    )
                    .unwrap()
                })
            });
            let message = rt
                .block_on(
                    client
                        .encrypt(source, &plaintext)
                        .algorithm_suite(suite)
                        .into_future(),
                )
                .unwrap()
                .ciphertext;
            group.bench_function(format!("decrypt/{suite_name}/{source_name}"), |b| {
                b.iter(|| {
                    rt.block_on(client.decrypt(source, &message).into_future())
                        .unwrap()
                })
            });
        }
    }
    group.finish();
}

fn main() {
    let Some(endpoint) = std::env::var("ESDK_KMS_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
    else {
        eprintln!(
            "\n**************** SKIPPED ****************\n\
             ESDK_KMS_ENDPOINT is not set: the KMS caching bench needs a local KMS. Run it with\n\
             `bash .ci/kms.sh run -- cargo bench --bench caching_kms`.\n\
             *****************************************\n"
        );
        return;
    };
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &endpoint);
    c.final_summary();
}
