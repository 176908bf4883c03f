//! Independent frame jobs: what the state machines hand out so that frames can be sealed or
//! opened on several threads, without the core knowing about threads.
//!
//! A regular frame's IV and AAD depend only on the message ID and its sequence number, so
//! frame `seq` can be sealed or opened by anyone holding the message's content key. The
//! [`Encryptor`](super::Encryptor) and [`BodyDecryptor`](super::BodyDecryptor) *claim* a run of
//! consecutive regular frames ([`SealRun`], [`OpenRun`]): the run carries a [`FrameCipher`]
//! (the one key schedule of the message, shared through an `Arc`), the first sequence number
//! and the frame count, and it borrows the message's signature hash (signer or verifier), which
//! must see the run's wire bytes in order. Claiming *moves* the state machine into the run
//! (`SealOut` in `proto::encrypt`, `FramesOut` in `proto::decrypt`): the driver seals or opens
//! the frames however it likes (the crate's drivers use `crate::parallel`), then gets the state
//! machine back from the run's `finish`. So nothing else can happen to the message while a
//! run is out, a run cannot come back to another message, and a run that is never finished
//! takes its message with it, never leaving it in an unchecked state.
//!
//! ```text
//!   Encryptor ──claim_frames()──► SealOut { SealRun, encryptor } ──finish()──► Encryptor
//!   BodyDecryptor ──claim_frames()──► FramesOut { OpenRun, decryptor } ──finish(outcome)──► BodyDecryptor
//! ```
//!
//! An unsigned message's decryptor can also hand out runs without leaving
//! (`BodyDecryptor::claim_detached`): it then refuses to decode anything until every such run's
//! outcome came back, and the first failure spends it.
//!
//! Runs hold only regular frames. The final frame, the non-framed body and the footer always
//! go through the state machines' ordinary paths, so the release rules (a signed message's final
//! frame is held until the signature verifies) exist only there.

use std::sync::Arc;

use bytes::{Buf, BufMut};

use crate::crypto::{AeadKey, Signer, Verifier};
use crate::error::{AuthError, Error, FormatError, Result};
use crate::format::body::{self, BodyAad, BodyKind, FrameHead, REGULAR_HEAD_LEN};
use crate::suite::{IV_LEN, TAG_LEN};

/// Seals and opens the regular frames of one message. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub(crate) struct FrameCipher {
    key: Arc<dyn AeadKey>,
    message_id: Arc<[u8]>,
    frame_length: usize,
}

impl FrameCipher {
    pub(crate) fn new(key: Arc<dyn AeadKey>, message_id: &[u8], frame_length: u32) -> Self {
        Self {
            key,
            message_id: message_id.into(),
            frame_length: frame_length as usize,
        }
    }

    /// Plaintext bytes in a regular frame.
    pub(crate) fn frame_length(&self) -> usize {
        self.frame_length
    }

    /// Bytes of a regular frame on the wire: sequence number, IV, content, tag.
    pub(crate) fn wire_len(&self) -> usize {
        REGULAR_HEAD_LEN + self.frame_length + TAG_LEN
    }

    fn aad(&self, seq: u32) -> BodyAad {
        BodyAad::new(
            &self.message_id,
            BodyKind::Frame,
            seq,
            self.frame_length as u64,
        )
    }

    /// Writes regular frame `seq` into `frame` ([`wire_len`](Self::wire_len) bytes): the head,
    /// the content (copied from `plaintext`, or already in place after the head when `None`)
    /// encrypted in place, and the tag.
    pub(crate) fn seal_frame(
        &self,
        seq: u32,
        plaintext: Option<&[u8]>,
        frame: &mut [u8],
    ) -> Result<()> {
        if frame.len() != self.wire_len() || plaintext.is_some_and(|p| p.len() != self.frame_length)
        {
            return Err(Error::misuse("frame job of the wrong size"));
        }
        let (head, rest) = frame.split_at_mut(REGULAR_HEAD_LEN);
        let (content, tag_out) = rest.split_at_mut(self.frame_length);
        head[..4].copy_from_slice(&seq.to_be_bytes());
        head[4..].copy_from_slice(&body::frame_iv(seq));
        if let Some(p) = plaintext {
            content.copy_from_slice(p);
        }
        let tag =
            self.key
                .seal_in_place(&body::frame_iv(seq), self.aad(seq).as_bytes(), content)?;
        tag_out.copy_from_slice(&tag);
        Ok(())
    }

