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
use futures::future::BoxFuture;
use serde_json::{Value, json};

use esdk::crypto::{EcdhCurve, RsaPadding};
use esdk::{
    AlgorithmSuite, BranchKeyMaterials, Client, CommitmentPolicy, DataKey, DecryptionMaterials,
    EncryptedDataKey, EncryptionContext, EncryptionMaterials, FrameLength, HierarchicalKeyring,
    Keyring, MaterialsSource, MultiKeyring, RawAesKeyring, RawEcdhKeyring, RawEcdhScheme,
    RawRsaKeyring, RequiredEncryptionContextCmm, StaticBranchKeySource,
};

type AnyResult<T> = std::result::Result<T, String>;

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
// Loading manifests and keys

fn read_json(path: &Path) -> AnyResult<Value> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn resolve(base: &Path, uri: &str) -> AnyResult<PathBuf> {
    let rel = uri
        .strip_prefix("file://")
        .ok_or_else(|| format!("only file:// URIs are supported: {uri}"))?;
    Ok(base.join(rel))
}

fn read_uri(base: &Path, uri: &str) -> AnyResult<Vec<u8>> {
    let path = resolve(base, uri)?;
    std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The keys manifest: name → spec.
struct Keys(BTreeMap<String, Value>);

impl Keys {
    fn load(base: &Path, manifest: &Value) -> AnyResult<Self> {
        let uri = manifest["keys"]
            .as_str()
            .ok_or("manifest has no keys URI")?;
        let keys = read_json(&resolve(base, uri)?)?;
        if keys["manifest"]["type"] != "keys" {
            return Err("keys file is not a keys manifest".into());
        }
        let map = keys["keys"]
            .as_object()
            .ok_or("keys manifest has no keys")?;
        Ok(Self(
            map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        ))
    }

    fn get(&self, name: &str) -> AnyResult<&Value> {
        self.0
            .get(name)
            .ok_or_else(|| format!("unknown key {name:?}"))
    }

    /// Key material: base64-decoded, or the PEM text (lines joined when given as a list).
    fn material(&self, name: &str, field: &str) -> AnyResult<Vec<u8>> {
        let spec = self.get(name)?;
        let text = match &spec[field] {
            Value::String(s) => s.clone(),
            Value::Array(lines) => {
                let sep = spec["line-separator"].as_str().unwrap_or("");
                lines
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(sep)
            }
            _ => return Err(format!("key {name:?} has no {field}")),
        };
        if spec["encoding"] == "base64" || field == "plaintext-data-key" || field == "branchKey" {
            BASE64
                .decode(text.trim())
                .map_err(|e| format!("key {name:?}: {e}"))
        } else {
            Ok(text.into_bytes())
        }
    }

    fn key_id(&self, name: &str) -> AnyResult<String> {
        let spec = self.get(name)?;
        Ok(spec["key-id"].as_str().unwrap_or(name).to_owned())
    }
}

// ---------------------------------------------------------------------------------------------
// Keyrings from descriptions

/// Why a test cannot run yet: a keyring or CMM type this build lacks.
struct Unsupported(String);

enum Build {
    Ready(MaterialsSource),
    Skip(Unsupported),
}

/// A test keyring that hands out a fixed data key, whatever the encrypted data keys say. Used
/// by vectors whose data keys were wrapped by services this runner cannot reach.
#[derive(Debug)]
struct StaticDataKeyKeyring {
    key: Vec<u8>,
}

impl Keyring for StaticDataKeyKeyring {
    fn on_encrypt<'a>(
        &'a self,
        _m: EncryptionMaterials,
    ) -> BoxFuture<'a, esdk::Result<EncryptionMaterials>> {
        Box::pin(async {
            Err(esdk::Error::ApiMisuse(
                "static data key keyring is decrypt-only".into(),
            ))
        })
    }

    fn on_decrypt<'a>(
        &'a self,
        mut materials: DecryptionMaterials,
        _edks: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, esdk::Result<DecryptionMaterials>> {
        Box::pin(async move {
            materials.set_data_key(DataKey::from_slice(&self.key))?;
            Ok(materials)
        })
    }
}

type Built<T> = AnyResult<Result<T, Unsupported>>;

fn ready(k: impl Keyring + 'static) -> Built<Arc<dyn Keyring>> {
    Ok(Ok(Arc::new(k)))
}

