//! One-shot throughput and small-message rates.
//!
//! ```text
//! cargo bench --bench throughput                 # everything
//! cargo bench --bench throughput -- 0478/65536   # a filter
//! ```
//!
//! Suites 0x0478, 0x0578, 0x0178, 0x0078 × frame lengths 4 KiB and 64 KiB × sizes 1 KiB, 1 MiB,
//! 64 MiB, encrypt and decrypt (raw AES-256 keyring), and 1 KiB messages per second, all with
//! the default parallelism; group `parallel` sets one thread against every core (wall time:
//! on a busy machine prefer `benches/compare`, which reads each thread's CPU time).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use esdk::parallel::Parallelism;
use esdk::{AlgorithmSuite, Client, CommitmentPolicy, FrameLength, MaterialsSource, RawAesKeyring};
use futures::executor::block_on;

fn client() -> Client {
    Client::builder()
        .commitment_policy(CommitmentPolicy::REQUIRE_ENCRYPT_ALLOW_DECRYPT)
        .build()
}

fn keys() -> MaterialsSource {
    MaterialsSource::from(RawAesKeyring::new("bench", "aes-256", &[7u8; 32]).unwrap())
}

fn encrypt_client(suite: AlgorithmSuite) -> Client {
    let policy = if suite.is_committing() {
        CommitmentPolicy::REQUIRE_ENCRYPT_ALLOW_DECRYPT
    } else {
        CommitmentPolicy::FORBID_ENCRYPT_ALLOW_DECRYPT
    };
    Client::builder().commitment_policy(policy).build()
}

const SUITES: [u16; 4] = [0x0478, 0x0578, 0x0178, 0x0078];

fn throughput(c: &mut Criterion) {
    let sizes: &[(usize, &str)] = &[(1 << 10, "1KiB"), (1 << 20, "1MiB"), (64 << 20, "64MiB")];
    for id in SUITES {
        let suite = AlgorithmSuite::from_id(id).unwrap();
        let keys = keys();
        let enc = encrypt_client(suite);
        let dec = client();
        for frame in [4096u32, 65536] {
            let mut group = c.benchmark_group(format!("{id:04x}/{frame}"));
            for &(size, label) in sizes {
                if size >= 64 << 20 {
                    group.sample_size(10);
                }
                let plaintext = vec![0x61u8; size];
                group.throughput(Throughput::Bytes(size as u64));
                let fl = FrameLength::new(frame).unwrap();
                group.bench_function(BenchmarkId::new("encrypt", label), |b| {
                    b.iter(|| {
                        block_on(
                            enc.encrypt(&keys, &plaintext)
                                .algorithm_suite(suite)
                                .frame_length(fl)
                                .into_future(),
                        )
                        .unwrap()
                    })
                });
                let ct = block_on(
                    enc.encrypt(&keys, &plaintext)
                        .algorithm_suite(suite)
                        .frame_length(fl)
                        .into_future(),
                )
                .unwrap()
                .ciphertext;
                group.bench_function(BenchmarkId::new("decrypt", label), |b| {
                    b.iter(|| block_on(dec.decrypt(&keys, &ct).into_future()).unwrap())
                });
            }
            group.finish();
        }
    }
}

fn small_messages(c: &mut Criterion) {
    let mut group = c.benchmark_group("1KiB-round-trip");
    group.throughput(Throughput::Elements(1));
    let plaintext = vec![0x61u8; 1024];
    for id in [0x0478u16, 0x0578] {
        let suite = AlgorithmSuite::from_id(id).unwrap();
        let keys = keys();
        let client = client();
        group.bench_function(format!("{id:04x}"), |b| {
            b.iter(|| {
                let ct = block_on(
                    client
                        .encrypt(&keys, &plaintext)
                        .algorithm_suite(suite)
                        .into_future(),
                )
                .unwrap()
                .ciphertext;
                block_on(client.decrypt(&keys, &ct).into_future()).unwrap()
            })
        });
    }
    group.finish();
}

/// One thread against every core, for large messages.
fn parallel(c: &mut Criterion) {
    let keys = keys();
    for id in [0x0478u16, 0x0578] {
        let suite = AlgorithmSuite::from_id(id).unwrap();
        for (frame, size, label) in [(65536u32, 64usize << 20, "64MiB"), (4096, 4 << 20, "4MiB")] {
            let mut group = c.benchmark_group(format!("parallel/{id:04x}/{frame}/{label}"));
            group.sample_size(10);
            group.throughput(Throughput::Bytes(size as u64));
            let plaintext = vec![0x61u8; size];
            let fl = FrameLength::new(frame).unwrap();
            let ct = block_on(
                encrypt_client(suite)
                    .encrypt(&keys, &plaintext)
                    .algorithm_suite(suite)
                    .frame_length(fl)
                    .into_future(),
            )
            .unwrap()
            .ciphertext;
            for (name, par) in [
                ("one-thread", Parallelism::off()),
                ("all-cores", Parallelism::default()),
            ] {
                let enc = Client::builder()
                    .commitment_policy(CommitmentPolicy::REQUIRE_ENCRYPT_ALLOW_DECRYPT)
                    .parallelism(par)
                    .build();
                group.bench_function(BenchmarkId::new("encrypt", name), |b| {
                    b.iter(|| {
                        block_on(
                            enc.encrypt(&keys, &plaintext)
                                .algorithm_suite(suite)
                                .frame_length(fl)
                                .into_future(),
                        )
                        .unwrap()
                    })
                });
                group.bench_function(BenchmarkId::new("decrypt", name), |b| {
                    b.iter(|| block_on(enc.decrypt(&keys, &ct).into_future()).unwrap())
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, throughput, small_messages, parallel);
criterion_main!(benches);
