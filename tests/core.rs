//! End-to-end checks of the core through the public API: round trips over every suite, the
//! final-frame convention, policies, limits, hostile input, and byte-exact known-answer tests
//! against messages the Python reference SDK wrote.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::BytesMut;
use esdk::crypto::{CryptoProvider, SecureRandom, default_provider};
use esdk::error::{AuthError, FormatError, LimitError, PolicyError};
use esdk::io::Release;
use esdk::proto::DecryptEvent;
use esdk::{
    AlgorithmSuite, Client, CommitmentPolicy, DecryptionMaterials, EncryptionContext, Error,
    FrameLength, Keyring, MaterialsSource, RawAesKeyring,
};
use futures::executor::block_on;

fn keyring(bits: usize) -> RawAesKeyring {
    RawAesKeyring::new("test-ns", format!("key-{bits}"), &vec![0x5a; bits / 8]).unwrap()
}

fn client_for(suite: AlgorithmSuite) -> Client {
    let policy = if suite.is_committing() {
        CommitmentPolicy::REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    } else {
        CommitmentPolicy::FORBID_ENCRYPT_ALLOW_DECRYPT
    };
    Client::builder().commitment_policy(policy).build()
}

fn encrypt(suite: AlgorithmSuite, frame: u32, plaintext: &[u8]) -> Vec<u8> {
    let client = client_for(suite);
    block_on(
        client
            .encrypt(keyring(256), plaintext)
            .algorithm_suite(suite)
            .frame_length(FrameLength::new(frame).unwrap())
            .encryption_context([("purpose", "test"), ("\u{e9}t\u{e9}", "\u{1F600}")])
            .into_future(),
    )
    .unwrap()
    .ciphertext
}

fn decrypt(suite: AlgorithmSuite, ciphertext: &[u8]) -> esdk::Result<Vec<u8>> {
    block_on(
        client_for(suite)
            .decrypt(keyring(256), ciphertext)
            .into_future(),
    )
    .map(|o| o.plaintext)
}

#[test]
fn round_trip_every_suite_frame_and_size() {
    for suite in AlgorithmSuite::ALL {
        for frame in [1u32, 7, 4096] {
            for size in [0usize, 1, 6, 7, 8, 100, 8192] {
                let plaintext: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
                let ct = encrypt(suite, frame, &plaintext);
                let out =
                    block_on(client_for(suite).decrypt(keyring(256), &ct).into_future()).unwrap();
                assert_eq!(
                    out.plaintext, plaintext,
                    "{suite:?} frame {frame} size {size}"
                );
                assert_eq!(out.header.algorithm_suite(), suite);
                assert_eq!(out.header.frame_length(), frame);
                assert_eq!(out.encryption_context.get("purpose"), Some("test"));
                assert_eq!(
                    out.encryption_context.contains_key("aws-crypto-public-key"),
                    suite.is_signing()
                );
            }
        }
    }
}

#[test]
fn exact_multiple_ends_with_an_empty_final_frame() {
    // What every ESDK writes and every deployed reader accepts (Python 2.x/3.x refuse a full
    // final frame): the last regular frame, then an empty final frame.
    let suite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
    let frame = 16u32;
    for frames in [1usize, 3] {
        let plaintext = vec![9u8; frames * frame as usize];
        let ct = encrypt(suite, frame, &plaintext);
        let header_len = header_len(suite, &ct);
        // `frames` regular frames of 4+12+F+16 and one empty final frame of 4+4+12+4+0+16.
        let body = frames * (32 + frame as usize) + 40;
        assert_eq!(ct.len(), header_len + body, "{frames} frames");
        let final_head = &ct[header_len + frames * (32 + frame as usize)..][..8];
        assert_eq!(final_head[..4], [0xFF; 4], "final frame marker");
        assert_eq!(
            final_head[4..],
            (frames as u32 + 1).to_be_bytes(),
            "final frame sequence number"
        );
        assert_eq!(
            &ct[ct.len() - 16 - 4..][..4],
            &[0, 0, 0, 0],
            "empty final frame"
        );
    }
    // Empty plaintext: one empty final frame.
    let ct = encrypt(suite, frame, b"");
    assert_eq!(ct.len(), header_len(suite, &ct) + 40);
}

