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
use std::future::Future;

use futures::FutureExt;
use zeroize::Zeroizing;

use crate::error::{Error, KeyringAttempt, KeyringError, Result};
use crate::format::context::EncryptionContext;
use crate::keyring::{ensure_no_data_key, first_data_key};
use crate::materials::{DataKey, DecryptionMaterials, EncryptedDataKey};

/// The `grant_tokens` option of the keyrings that keep `grant_tokens: Vec<String>`.
macro_rules! grant_tokens_option {
    () => {
        /// Grant tokens to send with every KMS call.
        #[must_use]
        pub fn grant_tokens<S: Into<String>>(
            mut self,
            tokens: impl IntoIterator<Item = S>,
        ) -> Self {
            self.grant_tokens = tokens.into_iter().map(Into::into).collect();
            self
        }
    };
}

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
pub use ecdh::{AwsKmsEcdhKeyring, AwsKmsEcdhKeyringBuilder, KmsEcdhScheme};
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

/// One line for a failed AWS SDK call: the service's error code and message when the service
/// answered, else the chain of causes (connection refused, timeout, …). Never the SDK's debug
/// structure with the HTTP response: that stays reachable as the error's source. Public so that
/// tools calling AWS themselves (the `esdk` CLI's `GetPublicKey`) report errors the same way.
pub fn sdk_error_summary<E>(err: &E) -> String
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error,
{
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        (None, Some(message)) => message.to_owned(),
        (None, None) => {
            let mut parts = vec![err.to_string()];
            let mut next = err.source();
            while let Some(e) = next {
                let s = e.to_string();
                if !parts.iter().any(|p| p.contains(&s)) {
                    parts.push(s);
                }
                next = e.source();
            }
            parts.join(": ")
        }
    }
}

/// A failed call to an AWS service (`call`, such as `KMS Decrypt`), keeping the SDK's error
/// as the [`KeyringError::Service`] source. The message names the call and, when the service
/// answered with an error, its code and message (from the SDK error's metadata); other text of
/// the SDK error (its own `Display`, a transport failure) is left to the source, so a printed
/// error chain shows it once.
pub(crate) fn service_failure<E>(call: &str, key_id: &str, err: E) -> Error
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{call} failed: {code}: {message}"),
        (Some(code), None) => format!("{call} failed: {code}"),
        (None, Some(message)) => format!("{call} failed: {message}"),
        // No answer from the service (a timeout, a connection failure): the source says which.
        (None, None) => format!("{call} failed (see the source error)"),
    };
    KeyringError::Service {
        key_id: key_id.to_owned(),
        message,
        source: Some(std::sync::Arc::new(err)),
    }
    .into()
}

/// A failed KMS call, keeping the SDK's error as the source (see [`service_failure`]).
fn service_error<E>(operation: &str, key_id: &str, err: E) -> Error
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    service_failure(&format!("KMS {operation}"), key_id, err)
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

/// A secret (plaintext data key, shared secret) taken out of a KMS response into a zeroizing
/// buffer at once; empty when the response has none.
fn take_secret(blob: Option<aws_sdk_kms::primitives::Blob>) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(blob.map(|b| b.into_inner()).unwrap_or_default())
}

/// Checks that a secret `what` of a KMS response has the length `want`.
fn check_secret_len(
    operation: &str,
    key_id: &str,
    what: &str,
    secret: &[u8],
    want: usize,
) -> Result<()> {
    if secret.len() != want {
        return Err(bad_response(
            operation,
            key_id,
            format!("{what} of {} bytes, expected {want}", secret.len()),
        ));
    }
    Ok(())
}

/// One KMS key as a keyring calls it: the client, the `KeyId` sent and the grant tokens. The
/// `GenerateDataKey`, `Encrypt` and `Decrypt` calls of every KMS keyring go through it, with
/// one error mapping ([`service_error`]) and one set of response checks ([`bad_response`]).
#[derive(Clone, Copy)]
struct KmsKey<'a> {
    client: &'a KmsClient,
    key_id: &'a str,
    grant_tokens: &'a [String],
}

