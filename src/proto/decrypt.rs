//! Decryption as three types, one per step of `client-apis/decrypt.md`.
//!
//! ```text
//!  HeaderDecoder ──decode()──► ParsedHeader ──with_materials()──► BodyDecryptor
//!  parse the header            the "get the decryption            keys derived; key commitment
//!  (Ok(None): more input)      materials" step: the caller        and header tag verified
//!                              obtains them for header()
//!
//!  BodyDecryptor states (with_materials() starts in Frames or NonFramed by content type);
//!  decode()* yields Plaintext, then Done once; Ok(None): more input
//!
//!                 claim_frames(self)        ┌───────────┐  a run of regular frames opened
//!          ┌──────────────────────────────► │ FramesOut │  elsewhere; it owns the decryptor
//!          │    ┌────────────────────────── └───────────┘  until finish(outcome)
//!          │    ▼
//!   ┌─────────────┐ regular frame:       ┌───────────────┐
//!   │   Frames    │ Plaintext ──┐        │   NonFramed   │
//!   │ key, verif. │ ◄───────────┘        │  key, verif.  │
//!   └──────┬──────┘                      └───────┬───────┘
//!          │ final frame                         │ the one block
//!          └───────────────────┬─────────────────┘
//!                  unsigned:   │   signed: the plaintext
//!                  Plaintext   │   is held
//!             ┌────────────────┴─────────────┐
//!             ▼                              ▼
//!      ┌────────────┐  signature       ┌───────────────┐
//!      │    Done    │ ◄─────────────── │    Footer     │
//!      └────────────┘  verified: the   │ held, verif.  │
//!      Done once;      held Plaintext  └───────────────┘
//!      finish(rest): nothing may follow
//!
//!  any error ──► Failed: the keys and the verifier are dropped, every later call fails
//! ```
//!
//! Each state owns what it needs: `Frames` and `NonFramed` the content key (a
//! [`FrameCipher`]) and the signature verifier of a signed message, `Footer` the verifier and
//! the held plaintext. A run of frames claimed for opening on other threads
//! ([`crate::proto::frames`]) takes the whole decryptor with it, so nothing can be decoded while
//! it is out and it cannot come back to another message. An unsigned message's runs may
//! instead be claimed *detached* (`claim_detached`): the decryptor stays and moves on, so a
//! driver can have several runs opening at once; it counts the runs it owes and decodes nothing
//! further (the final frame least of all) until each one's outcome is back (`detached_opened`),
//! and the first failure spends it.
//!
//! Release rules (`client-apis/decrypt.md`): nothing is released before the header tag
//! verifies; a frame's plaintext is released only after its tag verifies; the final frame and a
//! non-framed body of a *signed* message are held until the signature verifies.

use bytes::{Bytes, BytesMut};

use crate::crypto::{CryptoProvider, Verifier};
use crate::error::{AuthError, Error, FormatError, KeyringError, PolicyError, Result};
use crate::format::body::{self, BodyKind, FrameHead};
use crate::format::header::{HeaderParser, Parsed};
use crate::format::{ContentType, MessageHeader};
use crate::limits::Limits;
use crate::materials::DecryptionMaterials;
use crate::proto::frames::{FrameCipher, FrameJobs, OpenRun};
use crate::proto::keys;
use crate::suite::{CommitmentPolicy, IV_LEN, MessageFormatVersion, TAG_LEN};

/// When a decrypting adapter lets plaintext out. See the [`io` module docs](crate::io#when-plaintext-is-released).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Release {
    /// Each frame once its tag verifies; for signed suites the final frame (and a non-framed
    /// body) only after the signature verifies.
    #[default]
    Streaming,
    /// As [`Release::Streaming`], but refuse signed messages right after the header.
    UnsignedOnly,
    /// Release nothing until the whole message has verified and the input has ended.
    ///
    /// Up to `memory_limit` bytes of plaintext are held in memory; beyond that the plaintext
    /// is spilled to an anonymous temporary file (the `tempfile` crate: unlinked at once where
    /// the OS allows, removed on drop otherwise), **encrypted** with AES-256-GCM under a random
    /// key that lives only in memory, so plaintext never reaches the disk. Spilling uses
    /// `tokio::fs` and so needs a tokio runtime. The codec cannot do file I/O from a
    /// `Decoder`, so [`MessageDecoder`](crate::io::MessageDecoder) fails with a limit error instead of spilling.
    Verified {
        /// Plaintext bytes held in memory before spilling to disk.
        memory_limit: usize,
    },
}

