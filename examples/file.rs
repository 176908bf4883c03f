//! File to file, streaming: encrypt with an `EncryptingWriter`, decrypt with a
//! `DecryptingReader`, in constant memory whatever the file size.
//!
//! ```text
//! cargo run --example file                         # demo: a 20 MiB file, encrypted and decrypted in a temp dir
//! cargo run --example file -- encrypt IN OUT
//! cargo run --example file -- decrypt IN OUT
//! ```
//!
//! Decryption writes to `OUT.partial` and renames it to `OUT` only once the whole message has
//! verified, so a truncated or altered input never leaves a plausible-looking `OUT` behind.
//! The demo key is a constant: never do that with real data.

use std::path::{Path, PathBuf};

use esdk::io::{DecryptOptions, DecryptingReader, EncryptingWriter};
use esdk::{Client, EncryptOptions, FrameLength, MaterialsSource, RawAesKeyring};
use tokio::fs::File;
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

const DEMO_KEY: [u8; 32] = *b"esdk example key: not for real!!";

fn keys() -> Result<MaterialsSource, AnyError> {
    Ok(MaterialsSource::from(RawAesKeyring::new(
        "esdk-examples",
        "demo-key",
        &DEMO_KEY,
    )?))
}

/// Encrypts `input` into `output`; returns the message length.
async fn encrypt_file(
    client: &Client,
    keys: &MaterialsSource,
    input: &Path,
    output: &Path,
) -> Result<u64, AnyError> {
    let options = EncryptOptions::new()
        .encryption_context([(
            "file",
            input.file_name().and_then(|n| n.to_str()).unwrap_or(""),
        )])
        .frame_length(FrameLength::new(64 * 1024).expect("non-zero"))
        .max_plaintext_length(tokio::fs::metadata(input).await?.len());
    // `tokio::io::copy` flushes the writer whenever the file has no data ready, and a flush
    // seals what the writer gathered: a large read buffer lets it gather whole batches of frames
    // (sealed on every core) between reads.
    let mut source = BufReader::with_capacity(4 << 20, File::open(input).await?);
    let sink = BufWriter::new(File::create(output).await?);
    let mut writer = EncryptingWriter::new(client, keys, sink, &options).await?;
    tokio::io::copy(&mut source, &mut writer).await?;
    writer.shutdown().await?; // the final frame and the footer: required
    Ok(tokio::fs::metadata(output).await?.len())
}

/// Decrypts `input` into `output` (via `output.partial`); returns the plaintext length.
async fn decrypt_file(
    client: &Client,
    keys: &MaterialsSource,
    input: &Path,
    output: &Path,
) -> Result<u64, AnyError> {
    let partial = PathBuf::from(format!("{}.partial", output.display()));
    let source = BufReader::new(File::open(input).await?);
    let mut reader = DecryptingReader::new(client, keys, source, &DecryptOptions::new()).await?;
    println!(
        "file: {} is a {:?} message, encryption context {:?}",
        input.display(),
        reader.header().algorithm_suite(),
        reader.encryption_context()
    );
    let mut sink = BufWriter::new(File::create(&partial).await?);
    let copied = tokio::io::copy(&mut reader, &mut sink).await;
    sink.shutdown().await?;
    match copied {
        Ok(n) => {
            tokio::fs::rename(&partial, output).await?;
            Ok(n)
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            Err(e.into())
        }
    }
}

/// Encrypts and decrypts a 20 MiB file in a temporary directory, checks the result, and shows
/// that a truncated copy fails without leaving an output file; returns a summary.
pub async fn demo() -> Result<String, AnyError> {
    let dir = tempfile::tempdir()?;
    let (plain, sealed, opened) = (
        dir.path().join("data.bin"),
        dir.path().join("data.esdk"),
        dir.path().join("data.out"),
    );
    let data: Vec<u8> = (0..20u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    tokio::fs::write(&plain, &data).await?;
    let client = Client::new();
    let keys = keys()?;
    let message_len = encrypt_file(&client, &keys, &plain, &sealed).await?;
    let n = decrypt_file(&client, &keys, &sealed, &opened).await?;
    if tokio::fs::read(&opened).await? != data {
        return Err("the decrypted file differs".into());
    }
    // A message cut short is refused, and leaves no output behind.
    let cut = dir.path().join("cut.esdk");
    let sealed_bytes = tokio::fs::read(&sealed).await?;
    tokio::fs::write(&cut, &sealed_bytes[..sealed_bytes.len() - 100]).await?;
    let refused = decrypt_file(&client, &keys, &cut, &dir.path().join("cut.out")).await;
    if refused.is_ok()
        || dir.path().join("cut.out").exists()
        || dir.path().join("cut.out.partial").exists()
    {
        return Err("a truncated message was not refused cleanly".into());
    }
    Ok(format!(
        "file: encrypted a {}-byte file into a {message_len}-byte message and decrypted it back ({n} bytes, identical); \
         a copy cut 100 bytes short was refused ({}) and left no output file",
        data.len(),
        refused.err().map(|e| e.to_string()).unwrap_or_default()
    ))
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let client = Client::new();
    match args.as_slice() {
        [] => println!("{}", demo().await?),
        [cmd, input, output] if cmd == "encrypt" => {
            let n = encrypt_file(&client, &keys()?, input.as_ref(), output.as_ref()).await?;
            println!("file: wrote a {n}-byte message to {output}");
        }
        [cmd, input, output] if cmd == "decrypt" => {
            let n = decrypt_file(&client, &keys()?, input.as_ref(), output.as_ref()).await?;
            println!("file: wrote {n} verified bytes to {output}");
        }
        _ => return Err("usage: file [encrypt|decrypt IN OUT]".into()),
    }
    Ok(())
}
