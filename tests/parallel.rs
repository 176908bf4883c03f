//! Frames on every core: parallel output is byte for byte what one thread writes (same random
//! values), decryption in batches accepts exactly what sequential decryption accepts, and a
//! damaged message fails the same way, with nothing unauthenticated released, on both sides of
//! the parallel threshold and of batch boundaries.

use std::sync::atomic::{AtomicU64, Ordering};

use esdk::cmm::{
    CryptographicMaterialsManager, DecryptMaterialsRequest, DefaultCmm, EncryptionMaterialsRequest,
};
use esdk::crypto::{CryptoProvider, SecureRandom};
use esdk::io::{
    DecryptOptions, DecryptingReader, DecryptingWriter, EncryptingReader, EncryptingWriter,
    decrypt_stream, error_of,
};
use esdk::parallel::Parallelism;
use esdk::{
    AlgorithmSuite, Client, CommitmentPolicy, DecryptionMaterials, EncryptOptions,
    EncryptionMaterials, FrameLength, MaterialsSource, RawAesKeyring,
};
use futures::StreamExt;
use futures::executor::block_on;
use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A deterministic random source: byte `i` of its stream is a function of `i`.
struct Counter(AtomicU64);

impl SecureRandom for Counter {
    fn fill(&self, buf: &mut [u8]) -> esdk::Result<()> {
        for b in buf.iter_mut() {
            let i = self.0.fetch_add(1, Ordering::Relaxed);
            *b = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8;
        }
        Ok(())
    }
}

/// `base` with a fresh deterministic random source, so two clients draw the same values.
fn replaying(base: &'static CryptoProvider) -> &'static CryptoProvider {
    Box::leak(Box::new(CryptoProvider {
        random: Box::leak(Box::new(Counter(AtomicU64::new(0)))),
        ..*base
    }))
}

/// Hands out the same encryption materials (data key, EDK, signing key) every time.
#[derive(Debug)]
struct FixedCmm {
    materials: EncryptionMaterials,
    inner: DefaultCmm,
}

impl CryptographicMaterialsManager for FixedCmm {
    fn get_encryption_materials<'a>(
        &'a self,
        _: EncryptionMaterialsRequest,
    ) -> BoxFuture<'a, esdk::Result<EncryptionMaterials>> {
        Box::pin(async move { Ok(self.materials.clone()) })
    }

    fn decrypt_materials<'a>(
        &'a self,
        request: DecryptMaterialsRequest,
    ) -> BoxFuture<'a, esdk::Result<DecryptionMaterials>> {
        self.inner.decrypt_materials(request)
    }
}

fn keyring(provider: &'static CryptoProvider) -> RawAesKeyring {
    RawAesKeyring::with_crypto_provider("test-ns", "key", &[0x5a; 32], provider).unwrap()
}

fn policy(suite: AlgorithmSuite) -> CommitmentPolicy {
    if suite.is_committing() {
        CommitmentPolicy::REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    } else {
        CommitmentPolicy::FORBID_ENCRYPT_ALLOW_DECRYPT
    }
}

fn fixed_source(suite: AlgorithmSuite, provider: &'static CryptoProvider) -> MaterialsSource {
    let inner = DefaultCmm::new(std::sync::Arc::new(keyring(provider))).crypto_provider(provider);
    let mut request = EncryptionMaterialsRequest::new(
        [("purpose", "parallel")].into_iter().collect(),
        policy(suite),
    );
    request.algorithm_suite = Some(suite);
    let materials = block_on(inner.get_encryption_materials(request)).unwrap();
    MaterialsSource::cmm(FixedCmm { materials, inner })
}

fn client(suite: AlgorithmSuite, provider: &'static CryptoProvider, par: Parallelism) -> Client {
    Client::builder()
        .commitment_policy(policy(suite))
        .crypto_provider(provider)
        .parallelism(par)
        .build()
}

/// Parallel in batches of three frames from the first byte on.
fn eager() -> Parallelism {
    Parallelism::default().threads(0).min_bytes(0)
}