impl Release {
    /// [`Release::Verified`] with `memory_limit` bytes held in memory before spilling.
    pub fn verified(memory_limit: usize) -> Self {
        Self::Verified { memory_limit }
    }
}

/// What a [`BodyDecryptor`] produced.
#[derive(Debug)]
#[non_exhaustive]
pub enum DecryptEvent {
    /// Authenticated plaintext, in order.
    Plaintext(Bytes),
    /// The message is complete and every check passed. Reported once.
    Done,
}

/// The first step of decryption: message bytes in until the header (body and authentication)
/// is complete, then a [`ParsedHeader`] out. No I/O.
///
/// Made by [`Client::header_decoder`](crate::Client::header_decoder). Feed bytes by appending
/// them to a `BytesMut` and calling [`decode`](Self::decode) until it returns the header;
/// `Ok(None)` always means "more input". The header's bytes are split off the input; what
/// follows them is the body. Afterwards the decoder is ready for the header of another message.
#[derive(Debug)]
pub struct HeaderDecoder {
    commitment_policy: CommitmentPolicy,
    limits: Limits,
    /// Fail right after the header when the message is signed (the spec's "decrypt
    /// unsigned-only" mode, for callers that must stream without holding back).
    unsigned_only: bool,
    provider: CryptoProvider,
    /// Bytes after the message belong to the next one: leave them in the input.
    concatenated: bool,
    step: HeaderStep,
}

#[derive(Debug)]
enum HeaderStep {
    /// Fields of the header body are arriving. The parser resumes at the field it stopped at
    /// once `need` bytes are in, so that a header fed a byte at a time costs linear work.
    Fields { parser: HeaderParser, need: usize },
    /// The header body is parsed; its authentication is arriving (`total` bytes in all).
    Auth { header: MessageHeader, total: usize },
}

impl HeaderStep {
    fn start() -> Self {
        Self::Fields {
            parser: HeaderParser::new(),
            need: 0,
        }
    }
}

impl HeaderDecoder {
    /// A decoder waiting for the first byte of a message.
    pub(crate) fn new(
        commitment_policy: CommitmentPolicy,
        limits: Limits,
        release: Release,
        provider: &CryptoProvider,
    ) -> Self {
        Self {
            commitment_policy,
            limits,
            unsigned_only: release == Release::UnsignedOnly,
            provider: *provider,
            concatenated: false,
            step: HeaderStep::start(),
        }
    }

    /// Lets bytes follow the message (the next message of a connection): the body decryptor
    /// stops at the end of the message and leaves them in the input, instead of failing with
    /// [`FormatError::TrailingData`]. [`BodyDecryptor::finish`] still reports them.
    pub(crate) fn set_concatenated(&mut self) {
        self.concatenated = true;
    }

    /// Consumes the header from the front of `input` once it is all there and returns it
    /// (its tag is not checked yet: that needs the materials); `Ok(None)` when more input is
    /// needed. Nothing of `input` is consumed before the header is complete.
    ///
    /// # Errors
    /// A malformed header, a limit, the commitment policy, or a signed message when only
    /// unsigned ones are accepted. The input is then left as it was.
    pub fn decode(&mut self, input: &mut BytesMut) -> Result<Option<ParsedHeader>> {
        // Taken out: an error leaves the decoder at the start of a header, and `input` untouched.
        let (mut header, total) = match std::mem::replace(&mut self.step, HeaderStep::start()) {
            HeaderStep::Fields { mut parser, need } => {
                if input.len() < need {
                    self.step = HeaderStep::Fields { parser, need };
                    return Ok(None);
                }
                match parser.resume(input, &self.limits)? {
                    Parsed::Done(header, body_len) => {
                        let total = body_len + header.auth_len();
                        (header, total)
                    }
                    Parsed::Incomplete(need) => {
                        self.step = HeaderStep::Fields { parser, need };
                        return Ok(None);
                    }
                }
            }
            HeaderStep::Auth { header, total } => (header, total),
        };
        if input.len() < total {
            self.step = HeaderStep::Auth { header, total };
            return Ok(None);
        }
        self.commitment_policy.check_decrypt(header.suite)?;
        if self.unsigned_only && header.suite.is_signing() {
            return Err(PolicyError::SignedMessageNotAllowed(header.suite.id()).into());
        }
        let raw = input.split_to(total).freeze();
        if header.commitment.is_none() {
            // v1: candidate data keys are checked against the header tag. A copy, so that the
            // input buffer is not kept alive with it.
            header.raw = Some(Bytes::copy_from_slice(&raw));
        }
        Ok(Some(ParsedHeader {
            header,
            raw,
            commitment_policy: self.commitment_policy,
            limits: self.limits,
            provider: self.provider,
            concatenated: self.concatenated,
        }))
    }
}

