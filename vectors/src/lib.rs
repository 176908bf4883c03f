//! Reading ESDK decrypt test-vector manifests: shared by the `esdk-vectors` runner and esdk's
//! integration tests (`tests/io`, through a dev-dependency), so that both judge the vectors the
//! same way. Not published; not a stable API. It also holds the one keyring that only tests
//! may have: [`StaticDataKeyKeyring`], which returns a fixed data key.
//!
//! Manifests: `awses-decrypt` version 5 (`decryption-scenario` entries with a
//! `decryptKeyDescription`) and version 2 (`master-keys` lists, with the extension fields
//! `commitment-policy`, `max-encrypted-data-keys`, `expected-encryption-context`,
//! `decryption-method`). Keys: a keys manifest version 3.

#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::future::BoxFuture;
use serde_json::Value;

use esdk::crypto::{EcdhCurve, RsaPadding};
use esdk::{
    BranchKeyMaterials, CommitmentPolicy, DataKey, DecryptionMaterials, EncryptedDataKey,
    EncryptionContext, EncryptionMaterials, HierarchicalKeyring, Keyring, MaterialsSource,
    MultiKeyring, RawAesKeyring, RawEcdhKeyring, RawEcdhScheme, RawRsaKeyring,
    RequiredEncryptionContextCmm, StaticBranchKeySource,
};

/// Errors while loading: a message for the runner's output.
pub type AnyResult<T> = std::result::Result<T, String>;

pub fn read_json(path: &Path) -> AnyResult<Value> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn resolve(base: &Path, uri: &str) -> AnyResult<PathBuf> {
    let rel = uri
        .strip_prefix("file://")
        .ok_or_else(|| format!("only file:// URIs are supported: {uri}"))?;
    Ok(base.join(rel))
}

pub fn read_uri(base: &Path, uri: &str) -> AnyResult<Vec<u8>> {
    let path = resolve(base, uri)?;
    std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The keys manifest: name → spec.
pub struct Keys(pub BTreeMap<String, Value>);

impl Keys {
    pub fn load(base: &Path, manifest: &Value) -> AnyResult<Self> {
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

    pub fn get(&self, name: &str) -> AnyResult<&Value> {
        self.0
            .get(name)
            .ok_or_else(|| format!("unknown key {name:?}"))
    }

    /// Key material: base64-decoded, or the PEM text (lines joined when given as a list).
    pub fn material(&self, name: &str, field: &str) -> AnyResult<Vec<u8>> {
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

    pub fn key_id(&self, name: &str) -> AnyResult<String> {
        let spec = self.get(name)?;
        Ok(spec["key-id"].as_str().unwrap_or(name).to_owned())
    }
}

// ---------------------------------------------------------------------------------------------
// Keyrings from descriptions

/// Why a test cannot run yet: a keyring or CMM type this build lacks.
pub struct Unsupported(pub String);

pub enum Build {
    Ready(MaterialsSource),
    Skip(Unsupported),
}

/// A test keyring that hands out a fixed data key, whatever the encrypted data keys say. Used
/// by vectors whose data keys were wrapped by services this runner cannot reach.
#[derive(Debug)]
pub struct StaticDataKeyKeyring {
    pub key: Vec<u8>,
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

pub type Built<T> = AnyResult<Result<T, Unsupported>>;

pub fn ready(k: impl Keyring + 'static) -> Built<Arc<dyn Keyring>> {
    Ok(Ok(Arc::new(k)))
}

/// A keyring (or CMM) from a version 5 `decryptKeyDescription`.
pub fn from_description(keys: &Keys, desc: &Value) -> AnyResult<Build> {
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
pub fn keyring_of(keys: &Keys, desc: &Value) -> Built<Arc<dyn Keyring>> {
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
pub fn raw_ecdh_keyring(keys: &Keys, desc: &Value) -> Built<Arc<dyn Keyring>> {
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

pub fn rsa_padding(desc: &Value) -> AnyResult<RsaPadding> {
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
pub fn raw_keyring(keys: &Keys, desc: &Value) -> Built<Arc<dyn Keyring>> {
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
pub fn from_master_keys(keys: &Keys, list: &[Value]) -> AnyResult<Build> {
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
// Cases

pub struct Case {
    pub ciphertext: Vec<u8>,
    /// `Some(plaintext)` for a positive test, `None` when decryption must fail.
    pub expected: Option<Vec<u8>>,
    pub source: Build,
    pub reproduced: Option<EncryptionContext>,
    pub expected_context: Option<EncryptionContext>,
    pub policy: CommitmentPolicy,
    pub max_edks: Option<u16>,
    pub unsigned_only: bool,
}

pub fn context_of(v: &Value) -> AnyResult<Option<EncryptionContext>> {
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

pub fn policy_of(v: &Value) -> AnyResult<CommitmentPolicy> {
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

pub fn load_case(base: &Path, keys: &Keys, version: u64, test: &Value) -> AnyResult<Case> {
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

pub fn manifests_in(dir: &Path, explicit: Option<&str>) -> Vec<PathBuf> {
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

// ---------------------------------------------------------------------------------------------
// AWS KMS keyrings for `aws-kms*` descriptions

/// The KMS server holding the vectors' keys (a moto started on a copy of their state).
#[cfg(feature = "kms")]
pub const KMS_ENDPOINT_VAR: &str = "ESDK_VECTORS_KMS_ENDPOINT";

#[cfg(feature = "kms")]
pub fn kms_endpoint() -> Result<String, Unsupported> {
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
pub fn kms_supplier(endpoint: &str) -> esdk::keyring::aws_kms::DefaultClientSupplier {
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
pub fn kms_keyring(keys: &Keys, desc: &Value) -> Built<Arc<dyn Keyring>> {
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
                k = k.filter(
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
pub fn kms_keyring(_keys: &Keys, _desc: &Value) -> Built<Arc<dyn Keyring>> {
    Ok(Err(Unsupported(
        "AWS KMS keyrings need the `kms` feature".into(),
    )))
}

/// One loaded `awses-decrypt` manifest: its version, the directory its URIs are relative to,
/// its keys and its tests in manifest order.
pub struct Manifest {
    pub version: u64,
    pub base: PathBuf,
    pub keys: Keys,
    pub tests: Vec<(String, Value)>,
}

impl Manifest {
    /// Reads and checks one manifest file and its keys manifest.
    pub fn load(path: &Path) -> AnyResult<Self> {
        let m = read_json(path)?;
        if m["manifest"]["type"] != "awses-decrypt" {
            return Err(format!("{}: not an awses-decrypt manifest", path.display()));
        }
        let version = m["manifest"]["version"].as_u64().unwrap_or(0);
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let keys = Keys::load(&base, &m)?;
        let tests = m["tests"].as_object().ok_or("manifest has no tests")?;
        Ok(Self {
            version,
            base,
            keys,
            tests: tests.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        })
    }

    /// The test case `test` of this manifest.
    pub fn case(&self, test: &Value) -> AnyResult<Case> {
        load_case(&self.base, &self.keys, self.version, test)
    }
}

/// Every test of every `awses-decrypt` manifest in `dir` (see [`manifests_in`]), loaded.
pub fn cases_in(dir: &Path) -> AnyResult<Vec<(String, AnyResult<Case>)>> {
    let mut out = Vec::new();
    for path in manifests_in(dir, None) {
        let m = Manifest::load(&path)?;
        for (name, test) in &m.tests {
            out.push((name.clone(), m.case(test)));
        }
    }
    Ok(out)
}
