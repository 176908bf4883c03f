//! Shared by the fuzz targets (`fuzz_targets/`) and the seed-corpus generator
//! (`tests/fuzz/corpus.rs`, a test of the main crate that includes this file as a module): the
//! fixed test key, the clients, the byte layouts of the targets' inputs, and the drivers that
//! run a message through the sans-IO decryptor, the one-shot call and the streaming decoder.
//!
//! Nothing here uses libFuzzer, so the main crate's tests can build it as an ordinary module.

use bytes::{Bytes, BytesMut};
use esdk::io::{
    DecryptOptions, DecryptingReader, DecryptingWriter, MessageDecoder, Release, decrypt_stream,
    encrypt_stream,
};
use esdk::proto::{BodyDecryptor, DecryptEvent};
use esdk::{
    AlgorithmSuite, Client, CommitmentPolicy, EncryptOptions, FrameLength, MaterialsSource,
    MessageHeader, RawAesKeyring,
};
use futures::StreamExt;
use futures::executor::block_on;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::FramedRead;
use tokio_util::io::StreamReader;

/// The fixed AES-256 wrapping key of every fuzz input (a test key, public on purpose).
pub const KEY: [u8; 32] = [0x11; 32];
/// The raw AES keyring's namespace (provider id).
pub const NAMESPACE: &str = "esdk-fuzz";
/// The raw AES keyring's key name.
pub const KEY_NAME: &str = "fixed-key";

/// The fixed-key raw AES keyring, as a materials source.
pub fn source() -> MaterialsSource {
    MaterialsSource::from(RawAesKeyring::new(NAMESPACE, KEY_NAME, &KEY).expect("a 256-bit key"))
}

/// A client that decrypts messages of every suite (committing or not).
pub fn decrypt_client() -> Client {
    Client::builder()
        .commitment_policy(CommitmentPolicy::FORBID_ENCRYPT_ALLOW_DECRYPT)
        .build()
}

/// A client whose policy allows encrypting with `suite`.
pub fn encrypt_client(suite: AlgorithmSuite) -> Client {
    let policy = if suite.is_committing() {
        CommitmentPolicy::REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    } else {
        CommitmentPolicy::FORBID_ENCRYPT_ALLOW_DECRYPT
    };
    Client::builder().commitment_policy(policy).build()
}

/// A cursor that reads bytes off the front of a fuzz input; past the end it reads zeros.
pub struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self(data)
    }

    /// The next byte, or 0 past the end.
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    /// The next `n` bytes, or fewer at the end.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    /// Everything left.
    pub fn rest(self) -> &'a [u8] {
        self.0
    }
}

/// Chunk sizes from spec bytes: 0 is 1 byte, 1..=0xEF that many bytes, 0xF0..=0xFF 512 to
/// 8192 bytes. No spec means one chunk of everything.
pub fn chunk_sizes(spec: &[u8]) -> Vec<usize> {
    if spec.is_empty() {
        return vec![usize::MAX];
    }
    spec.iter()
        .map(|&b| match b {
            0 => 1,
            0xF0..=0xFF => 512 * (usize::from(b) - 0xEF),
            b => usize::from(b),
        })
        .collect()
}

/// Cuts `data` into chunks, cycling through `sizes`.
pub fn split(data: &[u8], sizes: &[usize]) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut rest = Bytes::copy_from_slice(data);
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        out.push(rest.split_to(n));
        i += 1;
    }
    out
}

/// The `stream_splits` target's input: `n ‖ n chunk-spec bytes ‖ message` (n taken mod 17).
pub fn encode_split_input(spec: &[u8], message: &[u8]) -> Vec<u8> {
    assert!(spec.len() <= 16);
    let mut out = vec![spec.len() as u8];
    out.extend_from_slice(spec);
    out.extend_from_slice(message);
    out
}

