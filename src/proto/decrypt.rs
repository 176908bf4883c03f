//! The decrypt state machine.
//!
//! ```text
//!            decode()                  supply_materials()          decode()*
//! ┌────────┐  header+auth  ┌───────────┐  keys, commit,  ┌────────┐ frames ┌────────┐ footer ┌──────┐
//! │ Header │──────────────►│ Materials │────────────────►│ Frames │───────►│ Footer │───────►│ Done │
//! └────────┘  Header event └───────────┘  header tag ok  └────────┘        └────────┘        └──────┘
//!                                                         (or NonFramed)   signed only
//! any error ──► Failed (every later call fails)
//! ```
//!
//! Release rules (`client-apis/decrypt.md`): nothing is released before the header tag
//! verifies; a frame's plaintext is released only after its tag verifies; the final frame and a
//! non-framed body of a *signed* message are held until the signature verifies.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};

use crate::crypto::{AeadKey, CryptoProvider, Verifier};
use crate::error::{AuthError, Error, FormatError, KeyringError, PolicyError, Result};
use crate::format::body::{self, BodyAad, BodyKind, FrameHead};
use crate::format::header::{HeaderParser, Parsed};
use crate::format::{ContentType, MessageHeader};
use crate::limits::Limits;
use crate::materials::DecryptionMaterials;
use crate::proto::frames::{FrameCipher, FrameJobs, OpenRun};
use crate::proto::keys;
use crate::suite::{CommitmentPolicy, IV_LEN, MessageFormatVersion, TAG_LEN};

/// What the decryptor needs to know besides the message.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecryptorConfig {
    /// Which suites may be decrypted.
    pub commitment_policy: CommitmentPolicy,
    /// Limits checked while parsing.
    pub limits: Limits,
    /// Fail right after the header when the message is signed (the spec's
    /// "decrypt unsigned-only" mode, for callers that must stream without holding back).
    pub unsigned_only: bool,
}

/// What [`Decryptor::decode`] produced.
#[derive(Debug)]
#[non_exhaustive]
pub enum DecryptEvent {
    /// The header is parsed (its tag is not yet checked). Obtain decryption materials for it
    /// and pass them to [`Decryptor::supply_materials`] before decoding further.
    Header(MessageHeader),
    /// Authenticated plaintext, in order.
    Plaintext(Bytes),
    /// The message is complete and every check passed. Reported once.
    Done,
}

enum State {
    Header,
    Materials,
    Frames {
        next_seq: u32,
    },
    /// An [`OpenRun`] is out; frames continue at `next_seq` once it is back.
    Run {
        next_seq: u32,
    },
    NonFramed,
    Footer {
        held: Bytes,
    },
    Done {
        reported: bool,
    },
    Failed,
}

/// Decrypts one message: message bytes in, [`DecryptEvent`]s out, no I/O.
///
/// Feed bytes by appending them to a `BytesMut` and calling [`decode`](Self::decode) until it
/// returns `Ok(None)` (more input needed). Frames are split off the buffer and decrypted in
/// place, so plaintext comes out without a copy. At the end of input call
/// [`finish`](Self::finish): it fails unless the whole message, and nothing more, was seen.
pub struct Decryptor {
    config: DecryptorConfig,
    provider: CryptoProvider,
    state: State,
    header: Option<MessageHeader>,
    header_len: usize,
    header_need: usize,
    /// Resumes where the last attempt stopped, so that a header fed a byte at a time costs
    /// linear work.
    parser: HeaderParser,
    /// The header body once parsed, while its authentication is still arriving.
    parsed: Option<MessageHeader>,
    raw_header: Bytes,
    content_key: Option<Arc<dyn AeadKey>>,
    verifier: Option<Box<dyn Verifier>>,
    /// Bytes after the message belong to the next one: leave them in the input.
    concatenated: bool,
}

