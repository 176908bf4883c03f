//! Key derivation and key commitment (`framework/transitive-requirements.md`).
//!
//! ```text
//! identity:   key = data key
//! v1 HKDF:    key = HKDF-SHA256|384(ikm = data key, salt = none, info = suite id ‖ message id)
//! v2:         prk = HKDF-Extract-SHA512(salt = message id (32), ikm = data key)
//!             key       = Expand(prk, suite id ‖ "DERIVEKEY", 32)
//!             commitKey = Expand(prk, "COMMITKEY", 32)          (no suite id)
//! ```

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::crypto::{AeadKey, CryptoProvider, HashAlgorithm};
use crate::error::{AuthError, Result};
use crate::materials::DataKey;
use crate::suite::{AlgorithmSuite, Kdf};

/// The keys of one message.
pub(crate) struct MessageKeys {
    pub(crate) content: Box<dyn AeadKey>,
    pub(crate) commitment: Option<[u8; 32]>,
}

/// Derives the content key (and for v2 suites the commit key) for one message.
pub(crate) fn derive(
    provider: &CryptoProvider,
    suite: AlgorithmSuite,
    data_key: &DataKey,
    message_id: &[u8],
) -> Result<MessageKeys> {
    let id = suite.id().to_be_bytes();
    let mut key = Zeroizing::new(vec![0u8; suite.key_len()]);
    let mut commitment = None;
    match suite.kdf() {
        Kdf::Identity => key.copy_from_slice(data_key.expose()),
        Kdf::HkdfSha256 | Kdf::HkdfSha384 => {
            let hash = if suite.kdf() == Kdf::HkdfSha256 {
                HashAlgorithm::Sha256
            } else {
                HashAlgorithm::Sha384
            };
            let info = [&id[..], message_id].concat();
            provider
                .hash
                .hkdf(hash, None, data_key.expose(), &mut [(&info, &mut key[..])])?;
        }
        Kdf::HkdfSha512Commit => {
            let info = [&id[..], b"DERIVEKEY"].concat();
            let mut commit = [0u8; 32];
            provider.hash.hkdf(
                HashAlgorithm::Sha512,
                Some(message_id),
                data_key.expose(),
                &mut [(&info, &mut key[..]), (b"COMMITKEY", &mut commit[..])],
            )?;
            commitment = Some(commit);
        }
    }
    Ok(MessageKeys {
        content: provider.aead.key(&key)?,
        commitment,
    })
}

/// Compares a message's stored commit key with the derived one, in constant time.
pub(crate) fn check_commitment(stored: &[u8; 32], derived: &[u8; 32]) -> Result<()> {
    if bool::from(stored.ct_eq(derived)) {
        Ok(())
    } else {
        Err(AuthError::KeyCommitment.into())
    }
}
