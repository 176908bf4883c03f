//! Side-by-side speed comparison, run on demand by `./run.sh` (not by CI).
//!
//! ```text
//! esdk-compare measure [--mib 64 --runs 3 --suites 0478,... --frames 4096,65536 --small-secs 2]
//!     esdk with both backends, plus the machine's bare AES-256-GCM seal, SHA-384 and memcpy
//!     speeds; JSON lines on stdout
//! esdk-compare report FILE...
//!     reads JSON lines (this program's, aws-esdk-bench's, python_small.py's) and the JSON of
//!     ../../../shared/peers/bench_python.py, and prints the tables with ratios
//! ```

mod measure;

use std::collections::BTreeMap;

use esdk::crypto::{CryptoProvider, HashAlgorithm};
use esdk::parallel::Parallelism;
use esdk::{AlgorithmSuite, Client, CommitmentPolicy, FrameLength, MaterialsSource, RawAesKeyring};
use measure::{
    Opts, critical_path, filler, oneshot_record, parallel_record, peak_extra, peak_ratio,
    peak_record, rate, repeat, small_record, small_suites,
};

/// Medians over `runs` of the busiest thread's and all threads' CPU seconds of `op`.
fn critical_repeat<R>(runs: usize, mut op: impl FnMut() -> R) -> (f64, f64) {
    let (mut crit, mut sum) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (c, s, out) = critical_path(&mut op);
        drop(out);
        crit.push(c);
        sum.push(s);
    }
    crit.sort_by(f64::total_cmp);
    sum.sort_by(f64::total_cmp);
    (crit[runs / 2], sum[runs / 2])
}
use serde_json::Value;

const BACKENDS: [(&str, &str, &CryptoProvider); 2] = [
    ("aws-lc", "esdk/aws-lc", &esdk::crypto::aws_lc::PROVIDER),
    (
        "rustcrypto",
        "esdk/RustCrypto",
        &esdk::crypto::rustcrypto::PROVIDER,
    ),
];

fn main() {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("measure") => measure(),
        Some("report") => report(&args.collect::<Vec<_>>()),
        Some("threshold") => threshold(),
        _ => {
            eprintln!("usage: esdk-compare measure [OPTIONS] | esdk-compare report FILE...");
            std::process::exit(2)
        }
    }
}

