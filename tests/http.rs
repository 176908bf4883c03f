//! `esdk::http` (feature `http`): size hints equal the real lengths, the verified helper turns
//! tampering and truncation into an error before a status is chosen, the streaming body sent
//! through hyper with its exact `Content-Length` lets the client detect a cut body, errors map
//! to statuses, `Range` headers parse as RFC 9110 says.

use std::convert::Infallible;

use bytes::Bytes;
use esdk::http::{
    EncryptBody, RangeRequest, content_range, decrypt_body, parse_range, status_code,
};
use esdk::io::{DecryptOptions, Release};
use esdk::{
    AlgorithmSuite, Client, EncryptOptions, Error, FrameLength, MaterialsSource, RawAesKeyring,
};
use http::{HeaderValue, StatusCode};
use http_body::Body as _;
use http_body_util::{BodyExt, Full};

#[allow(dead_code)]
#[path = "../examples/objstore.rs"]
mod objstore;

#[cfg(feature = "tower")]
#[allow(dead_code)]
#[path = "../examples/tenant_notes.rs"]
mod tenant_notes;

const UNSIGNED: AlgorithmSuite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
const SIGNED: AlgorithmSuite = AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384;

fn keys() -> MaterialsSource {
    MaterialsSource::from(RawAesKeyring::new("http", "key", &[6u8; 32]).unwrap())
}

fn plaintext(len: usize) -> Bytes {
    Bytes::from((0..len).map(|i| (i * 11 + 3) as u8).collect::<Vec<u8>>())
}

fn options(suite: AlgorithmSuite) -> EncryptOptions {
    EncryptOptions::new()
        .algorithm_suite(suite)
        .frame_length(FrameLength::new(100).unwrap())
}

async fn encrypt_body(pt: Bytes, suite: AlgorithmSuite) -> (Option<u64>, Bytes) {
    let body = EncryptBody::with_options(&Client::new(), keys(), Full::new(pt), &options(suite))
        .await
        .unwrap();
    let hint = body.size_hint().exact();
    let bytes = body.collect().await.unwrap().to_bytes();
    (hint, bytes)
}

#[tokio::test]
async fn size_hints_equal_the_lengths() {
    for len in [0usize, 1, 99, 100, 101, 200, 1000, 12345] {
        let pt = plaintext(len);
        let (hint, msg) = encrypt_body(pt.clone(), UNSIGNED).await;
        assert_eq!(hint, Some(msg.len() as u64), "encrypt hint, {len} bytes");
        // The message decrypts with the one-shot call to the same plaintext.
        let back = Client::new().decrypt(keys(), &msg).await.unwrap();
        assert_eq!(back.plaintext, pt);
        // Decrypt: exact once the header is read, for both release modes.
        for release in [Release::Streaming, Release::verified(1 << 20)] {
            let body = decrypt_body(
                &Client::new(),
                keys(),
                Full::new(msg.clone()),
                &DecryptOptions::new().release(release),
            )
            .await
            .unwrap();
            assert_eq!(
                body.size_hint().exact(),
                Some(len as u64),
                "decrypt hint, {len} bytes"
            );
            assert_eq!(body.collect().await.unwrap().to_bytes(), pt);
        }
        // Signed: the footer's length is not known in advance, so bounds only.
        let (hint, msg) = encrypt_body(pt.clone(), SIGNED).await;
        assert_eq!(hint, None);
        let body = decrypt_body(
            &Client::new(),
            keys(),
            Full::new(msg.clone()),
            &DecryptOptions::new(),
        )
        .await
        .unwrap();
        let h = body.size_hint();
        assert!(h.exact().is_none() && h.upper().unwrap() >= len as u64);
        assert_eq!(body.collect().await.unwrap().to_bytes(), pt);
    }
}

#[tokio::test]
async fn verified_decrypt_body_fails_before_the_status_for_any_damage() {
    let pt = plaintext(3000);
    for suite in [UNSIGNED, SIGNED] {
        let (_, msg) = encrypt_body(pt.clone(), suite).await;
        let verified = DecryptOptions::new().release(Release::verified(1 << 20));
        // Every 37th byte flipped, and cuts at every 53rd length.
        for at in (0..msg.len()).step_by(37) {
            let mut bad = msg.to_vec();
            bad[at] ^= 0x40;
            let err = decrypt_body(
                &Client::new(),
                keys(),
                Full::new(Bytes::from(bad)),
                &verified,
            )
            .await
            .expect_err("a flipped byte passed");
            assert!(status_code(&err).is_client_error() || status_code(&err).is_server_error());
            assert_ne!(status_code(&err), StatusCode::OK);
        }
        for cut in (0..msg.len()).step_by(53) {
            let err = decrypt_body(
                &Client::new(),
                keys(),
                Full::new(msg.slice(..cut)),
                &verified,
            )
            .await
            .expect_err("a cut body passed");
            assert_eq!(status_code(&err), StatusCode::BAD_REQUEST, "{err}");
        }
    }
}