/// A parsed header whose tag is not checked yet: the step that waits for decryption materials.
///
/// Obtain materials for [`header`](Self::header) (a keyring or CMM, e.g.
/// [`Client::decrypt_materials`](crate::Client::decrypt_materials)) and pass them to
/// [`with_materials`](Self::with_materials), which checks them and the header and returns the
/// [`BodyDecryptor`].
pub struct ParsedHeader {
    header: MessageHeader,
    /// The header body and authentication exactly as received.
    raw: Bytes,
    commitment_policy: CommitmentPolicy,
    limits: Limits,
    provider: CryptoProvider,
    concatenated: bool,
}

impl std::fmt::Debug for ParsedHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedHeader")
            .field("header", &self.header)
            .field("header_len", &self.raw.len())
            .finish_non_exhaustive()
    }
}

impl ParsedHeader {
    /// The header (not authenticated yet).
    pub fn header(&self) -> &MessageHeader {
        &self.header
    }

    /// Length of the header (body and authentication) in bytes: where the body starts.
    pub fn header_len(&self) -> usize {
        self.raw.len()
    }

    /// Checks the materials against the header, derives the keys, checks the key commitment
    /// and the header tag. The body decryptor then yields plaintext.
    ///
    /// # Errors
    /// When the materials do not fit the header, or the commitment or the header tag does not
    /// verify.
    pub fn with_materials(self, materials: &DecryptionMaterials) -> Result<BodyDecryptor> {
        let header = &self.header;
        let suite = header.suite;
        if materials.algorithm_suite() != suite {
            return Err(PolicyError::MaterialsMismatch(
                "algorithm suite differs from the message's",
            )
            .into());
        }
        self.commitment_policy.check_decrypt(suite)?;
        let data_key = materials
            .data_key()
            .ok_or(KeyringError::InvalidMaterials("no plaintext data key"))?;
        let keys = keys::derive(&self.provider, suite, data_key, &header.message_id)?;
        if let (Some(stored), Some(derived)) = (&header.commitment, &keys.commitment) {
            keys::check_commitment(stored, derived)?;
        }
        // Header tag: AAD = the header body exactly as received ‖ the required pairs.
        let (raw_body, auth) = self.raw.split_at(self.raw.len() - header.auth_len());
        let required = materials
            .encryption_context()
            .subset(materials.required_encryption_context_keys());
        let mut aad = raw_body.to_vec();
        aad.extend_from_slice(&required.serialize()?);
        let (iv, tag) = match header.version() {
            MessageFormatVersion::V1 => match auth.split_first_chunk::<IV_LEN>() {
                Some((iv, tag)) => (*iv, tag),
                None => return Err(FormatError::Truncated.into()),
            },
            MessageFormatVersion::V2 => ([0u8; IV_LEN], auth),
        };
        let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| FormatError::Truncated)?;
        keys.content
            .open_in_place(&iv, &aad, &mut [], tag)
            .map_err(|_| AuthError::HeaderAuth)?;
        let verifier = match (suite.signature(), materials.verification_key()) {
            (Some(alg), Some(public)) => {
                let mut v = self.provider.ecdsa.verifier(alg, public)?;
                v.update(&self.raw);
                Some(v)
            }
            (None, None) => None,
            _ => {
                return Err(KeyringError::InvalidMaterials(
                    "verification key presence does not match the algorithm suite",
                )
                .into());
            }
        };
        let cipher = FrameCipher::new(
            std::sync::Arc::from(keys.content),
            &header.message_id,
            header.frame_length,
        );
        let state = match header.content_type {
            ContentType::Framed => Body::Frames(Frames {
                cipher,
                next_seq: 1,
                verifier,
                detached: 0,
            }),
            ContentType::NonFramed => Body::NonFramed { cipher, verifier },
        };
        Ok(BodyDecryptor {
            common: Common {
                header_len: self.raw.len(),
                header: self.header,
                limits: self.limits,
                concatenated: self.concatenated,
            },
            state,
        })
    }
}