/// The options for `suite` and `frame`, and the message one thread writes with them (the
/// reference the parallel paths must equal byte for byte).
fn one_thread(
    suite: AlgorithmSuite,
    base: &'static CryptoProvider,
    source: &MaterialsSource,
    pt: &[u8],
    frame: usize,
) -> (EncryptOptions, Vec<u8>) {
    let options = EncryptOptions::new()
        .algorithm_suite(suite)
        .frame_length(FrameLength::new(frame as u32).unwrap());
    let one = block_on(
        client(suite, replaying(base), Parallelism::off())
            .encrypt(source, pt)
            .options(options.clone())
            .into_future(),
    )
    .unwrap()
    .ciphertext;
    (options, one)
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn providers() -> Vec<(&'static str, &'static CryptoProvider)> {
    #[allow(unused_mut)]
    let mut v: Vec<(&'static str, &'static CryptoProvider)> =
        vec![("rustcrypto", &esdk::crypto::rustcrypto::PROVIDER)];
    #[cfg(feature = "aws-lc")]
    v.push(("aws-lc", &esdk::crypto::aws_lc::PROVIDER));
    v
}

/// Signature bytes differ between runs when the backend's ECDSA is randomized (aws-lc); the
/// rest of the message must not.
fn without_footer(suite: AlgorithmSuite, msg: &[u8], randomized: bool) -> &[u8] {
    if !suite.is_signing() || !randomized {
        return msg;
    }
    // Footer: u16 length ‖ DER signature (SEQUENCE tag, short-form length, INTEGER tag). All
    // five bytes must fit: random signature bytes match the length field alone about once in
    // 65,536 positions, which made this comparison flaky.
    (0..msg.len().saturating_sub(5))
        .rev()
        .find(|&at| {
            let sig = msg.len() - at - 2;
            u16::from_be_bytes([msg[at], msg[at + 1]]) as usize == sig
                && (8..128).contains(&sig)
                && msg[at + 2] == 0x30
                && msg[at + 3] as usize == sig - 2
                && msg[at + 4] == 0x02
        })
        .map_or(msg, |at| &msg[..at])
}

const SUITES: [u16; 4] = [0x0478, 0x0578, 0x0178, 0x0078];

#[test]
fn parallel_output_is_byte_identical() {
    let mut compared = 0;
    for (name, base) in providers() {
        for id in SUITES {
            let suite = AlgorithmSuite::from_id(id).unwrap();
            let source = fixed_source(suite, base);
            for frame in [1usize, 7, 512, 4096] {
                let sizes = [
                    0,
                    1,
                    frame - 1,
                    frame,
                    frame + 1,
                    3 * frame,
                    3 * frame + 1,
                    10 * frame + 5,
                    31 * frame,
                ];
                for size in sizes {
                    let pt = plaintext(size);
                    let fl = FrameLength::new(frame as u32).unwrap();
                    let seal = |par: Parallelism| {
                        let c = client(suite, replaying(base), par);
                        block_on(
                            c.encrypt(&source, &pt)
                                .algorithm_suite(suite)
                                .frame_length(fl)
                                .into_future(),
                        )
                        .unwrap()
                        .ciphertext
                    };
                    let one = seal(Parallelism::off());
                    for par in [eager().batch_bytes(3 * frame), eager().batch_bytes(1)] {
                        let many = seal(par);
                        let randomized = name == "aws-lc";
                        assert!(
                            without_footer(suite, &one, randomized)
                                == without_footer(suite, &many, randomized),
                            "{name} {id:04x} frame {frame} size {size}: parallel bytes differ"
                        );
                        for (what, ct) in [("one", &one), ("many", &many)] {
                            for p in [Parallelism::off(), par] {
                                let got = block_on(
                                    client(suite, base, p).decrypt(&source, ct).into_future(),
                                )
                                .unwrap_or_else(|e| panic!("{name} {id:04x} {what}: {e}"));
                                assert_eq!(got.plaintext, pt);
                            }
                        }
                        compared += 1;
                    }
                }
            }
        }
    }
    eprintln!("{compared} parallel messages equal to the sequential ones");
    assert!(compared >= 4 * 4 * 9 * 2);
}

#[test]
fn default_threshold_is_crossed_identically() {
    // Around the default threshold, with the default batch size.
    let base = &esdk::crypto::rustcrypto::PROVIDER;
    for id in [0x0478u16, 0x0578] {
        let suite = AlgorithmSuite::from_id(id).unwrap();
        let source = fixed_source(suite, base);
        let min = esdk::parallel::DEFAULT_MIN_BYTES;
        for size in [min - 1, min, min + 4097, 5 << 20] {
            let pt = plaintext(size);
            let seal = |par: Parallelism| {
                block_on(
                    client(suite, replaying(base), par)
                        .encrypt(&source, &pt)
                        .algorithm_suite(suite)
                        .into_future(),
                )
                .unwrap()
                .ciphertext
            };
            let one = seal(Parallelism::off());
            let many = seal(Parallelism::default().threads(2));
            assert!(one == many, "{id:04x} size {size}");
            let got = block_on(
                client(suite, base, Parallelism::default().threads(2))
                    .decrypt(&source, &many)
                    .into_future(),
            )
            .unwrap();
            assert!(got.plaintext == pt);
        }
    }
}

/// Decrypts `ct` through a `DecryptingReader`: what it released before it stopped, and how it
/// stopped.
async fn read_all(c: &Client, source: &MaterialsSource, ct: &[u8]) -> (Vec<u8>, Option<String>) {
    let mut released = Vec::new();
    let mut reader = match DecryptingReader::new(c, source, ct, &DecryptOptions::new()).await {
        Ok(r) => r,
        Err(e) => return (released, Some(format!("{e:?}"))),
    };
    let mut buf = vec![0u8; 1000];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) => return (released, None),
            Ok(n) => released.extend_from_slice(&buf[..n]),
            Err(e) => {
                let inner = error_of(&e).map_or_else(|| format!("{e:?}"), |t| format!("{t:?}"));
                return (released, Some(inner));
            }
        }
    }
}