#[test]
fn errors_map_to_statuses() {
    use esdk::error::{AuthError, FormatError, KeyringError, LimitError, PolicyError};
    let cases: Vec<(Error, StatusCode)> = vec![
        (FormatError::Truncated.into(), StatusCode::BAD_REQUEST),
        (
            AuthError::FrameTag { seq: 3 }.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            KeyringError::NoDecryptableKey { attempts: vec![] }.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            LimitError::HeaderTooLarge(10).into(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            PolicyError::SignedMessageNotAllowed(0x578).into(),
            StatusCode::FORBIDDEN,
        ),
        (
            KeyringError::Service {
                key_id: "k".into(),
                message: "throttled".into(),
                source: None,
            }
            .into(),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            KeyringError::InvalidConfiguration("x".into()).into(),
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        (
            Error::Io(std::io::ErrorKind::ConnectionReset.into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            Error::Io(std::io::ErrorKind::PermissionDenied.into()),
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        // An adapter's io::Error keeps the typed error inside: it counts as that error.
        (
            Error::Io(std::io::Error::from(Error::from(AuthError::Signature))),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (e, want) in cases {
        assert_eq!(status_code(&e), want, "{e}");
    }
}

#[test]
fn range_headers() {
    let v = |s: &str| HeaderValue::from_str(s).unwrap();
    let p = |s: &str, len| parse_range(Some(&v(s)), len);
    assert_eq!(parse_range(None, 10), RangeRequest::Whole);
    assert_eq!(p("bytes=0-4", 10), RangeRequest::Partial(0..5));
    assert_eq!(p("bytes=5-", 10), RangeRequest::Partial(5..10));
    assert_eq!(p("bytes=-3", 10), RangeRequest::Partial(7..10));
    assert_eq!(p("bytes=-30", 10), RangeRequest::Partial(0..10));
    assert_eq!(p("bytes=8-100", 10), RangeRequest::Partial(8..10));
    assert_eq!(p("bytes=10-", 10), RangeRequest::Unsatisfiable);
    assert_eq!(p("bytes=-0", 10), RangeRequest::Unsatisfiable);
    assert_eq!(p("bytes=0-", 0), RangeRequest::Unsatisfiable);
    for whole in [
        "bytes=5-2",
        "bytes=0-1,4-5",
        "items=0-1",
        "bytes=a-b",
        "bytes=-",
        "bytes=+1-2",
    ] {
        assert_eq!(p(whole, 10), RangeRequest::Whole, "{whole}");
    }
    assert_eq!(content_range(Some(&(0..5)), 10), "bytes 0-4/10");
    assert_eq!(content_range(None, 10), "bytes */10");
}

/// A streaming decrypt served by hyper with its exact size hint: hyper sends
/// `Content-Length`, so when a frame in the middle is damaged the client gets fewer bytes than
/// announced and its body read fails, instead of a clean short body.
#[tokio::test]
async fn hyper_sends_content_length_and_the_client_detects_a_cut() {
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    let pt = plaintext(200_000);
    let (_, msg) = encrypt_body(pt.clone(), UNSIGNED).await;
    let mut bad = msg.to_vec();
    bad[msg.len() / 2] ^= 1;
    let bad = Bytes::from(bad);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stored = [msg.clone(), bad];
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let stored = stored.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let object = stored[usize::from(req.uri().path() == "/bad")].clone();
                    async move {
                        let body = decrypt_body(
                            &Client::new(),
                            keys(),
                            Full::new(object),
                            &DecryptOptions::new(),
                        )
                        .await;
                        Ok::<_, Infallible>(match body {
                            Ok(b) => hyper::Response::new(b.boxed()),
                            Err(e) => {
                                let mut r =
                                    hyper::Response::new(esdk::http::text_body(e.to_string()));
                                *r.status_mut() = status_code(&e);
                                r
                            }
                        })
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    for (path, intact) in [("/good", true), ("/bad", false)] {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = hyper::Request::get(path)
            .header("host", "x")
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers().get(http::header::CONTENT_LENGTH).unwrap(),
            &pt.len().to_string()
        );
        let body = res.into_body().collect().await;
        if intact {
            assert_eq!(body.unwrap().to_bytes(), pt);
        } else {
            assert!(body.is_err(), "a cut body read as complete");
        }
    }
}

/// The axum object-store example: PUT, GET with `Content-Length`, four ranges with `206` and
/// `Content-Range`, `416` past the end, and error statuses for a flipped byte and a cut object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_store_example_serves_ranges_and_refuses_tampering() {
    let summary = objstore::demo(3 << 20).await.expect("objstore demo");
    eprintln!("{summary}");
    assert!(summary.contains("a flipped byte -> 500"), "{summary}");
}

/// The tower layer under axum (examples/tenant_notes.rs): a sealed note stored and read back
/// sealed with an exact `Content-Length`, the same message refused under another tenant or
/// path, a tampered one refused, and nothing reaching the handler from an empty `PUT`.
#[cfg(feature = "tower")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tower_layer_example_binds_messages_to_tenant_and_path() {
    let summary = tenant_notes::demo().await.expect("tenant_notes demo");
    eprintln!("{summary}");
    assert!(summary.contains("another tenant: 4"), "{summary}");
    let addr = tenant_notes::start().await.unwrap();
    let (status, _, _) = tenant_notes::request(addr, "PUT", "/notes/9", "a", Vec::new())
        .await
        .unwrap();
    assert!(status.is_client_error(), "empty PUT: {status}");
    let (status, _, _) = tenant_notes::request(addr, "GET", "/notes/9", "a", Vec::new())
        .await
        .unwrap();
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the empty PUT stored nothing"
    );
}
