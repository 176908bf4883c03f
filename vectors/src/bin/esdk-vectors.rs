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
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

// Manifests, keys, keyrings from descriptions and cases: shared with the tests.
use esdk_test_vectors::{
    AnyResult, Build, Case, Keys, Unsupported, load_case, manifests_in, read_json,
};
#[cfg(feature = "kms")]
use esdk_test_vectors::{context_of, kms_endpoint, kms_supplier};

use esdk::crypto::RsaPadding;
use esdk::io::Release;
use esdk::{
    AlgorithmSuite, Client, CommitmentPolicy, FrameLength, Keyring, MaterialsSource, MultiKeyring,
    RawAesKeyring, RawRsaKeyring, RequiredEncryptionContextCmm,
};

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
        call = call.release(Release::UnsignedOnly);
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
    // KMS keyrings need a tokio runtime (the AWS SDK's HTTP client and timers).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    for path in manifests_in(&dir, manifest.as_deref()) {
        let m = read_json(&path)?;
        if is_kms_vector_set(&m) {
            for (name, verdict) in runtime.block_on(run_kms_vector_set(&path, &m))? {
                tally(&name, verdict, &mut passed, &mut failed, &mut skipped);
            }
            continue;
        }
        if m["manifest"]["type"] != "awses-decrypt" {
            return Err(format!("{}: not an awses-decrypt manifest", path.display()));
        }
        let version = m["manifest"]["version"].as_u64().unwrap_or(0);
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let keys = Keys::load(&base, &m)?;
        let tests = m["tests"].as_object().ok_or("manifest has no tests")?;
        for (name, test) in tests {
            let verdict = match load_case(&base, &keys, version, test) {
                Ok(case) => runtime.block_on(run_case(&case)),
                Err(e) => Verdict::Fail(format!("cannot load test: {e}")),
            };
            tally(name, verdict, &mut passed, &mut failed, &mut skipped);
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints one verdict line and counts it.
fn tally(
    name: &str,
    verdict: Verdict,
    passed: &mut usize,
    failed: &mut usize,
    skipped: &mut usize,
) {
    match verdict {
        Verdict::Pass => {
            *passed += 1;
            println!("PASS {name}");
        }
        Verdict::Fail(why) => {
            *failed += 1;
            println!("FAIL {name}: {why}");
        }
        Verdict::Skip(why) => {
            *skipped += 1;
            println!("SKIP {name}: {why}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// AWS KMS: the KMS vector set of ../shared/kms/vectors (keyrings for `aws-kms*` descriptions are in `esdk::vectors`)

/// The KMS vector set (`gen_kms_vectors.py`): `{"kms": {...}, "keys": {...}, "vectors": [...]}`.
fn is_kms_vector_set(m: &Value) -> bool {
    m.get("manifest").is_none() && m["kms"].is_object() && m["vectors"].is_array()
}

/// Decrypts each vector of a KMS vector set with every keyring its `decrypt_with` lists
/// (`strict`, `mrk-strict`, `discovery`, `mrk-discovery`); one verdict per vector.
#[cfg(feature = "kms")]
async fn run_kms_vector_set(path: &Path, m: &Value) -> AnyResult<Vec<(String, Verdict)>> {
    let base = path.parent().unwrap_or(Path::new("."));
    let vectors = m["vectors"].as_array().ok_or("no vectors")?;
    let endpoint = match kms_endpoint() {
        Ok(e) => e,
        Err(Unsupported(why)) => {
            return Ok(vectors
                .iter()
                .map(|v| {
                    (
                        v["id"].as_str().unwrap_or("?").to_owned(),
                        Verdict::Skip(why.clone()),
                    )
                })
                .collect());
        }
    };
    let supplier: std::sync::Arc<dyn esdk::keyring::aws_kms::ClientSupplier> =
        std::sync::Arc::new(kms_supplier(&endpoint));
    let mut out = Vec::new();
    for v in vectors {
        let id = v["id"].as_str().ok_or("vector without id")?.to_owned();
        let verdict = match kms_vector(base, m, v, &supplier).await {
            Ok(()) => Verdict::Pass,
            Err(why) => Verdict::Fail(why),
        };
        out.push((id, verdict));
    }
    Ok(out)
}

#[cfg(not(feature = "kms"))]
async fn run_kms_vector_set(_path: &Path, m: &Value) -> AnyResult<Vec<(String, Verdict)>> {
    let why = "AWS KMS keyrings need the `kms` feature";
    Ok(m["vectors"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .map(|v| {
                    (
                        v["id"].as_str().unwrap_or("?").to_owned(),
                        Verdict::Skip(why.into()),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

#[cfg(feature = "kms")]
async fn kms_vector(
    base: &Path,
    m: &Value,
    v: &Value,
    supplier: &std::sync::Arc<dyn esdk::keyring::aws_kms::ClientSupplier>,
) -> AnyResult<()> {
    use esdk::keyring::aws_kms::{
        AwsKmsKeyring, AwsKmsMrkDiscoveryKeyring, AwsKmsMrkKeyring, AwsKmsMultiKeyring,
    };
    let read = |rel: &Value| -> AnyResult<Vec<u8>> {
        let rel = rel.as_str().ok_or("missing file name")?;
        std::fs::read(base.join(rel)).map_err(|e| format!("{rel}: {e}"))
    };
    let ciphertext = read(&v["ciphertext"])?;
    let plaintext = read(&v["plaintext"])?;
    let ec = context_of(&v["encryption_context"])?.unwrap_or_default();
    let edk_ids: Vec<&str> = v["edk_key_ids"]
        .as_array()
        .ok_or("no edk_key_ids")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let regions: Vec<&str> = m["kms"]["regions"]
        .as_array()
        .ok_or("no kms.regions")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let account = m["kms"]["account"].as_str().ok_or("no kms.account")?;
    let partition = m["kms"]["partition"].as_str().unwrap_or("aws");
    let client = Client::builder()
        .commitment_policy(CommitmentPolicy::REQUIRE_ENCRYPT_ALLOW_DECRYPT)
        .build();
    let methods = v["decrypt_with"]
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or("no decrypt_with")?;
    for (i, method) in methods.iter().enumerate() {
        let provider = method["provider"].as_str().unwrap_or("");
        let fail = |why: String| format!("{provider}#{i}: {why}");
        let key_ids: Vec<&str> = method["key_ids"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let client_for = |region: String| async move {
            supplier
                .client(Some(&region))
                .await
                .map_err(|e| e.to_string())
        };
        let region_of = |arn: &str| {
            esdk::keyring::aws_kms::KmsArn::parse(arn)
                .map(|a| a.region().to_owned())
                .map_err(|e| e.to_string())
        };
        let source: MaterialsSource = match (provider, key_ids.as_slice()) {
            ("strict", [one]) => AwsKmsKeyring::new(
                *one,
                client_for(region_of(one).map_err(fail)?)
                    .await
                    .map_err(fail)?,
            )
            .map_err(|e| fail(e.to_string()))?
            .into(),
            ("mrk-strict", [one]) => AwsKmsMrkKeyring::new(
                *one,
                client_for(region_of(one).map_err(fail)?)
                    .await
                    .map_err(fail)?,
            )
            .map_err(|e| fail(e.to_string()))?
            .into(),
            ("strict" | "mrk-strict", ids) if !ids.is_empty() => {
                let builder = if provider == "strict" {
                    AwsKmsMultiKeyring::strict()
                } else {
                    AwsKmsMultiKeyring::mrk()
                };
                builder
                    .key_ids(ids.iter().copied())
                    .client_supplier(supplier.clone())
                    .build()
                    .await
                    .map_err(|e| fail(e.to_string()))?
                    .into()
            }
            ("discovery", _) => {
                let filter = esdk::DiscoveryFilter::new(partition, [account])
                    .map_err(|e| fail(e.to_string()))?;
                AwsKmsMultiKeyring::discovery(regions.iter().copied())
                    .filter(filter)
                    .client_supplier(supplier.clone())
                    .build()
                    .await
                    .map_err(|e| fail(e.to_string()))?
                    .into()
            }
            ("mrk-discovery", _) => {
                let region = method["region"]
                    .as_str()
                    .ok_or_else(|| fail("no region".into()))?;
                AwsKmsMrkDiscoveryKeyring::new(client_for(region.to_owned()).await.map_err(fail)?)
                    .map_err(|e| fail(e.to_string()))?
                    .into()
            }
            _ => return Err(fail("unknown decrypt method".into())),
        };
        let out = client
            .decrypt(&source, &ciphertext)
            .encryption_context(ec.iter().map(|(k, v)| (k.to_owned(), v.to_owned())))
            .await
            .map_err(|e| fail(format!("decryption failed: {e}")))?;
        if out.plaintext != plaintext {
            return Err(fail(format!(
                "plaintext differs ({} bytes, expected {})",
                out.plaintext.len(),
                plaintext.len()
            )));
        }
        let infos: Vec<String> = out
            .header
            .encrypted_data_keys()
            .iter()
            .map(|e| String::from_utf8_lossy(e.provider_info()).into_owned())
            .collect();
        if infos != edk_ids {
            return Err(fail(format!(
                "EDK key ARNs {infos:?}, expected {edk_ids:?}"
            )));
        }
    }
    Ok(())
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

const PROVIDER_ID: &str = "esdk-vectors";

/// One way to decrypt a message of the encrypt set: a test-name suffix, the `master-keys` list
/// other ESDKs use, and our own source (which checks it before anyone else does).
struct Decrypter {
    suffix: String,
    master_keys: Value,
    source: MaterialsSource,
}

/// The encrypt set being written.
struct EncryptSet {
    out: PathBuf,
    /// Version 2 tests (`manifest.json`): every ESDK can run them.
    tests: serde_json::Map<String, Value>,
    /// Version 5 tests (`manifest-required-ec.json`): messages whose required encryption context
    /// pairs are not stored, so the decryptor must supply them.
    required_ec_tests: serde_json::Map<String, Value>,
    plaintexts: BTreeMap<usize, String>,
}

impl EncryptSet {
    fn plaintext(&mut self, size: usize) -> (String, Vec<u8>) {
        let name = self
            .plaintexts
            .entry(size)
            .or_insert_with(|| format!("pt-{size}"))
            .clone();
        (name, pattern(size, size as u64 + 7))
    }

    /// Encrypts one message, checks that each decrypter gets the plaintext back, writes the
    /// ciphertext and one version 2 test per decrypter.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        name: &str,
        description: &str,
        client: &Client,
        encrypt_with: &MaterialsSource,
        decrypters: &[Decrypter],
        suite: AlgorithmSuite,
        frame: u32,
        size: usize,
        pairs: &[(&str, &str)],
    ) -> AnyResult<()> {
        let (pt_name, plaintext) = self.plaintext(size);
        let call = client
            .encrypt(encrypt_with, &plaintext)
            .algorithm_suite(suite)
            .frame_length(FrameLength::new(frame).expect("non-zero"))
            .encryption_context(pairs.iter().copied());
        let msg = block_on(call.into_future()).map_err(|e| format!("{name}: {e}"))?;
        std::fs::write(self.out.join("ciphertexts").join(name), &msg.ciphertext)
            .map_err(|e| e.to_string())?;
        let expected_ec: serde_json::Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        for d in decrypters {
            own_decrypt(name, client, &d.source, &msg.ciphertext, pairs, &plaintext)?;
            self.tests.insert(
                format!("{name}{}", d.suffix),
                json!({
                    "description": description,
                    "ciphertext": format!("file://ciphertexts/{name}"),
                    "master-keys": d.master_keys,
                    "result": {"output": {"plaintext": format!("file://plaintexts/{pt_name}")}},
                    "expected-encryption-context": expected_ec,
                }),
            );
        }
        Ok(())
    }
}

/// Runs one call with local keys to completion on a current-thread runtime (tokio's, so that
/// this runner compiles the library with the same dependency features as the `esdk` tool and
/// CI builds the library once for both).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread tokio runtime");
    }
    RUNTIME.with(|rt| rt.block_on(f))
}

/// Our own decryption of a message we just wrote; it must give the plaintext back.
fn own_decrypt(
    name: &str,
    client: &Client,
    source: &MaterialsSource,
    ciphertext: &[u8],
    pairs: &[(&str, &str)],
    plaintext: &[u8],
) -> AnyResult<()> {
    let back = block_on(
        client
            .decrypt(source, ciphertext)
            .encryption_context(pairs.iter().copied())
            .into_future(),
    )
    .map_err(|e| format!("{name}: own decrypt failed: {e}"))?;
    if back.plaintext != plaintext {
        return Err(format!("{name}: own decrypt differs"));
    }
    Ok(())
}

fn client_for(suite: AlgorithmSuite) -> Client {
    let policy = if suite.is_committing() {
        CommitmentPolicy::REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    } else {
        CommitmentPolicy::FORBID_ENCRYPT_ALLOW_DECRYPT
    };
    Client::builder().commitment_policy(policy).build()
}

fn raw_aes_master_key(name: &str) -> Value {
    json!({"type": "raw", "key": name, "provider-id": PROVIDER_ID, "encryption-algorithm": "aes"})
}

/// The RSA paddings: label, manifest padding fields, padding.
const RSA_PADDINGS: [(&str, &str, Option<&str>, RsaPadding); 5] = [
    ("pkcs1", "pkcs1", None, RsaPadding::Pkcs1V15),
    ("oaep-sha1", "oaep-mgf1", Some("sha1"), RsaPadding::OaepSha1),
    (
        "oaep-sha256",
        "oaep-mgf1",
        Some("sha256"),
        RsaPadding::OaepSha256,
    ),
    (
        "oaep-sha384",
        "oaep-mgf1",
        Some("sha384"),
        RsaPadding::OaepSha384,
    ),
    (
        "oaep-sha512",
        "oaep-mgf1",
        Some("sha512"),
        RsaPadding::OaepSha512,
    ),
];

/// A key of the set: a label, the keyring that encrypts and the one that decrypts (for RSA: the
/// public key only, and the private key only) and its master-key description.
#[derive(Clone)]
struct TestKey {
    label: String,
    encrypt: Arc<dyn Keyring>,
    decrypt: Arc<dyn Keyring>,
    master_key: Value,
}

fn run_encrypt(args: &[String]) -> AnyResult<ExitCode> {
    let [out] = args else { return Err(usage()) };
    let out = PathBuf::from(out);
    for sub in ["ciphertexts", "plaintexts"] {
        std::fs::create_dir_all(out.join(sub)).map_err(|e| e.to_string())?;
    }
    let mut keys_json = serde_json::Map::new();

    // AES: one key of each size.
    let mut aes: Vec<TestKey> = Vec::new();
    for bits in [128usize, 192, 256] {
        let mut key = vec![0u8; bits / 8];
        getrandom_fill(&mut key)?;
        let name = format!("aes-{bits}");
        keys_json.insert(
            name.clone(),
            json!({"type": "symmetric", "algorithm": "aes", "bits": bits, "encoding": "base64",
                   "material": BASE64.encode(&key), "key-id": name, "encrypt": true, "decrypt": true}),
        );
        let k: Arc<dyn Keyring> =
            Arc::new(RawAesKeyring::new(PROVIDER_ID, &name, &key).map_err(|e| e.to_string())?);
        aes.push(TestKey {
            master_key: raw_aes_master_key(&name),
            label: name,
            encrypt: k.clone(),
            decrypt: k,
        });
    }

    // RSA: one 2048-bit key pair made now, registered once per padding under its own key name,
    // so that an encrypted data key names exactly one (key, padding).
    let (rsa_private, rsa_public) = esdk::crypto::default_provider()
        .rsa
        .generate_pem(2048)
        .map_err(|e| e.to_string())?;
    let mut rsa: Vec<TestKey> = Vec::new();
    for (label, algorithm, hash, padding) in RSA_PADDINGS {
        let name = format!("rsa-2048-{label}");
        keys_json.insert(
            name.clone(),
            json!({"type": "private", "algorithm": "rsa", "bits": 2048, "encoding": "pem",
                   "material": rsa_private.as_str(), "key-id": name, "encrypt": true, "decrypt": true}),
        );
        let mut master_key = json!({"type": "raw", "key": name, "provider-id": PROVIDER_ID,
                                    "encryption-algorithm": "rsa", "padding-algorithm": algorithm});
        if let Some(h) = hash {
            master_key["padding-hash"] = json!(h);
        }
        let keyring = |public: Option<&str>, private: Option<&str>| {
            RawRsaKeyring::new(PROVIDER_ID, &name, padding, public, private)
                .map(|k| Arc::new(k) as Arc<dyn Keyring>)
                .map_err(|e| e.to_string())
        };
        rsa.push(TestKey {
            label: format!("rsa-{label}"),
            encrypt: keyring(Some(&rsa_public), None)?,
            decrypt: keyring(None, Some(&rsa_private))?,
            master_key,
        });
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
    let mut set = EncryptSet {
        out: out.clone(),
        tests: serde_json::Map::new(),
        required_ec_tests: serde_json::Map::new(),
        plaintexts: BTreeMap::new(),
    };

    // Raw AES: every suite, frame length, boundary size and context.
    let mut index = 0usize;
    for suite in AlgorithmSuite::ALL {
        let client = client_for(suite);
        for frame in [1u32, 4096, 65536] {
            let f = frame as usize;
            let mut sizes = vec![0, 1, f - 1, f, f + 1, 3 * f + 5];
            sizes.sort_unstable();
            sizes.dedup();
            for size in sizes {
                for (ec_name, pairs) in &contexts {
                    let key = &aes[index % aes.len()];
                    index += 1;
                    let source = MaterialsSource::Keyring(key.encrypt.clone());
                    let name = format!("{:04x}-f{frame}-p{size}-{ec_name}", suite.id());
                    let description = format!(
                        "esdk encrypt: suite {:#06x}, frame {frame}, {size} bytes, {ec_name}",
                        suite.id()
                    );
                    let decrypters = [Decrypter {
                        suffix: String::new(),
                        master_keys: json!([key.master_key]),
                        source: source.clone(),
                    }];
                    set.add(
                        &name,
                        &description,
                        &client,
                        &source,
                        &decrypters,
                        suite,
                        frame,
                        size,
                        pairs,
                    )?;
                }
            }
        }
    }

    // Raw RSA: every padding with every suite; encrypted with the public key only and
    // decrypted with the private key only.
    for (i, key) in rsa.iter().enumerate() {
        let label = RSA_PADDINGS[i].0;
        for (j, suite) in AlgorithmSuite::ALL.into_iter().enumerate() {
            let (ec_name, pairs) = &contexts[j % contexts.len()];
            let size = [0, 1, 4097][j % 3];
            let name = format!("rsa-{label}-{:04x}-p{size}-{ec_name}", suite.id());
            let description = format!(
                "esdk encrypt: raw RSA {label}, suite {:#06x}, {size} bytes, {ec_name}",
                suite.id()
            );
            let decrypters = [Decrypter {
                suffix: String::new(),
                master_keys: json!([key.master_key]),
                source: MaterialsSource::Keyring(key.decrypt.clone()),
            }];
            let source = MaterialsSource::Keyring(key.encrypt.clone());
            set.add(
                &name,
                &description,
                &client_for(suite),
                &source,
                &decrypters,
                suite,
                4096,
                size,
                pairs,
            )?;
        }
    }

    // Multi-keyring: an AES generator with RSA and AES children (wrapped concurrently). Each
    // message is decrypted with all the keys together and with each key alone, which checks
    // every encrypted data key.
    let members = [
        aes[2].clone(),
        rsa[2].clone(),
        rsa[0].clone(),
        aes[0].clone(),
    ];
    let multi_encrypt = MaterialsSource::keyring(
        MultiKeyring::new(
            Some(members[0].encrypt.clone()),
            members[1..].iter().map(|m| m.encrypt.clone()).collect(),
        )
        .map_err(|e| e.to_string())?,
    );
    let multi_decrypt = MaterialsSource::keyring(
        MultiKeyring::new(None, members.iter().map(|m| m.decrypt.clone()).collect())
            .map_err(|e| e.to_string())?,
    );
    let mut decrypters = vec![Decrypter {
        suffix: "-all-keys".into(),
        master_keys: Value::Array(members.iter().map(|m| m.master_key.clone()).collect()),
        source: multi_decrypt.clone(),
    }];
    for m in &members {
        decrypters.push(Decrypter {
            suffix: format!("-only-{}", m.label),
            master_keys: json!([m.master_key]),
            source: MaterialsSource::Keyring(m.decrypt.clone()),
        });
    }
    for (j, suite) in AlgorithmSuite::ALL.into_iter().enumerate() {
        let (ec_name, pairs) = &contexts[j % contexts.len()];
        let size = [1, 4096, 10_000][j % 3];
        let name = format!("multi-aes-rsa-{:04x}-p{size}-{ec_name}", suite.id());
        let description = format!(
            "esdk encrypt: multi-keyring (AES-256 generator; RSA OAEP-SHA256, RSA PKCS1, AES-128 children), suite {:#06x}, {size} bytes, {ec_name}",
            suite.id()
        );
        set.add(
            &name,
            &description,
            &client_for(suite),
            &multi_encrypt,
            &decrypters,
            suite,
            4096,
            size,
            pairs,
        )?;
    }

    // Required encryption context: the required pairs are not in the message, so only a
    // decryptor that is given them back can decrypt. These go to a version 5 manifest of their
    // own (`decryption-scenario` with `reproduced-encryption-context`).
    let full_ec = [("a", "1"), ("b", "2"), ("c", "3")];
    let underlyings = [aes[2].clone(), rsa[4].clone()];
    for (j, suite) in AlgorithmSuite::ALL.into_iter().enumerate() {
        let client = client_for(suite);
        for key in &underlyings {
            let (label, description) = (&key.label, &key.master_key);
            for required in [&["a"][..], &["a", "b"][..]] {
                let size = [0, 1, 5000][j % 3];
                let name = format!(
                    "required-ec-{label}-{}-{:04x}-p{size}",
                    required.join(""),
                    suite.id()
                );
                let cmm = MaterialsSource::cmm(RequiredEncryptionContextCmm::with_keyring(
                    key.encrypt.clone(),
                    required.iter().copied(),
                ));
                let (pt_name, plaintext) = set.plaintext(size);
                let msg = block_on(
                    client
                        .encrypt(&cmm, &plaintext)
                        .algorithm_suite(suite)
                        .encryption_context(full_ec)
                        .into_future(),
                )
                .map_err(|e| format!("{name}: {e}"))?;
                for k in required.iter() {
                    if msg.header.encryption_context().contains_key(k) {
                        return Err(format!("{name}: required key {k:?} stored in the header"));
                    }
                }
                std::fs::write(out.join("ciphertexts").join(&name), &msg.ciphertext)
                    .map_err(|e| e.to_string())?;
                let reproduced: Vec<(&str, &str)> = full_ec
                    .iter()
                    .filter(|(k, _)| required.contains(k))
                    .copied()
                    .collect();
                let decrypt_cmm = MaterialsSource::cmm(RequiredEncryptionContextCmm::with_keyring(
                    key.decrypt.clone(),
                    required.iter().copied(),
                ));
                own_decrypt(
                    &name,
                    &client,
                    &decrypt_cmm,
                    &msg.ciphertext,
                    &reproduced,
                    &plaintext,
                )?;
                let cmm_description = json!({
                    "type": "required-encryption-context-cmm",
                    "underlying": description,
                    "requiredEncryptionContextKeys": required,
                });
                let scenario = |kind: &str,
                                key_description: &Value,
                                ec: &[(&str, &str)],
                                what: &str| {
                    let ec: serde_json::Map<String, Value> = ec
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), json!(v)))
                        .collect();
                    let mut s = json!({
                        "type": kind,
                        "description": format!("esdk encrypt: required-EC CMM over {label}, required {required:?}, suite {:#06x}, {size} bytes; {what}", suite.id()),
                        "ciphertext": format!("file://ciphertexts/{name}"),
                        "decryptKeyDescription": key_description,
                        "reproduced-encryption-context": ec,
                    });
                    if kind == "positive-esdk" {
                        s["result"] = json!(format!("file://plaintexts/{pt_name}"));
                    } else {
                        s["errorDescription"] = json!(what);
                    }
                    json!({"decryption-scenario": s})
                };
                let mut wrong = reproduced.clone();
                wrong[0].1 = "wrong";
                let entries = [
                    (
                        "",
                        scenario(
                            "positive-esdk",
                            &cmm_description,
                            &reproduced,
                            "required pairs supplied",
                        ),
                    ),
                    (
                        "-plain-keyring",
                        scenario(
                            "positive-esdk",
                            description,
                            &reproduced,
                            "a plain keyring, required pairs supplied",
                        ),
                    ),
                    (
                        "-missing",
                        scenario(
                            "negative-esdk",
                            &cmm_description,
                            &[],
                            "required pairs not supplied",
                        ),
                    ),
                    (
                        "-missing-plain-keyring",
                        scenario(
                            "negative-esdk",
                            description,
                            &[],
                            "a plain keyring, required pairs not supplied",
                        ),
                    ),
                    (
                        "-wrong-value",
                        scenario(
                            "negative-esdk",
                            &cmm_description,
                            &wrong,
                            "a required pair with another value",
                        ),
                    ),
                ];
                for (suffix, entry) in entries {
                    set.required_ec_tests
                        .insert(format!("{name}{suffix}"), entry);
                }
            }
        }
    }

    let plaintexts = std::mem::take(&mut set.plaintexts);
    for (size, name) in &plaintexts {
        std::fs::write(
            out.join("plaintexts").join(name),
            pattern(*size, *size as u64 + 7),
        )
        .map_err(|e| e.to_string())?;
    }
    let keys = json!({"manifest": {"type": "keys", "version": 3}, "keys": keys_json});
    let client_info = json!({"name": "esdk", "version": env!("CARGO_PKG_VERSION")});
    let manifest = json!({
        "manifest": {"type": "awses-decrypt", "version": 2},
        "client": client_info,
        "keys": "file://keys.json",
        "tests": set.tests,
    });
    let required_ec_manifest = json!({
        "manifest": {"type": "awses-decrypt", "version": 5},
        "client": client_info,
        "keys": "file://keys.json",
        "tests": set.required_ec_tests,
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
    write("manifest-required-ec.json", &required_ec_manifest)?;
    println!(
        "wrote {} required-encryption-context tests to {}",
        set.required_ec_tests.len(),
        out.join("manifest-required-ec.json").display(),
    );
    println!("wrote {} tests to {}", set.tests.len(), out.display());
    Ok(ExitCode::SUCCESS)
}

fn getrandom_fill(buf: &mut [u8]) -> AnyResult<()> {
    esdk::crypto::default_provider()
        .random
        .fill(buf)
        .map_err(|e| e.to_string())
}
