//! `--wrapping-keys` groups: parsing them into keyrings.
//!
//! Each `--wrapping-keys` occurrence is one group of `name=value` tokens:
//!
//! * `key=aes:PATH` — a raw AES key file (16, 24 or 32 raw bytes, as `esdk keygen` writes);
//!   `namespace=` and `name=` set the key provider id and key name (default `esdk` / `default`).
//! * `key=rsa-public:PATH` (encrypt) or `key=rsa-private:PATH` (decrypt) — a PEM RSA key;
//!   `padding=` one of `pkcs1`, `oaep-sha1`, `oaep-sha256` (default), `oaep-sha384`,
//!   `oaep-sha512`; `namespace=`, `name=` as above, except that the default name is
//!   `rsa-sha256:` and the hex SHA-256 of the key's DER SubjectPublicKeyInfo, so that distinct
//!   keys never share a name (a PKCS#1 v1.5 unwrap under the wrong key can yield a plausible
//!   data key). Without `name=`, a private key also tries the old default name `default`, so
//!   messages written by earlier esdk versions still decrypt.
//! * `key=ARN`, `key=alias/NAME`, `key=KEY_ID` or `key=kms:ID` — an AWS KMS key, as in the
//!   official CLI (`provider=aws-kms` makes every `key=` of the group a KMS key). A
//!   multi-Region key (`mrk-…`) is MRK-aware: it decrypts what any of its replicas encrypted.
//!   `region=R` is the Region of key IDs and aliases, `profile=P` a named AWS profile,
//!   `grant-token=T` (repeatable) a KMS grant token.
//! * `discovery=true` (decrypt only) with `region=R` (repeatable; default the profile's or
//!   the SDK's Region), optionally `discovery-partition=P` and `discovery-account=ID`
//!   (repeatable) — MRK-aware KMS discovery.
//! * `key=kms-rsa:ARN [padding=oaep-sha1|oaep-sha256] [public-key=PEM]` — an asymmetric KMS
//!   RSA key (the public key is read with GetPublicKey when not given).
//! * `key=ecdh:PRIVATE.pem recipient=PUBLIC.pem`, `key=ecdh-ephemeral:PUBLIC.pem` (encrypt),
//!   `key=ecdh-discovery:PRIVATE.pem` (decrypt) — raw ECDH ([`crate::ecdh`]); `curve=`.
//! * `key=kms-ecdh:ARN recipient=PUBLIC.pem`, `key=kms-ecdh-discovery:ARN` (decrypt) — KMS
//!   ECDH with a KMS key agreement key; `curve=`.
//! * `key=hierarchy:BRANCH_KEY_ID key-store-table=TABLE key-store-kms-key=ARN
//!   [key-store-name=LOGICAL] [cache-ttl=SECONDS]` — the hierarchical keyring over a DynamoDB
//!   branch key store.
//!
//! Several keys or groups make one multi-keyring: the first key generates the data key.
//!
//! Key files must be regular files of at most [`MAX_KEY_FILE`] bytes (so `/dev/zero` or a FIFO
//! is refused at once). A private key file (AES, RSA private) that group or others may read or
//! write gets a warning on standard error, as ssh gives.

use std::fs;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use esdk::crypto::RsaPadding;
use esdk::{Keyring, MultiKeyring, RawAesKeyring, RawRsaKeyring};
use zeroize::Zeroizing;

use crate::{Failure, ecdh, kms};

/// Whether keys are needed to encrypt or to decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Encrypt,
    Decrypt,
}

#[derive(Debug, Default)]
struct Group {
    keys: Vec<String>,
    namespace: Option<String>,
    name: Option<String>,
    padding: Option<String>,
    discovery: bool,
    regions: Vec<String>,
    partition: Option<String>,
    accounts: Vec<String>,
    all_kms: bool,
    profile: Option<String>,
    grant_tokens: Vec<String>,
    recipient: Option<String>,
    public_key: Option<String>,
    curve: Option<String>,
    table: Option<String>,
    store_name: Option<String>,
    store_kms_key: Option<String>,
    cache_ttl: Option<String>,
}

/// The official CLI's default provider, and its short name.
const KMS_PROVIDERS: [&str; 2] = ["aws-kms", "aws-encryption-sdk-cli::aws-kms"];