/// Splits a `stream_splits` input into (chunk sizes, message).
pub fn decode_split_input(data: &[u8]) -> (Vec<usize>, &[u8]) {
    let mut c = Cursor::new(data);
    let n = usize::from(c.u8() % 17);
    let spec = c.take(n);
    (chunk_sizes(spec), c.rest())
}

/// What the sans-IO decryptor released, and how it ended.
#[derive(Debug)]
pub struct CoreRun {
    /// The parsed header, if it got that far.
    pub header: Option<MessageHeader>,
    /// Each `Plaintext` event, in order.
    pub frames: Vec<Bytes>,
    /// The end: `Ok` only if the whole message verified and nothing followed it.
    pub result: esdk::Result<()>,
}

impl CoreRun {
    /// All released plaintext.
    pub fn plaintext(&self) -> Vec<u8> {
        self.frames.concat()
    }
}

/// Runs the sans-IO decryption ([`esdk::proto::HeaderDecoder`], then
/// [`esdk::proto::BodyDecryptor`]) over `chunks`, asking the fixed-key source for materials at
/// the header.
pub fn core_decrypt(client: &Client, chunks: &[Bytes], unsigned_only: bool) -> CoreRun {
    let source = source();
    let release = if unsigned_only {
        Release::UnsignedOnly
    } else {
        Release::Streaming
    };
    let mut decoder = client.header_decoder(release);
    let mut body: Option<BodyDecryptor> = None;
    let mut buf = BytesMut::new();
    let mut header = None;
    let mut frames = Vec::new();
    let mut run = || -> esdk::Result<()> {
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            let d = match body.as_mut() {
                Some(d) => d,
                None => {
                    let Some(parsed) = decoder.decode(&mut buf)? else {
                        continue;
                    };
                    let m = block_on(client.decrypt_materials(&source, parsed.header(), None))?;
                    header = Some(parsed.header().clone());
                    body.insert(parsed.with_materials(&m)?)
                }
            };
            while let Some(event) = d.decode(&mut buf)? {
                match event {
                    DecryptEvent::Plaintext(p) => frames.push(p),
                    DecryptEvent::Done => {}
                    _ => {}
                }
            }
        }
        match &body {
            Some(d) => d.finish(&buf),
            None => Err(esdk::error::FormatError::Truncated.into()),
        }
    };
    let result = run();
    CoreRun {
        header,
        frames,
        result,
    }
}

/// The one-shot decryption of `message` with the fixed key.
pub fn one_shot_decrypt(client: &Client, message: &[u8]) -> esdk::Result<Vec<u8>> {
    block_on(client.decrypt(source(), message).into_future()).map(|o| o.plaintext)
}

/// A streaming decrypting adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// [`esdk::io::decrypt_stream`] over a stream of the chunks.
    Stream,
    /// [`esdk::io::DecryptingReader`] over a `StreamReader` of the chunks.
    Reader,
    /// [`esdk::io::DecryptingWriter`] given the chunks one `write_all` each.
    Writer,
    /// [`esdk::io::MessageDecoder`] in a `FramedRead` over a `StreamReader` of the chunks.
    Codec,
}

impl Adapter {
    /// All four.
    pub const ALL: [Adapter; 4] = [Self::Stream, Self::Reader, Self::Writer, Self::Codec];
}

/// What a streaming adapter released, and how it ended.
#[derive(Debug)]
pub struct StreamRun {
    /// The plaintext pieces it released, in order.
    pub items: Vec<Bytes>,
    /// The end.
    pub result: esdk::Result<()>,
}

/// The typed error inside an adapter's `io::Error`, or an I/O error.
fn typed(e: std::io::Error) -> esdk::Error {
    match e.into_inner() {
        Some(inner) => match inner.downcast::<esdk::Error>() {
            Ok(typed) => *typed,
            Err(other) => esdk::Error::Io(std::io::Error::other(other)),
        },
        None => esdk::Error::Io(std::io::Error::other("an io::Error without a typed error")),
    }
}