fn measure() {
    // The same options as aws-esdk-bench, after the subcommand.
    let o = Opts::parse_from(std::env::args().skip(2));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    let plaintext = filler(o.mib << 20);
    for (id, name, provider) in BACKENDS {
        if !o.backends.iter().any(|b| b == id) {
            continue;
        }
        if o.machine {
            machine(name, provider, &plaintext, o.runs);
        }
        let keys = MaterialsSource::from(
            RawAesKeyring::with_crypto_provider("bench", "aes-256", &[7u8; 32], provider)
                .expect("keyring"),
        );
        // One core: comparable per CPU-second with the other implementations (both run on one
        // thread). Frames on every core are measured after, per wall-second.
        let decrypt_client = Client::builder()
            .commitment_policy(CommitmentPolicy::REQUIRE_ENCRYPT_ALLOW_DECRYPT)
            .crypto_provider(provider)
            .parallelism(Parallelism::off())
            .build();
        for &id in &o.suites {
            let suite = AlgorithmSuite::from_id(id).expect("known suite");
            let policy = if suite.is_committing() {
                CommitmentPolicy::REQUIRE_ENCRYPT_REQUIRE_DECRYPT
            } else {
                CommitmentPolicy::FORBID_ENCRYPT_ALLOW_DECRYPT
            };
            let client = Client::builder()
                .commitment_policy(policy)
                .crypto_provider(provider)
                .parallelism(Parallelism::off())
                .build();
            for &frame in &o.frames {
                let fl = FrameLength::new(frame).expect("frame length");
                let (t, out) = repeat(
                    o.runs,
                    || (),
                    |()| {
                        rt.block_on(
                            client
                                .encrypt(&keys, &plaintext)
                                .algorithm_suite(suite)
                                .frame_length(fl)
                                .into_future(),
                        )
                        .expect("encrypt")
                    },
                );
                println!("{}", oneshot_record(name, id, frame, "encrypt", o.mib, t));
                let ct = out.ciphertext;
                let (t, out) = repeat(
                    o.runs,
                    || (),
                    |()| {
                        rt.block_on(decrypt_client.decrypt(&keys, &ct).into_future())
                            .expect("decrypt")
                    },
                );
                assert!(out.plaintext == plaintext, "round trip");
                println!("{}", oneshot_record(name, id, frame, "decrypt", o.mib, t));
                drop(out);
                let (extra, out) = peak_extra(|| {
                    rt.block_on(
                        client
                            .encrypt(&keys, &plaintext)
                            .algorithm_suite(suite)
                            .frame_length(fl)
                            .into_future(),
                    )
                    .expect("encrypt")
                });
                if let Some(e) = extra {
                    let ratio = peak_ratio(plaintext.len(), e, out.ciphertext.len());
                    println!("{}", peak_record(name, id, frame, "encrypt", ratio));
                }
                drop(out);
                let (extra, out) = peak_extra(|| {
                    rt.block_on(decrypt_client.decrypt(&keys, &ct).into_future())
                        .expect("decrypt")
                });
                if let Some(e) = extra {
                    let ratio = peak_ratio(ct.len(), e, out.plaintext.len());
                    println!("{}", peak_record(name, id, frame, "decrypt", ratio));
                }
                drop(out);
                if o.parallel {
                    let par = format!("{name}{PAR}");
                    // ESDK_COMPARE_BATCH_MIB sets the batch size (default: the library's).
                    let mut all = Parallelism::default();
                    if let Some(mib) = std::env::var("ESDK_COMPARE_BATCH_MIB")
                        .ok()
                        .and_then(|v| v.parse::<usize>().ok())
                    {
                        all = all.batch_bytes(mib << 20);
                    }
                    let client = Client::builder()
                        .commitment_policy(policy)
                        .crypto_provider(provider)
                        .parallelism(all)
                        .build();
                    let decrypt_client = Client::builder()
                        .commitment_policy(CommitmentPolicy::REQUIRE_ENCRYPT_ALLOW_DECRYPT)
                        .crypto_provider(provider)
                        .parallelism(all)
                        .build();
                    let (t, out) = repeat(
                        o.runs,
                        || (),
                        |()| {
                            rt.block_on(
                                client
                                    .encrypt(&keys, &plaintext)
                                    .algorithm_suite(suite)
                                    .frame_length(fl)
                                    .into_future(),
                            )
                            .expect("encrypt")
                        },
                    );
                    println!("{}", oneshot_record(&par, id, frame, "encrypt", o.mib, t));
                    drop(out);
                    let (t, out) = repeat(
                        o.runs,
                        || (),
                        |()| {
                            rt.block_on(decrypt_client.decrypt(&keys, &ct).into_future())
                                .expect("decrypt")
                        },
                    );
                    assert!(out.plaintext == plaintext, "round trip");
                    println!("{}", oneshot_record(&par, id, frame, "decrypt", o.mib, t));
                    drop(out);
                    let (crit, sum) = critical_repeat(o.runs, || {
                        rt.block_on(
                            client
                                .encrypt(&keys, &plaintext)
                                .algorithm_suite(suite)
                                .frame_length(fl)
                                .into_future(),
                        )
                        .expect("encrypt")
                    });
                    println!(
                        "{}",
                        parallel_record(&par, id, frame, "encrypt", o.mib, crit, sum)
                    );
                    let (crit, sum) = critical_repeat(o.runs, || {
                        rt.block_on(decrypt_client.decrypt(&keys, &ct).into_future())
                            .expect("decrypt")
                    });
                    println!(
                        "{}",
                        parallel_record(&par, id, frame, "decrypt", o.mib, crit, sum)
                    );
                    let (extra, out) = peak_extra(|| {
                        rt.block_on(
                            client
                                .encrypt(&keys, &plaintext)
                                .algorithm_suite(suite)
                                .frame_length(fl)
                                .into_future(),
                        )
                        .expect("encrypt")
                    });
                    if let Some(e) = extra {
                        let ratio = peak_ratio(plaintext.len(), e, out.ciphertext.len());
                        println!("{}", peak_record(&par, id, frame, "encrypt", ratio));
                    }
                }
            }
        }
        let small = filler(1024);
        for id in small_suites(&o) {
            let suite = AlgorithmSuite::from_id(id).expect("known suite");
            let (per_cpu, per_wall) = rate(o.small_secs, || {
                let ct = rt
                    .block_on(
                        decrypt_client
                            .encrypt(&keys, &small)
                            .algorithm_suite(suite)
                            .into_future(),
                    )
                    .expect("encrypt")
                    .ciphertext;
                let out = rt
                    .block_on(decrypt_client.decrypt(&keys, &ct).into_future())
                    .expect("decrypt");
                assert_eq!(out.plaintext.len(), 1024);
            });
            println!("{}", small_record(name, id, per_cpu, per_wall));
        }
    }
}

