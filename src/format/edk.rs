//! The encrypted data key entry of the message header.

use crate::error::Result;
use crate::format::codec::put_u16_prefixed;

/// An encrypted data key: who wrapped it, how to find the wrapping key, and the wrapped bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EncryptedDataKey {
    provider_id: String,
    provider_info: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl EncryptedDataKey {
    /// A new encrypted data key.
    pub fn new(
        provider_id: impl Into<String>,
        provider_info: Vec<u8>,
        ciphertext: Vec<u8>,
    ) -> Self {
        Self {
            provider_id: provider_id.into(),
            provider_info,
            ciphertext,
        }
    }

    /// The key provider ID (for example `aws-kms`, or a raw keyring's namespace).
    pub fn provider_id(&self) -> &str {
        &self.provider_id
    }

    /// The key provider info (for example a KMS key ARN, or a raw keyring's key name and IV).
    pub fn provider_info(&self) -> &[u8] {
        &self.provider_info
    }

    /// The wrapped data key.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    /// Appends the wire form: three `u16`-length-prefixed fields.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        put_u16_prefixed(out, self.provider_id.as_bytes(), "key provider ID")?;
        put_u16_prefixed(out, &self.provider_info, "key provider info")?;
        put_u16_prefixed(out, &self.ciphertext, "encrypted data key")
    }
}
