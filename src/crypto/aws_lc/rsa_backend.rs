//! RSA (PKCS#1 v1.5 and OAEP) through aws-lc-rs.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384,
    OAEP_SHA512_MGF1SHA512, OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use pem_rfc7468::LineEnding;
use zeroize::Zeroizing;

use super::der;
use crate::crypto::{Rsa, RsaPadding, RsaPrivateKey, RsaPublicKey};
use crate::error::{CryptoAlgorithm, CryptoError, Error, KeyringError, Result};

pub(super) struct AwsLcRsa;

fn bad_key(what: &str) -> Error {
    KeyringError::InvalidKey(format!("cannot parse RSA {what}")).into()
}

const BAD_PUBLIC: &str = "public key (expected PEM SubjectPublicKeyInfo or PKCS#1)";
const BAD_PRIVATE: &str = "private key (expected PEM PKCS#8 or PKCS#1)";

fn oaep(padding: RsaPadding) -> Option<&'static OaepAlgorithm> {
    match padding {
        RsaPadding::Pkcs1V15 => None,
        RsaPadding::OaepSha1 => Some(&OAEP_SHA1_MGF1SHA1),
        RsaPadding::OaepSha256 => Some(&OAEP_SHA256_MGF1SHA256),
        RsaPadding::OaepSha384 => Some(&OAEP_SHA384_MGF1SHA384),
        RsaPadding::OaepSha512 => Some(&OAEP_SHA512_MGF1SHA512),
    }
}

impl Rsa for AwsLcRsa {
    fn public_key_from_pem(&self, pem: &str) -> Result<Box<dyn RsaPublicKey>> {
        let (label, der) =
            pem_rfc7468::decode_vec(pem.as_bytes()).map_err(|_| bad_key(BAD_PUBLIC))?;
        let spki = match label {
            "PUBLIC KEY" => der,
            "RSA PUBLIC KEY" => der::rsa_pkcs1_public_to_spki(&der),
            _ => return Err(bad_key(BAD_PUBLIC)),
        };
        let key = PublicEncryptingKey::from_der(&spki).map_err(|_| bad_key(BAD_PUBLIC))?;
        Ok(Box::new(RsaPublic(key)))
    }

    fn private_key_from_pem(&self, pem: &str) -> Result<Box<dyn RsaPrivateKey>> {
        let (label, der) =
            pem_rfc7468::decode_vec(pem.as_bytes()).map_err(|_| bad_key(BAD_PRIVATE))?;
        let der = Zeroizing::new(der);
        let pkcs8 = match label {
            "PRIVATE KEY" => der,
            "RSA PRIVATE KEY" => der::rsa_pkcs1_private_to_pkcs8(&der),
            _ => return Err(bad_key(BAD_PRIVATE)),
        };
        let key = PrivateDecryptingKey::from_pkcs8(&pkcs8).map_err(|_| bad_key(BAD_PRIVATE))?;
        Ok(Box::new(RsaPrivate(key)))
    }

    fn generate_pem(&self, bits: usize) -> Result<(Zeroizing<String>, String)> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            8192 => KeySize::Rsa8192,
            _ => {
                return Err(CryptoError::UnsupportedKeySize {
                    algorithm: CryptoAlgorithm::Rsa,
                    bits,
                }
                .into());
            }
        };
        let encoding = |_| Error::from(CryptoError::KeyEncoding(CryptoAlgorithm::Rsa));
        let key = PrivateDecryptingKey::generate(size)
            .map_err(|_| Error::from(CryptoError::KeyGeneration(CryptoAlgorithm::Rsa)))?;
        let private: Pkcs8V1Der<'static> = key.as_der().map_err(encoding)?;
        let public: PublicKeyX509Der<'static> = key.public_key().as_der().map_err(encoding)?;
        let private = pem_rfc7468::encode_string("PRIVATE KEY", LineEnding::LF, private.as_ref())
            .map_err(|_| Error::from(CryptoError::KeyEncoding(CryptoAlgorithm::Rsa)))?;
        let public = pem_rfc7468::encode_string("PUBLIC KEY", LineEnding::LF, public.as_ref())
            .map_err(|_| Error::from(CryptoError::KeyEncoding(CryptoAlgorithm::Rsa)))?;
        Ok((Zeroizing::new(private), public))
    }
}

struct RsaPublic(PublicEncryptingKey);

impl RsaPublicKey for RsaPublic {
    fn bits(&self) -> usize {
        self.0.key_size_bits()
    }

    fn encrypt(&self, padding: RsaPadding, plaintext: &[u8]) -> Result<Vec<u8>> {
        let failed = |_| Error::from(CryptoError::OperationFailed(CryptoAlgorithm::Rsa));
        let mut out = vec![0u8; self.0.key_size_bytes()];
        let len = match oaep(padding) {
            None => Pkcs1PublicEncryptingKey::new(self.0.clone())
                .and_then(|k| k.encrypt(plaintext, &mut out).map(|c| c.len()))
                .map_err(failed)?,
            Some(alg) => OaepPublicEncryptingKey::new(self.0.clone())
                .and_then(|k| k.encrypt(alg, plaintext, &mut out, None).map(|c| c.len()))
                .map_err(failed)?,
        };
        out.truncate(len);
        Ok(out)
    }
}

struct RsaPrivate(PrivateDecryptingKey);

impl RsaPrivateKey for RsaPrivate {
    fn bits(&self) -> usize {
        self.0.key_size_bits()
    }

    fn decrypt(&self, padding: RsaPadding, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let failed = |_| Error::from(CryptoError::OperationFailed(CryptoAlgorithm::Rsa));
        let mut out = Zeroizing::new(vec![0u8; self.0.key_size_bytes()]);
        let len = match oaep(padding) {
            None => Pkcs1PrivateDecryptingKey::new(self.0.clone())
                .and_then(|k| k.decrypt(ciphertext, &mut out).map(|p| p.len()))
                .map_err(failed)?,
            Some(alg) => OaepPrivateDecryptingKey::new(self.0.clone())
                .and_then(|k| k.decrypt(alg, ciphertext, &mut out, None).map(|p| p.len()))
                .map_err(failed)?,
        };
        out.truncate(len);
        Ok(out)
    }
}
