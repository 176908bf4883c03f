//! Algorithm suites and the commitment policy.
//!
//! The eleven ESDK suites, each with its properties as the specification's
//! `framework/algorithm-suites.md` lists them. All use AES-GCM with a 12-byte IV and a 16-byte tag.

// This module depends on nothing else in the crate: the checks that answer with an `Error`
// (`AlgorithmSuite::from_id`, `CommitmentPolicy::check_encrypt`/`check_decrypt`) are in
// `error.rs`, which names these types.

/// Length of every AES-GCM IV used by the ESDK.
pub const IV_LEN: usize = 12;
/// Length of every AES-GCM tag used by the ESDK.
pub const TAG_LEN: usize = 16;

/// Message format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageFormatVersion {
    /// Version 1 (non-committing suites): 16-byte message ID, type byte, reserved field.
    V1,
    /// Version 2 (committing suites): 32-byte message ID, commit key as suite data.
    V2,
}

impl MessageFormatVersion {
    /// The version byte on the wire.
    pub fn byte(self) -> u8 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
        }
    }

    /// Length of the message ID in this version.
    pub fn message_id_len(self) -> usize {
        match self {
            Self::V1 => 16,
            Self::V2 => 32,
        }
    }
}

/// How the data key becomes the content encryption key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kdf {
    /// The data key is used as is (legacy suites 0x00xx).
    Identity,
    /// HKDF with SHA-256, no salt, info = suite ID ‖ message ID.
    HkdfSha256,
    /// HKDF with SHA-384, no salt, info = suite ID ‖ message ID.
    HkdfSha384,
    /// HKDF with SHA-512, salt = message ID, with a derived commit key (v2 suites).
    HkdfSha512Commit,
}

/// The ECDSA signature algorithm of a signing suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256Sha256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384Sha384,
}

impl SignatureAlgorithm {
    /// Length of the compressed SEC1 public key.
    pub fn public_key_len(self) -> usize {
        match self {
            Self::EcdsaP256Sha256 => 33,
            Self::EcdsaP384Sha384 => 49,
        }
    }
}

/// One of the eleven ESDK algorithm suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
#[non_exhaustive]
#[allow(non_camel_case_types)]
pub enum AlgorithmSuite {
    /// AES-128-GCM, data key used directly. Legacy; no key derivation.
    AES_128_GCM_IV12_TAG16_NO_KDF = 0x0014,
    /// AES-192-GCM, data key used directly. Legacy; no key derivation.
    AES_192_GCM_IV12_TAG16_NO_KDF = 0x0046,
    /// AES-256-GCM, data key used directly. Legacy; no key derivation.
    AES_256_GCM_IV12_TAG16_NO_KDF = 0x0078,
    /// AES-128-GCM with HKDF-SHA256.
    AES_128_GCM_IV12_TAG16_HKDF_SHA256 = 0x0114,
    /// AES-192-GCM with HKDF-SHA256.
    AES_192_GCM_IV12_TAG16_HKDF_SHA256 = 0x0146,
    /// AES-256-GCM with HKDF-SHA256.
    AES_256_GCM_IV12_TAG16_HKDF_SHA256 = 0x0178,
    /// AES-128-GCM with HKDF-SHA256 and ECDSA P-256 signatures.
    AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256 = 0x0214,
    /// AES-192-GCM with HKDF-SHA384 and ECDSA P-384 signatures.
    AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 = 0x0346,
    /// AES-256-GCM with HKDF-SHA384 and ECDSA P-384 signatures.
    AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 = 0x0378,
    /// AES-256-GCM with HKDF-SHA512 and key commitment (message format v2).
    AES_256_GCM_HKDF_SHA512_COMMIT_KEY = 0x0478,
    /// AES-256-GCM with HKDF-SHA512, key commitment and ECDSA P-384 signatures (the default).
    AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 = 0x0578,
}

impl AlgorithmSuite {
    /// Every suite, in identifier order.
    pub const ALL: [AlgorithmSuite; 11] = [
        Self::AES_128_GCM_IV12_TAG16_NO_KDF,
        Self::AES_192_GCM_IV12_TAG16_NO_KDF,
        Self::AES_256_GCM_IV12_TAG16_NO_KDF,
        Self::AES_128_GCM_IV12_TAG16_HKDF_SHA256,
        Self::AES_192_GCM_IV12_TAG16_HKDF_SHA256,
        Self::AES_256_GCM_IV12_TAG16_HKDF_SHA256,
        Self::AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256,
        Self::AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
        Self::AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
        Self::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        Self::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    ];

    /// The two-byte identifier.
    pub fn id(self) -> u16 {
        self as u16
    }

    /// The message format version this suite is written in.
    pub fn message_format_version(self) -> MessageFormatVersion {
        if self.is_committing() {
            MessageFormatVersion::V2
        } else {
            MessageFormatVersion::V1
        }
    }

    /// AES key length in bytes: the data key length, the KDF input and output length.
    pub fn key_len(self) -> usize {
        use AlgorithmSuite::*;
        match self {
            AES_128_GCM_IV12_TAG16_NO_KDF
            | AES_128_GCM_IV12_TAG16_HKDF_SHA256
            | AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256 => 16,
            AES_192_GCM_IV12_TAG16_NO_KDF
            | AES_192_GCM_IV12_TAG16_HKDF_SHA256
            | AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 => 24,
            _ => 32,
        }
    }