fn header_len(suite: AlgorithmSuite, ct: &[u8]) -> usize {
    let mut dec = client_for(suite).header_decoder(Release::Streaming);
    let mut buf = BytesMut::from(ct);
    match dec.decode(&mut buf).unwrap() {
        Some(parsed) => parsed.header_len(),
        None => panic!("expected header"),
    }
}

#[test]
fn every_truncation_fails() {
    for suite in [
        AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
        AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256,
    ] {
        let ct = encrypt(suite, 8, b"twenty bytes of text");
        for cut in 0..ct.len() {
            let err = decrypt(suite, &ct[..cut]).expect_err("truncated message must not decrypt");
            assert!(!matches!(err, Error::ApiMisuse(_)), "cut {cut}: {err}");
        }
        assert!(decrypt(suite, &ct).is_ok());
    }
}

#[test]
fn every_bit_flip_fails() {
    let suite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384;
    let ct = encrypt(suite, 4, b"flip me");
    for i in 0..ct.len() * 8 {
        let mut bad = ct.clone();
        bad[i / 8] ^= 1 << (i % 8);
        assert!(
            decrypt(suite, &bad).is_err(),
            "bit {i} flipped still decrypts"
        );
    }
}

#[test]
fn trailing_bytes_are_an_error() {
    for suite in [
        AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    ] {
        let mut ct = encrypt(suite, 4096, b"data");
        ct.push(0);
        match decrypt(suite, &ct) {
            Err(Error::Format(FormatError::TrailingData(1))) => {}
            other => panic!("expected trailing data error, got {other:?}"),
        }
        let double = [encrypt(suite, 4096, b"a"), encrypt(suite, 4096, b"b")].concat();
        assert!(decrypt(suite, &double).is_err());
    }
}

#[test]
fn base64_input_is_recognised() {
    let suite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
    let ct = encrypt(suite, 4096, b"data");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&ct);
    match decrypt(suite, b64.as_bytes()) {
        Err(Error::Format(FormatError::Base64Encoded)) => {}
        other => panic!("expected base64 error, got {other:?}"),
    }
}

#[test]
fn commitment_policies_and_defaults() {
    let plain = b"policy";
    let forbid = Client::builder()
        .commitment_policy(CommitmentPolicy::FORBID_ENCRYPT_ALLOW_DECRYPT)
        .build();
    let out = block_on(forbid.encrypt(keyring(256), plain).into_future()).unwrap();
    assert_eq!(out.header.algorithm_suite().id(), 0x0378);
    let legacy = out.ciphertext;
    let strict = Client::new();
    let out = block_on(strict.encrypt(keyring(256), plain).into_future()).unwrap();
    assert_eq!(out.header.algorithm_suite().id(), 0x0578);
    match block_on(strict.decrypt(keyring(256), &legacy).into_future()) {
        Err(Error::Policy(PolicyError::Commitment { .. })) => {}
        other => panic!("REQUIRE_REQUIRE must refuse a non-committing message, got {other:?}"),
    }
    let allow = Client::builder()
        .commitment_policy(CommitmentPolicy::REQUIRE_ENCRYPT_ALLOW_DECRYPT)
        .build();
    assert_eq!(
        block_on(allow.decrypt(keyring(256), &legacy).into_future())
            .unwrap()
            .plaintext,
        plain
    );
    let refused = block_on(
        forbid
            .encrypt(keyring(256), plain)
            .algorithm_suite(AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY)
            .into_future(),
    );
    assert!(matches!(
        refused,
        Err(Error::Policy(PolicyError::Commitment { .. }))
    ));
}

#[test]
fn reserved_context_prefix_is_refused_on_encrypt() {
    let client = Client::new();
    for key in ["aws-crypto-public-key", "aws-crypto-anything"] {
        let r = block_on(
            client
                .encrypt(keyring(128), b"x")
                .encryption_context([(key, "v")])
                .into_future(),
        );
        assert!(
            matches!(
                r,
                Err(Error::Policy(PolicyError::ReservedEncryptionContextKey(_)))
            ),
            "{key}"
        );
    }
}

