//! AWS KMS keyrings (feature `kms`): data keys wrapped by AWS KMS.
//!
//! | keyring | encrypt | decrypts an EDK when | spec |
//! |---|---|---|---|
//! | [`AwsKmsKeyring`] | GenerateDataKey / Encrypt | its key ARN *equals* the configured identifier | `aws-kms-keyring.md` |
//! | [`AwsKmsMrkKeyring`] | same | MRK match: equal, or the same multi-Region key in another Region | `aws-kms-mrk-keyring.md` |
//! | [`AwsKmsDiscoveryKeyring`] | fails | any key ARN the [`DiscoveryFilter`] allows | `aws-kms-discovery-keyring.md` |
//! | [`AwsKmsMrkDiscoveryKeyring`] | fails | allowed ARNs in the client's Region, or MRKs (called in the client's Region) | `aws-kms-mrk-discovery-keyring.md` |
//! | [`AwsKmsRsaKeyring`] | local RSA-OAEP with the KMS key's public key | KMS `Decrypt` with the RSA key | `aws-kms-rsa-keyring.md` |
//! | [`AwsKmsEcdhKeyring`] | KMS `DeriveSharedSecret`, then the raw ECDH wrapping | same | `aws-kms-ecdh-keyring.md` |
//! | [`AwsKmsMultiKeyring`] | generator, then the other keys **concurrently** | each keyring in order | `aws-kms-multi-keyrings.md`, `aws-kms-mrk-multi-keyrings.md` |
//!
//! Encrypted data keys have provider ID `aws-kms` and the key ARN KMS returned as provider
//! info, byte-compatible with every other ESDK's KMS keyrings and master keys.
//!
//! **Strict keyrings match by exact string equality.** A keyring configured with an alias or
//! a bare key id can encrypt, but never decrypt (the EDK names the key ARN): configure key
//! ARNs, or use a discovery keyring.
//!
//! Two deliberate choices where the spec leaves room:
//!
//! * The single-key and discovery keyrings fail `on_decrypt` when the materials already hold a
//!   data key (the MRK keyring's spec text returns them unchanged; failing is the safer
//!   reading, as the other keyrings' specs do). The multi-keyrings follow the crate's
//!   [`MultiKeyring`](crate::keyring::MultiKeyring).
//! * [`AwsKmsMultiKeyring::strict`] accepts aliases and bare key ids besides ARNs (like the
//!   MPL): their client is the supplier's client for the SDK's default Region.
//!
//! Plaintext data keys returned by KMS are copied into zeroizing buffers at once; the SDK's own
//! request and response buffers (which briefly hold the data key) are outside our control.
//!
//! KMS failures come back as [`KeyringError::Service`] with the SDK's error as their
//! [`source`](std::error::Error::source); on decrypt, when several data keys were tried, as
//! [`KeyringError::NoDecryptableKey`] listing each attempt. See [`client`] for the timeouts and
//! retries of the clients this module makes.
//!
//! ```no_run
//! # async fn demo() -> esdk::Result<()> {
//! use esdk::keyring::aws_kms::{AwsKmsKeyring, KmsClient};
//! let arn = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
//! let keyring = AwsKmsKeyring::new(arn, KmsClient::from_env().await?)?;
//! let client = esdk::Client::new();
//! let msg = client.encrypt(keyring, b"secret").await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;

use crate::context::EncryptionContext;
use crate::error::{Error, KeyringAttempt, KeyringError, Result};
use crate::materials::{DataKey, DecryptionMaterials, EncryptedDataKey};

mod arn;
pub mod client;
mod discovery;
pub mod ecdh;
mod keyring;
mod multi;
pub mod rsa;

pub use arn::{KmsArn, ResourceType, is_multi_region_identifier, mrk_match};
pub use client::{ClientSupplier, DefaultClientSupplier, DefaultClientSupplierBuilder, KmsClient};
pub use discovery::{AwsKmsDiscoveryKeyring, AwsKmsMrkDiscoveryKeyring, DiscoveryFilter};
pub use ecdh::{AwsKmsEcdhKeyring, KmsEcdhScheme};
pub use keyring::{AwsKmsKeyring, AwsKmsMrkKeyring};
pub use multi::{AwsKmsMultiKeyring, DiscoveryMultiKeyringBuilder, StrictMultiKeyringBuilder};
pub use rsa::{AwsKmsRsaKeyring, KmsRsaAlgorithm};

