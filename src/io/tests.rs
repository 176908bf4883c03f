//! Batches of frames through the streaming adapters: gathered from small writes and items,
//! whole frames of any length (not only divisors of the batch size), and really run on the
//! pool. Work is counted, never timed.

use bytes::Bytes;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_util::codec::Encoder;

use super::{
    DecryptOptions, DecryptingReader, DecryptingWriter, EncryptItem, EncryptingReader,
    EncryptingWriter, MessageEncoder, decrypt_stream, encrypt_stream,
};
use crate::parallel::Parallelism;
use crate::{
    AlgorithmSuite, Client, CommitmentPolicy, EncryptOptions, FrameLength, MaterialsSource,
    RawAesKeyring,
};

/// Batches of at least 40,000 plaintext bytes on two threads, whatever their size.
fn batching() -> Parallelism {
    Parallelism::default()
        .threads(2)
        .min_bytes(0)
        .batch_bytes(40_000)
}

fn client(par: Parallelism) -> Client {
    Client::builder()
        .commitment_policy(CommitmentPolicy::REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
        .parallelism(par)
        .build()
}

fn keys() -> MaterialsSource {
    MaterialsSource::from(RawAesKeyring::new("ns", "key", &[3u8; 32]).unwrap())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 253) as u8).collect()
}

/// Odd frame lengths (neither divides the batch size), both suites kinds.
const CASES: [(u32, u16); 4] = [
    (5000, 0x0478),
    (12288, 0x0478),
    (5000, 0x0578),
    (12288, 0x0578),
];

/// Batches on the pool for `len` plaintext bytes in `frame` byte frames: every regular frame
/// goes in a batch of `batch_frames`, the last one perhaps shorter (with `min_bytes(0)` even a
/// short batch is worth the pool).
fn pooled(len: usize, frame: usize) -> u64 {
    (len / frame).div_ceil(batching().batch_frames(frame)) as u64
}

fn options(frame: u32, id: u16) -> EncryptOptions {
    EncryptOptions {
        algorithm_suite: Some(AlgorithmSuite::from_id(id).unwrap()),
        frame_length: FrameLength::new(frame).unwrap(),
        ..EncryptOptions::new()
    }
}

/// `tokio::io::copy` writes 8 KiB at a time: the writer gathers them into batches of whole
/// frames (5,000 B and 12 KiB frames alike) and seals each batch on the pool; the reader opens
/// the message in batches read ahead; the plaintext comes back whole.
#[test]
fn copy_through_writer_and_reader_runs_batches_on_the_pool() {
    let rt = runtime();
    let keys = keys();
    let c = client(batching());
    for (frame, id) in CASES {
        let pt = plaintext(200_777);
        let f = frame as usize;
        let batches = pooled(pt.len(), f);
        assert!(batches >= 4);
        rt.block_on(async {
            let mut w = EncryptingWriter::new(&c, &keys, Vec::new(), &options(frame, id))
                .await
                .unwrap();
            let copied = tokio::io::copy(&mut &pt[..], &mut w).await.unwrap();
            w.shutdown().await.unwrap();
            assert_eq!(copied, pt.len() as u64);
            assert_eq!(
                w.pool_batches(),
                batches,
                "{frame} {id:04x}: writer batches"
            );
            let ct = w.into_inner();

            let mut r = DecryptingReader::new(&c, &keys, &ct[..], &DecryptOptions::new())
                .await
                .unwrap();
            let mut out = Vec::new();
            tokio::io::copy(&mut r, &mut out).await.unwrap();
            assert!(out == pt, "{frame} {id:04x}: reader plaintext");
            assert_eq!(
                r.pool_batches(),
                batches,
                "{frame} {id:04x}: reader batches"
            );
            // Never more than two batches on the pool; a signed message's one at a time.
            let signed = AlgorithmSuite::from_id(id).unwrap().is_signing();
            assert!(r.most_in_flight() <= if signed { 1 } else { 2 });

            // The same ciphertext pushed through a DecryptingWriter in 8 KiB writes.
            let mut dw = DecryptingWriter::new(&c, &keys, Vec::new(), &DecryptOptions::new());
            tokio::io::copy(&mut &ct[..], &mut dw).await.unwrap();
            dw.shutdown().await.unwrap();
            assert!(
                dw.pool_batches() >= batches,
                "{frame} {id:04x}: writer batches"
            );
            assert!(dw.into_inner() == pt, "{frame} {id:04x}: writer plaintext");

            // And a one-shot decryption without parallelism agrees.
            let one = client(Parallelism::off())
                .decrypt(&keys, &ct)
                .await
                .unwrap()
                .plaintext;
            assert!(one == pt);
        });
    }
}