#[test]
fn reproduced_context_must_match() {
    let client = Client::new();
    let ct = block_on(
        client
            .encrypt(keyring(192), b"x")
            .encryption_context([("a", "1")])
            .into_future(),
    )
    .unwrap()
    .ciphertext;
    assert!(
        block_on(
            client
                .decrypt(keyring(192), &ct)
                .encryption_context([("a", "1")])
                .into_future()
        )
        .is_ok()
    );
    let wrong = block_on(
        client
            .decrypt(keyring(192), &ct)
            .encryption_context([("a", "2")])
            .into_future(),
    );
    assert!(matches!(
        wrong,
        Err(Error::Policy(PolicyError::EncryptionContextMismatch(_)))
    ));
}

#[test]
fn wrong_key_and_wrong_name_fail_with_keyring_errors() {
    let client = Client::new();
    let ct = block_on(client.encrypt(keyring(256), b"x").into_future())
        .unwrap()
        .ciphertext;
    let other_key = RawAesKeyring::new("test-ns", "key-256", &[1u8; 32]).unwrap();
    let other_name = RawAesKeyring::new("test-ns", "another", &[0x5a; 32]).unwrap();
    let other_ns = RawAesKeyring::new("other-ns", "key-256", &[0x5a; 32]).unwrap();
    for k in [other_key, other_name, other_ns] {
        let r = block_on(client.decrypt(k, &ct).into_future());
        assert!(matches!(r, Err(Error::Keyring(_))), "{r:?}");
    }
}

/// A keyring that wraps the data key under two raw AES keys, for the EDK limits.
#[derive(Debug)]
struct TwoKeys(RawAesKeyring, RawAesKeyring);

impl Keyring for TwoKeys {
    fn on_encrypt<'a>(
        &'a self,
        m: esdk::EncryptionMaterials,
    ) -> futures::future::BoxFuture<'a, esdk::Result<esdk::EncryptionMaterials>> {
        Box::pin(async move {
            let m = self.0.on_encrypt(m).await?;
            self.1.on_encrypt(m).await
        })
    }

    fn on_decrypt<'a>(
        &'a self,
        m: DecryptionMaterials,
        edks: &'a [esdk::EncryptedDataKey],
    ) -> futures::future::BoxFuture<'a, esdk::Result<DecryptionMaterials>> {
        self.1.on_decrypt(m, edks)
    }
}

#[test]
fn max_encrypted_data_keys_on_encrypt_and_decrypt() {
    let two = || MaterialsSource::keyring(TwoKeys(keyring(128), keyring(256)));
    let limited = Client::builder().max_encrypted_data_keys(1).build();
    let r = block_on(limited.encrypt(two(), b"x").into_future());
    assert!(matches!(
        r,
        Err(Error::Limit(LimitError::TooManyEncryptedDataKeys {
            limit: 1,
            got: 2
        }))
    ));
    let ct = block_on(Client::new().encrypt(two(), b"x").into_future())
        .unwrap()
        .ciphertext;
    assert!(block_on(Client::new().decrypt(two(), &ct).into_future()).is_ok());
    let r = block_on(limited.decrypt(two(), &ct).into_future());
    assert!(matches!(
        r,
        Err(Error::Limit(LimitError::TooManyEncryptedDataKeys { .. }))
    ));
    // The count is checked as soon as it is read, before any key is parsed: cut the message
    // right after the two-byte count.
    let header = block_on(Client::new().encrypt(two(), b"x").into_future())
        .unwrap()
        .header;
    let ec_len = header.encryption_context().serialize().unwrap().len();
    let count_end = 1 + 2 + 32 + 2 + ec_len + 2;
    let mut dec = limited.header_decoder(Release::Streaming);
    let mut buf = BytesMut::from(&ct[..count_end]);
    assert!(matches!(
        dec.decode(&mut buf),
        Err(Error::Limit(LimitError::TooManyEncryptedDataKeys {
            limit: 1,
            got: 2
        }))
    ));
}

#[test]
fn unsigned_only_refuses_signed_messages_after_the_header() {
    let suite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384;
    let ct = encrypt(suite, 4096, b"x");
    let r = block_on(
        client_for(suite)
            .decrypt(keyring(256), &ct)
            .release(Release::UnsignedOnly)
            .into_future(),
    );
    assert!(matches!(
        r,
        Err(Error::Policy(PolicyError::SignedMessageNotAllowed(0x0578)))
    ));
    let unsigned = encrypt(
        AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        4096,
        b"x",
    );
    let r = block_on(
        client_for(suite)
            .decrypt(keyring(256), &unsigned)
            .release(Release::UnsignedOnly)
            .into_future(),
    );
    assert_eq!(r.unwrap().plaintext, b"x");
}

