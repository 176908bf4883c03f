//! A TCP request/response service that sends **many messages on one connection**: each
//! request and each answer is its own ESDK message, so a record goes out at once (a partial
//! frame cannot be flushed, a finished message can) and its boundary is the message boundary.
//!
//! The client writes records with `codec::send_message`; the server reads them with
//! `codec::decrypt_messages`, which yields `Header`, plaintext and `End` for each message and
//! does the materials step in between, and answers each record as soon as its `End` arrives. A
//! caching CMM in front of the keyring reuses one data key for many records (with a KMS keyring,
//! that is one KMS call instead of one per record), and an unsigned suite keeps each record
//! cheap.
//!
//! ```text
//! cargo run --example tcp_messages           # server and client in one process, on 127.0.0.1
//! ```
//!
//! The demo key is a constant: never do that with real data.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use esdk::io::{DecryptItem, MessageEncoder, codec};
use esdk::{
    AlgorithmSuite, CachingCmm, Client, EncryptOptions, LocalMaterialsCache, MaterialsSource,
    RawAesKeyring,
};
use futures::TryStreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::FramedWrite;

type AnyError = Box<dyn std::error::Error + Send + Sync>;

const DEMO_KEY: [u8; 32] = *b"esdk example key: not for real!!";

fn client() -> Client {
    Client::builder()
        .algorithm_suite(AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY)
        .build()
}

/// A raw AES keyring behind a caching CMM: a data key serves up to 1,000 records or a minute.
fn keys() -> Result<MaterialsSource, AnyError> {
    let keyring = Arc::new(RawAesKeyring::new("esdk-examples", "demo-key", &DEMO_KEY)?);
    let cache = Arc::new(LocalMaterialsCache::new(16));
    let cmm = CachingCmm::builder_with_keyring(keyring, cache, Duration::from_secs(60))
        .limit_messages(1000)
        .build()?;
    Ok(MaterialsSource::from(cmm))
}

/// Answers every record of one connection with its upper-cased text, one message each.
async fn serve_one(tcp: TcpStream, keys: MaterialsSource) -> Result<usize, AnyError> {
    let client = client();
    let (read, write) = tcp.into_split();
    let mut out = FramedWrite::new(
        write,
        MessageEncoder::new(&client, &keys, &EncryptOptions::new()).await?,
    );
    let mut requests = codec::decrypt_messages(&client, &keys, read);
    let (mut record, mut answered) = (BytesMut::new(), 0);
    while let Some(item) = requests.try_next().await? {
        match item {
            DecryptItem::Plaintext(b) => record.extend_from_slice(&b),
            DecryptItem::End(_) => {
                // The record verified completely: answer it now.
                let answer = Bytes::from(record.split().to_ascii_uppercase());
                codec::send_message(&mut out, &client, &keys, answer, &EncryptOptions::new())
                    .await?;
                answered += 1;
            }
            _ => {}
        }
    }
    out.get_mut().shutdown().await?;
    Ok(answered)
}

/// Sends each of `records` as its own message and reads each answer before the next request.
async fn run_client(addr: &str, records: &[String]) -> Result<Vec<String>, AnyError> {
    let (client, keys) = (client(), keys()?);
    let (read, write) = TcpStream::connect(addr).await?.into_split();
    let mut out = FramedWrite::new(
        write,
        MessageEncoder::new(&client, &keys, &EncryptOptions::new()).await?,
    );
    let mut answers = codec::decrypt_messages(&client, &keys, read);
    let mut got = Vec::new();
    for r in records {
        codec::send_message(
            &mut out,
            &client,
            &keys,
            Bytes::from(r.clone()),
            &EncryptOptions::new(),
        )
        .await?;
        // Wait for the whole answer (its End) before sending the next record.
        let mut answer = Vec::new();
        loop {
            match answers.try_next().await? {
                Some(DecryptItem::Plaintext(b)) => answer.extend_from_slice(&b),
                Some(DecryptItem::End(_)) => break,
                Some(_) => {}
                None => return Err("the server closed the connection mid-answer".into()),
            }
        }
        got.push(String::from_utf8(answer)?);
    }
    out.get_mut().shutdown().await?;
    // The server ends its side after our shutdown: a clean end between messages.
    if answers.try_next().await?.is_some() {
        return Err("an unexpected message after the last answer".into());
    }
    Ok(got)
}

/// Runs a server on a free local port and a client that sends 100 records, one message each,
/// over one connection; returns a summary.
pub async fn demo() -> Result<String, AnyError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let keys = keys()?;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        serve_one(tcp, keys).await
    });
    let records: Vec<String> = (1..=100)
        .map(|i| format!("record {i}: one message each"))
        .collect();
    let answers = run_client(&addr, &records).await?;
    let answered = server.await??;
    let expected: Vec<String> = records.iter().map(|r| r.to_ascii_uppercase()).collect();
    if answers != expected || answered != records.len() {
        return Err("the answers are not the upper-cased records".into());
    }
    Ok(format!(
        "tcp_messages: {} records sent as {} messages over one connection, each answered with its own message \
         as soon as it verified; all {} answers upper-cased",
        records.len(),
        records.len(),
        answers.len()
    ))
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    println!("{}", demo().await?);
    Ok(())
}
