//! The encrypt state machine.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};

use crate::crypto::{AeadKey, CryptoProvider, Signer};
use crate::error::{Error, FormatError, KeyringError, LimitError, Result};
use crate::format::body::{self, BodyAad, BodyKind};
use crate::format::{ContentType, FrameLength, MessageHeader};
use crate::materials::EncryptionMaterials;
use crate::proto::frames::{FrameCipher, FrameJobs, SealRun};
use crate::proto::keys;
use crate::suite::{IV_LEN, MessageFormatVersion, TAG_LEN};

/// Encrypts one message: plaintext in, message bytes out, no I/O.
///
/// ```text
/// new(materials) ──► [header pending] ──update()*──► frames ──finish()──► final frame ‖ footer
/// ```
///
/// Frames are written whole, each as soon as its plaintext is complete. A plaintext whose
/// length is a non-zero multiple of the frame length therefore ends with an **empty final
/// frame** after its last regular frame, the form every ESDK has always written. The
/// specification also allows a *full* final frame there, but deployed readers reject it: the
/// Python ESDK 2.x and 3.x lines (3.3.1 is what the official `aws-encryption-sdk-cli` installs)
/// accept only a final frame shorter than the frame length. Decryption accepts both forms.
///
/// The caller **must** call [`Encryptor::finish`]; without the final frame (and, for signing
/// suites, the footer) the output is not a message.
pub struct Encryptor {
    header: MessageHeader,
    header_bytes: Option<Vec<u8>>,
    content_key: Arc<dyn AeadKey>,
    /// The same key, for runs of frames sealed elsewhere.
    cipher: FrameCipher,
    signer: Option<Box<dyn Signer>>,
    frame_length: usize,
    next_seq: u32,
    pending: Vec<u8>,
    finished: bool,
    /// A [`SealRun`] is out: every other call fails until it comes back.
    run_out: bool,
    /// The declared plaintext length, when there is one, and the plaintext taken so far.
    max_plaintext: Option<u64>,
    taken: u64,
}