fn parse_group(tokens: &[String]) -> Result<Group, Failure> {
    let mut g = Group::default();
    for token in tokens {
        let (k, v) = token.split_once('=').ok_or_else(|| {
            Failure::usage(format!(
                "--wrapping-keys: expected name=value, got {token:?}"
            ))
        })?;
        let v = v.to_owned();
        match k {
            "key" => g.keys.push(v),
            "provider" if KMS_PROVIDERS.contains(&v.as_str()) => g.all_kms = true,
            "namespace" | "provider" => g.namespace = Some(v),
            "name" => g.name = Some(v),
            "padding" => g.padding = Some(v),
            "discovery" => {
                g.discovery = crate::compat::pseudo_bool(&v)
                    .ok_or_else(|| Failure::usage("--wrapping-keys: discovery=true|false"))?
            }
            "region" => g.regions.push(v),
            "discovery-partition" => g.partition = Some(v),
            "discovery-account" => g.accounts.push(v),
            "profile" => g.profile = Some(v),
            "grant-token" => g.grant_tokens.push(v),
            "recipient" => g.recipient = Some(v),
            "public-key" => g.public_key = Some(v),
            "curve" => g.curve = Some(v),
            "key-store-table" => g.table = Some(v),
            "key-store-name" => g.store_name = Some(v),
            "key-store-kms-key" => g.store_kms_key = Some(v),
            "cache-ttl" => g.cache_ttl = Some(v),
            _ => {
                return Err(Failure::usage(format!(
                    "--wrapping-keys: unknown setting {k:?} (known: key, provider, namespace, \
                     name, padding, discovery, region, profile, grant-token, \
                     discovery-partition, discovery-account, recipient, public-key, curve, \
                     key-store-table, key-store-name, key-store-kms-key, cache-ttl)"
                )));
            }
        }
    }
    if g.keys.is_empty() && !g.discovery {
        return Err(Failure::usage(
            "--wrapping-keys: each group needs key=… (aes:PATH, rsa-public:PATH, \
             rsa-private:PATH, a KMS key ARN, alias or ID, kms-rsa:ARN, ecdh:PATH, \
             ecdh-ephemeral:PATH, ecdh-discovery:PATH, kms-ecdh:ARN, kms-ecdh-discovery:ARN, \
             hierarchy:BRANCH_KEY_ID) or discovery=true",
        ));
    }
    Ok(g)
}

/// A bare KMS key ID: a UUID, or `mrk-` and 32 hex digits.
fn is_kms_key_id(s: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(rest) = s.strip_prefix("mrk-") {
        return hex(rest, 32);
    }
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5 && [8, 4, 4, 4, 12].iter().zip(&parts).all(|(n, p)| hex(p, *n))
}

/// A `key=` value as (kind, value): KMS identifiers need no kind, as in the official CLI.
fn classify(key: &str, all_kms: bool) -> Result<(&str, &str), Failure> {
    if let Some(id) = key.strip_prefix("kms:") {
        return Ok(("kms", id));
    }
    if all_kms || key.starts_with("arn:") || key.starts_with("alias/") || is_kms_key_id(key) {
        return Ok(("kms", key));
    }
    key.split_once(':').ok_or_else(|| {
        Failure::usage(format!(
            "--wrapping-keys: key={key:?} is neither a KMS key (ARN, alias/NAME, key ID) nor \
             KIND:VALUE (aes:PATH, rsa-public:PATH, rsa-private:PATH, kms-rsa:ARN, ecdh:PATH, \
             ecdh-ephemeral:PATH, ecdh-discovery:PATH, kms-ecdh:ARN, kms-ecdh-discovery:ARN, \
             hierarchy:BRANCH_KEY_ID)"
        ))
    })
}

fn padding(name: Option<&str>) -> Result<RsaPadding, Failure> {
    Ok(match name.unwrap_or("oaep-sha256") {
        "pkcs1" => RsaPadding::Pkcs1V15,
        "oaep-sha1" => RsaPadding::OaepSha1,
        "oaep-sha256" => RsaPadding::OaepSha256,
        "oaep-sha384" => RsaPadding::OaepSha384,
        "oaep-sha512" => RsaPadding::OaepSha512,
        other => {
            return Err(Failure::usage(format!(
                "--wrapping-keys: unknown padding {other:?} (pkcs1, oaep-sha1, oaep-sha256, \
                 oaep-sha384, oaep-sha512)"
            )));
        }
    })
}

