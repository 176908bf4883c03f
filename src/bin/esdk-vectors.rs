//! `esdk-vectors`: runs ESDK decrypt test-vector manifests, and writes an encrypt set for other
//! ESDKs to check.
//!
//! ```text
//! esdk-vectors decrypt DIR [--manifest FILE]   # PASS/FAIL/SKIP per test, then "N passed, N failed, N skipped"
//! esdk-vectors encrypt OUT                     # keys.json, manifest.json, ciphertexts/, plaintexts/
//! ```
//!
//! Manifests: `awses-decrypt` version 5 (`decryption-scenario` entries with a
//! `decryptKeyDescription`) and version 2 (`master-keys` lists, with the extension fields
//! `commitment-policy`, `max-encrypted-data-keys`, `expected-encryption-context`,
//! `decryption-method`). Keys: a keys manifest version 3.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use esdk::vectors::{AnyResult, Build, Case, Manifest, Unsupported, manifests_in};
use esdk::{AlgorithmSuite, Client, CommitmentPolicy, FrameLength, MaterialsSource, RawAesKeyring};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("decrypt") => run_decrypt(&args[1..]),
        Some("encrypt") => run_encrypt(&args[1..]),
        _ => Err(usage()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("esdk-vectors: {e}");
            ExitCode::from(2)
        }
    }
}

fn usage() -> String {
    "usage: esdk-vectors decrypt DIR [--manifest FILE] | esdk-vectors encrypt OUT".into()
}

// ---------------------------------------------------------------------------------------------
// decrypt (manifests, keys and cases are read by `esdk::vectors`, shared with the tests)

enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
}

async fn run_case(case: &Case) -> Verdict {
    let source = match &case.source {
        Build::Ready(s) => s,
        Build::Skip(Unsupported(why)) => return Verdict::Skip(why.clone()),
    };
    let mut builder = Client::builder().commitment_policy(case.policy);
    if let Some(n) = case.max_edks {
        builder = builder.max_encrypted_data_keys(n);
    }
    let client = builder.build();
    let mut call = client.decrypt(source, &case.ciphertext);
    if let Some(ec) = &case.reproduced {
        call = call.encryption_context(ec.iter().map(|(k, v)| (k.to_owned(), v.to_owned())));
    }
    if case.unsigned_only {
        call = call.unsigned_only();
    }
    match (call.await, &case.expected) {
        (Ok(out), Some(expected)) => {
            if &out.plaintext != expected {
                return Verdict::Fail(format!(
                    "plaintext differs ({} bytes, expected {})",
                    out.plaintext.len(),
                    expected.len()
                ));
            }
            if let Some(ec) = &case.expected_context {
                for (k, v) in ec.iter() {
                    if out.header.encryption_context().get(k) != Some(v) {
                        return Verdict::Fail(format!("encryption context lacks {k:?}={v:?}"));
                    }
                }
            }
            Verdict::Pass
        }
        (Ok(_), None) => Verdict::Fail("decryption succeeded but must fail".into()),
        (Err(e), Some(_)) => Verdict::Fail(format!("decryption failed: {e}")),
        (Err(_), None) => Verdict::Pass,
    }
}

