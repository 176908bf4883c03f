//! The aws-lc-rs backend checked against the RustCrypto backend: every operation of one is
//! undone or reproduced by the other, and both refuse the same malformed inputs with the same
//! error kinds.

use super::PROVIDER as LC;
use crate::crypto::rustcrypto::PROVIDER as RC;
use crate::crypto::{CryptoProvider, EcdhCurve, HashAlgorithm, RsaPadding};
use crate::error::{AuthError, Error, KeyringError};
use crate::suite::SignatureAlgorithm;

const RSA_A_PRIVATE: &str = include_str!("../../keyring/testdata/rsa-2048-a.pem");
const RSA_A_PRIVATE_PKCS1: &str = include_str!("../../keyring/testdata/rsa-2048-a.pkcs1.pem");
const RSA_A_PUBLIC: &str = include_str!("../../keyring/testdata/rsa-2048-a.pub.pem");
const RSA_B_PRIVATE: &str = include_str!("../../keyring/testdata/rsa-2048-b.pem");

const HASHES: [HashAlgorithm; 3] = [
    HashAlgorithm::Sha256,
    HashAlgorithm::Sha384,
    HashAlgorithm::Sha512,
];
const CURVES: [EcdhCurve; 3] = [EcdhCurve::P256, EcdhCurve::P384, EcdhCurve::P521];
const PADDINGS: [RsaPadding; 5] = [
    RsaPadding::Pkcs1V15,
    RsaPadding::OaepSha1,
    RsaPadding::OaepSha256,
    RsaPadding::OaepSha384,
    RsaPadding::OaepSha512,
];

fn both() -> [(&'static CryptoProvider, &'static CryptoProvider); 2] {
    [(&LC, &RC), (&RC, &LC)]
}

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    LC.random.fill(&mut v).unwrap();
    v
}

#[test]
fn default_provider_is_aws_lc_with_the_feature() {
    assert_eq!(
        crate::crypto::default_provider().aead.name(),
        "aws-lc-aes-gcm"
    );
}

#[test]
fn aes_gcm_matches_rustcrypto_for_every_key_size() {
    for key_len in [16, 24, 32] {
        let key = random(key_len);
        let iv: [u8; 12] = random(12).try_into().unwrap();
        let aad = random(37);
        for len in [0usize, 1, 15, 16, 17, 4096, 65_536 + 3] {
            let plaintext = random(len);
            let mut lc = plaintext.clone();
            let mut rc = plaintext.clone();
            let lc_tag = LC
                .aead
                .key(&key)
                .unwrap()
                .seal_in_place(&iv, &aad, &mut lc)
                .unwrap();
            let rc_tag = RC
                .aead
                .key(&key)
                .unwrap()
                .seal_in_place(&iv, &aad, &mut rc)
                .unwrap();
            assert_eq!((&lc, lc_tag), (&rc, rc_tag), "key {key_len}, length {len}");
            for (opener, _) in both() {
                let mut buf = lc.clone();
                opener
                    .aead
                    .key(&key)
                    .unwrap()
                    .open_in_place(&iv, &aad, &mut buf, &lc_tag)
                    .unwrap();
                assert_eq!(buf, plaintext);
            }
        }
        let mut ct = random(64);
        let mut bad_tag = [0u8; 16];
        bad_tag[0] = 1;
        let err = LC
            .aead
            .key(&key)
            .unwrap()
            .open_in_place(&iv, &aad, &mut ct, &bad_tag);
        assert!(matches!(err, Err(Error::Crypto(_))));
    }
    for bad in [0, 15, 31, 33] {
        assert!(matches!(LC.aead.key(&vec![0; bad]), Err(Error::Crypto(_))));
    }
}