impl std::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor")
            .field("config", &self.config)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl Decryptor {
    /// A decryptor waiting for the first byte of a message.
    pub fn new(config: DecryptorConfig, provider: &CryptoProvider) -> Self {
        Self {
            config,
            provider: *provider,
            state: State::Header,
            header: None,
            header_len: 0,
            header_need: 0,
            parser: HeaderParser::new(),
            parsed: None,
            raw_header: Bytes::new(),
            content_key: None,
            verifier: None,
            concatenated: false,
        }
    }

    /// Lets bytes follow the message (the next message of a connection): decoding stops at
    /// the end of the message and leaves them in the input, instead of failing with
    /// [`FormatError::TrailingData`]. [`finish`](Self::finish) still reports them.
    pub(crate) fn set_concatenated(&mut self) {
        self.concatenated = true;
    }

    /// The parsed header, once [`DecryptEvent::Header`] has been returned.
    pub fn header(&self) -> Option<&MessageHeader> {
        self.header.as_ref()
    }

    /// True while the decryptor waits for [`supply_materials`](Self::supply_materials).
    pub fn needs_materials(&self) -> bool {
        matches!(self.state, State::Materials)
    }

    /// True once the whole message has been verified.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done { .. })
    }

    /// Length of the header (body and authentication) in bytes, once parsed.
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// Consumes what it can from the front of `input` and returns the next event, or
    /// `Ok(None)` when it needs more input (or materials, see [`needs_materials`](Self::needs_materials)).
    ///
    /// # Errors
    /// Any format, authentication, policy or limit failure. After an error the decryptor is
    /// spent: every later call fails too.
    pub fn decode(&mut self, input: &mut BytesMut) -> Result<Option<DecryptEvent>> {
        let out = self.decode_inner(input);
        if out.is_err() {
            self.fail();
        }
        out
    }

    /// Checks the materials for the parsed header, derives the keys, checks the key commitment
    /// and the header tag. Afterwards [`decode`](Self::decode) yields plaintext.
    ///
    /// # Errors
    /// When the materials do not fit the header, the commitment or the header tag does not
    /// verify. The decryptor is then spent.
    pub fn supply_materials(&mut self, materials: &DecryptionMaterials) -> Result<()> {
        if !matches!(self.state, State::Materials) {
            return Err(Error::misuse("materials supplied when none were expected"));
        }
        let out = self.accept_materials(materials);
        if out.is_err() {
            self.fail();
        }
        out
    }

    /// Call at the end of input, with whatever input is left: succeeds only when the message
    /// was complete and verified and nothing follows it.
    ///
    /// # Errors
    /// [`FormatError::Truncated`] when the message is incomplete, [`FormatError::TrailingData`]
    /// when bytes follow it.
    pub fn finish(&self, remaining: &[u8]) -> Result<()> {
        match self.state {
            State::Done { .. } if remaining.is_empty() => Ok(()),
            State::Done { .. } => Err(FormatError::TrailingData(remaining.len()).into()),
            State::Failed => Err(Error::misuse("decryption already failed")),
            _ => Err(FormatError::Truncated.into()),
        }
    }

    fn fail(&mut self) {
        self.state = State::Failed;
        self.content_key = None;
        self.verifier = None;
    }

    fn header_ref(&self) -> Result<&MessageHeader> {
        self.header
            .as_ref()
            .ok_or_else(|| Error::misuse("no header parsed"))
    }

    fn accept_materials(&mut self, materials: &DecryptionMaterials) -> Result<()> {
        let header = self
            .header
            .as_ref()
            .ok_or_else(|| Error::misuse("no header parsed"))?;
        let suite = header.suite;
        if materials.algorithm_suite() != suite {
            return Err(PolicyError::MaterialsMismatch(
                "algorithm suite differs from the message's",
            )
            .into());
        }
        self.config.commitment_policy.check_decrypt(suite)?;
        let data_key = materials
            .data_key()
            .ok_or(KeyringError::InvalidMaterials("no plaintext data key"))?;
        let keys = keys::derive(&self.provider, suite, data_key, &header.message_id)?;
        if let (Some(stored), Some(derived)) = (&header.commitment, &keys.commitment) {
            keys::check_commitment(stored, derived)?;
        }
        // Header tag: AAD = the header body exactly as received ‖ the required pairs.
        let auth_len = header.auth_len();
        let body_len = self.raw_header.len() - auth_len;
        let (raw_body, auth) = self.raw_header.split_at(body_len);
        let required = materials
            .encryption_context()
            .subset(materials.required_encryption_context_keys());
        let mut aad = raw_body.to_vec();
        aad.extend_from_slice(&required.serialize()?);
        let (iv, tag) = match header.version() {
            MessageFormatVersion::V1 => (
                <[u8; IV_LEN]>::try_from(&auth[..IV_LEN]).expect("length checked"),
                &auth[IV_LEN..],
            ),
            MessageFormatVersion::V2 => ([0u8; IV_LEN], auth),
        };
        let tag: [u8; TAG_LEN] = tag.try_into().expect("length checked");
        keys.content
            .open_in_place(&iv, &aad, &mut [], &tag)
            .map_err(|_| AuthError::HeaderAuth)?;
        self.verifier = match (suite.signature(), materials.verification_key()) {
            (Some(alg), Some(public)) => {
                let mut v = self.provider.ecdsa.verifier(alg, public)?;
                v.update(&self.raw_header);
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
        self.state = match header.content_type {
            ContentType::Framed => State::Frames { next_seq: 1 },
            ContentType::NonFramed => State::NonFramed,
        };
        self.content_key = Some(Arc::from(keys.content));
        self.raw_header = Bytes::new();
        Ok(())
    }

    fn decode_inner(&mut self, input: &mut BytesMut) -> Result<Option<DecryptEvent>> {
        loop {
            match &mut self.state {
                State::Failed => return Err(Error::misuse("decryption already failed")),
                State::Header => {
                    // Go on only once the bytes the last attempt lacked have arrived; the parser
                    // then resumes at the field it stopped at.
                    if input.len() < self.header_need {
                        return Ok(None);
                    }
                    if self.parsed.is_none() {
                        let (header, body_len) =
                            match self.parser.resume(input, &self.config.limits)? {
                                Parsed::Done(h, len) => (h, len),
                                Parsed::Incomplete(needed) => {
                                    self.header_need = needed;
                                    return Ok(None);
                                }
                            };
                        self.header_need = body_len + header.auth_len();
                        self.parsed = Some(header);
                        if input.len() < self.header_need {
                            return Ok(None);
                        }
                    }
                    let mut header = self
                        .parsed
                        .take()
                        .ok_or_else(|| Error::misuse("no header parsed"))?;
                    self.config.commitment_policy.check_decrypt(header.suite)?;
                    if self.config.unsigned_only && header.suite.is_signing() {
                        return Err(PolicyError::SignedMessageNotAllowed(header.suite.id()).into());
                    }
                    let total = self.header_need;
                    self.raw_header = input.split_to(total).freeze();
                    if header.commitment.is_none() {
                        // v1: candidate data keys are checked against the header tag. A copy,
                        // so that the input buffer is not kept alive with it.
                        header.raw = Some(Bytes::copy_from_slice(&self.raw_header));
                    }
                    self.header_len = total;
                    self.header = Some(header.clone());
                    self.state = State::Materials;
                    return Ok(Some(DecryptEvent::Header(header)));
                }
                State::Materials => return Ok(None),
                State::Run { .. } => {
                    return Err(Error::misuse("a run of frames is still being opened"));
                }
                State::Frames { next_seq } => {
                    let expected = *next_seq;
                    let frame_length = self.header_ref()?.frame_length;
                    let Some(head) = body::parse_frame_head(input, frame_length)? else {
                        return Ok(None);
                    };
                    if head.seq != expected {
                        return Err(FormatError::BadSequence {
                            expected,
                            got: head.seq,
                        }
                        .into());
                    }
                    if input.len() < head.total_len() {
                        return Ok(None);
                    }
                    let kind = if head.is_final {
                        BodyKind::FinalFrame
                    } else {
                        BodyKind::Frame
                    };
                    let plaintext = self.open(input, &head, kind)?;
                    if !head.is_final {
                        self.state = State::Frames {
                            next_seq: expected + 1,
                        };
                        return Ok(Some(DecryptEvent::Plaintext(plaintext)));
                    }
                    if let Some(ev) = self.after_last_block(plaintext, input)? {
                        return Ok(Some(ev));
                    }
                }
                State::NonFramed => {
                    let limit = self.config.limits.max_body_len;
                    let Some(head) = body::parse_non_framed_head(input, limit)? else {
                        return Ok(None);
                    };
                    if input.len() < head.total_len() {
                        return Ok(None);
                    }
                    let plaintext = self.open(input, &head, BodyKind::SingleBlock)?;
                    if let Some(ev) = self.after_last_block(plaintext, input)? {
                        return Ok(Some(ev));
                    }
                }
                State::Footer { held } => {
                    let Some(len) = body::parse_footer_len(input) else {
                        return Ok(None);
                    };
                    if input.len() < 2 + len {
                        return Ok(None);
                    }
                    let held = std::mem::take(held);
                    let footer = input.split_to(2 + len);
                    let verifier = self
                        .verifier
                        .take()
                        .ok_or_else(|| Error::misuse("no verifier for a signed message"))?;
                    verifier.verify(&footer[2..])?;
                    self.state = State::Done { reported: false };
                    if !held.is_empty() {
                        return Ok(Some(DecryptEvent::Plaintext(held)));
                    }
                }
                State::Done { reported } => {
                    if !input.is_empty() && !self.concatenated {
                        return Err(FormatError::TrailingData(input.len()).into());
                    }
                    if *reported {
                        return Ok(None);
                    }
                    *reported = true;
                    self.content_key = None;
                    return Ok(Some(DecryptEvent::Done));
                }
            }
        }
    }

    /// The frame cipher of an unsigned framed message whose header has been authenticated and
    /// whose body has not been decoded yet: what range decryption opens frames with.
    pub(crate) fn body_cipher(&self) -> Option<FrameCipher> {
        if !matches!(self.state, State::Frames { next_seq: 1 }) || self.verifier.is_some() {
            return None;
        }
        let header = self.header.as_ref()?;
        let key = self.content_key.clone()?;
        Some(FrameCipher::new(
            key,
            &header.message_id,
            header.frame_length,
        ))
    }

    /// How many whole regular frames [`claim_frames`](Self::claim_frames) would take from the
    /// front of `input` (at most `max`), and the message's frame length; `None` outside the
    /// body of a framed message. While a run is out, `input` is taken to follow it (what a
    /// driver gathers meanwhile): the count is then what the next claim would take.
    pub(crate) fn claimable(&self, input: &[u8], max: usize) -> Option<(usize, usize)> {
        let (State::Frames { next_seq } | State::Run { next_seq }) = self.state else {
            return None;
        };
        let frame_length = self.header.as_ref()?.frame_length as usize;
        // Fits: the header parser refused frame lengths whose wire length does not.
        let w = body::REGULAR_HEAD_LEN
            .checked_add(frame_length)?
            .checked_add(TAG_LEN)?;
        let mut count = 0usize;
        while count < max {
            let (Some(start), Some(end)) = (count.checked_mul(w), (count + 1).checked_mul(w))
            else {
                break;
            };
            let Some(frame) = input.get(start..end) else {
                break;
            };
            let expected = next_seq.checked_add(count as u32);
            if expected
                .is_none_or(|e| e == body::FINAL_FRAME_MARKER || frame[..4] != e.to_be_bytes())
            {
                break;
            }
            count += 1;
        }
        Some((count, frame_length))
    }

    /// True when `input` is nothing but whole regular frames in sequence, perhaps followed by
    /// the start of the next one: a run claimed from it could still grow with more input (and
    /// the message cannot end without more). False once anything else (the final frame, a
    /// wrong sequence number) is in sight, and outside the body of a framed message.
    pub(crate) fn run_may_grow(&self, input: &[u8]) -> bool {
        let (State::Frames { next_seq } | State::Run { next_seq }) = self.state else {
            return false;
        };
        let Some((count, frame_length)) = self.claimable(input, usize::MAX) else {
            return false;
        };
        let w = body::REGULAR_HEAD_LEN + frame_length + TAG_LEN;
        let rest = &input[count * w..];
        match rest.get(..4) {
            None => true,
            Some(seq) => next_seq
                .checked_add(count as u32)
                .is_some_and(|e| e != body::FINAL_FRAME_MARKER && seq == e.to_be_bytes()),
        }
    }

    /// Claims up to `max` whole regular frames at the front of `input` for opening elsewhere
    /// (see [`crate::proto::frames`]); `None` outside the body or when `input` does not start
    /// with a whole regular frame with the expected sequence number. Anything unusual (a short
    /// frame, the final frame, a wrong sequence number) ends the run before it, and is left to
    /// [`decode`](Self::decode), which reports it exactly as without runs. `input` is not
    /// consumed: the caller drops the run's `wire_total()` bytes from its front once it has
    /// them. The run must come back through [`end_run`](Self::end_run) before any other call.
    pub(crate) fn claim_frames(&mut self, input: &[u8], max: usize) -> Option<OpenRun> {
        let (count, _) = self.claimable(input, max)?;
        let State::Frames { next_seq } = self.state else {
            return None;
        };
        if count == 0 {
            return None;
        }
        let header = self.header.as_ref()?;
        let key = self.content_key.clone()?;
        let cipher = FrameCipher::new(key, &header.message_id, header.frame_length);
        self.state = State::Run {
            next_seq: next_seq + count as u32,
        };
        Some(OpenRun {
            jobs: FrameJobs {
                cipher,
                first_seq: next_seq,
                count,
            },
            verifier: self.verifier.take(),
        })
    }

    /// Takes back a run claimed with [`claim_frames`](Self::claim_frames), with the outcome
    /// of opening it. On an error (or a run this decryptor did not hand out) the decryptor is
    /// spent and the error returned; the run's plaintext must then not be used.
    pub(crate) fn end_run(&mut self, run: OpenRun, outcome: Result<()>) -> Result<()> {
        let State::Run { next_seq } = self.state else {
            self.fail();
            return Err(Error::misuse("no run of frames was out"));
        };
        if let Err(e) = outcome {
            self.fail();
            return Err(e);
        }
        if next_seq != run.jobs.first_seq + run.jobs.count as u32 {
            self.fail();
            return Err(Error::misuse(
                "a run of frames came back to the wrong decryptor",
            ));
        }
        self.verifier = run.verifier;
        self.state = State::Frames { next_seq };
        Ok(())
    }

    /// After the final frame or the non-framed body: hold the plaintext for the signature, or
    /// release it.
    fn after_last_block(
        &mut self,
        plaintext: Bytes,
        input: &BytesMut,
    ) -> Result<Option<DecryptEvent>> {
        if self.verifier.is_some() {
            self.state = State::Footer { held: plaintext };
            return Ok(None);
        }
        if !input.is_empty() && !self.concatenated {
            return Err(FormatError::TrailingData(input.len()).into());
        }
        self.state = State::Done { reported: false };
        Ok((!plaintext.is_empty()).then_some(DecryptEvent::Plaintext(plaintext)))
    }

    /// Splits one frame (or the non-framed body) off `input`, feeds it to the verifier and
    /// decrypts it in place.
    fn open(&mut self, input: &mut BytesMut, head: &FrameHead, kind: BodyKind) -> Result<Bytes> {
        let mut frame = input.split_to(head.total_len());
        if let Some(v) = self.verifier.as_mut() {
            v.update(&frame);
        }
        let header = self
            .header
            .as_ref()
            .ok_or_else(|| Error::misuse("no header"))?;
        let key = self
            .content_key
            .as_ref()
            .ok_or_else(|| Error::misuse("no content key"))?;
        let aad = BodyAad::new(&header.message_id, kind, head.seq, head.content_len as u64);
        let tag_at = head.head_len + head.content_len;
        let tag: [u8; TAG_LEN] = frame[tag_at..].try_into().expect("length checked");
        key.open_in_place(
            &head.iv,
            aad.as_bytes(),
            &mut frame[head.head_len..tag_at],
            &tag,
        )
        .map_err(|_| AuthError::FrameTag { seq: head.seq })?;
        frame.advance(head.head_len);
        frame.truncate(head.content_len);
        Ok(frame.freeze())
    }
}