    /// Checks that `frame` is regular frame `seq` and returns its IV and tag.
    fn head_of(&self, seq: u32, frame: &[u8]) -> Result<([u8; IV_LEN], [u8; TAG_LEN])> {
        let wrong = || Error::misuse("frame job does not hold the claimed frame");
        if frame.len() != self.wire_len() {
            return Err(wrong());
        }
        let (Some((got, rest)), Some((_, tag))) = (
            frame.split_first_chunk::<4>(),
            frame.split_last_chunk::<TAG_LEN>(),
        ) else {
            return Err(wrong());
        };
        let Some((iv, _)) = rest.split_first_chunk::<IV_LEN>() else {
            return Err(wrong());
        };
        if *got != seq.to_be_bytes() {
            return Err(wrong());
        }
        Ok((*iv, *tag))
    }

    /// Opens regular frame `seq` in place: afterwards its plaintext is
    /// `frame[REGULAR_HEAD_LEN..][..frame_length]`. On failure that range is garbage.
    pub(crate) fn open_frame(&self, seq: u32, frame: &mut [u8]) -> Result<()> {
        let (iv, tag) = self.head_of(seq, frame)?;
        let content = &mut frame[REGULAR_HEAD_LEN..REGULAR_HEAD_LEN + self.frame_length];
        self.key
            .open_in_place(&iv, self.aad(seq).as_bytes(), content, &tag)
            .map_err(|_| Error::from(AuthError::FrameTag { seq }))
    }

    /// Opens the final frame `seq` in place: `frame` is the whole frame (head, content, tag),
    /// its content length already checked by the caller against its head. Afterwards its
    /// plaintext is `frame[FINAL_HEAD_LEN..][..len]`.
    pub(crate) fn open_final(&self, seq: u32, frame: &mut [u8]) -> Result<()> {
        let len = frame
            .len()
            .checked_sub(body::FINAL_HEAD_LEN + TAG_LEN)
            .ok_or_else(|| Error::misuse("final frame job of the wrong size"))?;
        if len > self.frame_length {
            return Err(Error::misuse("final frame job of the wrong size"));
        }
        let wrong = || Error::misuse("final frame job of the wrong size");
        let iv = *frame
            .get(8..)
            .and_then(|f| f.first_chunk::<IV_LEN>())
            .ok_or_else(wrong)?;
        let (head_content, tag) = frame.split_at_mut(body::FINAL_HEAD_LEN + len);
        let tag: [u8; TAG_LEN] = (&*tag).try_into().map_err(|_| wrong())?;
        let aad = BodyAad::new(&self.message_id, BodyKind::FinalFrame, seq, len as u64);
        self.key
            .open_in_place(
                &iv,
                aad.as_bytes(),
                &mut head_content[body::FINAL_HEAD_LEN..],
                &tag,
            )
            .map_err(|_| Error::from(AuthError::FrameTag { seq }))
    }

    /// Appends `plaintext` encrypted under block `seq`'s IV and AAD (a regular or the final
    /// frame, per `kind`), then its tag: the content and tag of a frame whose head is already
    /// in `out`.
    pub(crate) fn seal_block(
        &self,
        kind: BodyKind,
        seq: u32,
        plaintext: &[u8],
        out: &mut bytes::BytesMut,
    ) -> Result<()> {
        let aad = BodyAad::new(&self.message_id, kind, seq, plaintext.len() as u64);
        let at = out.len();
        out.extend_from_slice(plaintext);
        let tag = self
            .key
            .seal_in_place(&body::frame_iv(seq), aad.as_bytes(), &mut out[at..])?;
        out.extend_from_slice(&tag);
        Ok(())
    }