/// The largest key file read: a PEM RSA-16384 private key is about 13 KiB.
pub const MAX_KEY_FILE: usize = 64 << 10;

/// Whether a key file holds a secret (its permissions are checked) or a public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrecy {
    Private,
    Public,
}

/// Reads a key file: a regular file (a link to one is fine) of at most [`MAX_KEY_FILE`] bytes.
/// Warns when a private key file is open to group or others.
pub fn read_key_file(path: &Path, secrecy: Secrecy) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let shown = path.display();
    let cannot = |e: std::io::Error| Failure::usage(format!("cannot read key file {shown}: {e}"));
    let not_regular = || {
        Failure::usage(format!(
            "key file {shown} is not a regular file; refusing to read it"
        ))
    };
    if !fs::metadata(path).map_err(cannot)?.is_file() {
        return Err(not_regular());
    }
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        // Should a FIFO replace the file after the check above, opening it must not wait.
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    #[cfg(unix)]
    if secrecy == Secrecy::Private {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "esdk: warning: private key file {shown} is accessible by group or others (mode \
                 {mode:04o}); make it private with `chmod 600 {shown}`"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = secrecy;
    // One buffer of the bound plus one byte, never grown (growing would leave copies of the key
    // in freed memory); zeroized on drop.
    let mut buf = Zeroizing::new(vec![0u8; MAX_KEY_FILE + 1]);
    let mut len = 0;
    let mut reader = file.take(MAX_KEY_FILE as u64 + 1);
    loop {
        match reader.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(cannot(e)),
        }
    }
    if len > MAX_KEY_FILE {
        return Err(Failure::usage(format!(
            "key file {shown} is larger than {MAX_KEY_FILE} bytes; not a key"
        )));
    }
    buf.truncate(len);
    Ok(buf)
}

/// The default name of an RSA key: `rsa-sha256:` and the hex SHA-256 of its DER
/// SubjectPublicKeyInfo (the private key's public half for a private key).
fn rsa_default_name(pem: &str, private: bool) -> Result<String, Failure> {
    use rsa::pkcs1::{DecodeRsaPrivateKey as _, DecodeRsaPublicKey as _};
    use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePublicKey as _};
    use sha2::Digest as _;

    let public = if private {
        rsa::PrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| rsa::PrivateKey::from_pkcs1_pem(pem))
            .map(|k| k.to_public_key())
            .ok()
    } else {
        rsa::PublicKey::from_public_key_pem(pem)
            .or_else(|_| rsa::PublicKey::from_pkcs1_pem(pem))
            .ok()
    };
    let der = public
        .and_then(|k| k.to_public_key_der().ok())
        .ok_or_else(|| {
            Failure::usage("not a PEM RSA key (PKCS#8, SubjectPublicKeyInfo or PKCS#1)")
        })?;
    let digest = sha2::Sha256::digest(der.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("rsa-sha256:{hex}"))
}

/// The key name used for every RSA key without `name=` before names were derived from keys.
const OLD_RSA_DEFAULT_NAME: &str = "default";

/// Command-line settings the keys need besides their groups.
#[derive(Debug, Clone, Copy, Default)]
pub struct Endpoints<'a> {
    pub kms: Option<&'a str>,
    pub dynamodb: Option<&'a str>,
}

