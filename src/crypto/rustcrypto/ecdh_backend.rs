//! ECDH over P-256, P-384 and P-521 through the RustCrypto `p256`, `p384` and `p521` crates.

use zeroize::Zeroizing;

use super::OsRandom;
use crate::crypto::{Ecdh, EcdhCurve, EcdhPrivateKey, SecureRandom};
use crate::error::{CryptoAlgorithm, CryptoError, Error, KeyringError, Result};

pub(super) struct RustCryptoEcdh;

fn bad_key(msg: &str) -> Error {
    KeyringError::InvalidKey(msg.into()).into()
}

macro_rules! ecdh_curve {
    ($modname:ident, $curve:ident, $variant:ident, $scalar_len:expr, $top_mask:expr) => {
        mod $modname {
            use super::*;
            use $curve::elliptic_curve::sec1::ToSec1Point;
            use $curve::pkcs8::{
                DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
            };
            use $curve::{PublicKey, SecretKey};

            pub(super) struct Key(SecretKey);

            fn compressed(pk: &PublicKey) -> Vec<u8> {
                pk.to_sec1_point(true).as_bytes().to_vec()
            }

            fn parse_sec1(sec1: &[u8]) -> Result<PublicKey> {
                PublicKey::from_sec1_bytes(sec1).map_err(|_| {
                    bad_key(concat!("not a valid ", stringify!($variant), " public key"))
                })
            }

            pub(super) fn private_from_pem(pem: &str) -> Result<Box<dyn EcdhPrivateKey>> {
                let sk = SecretKey::from_pkcs8_pem(pem).map_err(|_| {
                    bad_key(concat!(
                        "not a PEM PKCS#8 ",
                        stringify!($variant),
                        " private key"
                    ))
                })?;
                Ok(Box::new(Key(sk)))
            }

            pub(super) fn public_from_der(der: &[u8]) -> Result<Vec<u8>> {
                let pk = PublicKey::from_public_key_der(der).map_err(|_| {
                    bad_key(concat!(
                        "not a DER SubjectPublicKeyInfo ",
                        stringify!($variant),
                        " public key"
                    ))
                })?;
                Ok(compressed(&pk))
            }

            pub(super) fn validate(sec1: &[u8]) -> Result<Vec<u8>> {
                Ok(compressed(&parse_sec1(sec1)?))
            }

            pub(super) fn to_der(sec1: &[u8]) -> Result<Vec<u8>> {
                let pk = parse_sec1(sec1)?;
                let doc = pk
                    .to_public_key_der()
                    .map_err(|_| Error::from(CryptoError::KeyEncoding(CryptoAlgorithm::Ecdh)))?;
                Ok(doc.as_bytes().to_vec())
            }

            pub(super) fn generate() -> Result<Box<dyn EcdhPrivateKey>> {
                loop {
                    let mut scalar = Zeroizing::new([0u8; $scalar_len]);
                    OsRandom.fill(&mut scalar[..])?;
                    scalar[0] &= $top_mask;
                    // A random value below the order is valid; retry the rare value that is not.
                    if let Ok(sk) = SecretKey::from_slice(&scalar[..]) {
                        return Ok(Box::new(Key(sk)));
                    }
                }
            }

            impl EcdhPrivateKey for Key {
                fn curve(&self) -> EcdhCurve {
                    EcdhCurve::$variant
                }

                fn public_key(&self) -> Vec<u8> {
                    compressed(&self.0.public_key())
                }

                fn agree(&self, peer_public_key: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
                    let peer = parse_sec1(peer_public_key)?;
                    let shared = self.0.diffie_hellman(&peer);
                    Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
                }

                fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
                    self.0
                        .to_pkcs8_pem(LineEnding::LF)
                        .map_err(|_| Error::from(CryptoError::KeyEncoding(CryptoAlgorithm::Ecdh)))
                }
            }
        }
    };
}

ecdh_curve!(ecdh_p256, p256, P256, 32, 0xFF);
ecdh_curve!(ecdh_p384, p384, P384, 48, 0xFF);
// P-521 scalars are 521 bits in 66 bytes: only the lowest bit of the first byte may be set.
ecdh_curve!(ecdh_p521, p521, P521, 66, 0x01);

impl Ecdh for RustCryptoEcdh {
    fn private_key_from_pem(&self, curve: EcdhCurve, pem: &str) -> Result<Box<dyn EcdhPrivateKey>> {
        match curve {
            EcdhCurve::P256 => ecdh_p256::private_from_pem(pem),
            EcdhCurve::P384 => ecdh_p384::private_from_pem(pem),
            EcdhCurve::P521 => ecdh_p521::private_from_pem(pem),
        }
    }

    fn public_key_from_der(&self, curve: EcdhCurve, der: &[u8]) -> Result<Vec<u8>> {
        match curve {
            EcdhCurve::P256 => ecdh_p256::public_from_der(der),
            EcdhCurve::P384 => ecdh_p384::public_from_der(der),
            EcdhCurve::P521 => ecdh_p521::public_from_der(der),
        }
    }

    fn validate_public_key(&self, curve: EcdhCurve, sec1: &[u8]) -> Result<Vec<u8>> {
        match curve {
            EcdhCurve::P256 => ecdh_p256::validate(sec1),
            EcdhCurve::P384 => ecdh_p384::validate(sec1),
            EcdhCurve::P521 => ecdh_p521::validate(sec1),
        }
    }

    fn public_key_to_der(&self, curve: EcdhCurve, sec1: &[u8]) -> Result<Vec<u8>> {
        match curve {
            EcdhCurve::P256 => ecdh_p256::to_der(sec1),
            EcdhCurve::P384 => ecdh_p384::to_der(sec1),
            EcdhCurve::P521 => ecdh_p521::to_der(sec1),
        }
    }

    fn generate(&self, curve: EcdhCurve) -> Result<Box<dyn EcdhPrivateKey>> {
        match curve {
            EcdhCurve::P256 => ecdh_p256::generate(),
            EcdhCurve::P384 => ecdh_p384::generate(),
            EcdhCurve::P521 => ecdh_p521::generate(),
        }
    }
}
