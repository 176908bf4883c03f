//! The codec carries many messages on one connection: `MessageEncoder::start_message` /
//! `codec::send_message` on the way out, `MessageDecoder::many` / `codec::decrypt_messages` on the
//! way in, with an end-of-message item per message; one-message streams stay strict.

use bytes::Bytes;
use esdk::error::FormatError;
use esdk::io::{
    DecryptItem, DecryptOptions, EncryptItem, MessageDecoder, MessageEncoder, Release, codec,
};
use esdk::{
    AlgorithmSuite, Client, EncryptOptions, Error, FrameLength, MaterialsSource, RawAesKeyring,
};
use futures::{SinkExt, StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{FramedRead, FramedWrite};

fn keys() -> MaterialsSource {
    MaterialsSource::from(RawAesKeyring::new("codec", "key", &[5u8; 32]).unwrap())
}

fn record(i: usize) -> Bytes {
    // Lengths around the frame length (64) and zero, so that both final-frame forms occur.
    let len = [65usize, 0, 1, 63, 64, 128, 300][i % 7] + i / 7;
    Bytes::from((0..len).map(|j| (i * 13 + j) as u8).collect::<Vec<u8>>())
}

fn options(suite: AlgorithmSuite) -> EncryptOptions {
    EncryptOptions::new()
        .algorithm_suite(suite)
        .frame_length(FrameLength::new(64).unwrap())
        .encryption_context([("conn", "1")])
}

/// Reads every message of `items` into (plaintext, header suite) pairs, checking the order of
/// items: header, plaintext…, end.
async fn collect<S>(mut items: S) -> esdk::Result<Vec<Vec<u8>>>
where
    S: futures::Stream<Item = esdk::Result<DecryptItem>> + Unpin,
{
    let mut messages = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    while let Some(item) = items.try_next().await? {
        match item {
            DecryptItem::Header(_) => {
                assert!(current.is_none(), "a header inside a message");
                current = Some(Vec::new());
            }
            DecryptItem::Plaintext(b) => current
                .as_mut()
                .expect("plaintext before a header")
                .extend_from_slice(&b),
            DecryptItem::End(_) => messages.push(current.take().expect("an end before a header")),
            _ => unreachable!("no other items"),
        }
    }
    assert!(current.is_none(), "the stream ended inside a message");
    Ok(messages)
}

#[tokio::test]
async fn many_messages_over_one_duplex_in_both_suites() {
    for suite in [
        AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    ] {
        let client = Client::new();
        let (a, b) = tokio::io::duplex(1024);
        let writer = tokio::spawn(async move {
            let client = Client::new();
            let enc = MessageEncoder::new(&client, keys(), &options(suite)).await?;
            let mut framed = FramedWrite::new(a, enc);
            for i in 0..40 {
                codec::send_message(&mut framed, &client, keys(), record(i), &options(suite))
                    .await?;
            }
            framed.get_mut().shutdown().await?;
            Ok::<(), Error>(())
        });
        let got = collect(codec::decrypt_messages(&client, keys(), b))
            .await
            .unwrap();
        writer.await.unwrap().unwrap();
        let want: Vec<Vec<u8>> = (0..40).map(|i| record(i).to_vec()).collect();
        assert_eq!(got, want, "suite {suite:?}");
    }
}

#[tokio::test]
async fn many_messages_over_tcp_with_items_and_start_message() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let client = Client::new();
        let decoder = MessageDecoder::many(
            &client,
            &DecryptOptions::new().encryption_context([("conn", "1")]),
        );
        let framed = FramedRead::new(tcp, decoder);
        collect(codec::MessageStream::new(framed, keys())).await
    });
    let client = Client::new();
    let suite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut framed = FramedWrite::new(
        tcp,
        MessageEncoder::new(&client, keys(), &options(suite))
            .await
            .unwrap(),
    );
    for i in 0..25 {
        if i > 0 {
            // Starting before the current message is finished is refused.
            if i == 1 {
                let mut enc = MessageEncoder::new(&client, keys(), &options(suite))
                    .await
                    .unwrap();
                let mut sink = bytes::BytesMut::new();
                tokio_util::codec::Encoder::encode(
                    &mut enc,
                    EncryptItem::Data(record(3)),
                    &mut sink,
                )
                .unwrap();
                assert!(matches!(
                    enc.start_message(&client, keys(), &options(suite)).await,
                    Err(Error::ApiMisuse(_))
                ));
            }
            framed
                .encoder_mut()
                .start_message(&client, keys(), &options(suite))
                .await
                .unwrap();
        }
        // Each record in two pieces, so that messages span several writes.
        let r = record(i);
        let (x, y) = r.split_at(r.len() / 2);
        framed
            .send(EncryptItem::Data(Bytes::copy_from_slice(x)))
            .await
            .unwrap();
        framed
            .send(EncryptItem::Data(Bytes::copy_from_slice(y)))
            .await
            .unwrap();
        framed.send(EncryptItem::Finish).await.unwrap();
    }
    framed.get_mut().shutdown().await.unwrap();
    let got = server.await.unwrap().unwrap();
    assert_eq!(got, (0..25).map(|i| record(i).to_vec()).collect::<Vec<_>>());
}