/// Runs a decrypting adapter over `chunks` with the fixed key.
pub fn adapter_decrypt(
    client: &Client,
    chunks: &[Bytes],
    release: Release,
    how: Adapter,
) -> StreamRun {
    let options = DecryptOptions::new().release(release);
    let stream = || futures::stream::iter(chunks.iter().cloned().map(Ok::<_, std::io::Error>));
    let mut items = Vec::new();
    let result = block_on(async {
        match how {
            Adapter::Stream => {
                let mut s = decrypt_stream(client, source(), stream(), &options).await?;
                while let Some(item) = s.next().await {
                    items.push(item?);
                }
                Ok(())
            }
            Adapter::Reader => {
                let input = StreamReader::new(stream());
                let mut r = DecryptingReader::new(client, source(), input, &options).await?;
                let mut buf = vec![0u8; 4096];
                loop {
                    let n = r.read(&mut buf).await.map_err(typed)?;
                    if n == 0 {
                        return Ok(());
                    }
                    items.push(Bytes::copy_from_slice(&buf[..n]));
                }
            }
            Adapter::Writer => {
                let mut w = DecryptingWriter::new(client, source(), Vec::new(), &options);
                let r = async {
                    for c in chunks {
                        w.write_all(c).await.map_err(typed)?;
                    }
                    w.shutdown().await.map_err(typed)
                }
                .await;
                items.push(Bytes::from(w.get_ref().clone()));
                r
            }
            Adapter::Codec => {
                let mut framed = FramedRead::new(
                    StreamReader::new(stream()),
                    MessageDecoder::new(client, &options),
                );
                esdk::io::codec::decrypt_header(&mut framed, source()).await?;
                while let Some(item) = framed.next().await {
                    items.push(item?.into_plaintext()?);
                }
                Ok(())
            }
        }
    });
    StreamRun { items, result }
}

/// Runs `decrypt_stream` over `chunks` with the fixed key.
pub fn stream_decrypt(client: &Client, chunks: &[Bytes], release: Release) -> StreamRun {
    adapter_decrypt(client, chunks, release, Adapter::Stream)
}

/// The `round_trip` target's parameters.
#[derive(Debug, Clone)]
pub struct RoundTrip {
    /// The algorithm suite.
    pub suite: AlgorithmSuite,
    /// The frame length.
    pub frame_length: FrameLength,
    /// The encryption context pairs (keys and values from lossy UTF-8).
    pub context: Vec<(String, String)>,
    /// Chunk sizes of the plaintext fed to `encrypt_stream`.
    pub encrypt_chunks: Vec<usize>,
    /// Chunk sizes of the ciphertext fed to `decrypt_stream` and the sans-IO decryptor.
    pub decrypt_chunks: Vec<usize>,
    /// The plaintext.
    pub plaintext: Vec<u8>,
}

impl RoundTrip {
    /// Reads parameters off a fuzz input (the frame length is raised to a 256th of the
    /// plaintext length when below it):
    /// `suite ‖ u16 frame ‖ pairs ‖ (klen ‖ key ‖ vlen ‖ value)* ‖ elen ‖ espec ‖ dlen ‖ dspec ‖ plaintext`.
    pub fn decode(data: &[u8]) -> Self {
        let mut c = Cursor::new(data);
        let suite = AlgorithmSuite::ALL[usize::from(c.u8()) % AlgorithmSuite::ALL.len()];
        let frame = u16::from_be_bytes([c.u8(), c.u8()]);
        let pairs = c.u8() % 4;
        let mut context = Vec::new();
        for _ in 0..pairs {
            let n = usize::from(c.u8() % 16);
            let k = String::from_utf8_lossy(c.take(n)).into_owned();
            let n = usize::from(c.u8() % 16);
            let v = String::from_utf8_lossy(c.take(n)).into_owned();
            context.push((k, v));
        }
        let n = usize::from(c.u8() % 8);
        let encrypt_chunks = chunk_sizes(c.take(n));
        let n = usize::from(c.u8() % 8);
        let decrypt_chunks = chunk_sizes(c.take(n));
        let plaintext = c.rest().to_vec();
        // At most 256 frames, so that one input costs milliseconds, not seconds: a frame
        // length below len / 256 is raised to it.
        let least = u32::try_from(plaintext.len().div_ceil(256)).unwrap_or(u32::MAX);
        let frame_length = FrameLength::new(u32::from(frame).max(least).max(1)).expect("non-zero");
        Self {
            suite,
            frame_length,
            context,
            encrypt_chunks,
            decrypt_chunks,
            plaintext,
        }
    }