/// Decrypts `ct` written in `piece`-byte writes to a `DecryptingWriter`: what reached its
/// sink, and how it stopped.
async fn write_all(
    c: &Client,
    source: &MaterialsSource,
    ct: &[u8],
    piece: usize,
) -> (Vec<u8>, Option<String>) {
    let mut w = DecryptingWriter::new(c, source, Vec::new(), &DecryptOptions::new());
    let mut outcome = Ok(());
    for p in ct.chunks(piece) {
        outcome = w.write_all(p).await;
        if outcome.is_err() {
            break;
        }
    }
    if outcome.is_ok() {
        outcome = w.shutdown().await;
    }
    let err = outcome
        .err()
        .map(|e| error_of(&e).map_or_else(|| format!("{e:?}"), |t| format!("{t:?}")));
    (w.into_inner(), err)
}

/// Decrypts `ct`, cut in `piece`-byte items, through `decrypt_stream`.
async fn stream_all(
    c: &Client,
    source: &MaterialsSource,
    ct: &[u8],
    piece: usize,
) -> (Vec<u8>, Option<String>) {
    let items: Vec<Result<bytes::Bytes, std::io::Error>> = ct
        .chunks(piece)
        .map(|p| Ok(bytes::Bytes::copy_from_slice(p)))
        .collect();
    let mut released = Vec::new();
    let mut s = match decrypt_stream(
        c,
        source,
        futures::stream::iter(items),
        &DecryptOptions::new(),
    )
    .await
    {
        Ok(s) => s,
        Err(e) => return (released, Some(format!("{e:?}"))),
    };
    while let Some(item) = s.next().await {
        match item {
            Ok(b) => released.extend_from_slice(&b),
            Err(e) => return (released, Some(format!("{e:?}"))),
        }
    }
    (released, None)
}