async fn messages(n: usize, suite: AlgorithmSuite) -> Vec<u8> {
    let client = Client::new();
    let mut wire = Vec::new();
    for i in 0..n {
        let msg = client
            .encrypt(keys(), &record(i))
            .algorithm_suite(suite)
            .frame_length(FrameLength::new(64).unwrap())
            .await
            .unwrap();
        wire.extend_from_slice(&msg.ciphertext);
    }
    wire
}

#[tokio::test]
async fn a_cut_inside_any_message_is_an_error_and_a_cut_between_messages_is_not() {
    let suite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
    let client = Client::new();
    let wire = messages(3, suite).await;
    // Message boundaries: each of the three concatenated messages has its own length.
    let mut bounds = vec![0];
    for i in 0..3 {
        let m = client
            .encrypt(keys(), &record(i))
            .algorithm_suite(suite)
            .frame_length(FrameLength::new(64).unwrap())
            .await
            .unwrap();
        bounds.push(bounds.last().unwrap() + m.ciphertext.len());
    }
    assert_eq!(*bounds.last().unwrap(), wire.len());
    for cut in (0..wire.len()).step_by(7).chain(bounds.iter().copied()) {
        let got = collect(codec::decrypt_messages(&client, keys(), &wire[..cut])).await;
        let whole = bounds.iter().position(|&b| b == cut);
        match whole {
            Some(k) => assert_eq!(got.unwrap().len(), k, "cut at boundary {cut}"),
            None => assert!(got.is_err(), "cut at {cut} inside a message passed"),
        }
    }
    // Garbage after the last message is a malformed header, not a clean end.
    let mut bad = wire.clone();
    bad.extend_from_slice(b"garbage");
    assert!(
        collect(codec::decrypt_messages(&client, keys(), &bad[..]))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_one_message_stream_yields_plaintext_and_refuses_a_second_message() {
    let suite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384;
    let client = Client::new();
    let one = messages(1, suite).await;
    let got: Vec<Bytes> = codec::decrypt_message(&client, keys(), &one[..])
        .try_collect()
        .await
        .unwrap();
    assert_eq!(got.concat(), record(0).to_vec());
    let two = messages(2, suite).await;
    let err = codec::decrypt_message(&client, keys(), &two[..])
        .try_collect::<Vec<Bytes>>()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Format(FormatError::TrailingData(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn verified_release_holds_each_message_until_it_verified() {
    let suite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
    let client = Client::new();
    let mut wire = messages(3, suite).await;
    // Damage the last frame of the second message: its plaintext must never come out.
    let first_len = client
        .encrypt(keys(), &record(0))
        .algorithm_suite(suite)
        .frame_length(FrameLength::new(64).unwrap())
        .await
        .unwrap()
        .ciphertext
        .len();
    let second_len = client
        .encrypt(keys(), &record(1))
        .algorithm_suite(suite)
        .frame_length(FrameLength::new(64).unwrap())
        .await
        .unwrap()
        .ciphertext
        .len();
    wire[first_len + second_len - 3] ^= 1;
    let decoder = MessageDecoder::many(
        &client,
        &DecryptOptions::new().release(Release::verified(1 << 20)),
    );
    let mut items = codec::MessageStream::new(FramedRead::new(&wire[..], decoder), keys());
    let mut plaintext_items = Vec::new();
    let mut ends = 0;
    let err = loop {
        match items.next().await {
            Some(Ok(DecryptItem::Plaintext(b))) => plaintext_items.push(b),
            Some(Ok(DecryptItem::End(_))) => ends += 1,
            Some(Ok(_)) => {}
            Some(Err(e)) => break e,
            None => panic!("the damaged message passed"),
        }
    };
    assert_eq!(ends, 1);
    assert_eq!(plaintext_items.concat(), record(0).to_vec());
    assert!(matches!(err, Error::Authentication(_)), "{err:?}");
}

/// A raw AES keyring that counts its calls.
#[derive(Debug)]
struct Counted {
    inner: RawAesKeyring,
    encrypts: std::sync::atomic::AtomicUsize,
    decrypts: std::sync::atomic::AtomicUsize,
}

impl esdk::Keyring for Counted {
    fn on_encrypt<'a>(
        &'a self,
        m: esdk::EncryptionMaterials,
    ) -> futures::future::BoxFuture<'a, esdk::Result<esdk::EncryptionMaterials>> {
        self.encrypts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.on_encrypt(m)
    }

    fn on_decrypt<'a>(
        &'a self,
        m: esdk::DecryptionMaterials,
        edks: &'a [esdk::EncryptedDataKey],
    ) -> futures::future::BoxFuture<'a, esdk::Result<esdk::DecryptionMaterials>> {
        self.decrypts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.on_decrypt(m, edks)
    }
}

/// Record mode's promise: with a caching CMM in front of the keyring, one message per record
/// costs one keyring call for many records (`send_message` gives the caching CMM each record's
/// length; without a length it must not cache), on both ends.
#[tokio::test]
async fn one_message_per_record_reuses_a_cached_data_key() {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    let counted = Arc::new(Counted {
        inner: RawAesKeyring::new("codec", "key", &[5u8; 32]).unwrap(),
        encrypts: Default::default(),
        decrypts: Default::default(),
    });
    let cache = Arc::new(esdk::LocalMaterialsCache::new(8));
    let cmm = esdk::CachingCmm::builder_with_keyring(
        counted.clone(),
        cache,
        std::time::Duration::from_secs(60),
    )
    .limit_messages(100)
    .build()
    .unwrap();
    let keys = MaterialsSource::from(cmm);
    let client = Client::new();
    let opts = options(AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY);
    let encoder = MessageEncoder::new(&client, &keys, &opts).await.unwrap();
    let mut out = FramedWrite::new(Vec::new(), encoder);
    let records: Vec<Bytes> = (0..20).map(record).collect();
    for r in &records {
        codec::send_message(&mut out, &client, &keys, r.clone(), &opts)
            .await
            .unwrap();
    }
    let wire = out.into_inner();
    let got = collect(codec::decrypt_messages(&client, &keys, wire.as_slice()))
        .await
        .unwrap();
    assert_eq!(got, records.iter().map(|r| r.to_vec()).collect::<Vec<_>>());
    // The encoder's first (unused) materials step and the first record's: at most two calls
    // for 20 records each way.
    let (e, d) = (
        counted.encrypts.load(Ordering::SeqCst),
        counted.decrypts.load(Ordering::SeqCst),
    );
    assert!(e <= 2, "{e} keyring encrypt calls for 20 records");
    assert!(d <= 2, "{d} keyring decrypt calls for 20 records");
}
