//! The AWS KMS ECDH keyring (`framework/aws-kms/aws-kms-ecdh-keyring.md`,
//! `framework/key-agreement-schemas.md`): the raw ECDH keyring's derivation and wrapping, with
//! the shared secret computed by KMS `DeriveSharedSecret` from a KMS key agreement key.
//!
//! Encrypted data keys have provider ID `aws-kms-ecdh` and the raw ECDH keyring's provider info
//! and ciphertext layout, so either keyring reads the other's (see
//! [`RawEcdhKeyring`](crate::keyring::RawEcdhKeyring) for the bytes). Two schemes:
//!
//! | scheme | encrypt | decrypt |
//! |---|---|---|
//! | [`KmsEcdhScheme::KmsPrivateKeyToStaticPublicKey`] | `DeriveSharedSecret(sender KMS key, recipient public key)` | messages between these two keys, in either direction |
//! | [`KmsEcdhScheme::KmsPublicKeyDiscovery`] | refused | any message sent to the KMS key's public key: `DeriveSharedSecret(recipient KMS key, sender public key from the EDK)` |
//!
//! A KMS key's own public key, when not given, is read once with `GetPublicKey` at
//! construction, which checks that the key is for key agreement on the configured curve.

use std::fmt;

use futures::future::BoxFuture;
use zeroize::Zeroizing;

use super::{KmsClient, bad_response, check_secret_len, service_error, take_secret, tokens};
use crate::crypto::{CryptoProvider, EcdhCurve, default_provider};
use crate::error::{KeyringError, Result};
use crate::keyring::Keyring;
use crate::keyring::ecdh_wrap::{Agreement, KMS_ECDH_PROVIDER_ID, check_ciphertext_len, edk_info};
use crate::keyring::{UnwrapFailure, unwrap_first};
use crate::materials::{DataKey, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials};

/// How an AWS KMS ECDH keyring gets its keys (the specification's KMS key agreement schemas).
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum KmsEcdhScheme<'a> {
    /// `KmsPrivateKeyToStaticPublicKey`: the sender's KMS key agreement key and the
    /// recipient's public key (DER SubjectPublicKeyInfo). Encrypts, and decrypts messages
    /// between the two keys (the recipient configures itself the other way round).
    KmsPrivateKeyToStaticPublicKey {
        /// The sender's KMS key (key ARN or key id).
        sender_kms_key_id: &'a str,
        /// The sender key's public key (DER SubjectPublicKeyInfo); read with `GetPublicKey`
        /// when `None`.
        sender_public_key_der: Option<&'a [u8]>,
        /// The recipient's public key, DER SubjectPublicKeyInfo.
        recipient_public_key_der: &'a [u8],
    },
    /// `KmsPublicKeyDiscovery`: the recipient's KMS key agreement key; decrypts any message
    /// sent to its public key. Decrypts only.
    KmsPublicKeyDiscovery {
        /// The recipient's KMS key (key ARN or key id).
        recipient_kms_key_id: &'a str,
    },
}

impl fmt::Debug for KmsEcdhScheme<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KmsPrivateKeyToStaticPublicKey {
                sender_kms_key_id, ..
            } => f
                .debug_struct("KmsPrivateKeyToStaticPublicKey")
                .field("sender_kms_key_id", sender_kms_key_id)
                .finish_non_exhaustive(),
            Self::KmsPublicKeyDiscovery {
                recipient_kms_key_id,
            } => f
                .debug_struct("KmsPublicKeyDiscovery")
                .field("recipient_kms_key_id", recipient_kms_key_id)
                .finish(),
        }
    }
}

#[derive(Debug, Clone)]
enum Scheme {
    Static {
        key_id: String,
        sender_public: Vec<u8>,
        recipient_public: Vec<u8>,
        recipient_der: Vec<u8>,
    },
    Discovery {
        key_id: String,
        recipient_public: Vec<u8>,
    },
}

