//! The tool's crypto provider: the library's default backend (aws-lc-rs with the default
//! `aws-lc` feature) with the operating system's random source.
//!
//! aws-lc seeds its own random generator on first use from a CPU-jitter entropy source, which
//! costs a fixed ~80 ms of CPU per process (`perf record` of an empty-file encrypt: 90% of its
//! samples under aws-lc's `tree_jitter_initialize_once`): more than encrypting 64 MiB. The
//! random bytes esdk itself needs (message IDs, data keys, wrapping IVs) come from
//! `getrandom` instead, the kernel's CSPRNG, which the RustCrypto backend uses too. aws-lc still
//! seeds its generator when an operation of its own needs randomness (ECDSA signing keys and
//! signatures, RSA padding), so signed messages pay it once per run.

use esdk::crypto::{CryptoProvider, SecureRandom};

/// The kernel's random source (`getrandom(2)`).
struct OsRandom;

impl SecureRandom for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> esdk::Result<()> {
        getrandom::fill(buf).map_err(|_| esdk::Error::from(esdk::error::CryptoError::Random))
    }
}

#[cfg(feature = "aws-lc")]
const BACKEND: &CryptoProvider = &esdk::crypto::aws_lc::PROVIDER;
#[cfg(not(feature = "aws-lc"))]
const BACKEND: &CryptoProvider = &esdk::crypto::rustcrypto::PROVIDER;

/// The provider every keyring, materials manager and message of a run uses.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    random: &OsRandom,
    ..*BACKEND
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Two fills differ, and the backend's algorithms are the library default's.
    #[test]
    fn random_comes_from_the_os_and_the_rest_from_the_backend() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        PROVIDER.random.fill(&mut a).unwrap();
        PROVIDER.random.fill(&mut b).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
        assert_eq!(
            PROVIDER.aead.name(),
            esdk::crypto::default_provider().aead.name()
        );
    }
}
