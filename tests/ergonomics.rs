//! The library's common case without ceremony: shared keyrings and CMMs convert into a
//! `MaterialsSource`, owned one-shot calls spawn as they are, a client carries a default suite
//! and frame length.

use std::sync::Arc;
use std::time::Duration;

use esdk::{
    AlgorithmSuite, CachingCmm, Client, DefaultCmm, EncryptOptions, FrameLength,
    LocalMaterialsCache, MaterialsSource, RawAesKeyring,
};

fn keyring() -> RawAesKeyring {
    RawAesKeyring::new("ergo", "key", &[8u8; 32]).unwrap()
}

#[tokio::test]
async fn shared_keyrings_and_cmms_are_sources() {
    let shared = Arc::new(keyring());
    let a = MaterialsSource::from(shared.clone());
    let b = MaterialsSource::from(shared);
    let msg = Client::new().encrypt(&a, b"shared").await.unwrap();
    assert_eq!(
        Client::new()
            .decrypt(&b, &msg.ciphertext)
            .await
            .unwrap()
            .plaintext,
        b"shared"
    );

    let cmm = Arc::new(DefaultCmm::new(Arc::new(keyring())));
    let c = MaterialsSource::from(cmm);
    let msg = Client::new().encrypt(&c, b"cmm").await.unwrap();
    assert_eq!(
        Client::new()
            .decrypt(&c, &msg.ciphertext)
            .await
            .unwrap()
            .plaintext,
        b"cmm"
    );

    let cache = Arc::new(LocalMaterialsCache::new(10));
    let caching = Arc::new(
        CachingCmm::builder_with_keyring(Arc::new(keyring()), cache, Duration::from_secs(60))
            .build()
            .unwrap(),
    );
    let d = MaterialsSource::from(caching);
    let msg = Client::new().encrypt(&d, b"cached").await.unwrap();
    assert_eq!(
        Client::new()
            .decrypt(&d, &msg.ciphertext)
            .await
            .unwrap()
            .plaintext,
        b"cached"
    );
}

#[tokio::test]
async fn owned_calls_spawn_as_they_are() {
    let client = Client::new();
    let keys = MaterialsSource::from(keyring());
    let data = vec![42u8; 100_000];
    let message = tokio::spawn(
        client
            .encrypt_owned(keys.clone(), data.clone())
            .encryption_context([("k", "v")]),
    )
    .await
    .unwrap()
    .unwrap();
    let out = tokio::spawn(
        client
            .decrypt_owned(keys, message.ciphertext)
            .encryption_context([("k", "v")]),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(out.plaintext, data);
}

#[tokio::test]
async fn the_client_default_suite_and_frame_length_apply_unless_a_call_chooses() {
    let unsigned = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
    let client = Client::builder()
        .algorithm_suite(unsigned)
        .frame_length(FrameLength::new(1024).unwrap())
        .build();
    let keys = MaterialsSource::from(keyring());
    let msg = client.encrypt(&keys, &[1u8; 5000]).await.unwrap();
    assert_eq!(msg.header.algorithm_suite(), unsigned);
    assert_eq!(msg.header.frame_length(), 1024);
    // The streaming adapters use the same defaults through `Client::encryptor`.
    let enc = client
        .encryptor(&keys, &EncryptOptions::new())
        .await
        .unwrap();
    assert_eq!(
        (enc.header().algorithm_suite(), enc.header().frame_length()),
        (unsigned, 1024)
    );
    // A call's own choice wins.
    let signed = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384;
    let msg = client
        .encrypt(&keys, b"x")
        .algorithm_suite(signed)
        .frame_length(FrameLength::new(64).unwrap())
        .await
        .unwrap();
    assert_eq!(
        (msg.header.algorithm_suite(), msg.header.frame_length()),
        (signed, 64)
    );
    // Without a client default, the policy's default (signed 0x0578) and 4096 apply.
    let msg = Client::new().encrypt(&keys, b"x").await.unwrap();
    assert_eq!(
        (msg.header.algorithm_suite(), msg.header.frame_length()),
        (signed, 4096)
    );
}

#[tokio::test]
async fn adapters_without_an_options_argument() {
    use futures::TryStreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let unsigned = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
    let client = Client::builder().algorithm_suite(unsigned).build();
    let keys = MaterialsSource::from(keyring());
    let data = vec![9u8; 50_000];
    let mut writer = client.encrypting_writer(&keys, Vec::new()).await.unwrap();
    writer.write_all(&data).await.unwrap();
    writer.shutdown().await.unwrap();
    let message = writer.into_inner();
    let mut reader = client.decrypting_reader(&keys, &message[..]).await.unwrap();
    assert_eq!(reader.header().algorithm_suite(), unsigned);
    let mut back = Vec::new();
    reader.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, data);
    let chunks = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(data.clone()))]);
    let sealed: Vec<bytes::Bytes> = client
        .encrypt_stream(&keys, chunks)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let opened: Vec<bytes::Bytes> = client
        .decrypt_stream(
            &keys,
            futures::stream::iter(sealed.into_iter().map(Ok::<_, std::io::Error>)),
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(opened.concat(), data);
}