/// The stream transforms and the encrypting reader gather 8 KiB items or reads into batches.
#[test]
fn streams_and_reader_gather_batches() {
    let rt = runtime();
    let keys = keys();
    let c = client(batching());
    for (frame, id) in CASES {
        let pt = plaintext(150_001);
        let f = frame as usize;
        let batches = pooled(pt.len(), f);
        assert!(batches >= 3);
        rt.block_on(async {
            let items = futures::stream::iter(
                pt.chunks(8192)
                    .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
                    .collect::<Vec<_>>(),
            );
            let mut enc = encrypt_stream(&c, &keys, items, &options(frame, id))
                .await
                .unwrap();
            let mut ct = Vec::new();
            while let Some(item) = enc.next().await {
                ct.extend_from_slice(&item.unwrap());
            }
            assert_eq!(
                enc.pool_batches(),
                batches,
                "{frame} {id:04x}: encrypt_stream"
            );

            let items = futures::stream::iter(
                ct.chunks(8192)
                    .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
                    .collect::<Vec<_>>(),
            );
            let mut dec = decrypt_stream(&c, &keys, items, &DecryptOptions::new())
                .await
                .unwrap();
            let mut out = Vec::new();
            while let Some(item) = dec.next().await {
                out.extend_from_slice(&item.unwrap());
            }
            assert!(out == pt, "{frame} {id:04x}: decrypt_stream plaintext");
            assert!(
                dec.pool_batches() >= batches,
                "{frame} {id:04x}: decrypt_stream"
            );

            let mut er = EncryptingReader::new(&c, &keys, &pt[..], &options(frame, id))
                .await
                .unwrap();
            let mut ct2 = Vec::new();
            tokio::io::copy(&mut er, &mut ct2).await.unwrap();
            assert_eq!(
                er.pool_batches(),
                batches,
                "{frame} {id:04x}: EncryptingReader"
            );
            let back = c.decrypt(&keys, &ct2).await.unwrap().plaintext;
            assert!(back == pt);
        });
    }
}

/// The codec's encoder seals an item of several batches on the pool (while `encode` waits),
/// and every complete frame goes out with its item.
#[test]
fn codec_encoder_batches_large_items() {
    let rt = runtime();
    let keys = keys();
    let c = client(batching());
    let (frame, id) = (12288u32, 0x0578);
    let pt = plaintext(130_000);
    rt.block_on(async {
        let mut enc = MessageEncoder::new(&c, &keys, &options(frame, id))
            .await
            .unwrap();
        let mut dst = bytes::BytesMut::new();
        enc.encode(EncryptItem::Data(Bytes::copy_from_slice(&pt)), &mut dst)
            .unwrap();
        assert_eq!(enc.pool_batches(), pooled(pt.len(), frame as usize));
        // Every whole frame is out already: header, then 10 frames of 12,320 bytes.
        let whole = pt.len() / frame as usize;
        assert!(dst.len() >= whole * (frame as usize + 32));
        enc.encode(EncryptItem::Finish, &mut dst).unwrap();
        let back = c.decrypt(&keys, &dst).await.unwrap().plaintext;
        assert!(back == pt);
    });
}

/// Without parallelism nothing goes to the pool, and small writes still come out whole.
#[test]
fn off_means_no_pool() {
    let rt = runtime();
    let keys = keys();
    let c = client(Parallelism::off());
    let pt = plaintext(100_000);
    rt.block_on(async {
        let mut w = EncryptingWriter::new(&c, &keys, Vec::new(), &options(5000, 0x0478))
            .await
            .unwrap();
        tokio::io::copy(&mut &pt[..], &mut w).await.unwrap();
        w.shutdown().await.unwrap();
        assert_eq!(w.pool_batches(), 0);
        let ct = w.into_inner();
        let mut r = DecryptingReader::new(&c, &keys, &ct[..], &DecryptOptions::new())
            .await
            .unwrap();
        let mut out = Vec::new();
        tokio::io::copy(&mut r, &mut out).await.unwrap();
        assert_eq!(r.pool_batches(), 0);
        assert!(out == pt);
    });
}

/// The decrypting engine with a whole message in its input: an unsigned message's batches go to
/// the pool two at a time (the decryptor claims the next while the previous one is opened), a
/// signed message's one at a time (its signature hash takes the frames in order), and the
/// plaintext comes out whole and in order either way.
#[test]
fn decrypting_engine_opens_two_unsigned_batches_at_once() {
    use super::engine::{DecryptEngine, Step};
    let rt = runtime();
    let keys = keys();
    let c = client(batching());
    for (frame, id) in CASES {
        let pt = plaintext(200_777);
        rt.block_on(async {
            let ct = c
                .encrypt(&keys, &pt)
                .options(options(frame, id))
                .await
                .unwrap()
                .ciphertext;
            let mut engine = DecryptEngine::new(&c, super::Release::Streaming, true);
            let mut input = bytes::BytesMut::from(&ct[..]);
            engine.decode_header(&mut input).unwrap().unwrap();
            engine.obtain_materials(&c, &keys, None).await.unwrap();
            let mut out = Vec::new();
            loop {
                let step = std::future::poll_fn(|cx| engine.poll_step(cx, &mut input, true))
                    .await
                    .unwrap();
                match step {
                    Step::Data(b) => out.extend_from_slice(&b),
                    Step::End => break,
                    Step::NeedInput => panic!("{frame} {id:04x}: the whole message is in"),
                }
            }
            assert!(out == pt, "{frame} {id:04x}: plaintext");
            assert_eq!(engine.pool_batches(), pooled(pt.len(), frame as usize));
            let signed = AlgorithmSuite::from_id(id).unwrap().is_signing();
            assert_eq!(
                engine.most_in_flight(),
                if signed { 1 } else { 2 },
                "{frame} {id:04x}: batches on the pool at once"
            );
        });
    }
}