#[test]
fn signed_final_frame_is_held_until_the_signature_verifies() {
    let suite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384;
    let plaintext = b"0123456789abcdef-final";
    let mut ct = encrypt(suite, 16, plaintext);
    let n = ct.len();
    ct[n - 1] ^= 1; // corrupt the signature
    let client = client_for(suite);
    let mut buf = BytesMut::from(&ct[..]);
    let parsed = client
        .header_decoder(Release::Streaming)
        .decode(&mut buf)
        .unwrap()
        .unwrap();
    let m =
        block_on(client.decrypt_materials(&keyring(256).into(), parsed.header(), None)).unwrap();
    let mut dec = parsed.with_materials(&m).unwrap();
    let mut released = Vec::new();
    let err = loop {
        match dec.decode(&mut buf) {
            Ok(Some(DecryptEvent::Plaintext(p))) => released.extend_from_slice(&p),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, Error::Authentication(AuthError::Signature)));
    assert_eq!(
        released,
        &plaintext[..16],
        "only the regular frame may be released"
    );
}

// ---------------------------------------------------------------------------------------------
// Known-answer tests: re-encrypt messages the Python reference wrote, replaying its random
// values, and require the same bytes.

/// Hands out queued bytes instead of random ones.
struct Replay(Mutex<VecDeque<u8>>);

impl SecureRandom for Replay {
    fn fill(&self, buf: &mut [u8]) -> esdk::Result<()> {
        let mut q = self.0.lock().unwrap();
        assert!(q.len() >= buf.len(), "replay ran dry");
        for b in buf.iter_mut() {
            *b = q.pop_front().unwrap();
        }
        Ok(())
    }
}

fn vectors_dir() -> Option<PathBuf> {
    let root = std::env::var_os("ESDK_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors"));
    let dir = root.join("python");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "!!!!! python vectors not found under {}: known-answer tests SKIPPED !!!!!",
            root.display()
        );
        None
    }
}

#[test]
fn byte_exact_against_python_reference() {
    let Some(dir) = vectors_dir() else { return };
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("keys.json")).unwrap()).unwrap();
    let material = keys["keys"]["aes-256"]["material"].as_str().unwrap();
    let wrapping = base64::engine::general_purpose::STANDARD
        .decode(material)
        .unwrap();
    let (mut checked, mut exact) = (0, 0);
    for suite in ["0014", "0046", "0078", "0114", "0146", "0178", "0478"] {
        // Exact multiples included: the reference ends them with an empty final frame, as we do.
        for (frame, size) in [
            (4096u32, 4097usize),
            (512, 4097),
            (128, 1000),
            (65536, 4097),
            (4096, 0),
            (4096, 4096),
            (4096, 8192),
            (512, 1024),
            (100, 1000),
            (65536, 65536),
            (1, 2),
        ] {
            let name = format!("suite-{suite}-f{frame}-pt{size}");
            let Ok(ct) = std::fs::read(dir.join("ciphertexts").join(&name)) else {
                continue;
            };
            let plaintext =
                std::fs::read(dir.join("plaintexts").join(format!("pt-{size}"))).unwrap();
            let suite = AlgorithmSuite::from_id(u16::from_str_radix(suite, 16).unwrap()).unwrap();
            // What the Python SDK drew at random: the data key, the EDK's IV, the message ID.
            let client = client_for(suite);
            let mut dec = client.header_decoder(Release::Streaming);
            let mut buf = BytesMut::from(&ct[..]);
            let Some(parsed) = dec.decode(&mut buf).unwrap() else {
                panic!()
            };
            let header = parsed.header();
            let edk = &header.encrypted_data_keys()[0];
            if header.encrypted_data_keys().len() != 1 || edk.provider_info().len() != 7 + 20 {
                continue;
            }
            let kr = RawAesKeyring::new(edk.provider_id(), "aes-256", &wrapping).unwrap();
            let m =
                DecryptionMaterials::new(suite, header.encryption_context().clone(), vec![], None);
            let m = block_on(kr.on_decrypt(m, header.encrypted_data_keys())).unwrap();
            let iv = &edk.provider_info()[7 + 8..];
            let replay: Vec<u8> =
                [m.data_key().unwrap().expose(), iv, header.message_id()].concat();
            let provider: &'static CryptoProvider = Box::leak(Box::new(CryptoProvider {
                random: Box::leak(Box::new(Replay(Mutex::new(replay.into())))),
                ..*default_provider()
            }));
            let kr = RawAesKeyring::with_crypto_provider(
                edk.provider_id(),
                "aes-256",
                &wrapping,
                provider,
            )
            .unwrap();
            let replaying = Client::builder()
                .commitment_policy(client.commitment_policy())
                .crypto_provider(provider)
                .build();
            let ec: EncryptionContext = header.encryption_context().clone();
            let ours = block_on(
                replaying
                    .encrypt(MaterialsSource::Keyring(Arc::new(kr)), &plaintext)
                    .algorithm_suite(suite)
                    .frame_length(FrameLength::new(frame).unwrap())
                    .encryption_context(ec.iter().map(|(k, v)| (k.to_owned(), v.to_owned())))
                    .into_future(),
            )
            .unwrap();
            assert!(
                ours.ciphertext == ct,
                "{name}: our bytes differ from the Python reference's"
            );
            checked += 1;
            if size > 0 && size % frame as usize == 0 {
                exact += 1;
            }
        }
    }
    eprintln!("{checked} messages reproduced byte for byte ({exact} exact multiples)");
    assert!(checked >= 14, "only {checked} known-answer vectors found");
    assert!(
        exact >= 7,
        "only {exact} exact-multiple known-answer vectors found"
    );
}