/// The provider ID of encrypted data keys wrapped by AWS KMS.
pub const PROVIDER_ID: &str = "aws-kms";

fn ec_map(ec: &EncryptionContext) -> Option<HashMap<String, String>> {
    (!ec.is_empty()).then(|| {
        ec.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    })
}

fn tokens(grant_tokens: &[String]) -> Option<Vec<String>> {
    (!grant_tokens.is_empty()).then(|| grant_tokens.to_vec())
}

/// A failed KMS call, keeping the SDK's error as the source.
fn service_error<E>(operation: &str, key_id: &str, err: E) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    let detail = aws_sdk_kms::error::DisplayErrorContext(&err).to_string();
    KeyringError::Service {
        key_id: key_id.to_owned(),
        message: format!("{operation} failed: {detail}"),
        source: Some(std::sync::Arc::new(err)),
    }
    .into()
}

/// A KMS response that does not satisfy the spec's checks.
fn bad_response(operation: &str, key_id: &str, why: String) -> Error {
    KeyringError::Service {
        key_id: key_id.to_owned(),
        message: format!("{operation} response rejected: {why}"),
        source: None,
    }
    .into()
}

/// Checks that a response's key id is a valid AWS KMS key ARN and returns it.
fn response_key_arn(operation: &str, requested: &str, key_id: Option<String>) -> Result<String> {
    let key_id = key_id.ok_or_else(|| bad_response(operation, requested, "no KeyId".into()))?;
    match arn::KmsArn::parse(&key_id) {
        Ok(a) if a.resource_type() == ResourceType::Key => Ok(key_id),
        _ => Err(bad_response(
            operation,
            requested,
            format!("KeyId {key_id:?} is not a key ARN"),
        )),
    }
}

/// `GenerateDataKey`: a new data key of `len` bytes and its encrypted data key.
async fn generate_data_key(
    client: &KmsClient,
    key_id: &str,
    len: usize,
    ec: &EncryptionContext,
    grant_tokens: &[String],
) -> Result<(DataKey, EncryptedDataKey)> {
    const OP: &str = "GenerateDataKey";
    let number_of_bytes = i32::try_from(len)
        .map_err(|_| bad_response(OP, key_id, "data key length out of range".into()))?;
    let mut out = client
        .sdk()
        .generate_data_key()
        .key_id(key_id)
        .number_of_bytes(number_of_bytes)
        .set_encryption_context(ec_map(ec))
        .set_grant_tokens(tokens(grant_tokens))
        .send()
        .await
        .map_err(|e| service_error(OP, key_id, e))?;
    let plaintext = zeroize::Zeroizing::new(
        out.plaintext
            .take()
            .map(|b| b.into_inner())
            .unwrap_or_default(),
    );
    if plaintext.len() != len {
        return Err(bad_response(
            OP,
            key_id,
            format!("plaintext of {} bytes, expected {len}", plaintext.len()),
        ));
    }
    let arn = response_key_arn(OP, key_id, out.key_id.take())?;
    let blob = out
        .ciphertext_blob
        .take()
        .map(|b| b.into_inner())
        .filter(|b| !b.is_empty())
        .ok_or_else(|| bad_response(OP, key_id, "no CiphertextBlob".into()))?;
    Ok((
        DataKey::from_slice(&plaintext),
        EncryptedDataKey::new(PROVIDER_ID, arn.into_bytes(), blob),
    ))
}

/// `Encrypt` of an existing data key.
async fn encrypt_data_key(
    client: &KmsClient,
    key_id: &str,
    data_key: &DataKey,
    ec: &EncryptionContext,
    grant_tokens: &[String],
) -> Result<EncryptedDataKey> {
    const OP: &str = "Encrypt";
    let mut out = client
        .sdk()
        .encrypt()
        .key_id(key_id)
        .plaintext(aws_sdk_kms::primitives::Blob::new(
            data_key.expose().to_vec(),
        ))
        .set_encryption_context(ec_map(ec))
        .set_grant_tokens(tokens(grant_tokens))
        .send()
        .await
        .map_err(|e| service_error(OP, key_id, e))?;
    let arn = response_key_arn(OP, key_id, out.key_id.take())?;
    let blob = out
        .ciphertext_blob
        .take()
        .map(|b| b.into_inner())
        .filter(|b| !b.is_empty())
        .ok_or_else(|| bad_response(OP, key_id, "no CiphertextBlob".into()))?;
    Ok(EncryptedDataKey::new(PROVIDER_ID, arn.into_bytes(), blob))
}

