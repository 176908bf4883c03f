//! Record mode over the codec: what it costs to keep record boundaries by sending **one message
//! per record** (`codec::send_message` / `codec::decrypt_messages`), the mode esdk documents,
//! against one message carrying all the records (no boundaries, and a record cannot be flushed
//! before its frame fills).
//!
//! ```text
//! cargo bench --bench records -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! 200 records of 64 B and of 1 KiB each way through an in-memory buffer (encode all, then
//! decode all; suite 0x0478, unsigned), per keyring: the raw AES keyring and the same keyring
//! behind a 1 ms delay per call (a remote key service such as AWS KMS), through a default CMM
//! and through a caching CMM (one data key for many records). Throughput is in records; the
//! wire overhead per record is printed once per case.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use esdk::io::{DecryptItem, EncryptItem, MessageEncoder, codec};
use esdk::{
    AlgorithmSuite, CachingCmm, Client, EncryptOptions, Keyring, LocalMaterialsCache,
    MaterialsSource, RawAesKeyring,
};
use futures::{SinkExt, TryStreamExt};
use tokio_util::codec::FramedWrite;

#[path = "common/remote.rs"]
mod remote;
use remote::Remote;

const RECORDS: usize = 200;

fn aes() -> RawAesKeyring {
    RawAesKeyring::new("bench", "aes-256", &[7u8; 32]).unwrap()
}

fn sources(keyring: Arc<dyn Keyring>) -> [(&'static str, MaterialsSource); 2] {
    let cache = Arc::new(LocalMaterialsCache::new(100));
    let caching = CachingCmm::builder_with_keyring(keyring.clone(), cache, Duration::from_secs(60))
        .limit_messages(1000)
        .build()
        .unwrap();
    [
        ("default-cmm", MaterialsSource::Keyring(keyring)),
        ("caching-cmm", MaterialsSource::from(caching)),
    ]
}

/// Each record as its own message; returns the wire bytes.
async fn encode_each(client: &Client, keys: &MaterialsSource, records: &[Bytes]) -> Vec<u8> {
    let options = EncryptOptions::new();
    let encoder = MessageEncoder::new(client, keys, &options).await.unwrap();
    let mut out = FramedWrite::new(Vec::new(), encoder);
    for r in records {
        codec::send_message(&mut out, client, keys, r.clone(), &options)
            .await
            .unwrap();
    }
    out.into_inner()
}

/// All records in one message; returns the wire bytes.
async fn encode_one(client: &Client, keys: &MaterialsSource, records: &[Bytes]) -> Vec<u8> {
    let encoder = MessageEncoder::new(client, keys, &EncryptOptions::new())
        .await
        .unwrap();
    let mut out = FramedWrite::new(Vec::new(), encoder);
    for r in records {
        out.feed(EncryptItem::Data(r.clone())).await.unwrap();
    }
    out.send(EncryptItem::Finish).await.unwrap();
    out.into_inner()
}

/// Decodes every message on `wire`; returns (messages, plaintext bytes).
async fn decode(client: &Client, keys: &MaterialsSource, wire: &[u8]) -> (usize, usize) {
    let mut items = codec::decrypt_messages(client, keys, wire);
    let (mut messages, mut bytes) = (0, 0);
    while let Some(item) = items.try_next().await.unwrap() {
        match item {
            DecryptItem::Plaintext(b) => bytes += b.len(),
            DecryptItem::End(_) => messages += 1,
            _ => {}
        }
    }
    (messages, bytes)
}

fn records(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let client = Client::builder()
        .algorithm_suite(AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY)
        .build();
    let keyrings: [(&str, Arc<dyn Keyring>); 2] = [
        ("raw-aes", Arc::new(aes())),
        ("remote-1ms", Arc::new(Remote(aes()))),
    ];
    for size in [64usize, 1024] {
        let records: Vec<Bytes> = (0..RECORDS)
            .map(|i| Bytes::from(vec![(i % 251) as u8; size]))
            .collect();
        let total = RECORDS * size;
        let mut group = c.benchmark_group(format!("{RECORDS}x{size}B"));
        group.throughput(Throughput::Elements(RECORDS as u64));
        group.sample_size(10);
        for (keyring_name, keyring) in &keyrings {
            for (cmm_name, keys) in sources(keyring.clone()) {
                let wire = rt.block_on(encode_each(&client, &keys, &records));
                assert_eq!(rt.block_on(decode(&client, &keys, &wire)), (RECORDS, total));
                eprintln!(
                    "{size} B records, message per record, {keyring_name}/{cmm_name}: {:.0} wire bytes per record",
                    wire.len() as f64 / RECORDS as f64
                );
                group.bench_function(
                    format!("message-per-record/{keyring_name}/{cmm_name}"),
                    |b| {
                        b.iter(|| {
                            rt.block_on(async {
                                let wire = encode_each(&client, &keys, &records).await;
                                decode(&client, &keys, &wire).await
                            })
                        })
                    },
                );
            }
        }
        let keys = MaterialsSource::from(aes());
        let wire = rt.block_on(encode_one(&client, &keys, &records));
        assert_eq!(rt.block_on(decode(&client, &keys, &wire)), (1, total));
        eprintln!(
            "{size} B records, one message for all: {:.0} wire bytes per record",
            wire.len() as f64 / RECORDS as f64
        );
        group.bench_function("one-message/raw-aes/default-cmm", |b| {
            b.iter(|| {
                rt.block_on(async {
                    let wire = encode_one(&client, &keys, &records).await;
                    decode(&client, &keys, &wire).await
                })
            })
        });
        group.finish();
    }
}

criterion_group!(benches, records);
criterion_main!(benches);
