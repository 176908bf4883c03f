//! An encrypted object store on axum 0.8 (feature `http`): `PUT /objects/NAME` encrypts the
//! request body into a file as it arrives; `GET /objects/NAME` decrypts it as it goes out, with
//! `Content-Length`, and serves `Range: bytes=…` with `206` and `Content-Range` by decrypting only
//! the frames that hold the range. Objects use an unsigned committing suite, which is what makes
//! range reads possible (a signature would cover the whole object).
//!
//! ```text
//! cargo run --example objstore --features http                   # demo on a free port, then stops
//! cargo run --example objstore --features http -- serve ADDR DIR # serves until killed
//! cargo run --release --example objstore --features http -- bench MIB
//!
//! curl -T FILE http://ADDR/objects/NAME
//! curl -r 1000-1999 http://ADDR/objects/NAME
//! ```
//!
//! Before answering a `GET` the handler verifies every frame it is about to send
//! (`RangeReader::verify_range`), so an altered or cut object gets an error status, never a
//! `200` with a broken body; the frames are verified again as they stream. The demo key is a
//! constant: never do that with real data.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use bytes::Bytes;
use esdk::http::{
    BodyStream, EncryptBody, RangeRequest, content_range, parse_range, range_body, status_code,
    stored_object_status,
};
use esdk::io::RangeReader;
use esdk::{AlgorithmSuite, Client, FrameLength, MaterialsSource, RawAesKeyring};
use futures::TryStreamExt;
use tokio::fs::File;
use tokio_util::io::StreamReader;

type AnyError = Box<dyn std::error::Error + Send + Sync>;

const DEMO_KEY: [u8; 32] = *b"esdk example key: not for real!!";

// ---- the handlers: from here to the end-of-handlers line ----
#[derive(Clone)]
struct Store {
    client: Client,
    keys: MaterialsSource,
    dir: Arc<PathBuf>,
}

type Fail = (StatusCode, String);
type Answer<T> = Result<T, Fail>;

fn object(s: &Store, name: &str) -> Answer<PathBuf> {
    let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    ok.then(|| s.dir.join(name))
        .ok_or((StatusCode::BAD_REQUEST, "bad name\n".into()))
}

async fn put(State(s): State<Store>, Path(n): Path<String>, body: Body) -> Answer<StatusCode> {
    let path = object(&s, &n)?;
    let fail = |e: esdk::Error| (status_code(&e), format!("{e}\n"));
    let sealed = EncryptBody::new(&s.client, &s.keys, body)
        .await
        .map_err(fail)?;
    let sealed = BodyStream::new(sealed).map_err(io::Error::from);
    let part = path.with_extension("part");
    let written = async {
        let mut file = File::create(&part).await?;
        tokio::io::copy(&mut StreamReader::new(sealed), &mut file).await?;
        file.sync_all().await?;
        tokio::fs::rename(&part, &path).await
    };
    if let Err(e) = written.await {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(fail(e.into()));
    }
    Ok(StatusCode::CREATED)
}

async fn get(State(s): State<Store>, Path(n): Path<String>, h: HeaderMap) -> Answer<Response> {
    let fail = |e: esdk::Error| (stored_object_status(&e), format!("{e}\n"));
    let file = File::open(object(&s, &n)?).await;
    let file = file.map_err(|e| (StatusCode::NOT_FOUND, format!("{e}\n")))?;
    let reader = RangeReader::open(&s.client, &s.keys, file).await;
    let mut reader = reader.map_err(fail)?;
    let len = reader.plaintext_len();
    let (status, range) = match parse_range(h.get(header::RANGE), len) {
        RangeRequest::Partial(r) => (StatusCode::PARTIAL_CONTENT, reader.set_range(r)),
        RangeRequest::Unsatisfiable => {
            let headers = [(header::CONTENT_RANGE, content_range(None, len))];
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, headers).into_response());
        }
        _ => (StatusCode::OK, None),
    };
    // Every frame to be sent is verified before the status goes out, then again as it streams.
    reader.verify_range().await.map_err(fail)?;
    let content_range = range.map(|r| (header::CONTENT_RANGE, content_range(Some(&r), len)));
    let accept = [(header::ACCEPT_RANGES, "bytes")];
    let headers = (accept, AppendHeaders(content_range));
    let body = Body::new(range_body(reader));
    Ok((status, headers, body).into_response())
}

fn app(store: Store) -> Router {
    let routes = Router::new().route("/objects/{name}", axum::routing::get(get).put(put));
    routes.with_state(store)
}
// ---- end of handlers ----

fn store(dir: PathBuf) -> Result<Store, AnyError> {
    let client = Client::builder()
        .algorithm_suite(AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY)
        .frame_length(FrameLength::new(64 * 1024).expect("non-zero"))
        .build();
    let keys = MaterialsSource::from(RawAesKeyring::new("esdk-examples", "demo-key", &DEMO_KEY)?);
    Ok(Store {
        client,
        keys,
        dir: Arc::new(dir),
    })
}

