//! Hostile senders (issue 14): each promise of the README and `esdk::manual` must hold when the
//! sender controls timing, sizes and key material, under default settings. Every test counts
//! work or bytes, never time.

#[allow(dead_code)]
#[path = "fuzz/src/lib.rs"]
mod fuzz;

mod common;

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use esdk::crypto::RsaPadding;
use esdk::error::{KeyringError, LimitError};
use esdk::io::{
    DecryptOptions, DecryptingReader, DecryptingWriter, EncryptingReader, EncryptingWriter,
    MessageDecoder, MessageEncoder, Release,
};
use esdk::{
    AlgorithmSuite, Client, EncryptOptions, Error, FrameLength, Keyring, MaterialsSource,
    MultiKeyring, RawAesKeyring, RawRsaKeyring,
};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio_util::codec::{FramedRead, FramedWrite};

// ---------------------------------------------------------------------------------------------
// Helpers

fn aes_keys() -> MaterialsSource {
    MaterialsSource::from(RawAesKeyring::new("hostile", "aes", &[7u8; 32]).unwrap())
}

/// An `AsyncRead` that hands out its bytes `step` at a time, as a trickling sender would.
#[derive(Debug)]
struct Trickle {
    data: Bytes,
    step: usize,
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.data.len().min(self.step).min(buf.remaining());
        let chunk = self.data.split_to(n);
        buf.put_slice(&chunk);
        Poll::Ready(Ok(()))
    }
}

/// A v2 header (body and a bogus tag) with an encryption context of about `ec_len` bytes and
/// `edks` empty encrypted data keys: what a sender with no key at all can make.
fn hostile_header(ec_len: usize, edks: u16, frame_length: u32) -> Vec<u8> {
    let mut ec = Vec::new();
    let mut pairs = 0u16;
    let mut body = Vec::new();
    while body.len() + 2 + 16 <= ec_len {
        let k = format!("k{pairs:05}");
        body.extend_from_slice(&(k.len() as u16).to_be_bytes());
        body.extend_from_slice(k.as_bytes());
        body.extend_from_slice(&5u16.to_be_bytes());
        body.extend_from_slice(b"value");
        pairs += 1;
    }
    ec.extend_from_slice(&pairs.to_be_bytes());
    ec.extend_from_slice(&body);
    let mut h = vec![0x02, 0x04, 0x78];
    h.extend_from_slice(&[0x11; 32]);
    h.extend_from_slice(&(ec.len() as u16).to_be_bytes());
    h.extend_from_slice(&ec);
    h.extend_from_slice(&edks.to_be_bytes());
    for _ in 0..edks {
        h.extend_from_slice(&[0; 6]);
    }
    h.push(0x02);
    h.extend_from_slice(&frame_length.to_be_bytes());
    h.extend_from_slice(&[0x22; 32]);
    h.extend_from_slice(&[0x33; 16]);
    h
}

/// Header-parse work of `f` on this thread.
async fn work_of<F: std::future::Future<Output = ()>>(f: F) -> u64 {
    let before = esdk::format::header_parse_work();
    f.await;
    esdk::format::header_parse_work() - before
}

// ---------------------------------------------------------------------------------------------
// Item 2: a trickled header costs linear work.