impl KmsKey<'_> {
    /// `GenerateDataKey`: a new data key of `len` bytes and its encrypted data key.
    async fn generate_data_key(
        &self,
        len: usize,
        ec: &EncryptionContext,
    ) -> Result<(DataKey, EncryptedDataKey)> {
        const OP: &str = "GenerateDataKey";
        let number_of_bytes = i32::try_from(len)
            .map_err(|_| bad_response(OP, self.key_id, "data key length out of range".into()))?;
        let mut out = self
            .client
            .sdk()
            .generate_data_key()
            .key_id(self.key_id)
            .number_of_bytes(number_of_bytes)
            .set_encryption_context(ec_map(ec))
            .set_grant_tokens(tokens(self.grant_tokens))
            .send()
            .await
            .map_err(|e| service_error(OP, self.key_id, e))?;
        let plaintext = take_secret(out.plaintext.take());
        check_secret_len(OP, self.key_id, "plaintext", &plaintext, len)?;
        let edk = self.response_edk(OP, out.key_id.take(), out.ciphertext_blob.take())?;
        Ok((DataKey::from_slice(&plaintext), edk))
    }

    /// `Encrypt` of an existing data key.
    async fn encrypt_data_key(
        &self,
        data_key: &DataKey,
        ec: &EncryptionContext,
    ) -> Result<EncryptedDataKey> {
        const OP: &str = "Encrypt";
        let mut out = self
            .client
            .sdk()
            .encrypt()
            .key_id(self.key_id)
            .plaintext(aws_sdk_kms::primitives::Blob::new(
                data_key.expose().to_vec(),
            ))
            .set_encryption_context(ec_map(ec))
            .set_grant_tokens(tokens(self.grant_tokens))
            .send()
            .await
            .map_err(|e| service_error(OP, self.key_id, e))?;
        self.response_edk(OP, out.key_id.take(), out.ciphertext_blob.take())
    }

    /// The EDK of a `GenerateDataKey` or `Encrypt` response: the response's key id must be a
    /// key ARN (it becomes the provider info) and the ciphertext must not be empty.
    fn response_edk(
        &self,
        operation: &str,
        key_id: Option<String>,
        blob: Option<aws_sdk_kms::primitives::Blob>,
    ) -> Result<EncryptedDataKey> {
        let rejected = |why: String| bad_response(operation, self.key_id, why);
        let key_id = key_id.ok_or_else(|| rejected("no KeyId".into()))?;
        match arn::KmsArn::parse(&key_id) {
            Ok(a) if a.resource_type() == ResourceType::Key => {}
            _ => return Err(rejected(format!("KeyId {key_id:?} is not a key ARN"))),
        }
        let blob = blob
            .map(|b| b.into_inner())
            .filter(|b| !b.is_empty())
            .ok_or_else(|| rejected("no CiphertextBlob".into()))?;
        Ok(EncryptedDataKey::new(
            PROVIDER_ID,
            key_id.into_bytes(),
            blob,
        ))
    }

    /// `Decrypt` of `ciphertext` (with the encryption context and algorithm, when given). The
    /// response must name this key id (`key_named` says which key that is in the error) and
    /// return a plaintext of `len` bytes.
    async fn decrypt(
        &self,
        ciphertext: &[u8],
        ec: Option<&EncryptionContext>,
        algorithm: Option<aws_sdk_kms::types::EncryptionAlgorithmSpec>,
        len: usize,
        key_named: &str,
    ) -> Result<Zeroizing<Vec<u8>>> {
        const OP: &str = "Decrypt";
        let mut out = self
            .client
            .sdk()
            .decrypt()
            .key_id(self.key_id)
            .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(ciphertext.to_vec()))
            .set_encryption_context(ec.and_then(ec_map))
            .set_encryption_algorithm(algorithm)
            .set_grant_tokens(tokens(self.grant_tokens))
            .send()
            .await
            .map_err(|e| service_error(OP, self.key_id, e))?;
        let plaintext = take_secret(out.plaintext.take());
        if out.key_id.as_deref() != Some(self.key_id) {
            return Err(bad_response(
                OP,
                self.key_id,
                format!("KeyId {:?} is not {key_named}", out.key_id),
            ));
        }
        check_secret_len(OP, self.key_id, "plaintext", &plaintext, len)?;
        Ok(plaintext)
    }
}

