//! The AWS KMS RSA and AWS KMS ECDH keyrings against the fixed local KMS
//! (`../shared/kms/moto_kms_esdk.py`, `ESDK_KMS_MRK_ENDPOINT`): stock moto ignores the RSA
//! encryption algorithm and lacks DeriveSharedSecret, so these need the fixed launcher.
//!
//! Start it with `source .ci/kms.sh start` (or `.ci/kms.sh run -- cargo test --test
//! kms_asymmetric`). Without it every test prints a loud SKIP and returns, except under
//! `CI=true`, where a missing endpoint fails the test. The keys are made in each test with
//! `CreateKey` (RSA_2048 ENCRYPT_DECRYPT, ECC_NIST_P256/P384 KEY_AGREEMENT).

mod common;

use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use base64::Engine;
use esdk::crypto::{EcdhCurve, default_provider};
use esdk::error::KeyringError;
use esdk::keyring::aws_kms::{
    AwsKmsEcdhKeyring, AwsKmsRsaKeyring, KmsClient, KmsEcdhScheme, KmsRsaAlgorithm,
};
use esdk::keyring::{RawEcdhKeyring, RawEcdhScheme};
use esdk::{AlgorithmSuite, Client, Error, ErrorKind, Keyring, MaterialsSource};

const REGION: &str = "us-west-2";
/// The keyrings refuse signing suites (KMS RSA); ECDH works with any, tested with both.
const SUITE: AlgorithmSuite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;

fn fixed() -> Option<String> {
    common::endpoint(
        "ESDK_KMS_MRK_ENDPOINT",
        "the KMS RSA and KMS ECDH keyring tests (they need ../shared/kms/moto_kms_esdk.py: stock \
         moto lacks RSA OAEP and DeriveSharedSecret)",
    )
}

fn sdk(endpoint: &str) -> aws_sdk_kms::Client {
    common::kms_sdk_client(endpoint, REGION)
}

fn kms(endpoint: &str) -> KmsClient {
    KmsClient::from_sdk_client(sdk(endpoint))
}

/// A new asymmetric KMS key: its ARN and DER public key.
async fn create(endpoint: &str, spec: KeySpec, usage: KeyUsageType) -> (String, Vec<u8>) {
    let c = sdk(endpoint);
    let arn = c
        .create_key()
        .key_spec(spec)
        .key_usage(usage)
        .send()
        .await
        .expect("CreateKey")
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("ARN")
        .to_owned();
    let der = c
        .get_public_key()
        .key_id(&arn)
        .send()
        .await
        .expect("GetPublicKey")
        .public_key
        .expect("public key")
        .into_inner();
    (arn, der)
}

fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

async fn encrypt(
    source: impl Into<MaterialsSource>,
    data: &[u8],
) -> esdk::Result<esdk::EncryptOutput> {
    Client::new()
        .encrypt(source, data)
        .algorithm_suite(SUITE)
        .encryption_context([("purpose", "kms-asymmetric-test")])
        .await
}

async fn decrypt(source: impl Into<MaterialsSource>, msg: &[u8]) -> esdk::Result<Vec<u8>> {
    Client::new()
        .decrypt(source, msg)
        .await
        .map(|o| o.plaintext)
}

async fn rsa_keyring(ep: &str, arn: &str, der: &[u8], alg: KmsRsaAlgorithm) -> AwsKmsRsaKeyring {
    AwsKmsRsaKeyring::new(arn, alg)
        .unwrap()
        .public_key_pem(&pem(der))
        .unwrap()
        .client(kms(ep))
}