impl std::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryptor")
            .field("suite", &self.header.suite)
            .field("frame_length", &self.frame_length)
            .field("next_seq", &self.next_seq)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Encryptor {
    /// Starts a message: picks a message ID, derives the keys, writes and authenticates the
    /// header (stored pairs only; required pairs enter the header tag's AAD).
    ///
    /// # Errors
    /// When the materials lack a data key or an encrypted data key, or the signing key does not
    /// match the suite.
    pub fn new(
        materials: &EncryptionMaterials,
        frame_length: FrameLength,
        provider: &CryptoProvider,
    ) -> Result<Self> {
        let suite = materials.algorithm_suite();
        let data_key = materials
            .data_key()
            .ok_or(KeyringError::InvalidMaterials("no plaintext data key"))?;
        if materials.encrypted_data_keys().is_empty() {
            return Err(KeyringError::InvalidMaterials("no encrypted data key").into());
        }
        if suite.is_signing() != materials.signing_key().is_some() {
            return Err(KeyringError::InvalidMaterials(
                "signing key does not match the algorithm suite",
            )
            .into());
        }
        let version = suite.message_format_version();
        let mut message_id = vec![0u8; version.message_id_len()];
        provider.random.fill(&mut message_id)?;
        let keys = keys::derive(provider, suite, data_key, &message_id)?;
        let required = materials.required_encryption_context_keys();
        let header = MessageHeader {
            suite,
            message_id,
            encryption_context: materials.encryption_context().without(required),
            encrypted_data_keys: materials.encrypted_data_keys().to_vec(),
            content_type: ContentType::Framed,
            frame_length: frame_length.get(),
            commitment: keys.commitment,
            raw: None,
        };
        let mut bytes = header.encode()?;
        let mut aad = bytes.clone();
        aad.extend_from_slice(
            &materials
                .encryption_context()
                .subset(required)
                .serialize()?,
        );
        let iv = [0u8; IV_LEN];
        let tag = keys.content.seal_in_place(&iv, &aad, &mut [])?;
        if version == MessageFormatVersion::V1 {
            bytes.extend_from_slice(&iv);
        }
        bytes.extend_from_slice(&tag);
        let mut signer = match materials.signing_key() {
            Some(k) => Some(provider.ecdsa.signer(k)?),
            None => None,
        };
        if let Some(s) = signer.as_mut() {
            s.update(&bytes);
        }
        let content_key: Arc<dyn AeadKey> = Arc::from(keys.content);
        let cipher = FrameCipher::new(content_key.clone(), &header.message_id, frame_length.get());
        Ok(Self {
            header,
            header_bytes: Some(bytes),
            content_key,
            cipher,
            signer,
            frame_length: frame_length.get() as usize,
            next_seq: 1,
            pending: Vec::new(),
            finished: false,
            run_out: false,
            max_plaintext: None,
            taken: 0,
        })
    }

    /// Fails every call that would take the plaintext past `n` bytes in all, with
    /// [`LimitError::PlaintextLengthExceeded`] (the spec's "max plaintext length": a CMM, a
    /// caching one above all, handed out the materials for that much).
    /// [`Client::encryptor`](crate::Client::encryptor) sets it from
    /// [`EncryptOptions::max_plaintext_length`](crate::EncryptOptions::max_plaintext_length).
    pub fn with_max_plaintext_length(mut self, n: u64) -> Self {
        self.max_plaintext = Some(n);
        self
    }

    /// Counts `n` more bytes of plaintext against the declared length.
    fn take_plaintext(&mut self, n: usize) -> Result<()> {
        let total = self.taken.saturating_add(n as u64);
        if let Some(max) = self.max_plaintext
            && total > max
        {
            return Err(LimitError::PlaintextLengthExceeded(max).into());
        }
        self.taken = total;
        Ok(())
    }

    /// Fails as [`update`](Self::update) would if `n` more plaintext bytes, beyond `held` bytes
    /// a driver holds for later, came in: the declared plaintext length is checked when the
    /// plaintext arrives, not when it is sealed.
    pub(crate) fn check_room(&self, held: usize, n: usize) -> Result<()> {
        if let Some(max) = self.max_plaintext
            && self
                .taken
                .saturating_add(held as u64)
                .saturating_add(n as u64)
                > max
        {
            return Err(LimitError::PlaintextLengthExceeded(max).into());
        }
        Ok(())
    }

    /// Plaintext bytes the declared length still allows.
    fn plaintext_room(&self) -> u64 {
        self.max_plaintext.map_or(u64::MAX, |m| m - self.taken)
    }

    /// The header of the message being written.
    pub fn header(&self) -> &MessageHeader {
        &self.header
    }

    /// Writes the header (header body and authentication) if it has not been written yet.
    /// [`update`](Self::update) and [`finish`](Self::finish) do this themselves.
    pub fn write_header(&mut self, out: &mut BytesMut) {
        if let Some(h) = self.header_bytes.take() {
            out.extend_from_slice(&h);
        }
    }

    /// Encrypts `plaintext`, appending every frame that is now complete to `out`.
    ///
    /// # Errors
    /// After [`finish`](Self::finish), or when the message would exceed 2^32 − 1 frames.
    pub fn update(&mut self, mut plaintext: &[u8], out: &mut BytesMut) -> Result<()> {
        if self.finished {
            return Err(Error::misuse("update after finish"));
        }
        self.check_no_run()?;
        self.take_plaintext(plaintext.len())?;
        self.write_header(out);
        let f = self.frame_length;
        while !plaintext.is_empty() {
            if self.pending.is_empty() {
                // Whole frames straight from the input.
                while plaintext.len() >= f {
                    let (frame, rest) = plaintext.split_at(f);
                    self.seal_regular(frame, out)?;
                    plaintext = rest;
                }
            }
            let take = (f - self.pending.len()).min(plaintext.len());
            self.pending.extend_from_slice(&plaintext[..take]);
            plaintext = &plaintext[take..];
            if self.pending.len() == f {
                let frame = std::mem::take(&mut self.pending);
                self.seal_regular(&frame, out)?;
                self.pending = frame;
                self.pending.clear();
            }
        }
        Ok(())
    }

    /// Test support: like [`update`](Self::update), but a plaintext that ends on a frame
    /// boundary keeps its last frame back, so that [`finish`](Self::finish) writes it as a
    /// *full* final frame: the other form the specification allows, which other writers may
    /// send and every decrypt path must accept.
    #[cfg(test)]
    pub(crate) fn update_full_final(&mut self, plaintext: &[u8], out: &mut BytesMut) -> Result<()> {
        let f = self.frame_length;
        if plaintext.is_empty() || !self.pending.is_empty() || !plaintext.len().is_multiple_of(f) {
            return self.update(plaintext, out);
        }
        let (head, last) = plaintext.split_at(plaintext.len() - f);
        self.update(head, out)?;
        self.take_plaintext(f)?;
        self.pending.extend_from_slice(last);
        Ok(())
    }

    /// Writes the final frame and, for signing suites, the footer. The message is then complete.
    ///
    /// # Errors
    /// When called twice, or when signing fails.
    pub fn finish(&mut self, out: &mut BytesMut) -> Result<()> {
        if self.finished {
            return Err(Error::misuse("finish called twice"));
        }
        self.check_no_run()?;
        self.write_header(out);
        self.finished = true;
        let pending = std::mem::take(&mut self.pending);
        let seq = self.next_seq;
        let start = out.len();
        out.reserve(body::FINAL_HEAD_LEN + pending.len() + TAG_LEN);
        body::put_final_head(out, seq, pending.len() as u32);
        self.seal_into(BodyKind::FinalFrame, seq, &pending, out)?;
        if let Some(s) = self.signer.as_mut() {
            s.update(&out[start..]);
        }
        if let Some(s) = self.signer.take() {
            let sig = s.sign()?;
            out.put_u16(sig.len() as u16);
            out.extend_from_slice(&sig);
        }
        Ok(())
    }

    /// True once [`finish`](Self::finish) has run.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn check_no_run(&self) -> Result<()> {
        if self.run_out {
            return Err(Error::misuse("a run of frames is still being sealed"));
        }
        Ok(())
    }

    /// How many whole regular frames [`claim_frames`](Self::claim_frames) would take from
    /// `available` plaintext bytes (at most `max`): every whole frame, as
    /// [`update`](Self::update) would seal them, so the output is the same.
    pub(crate) fn claimable(&self, available: usize, max: usize) -> usize {
        if self.finished || self.run_out || !self.pending.is_empty() || self.header_bytes.is_some()
        {
            return 0;
        }
        // The final frame's sequence number must fit too, so regular frames stop at 2^32 − 2.
        let room = (u32::MAX - self.next_seq) as usize;
        // Never more than the declared plaintext length allows: `update` reports the excess.
        let declared =
            usize::try_from(self.plaintext_room() / self.frame_length as u64).unwrap_or(usize::MAX);
        (available / self.frame_length)
            .min(max)
            .min(room)
            .min(declared)
    }

    /// Claims the next regular frames for sealing elsewhere (see [`crate::proto::frames`]):
    /// as many as [`claimable`](Self::claimable) says, `None` when that is zero. The caller
    /// seals the first `count × frame_length` bytes of the plaintext it holds and must hand the
    /// run back with [`end_run`](Self::end_run) before any other call. The header must have
    /// been written.
    pub(crate) fn claim_frames(&mut self, available: usize, max: usize) -> Option<SealRun> {
        let count = self.claimable(available, max);
        if count == 0 {
            return None;
        }
        let jobs = FrameJobs {
            cipher: self.cipher.clone(),
            first_seq: self.next_seq,
            count,
        };
        self.next_seq += count as u32;
        self.taken += (count * self.frame_length) as u64;
        self.run_out = true;
        Some(SealRun {
            jobs,
            signer: self.signer.take(),
        })
    }

    /// Takes back a run claimed with [`claim_frames`](Self::claim_frames) once its frames are
    /// sealed, emitted and hashed.
    pub(crate) fn end_run(&mut self, run: SealRun) {
        self.signer = run.signer;
        self.run_out = false;
    }

    fn seal_regular(&mut self, frame: &[u8], out: &mut BytesMut) -> Result<()> {
        let seq = self.next_seq;
        // The final frame's sequence number must fit too, so regular frames stop at 2^32 − 2.
        if seq == u32::MAX {
            return Err(FormatError::TooManyFrames.into());
        }
        let start = out.len();
        out.reserve(body::REGULAR_HEAD_LEN + frame.len() + TAG_LEN);
        body::put_regular_head(out, seq);
        self.seal_into(BodyKind::Frame, seq, frame, out)?;
        if let Some(s) = self.signer.as_mut() {
            s.update(&out[start..]);
        }
        self.next_seq = seq + 1;
        Ok(())
    }

    /// Appends `plaintext` encrypted under frame `seq`'s IV and AAD, then its tag.
    fn seal_into(
        &self,
        kind: BodyKind,
        seq: u32,
        plaintext: &[u8],
        out: &mut BytesMut,
    ) -> Result<()> {
        let aad = BodyAad::new(&self.header.message_id, kind, seq, plaintext.len() as u64);
        let at = out.len();
        out.extend_from_slice(plaintext);
        let tag =
            self.content_key
                .seal_in_place(&body::frame_iv(seq), aad.as_bytes(), &mut out[at..])?;
        out.extend_from_slice(&tag);
        Ok(())
    }
}
