//! An HTTP service (hyper 1) that encrypts and decrypts request bodies as they stream: the
//! response starts before the request has finished arriving, and memory stays at about a frame
//! whatever the body size.
//!
//! ```text
//! cargo run --example http                  # serves on 127.0.0.1 (a free port), runs a client against it, stops
//! cargo run --example http -- serve ADDR    # serves on ADDR until killed
//!
//! curl --data-binary @FILE http://ADDR/encrypt > FILE.esdk
//! curl --data-binary @FILE.esdk http://ADDR/decrypt > FILE.out
//! ```
//!
//! `POST /encrypt` answers with the ESDK message of the body; `POST /decrypt` with the plaintext
//! of a message. The header phase (keyring call, header checks) runs before the response
//! starts, so a bad header or a key the service lacks gets a `400`/`500` status. A failure in
//! the body (a frame or the signature that does not verify, a truncated upload) aborts the
//! response: **a client must treat a decrypted body as valid only if it arrived complete**.
//! Servers that must never send unverified plaintext use `Release::Verified`.
//!
//! The demo key is a constant: never do that with real data.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use esdk::io::{DecryptOptions, decrypt_stream, encrypt_stream};
use esdk::{Client, EncryptOptions, MaterialsSource, RawAesKeyring};
use futures::TryStreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

type Body = BoxBody<Bytes, esdk::Error>;
type AnyError = Box<dyn std::error::Error + Send + Sync>;

const DEMO_KEY: [u8; 32] = *b"esdk example key: not for real!!";

struct Service {
    client: Client,
    keys: MaterialsSource,
}

fn text(status: StatusCode, msg: String) -> Response<Body> {
    let body = Full::new(Bytes::from(msg)).map_err(|never: Infallible| match never {});
    let mut res = Response::new(BoxBody::new(body));
    *res.status_mut() = status;
    res
}

fn status_of(e: &esdk::Error) -> StatusCode {
    match e {
        esdk::Error::Keyring(_) | esdk::Error::Crypto(_) | esdk::Error::Io(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    }
}

async fn handle(svc: Arc<Service>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let route = (req.method().clone(), req.uri().path().to_owned());
    let body = req.into_body().into_data_stream();
    let res = match (&route.0, route.1.as_str()) {
        (&Method::POST, "/encrypt") => {
            let options = EncryptOptions::new().encryption_context([("purpose", "http-example")]);
            match encrypt_stream(&svc.client, &svc.keys, body, &options).await {
                Ok(message) => {
                    Response::new(BoxBody::new(StreamBody::new(message.map_ok(Frame::data))))
                }
                Err(e) => text(status_of(&e), format!("cannot encrypt: {e}\n")),
            }
        }
        (&Method::POST, "/decrypt") => {
            let options = DecryptOptions::new().encryption_context([("purpose", "http-example")]);
            match decrypt_stream(&svc.client, &svc.keys, body, &options).await {
                Ok(plaintext) => {
                    Response::new(BoxBody::new(StreamBody::new(plaintext.map_ok(Frame::data))))
                }
                Err(e) => text(status_of(&e), format!("cannot decrypt: {e}\n")),
            }
        }
        _ => text(StatusCode::NOT_FOUND, "POST /encrypt or /decrypt\n".into()),
    };
    Ok(res)
}

/// Serves connections from `listener` until the task is dropped.
async fn serve(listener: TcpListener, svc: Arc<Service>) -> Result<(), AnyError> {
    loop {
        let (tcp, _) = listener.accept().await?;
        let svc = svc.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(svc.clone(), req));
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await
            {
                eprintln!("connection error: {e}");
            }
        });
    }
}

/// Sends `chunks` as a streamed request body to `path` and returns the status and body.
async fn post(
    addr: SocketAddr,
    path: &str,
    chunks: Vec<Bytes>,
) -> Result<(StatusCode, Vec<u8>), AnyError> {
    let body = StreamBody::new(futures::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, Infallible>(Frame::data(c))),
    ));
    send(addr, path, body).await
}

/// Sends one request with `body` to `path` and returns the status and body.
async fn send<B>(addr: SocketAddr, path: &str, body: B) -> Result<(StatusCode, Vec<u8>), AnyError>
where
    B: hyper::body::Body<Data = Bytes, Error = Infallible> + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(TcpStream::connect(addr).await?))
            .await?;
    tokio::spawn(conn);
    let req = Request::post(path)
        .header("host", addr.to_string())
        .body(body)?;
    let res = sender.send_request(req).await?;
    let status = res.status();
    let body = res.into_body().collect().await?.to_bytes().to_vec();
    Ok((status, body))
}

/// Starts the service on a free local port, encrypts and decrypts a 1 MiB body through it in
/// 8 KiB request chunks, checks the round trip and a tampered upload, and returns a summary.
pub async fn demo() -> Result<String, AnyError> {
    let svc = Arc::new(Service {
        client: Client::new(),
        keys: MaterialsSource::from(RawAesKeyring::new("esdk-examples", "demo-key", &DEMO_KEY)?),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(serve(listener, svc));

    let plaintext: Vec<u8> = (0..1u32 << 20).map(|i| (i % 253) as u8).collect();
    let chunks: Vec<Bytes> = plaintext.chunks(8192).map(Bytes::copy_from_slice).collect();
    let (status, ciphertext) = post(addr, "/encrypt", chunks).await?;
    if status != StatusCode::OK {
        return Err(format!("encrypt: {status}").into());
    }
    let ct_chunks: Vec<Bytes> = ciphertext
        .chunks(5000)
        .map(Bytes::copy_from_slice)
        .collect();
    let (status, back) = post(addr, "/decrypt", ct_chunks).await?;
    if status != StatusCode::OK || back != plaintext {
        return Err(format!("decrypt: {status}, {} bytes back", back.len()).into());
    }
    // A message whose header was altered is refused before the response starts. Only its
    // first kilobyte (the whole header) is sent, with a length: the server answers without
    // reading the rest of a body, and a client still writing a large one would see its
    // connection closed under it (a broken pipe) instead of the answer.
    let mut bad = ciphertext[..1024].to_vec();
    bad[30] ^= 1;
    let (bad_status, _) = send(addr, "/decrypt", Full::new(Bytes::from(bad))).await?;
    if bad_status == StatusCode::OK {
        return Err("an altered header was accepted".into());
    }
    server.abort();
    Ok(format!(
        "http: served on {addr}; POST /encrypt turned {} plaintext bytes (sent in {} chunks) into a {}-byte message; \
         POST /decrypt gave the plaintext back intact; an altered header got {bad_status}",
        plaintext.len(),
        plaintext.len().div_ceil(8192),
        ciphertext.len()
    ))
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, addr] if cmd == "serve" => {
            let svc = Arc::new(Service {
                client: Client::new(),
                keys: MaterialsSource::from(RawAesKeyring::new(
                    "esdk-examples",
                    "demo-key",
                    &DEMO_KEY,
                )?),
            });
            let listener = TcpListener::bind(addr.as_str()).await?;
            println!(
                "http: serving POST /encrypt and POST /decrypt on {}",
                listener.local_addr()?
            );
            serve(listener, svc).await
        }
        [] => {
            println!("{}", demo().await?);
            Ok(())
        }
        _ => Err("usage: http [serve ADDR]".into()),
    }
}