#[tokio::test]
async fn one_options_value_serves_the_one_shot_call_and_the_adapters() {
    use esdk::Error;
    use esdk::error::{LimitError, PolicyError};
    use esdk::io::{DecryptOptions, Release};
    use tokio::io::AsyncReadExt;
    let keys = MaterialsSource::from(keyring());
    let client = Client::new();
    let unsigned = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
    let options = EncryptOptions::new()
        .encryption_context([("tenant", "a")])
        .algorithm_suite(unsigned)
        .frame_length(FrameLength::new(100).unwrap());
    let data = vec![3u8; 1000];
    // The one-shot call with the options value, and with the same-named methods.
    let via_options = client
        .encrypt(&keys, &data)
        .options(options.clone())
        .await
        .unwrap();
    let via_methods = client
        .encrypt(&keys, &data)
        .encryption_context([("tenant", "a")])
        .algorithm_suite(unsigned)
        .frame_length(FrameLength::new(100).unwrap())
        .await
        .unwrap();
    for msg in [&via_options, &via_methods] {
        assert_eq!(
            (msg.header.algorithm_suite(), msg.header.frame_length()),
            (unsigned, 100)
        );
        assert_eq!(msg.header.encryption_context().get("tenant"), Some("a"));
    }
    // The same value through an adapter.
    let mut reader = esdk::io::EncryptingReader::new(&client, &keys, &data[..], &options)
        .await
        .unwrap();
    let mut streamed = Vec::new();
    reader.read_to_end(&mut streamed).await.unwrap();
    // Decryption options: the same value for the one-shot call and an adapter.
    let decrypt = DecryptOptions::new().encryption_context([("tenant", "a")]);
    let out = client
        .decrypt(&keys, &streamed)
        .options(decrypt.clone())
        .await
        .unwrap();
    assert_eq!(out.plaintext, data);
    let mut reader = esdk::io::DecryptingReader::new(&client, &keys, &streamed[..], &decrypt)
        .await
        .unwrap();
    let mut back = Vec::new();
    reader.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, data);
    let wrong = DecryptOptions::new().encryption_context([("tenant", "b")]);
    let e = client
        .decrypt(&keys, &streamed)
        .options(wrong)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Policy(PolicyError::EncryptionContextMismatch(ref k)) if k == "tenant"),
        "{e:?}"
    );
    // Unsigned-only has one spelling, `Release::UnsignedOnly`, on the call and the options.
    let signed = client.encrypt(&keys, &data).await.unwrap();
    for call in [
        client
            .decrypt(&keys, &signed.ciphertext)
            .release(Release::UnsignedOnly),
        client
            .decrypt(&keys, &signed.ciphertext)
            .options(DecryptOptions::new().release(Release::UnsignedOnly)),
    ] {
        assert!(matches!(
            call.await,
            Err(Error::Policy(PolicyError::SignedMessageNotAllowed(_)))
        ));
    }
    // A declared maximum below the one-shot plaintext's length fails the call.
    let e = client
        .encrypt(&keys, &data)
        .options(options.max_plaintext_length(10))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Limit(LimitError::PlaintextLengthExceeded(10))),
        "{e:?}"
    );
}