/// What the body states share: the message's header and settings.
struct Common {
    header: MessageHeader,
    header_len: usize,
    limits: Limits,
    concatenated: bool,
}

/// The body of a message whose header has been authenticated: message bytes in,
/// [`DecryptEvent`]s out, no I/O.
///
/// Feed bytes by appending them to a `BytesMut` and calling [`decode`](Self::decode) until it
/// returns `Ok(None)` (more input needed). Frames are split off the buffer and decrypted in
/// place, so plaintext comes out without a copy. At the end of input call
/// [`finish`](Self::finish): it fails unless the whole message, and nothing more, was seen.
pub struct BodyDecryptor {
    common: Common,
    state: Body,
}

enum Body {
    Frames(Frames),
    NonFramed {
        cipher: FrameCipher,
        verifier: Option<Box<dyn Verifier>>,
    },
    /// The final frame or non-framed body of a signed message is in `held` until the signature
    /// verifies.
    Footer {
        held: Bytes,
        verifier: Box<dyn Verifier>,
    },
    Done {
        reported: bool,
    },
    Failed,
}

/// Regular frames from `next_seq` on, then the final frame.
struct Frames {
    cipher: FrameCipher,
    next_seq: u32,
    /// The signature hash of a signed message.
    verifier: Option<Box<dyn Verifier>>,
    /// Runs of an unsigned message claimed with [`BodyDecryptor::claim_detached`] whose outcome
    /// has not come back: `next_seq` counts their frames as if they had opened, so nothing
    /// after them may be decoded until every one has.
    detached: u32,
}

impl Frames {
    fn cursor(&self) -> FrameCursor {
        FrameCursor {
            next_seq: self.next_seq,
            frame_length: self.cipher.frame_length(),
        }
    }
}

/// What [`BodyDecryptor::decode`] does after a step.
enum Next {
    Again,
    Return(Option<DecryptEvent>),
}