/// The machine's ceilings through each backend: AES-256-GCM sealing in place in 64 KiB pieces
/// (an ESDK frame), SHA-384, and memcpy, over the same buffer size as the messages.
fn machine(name: &str, provider: &CryptoProvider, data: &[u8], runs: usize) {
    let mib = data.len() >> 20;
    let key = provider.aead.key(&[7u8; 32]).expect("key");
    let mut buf = data.to_vec();
    let (t, _) = repeat(
        runs,
        || (),
        |()| {
            for (i, chunk) in buf.chunks_mut(65536).enumerate() {
                let mut iv = [0u8; 12];
                iv[8..].copy_from_slice(&(i as u32).to_be_bytes());
                std::hint::black_box(key.seal_in_place(&iv, b"", chunk).expect("seal"));
            }
        },
    );
    println!(
        "{}",
        oneshot_record(name, 0, 65536, "aes-256-gcm-seal", mib, t)
    );
    // The same on every thread of rayon's pool: the machine's own parallel ceiling.
    let (t, _) = repeat(
        runs,
        || (),
        |()| {
            use rayon::prelude::*;
            buf.par_chunks_mut(65536)
                .enumerate()
                .for_each(|(i, chunk)| {
                    let mut iv = [0u8; 12];
                    iv[8..].copy_from_slice(&(i as u32).to_be_bytes());
                    std::hint::black_box(key.seal_in_place(&iv, b"", chunk).expect("seal"));
                })
        },
    );
    println!(
        "{}",
        oneshot_record(name, 0, 65536, "aes-256-gcm-seal all cores", mib, t)
    );
    let (crit, sum) = critical_repeat(runs, || {
        use rayon::prelude::*;
        buf.par_chunks_mut(65536)
            .enumerate()
            .for_each(|(i, chunk)| {
                let mut iv = [0u8; 12];
                iv[8..].copy_from_slice(&(i as u32).to_be_bytes());
                std::hint::black_box(key.seal_in_place(&iv, b"", chunk).expect("seal"));
            })
    });
    println!(
        "{}",
        parallel_record(name, 0, 65536, "aes-256-gcm-seal", mib, crit, sum)
    );
    let (t, _) = repeat(
        runs,
        || (),
        |()| std::hint::black_box(provider.hash.digest(HashAlgorithm::Sha384, &[data])),
    );
    println!("{}", oneshot_record(name, 0, 0, "sha-384", mib, t));
    let (t, _) = repeat(
        runs,
        || (),
        |()| {
            buf.copy_from_slice(data);
            std::hint::black_box(buf.len())
        },
    );
    println!("{}", oneshot_record(name, 0, 0, "memcpy", mib, t));
}

/// Figures keyed by (implementation, kind, suite, frame, op).
type Key = (String, String, String, u64, String);

