//! Reading ESDK decrypt test-vector manifests: shared by the `esdk-vectors` runner and the
//! integration tests, so that both judge the vectors the same way. Not a stable API.
//!
//! Manifests: `awses-decrypt` version 5 (`decryption-scenario` entries with a
//! `decryptKeyDescription`) and version 2 (`master-keys` lists, with the extension fields
//! `commitment-policy`, `max-encrypted-data-keys`, `expected-encryption-context`,
//! `decryption-method`). Keys: a keys manifest version 3.

#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::{
    CommitmentPolicy, DataKey, DecryptionMaterials, EncryptedDataKey, EncryptionContext,
    EncryptionMaterials, Keyring, MaterialsSource, RawAesKeyring,
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
pub struct Keys(BTreeMap<String, Value>);

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
    key: Vec<u8>,
}

impl Keyring for StaticDataKeyKeyring {
    fn on_encrypt<'a>(
        &'a self,
        _m: EncryptionMaterials,
    ) -> BoxFuture<'a, crate::Result<EncryptionMaterials>> {
        Box::pin(async {
            Err(crate::Error::ApiMisuse(
                "static data key keyring is decrypt-only".into(),
            ))
        })
    }

    fn on_decrypt<'a>(
        &'a self,
        mut materials: DecryptionMaterials,
        _edks: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, crate::Result<DecryptionMaterials>> {
        Box::pin(async move {
            materials.set_data_key(DataKey::from_slice(&self.key))?;
            Ok(materials)
        })
    }
}

pub fn keyring_source(k: impl Keyring + 'static) -> Build {
    Build::Ready(MaterialsSource::keyring(k))
}

/// A keyring (or CMM) from a version 5 `decryptKeyDescription`.
pub fn from_description(keys: &Keys, desc: &Value) -> AnyResult<Build> {
    let ty = desc["type"].as_str().unwrap_or("");
    match ty {
        "raw" => raw_keyring(keys, desc),
        "static-data-key" => {
            let name = desc["key"].as_str().ok_or("static-data-key without key")?;
            Ok(keyring_source(StaticDataKeyKeyring {
                key: keys.material(name, "plaintext-data-key")?,
            }))
        }
        other => Ok(Build::Skip(Unsupported(format!(
            "keyring type {other:?} not built yet"
        )))),
    }
}

/// A raw keyring from a master-key or key description (`type: raw`).
pub fn raw_keyring(keys: &Keys, desc: &Value) -> AnyResult<Build> {
    let name = desc["key"]
        .as_str()
        .ok_or("raw key description without key")?;
    let provider_id = desc["provider-id"]
        .as_str()
        .ok_or("raw key description without provider-id")?;
    match desc["encryption-algorithm"].as_str() {
        Some("aes") => {
            let material = keys.material(name, "material")?;
            let k = RawAesKeyring::new(provider_id, keys.key_id(name)?, &material)
                .map_err(|e| e.to_string())?;
            Ok(keyring_source(k))
        }
        Some("rsa") => Ok(Build::Skip(Unsupported(
            "raw RSA keyring not built yet".into(),
        ))),
        other => Err(format!("unknown encryption-algorithm {other:?}")),
    }
}

/// A keyring from a version 2 `master-keys` list.
pub fn from_master_keys(keys: &Keys, list: &[Value]) -> AnyResult<Build> {
    match list {
        [] => Err("empty master-keys".into()),
        [one] => match one["type"].as_str() {
            Some("raw") => raw_keyring(keys, one),
            other => Ok(Build::Skip(Unsupported(format!(
                "master key type {other:?} not built yet"
            )))),
        },
        _ => Ok(Build::Skip(Unsupported(
            "multi-keyring not built yet".into(),
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// decrypt

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

/// The manifests a directory holds: `manifest.json`, plus `manifest-extensions.json` when
/// present; or the one named by `--manifest`.
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

/// Every test of every manifest in `dir` (see [`manifests_in`]), loaded.
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