/// `Decrypt` of one encrypted data key with `KeyId = request_key_id`; the response's key id
/// must equal it and the plaintext must have the suite's length.
async fn decrypt_data_key(
    client: &KmsClient,
    request_key_id: &str,
    edk: &EncryptedDataKey,
    materials: &DecryptionMaterials,
    grant_tokens: &[String],
) -> Result<DataKey> {
    const OP: &str = "Decrypt";
    let mut out = client
        .sdk()
        .decrypt()
        .key_id(request_key_id)
        .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(
            edk.ciphertext().to_vec(),
        ))
        .set_encryption_context(ec_map(materials.encryption_context()))
        .set_grant_tokens(tokens(grant_tokens))
        .send()
        .await
        .map_err(|e| service_error(OP, request_key_id, e))?;
    let plaintext = zeroize::Zeroizing::new(
        out.plaintext
            .take()
            .map(|b| b.into_inner())
            .unwrap_or_default(),
    );
    match out.key_id.as_deref() {
        Some(k) if k == request_key_id => {}
        other => {
            return Err(bad_response(
                OP,
                request_key_id,
                format!("KeyId {other:?} is not the key requested"),
            ));
        }
    }
    let len = materials.algorithm_suite().key_len();
    if plaintext.len() != len {
        return Err(bad_response(
            OP,
            request_key_id,
            format!("plaintext of {} bytes, expected {len}", plaintext.len()),
        ));
    }
    Ok(DataKey::from_slice(&plaintext))
}

/// The `aws-kms` encrypted data keys, each with its provider info parsed as a key ARN.
///
/// # Errors
/// When an `aws-kms` data key's provider info is not UTF-8 or not a key ARN: the spec makes
/// the whole decryption fail then.
fn kms_edks(edks: &[EncryptedDataKey]) -> Result<Vec<(&EncryptedDataKey, &str, KmsArn)>> {
    let mut out = Vec::new();
    for edk in edks.iter().filter(|e| e.provider_id() == PROVIDER_ID) {
        let bad = || -> Error {
            KeyringError::InvalidKey(format!(
                "aws-kms encrypted data key with provider info {:?}, not a KMS key ARN",
                String::from_utf8_lossy(edk.provider_info())
            ))
            .into()
        };
        let info = std::str::from_utf8(edk.provider_info()).map_err(|_| bad())?;
        let arn = KmsArn::parse(info).map_err(|_| bad())?;
        if arn.resource_type() != ResourceType::Key {
            return Err(bad());
        }
        out.push((edk, info, arn));
    }
    Ok(out)
}

/// One data key to try: the EDK and the `KeyId` to call Decrypt with.
struct Candidate<'a> {
    edk: &'a EncryptedDataKey,
    key_id: String,
}

/// Tries the candidates in order with `client`; the first that decrypts sets the data key.
///
/// When nothing decrypts: a single failure is returned as is (keeping a service error's
/// source); several become [`KeyringError::NoDecryptableKey`] listing each.
async fn decrypt_first(
    describe: &str,
    client: &KmsClient,
    grant_tokens: &[String],
    mut materials: DecryptionMaterials,
    candidates: Vec<Candidate<'_>>,
) -> Result<DecryptionMaterials> {
    let mut errors = Vec::new();
    for c in candidates {
        match decrypt_data_key(client, &c.key_id, c.edk, &materials, grant_tokens).await {
            Ok(key) => {
                materials.set_data_key(key)?;
                return Ok(materials);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.len() == 1 {
        return Err(errors.pop().expect("one error"));
    }
    let attempts: Vec<KeyringAttempt> = errors
        .into_iter()
        .map(|e| KeyringAttempt {
            keyring: describe.to_owned(),
            reason: e.to_string(),
        })
        .collect();
    Err(crate::keyring::no_decryptable_key(
        attempts,
        describe.to_owned(),
        "no encrypted data key matches this keyring",
    ))
}

fn check_no_data_key(materials: &DecryptionMaterials) -> Result<()> {
    if materials.data_key().is_some() {
        return Err(
            KeyringError::InvalidMaterials("a plaintext data key is already present").into(),
        );
    }
    Ok(())
}