#[test]
fn one_byte_at_a_time() {
    for suite in [
        AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
        AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256,
    ] {
        let plaintext: Vec<u8> = (0..50u8).collect();
        let ct = encrypt(suite, 16, &plaintext);
        let client = client_for(suite);
        let mut header = client.header_decoder(Release::Streaming);
        let mut body = None;
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut done = false;
        for &b in &ct {
            buf.extend_from_slice(&[b]);
            let dec = match body.as_mut() {
                Some(dec) => dec,
                None => {
                    let Some(parsed) = header.decode(&mut buf).unwrap() else {
                        continue;
                    };
                    let m = block_on(client.decrypt_materials(
                        &keyring(256).into(),
                        parsed.header(),
                        None,
                    ))
                    .unwrap();
                    body.insert(parsed.with_materials(&m).unwrap())
                }
            };
            while let Some(ev) = dec.decode(&mut buf).unwrap() {
                match ev {
                    DecryptEvent::Plaintext(p) => out.extend_from_slice(&p),
                    DecryptEvent::Done => done = true,
                    _ => {}
                }
            }
        }
        assert!(done);
        body.unwrap().finish(&buf).unwrap();
        assert_eq!(out, plaintext);
    }
}

#[test]
fn limits_refuse_before_reading_further() {
    let suite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
    let ct = encrypt(suite, 4096, b"limits");
    let strict = |limits: esdk::Limits| {
        let client = Client::builder().limits(limits).build();
        let mut dec = client.header_decoder(Release::Streaming);
        // Only the first 40 bytes: the context length is at offset 35.
        let mut buf = BytesMut::from(&ct[..40]);
        dec.decode(&mut buf).map(|p| p.map(|p| p.header_len()))
    };
    assert!(matches!(
        strict(esdk::Limits::new().max_encryption_context_len(4)),
        Err(Error::Limit(
            esdk::error::LimitError::EncryptionContextTooLarge
        ))
    ));
    assert!(matches!(strict(esdk::Limits::new()), Ok(None)));
    assert!(matches!(
        strict(esdk::Limits::new().max_header_len(20)),
        Err(Error::Limit(esdk::error::LimitError::HeaderTooLarge(20)))
    ));
    let client = Client::builder()
        .limits(esdk::Limits::new().max_frame_length(1024))
        .build();
    let r = block_on(client.decrypt(keyring(256), &ct).into_future());
    assert!(matches!(
        r,
        Err(Error::Limit(esdk::error::LimitError::FrameTooLarge {
            limit: 1024,
            got: 4096
        }))
    ));
}