impl std::fmt::Debug for BodyDecryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            Body::Frames(fr) => {
                format!("Frames(next_seq {}, detached {})", fr.next_seq, fr.detached)
            }
            Body::NonFramed { .. } => "NonFramed".into(),
            Body::Footer { .. } => "Footer".into(),
            Body::Done { .. } => "Done".into(),
            Body::Failed => "Failed".into(),
        };
        f.debug_struct("BodyDecryptor")
            .field("header", &self.common.header)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl BodyDecryptor {
    /// The message header (its tag has verified).
    pub fn header(&self) -> &MessageHeader {
        &self.common.header
    }

    /// Length of the header (body and authentication) in bytes: where the body starts.
    pub fn header_len(&self) -> usize {
        self.common.header_len
    }

    /// True once the whole message has been verified.
    pub fn is_done(&self) -> bool {
        matches!(self.state, Body::Done { .. })
    }

    /// Consumes what it can from the front of `input` and returns the next event, or
    /// `Ok(None)` when it needs more input.
    ///
    /// # Errors
    /// Any format, authentication or limit failure. After an error the decryptor is spent:
    /// its keys are dropped and every later call fails too.
    pub fn decode(&mut self, input: &mut BytesMut) -> Result<Option<DecryptEvent>> {
        loop {
            // Taken out: on an error the decryptor stays `Failed`, the keys dropped.
            let state = std::mem::replace(&mut self.state, Body::Failed);
            let (state, next) = step(&self.common, state, input)?;
            self.state = state;
            if let Next::Return(event) = next {
                return Ok(event);
            }
        }
    }

    /// Call at the end of input, with whatever input is left: succeeds only when the message
    /// was complete and verified and nothing follows it.
    ///
    /// # Errors
    /// [`FormatError::Truncated`] when the message is incomplete, [`FormatError::TrailingData`]
    /// when bytes follow it, [`Error::ApiMisuse`] when decoding already failed (the failure
    /// was reported then).
    pub fn finish(&self, remaining: &[u8]) -> Result<()> {
        match self.state {
            Body::Done { .. } if remaining.is_empty() => Ok(()),
            Body::Done { .. } => Err(FormatError::TrailingData(remaining.len()).into()),
            Body::Failed => Err(spent()),
            _ => Err(FormatError::Truncated.into()),
        }
    }

    /// Where the regular frames stand, while the next block is a frame of a framed message
    /// (none is being decoded); `None` elsewhere.
    pub(crate) fn cursor(&self) -> Option<FrameCursor> {
        match &self.state {
            Body::Frames(f) => Some(f.cursor()),
            _ => None,
        }
    }

    /// The frame cipher of an unsigned framed message whose body has not been decoded yet:
    /// what range decryption opens frames with. `None` otherwise.
    pub(crate) fn into_first_frames(self) -> Option<FrameCipher> {
        match self.state {
            Body::Frames(Frames {
                cipher,
                next_seq: 1,
                verifier: None,
                detached: 0,
            }) => Some(cipher),
            _ => None,
        }
    }

    /// Claims up to `max` whole regular frames at the front of `input` for opening elsewhere
    /// (see [`crate::proto::frames`]): as many as [`FrameCursor::claimable`] counts. The run
    /// takes the decryptor with it; [`FramesOut::finish`] gives it back. `Err(self)` when no
    /// frame can be claimed (outside the frames of a framed message, or `input` does not start
    /// with a whole regular frame with the expected sequence number). Anything unusual (a
    /// short frame, the final frame, a wrong sequence number) ends the run before it and is
    /// left to [`decode`](Self::decode), which reports it exactly as without runs. `input` is
    /// not consumed: the caller drops the run's `wire_total()` bytes from its front.
    // `Err` gives the decryptor back whole, as `Result::Err` conventionally does; boxing it
    // would cost an allocation per attempt.
    #[allow(clippy::result_large_err)]
    pub(crate) fn claim_frames(self, input: &[u8], max: usize) -> Result<FramesOut, Self> {
        match self.state {
            Body::Frames(f) => {
                let count = f.cursor().claimable(input, max);
                if count == 0 || f.detached > 0 {
                    return Err(Self {
                        common: self.common,
                        state: Body::Frames(f),
                    });
                }
                Ok(FramesOut {
                    run: OpenRun {
                        jobs: FrameJobs {
                            cipher: f.cipher,
                            first_seq: f.next_seq,
                            count,
                        },
                        verifier: f.verifier,
                    },
                    common: self.common,
                })
            }
            state => Err(Self {
                common: self.common,
                state,
            }),
        }
    }

    /// Claims up to `max` whole regular frames at the front of `input`, like
    /// [`claim_frames`](Self::claim_frames), for an *unsigned* message only, while the
    /// decryptor stays with the caller: it moves on as if the run had opened, so the next run
    /// can be claimed while this one is opened elsewhere. `None` when no frame can be claimed
    /// (as `claim_frames`) or the message is signed (its hash must see the frames in order).
    ///
    /// Every run so claimed is *owed*: until [`detached_opened`](Self::detached_opened) has
    /// taken each one's outcome, [`decode`](Self::decode) refuses to go on (the final frame
    /// must not complete a message whose earlier frames have not authenticated) and
    /// `claim_frames` claims nothing. The driver releases the runs' plaintext in the order
    /// claimed, each only once its own outcome came back `Ok`. `input` is not consumed.
    pub(crate) fn claim_detached(&mut self, input: &[u8], max: usize) -> Option<OpenRun> {
        let Body::Frames(f) = &mut self.state else {
            return None;
        };
        if f.verifier.is_some() {
            return None;
        }
        let count = f.cursor().claimable(input, max);
        if count == 0 {
            return None;
        }
        let jobs = FrameJobs {
            cipher: f.cipher.clone(),
            first_seq: f.next_seq,
            count,
        };
        // Fits: `claimable` counts only sequence numbers below the final-frame marker.
        f.next_seq += count as u32;
        f.detached += 1;
        Some(OpenRun {
            jobs,
            verifier: None,
        })
    }

    /// Takes the outcome of the oldest run claimed with
    /// [`claim_detached`](Self::claim_detached). On an error the decryptor is spent (its keys
    /// dropped) and the error returned: neither that run's plaintext nor any later one's may
    /// be released.
    pub(crate) fn detached_opened(&mut self, outcome: Result<()>) -> Result<()> {
        let owed = match &mut self.state {
            Body::Frames(f) if f.detached > 0 => &mut f.detached,
            Body::Failed => return Err(spent()),
            _ => {
                self.state = Body::Failed;
                return Err(Error::misuse("no detached run of frames is out"));
            }
        };
        if let Err(e) = outcome {
            self.state = Body::Failed;
            return Err(e);
        }
        *owed -= 1;
        Ok(())
    }
}