    /// Writes parameters in the layout [`RoundTrip::decode`] reads (for seeds). Keys, values
    /// and specs must be short enough to survive the reduction modulo 16 and 8.
    pub fn encode(
        suite_index: u8,
        frame: u16,
        context: &[(&str, &str)],
        encrypt_spec: &[u8],
        decrypt_spec: &[u8],
        plaintext: &[u8],
    ) -> Vec<u8> {
        let mut out = vec![suite_index];
        out.extend_from_slice(&frame.to_be_bytes());
        out.push(context.len() as u8);
        for (k, v) in context {
            out.push(k.len() as u8);
            out.extend_from_slice(k.as_bytes());
            out.push(v.len() as u8);
            out.extend_from_slice(v.as_bytes());
        }
        out.push(encrypt_spec.len() as u8);
        out.extend_from_slice(encrypt_spec);
        out.push(decrypt_spec.len() as u8);
        out.extend_from_slice(decrypt_spec);
        out.extend_from_slice(plaintext);
        out
    }

    /// The encryption options.
    pub fn options(&self) -> EncryptOptions {
        EncryptOptions::new()
            .encryption_context(self.context.iter().cloned())
            .algorithm_suite(self.suite)
            .frame_length(self.frame_length)
    }

    /// Encrypts through `encrypt_stream`, the plaintext cut by `encrypt_chunks`.
    pub fn encrypt(&self) -> esdk::Result<Vec<u8>> {
        let client = encrypt_client(self.suite);
        let chunks = split(&self.plaintext, &self.encrypt_chunks);
        let input = futures::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
        block_on(async {
            let mut stream = encrypt_stream(&client, source(), input, &self.options()).await?;
            let mut out = Vec::new();
            while let Some(item) = stream.next().await {
                out.extend_from_slice(&item?);
            }
            Ok(out)
        })
    }
}

/// A message of `suite` with the fixed key: `len` bytes of plaintext, frames of `frame` bytes,
/// the given context. Encrypted one-shot.
pub fn message(
    suite: AlgorithmSuite,
    frame: u32,
    context: &[(&str, &str)],
    plaintext: &[u8],
) -> Vec<u8> {
    let client = encrypt_client(suite);
    block_on(
        client
            .encrypt(source(), plaintext)
            .algorithm_suite(suite)
            .frame_length(FrameLength::new(frame).expect("non-zero"))
            .encryption_context(context.iter().copied())
            .into_future(),
    )
    .expect("encrypts")
    .ciphertext
}

