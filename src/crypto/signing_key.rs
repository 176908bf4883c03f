//! The message signing key a CMM hands the encryptor.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::suite::SignatureAlgorithm;

/// A message signing key: the private scalar of an ECDSA key pair. Zeroized on drop; never
/// printed.
///
/// A key made by a crypto backend's `generate` also carries that backend's loaded form of the
/// key (its own zeroizing key object), so that signing the message does not load the scalar
/// again: loading computes the public point, a scalar multiplication as costly as the
/// signature itself.
#[derive(Clone)]
pub struct SigningKey {
    algorithm: SignatureAlgorithm,
    scalar: Zeroizing<Vec<u8>>,
    loaded: Option<Arc<dyn Any + Send + Sync>>,
}

impl SigningKey {
    /// Wraps a private scalar (big-endian, field-sized) for `algorithm`.
    pub fn new(algorithm: SignatureAlgorithm, scalar: Vec<u8>) -> Self {
        Self {
            algorithm,
            scalar: Zeroizing::new(scalar),
            loaded: None,
        }
    }

    /// A key with a backend's loaded form of the same scalar attached.
    pub(crate) fn with_loaded(
        algorithm: SignatureAlgorithm,
        scalar: Vec<u8>,
        loaded: Arc<dyn Any + Send + Sync>,
    ) -> Self {
        Self {
            algorithm,
            scalar: Zeroizing::new(scalar),
            loaded: Some(loaded),
        }
    }

    /// The attached loaded form, if it is a `T` (the asking backend's own type).
    pub(crate) fn loaded<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.loaded.clone()?.downcast::<T>().ok()
    }

    /// The signature algorithm.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    /// The private scalar bytes.
    pub fn expose(&self) -> &[u8] {
        &self.scalar
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({:?}, <redacted>)", self.algorithm)
    }
}