fn run_decrypt(args: &[String]) -> AnyResult<ExitCode> {
    let mut dir = None;
    let mut manifest = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--manifest" => manifest = Some(it.next().ok_or("--manifest needs a file")?.clone()),
            _ if dir.is_none() => dir = Some(PathBuf::from(a)),
            _ => return Err(usage()),
        }
    }
    let dir = dir.ok_or_else(usage)?;
    let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    for path in manifests_in(&dir, manifest.as_deref()) {
        let m = Manifest::load(&path)?;
        for (name, test) in &m.tests {
            let verdict = match m.case(test) {
                Ok(case) => futures::executor::block_on(run_case(&case)),
                Err(e) => Verdict::Fail(format!("cannot load test: {e}")),
            };
            match verdict {
                Verdict::Pass => {
                    passed += 1;
                    println!("PASS {name}");
                }
                Verdict::Fail(why) => {
                    failed += 1;
                    println!("FAIL {name}: {why}");
                }
                Verdict::Skip(why) => {
                    skipped += 1;
                    println!("SKIP {name}: {why}");
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

// ---------------------------------------------------------------------------------------------
// encrypt

/// A deterministic, non-repeating byte pattern for plaintexts (xorshift; no secrecy needed).
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn run_encrypt(args: &[String]) -> AnyResult<ExitCode> {
    let [out] = args else { return Err(usage()) };
    let out = PathBuf::from(out);
    for sub in ["ciphertexts", "plaintexts"] {
        std::fs::create_dir_all(out.join(sub)).map_err(|e| e.to_string())?;
    }
    const PROVIDER_ID: &str = "esdk-vectors";
    let mut keys_json = serde_json::Map::new();
    let mut keyrings = Vec::new();
    for bits in [128usize, 192, 256] {
        let mut key = vec![0u8; bits / 8];
        getrandom_fill(&mut key)?;
        let name = format!("aes-{bits}");
        keys_json.insert(
            name.clone(),
            json!({"type": "symmetric", "algorithm": "aes", "bits": bits, "encoding": "base64",
                   "material": BASE64.encode(&key), "key-id": name, "encrypt": true, "decrypt": true}),
        );
        let k = RawAesKeyring::new(PROVIDER_ID, &name, &key).map_err(|e| e.to_string())?;
        keyrings.push((
            MaterialsSource::keyring(k),
            json!([{"type": "raw", "key": name, "provider-id": PROVIDER_ID, "encryption-algorithm": "aes"}]),
        ));
    }
    let contexts: [(&str, Vec<(&str, &str)>); 3] = [
        ("ec-empty", vec![]),
        (
            "ec-several",
            vec![
                ("purpose", "test"),
                ("tenant", "42"),
                ("a", "b"),
                ("zzz", ""),
            ],
        ),
        (
            "ec-utf8",
            vec![
                ("\u{1F600}", "smile"),
                ("\u{FF21}", "fullwidth"),
                ("cl\u{E9}", "v\u{E4}lue \u{4E2D}\u{6587}"),
            ],
        ),
    ];
    let mut tests = serde_json::Map::new();
    let mut plaintexts: BTreeMap<usize, String> = BTreeMap::new();
    let mut index = 0usize;
    for suite in AlgorithmSuite::ALL {
        let policy = if suite.is_committing() {
            CommitmentPolicy::REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        } else {
            CommitmentPolicy::FORBID_ENCRYPT_ALLOW_DECRYPT
        };
        let client = Client::builder().commitment_policy(policy).build();
        for frame in [1u32, 4096, 65536] {
            let f = frame as usize;
            let mut sizes = vec![0, 1, f - 1, f, f + 1, 3 * f + 5];
            sizes.sort_unstable();
            sizes.dedup();
            for size in sizes {
                let pt_name = plaintexts
                    .entry(size)
                    .or_insert_with(|| format!("pt-{size}"))
                    .clone();
                let plaintext = pattern(size, size as u64 + 7);
                for (ec_name, pairs) in &contexts {
                    let (source, master_keys) = &keyrings[index % keyrings.len()];
                    index += 1;
                    let name = format!("{:04x}-f{frame}-p{size}-{ec_name}", suite.id());
                    let call = client
                        .encrypt(source, &plaintext)
                        .algorithm_suite(suite)
                        .frame_length(FrameLength::new(frame).expect("non-zero"))
                        .encryption_context(pairs.iter().copied());
                    let msg = futures::executor::block_on(call.into_future())
                        .map_err(|e| format!("{name}: {e}"))?;
                    // Check our own output before handing it to others.
                    let back = futures::executor::block_on(
                        client
                            .decrypt(source, &msg.ciphertext)
                            .encryption_context(pairs.iter().copied())
                            .into_future(),
                    )
                    .map_err(|e| format!("{name}: own decrypt failed: {e}"))?;
                    if back.plaintext != plaintext {
                        return Err(format!("{name}: own decrypt differs"));
                    }
                    std::fs::write(out.join("ciphertexts").join(&name), &msg.ciphertext)
                        .map_err(|e| e.to_string())?;
                    let expected_ec: serde_json::Map<String, Value> = pairs
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), json!(v)))
                        .collect();
                    tests.insert(
                        name.clone(),
                        json!({
                            "description": format!("esdk encrypt: suite {:#06x}, frame {frame}, {size} bytes, {ec_name}", suite.id()),
                            "ciphertext": format!("file://ciphertexts/{name}"),
                            "master-keys": master_keys,
                            "result": {"output": {"plaintext": format!("file://plaintexts/{pt_name}")}},
                            "expected-encryption-context": expected_ec,
                        }),
                    );
                }
            }
        }
    }
    for (size, name) in &plaintexts {
        std::fs::write(
            out.join("plaintexts").join(name),
            pattern(*size, *size as u64 + 7),
        )
        .map_err(|e| e.to_string())?;
    }
    let keys = json!({"manifest": {"type": "keys", "version": 3}, "keys": keys_json});
    let manifest = json!({
        "manifest": {"type": "awses-decrypt", "version": 2},
        "client": {"name": "esdk", "version": env!("CARGO_PKG_VERSION")},
        "keys": "file://keys.json",
        "tests": tests,
    });
    let write = |file: &str, v: &Value| {
        std::fs::write(
            out.join(file),
            serde_json::to_vec_pretty(v).expect("serializable"),
        )
        .map_err(|e| e.to_string())
    };
    write("keys.json", &keys)?;
    write("manifest.json", &manifest)?;
    println!("wrote {} tests to {}", tests.len(), out.display());
    Ok(ExitCode::SUCCESS)
}

fn getrandom_fill(buf: &mut [u8]) -> AnyResult<()> {
    esdk::crypto::default_provider()
        .random
        .fill(buf)
        .map_err(|e| e.to_string())
}
