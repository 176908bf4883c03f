//! The default CMM (`framework/default-cmm.md`): a keyring plus signing keys.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::future::BoxFuture;

use crate::cmm::{
    CryptographicMaterialsManager, DecryptMaterialsRequest, EncryptionMaterialsRequest,
};
use crate::crypto::{CryptoProvider, default_provider};
use crate::error::{AuthError, KeyringError, PolicyError, Result};
use crate::format::context::PUBLIC_KEY_KEY;
use crate::keyring::Keyring;
use crate::materials::{DecryptionMaterials, EncryptionMaterials};

/// The default CMM: asks its keyring for data keys; for signing suites makes a fresh ECDSA key
/// pair per message and stores the public key in the encryption context (as base64 of the
/// compressed point) *before* the keyring runs, so the keyring authenticates it.
#[derive(Debug, Clone)]
pub struct DefaultCmm {
    keyring: Arc<dyn Keyring>,
    provider: CryptoProvider,
}

impl DefaultCmm {
    /// A default CMM over `keyring`, with the default crypto provider.
    pub fn new(keyring: Arc<dyn Keyring>) -> Self {
        Self {
            keyring,
            provider: *default_provider(),
        }
    }

    /// The crypto provider of its signing keys (default [`default_provider`]).
    #[must_use]
    pub fn crypto_provider(mut self, provider: &CryptoProvider) -> Self {
        self.provider = *provider;
        self
    }
}

impl CryptographicMaterialsManager for DefaultCmm {
    fn get_encryption_materials<'a>(
        &'a self,
        request: EncryptionMaterialsRequest,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        Box::pin(async move {
            let mut context = request.encryption_context;
            if context.contains_key(PUBLIC_KEY_KEY) {
                return Err(
                    PolicyError::ReservedEncryptionContextKey(PUBLIC_KEY_KEY.into()).into(),
                );
            }
            let policy = request.commitment_policy;
            let suite = request
                .algorithm_suite
                .unwrap_or_else(|| policy.default_suite());
            policy.check_encrypt(suite)?;
            for key in &request.required_encryption_context_keys {
                if !context.contains_key(key) {
                    return Err(
                        PolicyError::MissingRequiredEncryptionContextKey(key.clone()).into(),
                    );
                }
            }
            let signing_key = match suite.signature() {
                Some(alg) => {
                    let (key, public) = self.provider.ecdsa.generate(alg)?;
                    context.insert(PUBLIC_KEY_KEY, BASE64.encode(public));
                    Some(key)
                }
                None => None,
            };
            let materials = EncryptionMaterials::new(
                suite,
                context,
                request.required_encryption_context_keys,
                signing_key,
            );
            let materials = self.keyring.on_encrypt(materials).await?;
            if materials.algorithm_suite() != suite {
                return Err(
                    PolicyError::MaterialsMismatch("keyring changed the algorithm suite").into(),
                );
            }
            match materials.data_key() {
                Some(k) if k.len() == suite.key_len() => {}
                _ => {
                    return Err(KeyringError::InvalidMaterials(
                        "keyring returned no valid data key",
                    )
                    .into());
                }
            }
            if materials.encrypted_data_keys().is_empty() {
                return Err(KeyringError::InvalidMaterials(
                    "keyring returned no encrypted data key",
                )
                .into());
            }
            Ok(materials)
        })
    }

    fn decrypt_materials<'a>(
        &'a self,
        mut request: DecryptMaterialsRequest,
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        Box::pin(async move {
            let suite = request.algorithm_suite;
            request.commitment_policy.check_decrypt(suite)?;
            let mut context = std::mem::take(&mut request.encryption_context);
            let mut required = Vec::new();
            if let Some(reproduced) = &request.reproduced_encryption_context {
                for (k, v) in reproduced.iter() {
                    match context.get(k) {
                        Some(stored) if stored == v => {}
                        Some(_) => {
                            return Err(PolicyError::EncryptionContextMismatch(k.to_owned()).into());
                        }
                        None => {
                            context.insert(k, v);
                            required.push(k.to_owned());
                        }
                    }
                }
            }
            let verification_key = match (suite.signature(), context.get(PUBLIC_KEY_KEY)) {
                (Some(_), Some(encoded)) => Some(
                    BASE64
                        .decode(encoded)
                        .map_err(|_| AuthError::BadVerificationKey)?,
                ),
                (Some(_), None) => return Err(AuthError::BadVerificationKey.into()),
                (None, Some(_)) => {
                    return Err(PolicyError::MaterialsMismatch(
                        "unsigned algorithm suite with a signature public key in the encryption context",
                    )
                    .into());
                }
                (None, None) => None,
            };
            let materials = DecryptionMaterials::new(suite, context, required, verification_key)
                .with_request_checks(&request);
            let mut materials = self
                .keyring
                .on_decrypt(materials, &request.encrypted_data_keys)
                .await?;
            materials.clear_request_checks();
            if materials.data_key().is_none() {
                return Err(KeyringError::InvalidMaterials("keyring returned no data key").into());
            }
            Ok(materials)
        })
    }
}
