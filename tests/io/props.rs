//! Static properties: adapters are `Send` when their inner I/O is (so they can cross
//! `tokio::spawn`), and so are the futures of their async constructors.

use bytes::Bytes;
use esdk::io::{
    DecryptOptions, DecryptStream, DecryptingReader, DecryptingWriter, EncryptStream,
    EncryptingReader, EncryptingWriter, MessageDecoder, MessageEncoder, Release, codec,
    decrypt_stream, encrypt_stream,
};
use esdk::{Client, EncryptOptions, MaterialsSource, RawAesKeyring};
use futures::stream::BoxStream;
use tokio::net::TcpStream;
use tokio_util::codec::FramedRead;

use crate::drive::{self, Chunking, Dec};
use crate::mock::block_on;

fn send<T: Send>(_: &T) {}
fn is_send<T: Send>() {}

type Chunks = BoxStream<'static, std::io::Result<Bytes>>;

#[test]
fn adapters_are_send() {
    is_send::<EncryptingWriter<TcpStream>>();
    is_send::<DecryptingWriter<TcpStream>>();
    is_send::<EncryptingReader<TcpStream>>();
    is_send::<DecryptingReader<TcpStream>>();
    is_send::<EncryptStream<Chunks>>();
    is_send::<DecryptStream<Chunks>>();
    is_send::<MessageEncoder>();
    is_send::<MessageDecoder>();
    is_send::<FramedRead<TcpStream, MessageDecoder>>();
}

/// Type-checked only: every async constructor's future is `Send` (so it can run in
/// `tokio::spawn`) when its I/O is.
#[allow(dead_code, clippy::too_many_arguments)]
fn constructor_futures_are_send(
    client: &Client,
    keys: &MaterialsSource,
    (t1, t2, t3): (TcpStream, TcpStream, TcpStream),
    (s1, s2): (Chunks, Chunks),
    framed: &mut FramedRead<TcpStream, MessageDecoder>,
) {
    let opts = EncryptOptions::new();
    let dopts = DecryptOptions::new();
    send(&EncryptingWriter::new(client, keys, t1, &opts));
    send(&EncryptingReader::new(client, keys, t2, &opts));
    send(&DecryptingReader::new(client, keys, t3, &dopts));
    send(&encrypt_stream(client, keys, s1, &opts));
    send(&decrypt_stream(client, keys, s2, &dopts));
    send(&MessageEncoder::new(client, keys, &opts));
    send(&codec::decrypt_header(framed, keys));
}

#[test]
fn verified_mode_spills_to_disk_and_reads_back() {
    // 200 KiB in 4 KiB frames with 16 KiB of memory: most of it goes through the spill file.
    let source =
        MaterialsSource::from(RawAesKeyring::new("ns", "spill", &[5u8; 32]).expect("keyring"));
    let client = Client::new();
    let pt: Vec<u8> = (0..200 * 1024).map(|i| (i % 251) as u8).collect();
    let ct = block_on(drive::encrypt(
        drive::Enc::OneShot,
        &client,
        &source,
        &pt,
        &EncryptOptions::new(),
        &Chunking::one_byte(),
    ))
    .expect("encrypts");
    let opts = DecryptOptions::new().release(Release::verified(16 * 1024));
    let reader = block_on(DecryptingReader::new(&client, &source, &ct[..], &opts)).expect("header");
    let mut reader = Box::pin(reader);
    let mut out = Vec::new();
    block_on(tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut out)).expect("decrypts");
    assert_eq!(out, pt);
    let debug = format!("{reader:?}");
    assert!(
        debug.contains("spilled: Some("),
        "no spill file was used: {debug}"
    );
    for how in [Dec::Writer, Dec::Stream] {
        let o = block_on(drive::decrypt(
            how,
            &client,
            &source,
            &ct,
            &opts,
            &Chunking::one_byte(),
        ));
        assert!(o.result.is_ok(), "{how:?}: {:?}", o.result);
        assert_eq!(o.released, pt, "{how:?}");
    }
}

#[test]
fn codec_verified_mode_refuses_beyond_its_memory_limit() {
    let source =
        MaterialsSource::from(RawAesKeyring::new("ns", "limit", &[5u8; 32]).expect("keyring"));
    let client = Client::new();
    let pt = vec![7u8; 20_000];
    let ct = block_on(drive::encrypt(
        drive::Enc::OneShot,
        &client,
        &source,
        &pt,
        &EncryptOptions::new(),
        &Chunking::one_byte(),
    ))
    .expect("encrypts");
    let opts = DecryptOptions::new().release(Release::verified(10_000));
    let o = block_on(drive::decrypt(
        Dec::Codec,
        &client,
        &source,
        &ct,
        &opts,
        &Chunking::one_byte(),
    ));
    assert!(
        matches!(o.result, Err(esdk::Error::Limit(_))),
        "{:?}",
        o.result
    );
    assert!(o.released.is_empty());
}

#[test]
fn adapter_errors_carry_the_typed_error() {
    let source =
        MaterialsSource::from(RawAesKeyring::new("ns", "typed", &[5u8; 32]).expect("keyring"));
    let client = Client::new();
    let ct = block_on(async { client.encrypt(&source, b"hello").await })
        .expect("encrypts")
        .ciphertext;
    let cut = &ct[..ct.len() - 1];
    let mut reader = block_on(DecryptingReader::new(
        &client,
        &source,
        cut,
        &DecryptOptions::new(),
    ))
    .expect("header");
    let mut out = Vec::new();
    let err = block_on(tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut out))
        .expect_err("truncated");
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    assert!(esdk::io::error_of(&err).is_some_and(esdk::Error::is_truncation));
}