fn report(files: &[String]) {
    let mut figures: BTreeMap<Key, (f64, f64)> = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        if let Ok(Value::Array(rows)) = serde_json::from_str::<Value>(&text) {
            // bench_python.py --json: [{suite, frame, enc_wall, enc_cpu, dec_wall, dec_cpu}]
            for r in rows {
                let suite = r["suite"].as_str().unwrap_or_default().to_owned();
                let frame = r["frame"].as_u64().unwrap_or_default();
                for (op, p) in [("encrypt", "enc"), ("decrypt", "dec")] {
                    let cpu = r[format!("{p}_cpu")].as_f64().unwrap_or(f64::NAN);
                    let wall = r[format!("{p}_wall")].as_f64().unwrap_or(f64::NAN);
                    let key = (PY.into(), "oneshot".into(), suite.clone(), frame, op.into());
                    figures.insert(key, (cpu, wall));
                }
            }
            continue;
        }
        for line in text.lines().filter(|l| l.starts_with('{')) {
            let r: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{file}: {e}"));
            let key = (
                r["impl"].as_str().unwrap_or_default().to_owned(),
                r["kind"].as_str().unwrap_or_default().to_owned(),
                r["suite"].as_str().unwrap_or_default().to_owned(),
                r["frame"].as_u64().unwrap_or(0),
                r["op"].as_str().unwrap_or_default().to_owned(),
            );
            // Peak-memory records carry one value, kept in the first place.
            let cpu = r["cpu"]
                .as_f64()
                .or(r["value"].as_f64())
                .unwrap_or(f64::NAN);
            let wall = r["wall"].as_f64().unwrap_or(f64::NAN);
            figures.insert(key, (cpu, wall));
        }
    }
    let get = |imp: &str, kind: &str, suite: &str, frame: u64, op: &str| {
        figures
            .get(&(imp.into(), kind.into(), suite.into(), frame, op.into()))
            .map(|f| f.0)
    };
    let cell = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0}"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.1}x", a / b),
        _ => "-".to_owned(),
    };
    let (lc, rc) = (BACKENDS[0].1, BACKENDS[1].1);

    println!("One-shot messages, MiB per CPU-second (median of the runs)");
    println!(
        "{:<7} {:>6} {:<8} {:>11} {:>15} {:>14} {:>12} | {:>8} {:>8} {:>8} {:>8}",
        "suite", "frame", "op", lc, rc, AWS, PY, "lc/aws", "rc/aws", "lc/py", "rc/py"
    );
    let mut rows: Vec<(String, u64, String)> = figures
        .keys()
        .filter(|k| k.1 == "oneshot" && k.2 != "0x0000")
        .map(|k| (k.2.clone(), k.3, k.4.clone()))
        .collect();
    rows.sort_by(|a, b| {
        suite_order(&a.0)
            .cmp(&suite_order(&b.0))
            .then(b.1.cmp(&a.1))
            .then(b.2.cmp(&a.2))
    });
    rows.dedup();
    for (suite, frame, op) in &rows {
        let f = |imp: &str| get(imp, "oneshot", suite, *frame, op);
        println!(
            "{:<7} {:>6} {:<8} {:>11} {:>15} {:>14} {:>12} | {:>8} {:>8} {:>8} {:>8}",
            suite,
            frame,
            op,
            cell(f(lc)),
            cell(f(rc)),
            cell(f(AWS)),
            cell(f(PY)),
            ratio(f(lc), f(AWS)),
            ratio(f(rc), f(AWS)),
            ratio(f(lc), f(PY)),
            ratio(f(rc), f(PY)),
        );
    }

    println!("\n1 KiB messages, round trips (encrypt + decrypt) per CPU-second");
    println!(
        "{:<7} {:>11} {:>15} {:>14} {:>12} | {:>8} {:>8} {:>8} {:>8}",
        "suite", lc, rc, AWS, PY, "lc/aws", "rc/aws", "lc/py", "rc/py"
    );
    for suite in ["0x0478", "0x0578"] {
        let f = |imp: &str| get(imp, "small", suite, 0, "");
        println!(
            "{:<7} {:>11} {:>15} {:>14} {:>12} | {:>8} {:>8} {:>8} {:>8}",
            suite,
            cell(f(lc)),
            cell(f(rc)),
            cell(f(AWS)),
            cell(f(PY)),
            ratio(f(lc), f(AWS)),
            ratio(f(rc), f(AWS)),
            ratio(f(lc), f(PY)),
            ratio(f(rc), f(PY)),
        );
    }

    println!(
        "\nPeak memory of a one-shot call: (input + what the call added at its peak) / (input + output)"
    );
    println!(
        "{:<7} {:>6} {:<8} {:>11} {:>15} {:>14}",
        "suite", "frame", "op", lc, rc, AWS
    );
    for (suite, frame, op) in &rows {
        let f = |imp: &str| get(imp, "peak", suite, *frame, op);
        if [lc, rc, AWS].iter().all(|imp| f(imp).is_none()) {
            continue;
        }
        let cell2 = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
        println!(
            "{:<7} {:>6} {:<8} {:>11} {:>15} {:>14}",
            suite,
            frame,
            op,
            cell2(f(lc)),
            cell2(f(rc)),
            cell2(f(AWS)),
        );
    }

    println!(
        "\nFrames on every core ({} threads): one-shot MiB per wall-second, one core vs all",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<7} {:>6} {:<8} {:>16} {:>16} {:>8} {:>10} | {:>16} {:>16} {:>8}",
        "suite",
        "frame",
        "op",
        "aws-lc 1 core",
        "aws-lc all",
        "speedup",
        "all/seal",
        "RustCrypto 1",
        "RustCrypto all",
        "speedup"
    );
    println!(
        "(1 core: MiB per CPU-second of the sequential run; all: MiB per second of the busiest \
         thread of the parallel run, i.e. its wall time on otherwise idle cores, read from \
         /proc/self/task/*/schedstat; seal: bare AES-256-GCM, one core)"
    );
    let crit =
        |imp: &str, suite: &str, frame: u64, op: &str| get(imp, "critical", suite, frame, op);
    let wall = |imp: &str, suite: &str, frame: u64, op: &str| {
        figures
            .get(&(imp.into(), "oneshot".into(), suite.into(), frame, op.into()))
            .map(|f| f.1)
    };
    let (lc_par, rc_par) = (format!("{lc}{PAR}"), format!("{rc}{PAR}"));
    let lc_seal = get(lc, "oneshot", "0x0000", 65536, "aes-256-gcm-seal");
    for (suite, frame, op) in &rows {
        if wall(&lc_par, suite, *frame, op).is_none() && wall(&rc_par, suite, *frame, op).is_none()
        {
            continue;
        }
        let (a1, an) = (
            get(lc, "oneshot", suite, *frame, op),
            crit(&lc_par, suite, *frame, op),
        );
        let (r1, rn) = (
            get(rc, "oneshot", suite, *frame, op),
            crit(&rc_par, suite, *frame, op),
        );
        println!(
            "{:<7} {:>6} {:<8} {:>16} {:>16} {:>8} {:>10} | {:>16} {:>16} {:>8}",
            suite,
            frame,
            op,
            cell(a1),
            cell(an),
            ratio(an, a1),
            ratio(an, lc_seal),
            cell(r1),
            cell(rn),
            ratio(rn, r1),
        );
    }
    println!("measured wall-clock on this (shared) machine, MiB per wall-second, 1 core / all:");
    for imp in [lc, rc] {
        let par = format!("{imp}{PAR}");
        for (suite, frame, op) in &rows {
            let (one, all) = (wall(imp, suite, *frame, op), wall(&par, suite, *frame, op));
            if all.is_some() {
                println!(
                    "  {imp} {suite} {frame} {op}: {} / {} ({})",
                    cell(one),
                    cell(all),
                    ratio(all, one)
                );
            }
        }
    }
    for imp in [&lc_par, &rc_par] {
        for (suite, frame, op) in &rows {
            if let Some(v) = get(imp, "peak", suite, *frame, op) {
                println!("peak memory {imp} {suite} {frame} {op}: {v:.2}");
            }
        }
    }

    for (_, name, _) in BACKENDS {
        let one = get(name, "oneshot", "0x0000", 65536, "aes-256-gcm-seal");
        let all = get(name, "critical", "0x0000", 65536, "aes-256-gcm-seal");
        if all.is_some() {
            println!(
                "bare AES-256-GCM seal on all cores, {name}: {} MiB per second of the busiest thread ({} the one-core rate)",
                cell(all),
                ratio(all, one)
            );
        }
    }

    println!("\nThe machine through each backend, MiB per CPU-second, one core");
    println!(
        "{:<16} {:>22} {:>8} {:>8} | {:>22} {:>22} {:>22}",
        "backend",
        "AES-256-GCM seal 64K",
        "SHA-384",
        "memcpy",
        "0478/64K enc / seal",
        "0578/4K enc / SHA-384",
        "0578/64K enc / SHA-384"
    );
    for (_, name, _) in BACKENDS {
        let m = |op: &str, frame: u64| get(name, "oneshot", "0x0000", frame, op);
        let (seal, sha) = (m("aes-256-gcm-seal", 65536), m("sha-384", 0));
        let pct = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => format!("{:.0}%", 100.0 * a / b),
            _ => "-".to_owned(),
        };
        let enc = |suite: &str, frame: u64| get(name, "oneshot", suite, frame, "encrypt");
        println!(
            "{:<16} {:>22} {:>8} {:>8} | {:>22} {:>22} {:>22}",
            name,
            cell(seal),
            cell(sha),
            cell(m("memcpy", 0)),
            pct(enc("0x0478", 65536), seal),
            pct(enc("0x0578", 4096), sha),
            pct(enc("0x0578", 65536), sha),
        );
    }
}

