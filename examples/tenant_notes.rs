//! A tenant-scoped note service on axum 0.8 behind `esdk::http::EncryptionLayer` (feature
//! `tower`): clients send encrypted notes and receive encrypted notes, and the handlers only
//! ever see plaintext. Each message is bound to its tenant (`x-tenant` header) and path by the
//! encryption context, so a note sealed for one tenant or path is refused under another.
//!
//! ```text
//! cargo run --example tenant_notes --features tower      # demo on a free port, then stops
//! ```
//!
//! The demo key is a constant: never do that with real data.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::put;
use esdk::http::EncryptionLayer;
use esdk::io::Release;
use esdk::{AlgorithmSuite, Client, EncryptionContext, MaterialsSource, RawAesKeyring};

type AnyError = Box<dyn std::error::Error + Send + Sync>;
type Notes = Arc<Mutex<HashMap<(String, String), Bytes>>>;

const DEMO_KEY: [u8; 32] = *b"esdk example key: not for real!!";

// ---- the service: from here to the end-of-service line ----
/// The encryption context of a request: its tenant and its path.
fn scope(req: &Parts) -> EncryptionContext {
    let tenant = req.headers.get("x-tenant").and_then(|v| v.to_str().ok());
    [("tenant", tenant.unwrap_or("")), ("path", req.uri.path())]
        .into_iter()
        .collect()
}

fn tenant(headers: &axum::http::HeaderMap) -> String {
    let value = headers.get("x-tenant").and_then(|v| v.to_str().ok());
    value.unwrap_or("").to_owned()
}

/// The service: handlers see plaintext only; the layer decrypts what comes in (verified
/// before the handler runs) and encrypts what goes out.
pub fn app(client: Client, keys: MaterialsSource) -> Router {
    let notes = Notes::default();
    let store = |State(n): State<Notes>,
                 h: axum::http::HeaderMap,
                 Path(id): Path<String>,
                 body: Bytes| async move {
        n.lock().expect("notes").insert((tenant(&h), id), body);
        StatusCode::NO_CONTENT
    };
    let fetch = |State(n): State<Notes>, h: axum::http::HeaderMap, Path(id): Path<String>| async move {
        let note = n.lock().expect("notes").get(&(tenant(&h), id)).cloned();
        note.ok_or(StatusCode::NOT_FOUND)
    };
    let layer = EncryptionLayer::new(client, keys)
        .decrypt_requests(scope, Release::verified(1 << 20))
        .encrypt_responses(scope);
    Router::new()
        .route("/notes/{id}", put(store).get(fetch))
        .with_state(notes)
        .layer(layer)
}
// ---- end of service ----

/// The client and keys of the demo (an unsigned committing suite).
pub fn demo_keys() -> Result<(Client, MaterialsSource), AnyError> {
    let keys = MaterialsSource::from(RawAesKeyring::new("demo", "notes", &DEMO_KEY)?);
    let client = Client::builder()
        .algorithm_suite(AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY)
        .build();
    Ok((client, keys))
}

/// Serves [`app`] on a free loopback port.
pub async fn start() -> Result<SocketAddr, AnyError> {
    let (client, keys) = demo_keys()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app(client, keys)).await });
    Ok(addr)
}

/// One HTTP/1.1 request with hyper's client: status, headers and body.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    tenant: &str,
    body: Vec<u8>,
) -> Result<(StatusCode, axum::http::HeaderMap, Bytes), AnyError> {
    use http_body_util::{BodyExt, Full};
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "notes")
        .header("x-tenant", tenant)
        .body(Full::new(Bytes::from(body)))?;
    let (parts, body) = sender.send_request(req).await?.into_parts();
    Ok((
        parts.status,
        parts.headers,
        body.collect().await?.to_bytes(),
    ))
}

/// Stores a note for tenant `a` and reads it back, decrypting it here; then shows that the same
/// message is refused under another tenant and another path, and that a tampered one is refused.
pub async fn demo() -> Result<String, AnyError> {
    let addr = start().await?;
    let (client, keys) = demo_keys()?;
    let context = |tenant: &'static str, path: &'static str| [("tenant", tenant), ("path", path)];
    let note = b"meeting moved to 3pm".to_vec();
    let sealed = client
        .encrypt(&keys, &note)
        .encryption_context(context("a", "/notes/1"))
        .await?
        .ciphertext;
    let put = request(addr, "PUT", "/notes/1", "a", sealed.clone())
        .await?
        .0;
    check(put == StatusCode::NO_CONTENT, format!("PUT: {put}"))?;
    let (status, headers, body) = request(addr, "GET", "/notes/1", "a", Vec::new()).await?;
    check(status == StatusCode::OK, format!("GET: {status}"))?;
    let length = headers.get("content-length").and_then(|v| v.to_str().ok());
    check(length == Some(&body.len().to_string()), "Content-Length")?;
    let opened = client
        .decrypt(&keys, &body)
        .encryption_context(context("a", "/notes/1"))
        .await?;
    check(opened.plaintext == note, "the note read back differs")?;
    let mut refused = Vec::new();
    let mut tampered = sealed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    for (what, path, tenant, message) in [
        ("another tenant", "/notes/1", "b", sealed.clone()),
        ("another path", "/notes/2", "a", sealed.clone()),
        ("a tampered message", "/notes/1", "a", tampered),
    ] {
        let (status, _, _) = request(addr, "PUT", path, tenant, message).await?;
        check(status.is_client_error(), format!("{what}: {status}"))?;
        refused.push(format!("{what}: {status}"));
    }
    let (status, _, _) = request(addr, "GET", "/notes/1", "b", Vec::new()).await?;
    check(
        status == StatusCode::NOT_FOUND,
        format!("tenant b: {status}"),
    )?;
    Ok(format!(
        "note stored and read back sealed ({} bytes); refused: {}",
        body.len(),
        refused.join(", ")
    ))
}

fn check(ok: bool, what: impl Into<String>) -> Result<(), AnyError> {
    if ok { Ok(()) } else { Err(what.into().into()) }
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    println!("{}", demo().await?);
    Ok(())
}
