//! A TCP client and server that talk in ESDK messages through the tokio-util codec
//! (`FramedWrite` + `MessageEncoder`, `FramedRead` + `MessageDecoder`).
//!
//! The client sends lines of text as one encrypted message; the server decrypts them as they
//! arrive, and answers with one encrypted message holding the lines upper-cased.
//!
//! ```text
//! cargo run --example tcp                      # server and client in one process, on 127.0.0.1
//! cargo run --example tcp -- server ADDR       # a server until killed
//! cargo run --example tcp -- client ADDR TEXT… # sends TEXT, prints the answer
//! ```
//!
//! Both ends must end their message with `EncryptItem::Finish` and close the sink (which shuts
//! the TCP write half down): `decode_eof` refuses a message that stops early, so the reader
//! sees either the whole message or an error. The demo key is a constant: never do that with
//! real data.

use bytes::Bytes;
use esdk::io::{DecryptItem, DecryptOptions, EncryptItem, MessageDecoder, MessageEncoder, codec};
use esdk::{Client, EncryptOptions, FrameLength, MaterialsSource, RawAesKeyring};
use futures::{SinkExt, TryStreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{FramedRead, FramedWrite};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

const DEMO_KEY: [u8; 32] = *b"esdk example key: not for real!!";

fn keys() -> Result<MaterialsSource, AnyError> {
    Ok(MaterialsSource::from(RawAesKeyring::new(
        "esdk-examples",
        "demo-key",
        &DEMO_KEY,
    )?))
}

fn options() -> EncryptOptions {
    EncryptOptions::new()
        .encryption_context([("purpose", "tcp-example")])
        .frame_length(FrameLength::new(256).expect("non-zero"))
}

/// Reads one message from `framed` and returns its plaintext chunks as they were released.
async fn receive(
    mut framed: FramedRead<tokio::net::tcp::OwnedReadHalf, MessageDecoder>,
    keys: &MaterialsSource,
) -> Result<Vec<Bytes>, AnyError> {
    codec::decrypt_header(&mut framed, keys).await?;
    let mut chunks = Vec::new();
    while let Some(item) = framed.try_next().await? {
        if let DecryptItem::Plaintext(b) = item {
            chunks.push(b);
        }
    }
    // The stream ended without an error: the message is complete and verified.
    Ok(chunks)
}

/// Sends `parts` as one message on `write`, then shuts the write half down.
async fn send(
    client: &Client,
    keys: &MaterialsSource,
    write: tokio::net::tcp::OwnedWriteHalf,
    parts: Vec<Bytes>,
) -> Result<(), AnyError> {
    let encoder = MessageEncoder::new(client, keys, &options()).await?;
    let mut framed = FramedWrite::new(write, encoder);
    for p in parts {
        framed.feed(EncryptItem::Data(p)).await?;
    }
    framed.send(EncryptItem::Finish).await?;
    framed.close().await?;
    Ok(())
}

/// Serves one connection: decrypts the request, answers with the upper-cased text.
async fn serve_one(
    client: Client,
    keys: MaterialsSource,
    tcp: TcpStream,
) -> Result<usize, AnyError> {
    let (read, write) = tcp.into_split();
    let decoder = MessageDecoder::new(
        &client,
        &DecryptOptions::new().encryption_context([("purpose", "tcp-example")]),
    );
    let request = receive(FramedRead::new(read, decoder), &keys).await?;
    let answer: Vec<Bytes> = request
        .iter()
        .map(|b| Bytes::from(b.to_ascii_uppercase()))
        .collect();
    let n = answer.iter().map(Bytes::len).sum();
    send(&client, &keys, write, answer).await?;
    Ok(n)
}

async fn run_server(listener: TcpListener) -> Result<(), AnyError> {
    let client = Client::new();
    let keys = keys()?;
    loop {
        let (tcp, peer) = listener.accept().await?;
        let (client, keys) = (client, keys.clone());
        tokio::spawn(async move {
            match serve_one(client, keys, tcp).await {
                Ok(n) => eprintln!("tcp server: answered {peer} with {n} bytes"),
                Err(e) => eprintln!("tcp server: {peer}: {e}"),
            }
        });
    }
}

/// Sends `lines` to the server at `addr` and returns the decrypted answer.
async fn run_client(addr: &str, lines: Vec<String>) -> Result<String, AnyError> {
    let client = Client::new();
    let keys = keys()?;
    let (read, write) = TcpStream::connect(addr).await?.into_split();
    let parts = lines.into_iter().map(|l| Bytes::from(l + "\n")).collect();
    send(&client, &keys, write, parts).await?;
    let decoder = MessageDecoder::new(&client, &DecryptOptions::new());
    let answer = receive(FramedRead::new(read, decoder), &keys).await?;
    Ok(String::from_utf8(answer.concat())?)
}

/// Runs a server on a free local port and a client against it; returns a summary.
pub async fn demo() -> Result<String, AnyError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let server = tokio::spawn(run_server(listener));
    let lines: Vec<String> = (1..=200)
        .map(|i| format!("line {i}: streaming over tcp"))
        .collect();
    let sent: usize = lines.iter().map(|l| l.len() + 1).sum();
    let answer = run_client(&addr, lines.clone()).await?;
    server.abort();
    let expected: String = lines
        .iter()
        .map(|l| l.to_ascii_uppercase() + "\n")
        .collect();
    if answer != expected {
        return Err("the answer is not the upper-cased request".into());
    }
    Ok(format!(
        "tcp: client sent {} lines ({sent} bytes) as one ESDK message via FramedWrite; the server decrypted them \
         via FramedRead and answered with an encrypted message; the client decrypted {} bytes, all upper-cased",
        lines.len(),
        answer.len()
    ))
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => println!("{}", demo().await?),
        [cmd, addr] if cmd == "server" => {
            let listener = TcpListener::bind(addr.as_str()).await?;
            println!("tcp: serving on {}", listener.local_addr()?);
            run_server(listener).await?;
        }
        [cmd, addr, text @ ..] if cmd == "client" => {
            print!("{}", run_client(addr, text.to_vec()).await?)
        }
        _ => return Err("usage: tcp [server ADDR | client ADDR TEXT...]".into()),
    }
    Ok(())
}