    /// Opens a frame or the non-framed body in place, `frame` being its whole wire bytes as
    /// `head` describes them, and returns its plaintext (sharing `frame`'s buffer).
    pub(crate) fn open_block(
        &self,
        mut frame: bytes::BytesMut,
        head: &FrameHead,
        kind: BodyKind,
    ) -> Result<bytes::Bytes> {
        let aad = BodyAad::new(&self.message_id, kind, head.seq, head.content_len as u64);
        // `frame` is `head.total_len()` bytes: head, content, tag.
        let (content, tag) = frame[head.head_len..].split_at_mut(head.content_len);
        let tag: &[u8; TAG_LEN] = (&*tag).try_into().map_err(|_| FormatError::Truncated)?;
        self.key
            .open_in_place(&head.iv, aad.as_bytes(), content, tag)
            .map_err(|_| AuthError::FrameTag { seq: head.seq })?;
        frame.advance(head.head_len);
        frame.truncate(head.content_len);
        Ok(frame.freeze())
    }

    /// Opens regular frame `seq` read from `frame` into `out` (`frame_length` bytes): the
    /// content is copied there first unless `copied` says it already is, then decrypted in
    /// place. On failure `out` is garbage.
    pub(crate) fn open_frame_to(
        &self,
        seq: u32,
        frame: &[u8],
        out: &mut [u8],
        copied: bool,
    ) -> Result<()> {
        let (iv, tag) = self.head_of(seq, frame)?;
        if out.len() != self.frame_length {
            return Err(Error::misuse("frame job of the wrong size"));
        }
        if !copied {
            out.copy_from_slice(&frame[REGULAR_HEAD_LEN..REGULAR_HEAD_LEN + self.frame_length]);
        }
        self.key
            .open_in_place(&iv, self.aad(seq).as_bytes(), out, &tag)
            .map_err(|_| Error::from(AuthError::FrameTag { seq }))
    }
}

/// Consecutive regular frames, without the signature hash: what worker threads share.
#[derive(Clone)]
pub(crate) struct FrameJobs {
    pub(crate) cipher: FrameCipher,
    pub(crate) first_seq: u32,
    pub(crate) count: usize,
}

impl FrameJobs {
    /// Sequence number of the run's `i`-th frame.
    pub(crate) fn seq(&self, i: usize) -> u32 {
        self.first_seq + i as u32
    }

    /// Wire bytes of the whole run.
    pub(crate) fn wire_total(&self) -> usize {
        self.count * self.cipher.wire_len()
    }

    /// Plaintext bytes of the whole run.
    pub(crate) fn plain_total(&self) -> usize {
        self.count * self.cipher.frame_length()
    }

    /// The same jobs from the `skip`-th frame on, `count` of them.
    pub(crate) fn slice(&self, skip: usize, count: usize) -> Self {
        Self {
            cipher: self.cipher.clone(),
            first_seq: self.seq(skip),
            count,
        }
    }
}

/// Regular frames claimed from an [`Encryptor`](super::Encryptor) for sealing: the work of a
/// `SealOut` (see `proto::encrypt`), which holds the encryptor meanwhile.
///
/// The driver must seal every frame (`jobs.cipher.seal_frame(jobs.seq(i), ..)`) into
/// consecutive wire slots, feed the sealed bytes of the whole run, in order, to `signer` (when
/// there is one), emit the bytes, and then get the encryptor back with `SealOut::finish`. A
/// run without a signer may instead take the encryptor back at once (a copy of the jobs
/// outlives it: its frames need only the key schedule and their sequence numbers), so that
/// the next run is claimed while this one is sealed; the driver then emits the runs in the
/// order claimed, all of them before the final frame (`io::seal::SealEngine`).
pub(crate) struct SealRun {
    pub(crate) jobs: FrameJobs,
    pub(crate) signer: Option<Box<dyn Signer>>,
}

