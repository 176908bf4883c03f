//! ECDH over P-256, P-384 and P-521 through aws-lc-rs.

use aws_lc_rs::agreement::{
    self, ECDH_P256, ECDH_P384, ECDH_P521, ParsedPublicKey, ParsedPublicKeyFormat, PrivateKey,
    UnparsedPublicKey,
};
use aws_lc_rs::encoding::{AsBigEndian, AsDer, EcPublicKeyCompressedBin, Pkcs8V1Der};
use aws_lc_rs::signature;
use pem_rfc7468::LineEnding;
use zeroize::Zeroizing;

use super::der;
use crate::crypto::{Ecdh, EcdhCurve, EcdhPrivateKey};
use crate::error::{CryptoAlgorithm, CryptoError, Error, KeyringError, Result};

pub(super) struct AwsLcEcdh;

fn bad_key(msg: String) -> Error {
    KeyringError::InvalidKey(msg).into()
}

fn name(curve: EcdhCurve) -> &'static str {
    match curve {
        EcdhCurve::P256 => "P256",
        EcdhCurve::P384 => "P384",
        EcdhCurve::P521 => "P521",
    }
}

fn algorithm(curve: EcdhCurve) -> &'static agreement::Algorithm {
    match curve {
        EcdhCurve::P256 => &ECDH_P256,
        EcdhCurve::P384 => &ECDH_P384,
        EcdhCurve::P521 => &ECDH_P521,
    }
}

fn field_len(curve: EcdhCurve) -> usize {
    curve.compressed_len() - 1
}

/// Parses and validates a SEC1 point (compressed or uncompressed only) on `curve`; returns the
/// parsed key and its compressed form.
fn parse_sec1(curve: EcdhCurve, sec1: &[u8]) -> Result<(ParsedPublicKey, Vec<u8>)> {
    let invalid = || bad_key(format!("not a valid {} public key", name(curve)));
    let compressed = der::compress_sec1(field_len(curve), sec1).ok_or_else(invalid)?;
    let parsed = ParsedPublicKey::try_from(UnparsedPublicKey::new(algorithm(curve), sec1))
        .map_err(|_| invalid())?;
    Ok((parsed, compressed))
}

struct Key {
    curve: EcdhCurve,
    key: PrivateKey,
    public: Vec<u8>,
}

impl Key {
    fn boxed(curve: EcdhCurve, key: PrivateKey) -> Result<Box<dyn EcdhPrivateKey>> {
        let public: EcPublicKeyCompressedBin<'static> = key
            .compute_public_key()
            .and_then(|p| p.as_be_bytes())
            .map_err(|_| Error::from(CryptoError::KeyGeneration(CryptoAlgorithm::Ecdh)))?;
        Ok(Box::new(Key {
            curve,
            key,
            public: public.as_ref().to_vec(),
        }))
    }
}

impl Ecdh for AwsLcEcdh {
    fn private_key_from_pem(&self, curve: EcdhCurve, pem: &str) -> Result<Box<dyn EcdhPrivateKey>> {
        let invalid = || bad_key(format!("not a PEM PKCS#8 {} private key", name(curve)));
        let (label, der) = pem_rfc7468::decode_vec(pem.as_bytes()).map_err(|_| invalid())?;
        let der = Zeroizing::new(der);
        // AWS-LC would also take a bare RFC 5915 ECPrivateKey; the seam promises PKCS#8.
        if label != "PRIVATE KEY" || !der::is_pkcs8(&der) {
            return Err(invalid());
        }
        let key =
            PrivateKey::from_private_key_der(algorithm(curve), &der).map_err(|_| invalid())?;
        Key::boxed(curve, key)
    }

    fn public_key_from_der(&self, curve: EcdhCurve, der: &[u8]) -> Result<Vec<u8>> {
        let invalid = || {
            bad_key(format!(
                "not a DER SubjectPublicKeyInfo {} public key",
                name(curve)
            ))
        };
        let parsed = ParsedPublicKey::try_from(UnparsedPublicKey::new(algorithm(curve), der))
            .map_err(|_| invalid())?;
        if parsed.format() != ParsedPublicKeyFormat::X509 {
            return Err(invalid());
        }
        // AWS-LC has checked the structure, the curve and the point; take the point out of it.
        der::spki_public_key(der)
            .and_then(|point| der::compress_sec1(field_len(curve), point))
            .ok_or_else(invalid)
    }

    fn validate_public_key(&self, curve: EcdhCurve, sec1: &[u8]) -> Result<Vec<u8>> {
        Ok(parse_sec1(curve, sec1)?.1)
    }

    fn public_key_to_der(&self, curve: EcdhCurve, sec1: &[u8]) -> Result<Vec<u8>> {
        parse_sec1(curve, sec1)?;
        let verification = match curve {
            EcdhCurve::P256 => &signature::ECDSA_P256_SHA256_ASN1,
            EcdhCurve::P384 => &signature::ECDSA_P384_SHA384_ASN1,
            EcdhCurve::P521 => &signature::ECDSA_P521_SHA512_ASN1,
        };
        let key = signature::ParsedPublicKey::new(verification, sec1)
            .map_err(|_| bad_key(format!("not a valid {} public key", name(curve))))?;
        let der = key
            .as_der()
            .map_err(|_| Error::from(CryptoError::KeyEncoding(CryptoAlgorithm::Ecdh)))?;
        Ok(der.as_ref().to_vec())
    }

    fn generate(&self, curve: EcdhCurve) -> Result<Box<dyn EcdhPrivateKey>> {
        let key = PrivateKey::generate(algorithm(curve))
            .map_err(|_| Error::from(CryptoError::KeyGeneration(CryptoAlgorithm::Ecdh)))?;
        Key::boxed(curve, key)
    }
}

impl EcdhPrivateKey for Key {
    fn curve(&self) -> EcdhCurve {
        self.curve
    }

    fn public_key(&self) -> Vec<u8> {
        self.public.clone()
    }

    fn agree(&self, peer_public_key: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let (peer, _) = parse_sec1(self.curve, peer_public_key)?;
        agreement::agree(
            &self.key,
            peer,
            Error::from(CryptoError::OperationFailed(CryptoAlgorithm::Ecdh)),
            |z| Ok(Zeroizing::new(z.to_vec())),
        )
    }

    fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        let failed = || Error::from(CryptoError::KeyEncoding(CryptoAlgorithm::Ecdh));
        let der: Pkcs8V1Der<'static> = self.key.as_der().map_err(|_| failed())?;
        pem_rfc7468::encode_string("PRIVATE KEY", LineEnding::LF, der.as_ref())
            .map(Zeroizing::new)
            .map_err(|_| failed())
    }
}
