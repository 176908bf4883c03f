//! The AWS KMS RSA keyring (`framework/aws-kms/aws-kms-rsa-keyring.md`): data keys encrypted
//! locally with the public key of an asymmetric KMS RSA key, decrypted by KMS.
//!
//! ```text
//! digest     = SHA-384(canonical(encryption context))              (48 bytes)
//! EDK        = provider id   "aws-kms-rsa"
//!              provider info the configured KMS key identifier (a key ARN)
//!              ciphertext    RSA-OAEP(public key, digest ‖ data key)
//! decrypt    = KMS Decrypt{KeyId = configured, EncryptionAlgorithm, no encryption context}
//!              → digest' ‖ data key; digest' must equal SHA-384(canonical(decryption context))
//! ```
//!
//! KMS never sees the encryption context (RSA decryption takes none), so the digest inside the
//! ciphertext is what binds it. Signing suites are refused on both sides, as the Material
//! Providers Library does: an asymmetric key already lets any holder of the public key encrypt,
//! so a signature would add no sender authentication.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use subtle::ConstantTimeEq;

use super::arn::validate_identifier;
use super::{KmsClient, KmsKey, ResourceType, decrypt_first, kms_edks, mrk_match};
use crate::crypto::{CryptoProvider, HashAlgorithm, RsaPadding, RsaPublicKey, default_provider};
use crate::error::{KeyringError, Result};
use crate::keyring::{Keyring, data_key_or_generate};
use crate::materials::{DataKey, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};
use crate::suite::AlgorithmSuite;

/// The provider ID of AWS KMS RSA encrypted data keys.
pub const KMS_RSA_PROVIDER_ID: &str = "aws-kms-rsa";

const DIGEST_LEN: usize = 48;

/// The KMS RSA encryption algorithms the keyring supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KmsRsaAlgorithm {
    /// `RSAES_OAEP_SHA_1`: OAEP with SHA-1 and MGF1-SHA-1.
    RsaesOaepSha1,
    /// `RSAES_OAEP_SHA_256`: OAEP with SHA-256 and MGF1-SHA-256.
    RsaesOaepSha256,
}

impl KmsRsaAlgorithm {
    fn padding(self) -> RsaPadding {
        match self {
            Self::RsaesOaepSha1 => RsaPadding::OaepSha1,
            Self::RsaesOaepSha256 => RsaPadding::OaepSha256,
        }
    }

    fn kms(self) -> aws_sdk_kms::types::EncryptionAlgorithmSpec {
        match self {
            Self::RsaesOaepSha1 => aws_sdk_kms::types::EncryptionAlgorithmSpec::RsaesOaepSha1,
            Self::RsaesOaepSha256 => aws_sdk_kms::types::EncryptionAlgorithmSpec::RsaesOaepSha256,
        }
    }

    /// The KMS name (`RSAES_OAEP_SHA_1`, `RSAES_OAEP_SHA_256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
            Self::RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
        }
    }
}

/// The AWS KMS RSA keyring. See the [module documentation](self).
///
/// Encrypting needs the key's public key ([`public_key_pem`](Self::public_key_pem),
/// from KMS `GetPublicKey` or wherever it is published) and no KMS call; decrypting needs a KMS
/// client ([`client`](Self::client)).
#[derive(Clone)]
pub struct AwsKmsRsaKeyring {
    key_id: String,
    algorithm: KmsRsaAlgorithm,
    public_key: Option<Arc<dyn RsaPublicKey>>,
    client: Option<KmsClient>,
    grant_tokens: Vec<String>,
    provider: CryptoProvider,
}

impl fmt::Debug for AwsKmsRsaKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKmsRsaKeyring")
            .field("key_id", &self.key_id)
            .field("algorithm", &self.algorithm)
            .field("public_key", &self.public_key.as_ref().map(|k| k.bits()))
            .field("client", &self.client)
            .field("grant_tokens", &self.grant_tokens.len())
            .finish()
    }
}

impl AwsKmsRsaKeyring {
    /// A keyring for the KMS RSA key `key_id` (a key ARN or key id, not an alias) with
    /// `algorithm`, with neither public key nor client yet.
    ///
    /// # Errors
    /// [`KeyringError::InvalidConfiguration`] for an empty, invalid or alias identifier.
    pub fn new(key_id: impl Into<String>, algorithm: KmsRsaAlgorithm) -> Result<Self> {
        let key_id = key_id.into();
        let arn = validate_identifier(&key_id)?;
        let alias = key_id.starts_with("alias/")
            || arn.is_some_and(|a| a.resource_type() != ResourceType::Key);
        if alias {
            return Err(KeyringError::InvalidConfiguration(format!(
                "the AWS KMS RSA keyring needs a key, not the alias {key_id:?}"
            ))
            .into());
        }
        Ok(Self {
            key_id,
            algorithm,
            public_key: None,
            client: None,
            grant_tokens: Vec::new(),
            provider: *default_provider(),
        })
    }