/// A keyring (or CMM) from a version 5 `decryptKeyDescription`.
fn from_description(keys: &Keys, desc: &Value) -> AnyResult<Build> {
    if desc["type"] == "required-encryption-context-cmm" {
        let required: Vec<String> = desc["requiredEncryptionContextKeys"]
            .as_array()
            .ok_or("required-encryption-context-cmm without requiredEncryptionContextKeys")?
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or("required key is not a string")
            })
            .collect::<Result<_, _>>()?;
        return Ok(match keyring_of(keys, &desc["underlying"])? {
            Ok(k) => Build::Ready(MaterialsSource::cmm(
                RequiredEncryptionContextCmm::with_keyring(k, required),
            )),
            Err(why) => Build::Skip(why),
        });
    }
    Ok(match keyring_of(keys, desc)? {
        Ok(k) => Build::Ready(MaterialsSource::Keyring(k)),
        Err(why) => Build::Skip(why),
    })
}

/// A keyring from a version 5 key description.
fn keyring_of(keys: &Keys, desc: &Value) -> Built<Arc<dyn Keyring>> {
    match desc["type"].as_str().unwrap_or("") {
        "raw" => raw_keyring(keys, desc),
        "aws-kms" | "aws-kms-mrk-aware" | "aws-kms-mrk-aware-discovery" => kms_keyring(keys, desc),
        "static-data-key" => {
            let name = desc["key"].as_str().ok_or("static-data-key without key")?;
            ready(StaticDataKeyKeyring {
                key: keys.material(name, "plaintext-data-key")?,
            })
        }
        "multi-keyring" => {
            let generator = match &desc["generator"] {
                Value::Null => None,
                g => match keyring_of(keys, g)? {
                    Ok(k) => Some(k),
                    Err(why) => return Ok(Err(why)),
                },
            };
            let mut children = Vec::new();
            for child in desc["childKeyrings"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                match keyring_of(keys, child)? {
                    Ok(k) => children.push(k),
                    Err(why) => return Ok(Err(why)),
                }
            }
            ready(MultiKeyring::new(generator, children).map_err(|e| e.to_string())?)
        }
        "raw-ecdh" => raw_ecdh_keyring(keys, desc),
        "aws-kms-hierarchy" => {
            // A static branch key: `key-id` = branch key ID, `branchKeyVersion`, base64 `branchKey`.
            let name = desc["key"]
                .as_str()
                .ok_or("aws-kms-hierarchy without key")?;
            let spec = keys.get(name)?;
            if spec["type"] != "static-branch-key" {
                return Ok(Err(Unsupported(format!(
                    "branch key {name:?} lives in a key store"
                ))));
            }
            let version = spec["branchKeyVersion"]
                .as_str()
                .ok_or("branch key without branchKeyVersion")?;
            let key_id = keys.key_id(name)?;
            let materials = BranchKeyMaterials::new(
                key_id.clone(),
                version,
                &keys.material(name, "branchKey")?,
            )
            .map_err(|e| e.to_string())?;
            ready(HierarchicalKeyring::new(
                Arc::new(StaticBranchKeySource::new(materials)),
                key_id,
            ))
        }
        other => Ok(Err(Unsupported(format!(
            "keyring type {other:?} not built yet"
        )))),
    }
}

/// A raw ECDH keyring (`type: raw-ecdh`): `schema` static, ephemeral or discovery.
fn raw_ecdh_keyring(keys: &Keys, desc: &Value) -> Built<Arc<dyn Keyring>> {
    let curve = match desc["ecc-curve"].as_str() {
        Some("ecc-256") => EcdhCurve::P256,
        Some("ecc-384") => EcdhCurve::P384,
        Some("ecc-521") => EcdhCurve::P521,
        other => return Err(format!("unknown ecc-curve {other:?}")),
    };
    let text = |key: &str, field: &str| -> AnyResult<String> {
        keys.get(key)?[field]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("key {key:?} has no {field}"))
    };
    let recipient = desc["recipient"]
        .as_str()
        .ok_or("raw-ecdh without recipient")?;
    let recipient_der = || -> AnyResult<Vec<u8>> {
        let field = desc["recipient-public-key"]
            .as_str()
            .unwrap_or("recipient-material-public-key");
        BASE64
            .decode(text(recipient, field)?.trim())
            .map_err(|e| format!("key {recipient:?}: {e}"))
    };
    let keyring = match desc["schema"].as_str() {
        Some("discovery") => {
            let pem = text(recipient, "recipient-material")?;
            RawEcdhKeyring::new(
                curve,
                RawEcdhScheme::PublicKeyDiscovery {
                    recipient_private_key_pem: &pem,
                },
            )
        }
        Some("static") => {
            let sender = desc["sender"]
                .as_str()
                .ok_or("static raw-ecdh without sender")?;
            let pem = text(sender, "sender-material")?;
            let der = recipient_der()?;
            RawEcdhKeyring::new(
                curve,
                RawEcdhScheme::RawPrivateKeyToStaticPublicKey {
                    sender_private_key_pem: &pem,
                    recipient_public_key_der: &der,
                },
            )
        }
        Some("ephemeral") => {
            let der = recipient_der()?;
            RawEcdhKeyring::new(
                curve,
                RawEcdhScheme::EphemeralPrivateKeyToStaticPublicKey {
                    recipient_public_key_der: &der,
                },
            )
        }
        other => return Err(format!("unknown raw-ecdh schema {other:?}")),
    };
    ready(keyring.map_err(|e| e.to_string())?)
}