/// Builds the keyring for all `--wrapping-keys` groups.
pub async fn keyring(
    groups: &[Vec<String>],
    purpose: Purpose,
    endpoints: Endpoints<'_>,
) -> Result<Arc<dyn Keyring>, Failure> {
    if groups.is_empty() {
        return Err(Failure::usage(
            "no wrapping key: give --wrapping-keys key=aes:KEYFILE (make one with `esdk keygen`)",
        ));
    }
    let mut keyrings: Vec<Arc<dyn Keyring>> = Vec::new();
    for tokens in groups {
        let g = parse_group(tokens)?;
        let namespace = g.namespace.clone().unwrap_or_else(|| "esdk".into());
        let name = g.name.clone().unwrap_or_else(|| "default".into());
        let explicit_name = g.name.is_some();
        let aws = kms::Aws {
            kms_endpoint: endpoints.kms.map(str::to_owned),
            dynamodb_endpoint: endpoints.dynamodb.map(str::to_owned),
            profile: g.profile.clone(),
            region: if g.discovery {
                None
            } else {
                g.regions.first().cloned()
            },
            grant_tokens: g.grant_tokens.clone(),
        };
        if g.discovery {
            if purpose == Purpose::Encrypt {
                return Err(Failure::usage("discovery=true only works to decrypt"));
            }
            if !g.keys.is_empty() {
                return Err(Failure::usage(
                    "discovery=true and key= cannot be in one group: discovery decrypts with \
                     any KMS key; give the keys in another --wrapping-keys group",
                ));
            }
            keyrings
                .push(kms::discovery(&g.regions, g.partition.as_deref(), &g.accounts, &aws).await?);
            continue;
        }
        if g.partition.is_some() || !g.accounts.is_empty() {
            return Err(Failure::usage(
                "discovery-partition= and discovery-account= need discovery=true",
            ));
        }
        if g.regions.len() > 1 {
            return Err(Failure::usage(
                "one region= per --wrapping-keys group (several only with discovery=true)",
            ));
        }
        let curve = g.curve.as_deref().map(ecdh::parse_curve).transpose()?;
        let mut kinds = Vec::new();
        for key in &g.keys {
            let (kind, value) = classify(key, g.all_kms)?;
            kinds.push(kind);
            match kind {
                "aes" => {
                    let bytes = read_key_file(Path::new(value), Secrecy::Private)?;
                    let k = RawAesKeyring::with_crypto_provider(
                        namespace.clone(),
                        name.clone(),
                        &bytes,
                        &crate::crypto::PROVIDER,
                    )
                    .map_err(|e| Failure::usage(format!("key file {value}: {e}")))?;
                    keyrings.push(Arc::new(k));
                }
                "rsa-public" | "rsa-private" => {
                    if kind == "rsa-public" && purpose == Purpose::Decrypt {
                        return Err(Failure::usage(
                            "an RSA public key cannot decrypt: use key=rsa-private:PATH",
                        ));
                    }
                    if kind == "rsa-private" && purpose == Purpose::Encrypt {
                        return Err(Failure::usage(
                            "encrypt with the RSA public key: use key=rsa-public:PATH",
                        ));
                    }
                    let is_private = kind == "rsa-private";
                    let pem = read_key_file(
                        Path::new(value),
                        if is_private {
                            Secrecy::Private
                        } else {
                            Secrecy::Public
                        },
                    )?;
                    let pem = std::str::from_utf8(&pem).map_err(|_| {
                        Failure::usage(format!("RSA key file {value} is not PEM text"))
                    })?;
                    let (public, private) = if is_private {
                        (None, Some(pem))
                    } else {
                        (Some(pem), None)
                    };
                    let mut names = vec![name.clone()];
                    if !explicit_name {
                        names = vec![
                            rsa_default_name(pem, is_private)
                                .map_err(|f| f.context(format!("RSA key file {value}")))?,
                        ];
                        if is_private {
                            names.push(OLD_RSA_DEFAULT_NAME.into());
                        }
                    }
                    for name in names {
                        let k = RawRsaKeyring::with_crypto_provider(
                            namespace.clone(),
                            name,
                            padding(g.padding.as_deref())?,
                            public,
                            private,
                            &crate::crypto::PROVIDER,
                        )
                        .map_err(|e| Failure::usage(format!("RSA key file {value}: {e}")))?;
                        keyrings.push(Arc::new(k));
                    }
                }
                "kms" => keyrings.extend(kms::keys(&[value.to_owned()], &aws).await?),
                "kms-rsa" => {
                    let padding = match g.padding.as_deref().unwrap_or("oaep-sha256") {
                        "oaep-sha1" => kms::KmsRsa::OaepSha1,
                        "oaep-sha256" => kms::KmsRsa::OaepSha256,
                        other => {
                            return Err(Failure::usage(format!(
                                "key=kms-rsa: padding {other:?}: KMS RSA keys take oaep-sha1 \
                                 or oaep-sha256"
                            )));
                        }
                    };
                    let pem = match &g.public_key {
                        Some(path) => Some(ecdh::der_to_pem(&ecdh::public_key_der(path)?)),
                        None => None,
                    };
                    keyrings.push(
                        kms::rsa(
                            value,
                            padding,
                            pem.as_deref(),
                            purpose == Purpose::Encrypt,
                            &aws,
                        )
                        .await?,
                    );
                }
                "ecdh" | "ecdh-ephemeral" | "ecdh-discovery" => {
                    keyrings.push(ecdh::raw(
                        kind,
                        value,
                        g.recipient.as_deref(),
                        curve,
                        purpose,
                    )?);
                }
                "kms-ecdh" | "kms-ecdh-discovery" => {
                    let recipient = match (kind, &g.recipient) {
                        ("kms-ecdh", Some(path)) => Some(ecdh::public_key_der(path)?),
                        ("kms-ecdh", None) => {
                            return Err(Failure::usage(
                                "key=kms-ecdh:ARN needs recipient=PUBLIC.pem (the other party's \
                                 key); to decrypt with your own KMS key alone use \
                                 key=kms-ecdh-discovery:ARN",
                            ));
                        }
                        _ if purpose == Purpose::Encrypt => {
                            return Err(Failure::usage(
                                "key=kms-ecdh-discovery: only decrypts; encrypt with \
                                 key=kms-ecdh:ARN recipient=PUBLIC.pem or key=ecdh-ephemeral:…",
                            ));
                        }
                        _ => None,
                    };
                    let spec = kms::KmsEcdh {
                        key_id: value,
                        recipient_public_der: recipient.as_deref(),
                        curve,
                    };
                    keyrings.push(kms::ecdh(spec, &aws).await?);
                }
                "hierarchy" => {
                    let need = |v: &Option<String>, what: &str| {
                        v.clone().ok_or_else(|| {
                            Failure::usage(format!(
                                "key=hierarchy:BRANCH_KEY_ID needs {what}=… in its group"
                            ))
                        })
                    };
                    let table = need(&g.table, "key-store-table")?;
                    let kms_key = need(&g.store_kms_key, "key-store-kms-key")?;
                    let ttl = match g.cache_ttl.as_deref() {
                        None => std::time::Duration::from_secs(60),
                        Some(v) => v
                            .parse::<u64>()
                            .ok()
                            .filter(|n| *n > 0)
                            .map(std::time::Duration::from_secs)
                            .ok_or_else(|| {
                                Failure::usage("cache-ttl= takes a number of seconds above 0")
                            })?,
                    };
                    let h = kms::Hierarchy {
                        branch_key_id: value,
                        table: &table,
                        logical_name: g.store_name.as_deref(),
                        kms_key: &kms_key,
                        ttl,
                    };
                    keyrings.push(kms::hierarchy(h, &aws).await?);
                }
                other => {
                    return Err(Failure::usage(format!(
                        "--wrapping-keys: unknown key kind {other:?} (aes, rsa-public, \
                         rsa-private, kms, kms-rsa, ecdh, ecdh-ephemeral, ecdh-discovery, \
                         kms-ecdh, kms-ecdh-discovery, hierarchy)"
                    )));
                }
            }
        }
        let uses = |names: &[&str]| kinds.iter().any(|k| names.contains(k));
        if g.recipient.is_some() && !uses(&["ecdh", "kms-ecdh"]) {
            return Err(Failure::usage(
                "recipient= goes with key=ecdh:… or key=kms-ecdh:…",
            ));
        }
        if (g.table.is_some()
            || g.store_kms_key.is_some()
            || g.store_name.is_some()
            || g.cache_ttl.is_some())
            && !uses(&["hierarchy"])
        {
            return Err(Failure::usage(
                "key-store-table=, key-store-kms-key=, key-store-name= and cache-ttl= go with \
                 key=hierarchy:BRANCH_KEY_ID",
            ));
        }
    }
    if keyrings.len() == 1 {
        return Ok(keyrings.remove(0));
    }
    let generator = keyrings.remove(0);
    let multi = MultiKeyring::new(Some(generator), keyrings).map_err(Failure::from)?;
    Ok(Arc::new(multi))
}