/// Settings for an [`AwsKmsEcdhKeyring`] (from [`AwsKmsEcdhKeyring::builder`]).
#[must_use = "a builder does nothing until built"]
pub struct AwsKmsEcdhKeyringBuilder<'a> {
    curve: EcdhCurve,
    scheme: KmsEcdhScheme<'a>,
    client: KmsClient,
    grant_tokens: Vec<String>,
    provider: CryptoProvider,
}

impl fmt::Debug for AwsKmsEcdhKeyringBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKmsEcdhKeyringBuilder")
            .field("curve", &self.curve)
            .field("scheme", &self.scheme)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl AwsKmsEcdhKeyringBuilder<'_> {
    /// Grant tokens to send with every KMS call, `GetPublicKey` included.
    pub fn grant_tokens<S: Into<String>>(mut self, tokens: impl IntoIterator<Item = S>) -> Self {
        self.grant_tokens = tokens.into_iter().map(Into::into).collect();
        self
    }

    /// The crypto provider of the local ECDH and wrapping (default [`default_provider`]).
    pub fn crypto_provider(mut self, provider: &CryptoProvider) -> Self {
        self.provider = *provider;
        self
    }

    /// The keyring; calls `GetPublicKey` (with the grant tokens) when the KMS key's public key
    /// is not given.
    ///
    /// # Errors
    /// As [`AwsKmsEcdhKeyring::new`].
    pub async fn build(self) -> Result<AwsKmsEcdhKeyring> {
        AwsKmsEcdhKeyring::build(
            self.curve,
            self.scheme,
            self.client,
            self.grant_tokens,
            &self.provider,
        )
        .await
    }
}

/// The AWS KMS ECDH keyring. See the [module documentation](self).
#[derive(Clone)]
pub struct AwsKmsEcdhKeyring {
    curve: EcdhCurve,
    scheme: Scheme,
    client: KmsClient,
    grant_tokens: Vec<String>,
    provider: CryptoProvider,
}

impl fmt::Debug for AwsKmsEcdhKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scheme, key_id) = match &self.scheme {
            Scheme::Static { key_id, .. } => ("KmsPrivateKeyToStaticPublicKey", key_id),
            Scheme::Discovery { key_id, .. } => ("KmsPublicKeyDiscovery", key_id),
        };
        f.debug_struct("AwsKmsEcdhKeyring")
            .field("curve", &self.curve)
            .field("scheme", &scheme)
            .field("key_id", key_id)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

fn key_spec(curve: EcdhCurve) -> aws_sdk_kms::types::KeySpec {
    use aws_sdk_kms::types::KeySpec;
    match curve {
        EcdhCurve::P256 => KeySpec::EccNistP256,
        EcdhCurve::P384 => KeySpec::EccNistP384,
        EcdhCurve::P521 => KeySpec::EccNistP521,
    }
}

impl AwsKmsEcdhKeyring {
    /// A keyring on `curve` with `scheme`, calling KMS through `client` (in the KMS key's
    /// Region). Calls `GetPublicKey` when the KMS key's public key is not given.
    ///
    /// # Errors
    /// [`KeyringError::InvalidConfiguration`] for an empty key id or a KMS key that is not a
    /// key agreement key on `curve`; [`KeyringError::InvalidKey`] for a public key that does
    /// not parse or is on another curve; [`KeyringError::Service`] when `GetPublicKey` fails.
    pub async fn new(
        curve: EcdhCurve,
        scheme: KmsEcdhScheme<'_>,
        client: KmsClient,
    ) -> Result<Self> {
        Self::builder(curve, scheme, client).build().await
    }

