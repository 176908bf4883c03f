//! ECDH key wrapping shared by the raw ECDH keyring and the AWS KMS ECDH keyring
//! (`framework/raw-ecdh-keyring.md`, `framework/key-agreement-schemas.md`): both write and read
//! the same EDKs, and differ only in how the shared secret is agreed.
//!
//! ```text
//! Z          = ECDH(private key, peer public key)           (x-coordinate)
//! fixedInfo  = "ecdh-key-derivation" 00 curve 00 "HMAC_SHA384" 00 senderPub ‖ recipientPub
//!              00 01 00 canonical(encryption context)        (public keys compressed)
//! okm[64]    = KDF-CTR-HMAC-SHA384(Z, label = fixedInfo, context = salt[32])
//! commitKey  = okm[0..32], wrapKey = okm[32..64]
//! EDK        = provider id  "raw-ecdh" or "aws-kms-ecdh"
//!              provider info 01 ‖ u32 len ‖ recipientPub ‖ u32 len ‖ senderPub
//!              ciphertext    salt (32) ‖ commitKey (32) ‖ AES-256-GCM(wrapKey, IV 0^12,
//!                            data key, AAD = fixedInfo) ‖ tag (16)
//! ```
//!
//! The label is lowercase `ecdh-key-derivation`, as the Material Providers Library writes it
//! (the specification's snippet spells it in capitals). On decrypt the commit key is compared
//! in constant time before anything is unwrapped.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::crypto::{CryptoProvider, EcdhCurve, HashAlgorithm};
use crate::error::Result;
use crate::keyring::{data_key_or_generate, kdf_ctr};
use crate::materials::{DataKey, EncryptedDataKey, EncryptionMaterials};
use crate::suite::{IV_LEN, TAG_LEN};

/// The provider ID of raw ECDH encrypted data keys.
pub const RAW_ECDH_PROVIDER_ID: &str = "raw-ecdh";
/// The provider ID of AWS KMS ECDH encrypted data keys, which this keyring also accepts.
pub const KMS_ECDH_PROVIDER_ID: &str = "aws-kms-ecdh";

const VERSION: u8 = 0x01;
const SALT_LEN: usize = 32;
const COMMIT_LEN: usize = 32;
const LABEL: &[u8] = b"ecdh-key-derivation";
const KDF_NAME: &[u8] = b"HMAC_SHA384";

/// The parts of an ECDH EDK's provider info (compressed public keys).
pub(crate) struct Info<'a> {
    pub(crate) recipient: &'a [u8],
    pub(crate) sender: &'a [u8],
}

impl Info<'_> {
    /// True when the EDK is between the keys `a` and `b` (compressed), in either direction:
    /// what a static-key keyring decrypts.
    pub(crate) fn is_between(&self, a: &[u8], b: &[u8]) -> bool {
        (self.sender == a && self.recipient == b) || (self.sender == b && self.recipient == a)
    }
}

/// One ECDH key agreement as the wrapping sees it: the shared secret `Z` and the two public
/// keys (compressed) it was agreed between. The raw and the AWS KMS ECDH keyrings differ only
/// in where `shared` comes from (a local private key, or KMS `DeriveSharedSecret`).
pub(crate) struct Agreement<'a> {
    /// The crypto provider for the KDF, the AEAD and the salt.
    pub(crate) provider: &'a CryptoProvider,
    /// The curve of both keys.
    pub(crate) curve: EcdhCurve,
    /// The shared secret `Z` (x-coordinate).
    pub(crate) shared: &'a [u8],
    /// The sender's public key, compressed.
    pub(crate) sender: &'a [u8],
    /// The recipient's public key, compressed.
    pub(crate) recipient: &'a [u8],
}

