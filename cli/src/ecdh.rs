//! Raw ECDH keys from `--wrapping-keys`, and the public-key file helpers the KMS ECDH and KMS
//! RSA keys share.
//!
//! * `key=ecdh:SENDER_PRIVATE.pem recipient=RECIPIENT_PUBLIC.pem` — static key agreement
//!   (`RawPrivateKeyToStaticPublicKey`): encrypts, and decrypts messages between the two keys
//!   (the recipient names its own private key and the sender's public key).
//! * `key=ecdh-ephemeral:RECIPIENT_PUBLIC.pem` — a fresh sender key per message; encrypt only.
//! * `key=ecdh-discovery:RECIPIENT_PRIVATE.pem` — decrypts any message sent to this key.
//!
//! Private keys are PEM PKCS#8; public keys PEM (`BEGIN PUBLIC KEY`) or DER
//! SubjectPublicKeyInfo. The curve (P-256, P-384, P-521) is read from the keys unless
//! `curve=p256|p384|p521` names it.

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use esdk::crypto::{EcdhCurve, default_provider};
use esdk::{Keyring, RawEcdhKeyring, RawEcdhScheme};

use crate::Failure;
use crate::keys::{Purpose, Secrecy, read_key_file};

const CURVES: [EcdhCurve; 3] = [EcdhCurve::P256, EcdhCurve::P384, EcdhCurve::P521];

/// `curve=` values.
pub fn parse_curve(name: &str) -> Result<EcdhCurve, Failure> {
    match name.to_ascii_lowercase().replace('-', "").as_str() {
        "p256" | "eccnistp256" | "secp256r1" => Ok(EcdhCurve::P256),
        "p384" | "eccnistp384" | "secp384r1" => Ok(EcdhCurve::P384),
        "p521" | "eccnistp521" | "secp521r1" => Ok(EcdhCurve::P521),
        _ => Err(Failure::usage(format!(
            "--wrapping-keys: unknown curve {name:?} (p256, p384, p521)"
        ))),
    }
}

/// A public key file as DER SubjectPublicKeyInfo (PEM `BEGIN PUBLIC KEY` or DER).
pub fn public_key_der(path: &str) -> Result<Vec<u8>, Failure> {
    let bytes = read_key_file(Path::new(path), Secrecy::Public)?;
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(bytes.to_vec());
    };
    if !text.trim_start().starts_with("-----BEGIN") {
        return Ok(bytes.to_vec());
    }
    let body: String = text
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| Failure::usage(format!("public key file {path}: bad PEM: {e}")))
}

/// DER SubjectPublicKeyInfo as PEM.
pub fn der_to_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

/// The curve of an EC public key (DER SubjectPublicKeyInfo).
pub fn curve_of_public_der(der: &[u8]) -> Result<EcdhCurve, Failure> {
    let ecdh = default_provider().ecdh;
    CURVES
        .into_iter()
        .find(|c| ecdh.public_key_from_der(*c, der).is_ok())
        .ok_or_else(|| {
            Failure::usage("not an EC public key on P-256, P-384 or P-521 (SubjectPublicKeyInfo)")
        })
}

fn curve_of_private_pem(pem: &str) -> Result<EcdhCurve, Failure> {
    let ecdh = default_provider().ecdh;
    CURVES
        .into_iter()
        .find(|c| ecdh.private_key_from_pem(*c, pem).is_ok())
        .ok_or_else(|| {
            Failure::usage("not an EC private key (PEM PKCS#8) on P-256, P-384 or P-521")
        })
}

fn private_pem(path: &str) -> Result<zeroize::Zeroizing<String>, Failure> {
    let bytes = read_key_file(Path::new(path), Secrecy::Private)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Failure::usage(format!("private key file {path} is not PEM text")))?;
    Ok(zeroize::Zeroizing::new(text.to_owned()))
}

/// A raw ECDH keyring for `kind` (`ecdh`, `ecdh-ephemeral`, `ecdh-discovery`).
pub fn raw(
    kind: &str,
    path: &str,
    recipient: Option<&str>,
    curve: Option<EcdhCurve>,
    purpose: Purpose,
) -> Result<Arc<dyn Keyring>, Failure> {
    let bad = |e: esdk::Error| Failure::usage(format!("key={kind}:{path}: {e}"));
    let keyring = match kind {
        "ecdh" => {
            let recipient = recipient.ok_or_else(|| {
                Failure::usage(
                    "key=ecdh:PRIVATE.pem needs recipient=PUBLIC.pem (the other party's key)",
                )
            })?;
            let private = private_pem(path)?;
            let public = public_key_der(recipient)?;
            let curve = match curve {
                Some(c) => c,
                None => curve_of_private_pem(&private)?,
            };
            RawEcdhKeyring::with_crypto_provider(
                curve,
                RawEcdhScheme::RawPrivateKeyToStaticPublicKey {
                    sender_private_key_pem: &private,
                    recipient_public_key_der: &public,
                },
                &crate::crypto::PROVIDER,
            )
            .map_err(bad)?
        }
        "ecdh-ephemeral" => {
            if purpose == Purpose::Decrypt {
                return Err(Failure::usage(
                    "key=ecdh-ephemeral: only encrypts; decrypt with \
                     key=ecdh-discovery:RECIPIENT_PRIVATE.pem",
                ));
            }
            let public = public_key_der(path)?;
            let curve = match curve {
                Some(c) => c,
                None => curve_of_public_der(&public)?,
            };
            RawEcdhKeyring::with_crypto_provider(
                curve,
                RawEcdhScheme::EphemeralPrivateKeyToStaticPublicKey {
                    recipient_public_key_der: &public,
                },
                &crate::crypto::PROVIDER,
            )
            .map_err(bad)?
        }
        "ecdh-discovery" => {
            if purpose == Purpose::Encrypt {
                return Err(Failure::usage(
                    "key=ecdh-discovery: only decrypts; encrypt with \
                     key=ecdh-ephemeral:RECIPIENT_PUBLIC.pem or key=ecdh:…",
                ));
            }
            let private = private_pem(path)?;
            let curve = match curve {
                Some(c) => c,
                None => curve_of_private_pem(&private)?,
            };
            RawEcdhKeyring::with_crypto_provider(
                curve,
                RawEcdhScheme::PublicKeyDiscovery {
                    recipient_private_key_pem: &private,
                },
                &crate::crypto::PROVIDER,
            )
            .map_err(bad)?
        }
        other => return Err(Failure::usage(format!("unknown ECDH key kind {other:?}"))),
    };
    Ok(Arc::new(keyring))
}
