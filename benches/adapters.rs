//! The streaming adapters through `tokio::io::copy`, against the machine's ceilings.
//!
//! ```text
//! cargo bench -p esdk --bench adapters                       # everything, then the ratio table
//! cargo bench -p esdk --bench adapters -- --quick            # shorter
//! ESDK_ADAPTERS_MIB=64 cargo bench -p esdk --bench adapters  # message size (default 32 MiB)
//! ```
//!
//! Ceilings, from the library's default crypto provider (the same backend the adapters use):
//! bare AES-256-GCM sealing and opening 64 KiB buffers in place, and SHA-384 over the same bytes
//! (the signature hash of 0x0578, which sees every byte of the body in order).
//!
//! Adapters: [`EncryptingWriter`] as the destination of `tokio::io::copy` (which writes what it
//! reads in 8 KiB pieces) and [`DecryptingReader`] as its source, plaintext from
//! `tokio::io::repeat` and ciphertext from memory, output to `tokio::io::sink`. Two set-ups:
//!
//! * **one core**: a `current_thread` runtime and `Parallelism::off()` (every frame on the
//!   runtime's thread);
//! * **two cores**: a 2-worker `multi_thread` runtime and `Parallelism::default().threads(2)`
//!   (batches of frames on rayon's pool).
//!
//! After criterion's own report the bench prints one table: each adapter's speed as a ratio of
//! its ceiling on one core (goals: 0x0478 in 64 KiB frames ≥ 0.5 of AES-GCM, 0x0578 ≥ 0.8 of
//! SHA-384) and two cores against one (goal ≥ 1.6). The figures are criterion's measured times
//! (mean per iteration over all samples); the machine being shared, quote ratios only.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use esdk::crypto::{HashAlgorithm, default_provider};
use esdk::io::{DecryptOptions, DecryptingReader, EncryptingWriter};
use esdk::parallel::Parallelism;
use esdk::{
    AlgorithmSuite, Client, CommitmentPolicy, EncryptOptions, FrameLength, MaterialsSource,
    RawAesKeyring,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FRAME: u32 = 64 << 10;

/// Time per iteration of each benchmark, by its id.
static TIMES: Mutex<BTreeMap<String, (u64, Duration)>> = Mutex::new(BTreeMap::new());

fn record(id: &str, iters: u64, took: Duration) {
    let mut t = TIMES.lock().unwrap();
    let e = t.entry(id.to_owned()).or_default();
    e.0 += iters;
    e.1 += took;
}

fn per_iter(id: &str) -> Option<f64> {
    let t = TIMES.lock().unwrap();
    t.get(id)
        .filter(|(n, _)| *n > 0)
        .map(|(n, d)| d.as_secs_f64() / *n as f64)
}

fn size() -> usize {
    std::env::var("ESDK_ADAPTERS_MIB")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(32)
        << 20
}

fn keys() -> MaterialsSource {
    MaterialsSource::from(RawAesKeyring::new("bench", "aes-256", &[7u8; 32]).unwrap())
}

fn client(par: Parallelism) -> Client {
    Client::builder()
        .commitment_policy(CommitmentPolicy::REQUIRE_ENCRYPT_ALLOW_DECRYPT)
        .frame_length(FrameLength::new(FRAME).unwrap())
        .parallelism(par)
        .build()
}

#[derive(Clone, Copy)]
enum Cores {
    One,
    Two,
}

impl Cores {
    fn name(self) -> &'static str {
        match self {
            Cores::One => "1core",
            Cores::Two => "2cores",
        }
    }

    fn runtime(self) -> tokio::runtime::Runtime {
        match self {
            Cores::One => tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
            Cores::Two => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap(),
        }
    }

    fn parallelism(self) -> Parallelism {
        match self {
            Cores::One => Parallelism::off(),
            Cores::Two => Parallelism::default().threads(2),
        }
    }
}

async fn encrypt(client: &Client, keys: &MaterialsSource, suite: AlgorithmSuite, len: usize) {
    let options = EncryptOptions::new().algorithm_suite(suite);
    let mut w = EncryptingWriter::new(client, keys, tokio::io::sink(), &options)
        .await
        .unwrap();
    let mut plain = tokio::io::repeat(0x61).take(len as u64);
    tokio::io::copy(&mut plain, &mut w).await.unwrap();
    w.shutdown().await.unwrap();
}

async fn decrypt(client: &Client, keys: &MaterialsSource, ct: &[u8]) {
    let mut r = DecryptingReader::new(client, keys, ct, &DecryptOptions::new())
        .await
        .unwrap();
    let n = tokio::io::copy(&mut r, &mut tokio::io::sink())
        .await
        .unwrap();
    assert!(n > 0);
}