    /// A builder for a keyring on `curve` with `scheme` through `client`, to set grant tokens
    /// or a crypto provider before [`build`](AwsKmsEcdhKeyringBuilder::build).
    pub fn builder(
        curve: EcdhCurve,
        scheme: KmsEcdhScheme<'_>,
        client: KmsClient,
    ) -> AwsKmsEcdhKeyringBuilder<'_> {
        AwsKmsEcdhKeyringBuilder {
            curve,
            scheme,
            client,
            grant_tokens: Vec::new(),
            provider: *default_provider(),
        }
    }

    async fn build(
        curve: EcdhCurve,
        scheme: KmsEcdhScheme<'_>,
        client: KmsClient,
        grant_tokens: Vec<String>,
        provider: &CryptoProvider,
    ) -> Result<Self> {
        let ecdh = provider.ecdh;
        let scheme = match scheme {
            KmsEcdhScheme::KmsPrivateKeyToStaticPublicKey {
                sender_kms_key_id,
                sender_public_key_der,
                recipient_public_key_der,
            } => {
                check_key_id(sender_kms_key_id)?;
                let sender_public = match sender_public_key_der {
                    Some(der) => ecdh.public_key_from_der(curve, der)?,
                    None => {
                        let der = kms_public_key(&client, sender_kms_key_id, curve, &grant_tokens)
                            .await?;
                        ecdh.public_key_from_der(curve, &der)?
                    }
                };
                Scheme::Static {
                    key_id: sender_kms_key_id.to_owned(),
                    sender_public,
                    recipient_public: ecdh.public_key_from_der(curve, recipient_public_key_der)?,
                    recipient_der: recipient_public_key_der.to_vec(),
                }
            }
            KmsEcdhScheme::KmsPublicKeyDiscovery {
                recipient_kms_key_id,
            } => {
                check_key_id(recipient_kms_key_id)?;
                let der =
                    kms_public_key(&client, recipient_kms_key_id, curve, &grant_tokens).await?;
                Scheme::Discovery {
                    key_id: recipient_kms_key_id.to_owned(),
                    recipient_public: ecdh.public_key_from_der(curve, &der)?,
                }
            }
        };
        Ok(Self {
            curve,
            scheme,
            client,
            grant_tokens,
            provider: *provider,
        })
    }

    /// The curve.
    pub fn curve(&self) -> EcdhCurve {
        self.curve
    }

    fn key_id(&self) -> &str {
        match &self.scheme {
            Scheme::Static { key_id, .. } | Scheme::Discovery { key_id, .. } => key_id,
        }
    }

    fn describe(&self) -> String {
        format!("aws-kms-ecdh({}, {})", self.key_id(), self.curve.kdf_name())
    }

    /// `DeriveSharedSecret` with the configured KMS key and a peer's DER public key.
    async fn derive_shared_secret(&self, peer_der: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        const OP: &str = "DeriveSharedSecret";
        let key_id = self.key_id();
        let mut out = self
            .client
            .sdk()
            .derive_shared_secret()
            .key_id(key_id)
            .key_agreement_algorithm(aws_sdk_kms::types::KeyAgreementAlgorithmSpec::Ecdh)
            .public_key(aws_sdk_kms::primitives::Blob::new(peer_der.to_vec()))
            .set_grant_tokens(tokens(&self.grant_tokens))
            .send()
            .await
            .map_err(|e| service_error(OP, key_id, e))?;
        let secret = take_secret(out.shared_secret.take());
        // The x-coordinate: as long as the curve's field elements.
        let want = self.curve.compressed_len() - 1;
        check_secret_len(OP, key_id, "shared secret", &secret, want)?;
        Ok(secret)
    }

    /// `None` when the EDK is not for this keyring, else its data key or why it does not
    /// unwrap.
    async fn try_edk(
        &self,
        edk: &EncryptedDataKey,
        context: &[u8],
        key_len: usize,
    ) -> Option<Result<DataKey, UnwrapFailure>> {
        let info = match edk_info(self.curve, edk)? {
            Ok(info) => info,
            Err(reason) => return Some(Err(reason.into())),
        };
        // The peer public key (DER) to agree with, when the EDK is for this keyring.
        let peer = match &self.scheme {
            Scheme::Static {
                sender_public,
                recipient_public,
                recipient_der,
                ..
            } => {
                if !info.is_between(sender_public, recipient_public) {
                    return None;
                }
                recipient_der.clone()
            }
            Scheme::Discovery {
                recipient_public, ..
            } => {
                if info.recipient != recipient_public.as_slice() {
                    return None;
                }
                match self
                    .provider
                    .ecdh
                    .public_key_to_der(self.curve, info.sender)
                {
                    Ok(der) => der,
                    Err(_) => {
                        return Some(Err(UnwrapFailure::Reason(
                            "the sender public key is not a valid point".into(),
                        )));
                    }
                }
            }
        };
        if let Err(reason) = check_ciphertext_len(edk, key_len) {
            return Some(Err(reason.into()));
        }
        // The key service's error stays typed in the attempt list (throttled, unreachable).
        let shared = match self.derive_shared_secret(&peer).await {
            Ok(s) => s,
            Err(e) => return Some(Err(e.into())),
        };
        let agreement = Agreement {
            provider: &self.provider,
            curve: self.curve,
            shared: &shared,
            sender: info.sender,
            recipient: info.recipient,
        };
        Some(agreement.unwrap(edk, context, key_len).map_err(Into::into))
    }
}