    /// The key derivation function.
    pub fn kdf(self) -> Kdf {
        match self.id() >> 8 {
            0x00 => Kdf::Identity,
            0x01 | 0x02 => Kdf::HkdfSha256,
            0x03 => Kdf::HkdfSha384,
            _ => Kdf::HkdfSha512Commit,
        }
    }

    /// The signature algorithm, for signing suites.
    pub fn signature(self) -> Option<SignatureAlgorithm> {
        match self.id() {
            0x0214 => Some(SignatureAlgorithm::EcdsaP256Sha256),
            0x0346 | 0x0378 | 0x0578 => Some(SignatureAlgorithm::EcdsaP384Sha384),
            _ => None,
        }
    }

    /// True for suites that sign the message.
    pub fn is_signing(self) -> bool {
        self.signature().is_some()
    }

    /// True for the key-committing suites (message format v2).
    pub fn is_committing(self) -> bool {
        matches!(self.id() >> 8, 0x04 | 0x05)
    }
}

/// Which suites may be used to encrypt and decrypt (`framework/commitment-policy.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
#[allow(non_camel_case_types)]
pub enum CommitmentPolicy {
    /// Encrypt with non-committing suites only; decrypt anything. For migration from old SDKs.
    FORBID_ENCRYPT_ALLOW_DECRYPT,
    /// Encrypt with committing suites only; decrypt anything.
    REQUIRE_ENCRYPT_ALLOW_DECRYPT,
    /// Encrypt and decrypt with committing suites only (the default).
    #[default]
    REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
}

impl CommitmentPolicy {
    /// The suite used when the caller names none.
    ///
    /// Under FORBID this is 0x0378, as the Material Providers Library and the Python SDK use
    /// (the specification's text says 0x0078; the implementations decide interoperability).
    pub fn default_suite(self) -> AlgorithmSuite {
        match self {
            Self::FORBID_ENCRYPT_ALLOW_DECRYPT => {
                AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384
            }
            _ => AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
        }
    }

    /// Whether this policy allows encrypting with `suite`.
    pub fn allows_encrypt(self, suite: AlgorithmSuite) -> bool {
        match self {
            Self::FORBID_ENCRYPT_ALLOW_DECRYPT => !suite.is_committing(),
            _ => suite.is_committing(),
        }
    }

    /// Whether this policy allows decrypting a message in `suite`.
    pub fn allows_decrypt(self, suite: AlgorithmSuite) -> bool {
        match self {
            Self::REQUIRE_ENCRYPT_REQUIRE_DECRYPT => suite.is_committing(),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_follow_the_spec_table() {
        let table: [(u16, usize, Kdf, bool, bool); 11] = [
            (0x0014, 16, Kdf::Identity, false, false),
            (0x0046, 24, Kdf::Identity, false, false),
            (0x0078, 32, Kdf::Identity, false, false),
            (0x0114, 16, Kdf::HkdfSha256, false, false),
            (0x0146, 24, Kdf::HkdfSha256, false, false),
            (0x0178, 32, Kdf::HkdfSha256, false, false),
            (0x0214, 16, Kdf::HkdfSha256, true, false),
            (0x0346, 24, Kdf::HkdfSha384, true, false),
            (0x0378, 32, Kdf::HkdfSha384, true, false),
            (0x0478, 32, Kdf::HkdfSha512Commit, false, true),
            (0x0578, 32, Kdf::HkdfSha512Commit, true, true),
        ];
        for (id, len, kdf, signs, commits) in table {
            let s = AlgorithmSuite::from_id(id).unwrap();
            assert_eq!(s.id(), id);
            assert_eq!(s.key_len(), len, "{id:#06x}");
            assert_eq!(s.kdf(), kdf, "{id:#06x}");
            assert_eq!(s.is_signing(), signs, "{id:#06x}");
            assert_eq!(s.is_committing(), commits, "{id:#06x}");
        }
        for bad in [0x0000, 0x0070, 0x0074, 0x6700, 0x6701, 0xffff] {
            assert!(AlgorithmSuite::from_id(bad).is_err());
        }
    }

    #[test]
    fn policies() {
        use CommitmentPolicy::*;
        let legacy = AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384;
        let committing = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
        assert_eq!(CommitmentPolicy::default(), REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
        assert_eq!(FORBID_ENCRYPT_ALLOW_DECRYPT.default_suite().id(), 0x0378);
        assert_eq!(REQUIRE_ENCRYPT_ALLOW_DECRYPT.default_suite().id(), 0x0578);
        assert!(
            FORBID_ENCRYPT_ALLOW_DECRYPT
                .check_encrypt(committing)
                .is_err()
        );
        assert!(
            FORBID_ENCRYPT_ALLOW_DECRYPT
                .check_decrypt(committing)
                .is_ok()
        );
        assert!(REQUIRE_ENCRYPT_ALLOW_DECRYPT.check_encrypt(legacy).is_err());
        assert!(REQUIRE_ENCRYPT_ALLOW_DECRYPT.check_decrypt(legacy).is_ok());
        assert!(
            REQUIRE_ENCRYPT_REQUIRE_DECRYPT
                .check_decrypt(legacy)
                .is_err()
        );
        assert!(
            REQUIRE_ENCRYPT_REQUIRE_DECRYPT
                .check_encrypt(committing)
                .is_ok()
        );
    }
}