#[test]
fn hkdf_hmac_and_digest_match_rustcrypto() {
    for hash in HASHES {
        let ikm = random(32);
        let salt = random(32);
        for salt in [None, Some(&salt[..]), Some(&[][..])] {
            let (mut a1, mut a2) = (vec![0u8; 32], vec![0u8; 100]);
            let (mut b1, mut b2) = (vec![0u8; 32], vec![0u8; 100]);
            LC.hash
                .hkdf(hash, salt, &ikm, &mut [(b"one", &mut a1), (b"", &mut a2)])
                .unwrap();
            RC.hash
                .hkdf(hash, salt, &ikm, &mut [(b"one", &mut b1), (b"", &mut b2)])
                .unwrap();
            assert_eq!((a1, a2), (b1, b2));
        }
        let too_long = 255 * hash.output_len() + 1;
        let mut out = vec![0u8; too_long];
        for p in [&LC, &RC] {
            let r = p.hash.hkdf(hash, None, &ikm, &mut [(b"x", &mut out)]);
            assert!(matches!(r, Err(Error::Crypto(_))));
        }
        let parts: [&[u8]; 3] = [b"abc", &ikm, b""];
        for key in [&b""[..], &random(20), &random(200)] {
            assert_eq!(
                LC.hash.hmac(hash, key, &parts),
                RC.hash.hmac(hash, key, &parts)
            );
        }
        assert_eq!(LC.hash.digest(hash, &parts), RC.hash.digest(hash, &parts));
        assert_eq!(LC.hash.digest(hash, &parts).len(), hash.output_len());
    }
}

#[test]
fn ecdsa_signatures_cross_verify() {
    for alg in [
        SignatureAlgorithm::EcdsaP256Sha256,
        SignatureAlgorithm::EcdsaP384Sha384,
    ] {
        for (signer, verifier) in both() {
            let (key, public) = signer.ecdsa.generate(alg).unwrap();
            assert_eq!(public.len(), alg.public_key_len());
            assert_eq!(key.expose().len(), alg.public_key_len() - 1);
            assert_eq!(verifier.ecdsa.public_key(&key).unwrap(), public);
            let message = random(3000);
            let mut s = signer.ecdsa.signer(&key).unwrap();
            s.update(&message[..1000]);
            s.update(&message[1000..]);
            let signature = s.sign().unwrap();
            let mut v = verifier.ecdsa.verifier(alg, &public).unwrap();
            v.update(&message);
            v.verify(&signature).unwrap();
            let mut v = verifier.ecdsa.verifier(alg, &public).unwrap();
            v.update(&message[1..]);
            assert!(matches!(
                v.verify(&signature),
                Err(Error::Authentication(AuthError::Signature))
            ));
        }
    }
}

#[test]
fn ecdsa_refuses_the_same_inputs_as_rustcrypto() {
    let alg = SignatureAlgorithm::EcdsaP384Sha384;
    let (_, public) = RC.ecdsa.generate(alg).unwrap();
    let spki = RC.ecdh.public_key_to_der(EcdhCurve::P384, &public).unwrap();
    for bad in [&[][..], &[0u8][..], &public[..48], &spki] {
        for p in [&LC, &RC] {
            let r = p.ecdsa.verifier(alg, bad).map(|_| ());
            assert!(
                matches!(r, Err(Error::Authentication(AuthError::BadVerificationKey))),
                "{bad:?}: {r:?}"
            );
        }
    }
    // About half of all x-coordinates are on the curve: both backends must agree on each.
    for i in 0..64u8 {
        let mut x = public.clone();
        x[48] = i;
        let lc = LC.ecdsa.verifier(alg, &x).map(|_| ());
        let rc = RC.ecdsa.verifier(alg, &x).map(|_| ());
        assert_eq!(lc.is_ok(), rc.is_ok(), "{x:?}");
        if let Err(e) = lc {
            assert!(matches!(
                e,
                Error::Authentication(AuthError::BadVerificationKey)
            ));
        }
    }
    let (key, public) = LC.ecdsa.generate(alg).unwrap();
    for garbage in [&[][..], &[0x30, 0x00][..], &[0x30; 104][..]] {
        let v = LC.ecdsa.verifier(alg, &public).unwrap();
        assert!(matches!(
            v.verify(garbage),
            Err(Error::Authentication(AuthError::Signature))
        ));
    }
    let zero = crate::crypto::SigningKey::new(alg, vec![0u8; 48]);
    let short = crate::crypto::SigningKey::new(alg, key.expose()[..47].to_vec());
    for bad in [&zero, &short] {
        assert!(matches!(
            LC.ecdsa.signer(bad).map(|_| ()),
            Err(Error::Keyring(KeyringError::InvalidKey(_)))
        ));
    }
}