/// The error of a call after a failure. A [`BodyDecryptor`] is used through `&mut self` by
/// drivers that keep it in a field, so a call after an error cannot be ruled out by types;
/// the failure itself was reported by the call that met it.
fn spent() -> Error {
    Error::misuse("decryption already failed")
}

/// A run of regular frames claimed with [`BodyDecryptor::claim_frames`], holding the rest of
/// the decryptor until it comes back through [`finish`](Self::finish).
///
/// The driver must feed the run's wire bytes, in order and *before* opening them in place, to
/// `run.verifier` (when there is one) and open every frame (the crate's drivers do both with
/// `crate::parallel`). Plaintext of the run may be released only once `finish` succeeded.
pub(crate) struct FramesOut {
    pub(crate) run: OpenRun,
    common: Common,
}

impl FramesOut {
    /// Where the frames stand after the run: what a driver that gathers input while the run is
    /// out asks about it.
    pub(crate) fn cursor(&self) -> FrameCursor {
        FrameCursor {
            next_seq: self.next_seq(),
            frame_length: self.run.jobs.cipher.frame_length(),
        }
    }

    fn next_seq(&self) -> u32 {
        // Fits: the run was counted within the sequence numbers of regular frames.
        self.run.jobs.first_seq + self.run.jobs.count as u32
    }

    /// The decryptor back, with the outcome of opening the run: on an error it is dropped
    /// (with its keys) and the error returned; the run's plaintext must then not be used.
    pub(crate) fn finish(self, outcome: Result<()>) -> Result<BodyDecryptor> {
        outcome?;
        let next_seq = self.next_seq();
        Ok(BodyDecryptor {
            common: self.common,
            state: Body::Frames(Frames {
                cipher: self.run.jobs.cipher,
                next_seq,
                verifier: self.run.verifier,
                detached: 0,
            }),
        })
    }
}

/// The next regular frame's sequence number and the frame length: counts the frames a run can
/// claim from buffered input. `Copy`, so a driver can keep one while a run is out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameCursor {
    next_seq: u32,
    frame_length: usize,
}

impl FrameCursor {
    /// Plaintext bytes of a regular frame.
    pub(crate) fn frame_length(&self) -> usize {
        self.frame_length
    }

    /// How many whole regular frames in sequence start `input` (at most `max`).
    pub(crate) fn claimable(&self, input: &[u8], max: usize) -> usize {
        // Fits: the header parser refused frame lengths whose wire length does not.
        let Some(w) = body::REGULAR_HEAD_LEN
            .checked_add(self.frame_length)
            .and_then(|n| n.checked_add(TAG_LEN))
        else {
            return 0;
        };
        let mut count = 0usize;
        while count < max {
            let (Some(start), Some(end)) = (count.checked_mul(w), (count + 1).checked_mul(w))
            else {
                break;
            };
            let Some(seq) = input.get(start..end).and_then(|f| f.first_chunk::<4>()) else {
                break;
            };
            let expected = self.next_seq.checked_add(count as u32);
            if expected.is_none_or(|e| e == body::FINAL_FRAME_MARKER || *seq != e.to_be_bytes()) {
                break;
            }
            count += 1;
        }
        count
    }

    /// True when `input` is nothing but whole regular frames in sequence, perhaps followed by
    /// the start of the next one: a run claimed from it could still grow with more input (and
    /// the message cannot end without more). False once anything else (the final frame, a
    /// wrong sequence number) is in sight.
    pub(crate) fn run_may_grow(&self, input: &[u8]) -> bool {
        let count = self.claimable(input, usize::MAX);
        let w = body::REGULAR_HEAD_LEN + self.frame_length + TAG_LEN;
        let rest = input.get(count * w..).unwrap_or_default();
        match rest.first_chunk::<4>() {
            None => true,
            Some(seq) => self
                .next_seq
                .checked_add(count as u32)
                .is_some_and(|e| e != body::FINAL_FRAME_MARKER && *seq == e.to_be_bytes()),
        }
    }
}