/// Regular frames claimed from a [`BodyDecryptor`](super::BodyDecryptor) for opening: the
/// work of a `FramesOut` (see `proto::decrypt`), which holds the decryptor meanwhile.
///
/// The driver must feed the run's wire bytes, in order and *before* opening them in place, to
/// `verifier` (when there is one), open every frame, and give the outcome to
/// `FramesOut::finish`. Plaintext of the run may be released only once that succeeded.
pub(crate) struct OpenRun {
    pub(crate) jobs: FrameJobs,
    pub(crate) verifier: Option<Box<dyn Verifier>>,
}

/// Bytes before a regular frame's content in its wire slot (sequence number and IV).
pub(crate) const SLOT_HEAD: usize = REGULAR_HEAD_LEN;

/// Plaintext gathered into the wire slots of consecutive regular frames: for each frame a
/// zeroed head (sequence number and IV, [`SLOT_HEAD`] bytes), its plaintext, then a zeroed tag
/// ([`TAG_LEN`] bytes). The one place the slot layout is written: a run of frames is then
/// sealed in place, each slot becoming its frame on the wire (see [`FrameCipher::seal_frame`]).
///
/// Slots are filled in order; the last one may be incomplete (its head is written, its tag not
/// yet). Because the slots begin right after the header or after the last frame sealed, the
/// frames they hold are always aligned with the message's frame boundaries: a driver that puts
/// all of its plaintext through slots needs no other alignment.
#[derive(Debug, Default)]
pub(crate) struct FrameSlots {
    buf: bytes::BytesMut,
    frame_length: usize,
    /// Frames the slots hold at most before they must be sealed.
    capacity: usize,
    /// Complete frames.
    whole: usize,
    /// Plaintext bytes of the incomplete last frame (its head is in `buf` when non-zero).
    partial: usize,
    /// Slots were taken out: the message is at least that long, so an empty buffer reserves
    /// the room of all the slots at once. Before, it reserves only what the plaintext at hand
    /// needs (a small message does not pay for a whole batch) and grows with it.
    taken: bool,
}

impl FrameSlots {
    /// Room for `capacity` (at least one) frames of `frame_length` (non-zero) plaintext bytes.
    pub(crate) fn new(frame_length: usize, capacity: usize) -> Self {
        Self {
            buf: bytes::BytesMut::new(),
            frame_length,
            capacity: capacity.max(1),
            whole: 0,
            partial: 0,
            taken: false,
        }
    }

    /// Bytes of a slot.
    fn wire_len(&self) -> usize {
        SLOT_HEAD + self.frame_length + TAG_LEN
    }

    /// Frames the slots hold at most.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Complete frames held.
    pub(crate) fn whole(&self) -> usize {
        self.whole
    }

    /// Plaintext bytes held (complete frames and the incomplete one).
    pub(crate) fn plain_len(&self) -> usize {
        self.whole * self.frame_length + self.partial
    }

    /// True when no more plaintext fits.
    pub(crate) fn is_full(&self) -> bool {
        self.whole == self.capacity
    }

    /// True when no plaintext is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.whole == 0 && self.partial == 0
    }

    /// Copies as much of `data` into the slots as fits and returns how much that was.
    pub(crate) fn gather(&mut self, mut data: &[u8]) -> usize {
        let start = data.len();
        let f = self.frame_length;
        while !data.is_empty() && !self.is_full() {
            if self.partial == 0 {
                if self.buf.is_empty() {
                    // One allocation for all the slots, reused after `take_whole`; until then
                    // the slots for `data`.
                    let all = self.capacity - self.whole;
                    let slots = if self.taken {
                        all
                    } else {
                        all.min(data.len().div_ceil(f).max(1))
                    };
                    self.buf.reserve(slots * self.wire_len());
                }
                self.buf.put_bytes(0, SLOT_HEAD);
            }
            let n = (f - self.partial).min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            self.partial += n;
            if self.partial == f {
                self.buf.put_bytes(0, TAG_LEN);
                self.whole += 1;
                self.partial = 0;
            }
        }
        start - data.len()
    }

    /// Takes out the first `count` (at most [`whole`](Self::whole)) complete slots, ready to be
    /// sealed in place as a run of `count` frames.
    pub(crate) fn take_whole(&mut self, count: usize) -> bytes::BytesMut {
        let count = count.min(self.whole);
        self.whole -= count;
        self.taken = true;
        self.buf.split_to(count * self.wire_len())
    }

    /// Gives the slots an empty buffer to reuse (one whose frames went out).
    pub(crate) fn recycle(&mut self, mut spare: bytes::BytesMut) {
        if self.buf.is_empty() && spare.capacity() > self.buf.capacity() {
            spare.clear();
            self.buf = spare;
        }
    }

    /// The plaintext of the incomplete last frame, when no complete one is left: what goes to
    /// the final frame. Empties the slots.
    pub(crate) fn take_partial(&mut self) -> bytes::BytesMut {
        debug_assert_eq!(self.whole, 0, "complete frames are sealed first");
        let mut rest = self.buf.split();
        if self.partial > 0 {
            rest.advance(SLOT_HEAD);
        }
        self.partial = 0;
        rest
    }
}

