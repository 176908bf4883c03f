//! The AWS KMS keyring and the AWS KMS MRK keyring: one configured KMS key each.

use std::fmt;

use futures::future::BoxFuture;

use super::arn::{mrk_match, validate_identifier};
use super::{KmsClient, KmsKey, decrypt_kms_edks};
use crate::error::Result;
use crate::keyring::Keyring;
use crate::materials::{DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};

/// What the two single-key keyrings share: a key identifier, a client and grant tokens.
#[derive(Clone)]
struct KeyCore {
    key_id: String,
    client: KmsClient,
    grant_tokens: Vec<String>,
}

impl KeyCore {
    fn new(key_id: String, client: KmsClient) -> Result<Self> {
        validate_identifier(&key_id)?;
        Ok(Self {
            key_id,
            client,
            grant_tokens: Vec::new(),
        })
    }

    fn kms(&self) -> KmsKey<'_> {
        KmsKey {
            client: &self.client,
            key_id: &self.key_id,
            grant_tokens: &self.grant_tokens,
        }
    }

    /// GenerateDataKey when the materials hold no data key, Encrypt otherwise; appends the EDK.
    async fn on_encrypt(&self, mut materials: EncryptionMaterials) -> Result<EncryptionMaterials> {
        let ec = materials.encryption_context().clone();
        match materials.data_key() {
            None => {
                let len = materials.algorithm_suite().key_len();
                let (key, edk) = self.kms().generate_data_key(len, &ec).await?;
                materials.set_data_key(key)?;
                materials.add_encrypted_data_key(edk);
            }
            Some(key) => {
                let edk = self.kms().encrypt_data_key(key, &ec).await?;
                materials.add_encrypted_data_key(edk);
            }
        }
        Ok(materials)
    }

    /// Tries the `aws-kms` EDKs whose ARN `matches` the configured identifier, calling Decrypt
    /// with the configured identifier.
    async fn on_decrypt(
        &self,
        describe: &str,
        materials: DecryptionMaterials,
        edks: &[EncryptedDataKey],
        matches: fn(&str, &str) -> bool,
    ) -> Result<DecryptionMaterials> {
        decrypt_kms_edks(
            describe,
            &self.client,
            &self.grant_tokens,
            materials,
            edks,
            |info, _| matches(&self.key_id, info).then(|| self.key_id.clone()),
        )
        .await
    }
}

fn exact_match(configured: &str, info: &str) -> bool {
    configured == info
}

macro_rules! single_key_keyring {
    ($name:ident, $label:literal, $matches:path, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone)]
        pub struct $name(KeyCore);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("key_id", &self.0.key_id)
                    .field("client", &self.0.client)
                    .field("grant_tokens", &self.0.grant_tokens.len())
                    .finish()
            }
        }

        impl $name {
            /// A keyring for `key_id` (a key ARN, alias ARN, `alias/name` or key id) using
            /// `client`, which must be in the key's Region.
            ///
            /// # Errors
            /// [`KeyringError::InvalidConfiguration`](crate::error::KeyringError::InvalidConfiguration)
            /// when `key_id` is empty or not a valid KMS identifier.
            pub fn new(key_id: impl Into<String>, client: KmsClient) -> Result<Self> {
                KeyCore::new(key_id.into(), client).map(Self)
            }

            /// Grant tokens to send with every KMS call.
            #[must_use]
            pub fn grant_tokens<S: Into<String>>(
                mut self,
                tokens: impl IntoIterator<Item = S>,
            ) -> Self {
                self.0.grant_tokens = tokens.into_iter().map(Into::into).collect();
                self
            }

            /// The configured key identifier.
            pub fn key_id(&self) -> &str {
                &self.0.key_id
            }

            fn describe(&self) -> String {
                format!(concat!($label, "({})"), self.0.key_id)
            }
        }

        impl Keyring for $name {
            fn on_encrypt<'a>(
                &'a self,
                materials: EncryptionMaterials,
            ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
                Box::pin(self.0.on_encrypt(materials))
            }

            fn on_decrypt<'a>(
                &'a self,
                materials: DecryptionMaterials,
                encrypted_data_keys: &'a [EncryptedDataKey],
            ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
                Box::pin(async move {
                    let describe = self.describe();
                    self.0
                        .on_decrypt(&describe, materials, encrypted_data_keys, $matches)
                        .await
                })
            }
        }
    };
}

single_key_keyring!(
    AwsKmsKeyring,
    "aws-kms",
    exact_match,
    "The AWS KMS keyring (`aws-kms-keyring.md`): wraps data keys under one KMS key.\n\n\
     Encrypt: `GenerateDataKey` (no data key yet) or `Encrypt`, with the encryption context and \
     grant tokens; the response's key ARN becomes the EDK's provider info.\n\n\
     Decrypt: only EDKs whose ARN is **exactly** the configured identifier are tried, in order, \
     with `Decrypt{KeyId = configured}`; the response must name the same key and return a data \
     key of the suite's length. Configure a key ARN: an alias or bare key id never matches."
);

single_key_keyring!(
    AwsKmsMrkKeyring,
    "aws-kms-mrk",
    mrk_match,
    "The AWS KMS MRK keyring (`aws-kms-mrk-keyring.md`): as [`AwsKmsKeyring`], but on decrypt \
     a multi-Region key matches its replicas in every Region (MRK match), and Decrypt is called \
     on the configured (local) replica."
);