#[tokio::test]
async fn kms_rsa_round_trips_with_both_algorithms() {
    let Some(ep) = fixed() else { return };
    let (arn, der) = create(&ep, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    for alg in [
        KmsRsaAlgorithm::RsaesOaepSha1,
        KmsRsaAlgorithm::RsaesOaepSha256,
    ] {
        let keyring = rsa_keyring(&ep, &arn, &der, alg).await;
        let msg = encrypt(keyring.clone(), b"rsa round trip").await.unwrap();
        let edk = &msg.header.encrypted_data_keys()[0];
        assert_eq!(edk.provider_id(), "aws-kms-rsa");
        assert_eq!(edk.provider_info(), arn.as_bytes());
        assert_eq!(edk.ciphertext().len(), 256);
        assert_eq!(
            decrypt(keyring.clone(), &msg.ciphertext).await.unwrap(),
            b"rsa round trip"
        );
        // A decrypt-only keyring (no public key) reads it too.
        let decrypt_only = AwsKmsRsaKeyring::new(&arn, alg).unwrap().client(kms(&ep));
        assert_eq!(
            decrypt(decrypt_only, &msg.ciphertext).await.unwrap(),
            b"rsa round trip"
        );
    }
}

#[tokio::test]
async fn kms_rsa_failures_are_typed() {
    let Some(ep) = fixed() else { return };
    let (arn, der) = create(&ep, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let (other_arn, other_der) = create(&ep, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let sha1 = rsa_keyring(&ep, &arn, &der, KmsRsaAlgorithm::RsaesOaepSha1).await;
    let msg = encrypt(sha1.clone(), b"x").await.unwrap();

    // Wrong algorithm at decrypt: KMS cannot unpad it.
    let sha256 = rsa_keyring(&ep, &arn, &der, KmsRsaAlgorithm::RsaesOaepSha256).await;
    match decrypt(sha256, &msg.ciphertext).await {
        Err(Error::Keyring(KeyringError::Service { key_id, source, .. })) => {
            assert_eq!(key_id, arn);
            assert!(source.is_some(), "the SDK error is kept as the source");
        }
        other => panic!("{other:?}"),
    }
    // Wrong key: an EDK naming the other key but wrapped under this one's public key.
    let mut materials = esdk::DecryptionMaterials::new(
        SUITE,
        msg.header.encryption_context().clone(),
        vec![],
        None,
    );
    let forged = esdk::EncryptedDataKey::new(
        "aws-kms-rsa",
        other_arn.as_bytes().to_vec(),
        msg.header.encrypted_data_keys()[0].ciphertext().to_vec(),
    );
    let other = rsa_keyring(&ep, &other_arn, &other_der, KmsRsaAlgorithm::RsaesOaepSha1).await;
    assert!(matches!(
        other
            .on_decrypt(materials.clone(), std::slice::from_ref(&forged))
            .await,
        Err(Error::Keyring(KeyringError::Service { .. }))
    ));
    // The other key's keyring does not even try this key's EDK.
    assert!(matches!(
        decrypt(other.clone(), &msg.ciphertext).await,
        Err(Error::Keyring(KeyringError::NoDecryptableKey { .. }))
    ));
    // Another encryption context: KMS decrypts, the digest check refuses.
    let mut ec = msg.header.encryption_context().clone();
    ec.insert("purpose", "something else");
    materials = esdk::DecryptionMaterials::new(SUITE, ec, vec![], None);
    assert!(matches!(
        sha1.on_decrypt(materials, msg.header.encrypted_data_keys())
            .await,
        Err(Error::Keyring(KeyringError::InvalidMaterials(_)))
    ));
    // Signing suites are refused.
    let err = Client::new()
        .encrypt(sha1.clone(), b"x")
        .algorithm_suite(AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Keyring(KeyringError::Unsupported(_))),
        "{err:?}"
    );
    // No public key: cannot encrypt; no client: cannot decrypt.
    let no_pk = AwsKmsRsaKeyring::new(&arn, KmsRsaAlgorithm::RsaesOaepSha1).unwrap();
    assert!(matches!(
        encrypt(no_pk.clone(), b"x").await,
        Err(Error::Keyring(KeyringError::Unsupported(_)))
    ));
    assert!(matches!(
        decrypt(no_pk, &msg.ciphertext).await,
        Err(Error::Keyring(KeyringError::Unsupported(_)))
    ));
    // Configuration: aliases and small keys are refused.
    assert!(matches!(
        AwsKmsRsaKeyring::new("alias/rsa", KmsRsaAlgorithm::RsaesOaepSha1),
        Err(Error::Keyring(KeyringError::InvalidConfiguration(_)))
    ));
    // (RustCrypto makes the small key: aws-lc-rs refuses to generate one.)
    let (_, small) = esdk::crypto::rustcrypto::PROVIDER
        .rsa
        .generate_pem(1024)
        .unwrap();
    assert!(matches!(
        AwsKmsRsaKeyring::new(&arn, KmsRsaAlgorithm::RsaesOaepSha1)
            .unwrap()
            .public_key_pem(&small),
        Err(Error::Keyring(KeyringError::InvalidKey(_)))
    ));
    // A symmetric key cannot RSA-decrypt.
    let sym = sdk(&ep)
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let wrong_kind = esdk::EncryptedDataKey::new(
        "aws-kms-rsa",
        sym.as_bytes().to_vec(),
        msg.header.encrypted_data_keys()[0].ciphertext().to_vec(),
    );
    let sym_keyring = AwsKmsRsaKeyring::new(&sym, KmsRsaAlgorithm::RsaesOaepSha1)
        .unwrap()
        .client(kms(&ep));
    let dm = esdk::DecryptionMaterials::new(
        SUITE,
        msg.header.encryption_context().clone(),
        vec![],
        None,
    );
    assert!(matches!(
        sym_keyring.on_decrypt(dm, &[wrong_kind]).await,
        Err(Error::Keyring(KeyringError::Service { .. }))
    ));
}

#[tokio::test]
async fn kms_ecdh_schemes_round_trip_and_interoperate_with_raw_ecdh() {
    let Some(ep) = fixed() else { return };
    for (curve, spec) in [
        (EcdhCurve::P256, KeySpec::EccNistP256),
        (EcdhCurve::P384, KeySpec::EccNistP384),
    ] {
        let (a, a_der) = create(&ep, spec.clone(), KeyUsageType::KeyAgreement).await;
        let (b, b_der) = create(&ep, spec.clone(), KeyUsageType::KeyAgreement).await;
        // A (KMS) sends to B's public key; A's public key read with GetPublicKey.
        let a_to_b = AwsKmsEcdhKeyring::new(
            curve,
            KmsEcdhScheme::KmsPrivateKeyToStaticPublicKey {
                sender_kms_key_id: &a,
                sender_public_key_der: None,
                recipient_public_key_der: &b_der,
            },
            kms(&ep),
        )
        .await
        .unwrap();
        for suite in [
            SUITE,
            AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
        ] {
            let msg = Client::new()
                .encrypt(a_to_b.clone(), b"ecdh")
                .algorithm_suite(suite)
                .await
                .unwrap();
            let edk = &msg.header.encrypted_data_keys()[0];
            assert_eq!(edk.provider_id(), "aws-kms-ecdh");
            assert_eq!(edk.provider_info().len(), 9 + 2 * curve.compressed_len());
            // The sender reads its own message.
            assert_eq!(
                decrypt(a_to_b.clone(), &msg.ciphertext).await.unwrap(),
                b"ecdh"
            );
            // B discovers it (built with grant tokens and an explicit crypto provider).
            let b_discovery = AwsKmsEcdhKeyring::builder(
                curve,
                KmsEcdhScheme::KmsPublicKeyDiscovery {
                    recipient_kms_key_id: &b,
                },
                kms(&ep),
            )
            .grant_tokens(["ecdh-grant-token"])
            .crypto_provider(&esdk::crypto::rustcrypto::PROVIDER)
            .build()
            .await
            .unwrap();
            assert_eq!(
                decrypt(b_discovery, &msg.ciphertext).await.unwrap(),
                b"ecdh"
            );
            // B configured the other way round (B's KMS key, A's public key given).
            let b_to_a = AwsKmsEcdhKeyring::new(
                curve,
                KmsEcdhScheme::KmsPrivateKeyToStaticPublicKey {
                    sender_kms_key_id: &b,
                    sender_public_key_der: Some(&b_der),
                    recipient_public_key_der: &a_der,
                },
                kms(&ep),
            )
            .await
            .unwrap();
            assert_eq!(decrypt(b_to_a, &msg.ciphertext).await.unwrap(), b"ecdh");
        }

        // Raw ECDH <-> KMS ECDH: one derivation and one wrapping.
        let local = default_provider().ecdh.generate(curve).unwrap();
        let local_pem = local.to_pkcs8_pem().unwrap();
        let local_der = default_provider()
            .ecdh
            .public_key_to_der(curve, &local.public_key())
            .unwrap();
        let a_to_local = AwsKmsEcdhKeyring::new(
            curve,
            KmsEcdhScheme::KmsPrivateKeyToStaticPublicKey {
                sender_kms_key_id: &a,
                sender_public_key_der: Some(&a_der),
                recipient_public_key_der: &local_der,
            },
            kms(&ep),
        )
        .await
        .unwrap();
        let msg = encrypt(a_to_local, b"to a local key").await.unwrap();
        let raw_recipient = RawEcdhKeyring::new(
            curve,
            RawEcdhScheme::PublicKeyDiscovery {
                recipient_private_key_pem: &local_pem,
            },
        )
        .unwrap();
        assert_eq!(
            decrypt(raw_recipient, &msg.ciphertext).await.unwrap(),
            b"to a local key"
        );
        let raw_sender = RawEcdhKeyring::new(
            curve,
            RawEcdhScheme::EphemeralPrivateKeyToStaticPublicKey {
                recipient_public_key_der: &b_der,
            },
        )
        .unwrap();
        let msg = encrypt(raw_sender, b"from raw").await.unwrap();
        assert_eq!(
            msg.header.encrypted_data_keys()[0].provider_id(),
            "raw-ecdh"
        );
        let b_discovery = AwsKmsEcdhKeyring::new(
            curve,
            KmsEcdhScheme::KmsPublicKeyDiscovery {
                recipient_kms_key_id: &b,
            },
            kms(&ep),
        )
        .await
        .unwrap();
        assert_eq!(
            decrypt(b_discovery, &msg.ciphertext).await.unwrap(),
            b"from raw"
        );
    }
}

#[tokio::test]
async fn kms_ecdh_failures_are_typed() {
    let Some(ep) = fixed() else { return };
    let (a, _) = create(&ep, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    let (b, b_der) = create(&ep, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    let (c, _) = create(&ep, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    let (rsa, _) = create(&ep, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let discovery = |id: String| {
        let ep = ep.clone();
        async move {
            AwsKmsEcdhKeyring::new(
                EcdhCurve::P256,
                KmsEcdhScheme::KmsPublicKeyDiscovery {
                    recipient_kms_key_id: &id,
                },
                kms(&ep),
            )
            .await
        }
    };
    // Discovery cannot encrypt.
    assert!(matches!(
        encrypt(discovery(b.clone()).await.unwrap(), b"x").await,
        Err(Error::Keyring(KeyringError::Unsupported(_)))
    ));
    // Keys that are not P-256 key agreement keys are refused at construction.
    assert!(matches!(
        discovery(rsa).await,
        Err(Error::Keyring(KeyringError::InvalidConfiguration(_)))
    ));
    assert!(matches!(
        AwsKmsEcdhKeyring::new(
            EcdhCurve::P384,
            KmsEcdhScheme::KmsPublicKeyDiscovery {
                recipient_kms_key_id: &b
            },
            kms(&ep)
        )
        .await,
        Err(Error::Keyring(KeyringError::InvalidConfiguration(_)))
    ));
    assert!(matches!(
        AwsKmsEcdhKeyring::new(
            EcdhCurve::P384,
            KmsEcdhScheme::KmsPrivateKeyToStaticPublicKey {
                sender_kms_key_id: &a,
                sender_public_key_der: None,
                recipient_public_key_der: &b_der,
            },
            kms(&ep)
        )
        .await,
        Err(Error::Keyring(KeyringError::InvalidConfiguration(_)))
    ));
    // A missing key: the GetPublicKey failure, with its source.
    assert!(matches!(
        discovery(format!("{b}-missing")).await,
        Err(Error::Keyring(KeyringError::Service { .. }))
    ));

    let a_to_b = AwsKmsEcdhKeyring::new(
        EcdhCurve::P256,
        KmsEcdhScheme::KmsPrivateKeyToStaticPublicKey {
            sender_kms_key_id: &a,
            sender_public_key_der: None,
            recipient_public_key_der: &b_der,
        },
        kms(&ep),
    )
    .await
    .unwrap();
    let msg = encrypt(a_to_b.clone(), b"x").await.unwrap();
    // Another recipient's key: not for it.
    assert!(matches!(
        decrypt(discovery(c).await.unwrap(), &msg.ciphertext).await,
        Err(Error::Keyring(KeyringError::NoDecryptableKey { .. }))
    ));
    // Another encryption context: the commitment key check fails, collected as an attempt.
    let mut ec = msg.header.encryption_context().clone();
    ec.insert("purpose", "other");
    let dm = esdk::DecryptionMaterials::new(SUITE, ec, vec![], None);
    match discovery(b)
        .await
        .unwrap()
        .on_decrypt(dm, msg.header.encrypted_data_keys())
        .await
    {
        Err(Error::Keyring(KeyringError::NoDecryptableKey { attempts })) => {
            assert!(
                attempts[0].reason.contains("commitment key"),
                "{attempts:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{a_to_b:?}").contains("BEGIN"));

    // The key service unreachable at decrypt (the keyring was built offline: both public keys
    // given): the attempt keeps the service's typed error, and the whole error says
    // "unavailable", not "no key matched".
    let a_der = sdk(&ep)
        .get_public_key()
        .key_id(&a)
        .send()
        .await
        .unwrap()
        .public_key
        .unwrap()
        .into_inner();
    let unreachable = AwsKmsEcdhKeyring::new(
        EcdhCurve::P256,
        KmsEcdhScheme::KmsPrivateKeyToStaticPublicKey {
            sender_kms_key_id: &a,
            sender_public_key_der: Some(&a_der),
            recipient_public_key_der: &b_der,
        },
        kms("http://127.0.0.1:1"),
    )
    .await
    .unwrap();
    let err = decrypt(unreachable, &msg.ciphertext).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    match err {
        Error::Keyring(KeyringError::NoDecryptableKey { attempts }) => {
            let typed = attempts[0].error.as_deref();
            assert!(
                matches!(typed, Some(Error::Keyring(KeyringError::Service { .. }))),
                "{attempts:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn python_mpl_kms_rsa_and_ecdh_interop() {
    let Some(ep) = fixed() else { return };
    let Some(python) = common::peers_python("KMS RSA / KMS ECDH interop with the Python MPL")
    else {
        return;
    };
    let (rsa, rsa_der) = create(&ep, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let (sender, _) = create(&ep, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    let (recipient, recipient_der) =
        create(&ep, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    let ecdh_sender = AwsKmsEcdhKeyring::new(
        EcdhCurve::P256,
        KmsEcdhScheme::KmsPrivateKeyToStaticPublicKey {
            sender_kms_key_id: &sender,
            sender_public_key_der: None,
            recipient_public_key_der: &recipient_der,
        },
        kms(&ep),
    )
    .await
    .unwrap();
    let ecdh_recipient = AwsKmsEcdhKeyring::new(
        EcdhCurve::P256,
        KmsEcdhScheme::KmsPublicKeyDiscovery {
            recipient_kms_key_id: &recipient,
        },
        kms(&ep),
    )
    .await
    .unwrap();
    let rsa_keyring = |alg| {
        AwsKmsRsaKeyring::new(&rsa, alg)
            .unwrap()
            .public_key_pem(&pem(&rsa_der))
            .unwrap()
            .client(kms(&ep))
    };
    let mut cases = Vec::new();
    for (name, kind, alg, source) in [
        (
            "esdk-rsa-sha1",
            "rsa",
            "RSAES_OAEP_SHA_1",
            MaterialsSource::from(rsa_keyring(KmsRsaAlgorithm::RsaesOaepSha1)),
        ),
        (
            "esdk-rsa-sha256",
            "rsa",
            "RSAES_OAEP_SHA_256",
            MaterialsSource::from(rsa_keyring(KmsRsaAlgorithm::RsaesOaepSha256)),
        ),
        (
            "esdk-ecdh",
            "ecdh",
            "",
            MaterialsSource::from(ecdh_sender.clone()),
        ),
    ] {
        let pt = format!("esdk to python: {name}").into_bytes();
        let msg = encrypt(source, &pt).await.unwrap();
        cases.push(serde_json::json!({
            "name": name, "kind": kind, "alg": alg,
            "ciphertext": common::hex(&msg.ciphertext), "plaintext": common::hex(&pt),
        }));
    }
    let job = serde_json::json!({
        "endpoint": ep, "region": REGION,
        "rsa": {"arn": rsa, "pem": pem(&rsa_der)},
        "ecdh": {
            "sender_arn": sender, "recipient_arn": recipient,
            "recipient_der": base64::engine::general_purpose::STANDARD.encode(&recipient_der),
        },
        "messages": cases,
    });
    let dir = std::env::temp_dir().join(format!(
        "esdk-kms-asym-python-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (job_file, out_file) = (dir.join("job.json"), dir.join("out.json"));
    std::fs::write(&job_file, serde_json::to_vec(&job).unwrap()).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/.ci/kms_asymmetric_with_python.py"
    );
    let mut cmd = std::process::Command::new(&python);
    cmd.arg(script).arg(&job_file).arg(&out_file);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("OK python decrypts").count(), 3, "{stdout}");
    let theirs: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(theirs.len(), 3);
    for m in &theirs {
        let source = match (m["kind"].as_str(), m["alg"].as_str()) {
            (Some("rsa"), Some("RSAES_OAEP_SHA_1")) => {
                MaterialsSource::from(rsa_keyring(KmsRsaAlgorithm::RsaesOaepSha1))
            }
            (Some("rsa"), _) => {
                MaterialsSource::from(rsa_keyring(KmsRsaAlgorithm::RsaesOaepSha256))
            }
            _ => MaterialsSource::from(ecdh_recipient.clone()),
        };
        let out = Client::new()
            .decrypt(source, &common::unhex(m["ciphertext"].as_str().unwrap()))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", m["name"]));
        assert_eq!(
            out.plaintext,
            common::unhex(m["plaintext"].as_str().unwrap())
        );
        assert_eq!(out.encryption_context.get("writer"), Some("python"));
    }
}