/// Every cut and a flip of every byte of the body: the parallel one-shot call and the parallel
/// `DecryptingReader` fail exactly as the sequential one-shot does, and the reader, the
/// `DecryptingWriter` and `decrypt_stream` (in batches) fail and release only a prefix of the
/// plaintext made of whole verified frames (for a signed message, never the final frame).
#[test]
fn damaged_messages_fail_cleanly_in_batches() {
    let base = &esdk::crypto::rustcrypto::PROVIDER;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut cases = 0;
    for id in [0x0478u16, 0x0578, 0x0078] {
        let suite = AlgorithmSuite::from_id(id).unwrap();
        let source = fixed_source(suite, base);
        let frame = 64usize;
        let pt = plaintext(10 * frame + 5);
        let fl = FrameLength::new(frame as u32).unwrap();
        let ct = block_on(
            client(suite, base, Parallelism::off())
                .encrypt(&source, &pt)
                .algorithm_suite(suite)
                .frame_length(fl)
                .into_future(),
        )
        .unwrap()
        .ciphertext;
        let seq = client(suite, base, Parallelism::off());
        let par = client(suite, base, eager().batch_bytes(3 * frame));
        let header_len = {
            let mut d = seq.header_decoder(esdk::io::Release::Streaming);
            let mut b = bytes::BytesMut::from(&ct[..]);
            d.decode(&mut b).unwrap().unwrap().header_len()
        };
        let regular = 10 * frame;
        let mut damaged: Vec<Vec<u8>> = (header_len..ct.len()).map(|n| ct[..n].to_vec()).collect();
        for at in header_len..ct.len() {
            let mut m = ct.clone();
            m[at] ^= 0x01;
            damaged.push(m);
        }
        // Trailing bytes last: the message itself verifies, so all of it may have been released.
        let mut extra = ct.clone();
        extra.push(0);
        damaged.push(extra);
        let truncations = ct.len() - header_len;
        // A regular frame on the wire: sequence number, IV, content, tag.
        let wire = 4 + 12 + frame + 16;
        for (i, m) in damaged.iter().enumerate() {
            let trailing = i == damaged.len() - 1;
            // The regular frame a flipped byte is in: nothing from it on may come out (the
            // batches after a damaged one may already be open, never released).
            let flipped_frame = (i >= truncations && !trailing)
                .then(|| (i - truncations) / wire)
                .filter(|&k| k < 10);
            let want = block_on(seq.decrypt(&source, m).into_future())
                .map(|o| o.plaintext)
                .map_err(|e| format!("{e:?}"));
            let got = block_on(par.decrypt(&source, m).into_future())
                .map(|o| o.plaintext)
                .map_err(|e| format!("{e:?}"));
            assert_eq!(got, want, "{id:04x}: one-shot in batches differs");
            let want = want.expect_err("a damaged message decrypted");
            let outcomes = [
                ("reader", rt.block_on(read_all(&par, &source, m))),
                ("writer", rt.block_on(write_all(&par, &source, m, 200))),
                ("stream", rt.block_on(stream_all(&par, &source, m, 300))),
            ];
            for (what, (released, err)) in outcomes {
                let err =
                    err.unwrap_or_else(|| panic!("{what} ended cleanly on a damaged message"));
                if what == "reader" {
                    assert_eq!(err, want, "{id:04x}: {what} error differs");
                }
                assert!(
                    pt.starts_with(&released),
                    "{id:04x}: {what} released non-plaintext"
                );
                if trailing {
                    continue;
                }
                assert_eq!(
                    released.len() % frame,
                    0,
                    "{id:04x}: {what} released part of a frame"
                );
                if suite.is_signing() {
                    assert!(
                        released.len() <= regular,
                        "{id:04x}: {what} released the final frame"
                    );
                }
                if let Some(k) = flipped_frame {
                    assert!(
                        released.len() <= k * frame,
                        "{id:04x}: {what} released frame {k}, which was damaged, or one after it"
                    );
                }
            }
            cases += 1;
        }
        // And intact, every way.
        assert_eq!(
            rt.block_on(read_all(&par, &source, &ct)),
            (pt.clone(), None)
        );
        assert_eq!(
            rt.block_on(write_all(&par, &source, &ct, 200)),
            (pt.clone(), None)
        );
        assert_eq!(
            rt.block_on(stream_all(&par, &source, &ct, 300)),
            (pt.clone(), None)
        );
    }
    eprintln!("{cases} damaged messages refused the same way in batches");
}