const AWS: &str = "aws-esdk 1.2.4";
/// Suffix of the records of esdk with frames on every core.
const PAR: &str = " all cores";
const PY: &str = "python 4.0.7";

fn suite_order(suite: &str) -> usize {
    ["0x0478", "0x0578", "0x0178", "0x0078"]
        .iter()
        .position(|s| *s == suite)
        .unwrap_or(9)
}

/// `esdk-compare threshold`: where frames on every core start to pay, for the default
/// `Parallelism::min_bytes`. For each size: one-shot encrypt and decrypt (0x0478, 4 KiB
/// frames, aws-lc) on one thread (CPU seconds) and on every core (busiest thread's CPU seconds,
/// and all threads').
fn threshold() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    let provider = &esdk::crypto::aws_lc::PROVIDER;
    let keys = MaterialsSource::from(
        RawAesKeyring::with_crypto_provider("bench", "aes-256", &[7u8; 32], provider).expect("keyring"),
    );
    let make = |par: Parallelism| {
        Client::builder()
            .crypto_provider(provider)
            .parallelism(par)
            .build()
    };
    let one = make(Parallelism::off());
    let all = make(Parallelism::default().min_bytes(0));
    println!("suite size_kib op seq_us par_crit_us par_sum_us crit/seq");
    for (suite, kib) in [0x0478u16, 0x0578]
        .into_iter()
        .flat_map(|s| [16usize, 32, 64, 128, 256, 512, 1024, 4096].map(|k| (s, k)))
    {
        let suite = AlgorithmSuite::from_id(suite).expect("suite");
        let pt = filler(kib << 10);
        let reps = (64 << 10) / kib;
        let ct = rt
            .block_on(one.encrypt(&keys, &pt).algorithm_suite(suite).into_future())
            .expect("encrypt")
            .ciphertext;
        for op in ["encrypt", "decrypt"] {
            let run = |c: &Client| match op {
                "encrypt" => rt
                    .block_on(c.encrypt(&keys, &pt).algorithm_suite(suite).into_future())
                    .map(|_| ()),
                _ => rt.block_on(c.decrypt(&keys, &ct).into_future()).map(|_| ()),
            };
            let mut seq = Vec::new();
            let mut crit = Vec::new();
            let mut sum = Vec::new();
            for _ in 0..5 {
                let (c, _, _) = critical_path(|| (0..reps).for_each(|_| run(&one).expect("op")));
                seq.push(c / reps as f64);
                let (c, s, _) = critical_path(|| (0..reps).for_each(|_| run(&all).expect("op")));
                crit.push(c / reps as f64);
                sum.push(s / reps as f64);
            }
            for v in [&mut seq, &mut crit, &mut sum] {
                v.sort_by(f64::total_cmp);
            }
            println!(
                "{:04X} {kib} {op} {:.1} {:.1} {:.1} {:.2}",
                suite.id(),
                seq[2] * 1e6,
                crit[2] * 1e6,
                sum[2] * 1e6,
                crit[2] / seq[2]
            );
        }
    }
}