/// One step of the body: the next state, and whether to return (with an event, or `None` for
/// more input) or go on.
fn step(c: &Common, state: Body, input: &mut BytesMut) -> Result<(Body, Next)> {
    let wait = |state| Ok((state, Next::Return(None)));
    match state {
        Body::Failed => Err(spent()),
        Body::Frames(mut f) => {
            if f.detached > 0 {
                return Err(Error::misuse(
                    "frames claimed for opening elsewhere have not come back",
                ));
            }
            let Some(head) = body::parse_frame_head(input, c.header.frame_length)? else {
                return wait(Body::Frames(f));
            };
            if head.seq != f.next_seq {
                return Err(FormatError::BadSequence {
                    expected: f.next_seq,
                    got: head.seq,
                }
                .into());
            }
            if input.len() < head.total_len() {
                return wait(Body::Frames(f));
            }
            let kind = if head.is_final {
                BodyKind::FinalFrame
            } else {
                BodyKind::Frame
            };
            let plaintext = open(&f.cipher, &mut f.verifier, input, &head, kind)?;
            if head.is_final {
                return after_last_block(c, plaintext, f.verifier, input);
            }
            // A regular frame's sequence number is below the final-frame marker.
            f.next_seq += 1;
            Ok((
                Body::Frames(f),
                Next::Return(Some(DecryptEvent::Plaintext(plaintext))),
            ))
        }
        Body::NonFramed {
            cipher,
            mut verifier,
        } => {
            let Some(head) = body::parse_non_framed_head(input, c.limits.max_body_len)? else {
                return wait(Body::NonFramed { cipher, verifier });
            };
            if input.len() < head.total_len() {
                return wait(Body::NonFramed { cipher, verifier });
            }
            let plaintext = open(&cipher, &mut verifier, input, &head, BodyKind::SingleBlock)?;
            after_last_block(c, plaintext, verifier, input)
        }
        Body::Footer { held, verifier } => {
            let Some(len) = body::parse_footer_len(input) else {
                return wait(Body::Footer { held, verifier });
            };
            if input.len() < 2 + len {
                return wait(Body::Footer { held, verifier });
            }
            let footer = input.split_to(2 + len);
            verifier.verify(&footer[2..])?;
            let next = if held.is_empty() {
                Next::Again
            } else {
                Next::Return(Some(DecryptEvent::Plaintext(held)))
            };
            Ok((Body::Done { reported: false }, next))
        }
        Body::Done { reported } => {
            if !input.is_empty() && !c.concatenated {
                return Err(FormatError::TrailingData(input.len()).into());
            }
            let event = (!reported).then_some(DecryptEvent::Done);
            Ok((Body::Done { reported: true }, Next::Return(event)))
        }
    }
}

/// After the final frame or the non-framed body: hold the plaintext for the signature, or
/// release it.
fn after_last_block(
    c: &Common,
    plaintext: Bytes,
    verifier: Option<Box<dyn Verifier>>,
    input: &BytesMut,
) -> Result<(Body, Next)> {
    if let Some(verifier) = verifier {
        let held = plaintext;
        return Ok((Body::Footer { held, verifier }, Next::Again));
    }
    if !input.is_empty() && !c.concatenated {
        return Err(FormatError::TrailingData(input.len()).into());
    }
    let next = if plaintext.is_empty() {
        Next::Again
    } else {
        Next::Return(Some(DecryptEvent::Plaintext(plaintext)))
    };
    Ok((Body::Done { reported: false }, next))
}

