//! The caching CMM's effect on small messages: 1 KiB messages per second, with and without it.
//!
//! ```text
//! cargo bench --bench caching -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Two keyrings: the raw AES keyring (wrapping a data key costs microseconds), and the same
//! keyring behind a fixed 1 ms delay per call (`tokio::time::sleep`), standing in for a remote
//! key service such as AWS KMS. Each is measured through a plain default CMM and through a
//! caching CMM (local cache, 60 s TTL, default limits), encrypting and decrypting, with the
//! committing suites 0x0478 (unsigned) and 0x0578 (signed, the default).
//!
//! Decrypt benches decrypt the same message over and over, so with the caching CMM every
//! iteration after the first is a cache hit.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use esdk::{
    AlgorithmSuite, CachingCmm, Client, Keyring, LocalMaterialsCache, MaterialsSource,
    RawAesKeyring,
};

#[path = "common/remote.rs"]
mod remote;
use remote::Remote;

fn aes() -> RawAesKeyring {
    RawAesKeyring::new("bench", "aes-256", &[7u8; 32]).unwrap()
}

fn sources(keyring: Arc<dyn Keyring>) -> [(&'static str, MaterialsSource); 2] {
    let cache = Arc::new(LocalMaterialsCache::new(100));
    let caching = CachingCmm::builder_with_keyring(keyring.clone(), cache, Duration::from_secs(60))
        .build()
        .unwrap();
    [
        ("default-cmm", MaterialsSource::Keyring(keyring)),
        ("caching-cmm", MaterialsSource::from(caching)),
    ]
}

fn caching(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let client = Client::new();
    let plaintext = vec![0x61u8; 1024];
    let keyrings: [(&str, Arc<dyn Keyring>); 2] = [
        ("raw-aes", Arc::new(aes())),
        ("remote-1ms", Arc::new(Remote(aes()))),
    ];
    for (keyring_name, keyring) in keyrings {
        for id in [0x0478u16, 0x0578] {
            let suite = AlgorithmSuite::from_id(id).unwrap();
            let mut group = c.benchmark_group(format!("1KiB/{keyring_name}/{id:04x}"));
            group.throughput(Throughput::Elements(1));
            for (cmm_name, source) in sources(keyring.clone()) {
                let encrypt = || {
                    client
                        .encrypt(&source, &plaintext)
                        .algorithm_suite(suite)
                        .encryption_context([("tenant", "bench")])
                        .into_future()
                };
                group.bench_function(format!("encrypt/{cmm_name}"), |b| {
                    b.iter(|| rt.block_on(encrypt()).unwrap())
                });
                let ct = rt.block_on(encrypt()).unwrap().ciphertext;
                group.bench_function(format!("decrypt/{cmm_name}"), |b| {
                    b.iter(|| {
                        rt.block_on(client.decrypt(&source, &ct).into_future())
                            .unwrap()
                    })
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, caching);
criterion_main!(benches);