fn rsa_padding(desc: &Value) -> AnyResult<RsaPadding> {
    Ok(
        match (
            desc["padding-algorithm"].as_str(),
            desc["padding-hash"].as_str(),
        ) {
            (Some("pkcs1"), _) => RsaPadding::Pkcs1V15,
            (Some("oaep-mgf1"), Some("sha1")) => RsaPadding::OaepSha1,
            (Some("oaep-mgf1"), Some("sha256")) => RsaPadding::OaepSha256,
            (Some("oaep-mgf1"), Some("sha384")) => RsaPadding::OaepSha384,
            (Some("oaep-mgf1"), Some("sha512")) => RsaPadding::OaepSha512,
            (p, h) => return Err(format!("unknown RSA padding {p:?}/{h:?}")),
        },
    )
}

/// A raw keyring from a master-key or key description (`type: raw`).
fn raw_keyring(keys: &Keys, desc: &Value) -> Built<Arc<dyn Keyring>> {
    let name = desc["key"]
        .as_str()
        .ok_or("raw key description without key")?;
    let provider_id = desc["provider-id"]
        .as_str()
        .ok_or("raw key description without provider-id")?;
    match desc["encryption-algorithm"].as_str() {
        Some("aes") => {
            let material = keys.material(name, "material")?;
            ready(
                RawAesKeyring::new(provider_id, keys.key_id(name)?, &material)
                    .map_err(|e| e.to_string())?,
            )
        }
        Some("rsa") => {
            let pem = String::from_utf8(keys.material(name, "material")?)
                .map_err(|_| "PEM is not UTF-8")?;
            let (public, private) = match keys.get(name)?["type"].as_str() {
                Some("public") => (Some(pem.as_str()), None),
                Some("private") => (None, Some(pem.as_str())),
                other => return Err(format!("RSA key {name:?} has type {other:?}")),
            };
            let k = RawRsaKeyring::new(
                provider_id,
                keys.key_id(name)?,
                rsa_padding(desc)?,
                public,
                private,
            )
            .map_err(|e| e.to_string())?;
            ready(k)
        }
        other => Err(format!("unknown encryption-algorithm {other:?}")),
    }
}

/// A keyring from a version 2 `master-keys` list: one key, or a multi-keyring of all of them.
fn from_master_keys(keys: &Keys, list: &[Value]) -> AnyResult<Build> {
    let mut keyrings = Vec::new();
    for one in list {
        let built = match one["type"].as_str() {
            Some("raw") => raw_keyring(keys, one)?,
            Some("aws-kms" | "aws-kms-mrk-aware" | "aws-kms-mrk-aware-discovery") => {
                kms_keyring(keys, one)?
            }
            other => Err(Unsupported(format!(
                "master key type {other:?} needs a key service"
            ))),
        };
        match built {
            Ok(k) => keyrings.push(k),
            Err(why) => return Ok(Build::Skip(why)),
        }
    }
    Ok(match keyrings.len() {
        0 => return Err("empty master-keys".into()),
        1 => Build::Ready(MaterialsSource::Keyring(keyrings.remove(0))),
        _ => Build::Ready(MaterialsSource::keyring(
            MultiKeyring::new(None, keyrings).map_err(|e| e.to_string())?,
        )),
    })
}

// ---------------------------------------------------------------------------------------------
// decrypt

struct Case {
    ciphertext: Vec<u8>,
    /// `Some(plaintext)` for a positive test, `None` when decryption must fail.
    expected: Option<Vec<u8>>,
    source: Build,
    reproduced: Option<EncryptionContext>,
    expected_context: Option<EncryptionContext>,
    policy: CommitmentPolicy,
    max_edks: Option<u16>,
    unsigned_only: bool,
}

