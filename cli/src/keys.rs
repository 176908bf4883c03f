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
//! * `key=kms:ARN` — an AWS KMS key (several `key=` tokens, or several groups, make one KMS
//!   multi-keyring; the first is the generator).
//! * `discovery=true` (decrypt only) with `region=R` (repeatable; default the SDK's Region),
//!   optionally `discovery-partition=P` and `discovery-account=ID` (repeatable) — KMS discovery.
//!
//! Several groups make one multi-keyring: the first group's keyring generates the data key.
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

use crate::Failure;

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
}

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
            "namespace" | "provider" => g.namespace = Some(v),
            "name" => g.name = Some(v),
            "padding" => g.padding = Some(v),
            "discovery" => {
                g.discovery = match v.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(Failure::usage("--wrapping-keys: discovery=true|false")),
                }
            }
            "region" => g.regions.push(v),
            "discovery-partition" => g.partition = Some(v),
            "discovery-account" => g.accounts.push(v),
            _ => {
                return Err(Failure::usage(format!(
                    "--wrapping-keys: unknown setting {k:?} (known: key, namespace, name, padding, \
                     discovery, region, discovery-partition, discovery-account)"
                )));
            }
        }
    }
    if g.keys.is_empty() && !g.discovery {
        return Err(Failure::usage(
            "--wrapping-keys: each group needs key=KIND:VALUE (aes:PATH, rsa-public:PATH, \
             rsa-private:PATH, kms:ARN) or discovery=true",
        ));
    }
    Ok(g)
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

/// Builds the keyring for all `--wrapping-keys` groups.
pub async fn keyring(
    groups: &[Vec<String>],
    purpose: Purpose,
    kms_endpoint: Option<&str>,
) -> Result<Arc<dyn Keyring>, Failure> {
    if groups.is_empty() {
        return Err(Failure::usage(
            "no wrapping key: give --wrapping-keys key=aes:KEYFILE (make one with `esdk keygen`)",
        ));
    }
    let mut keyrings: Vec<Arc<dyn Keyring>> = Vec::new();
    let mut kms_keys: Vec<String> = Vec::new();
    let mut kms_at: Option<usize> = None;
    for tokens in groups {
        let g = parse_group(tokens)?;
        let namespace = g.namespace.clone().unwrap_or_else(|| "esdk".into());
        let name = g.name.clone().unwrap_or_else(|| "default".into());
        let explicit_name = g.name.is_some();
        for key in &g.keys {
            let (kind, value) = key.split_once(':').ok_or_else(|| {
                Failure::usage(format!(
                    "--wrapping-keys: key={key:?} needs a kind: aes:PATH, rsa-public:PATH, \
                     rsa-private:PATH or kms:ARN"
                ))
            })?;
            match kind {
                "aes" => {
                    let bytes = read_key_file(Path::new(value), Secrecy::Private)?;
                    let k = RawAesKeyring::new(namespace.clone(), name.clone(), &bytes)
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
                        let k = RawRsaKeyring::new(
                            namespace.clone(),
                            name,
                            padding(g.padding.as_deref())?,
                            public,
                            private,
                        )
                        .map_err(|e| Failure::usage(format!("RSA key file {value}: {e}")))?;
                        keyrings.push(Arc::new(k));
                    }
                }
                "kms" => {
                    kms_at.get_or_insert(keyrings.len());
                    kms_keys.push(value.to_owned());
                }
                other => {
                    return Err(Failure::usage(format!(
                        "--wrapping-keys: unknown key kind {other:?} (aes, rsa-public, \
                         rsa-private, kms)"
                    )));
                }
            }
        }
        if g.discovery {
            if purpose == Purpose::Encrypt {
                return Err(Failure::usage("discovery=true only works to decrypt"));
            }
            kms_at.get_or_insert(keyrings.len());
            keyrings.insert(
                kms_at.unwrap_or(0).min(keyrings.len()),
                kms::discovery(&g, kms_endpoint).await?,
            );
        } else if !g.regions.is_empty() || g.partition.is_some() || !g.accounts.is_empty() {
            return Err(Failure::usage(
                "region=, discovery-partition= and discovery-account= need discovery=true",
            ));
        }
    }
    if !kms_keys.is_empty() {
        let k = kms::strict(&kms_keys, kms_endpoint).await?;
        keyrings.insert(kms_at.unwrap_or(0).min(keyrings.len()), k);
    }
    if keyrings.len() == 1 {
        return Ok(keyrings.remove(0));
    }
    let generator = keyrings.remove(0);
    let multi = MultiKeyring::new(Some(generator), keyrings).map_err(Failure::from)?;
    Ok(Arc::new(multi))
}

#[cfg(feature = "kms")]
mod kms {
    use std::sync::Arc;

    use esdk::keyring::aws_kms::{ClientSupplier, DefaultClientSupplier};
    use esdk::{AwsKmsMultiKeyring, DiscoveryFilter, Keyring};

    use super::Group;
    use crate::Failure;

    fn supplier(endpoint: Option<&str>) -> Arc<dyn ClientSupplier> {
        let mut b = DefaultClientSupplier::builder();
        if let Some(url) = endpoint {
            b = b.endpoint_url(url);
        }
        Arc::new(b.build())
    }

    pub async fn strict(
        keys: &[String],
        endpoint: Option<&str>,
    ) -> Result<Arc<dyn Keyring>, Failure> {
        let k = AwsKmsMultiKeyring::strict()
            .generator(keys[0].clone())
            .key_ids(keys[1..].iter().cloned())
            .client_supplier(supplier(endpoint))
            .build()
            .await
            .map_err(|e| Failure::usage(format!("KMS keys: {e}")))?;
        Ok(Arc::new(k))
    }

    pub async fn discovery(g: &Group, endpoint: Option<&str>) -> Result<Arc<dyn Keyring>, Failure> {
        let mut regions = g.regions.clone();
        if regions.is_empty() {
            match std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION")) {
                Ok(r) if !r.is_empty() => regions.push(r),
                _ => {
                    return Err(Failure::usage(
                        "discovery=true needs region=R (or AWS_REGION in the environment)",
                    ));
                }
            }
        }
        let mut b = AwsKmsMultiKeyring::discovery(regions).client_supplier(supplier(endpoint));
        if g.partition.is_some() || !g.accounts.is_empty() {
            let filter = DiscoveryFilter::new(
                g.partition.clone().unwrap_or_else(|| "aws".into()),
                g.accounts.iter().cloned(),
            )
            .map_err(|e| Failure::usage(format!("discovery filter: {e}")))?;
            b = b.filter(filter);
        }
        let k = b
            .build()
            .await
            .map_err(|e| Failure::usage(format!("KMS discovery: {e}")))?;
        Ok(Arc::new(k))
    }
}

#[cfg(not(feature = "kms"))]
mod kms {
    use std::sync::Arc;

    use esdk::Keyring;

    use super::Group;
    use crate::Failure;

    const OFF: &str = "this esdk was built without the `kms` feature: AWS KMS keys are unavailable";

    pub async fn strict(_: &[String], _: Option<&str>) -> Result<Arc<dyn Keyring>, Failure> {
        Err(Failure::usage(OFF))
    }

    pub async fn discovery(_: &Group, _: Option<&str>) -> Result<Arc<dyn Keyring>, Failure> {
        Err(Failure::usage(OFF))
    }
}