/// A non-framed message with the fixed key, built by hand (`esdk` writes only framed messages)
/// from the format description in `src/format/mod.rs` and the key derivation in
/// `src/proto/keys.rs`: materials (the data key and its encrypted copy) from the default CMM
/// over the fixed-key keyring, then header body, header tag, and one AES-GCM block. Unsigned
/// suites only. `tests/fuzz/corpus.rs` checks that `esdk` decrypts what this builds.
pub fn non_framed_message(
    suite: AlgorithmSuite,
    context: &[(&str, &str)],
    plaintext: &[u8],
) -> Vec<u8> {
    use esdk::cmm::EncryptionMaterialsRequest;
    use esdk::crypto::{HashAlgorithm, default_provider};
    use esdk::suite::{Kdf, MessageFormatVersion};
    use esdk::{CryptographicMaterialsManager, DefaultCmm, EncryptionContext, RawAesKeyring};

    assert!(!suite.is_signing());
    let provider = default_provider();
    let keyring = RawAesKeyring::new(NAMESPACE, KEY_NAME, &KEY).unwrap();
    let cmm = DefaultCmm::new(std::sync::Arc::new(keyring));
    let context: EncryptionContext = context.iter().copied().collect();
    let policy = encrypt_client(suite).commitment_policy();
    let mut request = EncryptionMaterialsRequest::new(context, policy);
    request.algorithm_suite = Some(suite);
    let materials = futures::executor::block_on(cmm.get_encryption_materials(request)).unwrap();
    let data_key = materials.data_key().unwrap().expose();
    let v2 = suite.message_format_version() == MessageFormatVersion::V2;
    let message_id: Vec<u8> = (0..if v2 { 32 } else { 16 })
        .map(|i| i as u8 ^ 0xa5)
        .collect();

    let id = suite.id().to_be_bytes();
    let mut key = vec![0u8; suite.key_len()];
    let mut commit = [0u8; 32];
    match suite.kdf() {
        Kdf::Identity => key.copy_from_slice(data_key),
        Kdf::HkdfSha256 => {
            let info = [&id[..], &message_id].concat();
            provider
                .hash
                .hkdf(
                    HashAlgorithm::Sha256,
                    None,
                    data_key,
                    &mut [(&info, &mut key[..])],
                )
                .unwrap();
        }
        Kdf::HkdfSha512Commit => {
            let info = [&id[..], b"DERIVEKEY"].concat();
            provider
                .hash
                .hkdf(
                    HashAlgorithm::Sha512,
                    Some(&message_id),
                    data_key,
                    &mut [(&info, &mut key[..]), (b"COMMITKEY", &mut commit[..])],
                )
                .unwrap();
        }
        other => panic!("no seed for {other:?}"),
    }
    let put16 = |out: &mut Vec<u8>, bytes: &[u8]| {
        out.extend_from_slice(&u16::try_from(bytes.len()).unwrap().to_be_bytes());
        out.extend_from_slice(bytes);
    };
    let mut header = if v2 { vec![2] } else { vec![1, 0x80] };
    header.extend_from_slice(&id);
    header.extend_from_slice(&message_id);
    put16(
        &mut header,
        &materials.encryption_context().serialize().unwrap(),
    );
    let edks = materials.encrypted_data_keys();
    header.extend_from_slice(&u16::try_from(edks.len()).unwrap().to_be_bytes());
    for edk in edks {
        put16(&mut header, edk.provider_id().as_bytes());
        put16(&mut header, edk.provider_info());
        put16(&mut header, edk.ciphertext());
    }
    header.push(1); // non-framed
    if !v2 {
        header.extend_from_slice(&[0, 0, 0, 0, 12]); // reserved, IV length
    }
    header.extend_from_slice(&0u32.to_be_bytes()); // frame length
    if v2 {
        header.extend_from_slice(&commit);
    }
    let aead = provider.aead.key(&key).unwrap();
    let header_iv = [0u8; 12];
    let header_tag = aead.seal_in_place(&header_iv, &header, &mut []).unwrap();
    let mut out = header;
    if !v2 {
        out.extend_from_slice(&header_iv);
    }
    out.extend_from_slice(&header_tag);
    let mut iv = [0u8; 12];
    iv[11] = 1;
    let len = plaintext.len() as u64;
    let aad = [
        &message_id[..],
        b"AWSKMSEncryptionClient Single Block",
        &1u32.to_be_bytes(),
        &len.to_be_bytes(),
    ]
    .concat();
    let mut body = plaintext.to_vec();
    let tag = aead.seal_in_place(&iv, &aad, &mut body).unwrap();
    out.extend_from_slice(&iv);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&tag);
    out
}