    /// The key's public key (PEM: `BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`), needed to
    /// encrypt.
    ///
    /// # Errors
    /// [`KeyringError::InvalidKey`] when it does not parse or is under 2048 bits.
    pub fn public_key_pem(mut self, pem: &str) -> Result<Self> {
        let key = self
            .provider
            .rsa
            .public_key_from_pem(pem)
            .map_err(|e| KeyringError::InvalidKey(format!("RSA public key: {e}")))?;
        if key.bits() < 2048 {
            return Err(KeyringError::InvalidKey(format!(
                "the AWS KMS RSA keyring needs a key of at least 2048 bits, not {}",
                key.bits()
            ))
            .into());
        }
        self.public_key = Some(Arc::from(key));
        Ok(self)
    }

    /// The KMS client, needed to decrypt (in the key's Region).
    #[must_use]
    pub fn client(mut self, client: KmsClient) -> Self {
        self.client = Some(client);
        self
    }

    grant_tokens_option!();

    /// The crypto provider for the local RSA encryption and the digest (default
    /// [`default_provider`]). Set it before [`public_key_pem`](Self::public_key_pem), which
    /// parses the key with the provider set at the time.
    #[must_use]
    pub fn crypto_provider(mut self, provider: &CryptoProvider) -> Self {
        self.provider = *provider;
        self
    }

    /// The configured key identifier.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The configured encryption algorithm.
    pub fn algorithm(&self) -> KmsRsaAlgorithm {
        self.algorithm
    }

    fn describe(&self) -> String {
        format!("aws-kms-rsa({}, {})", self.key_id, self.algorithm.as_str())
    }

    fn refuse_signing(&self, suite: AlgorithmSuite) -> Result<()> {
        if suite.is_signing() {
            return Err(KeyringError::Unsupported(format!(
                "{} does not support signing algorithm suites ({suite:?})",
                self.describe()
            ))
            .into());
        }
        Ok(())
    }

    fn digest(&self, context: &crate::format::context::EncryptionContext) -> Result<Vec<u8>> {
        Ok(self
            .provider
            .hash
            .digest(HashAlgorithm::Sha384, &[&context.serialize()?]))
    }

    /// KMS Decrypt of one EDK, then the digest check.
    async fn decrypt_one(
        &self,
        client: &KmsClient,
        edk: &EncryptedDataKey,
        digest: &[u8],
        key_len: usize,
    ) -> Result<DataKey> {
        let kms = KmsKey {
            client,
            key_id: &self.key_id,
            grant_tokens: &self.grant_tokens,
        };
        let plaintext = kms
            .decrypt(
                edk.ciphertext(),
                None,
                Some(self.algorithm.kms()),
                DIGEST_LEN + key_len,
                "the configured key",
            )
            .await?;
        let (got, key) = plaintext.split_at(DIGEST_LEN);
        if !bool::from(got.ct_eq(digest)) {
            return Err(KeyringError::InvalidMaterials(
                "the encryption context digest in the data key does not match the encryption context",
            )
            .into());
        }
        Ok(DataKey::from_slice(key))
    }
}

impl Keyring for AwsKmsRsaKeyring {
    fn on_encrypt<'a>(
        &'a self,
        mut materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        Box::pin(async move {
            let Some(public_key) = &self.public_key else {
                return Err(KeyringError::Unsupported(format!(
                    "{} has no public key, so it cannot encrypt",
                    self.describe()
                ))
                .into());
            };
            self.refuse_signing(materials.algorithm_suite())?;
            let digest = self.digest(materials.encryption_context())?;
            let data_key = data_key_or_generate(&mut materials, &self.provider)?;
            let mut plaintext = zeroize::Zeroizing::new(digest);
            plaintext.extend_from_slice(data_key.expose());
            let ciphertext = public_key.encrypt(self.algorithm.padding(), &plaintext)?;
            materials.add_encrypted_data_key(EncryptedDataKey::new(
                KMS_RSA_PROVIDER_ID,
                self.key_id.as_bytes().to_vec(),
                ciphertext,
            ));
            Ok(materials)
        })
    }

    fn on_decrypt<'a>(
        &'a self,
        mut materials: DecryptionMaterials,
        encrypted_data_keys: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        Box::pin(async move {
            let Some(client) = &self.client else {
                return Err(KeyringError::Unsupported(format!(
                    "{} has no KMS client, so it cannot decrypt",
                    self.describe()
                ))
                .into());
            };
            crate::keyring::ensure_no_data_key(&materials)?;
            self.refuse_signing(materials.algorithm_suite())?;
            let candidates: Vec<&EncryptedDataKey> =
                kms_edks(encrypted_data_keys, KMS_RSA_PROVIDER_ID)?
                    .into_iter()
                    .filter(|(_, info, _)| mrk_match(&self.key_id, info))
                    .map(|(edk, _, _)| edk)
                    .collect();
            let digest = self.digest(materials.encryption_context())?;
            let key_len = materials.algorithm_suite().key_len();
            let key = decrypt_first(
                &self.describe(),
                "no encrypted data key matches this KMS RSA key",
                materials.attempt_budget(),
                candidates,
                |edk| self.decrypt_one(client, edk, &digest, key_len),
            )
            .await?;
            materials.set_data_key(key)?;
            Ok(materials)
        })
    }
}
