//! Key derivation and key commitment (`framework/transitive-requirements.md`).
//!
//! ```text
//! identity:   key = data key
//! v1 HKDF:    key = HKDF-SHA256|384(ikm = data key, salt = none, info = suite id ‖ message id)
//! v2:         prk = HKDF-Extract-SHA512(salt = message id (32), ikm = data key)
//!             key       = Expand(prk, suite id ‖ "DERIVEKEY", 32)
//!             commitKey = Expand(prk, "COMMITKEY", 32)          (no suite id)
//! ```

use std::sync::Arc;

use bytes::Bytes;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::crypto::{AeadKey, CryptoProvider, HashAlgorithm};
use crate::error::{AuthError, Result};
use crate::format::MessageHeader;
use crate::materials::DataKey;
use crate::suite::{AlgorithmSuite, IV_LEN, Kdf, TAG_LEN};

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

/// Checks a *candidate* data key against the message it is meant for: the key commitment (v2)
/// or the header tag (v1). A keyring whose unwrapping cannot tell a wrong key from the right
/// one (RSA PKCS#1 v1.5 with implicit rejection, which turns a wrong key into random bytes)
/// asks this before it settles on a key, so that a wrong candidate is one more failed attempt
/// rather than the end of the search.
#[derive(Clone)]
pub(crate) struct CandidateCheck(Arc<CheckInner>);

struct CheckInner {
    provider: CryptoProvider,
    suite: AlgorithmSuite,
    message_id: Vec<u8>,
    /// v2: the stored commit key.
    commitment: Option<[u8; 32]>,
    /// v1: the header (body and authentication) as received.
    raw_header: Option<Bytes>,
}

impl std::fmt::Debug for CandidateCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandidateCheck")
            .field("suite", &self.0.suite)
            .finish_non_exhaustive()
    }
}

impl crate::materials::CandidateCheck for CandidateCheck {
    fn accepts(&self, key: &DataKey, required: &[u8]) -> bool {
        CandidateCheck::accepts(self, key, required)
    }
}

impl CandidateCheck {
    /// The check for a parsed header; `None` for a v1 header that was not received (an
    /// encryptor's, say), which has no tag to check against.
    pub(crate) fn for_header(header: &MessageHeader, provider: &CryptoProvider) -> Option<Self> {
        if header.commitment.is_none() && header.raw.is_none() {
            return None;
        }
        Some(Self(Arc::new(CheckInner {
            provider: *provider,
            suite: header.suite,
            message_id: header.message_id.clone(),
            commitment: header.commitment,
            raw_header: header.raw.clone(),
        })))
    }

    /// True when `key` is the message's data key. The same work whatever the answer, and
    /// whether the key came from a successful unwrapping or is a random stand-in for a failed
    /// one. `required` is the serialized required encryption context (v1 header tag AAD).
    pub(crate) fn accepts(&self, key: &DataKey, required: &[u8]) -> bool {
        let c = &self.0;
        if key.len() != c.suite.key_len() {
            return false;
        }
        let Ok(keys) = derive(&c.provider, c.suite, key, &c.message_id) else {
            return false;
        };
        if let (Some(stored), Some(derived)) = (&c.commitment, &keys.commitment) {
            return bool::from(stored.ct_eq(derived));
        }
        let Some(raw) = &c.raw_header else {
            return false;
        };
        // v1: the header tag over the body as received and the required pairs.
        let auth_len = IV_LEN + TAG_LEN;
        let Some(body_len) = raw.len().checked_sub(auth_len) else {
            return false;
        };
        let (body, auth) = raw.split_at(body_len);
        let (iv, tag) = auth.split_at(IV_LEN);
        let (Ok(iv), Ok(tag)) = (<[u8; IV_LEN]>::try_from(iv), <[u8; TAG_LEN]>::try_from(tag))
        else {
            return false;
        };
        let mut aad = Vec::with_capacity(body.len() + required.len());
        aad.extend_from_slice(body);
        aad.extend_from_slice(required);
        keys.content.open_in_place(&iv, &aad, &mut [], &tag).is_ok()
    }
}