async fn start(dir: PathBuf) -> Result<SocketAddr, AnyError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = app(store(dir)?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// One HTTP/1.1 request with hyper's client: status, headers, body (or the body's error).
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    range: Option<&str>,
    body: Bytes,
) -> Result<(StatusCode, HeaderMap, Result<Bytes, AnyError>), AnyError> {
    use http_body_util::{BodyExt, Full};
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "store");
    if let Some(r) = range {
        req = req.header(header::RANGE, r);
    }
    let res = sender.send_request(req.body(Full::new(body))?).await?;
    let (parts, body) = res.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(AnyError::from);
    Ok((parts.status, parts.headers, body))
}

/// Starts the store on a free port over a temporary folder; PUTs `size` bytes, GETs them back
/// whole and by ranges, then alters the stored file and checks that the GET fails with an error
/// status. Returns a summary.
pub async fn demo(size: usize) -> Result<String, AnyError> {
    let dir = tempfile::tempdir()?;
    let addr = start(dir.path().to_owned()).await?;
    let data = Bytes::from((0..size).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let (status, _, _) = request(addr, "PUT", "/objects/demo", None, data.clone()).await?;
    check(status == StatusCode::CREATED, format!("PUT: {status}"))?;
    let (status, headers, body) = request(addr, "GET", "/objects/demo", None, Bytes::new()).await?;
    check(
        status == StatusCode::OK && body? == data,
        format!("GET: {status}"),
    )?;
    check(
        headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v == &size.to_string()),
        "no Content-Length",
    )?;
    let mut ranges = 0;
    for (spec, want) in [
        (format!("bytes=0-{}", size.min(10) - 1), 0..size.min(10)),
        (format!("bytes={}-", size / 3), size / 3..size),
        (String::from("bytes=-1000"), size.saturating_sub(1000)..size),
        (
            format!("bytes={}-{}", size / 2, size / 2 + 70_000),
            size / 2..(size / 2 + 70_001).min(size),
        ),
    ] {
        let (status, headers, body) =
            request(addr, "GET", "/objects/demo", Some(&spec), Bytes::new()).await?;
        let range = format!("bytes {}-{}/{size}", want.start, want.end - 1);
        check(
            status == StatusCode::PARTIAL_CONTENT && body? == data.slice(want),
            format!("{spec}: {status}"),
        )?;
        check(
            headers
                .get(header::CONTENT_RANGE)
                .is_some_and(|v| v == &range),
            format!("{spec}: Content-Range"),
        )?;
        ranges += 1;
    }
    let (status, _, _) = request(
        addr,
        "GET",
        "/objects/demo",
        Some(&format!("bytes={size}-")),
        Bytes::new(),
    )
    .await?;
    check(
        status == StatusCode::RANGE_NOT_SATISFIABLE,
        format!("past the end: {status}"),
    )?;
    // Alter one byte in the middle of the stored object: the GET must fail with a status.
    let path = dir.path().join("demo");
    let mut stored = tokio::fs::read(&path).await?;
    let middle = stored.len() / 2;
    stored[middle] ^= 1;
    tokio::fs::write(&path, &stored).await?;
    let (tampered, _, _) = request(addr, "GET", "/objects/demo", None, Bytes::new()).await?;
    check(
        tampered.is_server_error(),
        format!("tampered GET: {tampered}"),
    )?;
    // A cut object too.
    tokio::fs::write(&path, &stored[..stored.len() - 100]).await?;
    let (cut, _, _) = request(addr, "GET", "/objects/demo", None, Bytes::new()).await?;
    check(cut.is_server_error(), format!("cut GET: {cut}"))?;
    Ok(format!(
        "objstore: PUT {size} bytes -> 201; GET -> 200 with Content-Length, intact; {ranges} ranges -> 206 with Content-Range; \
         past the end -> 416; a flipped byte -> {tampered}; a cut object -> {cut}"
    ))
}

fn check(ok: bool, what: impl Into<String>) -> Result<(), AnyError> {
    if ok { Ok(()) } else { Err(what.into().into()) }
}

/// PUTs and GETs `mib` MiB through the store on loopback and prints the throughput.
async fn bench(mib: usize) -> Result<(), AnyError> {
    let dir = tempfile::tempdir()?;
    let addr = start(dir.path().to_owned()).await?;
    let data = Bytes::from(vec![7u8; mib << 20]);
    let t = Instant::now();
    let (status, _, _) = request(addr, "PUT", "/objects/bench", None, data.clone()).await?;
    let put = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (status2, _, body) = request(addr, "GET", "/objects/bench", None, Bytes::new()).await?;
    let get = t.elapsed().as_secs_f64();
    check(
        status == StatusCode::CREATED && status2 == StatusCode::OK && body? == data,
        "round trip",
    )?;
    println!(
        "PUT {mib} MiB: {:.0} MiB/s; GET: {:.0} MiB/s",
        mib as f64 / put,
        mib as f64 / get
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, addr, dir] if cmd == "serve" => {
            let listener = tokio::net::TcpListener::bind(addr.as_str()).await?;
            println!(
                "objstore: serving PUT/GET /objects/NAME on {}",
                listener.local_addr()?
            );
            Ok(axum::serve(listener, app(store(dir.into())?)).await?)
        }
        [cmd, mib] if cmd == "bench" => bench(mib.parse()?).await,
        [] => {
            println!("{}", demo(3 << 20).await?);
            Ok(())
        }
        _ => Err("usage: objstore [serve ADDR DIR | bench MIB]".into()),
    }
}