#[test]
fn rsa_every_padding_cross_decrypts() {
    let lc_private = LC.rsa.private_key_from_pem(RSA_A_PRIVATE).unwrap();
    let lc_private_pkcs1 = LC.rsa.private_key_from_pem(RSA_A_PRIVATE_PKCS1).unwrap();
    let rc_private = RC.rsa.private_key_from_pem(RSA_A_PRIVATE).unwrap();
    let lc_public = LC.rsa.public_key_from_pem(RSA_A_PUBLIC).unwrap();
    let rc_public = RC.rsa.public_key_from_pem(RSA_A_PUBLIC).unwrap();
    assert_eq!(
        (lc_private.bits(), lc_private_pkcs1.bits(), lc_public.bits()),
        (2048, 2048, 2048)
    );
    let wrong = LC.rsa.private_key_from_pem(RSA_B_PRIVATE).unwrap();
    for padding in PADDINGS {
        let data_key = random(32);
        for public in [&lc_public, &rc_public] {
            let ct = public.encrypt(padding, &data_key).unwrap();
            assert_eq!(ct.len(), 256);
            for private in [&lc_private, &lc_private_pkcs1, &rc_private] {
                assert_eq!(&private.decrypt(padding, &ct).unwrap()[..], &data_key[..]);
            }
            // OAEP always refuses a wrong key; PKCS#1 v1.5 refuses it here (AWS-LC does not
            // use implicit rejection).
            assert!(matches!(wrong.decrypt(padding, &ct), Err(Error::Crypto(_))));
        }
        assert!(matches!(
            lc_public.encrypt(padding, &[0u8; 256]),
            Err(Error::Crypto(_))
        ));
    }
}