/// The plaintext of each frame of an opened run held in `buf` (its frames in wire slots,
/// opened in place): `count` pieces of `frame_length` bytes, sharing `buf`.
pub(crate) fn opened_plaintext(
    jobs: &FrameJobs,
    buf: bytes::Bytes,
) -> impl Iterator<Item = bytes::Bytes> {
    let (w, f) = (jobs.cipher.wire_len(), jobs.cipher.frame_length());
    (0..jobs.count).map(move |i| buf.slice(i * w + SLOT_HEAD..i * w + SLOT_HEAD + f))
}

/// Lays out frames of `frame_length` plaintext bytes from `plain` (whole frames only) into
/// their wire slots at the end of `out`: the one copy the one-shot encryption makes, before the
/// run is sealed in place.
pub(crate) fn lay_out(plain: &[u8], frame_length: usize, out: &mut Vec<u8>) {
    for frame in plain.chunks(frame_length) {
        out.extend_from_slice(&[0u8; SLOT_HEAD]);
        out.extend_from_slice(frame);
        out.extend_from_slice(&[0u8; TAG_LEN]);
    }
}

/// The content of each regular frame of `wire` (whole frames of `wire_len` bytes, not yet
/// opened) copied to the end of `out`: the one copy the one-shot decryption makes, before the
/// run is opened in place there.
pub(crate) fn copy_contents(wire: &[u8], wire_len: usize, out: &mut Vec<u8>) {
    for frame in wire.chunks(wire_len) {
        out.extend_from_slice(&frame[SLOT_HEAD..wire_len - TAG_LEN]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_reserve_what_the_plaintext_needs_until_a_batch_went_out() {
        let f = 64 << 10;
        let mut slots = FrameSlots::new(f, 16);
        let wire = slots.wire_len();
        assert_eq!(slots.gather(&[1u8; 100]), 100);
        assert!(slots.buf.capacity() < 2 * wire, "{}", slots.buf.capacity());
        // Whole frames, gathered in small pieces, end where they would with one reservation.
        let data = vec![2u8; 3 * f];
        let mut rest = &data[..];
        while !rest.is_empty() {
            let n = slots.gather(&rest[..rest.len().min(8 << 10)]);
            rest = &rest[n..];
        }
        assert_eq!((slots.whole(), slots.plain_len()), (3, 3 * f + 100));
        let run = slots.take_whole(3);
        assert_eq!(run.len(), 3 * wire);
        assert_eq!(&run[SLOT_HEAD..SLOT_HEAD + 100], &[1u8; 100]);
        assert_eq!(&run[SLOT_HEAD + 100..SLOT_HEAD + f], &data[..f - 100]);
        assert!(run[SLOT_HEAD + f..wire].iter().all(|&b| b == 0));
        // After a batch went out, the slots reserve all their room at once.
        let mut slots = FrameSlots::new(f, 16);
        slots.gather(&vec![3u8; f]);
        let _ = slots.take_whole(1);
        slots.gather(&[4u8; 10]);
        assert!(
            slots.buf.capacity() >= 15 * wire,
            "{}",
            slots.buf.capacity()
        );
    }
}