/// The encrypting adapters in batches write the same bytes as one thread.
#[test]
fn streaming_adapters_in_batches_are_byte_identical() {
    let base = &esdk::crypto::rustcrypto::PROVIDER;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    for id in [0x0478u16, 0x0578] {
        let suite = AlgorithmSuite::from_id(id).unwrap();
        let source = fixed_source(suite, base);
        for (frame, size) in [
            (64usize, 0usize),
            (64, 64),
            (64, 64 * 40 + 3),
            (4096, 3 << 20),
        ] {
            let pt = plaintext(size);
            let (options, one) = one_thread(suite, base, &source, &pt, frame);
            for par in [eager().batch_bytes(3 * frame), Parallelism::default()] {
                let via_reader = rt.block_on(async {
                    let c = client(suite, replaying(base), par);
                    let mut r = EncryptingReader::new(&c, &source, &pt[..], &options)
                        .await
                        .unwrap();
                    let mut out = Vec::new();
                    r.read_to_end(&mut out).await.unwrap();
                    out
                });
                assert!(
                    via_reader == one,
                    "{id:04x} {frame} {size}: EncryptingReader differs"
                );
                let via_writer = rt.block_on(async {
                    let c = client(suite, replaying(base), par);
                    let sink = std::io::Cursor::new(Vec::new());
                    let mut w = EncryptingWriter::new(&c, &source, sink, &options)
                        .await
                        .unwrap();
                    // Odd write sizes, so batches and frames do not line up with writes.
                    for piece in pt.chunks(frame * 5 + 3) {
                        w.write_all(piece).await.unwrap();
                    }
                    w.shutdown().await.unwrap();
                    w.into_inner().into_inner()
                });
                assert!(
                    via_writer == one,
                    "{id:04x} {frame} {size}: EncryptingWriter differs"
                );
                let (released, err) =
                    rt.block_on(read_all(&client(suite, base, par), &source, &one));
                assert_eq!(err, None);
                assert!(released == pt);
            }
        }
    }
}

/// Frame lengths that do not divide the batch size (5,000 B, 12 KiB) batch too, through
/// `tokio::io::copy` (8 KiB writes) on a multi-thread runtime, and the output is byte for byte
/// what one thread writes: an exact multiple of the frame length still ends with an empty
/// final frame.
#[test]
fn odd_frame_lengths_through_copy_are_byte_identical() {
    let base = &esdk::crypto::rustcrypto::PROVIDER;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    for id in [0x0478u16, 0x0578] {
        let suite = AlgorithmSuite::from_id(id).unwrap();
        let source = fixed_source(suite, base);
        for frame in [5000usize, 12288] {
            for size in [frame * 20, frame * 20 + 1, 100_003] {
                let pt = plaintext(size);
                let (options, one) = one_thread(suite, base, &source, &pt, frame);
                let par = eager().threads(2).batch_bytes(40_000);
                let via_copy = rt.block_on(async {
                    let c = client(suite, replaying(base), par);
                    let mut w = EncryptingWriter::new(&c, &source, Vec::new(), &options)
                        .await
                        .unwrap();
                    tokio::io::copy(&mut &pt[..], &mut w).await.unwrap();
                    w.shutdown().await.unwrap();
                    w.into_inner()
                });
                assert!(via_copy == one, "{id:04x} {frame} {size}: writer differs");
                let via_stream = rt.block_on(async {
                    let c = client(suite, replaying(base), par);
                    let items = futures::stream::iter(
                        pt.chunks(8192)
                            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
                            .collect::<Vec<_>>(),
                    );
                    let mut s = esdk::io::encrypt_stream(&c, &source, items, &options)
                        .await
                        .unwrap();
                    let mut out = Vec::new();
                    while let Some(item) = s.next().await {
                        out.extend_from_slice(&item.unwrap());
                    }
                    out
                });
                assert!(via_stream == one, "{id:04x} {frame} {size}: stream differs");
                let back = rt.block_on(async {
                    let c = client(suite, base, par);
                    let mut r =
                        DecryptingReader::new(&c, &source, &one[..], &DecryptOptions::new())
                            .await
                            .unwrap();
                    let mut out = Vec::new();
                    tokio::io::copy(&mut r, &mut out).await.unwrap();
                    out
                });
                assert!(back == pt, "{id:04x} {frame} {size}: reader plaintext");
            }
        }
    }
}