#[test]
fn rsa_pkcs1_public_keys_and_generated_keys_work_across_backends() {
    use rsa::pkcs1::EncodeRsaPublicKey;
    use rsa::pkcs8::{DecodePublicKey, LineEnding};
    let pkcs1_public = rsa::PublicKey::from_public_key_pem(RSA_A_PUBLIC)
        .unwrap()
        .to_pkcs1_pem(LineEnding::LF)
        .unwrap();
    assert!(pkcs1_public.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
    let public = LC.rsa.public_key_from_pem(&pkcs1_public).unwrap();
    let ct = public.encrypt(RsaPadding::OaepSha256, b"k").unwrap();
    let private = RC.rsa.private_key_from_pem(RSA_A_PRIVATE).unwrap();
    assert_eq!(
        &private.decrypt(RsaPadding::OaepSha256, &ct).unwrap()[..],
        b"k"
    );

    let (private_pem, public_pem) = LC.rsa.generate_pem(2048).unwrap();
    let ct = RC
        .rsa
        .public_key_from_pem(&public_pem)
        .unwrap()
        .encrypt(RsaPadding::OaepSha512, b"generated")
        .unwrap();
    let private = RC.rsa.private_key_from_pem(&private_pem).unwrap();
    assert_eq!(
        &private.decrypt(RsaPadding::OaepSha512, &ct).unwrap()[..],
        b"generated"
    );
    assert!(matches!(LC.rsa.generate_pem(1000), Err(Error::Crypto(_))));
}

#[test]
fn rsa_refuses_the_same_pem_as_rustcrypto() {
    let swapped_labels = RSA_A_PRIVATE.replace("PRIVATE KEY", "PUBLIC KEY");
    let bad_pems = [
        "",
        "not a pem",
        RSA_A_PUBLIC,
        &swapped_labels,
        &RSA_A_PRIVATE.replace('M', "N"),
    ];
    for bad in bad_pems {
        for p in [&LC, &RC] {
            assert!(matches!(
                p.rsa.private_key_from_pem(bad).map(|_| ()),
                Err(Error::Keyring(KeyringError::InvalidKey(_)))
            ));
        }
    }
    for bad in ["", RSA_A_PRIVATE, RSA_A_PRIVATE_PKCS1] {
        for p in [&LC, &RC] {
            assert!(matches!(
                p.rsa.public_key_from_pem(bad).map(|_| ()),
                Err(Error::Keyring(KeyringError::InvalidKey(_)))
            ));
        }
    }
}

#[test]
fn ecdh_agrees_across_backends_on_every_curve() {
    for curve in CURVES {
        for (a, b) in both() {
            let alice = a.ecdh.generate(curve).unwrap();
            let bob = b.ecdh.generate(curve).unwrap();
            assert_eq!((alice.curve(), bob.curve()), (curve, curve));
            assert_eq!(alice.public_key().len(), curve.compressed_len());
            let z1 = alice.agree(&bob.public_key()).unwrap();
            let z2 = bob.agree(&alice.public_key()).unwrap();
            assert_eq!(z1, z2);
            assert_eq!(z1.len(), curve.compressed_len() - 1);

            // PEM PKCS#8 written by one backend is read by the other, same key.
            let pem = alice.to_pkcs8_pem().unwrap();
            let again = b.ecdh.private_key_from_pem(curve, &pem).unwrap();
            assert_eq!(again.public_key(), alice.public_key());

            // Both write the same SubjectPublicKeyInfo and read each other's.
            let der_a = a.ecdh.public_key_to_der(curve, &bob.public_key()).unwrap();
            let der_b = b.ecdh.public_key_to_der(curve, &bob.public_key()).unwrap();
            assert_eq!(der_a, der_b);
            assert_eq!(
                a.ecdh.public_key_from_der(curve, &der_b).unwrap(),
                bob.public_key()
            );
        }
    }
}

#[test]
fn ecdh_validates_points_like_rustcrypto() {
    for curve in CURVES {
        let key = RC.ecdh.generate(curve).unwrap();
        let compressed = key.public_key();
        let spki = RC.ecdh.public_key_to_der(curve, &compressed).unwrap();
        let point = &spki[spki.len() - (2 * compressed.len() - 1)..];
        assert_eq!(point[0], 0x04);
        for p in [&LC, &RC] {
            assert_eq!(
                p.ecdh.validate_public_key(curve, point).unwrap(),
                compressed
            );
            assert_eq!(
                p.ecdh.validate_public_key(curve, &compressed).unwrap(),
                compressed
            );
        }
        let mut off_curve = point.to_vec();
        *off_curve.last_mut().unwrap() ^= 1;
        let mut hybrid = point.to_vec();
        hybrid[0] = 0x06 | (point[point.len() - 1] & 1);
        let other = if curve == EcdhCurve::P256 {
            EcdhCurve::P384
        } else {
            EcdhCurve::P256
        };
        let other_key = RC.ecdh.generate(other).unwrap().public_key();
        let other_spki = RC.ecdh.public_key_to_der(other, &other_key).unwrap();
        for p in [&LC, &RC] {
            for bad in [&[][..], &[0u8][..], &off_curve, &hybrid, &other_key, &spki] {
                assert!(
                    matches!(
                        p.ecdh.validate_public_key(curve, bad),
                        Err(Error::Keyring(KeyringError::InvalidKey(_)))
                    ),
                    "{curve:?} {bad:?}"
                );
                let own = p.ecdh.generate(curve).unwrap();
                assert!(matches!(
                    own.agree(bad),
                    Err(Error::Keyring(KeyringError::InvalidKey(_)))
                ));
            }
            for bad in [
                &[][..],
                &compressed,
                point,
                &other_spki,
                &spki[..spki.len() - 1],
            ] {
                assert!(matches!(
                    p.ecdh.public_key_from_der(curve, bad),
                    Err(Error::Keyring(KeyringError::InvalidKey(_)))
                ));
            }
            let pem = key.to_pkcs8_pem().unwrap();
            assert!(matches!(
                p.ecdh.private_key_from_pem(other, &pem).map(|_| ()),
                Err(Error::Keyring(KeyringError::InvalidKey(_)))
            ));
            assert!(matches!(
                p.ecdh
                    .private_key_from_pem(curve, RSA_A_PRIVATE)
                    .map(|_| ()),
                Err(Error::Keyring(KeyringError::InvalidKey(_)))
            ));
        }
    }
}
