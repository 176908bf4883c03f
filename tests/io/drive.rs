//! Runs a message through each adapter with mock I/O, recording what was released.

use bytes::Bytes;
use esdk::io::{
    DecryptOptions, DecryptingReader, DecryptingWriter, EncryptItem, EncryptingReader,
    EncryptingWriter, MessageDecoder, MessageEncoder, codec, decrypt_stream, encrypt_stream,
};
use esdk::{Client, EncryptOptions, MaterialsSource};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{FramedRead, FramedWrite};

use super::mock::{MockReader, MockStream, MockWriter, Plan};

/// The decrypting adapters, and the one-shot call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dec {
    OneShot,
    Reader,
    Writer,
    Stream,
    Codec,
}

impl Dec {
    pub const ALL: [Dec; 5] = [
        Dec::OneShot,
        Dec::Reader,
        Dec::Writer,
        Dec::Stream,
        Dec::Codec,
    ];
}

/// The encrypting adapters, and the one-shot call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enc {
    OneShot,
    Reader,
    Writer,
    Stream,
    Codec,
}

impl Enc {
    pub const ALL: [Enc; 5] = [
        Enc::OneShot,
        Enc::Reader,
        Enc::Writer,
        Enc::Stream,
        Enc::Codec,
    ];
}

/// What a decryption released, and how it ended.
#[derive(Debug)]
pub struct Outcome {
    pub released: Vec<u8>,
    pub result: Result<(), esdk::Error>,
}

/// How the mock I/O moves bytes: on the input side and on the output side.
#[derive(Debug, Clone)]
pub struct Chunking {
    pub input: Plan,
    pub output: Plan,
}

impl Chunking {
    pub fn one_byte() -> Self {
        Self {
            input: Plan::one(),
            output: Plan::one(),
        }
    }
}

fn io_to_esdk(e: std::io::Error) -> esdk::Error {
    // Our adapters wrap their typed error; keep it. Anything else is an I/O failure.
    match e.into_inner() {
        Some(inner) => match inner.downcast::<esdk::Error>() {
            Ok(typed) => *typed,
            Err(other) => esdk::Error::Io(std::io::Error::other(other)),
        },
        None => esdk::Error::Io(std::io::Error::other("bare io error")),
    }
}

/// Reads `r` to its end in chunks sized by `plan`, appending to `out`.
async fn drain_reader(
    mut r: impl AsyncRead + Unpin,
    plan: &mut Plan,
    out: &mut Vec<u8>,
) -> Result<(), esdk::Error> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let want = plan.next().min(buf.len());
        let n = r.read(&mut buf[..want]).await.map_err(io_to_esdk)?;
        if n == 0 {
            return Ok(());
        }
        out.extend_from_slice(&buf[..n]);
    }
}

pub async fn decrypt(
    how: Dec,
    client: &Client,
    source: &MaterialsSource,
    ciphertext: &[u8],
    options: &DecryptOptions,
    chunking: &Chunking,
) -> Outcome {
    let mut released = Vec::new();
    let Chunking { input, output } = chunking.clone();
    let mut output = output;
    let ct = Bytes::copy_from_slice(ciphertext);
    let result: Result<(), esdk::Error> = match how {
        Dec::OneShot => {
            let call = client.decrypt(source, ciphertext).options(options.clone());
            call.await.map(|out| released = out.plaintext)
        }
        Dec::Reader => {
            async {
                let reader =
                    DecryptingReader::new(client, source, MockReader::new(ct, input), options)
                        .await?;
                drain_reader(reader, &mut output, &mut released).await
            }
            .await
        }
        Dec::Writer => {
            let mut writer =
                DecryptingWriter::new(client, source, MockWriter::new(output), options);
            let mut src = MockReader::new(ct, input);
            let r = async {
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = src.read(&mut buf).await.map_err(io_to_esdk)?;
                    if n == 0 {
                        break;
                    }
                    writer.write_all(&buf[..n]).await.map_err(io_to_esdk)?;
                }
                writer.shutdown().await.map_err(io_to_esdk)?;
                assert!(writer.get_ref().shut_down, "inner writer not shut down");
                Ok(())
            }
            .await;
            released = writer.get_ref().data.clone();
            r
        }
        Dec::Stream => {
            async {
                let mut stream =
                    decrypt_stream(client, source, MockStream::new(ct, input), options).await?;
                while let Some(item) = stream.next().await {
                    released.extend_from_slice(&item?);
                }
                Ok(())
            }
            .await
        }
        Dec::Codec => {
            async {
                let mut framed = FramedRead::new(
                    MockReader::new(ct, input),
                    MessageDecoder::new(client, options),
                );
                codec::decrypt_header(&mut framed, source).await?;
                while let Some(item) = framed.next().await {
                    released.extend_from_slice(&item?.into_plaintext()?);
                }
                Ok(())
            }
            .await
        }
    };
    Outcome { released, result }
}

/// Encrypts `plaintext` through `how`; the inputs are fed in chunks sized by `chunking.input`
/// (for the writer and the codec, the items or writes are cut that way).
pub async fn encrypt(
    how: Enc,
    client: &Client,
    source: &MaterialsSource,
    plaintext: &[u8],
    options: &EncryptOptions,
    chunking: &Chunking,
) -> Result<Vec<u8>, esdk::Error> {
    let Chunking { mut input, output } = chunking.clone();
    let pt = Bytes::copy_from_slice(plaintext);
    match how {
        Enc::OneShot => {
            let call = client.encrypt(source, plaintext).options(options.clone());
            Ok(call.await?.ciphertext)
        }
        Enc::Reader => {
            let reader =
                EncryptingReader::new(client, source, MockReader::new(pt, input), options).await?;
            let mut out = Vec::new();
            let mut output = output;
            drain_reader(reader, &mut output, &mut out).await?;
            Ok(out)
        }
        Enc::Writer => {
            let mut writer =
                EncryptingWriter::new(client, source, MockWriter::new(output), options).await?;
            let mut rest = plaintext;
            while !rest.is_empty() {
                let n = input.next().min(rest.len());
                writer.write_all(&rest[..n]).await.map_err(io_to_esdk)?;
                rest = &rest[n..];
            }
            writer.flush().await.map_err(io_to_esdk)?;
            writer.shutdown().await.map_err(io_to_esdk)?;
            let inner = writer.into_inner();
            assert!(inner.shut_down, "inner writer not shut down");
            Ok(inner.data)
        }
        Enc::Stream => {
            let mut stream =
                encrypt_stream(client, source, MockStream::new(pt, input), options).await?;
            let mut out = Vec::new();
            while let Some(item) = stream.next().await {
                out.extend_from_slice(&item?);
            }
            Ok(out)
        }
        Enc::Codec => {
            let encoder = MessageEncoder::new(client, source, options).await?;
            let mut framed = FramedWrite::new(MockWriter::new(output), encoder);
            let mut rest = pt;
            while !rest.is_empty() {
                let n = input.next().min(rest.len());
                framed.send(EncryptItem::Data(rest.split_to(n))).await?;
            }
            framed.send(EncryptItem::Finish).await?;
            framed.close().await?;
            let inner = framed.into_inner();
            assert!(inner.shut_down, "inner writer not shut down");
            Ok(inner.data)
        }
    }
}