/// The encrypted data keys with provider ID `provider_id` (`aws-kms`, `aws-kms-rsa`), each with
/// its provider info parsed as a key ARN.
///
/// # Errors
/// When such a data key's provider info is not UTF-8 or not a key ARN: the spec makes the whole
/// decryption fail then.
fn kms_edks<'e>(
    edks: &'e [EncryptedDataKey],
    provider_id: &str,
) -> Result<Vec<(&'e EncryptedDataKey, &'e str, KmsArn)>> {
    let mut out = Vec::new();
    for edk in edks.iter().filter(|e| e.provider_id() == provider_id) {
        let bad = || -> Error {
            KeyringError::InvalidKey(format!(
                "{provider_id} encrypted data key with provider info {:?}, not a KMS key ARN",
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

/// Decrypts the candidates in order with `decrypt` until one gives the data key.
///
/// When nothing decrypts: a single failure is returned as is (keeping a service error's
/// source); several become [`KeyringError::NoDecryptableKey`] listing each; none at all, one
/// entry saying `none_matched`.
async fn decrypt_first<T, Fut>(
    describe: &str,
    none_matched: &str,
    budget: Option<&crate::materials::AttemptBudget>,
    candidates: impl IntoIterator<Item = T>,
    mut decrypt: impl FnMut(T) -> Fut,
) -> Result<DataKey>
where
    Fut: Future<Output = Result<DataKey>>,
{
    let stopped = |b: &crate::materials::AttemptBudget| -> Error {
        KeyringError::Unsupported(b.reason()).into()
    };
    let mut errors =
        match first_data_key(candidates, budget, stopped, |c| decrypt(c).map(Some)).await {
            Ok(key) => return Ok(key),
            Err(errors) => errors,
        };
    if errors.len() == 1 {
        return Err(errors.pop().expect("one error"));
    }
    let attempts: Vec<KeyringAttempt> = errors
        .into_iter()
        .map(|e| KeyringAttempt::failed(describe, e))
        .collect();
    Err(crate::keyring::no_decryptable_key(
        attempts,
        describe.to_owned(),
        none_matched,
    ))
}

/// The `on_decrypt` of the `aws-kms` keyrings (single-key and discovery): fails when the
/// materials hold a data key; otherwise tries, in order, the `aws-kms` EDKs for which
/// `key_id_for(provider info, key ARN)` gives a `KeyId`, calling `Decrypt` with it; the
/// response must name that key id and return a data key of the suite's length.
async fn decrypt_kms_edks(
    describe: &str,
    client: &KmsClient,
    grant_tokens: &[String],
    mut materials: DecryptionMaterials,
    edks: &[EncryptedDataKey],
    key_id_for: impl Fn(&str, &KmsArn) -> Option<String>,
) -> Result<DecryptionMaterials> {
    ensure_no_data_key(&materials)?;
    let candidates: Vec<(&EncryptedDataKey, String)> = kms_edks(edks, PROVIDER_ID)?
        .into_iter()
        .filter_map(|(edk, info, arn)| Some((edk, key_id_for(info, &arn)?)))
        .collect();
    let ec = materials.encryption_context();
    let len = materials.algorithm_suite().key_len();
    let key = decrypt_first(
        describe,
        "no encrypted data key matches this keyring",
        materials.attempt_budget(),
        candidates,
        |(edk, key_id)| async move {
            let kms = KmsKey {
                client,
                key_id: &key_id,
                grant_tokens,
            };
            let plaintext = kms
                .decrypt(edk.ciphertext(), Some(ec), None, len, "the key requested")
                .await?;
            Ok(DataKey::from_slice(&plaintext))
        },
    )
    .await?;
    materials.set_data_key(key)?;
    Ok(materials)
}