impl Agreement<'_> {
    /// Wraps the materials' data key (generating one if absent) under the key derived from
    /// the agreement and the serialized encryption `context`, and appends the EDK with
    /// `provider_id` (`raw-ecdh` or `aws-kms-ecdh`).
    pub(crate) fn wrap(
        &self,
        context: &[u8],
        materials: &mut EncryptionMaterials,
        provider_id: &str,
    ) -> Result<()> {
        let provider = self.provider;
        let fixed_info = fixed_info(self.curve, self.sender, self.recipient, context);
        let mut salt = [0u8; SALT_LEN];
        provider.random.fill(&mut salt)?;
        let okm = derive(provider, self.shared, &fixed_info, &salt)?;
        let (commit_key, wrap_key) = okm.split_at(COMMIT_LEN);
        let data_key = data_key_or_generate(materials, provider)?;
        let mut wrapped = Zeroizing::new(data_key.expose().to_vec());
        let tag = provider.aead.key(wrap_key)?.seal_in_place(
            &[0u8; IV_LEN],
            &fixed_info,
            &mut wrapped,
        )?;
        let mut ciphertext = Vec::with_capacity(SALT_LEN + COMMIT_LEN + wrapped.len() + TAG_LEN);
        ciphertext.extend_from_slice(&salt);
        ciphertext.extend_from_slice(commit_key);
        ciphertext.extend_from_slice(&wrapped);
        ciphertext.extend_from_slice(&tag);
        let mut info = Vec::with_capacity(9 + self.recipient.len() + self.sender.len());
        info.push(VERSION);
        for key in [self.recipient, self.sender] {
            info.extend_from_slice(&(key.len() as u32).to_be_bytes());
            info.extend_from_slice(key);
        }
        materials.add_encrypted_data_key(EncryptedDataKey::new(provider_id, info, ciphertext));
        Ok(())
    }

    /// Unwraps an ECDH EDK (whose provider info named this agreement's two keys): derives the
    /// keys, compares the commit key in constant time, then opens the wrapped data key. The
    /// error says why, for the attempt list.
    pub(crate) fn unwrap(
        &self,
        edk: &EncryptedDataKey,
        context: &[u8],
        key_len: usize,
    ) -> Result<DataKey, String> {
        check_ciphertext_len(edk, key_len)?;
        let ct = edk.ciphertext();
        let (salt, rest) = ct.split_at(SALT_LEN);
        let (commit, rest) = rest.split_at(COMMIT_LEN);
        let (wrapped, tag) = rest.split_at(key_len);
        let fixed_info = fixed_info(self.curve, self.sender, self.recipient, context);
        let okm =
            derive(self.provider, self.shared, &fixed_info, salt).map_err(|e| e.to_string())?;
        let (commit_key, wrap_key) = okm.split_at(COMMIT_LEN);
        if !bool::from(commit_key.ct_eq(commit)) {
            return Err("commitment key does not match (wrong key or encryption context)".into());
        }
        let aead = self
            .provider
            .aead
            .key(wrap_key)
            .map_err(|e| e.to_string())?;
        let mut key = Zeroizing::new(wrapped.to_vec());
        let tag: [u8; TAG_LEN] = tag.try_into().expect("length checked");
        aead.open_in_place(&[0u8; IV_LEN], &fixed_info, &mut key, &tag)
            .map_err(|_| "unwrapping failed".to_owned())?;
        Ok(DataKey::from_slice(&key))
    }
}

/// The KDF's fixed info: label, curve, KDF name, the two public keys (compressed), the version
/// and the canonical encryption context.
pub(crate) fn fixed_info(
    curve: EcdhCurve,
    sender: &[u8],
    recipient: &[u8],
    context: &[u8],
) -> Vec<u8> {
    let curve = curve.kdf_name().as_bytes();
    let mut out = Vec::with_capacity(
        LABEL.len()
            + curve.len()
            + KDF_NAME.len()
            + sender.len()
            + recipient.len()
            + context.len()
            + 6,
    );
    for part in [LABEL, curve, KDF_NAME] {
        out.extend_from_slice(part);
        out.push(0);
    }
    out.extend_from_slice(sender);
    out.extend_from_slice(recipient);
    out.extend_from_slice(&[0, VERSION, 0]);
    out.extend_from_slice(context);
    out
}

/// The 64 bytes of keying material: the commit key, then the wrapping key.
fn derive(
    provider: &CryptoProvider,
    shared: &[u8],
    fixed_info: &[u8],
    salt: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    kdf_ctr(
        provider,
        HashAlgorithm::Sha384,
        shared,
        fixed_info,
        salt,
        64,
    )
}

/// The recipient and sender public keys of an ECDH EDK's provider info on `curve`, or `None`
/// when it is malformed or for another curve.
fn parse_info(curve: EcdhCurve, info: &[u8]) -> Option<Info<'_>> {
    let n = curve.compressed_len();
    if info.len() != 1 + 4 + n + 4 + n || info[0] != VERSION {
        return None;
    }
    let len =
        |at: usize| u32::from_be_bytes(info[at..at + 4].try_into().expect("4 bytes")) as usize;
    if len(1) != n || len(1 + 4 + n) != n {
        return None;
    }
    Some(Info {
        recipient: &info[5..5 + n],
        sender: &info[5 + n + 4..],
    })
}

/// The provider info of an ECDH EDK (`raw-ecdh` or `aws-kms-ecdh`, which either ECDH keyring
/// reads) on `curve`: `None` for another provider ID, an error (for the attempt list) when it is
/// malformed or for another curve.
pub(crate) fn edk_info(
    curve: EcdhCurve,
    edk: &EncryptedDataKey,
) -> Option<Result<Info<'_>, String>> {
    if edk.provider_id() != RAW_ECDH_PROVIDER_ID && edk.provider_id() != KMS_ECDH_PROVIDER_ID {
        return None;
    }
    Some(
        parse_info(curve, edk.provider_info())
            .ok_or_else(|| "malformed provider info, or another curve".to_owned()),
    )
}

/// Checks an ECDH EDK ciphertext's length before any key agreement is paid for.
pub(crate) fn check_ciphertext_len(edk: &EncryptedDataKey, key_len: usize) -> Result<(), String> {
    if edk.ciphertext().len() != SALT_LEN + COMMIT_LEN + key_len + TAG_LEN {
        return Err("ciphertext has the wrong length".into());
    }
    Ok(())
}