/// Splits one frame (or the non-framed body) off `input`, feeds it to the verifier and
/// decrypts it in place.
fn open(
    cipher: &FrameCipher,
    verifier: &mut Option<Box<dyn Verifier>>,
    input: &mut BytesMut,
    head: &FrameHead,
    kind: BodyKind,
) -> Result<Bytes> {
    let frame = input.split_to(head.total_len());
    if let Some(v) = verifier.as_mut() {
        v.update(&frame);
    }
    cipher.open_block(frame, head, kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Client, EncryptOptions, FrameLength, MaterialsSource, RawAesKeyring};

    /// A body decryptor for a message of `frames` regular frames of 100 bytes (and a final
    /// frame), the message's body bytes, and the frame's wire length.
    fn body_of(suite: u16, frames: usize) -> (BodyDecryptor, BytesMut) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let client = Client::builder()
            .commitment_policy(CommitmentPolicy::REQUIRE_ENCRYPT_ALLOW_DECRYPT)
            .build();
        let keys = MaterialsSource::from(RawAesKeyring::new("ns", "k", &[9u8; 32]).unwrap());
        let suite = crate::AlgorithmSuite::from_id(suite).unwrap();
        let options = EncryptOptions::new()
            .algorithm_suite(suite)
            .frame_length(FrameLength::new(100).unwrap());
        let pt = vec![7u8; frames * 100 + 1];
        rt.block_on(async {
            let ct = client
                .encrypt(&keys, &pt)
                .options(options)
                .await
                .unwrap()
                .ciphertext;
            let mut input = BytesMut::from(&ct[..]);
            let parsed = client
                .header_decoder(Release::Streaming)
                .decode(&mut input)
                .unwrap()
                .unwrap();
            let materials = client
                .decrypt_materials(&keys, parsed.header(), None)
                .await
                .unwrap();
            (parsed.with_materials(&materials).unwrap(), input)
        })
    }

    fn open(run: &OpenRun, buf: &mut [u8]) -> Result<()> {
        let w = run.jobs.cipher.wire_len();
        for (i, frame) in buf.chunks_mut(w).enumerate() {
            run.jobs.cipher.open_frame(run.jobs.seq(i), frame)?;
        }
        Ok(())
    }

    /// A detached run moves the decryptor on, and the decryptor refuses to decode past it (the
    /// final frame included) until its outcome is back; the final frame then completes the
    /// message.
    #[test]
    fn detached_runs_are_owed_before_the_message_goes_on() {
        let (mut body, mut input) = body_of(0x0478, 4);
        let w = 4 + 12 + 100 + 16;
        let first = body.claim_detached(&input, 2).unwrap();
        let mut buf1 = input.split_to(first.jobs.wire_total());
        let second = body.claim_detached(&input, 8).unwrap();
        assert_eq!((first.jobs.count, second.jobs.count), (2, 2));
        assert_eq!(second.jobs.first_seq, 3);
        let mut buf2 = input.split_to(2 * w);
        // Only the final frame is left: nothing more to claim, and decoding must wait.
        assert!(body.claim_detached(&input, 8).is_none());
        open(&first, &mut buf1).unwrap();
        open(&second, &mut buf2).unwrap();
        body.detached_opened(Ok(())).unwrap();
        let mut probe = body_of(0x0478, 4);
        let _ = probe.0.claim_detached(&probe.1, 1).unwrap();
        let err = probe.0.decode(&mut probe.1).unwrap_err();
        assert!(matches!(err, Error::ApiMisuse(_)), "{err:?}");
        body.detached_opened(Ok(())).unwrap();
        assert!(matches!(
            body.decode(&mut input).unwrap(),
            Some(DecryptEvent::Plaintext(p)) if p.len() == 1
        ));
        assert!(matches!(
            body.decode(&mut input).unwrap(),
            Some(DecryptEvent::Done)
        ));
        body.finish(&input).unwrap();
    }

    /// A run that failed to open spends the decryptor; a signed message's frames are never
    /// claimed detached (its signature hash must see them in order).
    #[test]
    fn a_failed_detached_run_spends_the_decryptor() {
        let (mut body, mut input) = body_of(0x0478, 4);
        let run = body.claim_detached(&input, 2).unwrap();
        let mut buf = input.split_to(run.jobs.wire_total());
        buf[20] ^= 1;
        let outcome = open(&run, &mut buf);
        assert!(outcome.is_err());
        assert!(body.detached_opened(outcome).is_err());
        assert!(body.decode(&mut input).is_err());
        assert!(body.finish(&input).is_err());

        let (mut signed, input) = body_of(0x0578, 4);
        assert!(signed.claim_detached(&input, 2).is_none());
        assert!(signed.claim_frames(&input, 2).is_ok());
    }
}