fn ceilings(c: &mut Criterion, len: usize) {
    let provider = default_provider();
    let key = provider.aead.key(&[7u8; 32]).unwrap();
    let mut group = c.benchmark_group("ceiling");
    group.throughput(Throughput::Bytes(len as u64));
    group.sample_size(10);
    let mut buf = vec![0x61u8; len];
    let iv = [0u8; 12];
    let aad = [0u8; 32];
    group.bench_function("aes-256-gcm/seal", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                for chunk in buf.chunks_mut(FRAME as usize) {
                    std::hint::black_box(key.seal_in_place(&iv, &aad, chunk).unwrap());
                }
            }
            let took = start.elapsed();
            record("ceiling/aes-256-gcm/seal", iters, took);
            took
        })
    });
    // Tags of the current contents, to open them again and again (open then reseal: two passes,
    // so half the time counts).
    group.bench_function("aes-256-gcm/open", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let tags: Vec<_> = buf
                    .chunks_mut(FRAME as usize)
                    .map(|c| key.seal_in_place(&iv, &aad, c).unwrap())
                    .collect();
                let start = Instant::now();
                for (chunk, tag) in buf.chunks_mut(FRAME as usize).zip(&tags) {
                    key.open_in_place(&iv, &aad, chunk, tag).unwrap();
                }
                total += start.elapsed();
            }
            record("ceiling/aes-256-gcm/open", iters, total);
            total
        })
    });
    group.bench_function("sha-384", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                std::hint::black_box(provider.hash.digest(HashAlgorithm::Sha384, &[&buf]));
            }
            let took = start.elapsed();
            record("ceiling/sha-384", iters, took);
            took
        })
    });
    group.finish();
}

fn adapters(c: &mut Criterion, len: usize) {
    let keys = keys();
    for id in [0x0478u16, 0x0578] {
        let suite = AlgorithmSuite::from_id(id).unwrap();
        let mut group = c.benchmark_group(format!("adapters/{id:04x}/64KiB"));
        group.throughput(Throughput::Bytes(len as u64));
        group.sample_size(10);
        let ct = {
            let rt = Cores::One.runtime();
            let client = client(Parallelism::off());
            rt.block_on(async {
                let options = EncryptOptions::new().algorithm_suite(suite);
                let mut w = EncryptingWriter::new(&client, &keys, Vec::new(), &options)
                    .await
                    .unwrap();
                let mut plain = tokio::io::repeat(0x61).take(len as u64);
                tokio::io::copy(&mut plain, &mut w).await.unwrap();
                w.shutdown().await.unwrap();
                w.into_inner()
            })
        };
        for cores in [Cores::One, Cores::Two] {
            let rt = cores.runtime();
            let client = client(cores.parallelism());
            let name = format!("encrypt/{}", cores.name());
            let key = format!("{id:04x}/{name}");
            group.bench_function(&name, |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        rt.block_on(encrypt(&client, &keys, suite, len));
                    }
                    let took = start.elapsed();
                    record(&key, iters, took);
                    took
                })
            });
            let name = format!("decrypt/{}", cores.name());
            let key = format!("{id:04x}/{name}");
            group.bench_function(&name, |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        rt.block_on(decrypt(&client, &keys, &ct));
                    }
                    let took = start.elapsed();
                    record(&key, iters, took);
                    took
                })
            });
        }
        group.finish();
    }
}

fn ratio(num: Option<f64>, den: Option<f64>) -> String {
    match (num, den) {
        (Some(n), Some(d)) if n > 0.0 => format!("{:.2}", d / n),
        _ => "-".into(),
    }
}

fn report() {
    let seal = per_iter("ceiling/aes-256-gcm/seal");
    let open = per_iter("ceiling/aes-256-gcm/open");
    let sha = per_iter("ceiling/sha-384");
    println!();
    println!("adapter through tokio::io::copy | ceiling | 1 core ÷ ceiling | 2 cores ÷ 1 core");
    println!("---|---|---|---");
    for (id, ceiling_name) in [(0x0478u16, "AES-256-GCM"), (0x0578, "SHA-384")] {
        for dir in ["encrypt", "decrypt"] {
            let one = per_iter(&format!("{id:04x}/{dir}/1core"));
            let two = per_iter(&format!("{id:04x}/{dir}/2cores"));
            let ceiling = match (id, dir) {
                (0x0478, "encrypt") => seal,
                (0x0478, _) => open,
                _ => sha,
            };
            if one.is_none() && two.is_none() {
                continue;
            }
            println!(
                "{id:04x} {dir}, 64 KiB frames | {ceiling_name} | {} | {}",
                ratio(one, ceiling),
                ratio(two, one)
            );
        }
    }
}

fn main() {
    let len = size();
    let mut c = Criterion::default().configure_from_args();
    ceilings(&mut c, len);
    adapters(&mut c, len);
    c.final_summary();
    report();
}
