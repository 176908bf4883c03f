//! Encrypts a file with a local AES key and decrypts it back; no AWS account needed.
//!
//! ```text
//! cargo run --release --example quickstart -- FILE [KEYFILE]
//! ```
//!
//! Makes KEYFILE (default `esdk-demo.key`: 32 random bytes, mode 0600) if it does not exist,
//! writes `FILE.encrypted` and `FILE.decrypted`, and checks that the round trip is exact.

use std::io::Write;
use std::path::PathBuf;

use esdk::{Client, MaterialsSource, RawAesKeyring};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let input = PathBuf::from(args.next().ok_or("usage: quickstart FILE [KEYFILE]")?);
    let key_path = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| "esdk-demo.key".into());

    let key = match std::fs::read(&key_path) {
        Ok(k) => k,
        Err(_) => {
            let mut k = vec![0u8; 32];
            esdk::crypto::default_provider().random.fill(&mut k)?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            opts.open(&key_path)?.write_all(&k)?;
            eprintln!("made a new key in {}", key_path.display());
            k
        }
    };
    let keys = MaterialsSource::from(RawAesKeyring::new("esdk-quickstart", "demo-key", &key)?);
    let client = Client::new();

    let plaintext = std::fs::read(&input)?;
    let context = [(
        "file",
        input
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("input"),
    )];
    let message = client
        .encrypt(&keys, &plaintext)
        .encryption_context(context)
        .await?;
    let encrypted = input.with_extension(add_ext(&input, "encrypted"));
    std::fs::write(&encrypted, &message.ciphertext)?;

    let ciphertext = std::fs::read(&encrypted)?;
    let decrypted = client
        .decrypt(&keys, &ciphertext)
        .encryption_context(context)
        .await?;
    let back = input.with_extension(add_ext(&input, "decrypted"));
    std::fs::write(&back, &decrypted.plaintext)?;

    if decrypted.plaintext != plaintext {
        return Err("round trip differs".into());
    }
    println!(
        "{} ({} bytes) -> {} ({} bytes, suite {:#06x}) -> {}: identical",
        input.display(),
        plaintext.len(),
        encrypted.display(),
        ciphertext.len(),
        message.header.algorithm_suite().id(),
        back.display()
    );
    Ok(())
}

fn add_ext(path: &std::path::Path, ext: &str) -> String {
    match path.extension().and_then(|e| e.to_str()) {
        Some(old) => format!("{old}.{ext}"),
        None => ext.to_owned(),
    }
}
