//! `--wrapping-keys` groups: parsing them into keyrings.
//!
//! Each `--wrapping-keys` occurrence is one group of `name=value` tokens:
//!
//! * `key=aes:PATH` — a raw AES key file (16, 24 or 32 raw bytes, as `esdk keygen` writes);
//!   `namespace=` and `name=` set the key provider id and key name (default `esdk` / `default`).
//! * `key=rsa-public:PATH` (encrypt) or `key=rsa-private:PATH` (decrypt) — a PEM RSA key;
//!   `padding=` one of `pkcs1`, `oaep-sha1`, `oaep-sha256` (default), `oaep-sha384`,
//!   `oaep-sha512`; `namespace=`, `name=` as above.
//! * `key=kms:ARN` — an AWS KMS key (several `key=` tokens, or several groups, make one KMS
//!   multi-keyring; the first is the generator).
//! * `discovery=true` (decrypt only) with `region=R` (repeatable; default the SDK's Region),
//!   optionally `discovery-partition=P` and `discovery-account=ID` (repeatable) — KMS discovery.
//!
//! Several groups make one multi-keyring: the first group's keyring generates the data key.

use std::fs;
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

fn read_key_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, Failure> {
    fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| Failure::usage(format!("cannot read key file {}: {e}", path.display())))
}

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
        for key in &g.keys {
            let (kind, value) = key.split_once(':').ok_or_else(|| {
                Failure::usage(format!(
                    "--wrapping-keys: key={key:?} needs a kind: aes:PATH, rsa-public:PATH, \
                     rsa-private:PATH or kms:ARN"
                ))
            })?;
            match kind {
                "aes" => {
                    let bytes = read_key_file(Path::new(value))?;
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
                    let pem = read_key_file(Path::new(value))?;
                    let pem = std::str::from_utf8(&pem).map_err(|_| {
                        Failure::usage(format!("RSA key file {value} is not PEM text"))
                    })?;
                    let (public, private) = if kind == "rsa-public" {
                        (Some(pem), None)
                    } else {
                        (None, Some(pem))
                    };
                    let k = RawRsaKeyring::new(
                        namespace.clone(),
                        name.clone(),
                        padding(g.padding.as_deref())?,
                        public,
                        private,
                    )
                    .map_err(|e| Failure::usage(format!("RSA key file {value}: {e}")))?;
                    keyrings.push(Arc::new(k));
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
