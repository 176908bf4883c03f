//! The tower layer of `esdk::http` (feature `tower`): see [`EncryptionLayer`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode, request};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{BoxBody, EncryptBody, decrypt_body, status_code, text_body};
use crate::client::{Client, EncryptOptions, MaterialsSource};
use crate::context::EncryptionContext;
use crate::error::{Error, ErrorKind, Result};
use crate::io::{DecryptOptions, Release, stream_error};

type ContextFn = Arc<dyn Fn(&request::Parts) -> EncryptionContext + Send + Sync>;

#[derive(Clone)]
struct Config {
    client: Client,
    source: MaterialsSource,
    requests: Option<(ContextFn, Release)>,
    responses: Option<ContextFn>,
}

/// A [`tower`](https://docs.rs/tower) [`Layer`] (feature `tower`) that wraps any
/// service of `http::Request` → `http::Response` (an axum `Router`, a hyper service, a tonic
/// service) so that it receives request bodies already decrypted and/or sends response bodies
/// encrypted, with an encryption context computed from each request (its path, a tenant
/// header, …).
///
/// - **Requests** ([`decrypt_requests`](EncryptionLayer::decrypt_requests)): every request
///   body must be a message, except the empty body of a `GET`, `HEAD`, `OPTIONS`, `DELETE` or
///   `TRACE` (so an empty `PUT` or `POST` is refused, never passed on as an empty plaintext).
///   The header is read
///   and the materials obtained before the inner service is called. A message that is
///   malformed, for another context, or that no key can decrypt is answered with an error
///   status ([`status_code`]) and the inner service never sees it. Under
///   [`Release::Verified`] the whole body is verified first; under [`Release::Streaming`] the
///   inner service reads plaintext as it arrives, and a later failure is an error from the body
///   (which axum's extractors turn into a `400`).
/// - **Responses** ([`encrypt_responses`](EncryptionLayer::encrypt_responses)): a successful
///   (`2xx`) response's body is encrypted as it streams, its `Content-Length` replaced by the
///   message's (exact for unsigned suites and bodies of known length) and its `Content-Type`
///   set to `application/octet-stream`. Other statuses pass as they are: their bodies are the
///   service's own error text. When the materials cannot be obtained the client gets `503`
///   (key service unavailable) or `500`, with no detail.
///
/// The suite and frame length are the [`Client`]'s ([`ClientBuilder`](crate::ClientBuilder)).
///
/// ```no_run
/// # async fn demo(client: esdk::Client, keys: esdk::MaterialsSource) {
/// use esdk::EncryptionContext;
/// use esdk::http::EncryptionLayer;
/// use esdk::io::Release;
///
/// // Each tenant's data under its own context: a message for one tenant cannot be passed off
/// // as another's.
/// let tenant = |req: &http::request::Parts| -> EncryptionContext {
///     let name = req.headers.get("x-tenant").and_then(|v| v.to_str().ok()).unwrap_or("");
///     [("tenant", name), ("path", req.uri.path())].into_iter().collect()
/// };
/// let layer = EncryptionLayer::new(client, keys)
///     .decrypt_requests(tenant, Release::Streaming)
///     .encrypt_responses(tenant);
/// // axum: Router::new().route(...).layer(layer)
/// # let _ = layer;
/// # }
/// ```
///
/// Cheap to clone.
#[derive(Clone)]
#[must_use]
pub struct EncryptionLayer {
    config: Arc<Config>,
}

impl fmt::Debug for EncryptionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionLayer")
            .field("decrypts_requests", &self.config.requests.is_some())
            .field("encrypts_responses", &self.config.responses.is_some())
            .finish_non_exhaustive()
    }
}

impl EncryptionLayer {
    /// A layer that uses `client` and `source` for both directions; it does nothing until
    /// [`decrypt_requests`](Self::decrypt_requests) or
    /// [`encrypt_responses`](Self::encrypt_responses) is set.
    pub fn new(client: Client, source: impl Into<MaterialsSource>) -> Self {
        Self {
            config: Arc::new(Config {
                client,
                source: source.into(),
                requests: None,
                responses: None,
            }),
        }
    }

    fn config_mut(&mut self) -> &mut Config {
        // Unique while the layer is being built; a copy otherwise.
        Arc::make_mut(&mut self.config)
    }

    /// Decrypts every request body: the message must carry the pairs `context` returns for
    /// the request (its other pairs are allowed), and plaintext is released as `release` says.
    pub fn decrypt_requests<F>(mut self, context: F, release: Release) -> Self
    where
        F: Fn(&request::Parts) -> EncryptionContext + Send + Sync + 'static,
    {
        self.config_mut().requests = Some((Arc::new(context), release));
        self
    }