fn check_key_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(
            KeyringError::InvalidConfiguration("empty AWS KMS key identifier".into()).into(),
        );
    }
    Ok(())
}

/// `GetPublicKey`, checking the key is a key agreement key on `curve`; the DER public key.
async fn kms_public_key(
    client: &KmsClient,
    key_id: &str,
    curve: EcdhCurve,
    grant_tokens: &[String],
) -> Result<Vec<u8>> {
    const OP: &str = "GetPublicKey";
    let out = client
        .sdk()
        .get_public_key()
        .key_id(key_id)
        .set_grant_tokens(tokens(grant_tokens))
        .send()
        .await
        .map_err(|e| service_error(OP, key_id, e))?;
    if out.key_usage != Some(aws_sdk_kms::types::KeyUsageType::KeyAgreement) {
        return Err(KeyringError::InvalidConfiguration(format!(
            "KMS key {key_id} is not a KEY_AGREEMENT key (usage {:?})",
            out.key_usage
        ))
        .into());
    }
    if out.key_spec != Some(key_spec(curve)) {
        return Err(KeyringError::InvalidConfiguration(format!(
            "KMS key {key_id} is {:?}, not on {curve:?}",
            out.key_spec
        ))
        .into());
    }
    out.public_key
        .map(|b| b.into_inner())
        .filter(|b| !b.is_empty())
        .ok_or_else(|| bad_response(OP, key_id, "no PublicKey".into()))
}

impl Keyring for AwsKmsEcdhKeyring {
    fn on_encrypt<'a>(
        &'a self,
        mut materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        Box::pin(async move {
            let Scheme::Static {
                sender_public,
                recipient_public,
                recipient_der,
                ..
            } = &self.scheme
            else {
                return Err(KeyringError::Unsupported(format!(
                    "{} is configured for public key discovery, which cannot encrypt",
                    self.describe()
                ))
                .into());
            };
            let context = materials.encryption_context().serialize()?;
            let shared = self.derive_shared_secret(recipient_der).await?;
            Agreement {
                provider: &self.provider,
                curve: self.curve,
                shared: &shared,
                sender: sender_public,
                recipient: recipient_public,
            }
            .wrap(&context, &mut materials, KMS_ECDH_PROVIDER_ID)?;
            Ok(materials)
        })
    }

    fn on_decrypt<'a>(
        &'a self,
        mut materials: DecryptionMaterials,
        encrypted_data_keys: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        Box::pin(async move {
            crate::keyring::ensure_no_data_key(&materials)?;
            let context = materials.encryption_context().serialize()?;
            let key_len = materials.algorithm_suite().key_len();
            let key = unwrap_first(
                &self.describe(),
                "no encrypted data key is for these public keys",
                materials.attempt_budget(),
                encrypted_data_keys,
                |edk| self.try_edk(edk, &context, key_len),
            )
            .await?;
            materials.set_data_key(key)?;
            Ok(materials)
        })
    }
}