#[tokio::test]
async fn a_header_fed_a_byte_at_a_time_costs_linear_work() {
    // A 64 KiB context and 20,000 empty data keys (about 190 KB of header).
    let header = hostile_header(65_000, 20_000, 4096);
    let client = Client::new();

    // One parse of the whole header, as the reference.
    let whole = work_of(async {
        let mut d = client.header_decoder(Release::Streaming);
        let mut input = BytesMut::from(&header[..]);
        assert!(d.decode(&mut input).unwrap().is_some());
    })
    .await;
    assert!(whole as usize >= header.len() / 2, "work {whole}");

    let mut ratios = Vec::new();
    // The sans-IO decryptor, a byte per call.
    let w = work_of(async {
        let mut d = client.header_decoder(Release::Streaming);
        let mut input = BytesMut::new();
        let mut got = false;
        for &b in &header {
            input.put_u8(b);
            if d.decode(&mut input).unwrap().is_some() {
                got = true;
                break;
            }
        }
        assert!(got);
    })
    .await;
    ratios.push(("HeaderDecoder", w));
    // DecryptingReader over a reader that yields a byte per read.
    let w = work_of(async {
        let inner = Trickle {
            data: Bytes::from(header.clone()),
            step: 1,
        };
        let err = DecryptingReader::new(&client, aes_keys(), inner, &DecryptOptions::new())
            .await
            .unwrap_err();
        assert!(matches!(err, esdk::Error::Keyring(_)), "{err}");
    })
    .await;
    ratios.push(("DecryptingReader", w));
    // DecryptingWriter, written a byte per write.
    let w = work_of(async {
        let mut w = DecryptingWriter::new(&client, aes_keys(), Vec::new(), &DecryptOptions::new());
        let mut failed = false;
        for b in header.chunks(1) {
            if w.write_all(b).await.is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed || w.shutdown().await.is_err());
    })
    .await;
    ratios.push(("DecryptingWriter", w));
    // decrypt_stream over one-byte items.
    let w = work_of(async {
        let items = futures::stream::iter(
            header
                .iter()
                .map(|&b| Ok::<_, io::Error>(Bytes::copy_from_slice(&[b])))
                .collect::<Vec<_>>(),
        );
        let out =
            esdk::io::decrypt_stream(&client, aes_keys(), items, &DecryptOptions::new()).await;
        assert!(out.is_err());
    })
    .await;
    ratios.push(("decrypt_stream", w));
    // The codec over a reader that yields a byte per read.
    let w = work_of(async {
        let inner = Trickle {
            data: Bytes::from(header.clone()),
            step: 1,
        };
        let mut framed =
            FramedRead::new(inner, MessageDecoder::new(&client, &DecryptOptions::new()));
        let first = framed.next().await.unwrap().unwrap();
        assert!(matches!(first, esdk::io::DecryptItem::Header(_)));
    })
    .await;
    ratios.push(("MessageDecoder", w));

    for (name, w) in &ratios {
        let ratio = *w as f64 / whole as f64;
        println!(
            "{name}: {w} units for a byte at a time, {whole} for the whole header: ratio {ratio:.2}"
        );
    }
    for (name, w) in ratios {
        assert!(
            w <= 3 * whole,
            "{name}: {w} units of header-parse work, more than 3 x {whole}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Item 4: a hostile frame length or body length is refused before the frame is read.

/// `prefix`, then `len` bytes of zeros made on demand (never held), counting what was read.
struct Flood {
    prefix: Bytes,
    left: u64,
    read: Arc<AtomicU64>,
}

impl Flood {
    fn new(prefix: Vec<u8>, len: u64) -> (Self, Arc<AtomicU64>) {
        let read = Arc::new(AtomicU64::new(0));
        let flood = Self {
            prefix: Bytes::from(prefix),
            left: len,
            read: read.clone(),
        };
        (flood, read)
    }
}

impl AsyncRead for Flood {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let chunk = self.prefix.split_to(n);
            buf.put_slice(&chunk);
            n
        } else {
            let n = (buf.remaining() as u64).min(self.left) as usize;
            buf.put_slice(&vec![0u8; n]);
            self.left -= n as u64;
            n
        };
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Poll::Ready(Ok(()))
    }
}

/// The header of an authentic message (a key the sender could encrypt to) that declares
/// `frame` byte frames.
async fn header_with_frames(client: &Client, frame: u32) -> Vec<u8> {
    let options = EncryptOptions::new().frame_length(FrameLength::new(frame).unwrap());
    let mut encryptor = client.encryptor(&aes_keys(), &options).await.unwrap();
    let mut out = BytesMut::new();
    encryptor.write_header(&mut out);
    out.to_vec()
}

fn is_limit(e: &Error, option: &str) -> bool {
    matches!(
        e,
        Error::Limit(LimitError::FrameTooLarge { .. } | LimitError::BodyTooLarge { .. })
    ) && e.to_string().contains(option)
}

/// Every decrypting adapter, fed `message` then `flood` zeros: the typed error and the bytes
/// each read (or was handed) before failing.
async fn through_every_adapter(
    client: &Client,
    message: &[u8],
    flood: u64,
    release: Release,
) -> Vec<(&'static str, Error, u64)> {
    let options = DecryptOptions::new().release(release);
    let mut out = Vec::new();
    // DecryptingReader.
    let (inner, read) = Flood::new(message.to_vec(), flood);
    let err = match DecryptingReader::new(client, aes_keys(), inner, &options).await {
        Err(e) => e,
        Ok(mut r) => {
            let mut sink = Vec::new();
            let e = r.read_to_end(&mut sink).await.unwrap_err();
            clone_error(esdk::io::error_of(&e).expect("typed"))
        }
    };
    out.push(("DecryptingReader", err, read.load(Ordering::Relaxed)));
    // DecryptingWriter, fed 64 KiB writes.
    let mut w = DecryptingWriter::new(client, aes_keys(), tokio::io::sink(), &options);
    let mut written = 0u64;
    let mut all = message.to_vec();
    all.resize(message.len() + 256 * 1024, 0);
    let mut err = None;
    let mut at = 0usize;
    while written < message.len() as u64 + flood {
        let end = (at + 64 * 1024).min(all.len());
        let chunk = if at < all.len() {
            &all[at..end]
        } else {
            &[0u8; 65536][..]
        };
        match w.write(chunk).await {
            Ok(n) => {
                written += n as u64;
                at += n;
            }
            Err(e) => {
                err = Some(clone_error(esdk::io::error_of(&e).expect("typed")));
                break;
            }
        }
    }
    let err = match err {
        Some(e) => e,
        None => clone_error(esdk::io::error_of(&w.shutdown().await.unwrap_err()).unwrap()),
    };
    out.push(("DecryptingWriter", err, written));
    // decrypt_stream over 64 KiB items.
    let pulled = Arc::new(AtomicU64::new(0));
    let p = pulled.clone();
    let head = Bytes::copy_from_slice(message);
    let items = futures::stream::iter(std::iter::once(head).chain(
        std::iter::repeat_with(|| Bytes::from(vec![0u8; 65536])).take((flood / 65536) as usize),
    ))
    .map(move |b| {
        p.fetch_add(b.len() as u64, Ordering::Relaxed);
        Ok::<_, io::Error>(b)
    });
    let err = match esdk::io::decrypt_stream(client, aes_keys(), items, &options).await {
        Err(e) => e,
        Ok(mut s) => loop {
            match s.next().await {
                Some(Ok(_)) => {}
                Some(Err(e)) => break e,
                None => panic!("a hostile message decrypted"),
            }
        },
    };
    out.push(("decrypt_stream", err, pulled.load(Ordering::Relaxed)));
    // The codec (it never spills, so only the streaming modes).
    if !matches!(release, Release::Verified { .. }) {
        let (inner, read) = Flood::new(message.to_vec(), flood);
        let mut framed = FramedRead::new(inner, MessageDecoder::new(client, &options));
        let err = match esdk::io::codec::decrypt_header(&mut framed, aes_keys()).await {
            Err(e) => e,
            Ok(_) => loop {
                match framed.next().await {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break e,
                    None => panic!("a hostile message decrypted"),
                }
            },
        };
        out.push(("MessageDecoder", err, read.load(Ordering::Relaxed)));
    }
    out
}

/// `Error` is not `Clone` (it may hold an `io::Error`); tests compare its text and variant.
fn clone_error(e: &Error) -> Error {
    match e {
        Error::Limit(l) => Error::Limit(l.clone()),
        Error::Format(f) => Error::Format(f.clone()),
        Error::Authentication(a) => Error::Authentication(a.clone()),
        Error::Keyring(k) => Error::Keyring(k.clone()),
        Error::Policy(p) => Error::Policy(p.clone()),
        other => Error::ApiMisuse(other.to_string()),
    }
}

#[tokio::test]
async fn a_hostile_frame_length_is_refused_before_the_frame_is_read() {
    let client = Client::new();
    // An authentic header declaring 1 GiB frames, the head of frame 1, then 1 GiB + 100 bytes
    // of anything.
    let mut header = header_with_frames(&client, 1 << 30).await;
    header.extend_from_slice(&[0, 0, 0, 1]);
    header.extend_from_slice(&[0; 12]);
    for release in [Release::Streaming, Release::verified(1 << 20)] {
        for (name, err, read) in
            through_every_adapter(&client, &header, (1 << 30) + 100, release).await
        {
            assert!(
                is_limit(&err, "Limits::max_frame_length"),
                "{name} {release:?}: {err}"
            );
            // The header and at most a read chunk or a write beyond it.
            assert!(
                read <= header.len() as u64 + 128 * 1024,
                "{name} {release:?}: read {read} bytes of a hostile message"
            );
        }
    }
    // Frames of the largest default size (4 MiB) pass; the limit can be raised.
    let big = header_with_frames(&client, 4 << 20).await;
    let mut d = client.header_decoder(Release::Streaming);
    assert!(d.decode(&mut BytesMut::from(&big[..])).unwrap().is_some());
    let raised = Client::builder()
        .limits(esdk::Limits::new().max_frame_length(1 << 30))
        .build();
    let mut d = raised.header_decoder(Release::Streaming);
    assert!(
        d.decode(&mut BytesMut::from(&header[..]))
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_hostile_non_framed_body_length_is_refused_before_the_body_is_read() {
    let suite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
    let message = fuzz::non_framed_message(suite, &[("purpose", "hostile")], b"tiny");
    let client = fuzz::encrypt_client(suite);
    // The body's u64 length (after its 12-byte IV) is not authenticated until the body tag: a
    // sender can declare 1 GiB there.
    let mut d = client.header_decoder(Release::Streaming);
    let mut buf = BytesMut::from(&message[..]);
    let parsed = d
        .decode(&mut buf)
        .unwrap()
        .expect("the header is all there");
    let at = parsed.header_len() + 12;
    let mut hostile = message[..at].to_vec();
    hostile.extend_from_slice(&(1u64 << 30).to_be_bytes());
    // The source must be the fuzz helpers' fixed key: swap it in for `aes_keys`.
    for (name, err, read) in
        through_every_adapter_with(&client, &fuzz::source(), &hostile, (1 << 30) + 100).await
    {
        assert!(is_limit(&err, "Limits::max_body_len"), "{name}: {err}");
        assert!(
            read <= hostile.len() as u64 + 128 * 1024,
            "{name}: read {read} bytes of a hostile message"
        );
    }
}

/// [`through_every_adapter`] in streaming mode with another materials source.
async fn through_every_adapter_with(
    client: &Client,
    source: &MaterialsSource,
    message: &[u8],
    flood: u64,
) -> Vec<(&'static str, Error, u64)> {
    let options = DecryptOptions::new();
    let mut out = Vec::new();
    let (inner, read) = Flood::new(message.to_vec(), flood);
    let err = match DecryptingReader::new(client, source, inner, &options).await {
        Err(e) => e,
        Ok(mut r) => {
            let mut sink = Vec::new();
            let e = r.read_to_end(&mut sink).await.unwrap_err();
            clone_error(esdk::io::error_of(&e).expect("typed"))
        }
    };
    out.push(("DecryptingReader", err, read.load(Ordering::Relaxed)));
    let (inner, read) = Flood::new(message.to_vec(), flood);
    let mut framed = FramedRead::new(inner, MessageDecoder::new(client, &options));
    let err = match esdk::io::codec::decrypt_header(&mut framed, source).await {
        Err(e) => e,
        Ok(_) => loop {
            match framed.next().await {
                Some(Ok(_)) => {}
                Some(Err(e)) => break e,
                None => panic!("a hostile message decrypted"),
            }
        },
    };
    out.push(("MessageDecoder", err, read.load(Ordering::Relaxed)));
    out
}

/// Peak RSS of a default streaming decryption of a hostile 1 GiB frame, for the report:
/// `/usr/bin/time -v target/debug/deps/hostile-* --ignored --exact rss_of_a_hostile_frame`.
#[tokio::test]
#[ignore = "a measurement for the report, run alone under /usr/bin/time -v"]
async fn rss_of_a_hostile_frame() {
    let client = Client::new();
    let mut start = header_with_frames(&client, 1 << 30).await;
    // The head of frame 1 (sequence number, IV): the decryptor then waits for the whole frame.
    start.extend_from_slice(&[0, 0, 0, 1]);
    start.extend_from_slice(&[0; 12]);
    let (inner, read) = Flood::new(start, (1 << 30) + 100);
    let outcome =
        match DecryptingReader::new(&client, aes_keys(), inner, &DecryptOptions::new()).await {
            Err(e) => e.to_string(),
            Ok(mut r) => {
                let mut sink = Vec::new();
                r.read_to_end(&mut sink).await.unwrap_err().to_string()
            }
        };
    println!("read {} bytes: {outcome}", read.load(Ordering::Relaxed));
}

// ---------------------------------------------------------------------------------------------
// Item 3: RSA PKCS#1 v1.5 unwrappings are candidates.

const RSA_A_PUBLIC: &str = include_str!("../src/keyring/testdata/rsa-2048-a.pub.pem");
const RSA_B_PUBLIC: &str = include_str!("../src/keyring/testdata/rsa-2048-b.pub.pem");
const RSA_B_PRIVATE: &str = include_str!("../src/keyring/testdata/rsa-2048-b.pem");

fn rsa(
    public: Option<&str>,
    private: Option<&str>,
    provider: &esdk::crypto::CryptoProvider,
) -> Arc<dyn Keyring> {
    // Same namespace and name for both keys, as the CLI once gave every RSA key.
    Arc::new(
        RawRsaKeyring::with_crypto_provider(
            "rsa",
            "key",
            RsaPadding::Pkcs1V15,
            public,
            private,
            provider,
        )
        .unwrap(),
    )
}

fn providers() -> Vec<(&'static str, &'static esdk::crypto::CryptoProvider)> {
    #[allow(unused_mut)]
    let mut p = vec![("rustcrypto", &esdk::crypto::rustcrypto::PROVIDER)];
    #[cfg(feature = "aws-lc")]
    p.push(("aws-lc", &esdk::crypto::aws_lc::PROVIDER));
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_of_two_rsa_recipients_with_one_name_decrypts_every_message() {
    const MESSAGES: usize = 1000;
    for (name, provider) in providers() {
        let client = Client::builder().crypto_provider(provider).build();
        // Recipient A's encrypted data key comes first: B's keyring meets it first.
        let both = MultiKeyring::new(
            Some(rsa(Some(RSA_A_PUBLIC), None, provider)),
            vec![rsa(Some(RSA_B_PUBLIC), None, provider)],
        )
        .unwrap();
        let both = MaterialsSource::from(both);
        let b = MaterialsSource::Keyring(rsa(None, Some(RSA_B_PRIVATE), provider));
        let mut ok = 0;
        let mut failures = Vec::new();
        for i in 0..MESSAGES {
            let plaintext = format!("message {i}");
            let msg = client.encrypt(&both, plaintext.as_bytes()).await.unwrap();
            match client.decrypt(&b, &msg.ciphertext).await {
                Ok(out) if out.plaintext == plaintext.as_bytes() => ok += 1,
                Ok(_) => failures.push("wrong plaintext".to_owned()),
                Err(e) => failures.push(e.to_string()),
            }
        }
        println!("{name}: the second RSA recipient decrypted {ok} of {MESSAGES} messages");
        assert_eq!(
            ok,
            MESSAGES,
            "{name}: {:?}",
            &failures[..failures.len().min(3)]
        );
    }
}

#[tokio::test]
async fn bad_padding_and_a_wrong_candidate_give_the_same_error() {
    for (name, provider) in providers() {
        let client = Client::builder().crypto_provider(provider).build();
        let a = MaterialsSource::Keyring(rsa(Some(RSA_A_PUBLIC), None, provider));
        let msg = client.encrypt(&a, b"for A").await.unwrap();
        let header = msg.header.clone();
        let b = rsa(None, Some(RSA_B_PRIVATE), provider);
        let request =
            esdk::cmm::DecryptMaterialsRequest::new(&header, client.commitment_policy(), None);
        let materials = || {
            esdk::DecryptionMaterials::new(
                header.algorithm_suite(),
                header.encryption_context().clone(),
                vec![],
                None,
            )
            .with_request_checks(&request)
        };
        let edk = &header.encrypted_data_keys()[0];
        // A's key under B's private key: implicit rejection (a random result) or a padding
        // error, by backend and by chance. And a ciphertext that is certainly bad padding.
        let wrong_key = [edk.clone()];
        let bad_padding = [esdk::EncryptedDataKey::new(
            "rsa",
            b"key".to_vec(),
            vec![0u8; 256],
        )];
        let mut reasons = Vec::new();
        for edks in [&wrong_key[..], &bad_padding[..]] {
            match b.on_decrypt(materials(), edks).await {
                Err(Error::Keyring(KeyringError::NoDecryptableKey { attempts })) => {
                    assert_eq!(attempts.len(), 1);
                    reasons.push(attempts[0].reason.clone());
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        assert_eq!(reasons[0], reasons[1], "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// Item 6: the declared plaintext length is enforced.

#[tokio::test]
async fn more_plaintext_than_declared_fails_in_every_encrypting_adapter() {
    let client = Client::new();
    let options = EncryptOptions::new()
        .max_plaintext_length(10)
        .frame_length(FrameLength::new(4).unwrap());
    let declared = |e: &Error| matches!(e, Error::Limit(LimitError::PlaintextLengthExceeded(10)));
    let typed = |e: &io::Error| esdk::io::error_of(e).is_some_and(declared);
    // The sans-IO encryptor.
    let mut enc = client.encryptor(&aes_keys(), &options).await.unwrap();
    let mut out = BytesMut::new();
    enc.update(&[1; 10], &mut out).unwrap();
    assert!(declared(&enc.update(&[1], &mut out).unwrap_err()));
    // EncryptingWriter.
    let mut w = EncryptingWriter::new(&client, aes_keys(), Vec::new(), &options)
        .await
        .unwrap();
    let e = w.write_all(&[2; 11]).await.unwrap_err();
    assert!(typed(&e), "{e}");
    // EncryptingReader, with and without batches.
    for par in [
        esdk::parallel::Parallelism::off(),
        esdk::parallel::Parallelism::default()
            .min_bytes(1)
            .batch_bytes(4),
    ] {
        let c = Client::builder().parallelism(par).build();
        let mut r = EncryptingReader::new(&c, aes_keys(), &[3u8; 100][..], &options)
            .await
            .unwrap();
        let mut sink = Vec::new();
        let e = r.read_to_end(&mut sink).await.unwrap_err();
        assert!(typed(&e), "{e}");
    }
    // encrypt_stream.
    let items = futures::stream::iter([
        Ok::<_, io::Error>(Bytes::from_static(&[4; 7])),
        Ok(Bytes::from_static(&[4; 7])),
    ]);
    let mut s = esdk::io::encrypt_stream(&client, aes_keys(), items, &options)
        .await
        .unwrap();
    let mut last = None;
    while let Some(item) = s.next().await {
        if let Err(e) = item {
            last = Some(e);
            break;
        }
    }
    assert!(last.as_ref().is_some_and(declared), "{last:?}");
    // The codec.
    let enc = MessageEncoder::new(&client, aes_keys(), &options)
        .await
        .unwrap();
    let mut framed = FramedWrite::new(Vec::new(), enc);
    framed
        .send(esdk::io::EncryptItem::Data(Bytes::from_static(&[5; 8])))
        .await
        .unwrap();
    let e = framed
        .send(esdk::io::EncryptItem::Data(Bytes::from_static(&[5; 8])))
        .await
        .unwrap_err();
    assert!(declared(&e), "{e}");
    // Exactly the declared length is fine.
    let mut w = EncryptingWriter::new(&client, aes_keys(), Vec::new(), &options)
        .await
        .unwrap();
    w.write_all(&[6; 10]).await.unwrap();
    w.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_caching_cmm_byte_limit_cannot_be_bypassed_by_a_small_declared_length() {
    let cache = Arc::new(esdk::LocalMaterialsCache::new(10));
    let keyring: Arc<dyn Keyring> =
        Arc::new(RawAesKeyring::new("hostile", "aes", &[7u8; 32]).unwrap());
    let cmm =
        esdk::CachingCmm::builder_with_keyring(keyring, cache, std::time::Duration::from_secs(60))
            .limit_bytes(100)
            .build()
            .unwrap();
    let source = MaterialsSource::from(cmm);
    let client = Client::new();
    // Declare 1 byte (well under the 100-byte limit), then try to stream a megabyte under the
    // same cached data key.
    let options = EncryptOptions::new().max_plaintext_length(1);
    let mut w = EncryptingWriter::new(&client, &source, Vec::new(), &options)
        .await
        .unwrap();
    let e = w.write_all(&vec![7u8; 1 << 20]).await.unwrap_err();
    assert!(
        esdk::io::error_of(&e)
            .is_some_and(|e| matches!(e, Error::Limit(LimitError::PlaintextLengthExceeded(1)))),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// Item 7: bounded work per message.

#[tokio::test]
async fn keyrings_stop_at_the_attempt_limit_and_errors_list_a_bounded_number() {
    // 50 data keys wrapped under 50 AES keys of one namespace and name... all wrong for the
    // decrypting key: each is an attempt (an AES-GCM unwrap).
    let wrappers: Vec<Arc<dyn Keyring>> = (0..50u8)
        .map(|i| {
            Arc::new(RawAesKeyring::new("hostile", "aes", &[i.wrapping_add(100); 32]).unwrap())
                as Arc<dyn Keyring>
        })
        .collect();
    let many = MultiKeyring::new(Some(wrappers[0].clone()), wrappers[1..].to_vec()).unwrap();
    let msg = Client::new().encrypt(many, b"x").await.unwrap();
    assert_eq!(msg.header.encrypted_data_keys().len(), 50);
    // Without a limit: every data key is tried, and the error lists ten of them.
    let err = Client::new()
        .decrypt(aes_keys(), &msg.ciphertext)
        .await
        .unwrap_err();
    let Error::Keyring(KeyringError::NoDecryptableKey { attempts }) = &err else {
        panic!("{err}")
    };
    assert_eq!(attempts.len(), 50);
    let text = err.to_string();
    assert_eq!(
        text.matches("raw-aes(hostile/aes)").count(),
        esdk::error::MAX_LISTED_ATTEMPTS,
        "{text}"
    );
    assert!(text.contains("and 40 more"), "{text}");
    // With a limit of 60 data keys and three keyrings that each try all 50: 60 attempts in all,
    // then the keyrings stop.
    let three = MultiKeyring::new(
        None,
        vec![
            Arc::new(RawAesKeyring::new("hostile", "aes", &[1; 32]).unwrap()) as Arc<dyn Keyring>,
            Arc::new(RawAesKeyring::new("hostile", "aes", &[2; 32]).unwrap()),
            Arc::new(RawAesKeyring::new("hostile", "aes", &[3; 32]).unwrap()),
        ],
    )
    .unwrap();
    let limited = Client::builder().max_encrypted_data_keys(60).build();
    let err = limited.decrypt(three, &msg.ciphertext).await.unwrap_err();
    let Error::Keyring(KeyringError::NoDecryptableKey { attempts }) = &err else {
        panic!("{err}")
    };
    let tried = attempts
        .iter()
        .filter(|a| a.reason.contains("unwrapping failed"))
        .count();
    assert_eq!(tried, 60, "{err}");
    assert!(
        attempts
            .iter()
            .any(|a| a.reason.contains("Limits::max_encrypted_data_keys")),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Item 8: the small ones.

#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_spill_file_is_readable_by_its_owner_alone() {
    use std::os::unix::fs::PermissionsExt;
    let client = Client::new();
    let options = EncryptOptions::new().frame_length(FrameLength::new(1024).unwrap());
    let plaintext = vec![9u8; 256 * 1024];
    let mut w = EncryptingWriter::new(&client, aes_keys(), Vec::new(), &options)
        .await
        .unwrap();
    w.write_all(&plaintext).await.unwrap();
    w.shutdown().await.unwrap();
    let message = w.into_inner();
    // Verified mode, nothing held in memory: everything spills.
    let opts = DecryptOptions::new().release(Release::verified(0));
    let mut r = DecryptingReader::new(&client, aes_keys(), &message[..], &opts)
        .await
        .unwrap();
    let mut out = Vec::new();
    r.read_to_end(&mut out).await.unwrap();
    assert_eq!(out, plaintext);
    // The reader still holds its spill file: find it among this process's open files.
    let mut spills = 0;
    for fd in std::fs::read_dir("/proc/self/fd").unwrap() {
        let path = fd.unwrap().path();
        let Ok(target) = std::fs::read_link(&path) else {
            continue;
        };
        let t = target.to_string_lossy();
        if t.contains(".esdk-spill-")
            || (t.starts_with(&*std::env::temp_dir().to_string_lossy()) && t.ends_with("(deleted)"))
        {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{t}: mode {mode:o}");
            spills += 1;
        }
    }
    assert!(spills >= 1, "no spill file found");
    drop(r);
}

/// Rewrites the `KeyId` of every KMS `Decrypt` response, as a confused or hostile endpoint
/// could.
#[cfg(feature = "hierarchy")]
#[derive(Debug)]
struct OtherKeyId(String);

#[cfg(feature = "hierarchy")]
impl aws_sdk_kms::config::Intercept for OtherKeyId {
    fn name(&self) -> &'static str {
        "OtherKeyId"
    }

    fn modify_before_completion(
        &self,
        context: &mut aws_sdk_kms::config::interceptors::FinalizerInterceptorContextMut<'_>,
        _: &aws_sdk_kms::config::RuntimeComponents,
        _: &mut aws_sdk_kms::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if let Some(Ok(out)) = context.output_or_error_mut()
            && let Some(d) = out.downcast_mut::<aws_sdk_kms::operation::decrypt::DecryptOutput>()
        {
            d.key_id = Some(self.0.clone());
        }
        Ok(())
    }
}

#[cfg(feature = "hierarchy")]
#[tokio::test]
async fn the_key_store_checks_the_key_id_of_kms_decrypt_responses() {
    use esdk::keyring::aws_kms::KmsClient;
    use esdk::keyring::{DynamoDbKeyStore, KmsConfiguration};
    let Some(endpoint) = common::endpoint("ESDK_KMS_ENDPOINT", "the key store KeyId check") else {
        return;
    };
    let region = "us-west-2";
    let kms = common::kms_sdk_client(&endpoint, region);
    let arn = |out: aws_sdk_kms::operation::create_key::CreateKeyOutput| {
        out.key_metadata().and_then(|m| m.arn()).unwrap().to_owned()
    };
    let key = arn(kms.create_key().send().await.unwrap());
    let other = arn(kms.create_key().send().await.unwrap());
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(aws_sdk_dynamodb::config::Region::new(region))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .build(),
    );
    let table = format!("hostile-{}-{}", std::process::id(), key.len());
    let store = |kms: aws_sdk_kms::Client| {
        DynamoDbKeyStore::builder()
            .dynamodb_client(ddb.clone())
            .kms_client(KmsClient::from_sdk_client(kms))
            .table_name(&table)
            .logical_key_store_name(&table)
            .kms_configuration(KmsConfiguration::KmsKeyArn(key.clone()))
            .build()
            .unwrap()
    };
    let honest = store(kms.clone());
    honest.create_key_store().await.unwrap();
    let id = honest
        .create_key(None, &esdk::EncryptionContext::new())
        .await
        .unwrap();
    honest.get_active_branch_key(&id).await.unwrap();
    // The same store, whose KMS answers Decrypt naming another key.
    let lying = kms
        .config()
        .to_builder()
        .interceptor(OtherKeyId(other.clone()))
        .build();
    let lying = store(aws_sdk_kms::Client::from_conf(lying));
    let err = lying.get_active_branch_key(&id).await.unwrap_err();
    assert!(
        matches!(&err, Error::Keyring(KeyringError::Service { message, .. }) if message.contains(&other)),
        "{err}"
    );
}