    /// Encrypts the body of every successful response under the encryption context `context`
    /// returns for the request.
    pub fn encrypt_responses<F>(mut self, context: F) -> Self
    where
        F: Fn(&request::Parts) -> EncryptionContext + Send + Sync + 'static,
    {
        self.config_mut().responses = Some(Arc::new(context));
        self
    }
}

impl<S> Layer<S> for EncryptionLayer {
    type Service = EncryptionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EncryptionService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service [`EncryptionLayer`] makes.
#[derive(Clone)]
pub struct EncryptionService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: fmt::Debug> fmt::Debug for EncryptionService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// The future of [`EncryptionService`].
pub type ResponseFuture<E> =
    Pin<Box<dyn Future<Output = std::result::Result<Response<BoxBody>, E>> + Send>>;

impl<S, ReqB, ResB> Service<Request<ReqB>> for EncryptionService<S>
where
    S: Service<Request<BoxBody>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    ReqB: Body + Send + Unpin + 'static,
    ReqB::Data: Send,
    ReqB::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResB: Body + Send + 'static,
    ResB::Data: Send,
    ResB::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<BoxBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        // The clone that was made ready is the one that serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = self.config.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let response_context = config.responses.as_ref().map(|f| f(&parts));
            let body = match &config.requests {
                None => BoxBody::new(Passed { inner: body }),
                Some(_) if bodiless(&parts.method, &body) => BoxBody::new(Passed { inner: body }),
                Some((context, release)) => {
                    let expected = context(&parts);
                    let options = DecryptOptions::new()
                        .encryption_context(expected.iter())
                        .release(*release);
                    match decrypt_body(&config.client, &config.source, body, &options).await {
                        Ok(plaintext) => {
                            // The plaintext's length is the body's size hint, when known.
                            parts.headers.remove(CONTENT_LENGTH);
                            if let Some(n) = plaintext.size_hint().exact() {
                                parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
                            }
                            plaintext.boxed()
                        }
                        Err(e) => return Ok(refusal(&e)),
                    }
                }
            };
            let response = inner.call(Request::from_parts(parts, body)).await?;
            let Some(context) = response_context.filter(|_| response.status().is_success()) else {
                return Ok(response.map(|b| BoxBody::new(Passed { inner: b })));
            };
            let (mut parts, body) = response.into_parts();
            let options = EncryptOptions {
                encryption_context: context,
                ..EncryptOptions::new()
            };
            match EncryptBody::with_options(&config.client, &config.source, body, &options).await {
                Ok(sealed) => {
                    parts.headers.remove(CONTENT_LENGTH);
                    if let Some(n) = sealed.size_hint().exact() {
                        parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
                    }
                    parts.headers.insert(
                        CONTENT_TYPE,
                        HeaderValue::from_static("application/octet-stream"),
                    );
                    Ok(Response::from_parts(parts, sealed.boxed()))
                }
                Err(e) => Ok(server_fault(&e)),
            }
        })
    }
}

/// A request of a method without content semantics (`GET`, `HEAD`, `OPTIONS`, `DELETE`,
/// `TRACE`) that carries no body: nothing to decrypt. Any other request must carry a message,
/// so that an empty body cannot stand in for an authenticated plaintext.
fn bodiless<B: Body>(method: &http::Method, body: &B) -> bool {
    use http::Method;
    let safe = [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::DELETE,
        Method::TRACE,
    ];
    safe.contains(method) && (body.is_end_stream() || body.size_hint().exact() == Some(0))
}

/// The answer to a request whose message cannot be decrypted: its status and the reason (the
/// client's own message is at fault, or the key service is down).
fn refusal(error: &Error) -> Response<BoxBody> {
    let mut response = Response::new(text_body(format!("{error}\n")));
    *response.status_mut() = status_code(error);
    response
}

/// The answer when a response cannot be encrypted: the server's fault, told without detail.
fn server_fault(error: &Error) -> Response<BoxBody> {
    let status = match error.kind() {
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut response = Response::new(text_body(format!("{status}\n")));
    *response.status_mut() = status;
    response
}

pin_project! {
    /// A body passed through unchanged, with its data as `Bytes` and its errors as [`Error`].
    struct Passed<B> {
        #[pin]
        inner: B,
    }
}

impl<B> Body for Passed<B>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>>>> {
        match std::task::ready!(self.project().inner.poll_frame(cx)) {
            None => Poll::Ready(None),
            Some(Err(e)) => Poll::Ready(Some(Err(stream_error(e)))),
            Some(Ok(frame)) => Poll::Ready(Some(Ok(
                frame.map_data(|mut d| d.copy_to_bytes(d.remaining()))
            ))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