fn context_of(v: &Value) -> AnyResult<Option<EncryptionContext>> {
    match v {
        Value::Null => Ok(None),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|s| (k.clone(), s.to_owned()))
                    .ok_or_else(|| format!("context value for {k:?} is not a string"))
            })
            .collect::<AnyResult<EncryptionContext>>()
            .map(Some),
        _ => Err("encryption context is not an object".into()),
    }
}

fn policy_of(v: &Value) -> AnyResult<CommitmentPolicy> {
    Ok(match v.as_str() {
        None => CommitmentPolicy::REQUIRE_ENCRYPT_ALLOW_DECRYPT,
        Some("FORBID_ENCRYPT_ALLOW_DECRYPT") => CommitmentPolicy::FORBID_ENCRYPT_ALLOW_DECRYPT,
        Some("REQUIRE_ENCRYPT_ALLOW_DECRYPT") => CommitmentPolicy::REQUIRE_ENCRYPT_ALLOW_DECRYPT,
        Some("REQUIRE_ENCRYPT_REQUIRE_DECRYPT") => {
            CommitmentPolicy::REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        }
        Some(other) => return Err(format!("unknown commitment policy {other:?}")),
    })
}

fn load_case(base: &Path, keys: &Keys, version: u64, test: &Value) -> AnyResult<Case> {
    if version >= 3 && test.get("decryption-scenario").is_some() {
        let s = &test["decryption-scenario"];
        let ct = s["ciphertext"].as_str().ok_or("no ciphertext")?;
        let expected = match s["type"].as_str() {
            Some("positive-esdk") => {
                Some(read_uri(base, s["result"].as_str().ok_or("no result")?)?)
            }
            Some("negative-esdk") => None,
            other => return Err(format!("unknown scenario type {other:?}")),
        };
        let reproduced = context_of(&s["reproduced-encryption-context"])?.filter(|c| !c.is_empty());
        return Ok(Case {
            ciphertext: read_uri(base, ct)?,
            expected,
            source: from_description(keys, &s["decryptKeyDescription"])?,
            reproduced,
            expected_context: None,
            policy: policy_of(&s["commitment-policy"])?,
            max_edks: None,
            unsigned_only: s["decryption-method"] == "streaming-unsigned-only",
        });
    }
    let ct = test["ciphertext"].as_str().ok_or("no ciphertext")?;
    let result = &test["result"];
    let expected = if let Some(out) = result.get("output") {
        Some(read_uri(
            base,
            out["plaintext"].as_str().ok_or("no plaintext URI")?,
        )?)
    } else if result.get("error").is_some() {
        None
    } else if let Some(pt) = test["plaintext"].as_str() {
        Some(read_uri(base, pt)?)
    } else {
        return Err("test has neither output nor error".into());
    };
    let list = test["master-keys"].as_array().ok_or("no master-keys")?;
    let max_edks = match &test["max-encrypted-data-keys"] {
        Value::Null => None,
        v => Some(
            v.as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or("bad max-encrypted-data-keys")?,
        ),
    };
    Ok(Case {
        ciphertext: read_uri(base, ct)?,
        expected,
        source: from_master_keys(keys, list)?,
        reproduced: context_of(&test["encryption-context"])?,
        expected_context: context_of(&test["expected-encryption-context"])?,
        policy: policy_of(&test["commitment-policy"])?,
        max_edks,
        unsigned_only: test["decryption-method"] == "streaming-unsigned-only",
    })
}

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

fn manifests_in(dir: &Path, explicit: Option<&str>) -> Vec<PathBuf> {
    if let Some(m) = explicit {
        let p = PathBuf::from(m);
        return vec![if p.is_absolute() || p.exists() {
            p
        } else {
            dir.join(m)
        }];
    }
    let mut out = vec![dir.join("manifest.json")];
    let ext = dir.join("manifest-extensions.json");
    if ext.exists() {
        out.push(ext);
    }
    out
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
// AWS KMS: keyrings for `aws-kms*` descriptions, and the KMS vector set of ../shared/kms/vectors

/// The KMS server holding the vectors' keys (a moto started on a copy of their state).
#[cfg(feature = "kms")]
const KMS_ENDPOINT_VAR: &str = "ESDK_VECTORS_KMS_ENDPOINT";

#[cfg(feature = "kms")]
fn kms_endpoint() -> Result<String, Unsupported> {
    match std::env::var(KMS_ENDPOINT_VAR) {
        Ok(url) if !url.is_empty() => Ok(url),
        _ => Err(Unsupported(format!(
            "needs AWS KMS: set {KMS_ENDPOINT_VAR} to a KMS endpoint holding the vectors' keys"
        ))),
    }
}

/// A client supplier for the configured endpoint; credentials from `AWS_ACCESS_KEY_ID` /
/// `AWS_SECRET_ACCESS_KEY`, else moto's `test`/`test`.
#[cfg(feature = "kms")]
fn kms_supplier(endpoint: &str) -> esdk::keyring::aws_kms::DefaultClientSupplier {
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    esdk::keyring::aws_kms::DefaultClientSupplier::builder()
        .endpoint_url(endpoint)
        .static_credentials(
            var("AWS_ACCESS_KEY_ID", "test"),
            var("AWS_SECRET_ACCESS_KEY", "test"),
            None,
        )
        .build()
}

/// A KMS keyring from an `aws-kms`, `aws-kms-mrk-aware` or `aws-kms-mrk-aware-discovery`
/// master-key or key description, when a KMS endpoint is configured.
#[cfg(feature = "kms")]
fn kms_keyring(keys: &Keys, desc: &Value) -> Built<Arc<dyn Keyring>> {
    use esdk::keyring::aws_kms::{
        AwsKmsKeyring, AwsKmsMrkDiscoveryKeyring, AwsKmsMrkKeyring, KmsArn,
    };
    let endpoint = match kms_endpoint() {
        Ok(e) => e,
        Err(why) => return Ok(Err(why)),
    };
    // Built synchronously (test loading runs outside the runtime): a caller-configured client.
    let client_for = |region: &str| -> AnyResult<esdk::KmsClient> {
        use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
        let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
        let conf = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(Region::new(region.to_owned()))
            .credentials_provider(Credentials::new(
                var("AWS_ACCESS_KEY_ID", "test"),
                var("AWS_SECRET_ACCESS_KEY", "test"),
                None,
                None,
                "esdk-vectors",
            ))
            .build();
        Ok(esdk::KmsClient::from_sdk_client(
            aws_sdk_kms::Client::from_conf(conf),
        ))
    };
    match desc["type"].as_str().unwrap_or("") {
        "aws-kms-mrk-aware-discovery" => {
            let region = desc["default-mrk-region"]
                .as_str()
                .ok_or("MRK discovery without default-mrk-region")?;
            let mut k =
                AwsKmsMrkDiscoveryKeyring::new(client_for(region)?).map_err(|e| e.to_string())?;
            let filter = &desc["aws-kms-discovery-filter"];
            if !filter.is_null() {
                let partition = filter["partition"]
                    .as_str()
                    .ok_or("discovery filter without partition")?;
                let accounts: Vec<&str> = filter["account-ids"]
                    .as_array()
                    .ok_or("discovery filter without account-ids")?
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                k = k.with_filter(
                    esdk::DiscoveryFilter::new(partition, accounts).map_err(|e| e.to_string())?,
                );
            }
            ready(k)
        }
        ty => {
            let name = desc["key"]
                .as_str()
                .ok_or("KMS key description without key")?;
            let arn = keys.key_id(name)?;
            let region = KmsArn::parse(&arn)
                .map_err(|e| e.to_string())?
                .region()
                .to_owned();
            let client = client_for(&region)?;
            if ty == "aws-kms" {
                ready(AwsKmsKeyring::new(arn, client).map_err(|e| e.to_string())?)
            } else {
                ready(AwsKmsMrkKeyring::new(arn, client).map_err(|e| e.to_string())?)
            }
        }
    }
}

#[cfg(not(feature = "kms"))]
fn kms_keyring(_keys: &Keys, _desc: &Value) -> Built<Arc<dyn Keyring>> {
    Ok(Err(Unsupported(
        "AWS KMS keyrings need the `kms` feature".into(),
    )))
}

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
        let msg =
            futures::executor::block_on(call.into_future()).map_err(|e| format!("{name}: {e}"))?;
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

/// Our own decryption of a message we just wrote; it must give the plaintext back.
fn own_decrypt(
    name: &str,
    client: &Client,
    source: &MaterialsSource,
    ciphertext: &[u8],
    pairs: &[(&str, &str)],
    plaintext: &[u8],
) -> AnyResult<()> {
    let back = futures::executor::block_on(
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
                let msg = futures::executor::block_on(
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
