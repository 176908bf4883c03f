//! Range decryption: the plaintext bytes `[a, b)` of an unsigned framed message without reading
//! it from the start.
//!
//! Every frame of a framed message is authenticated on its own: its tag covers the message
//! ID, its kind (regular or final), its sequence number and its length. In an **unsigned**
//! message nothing else binds the frames together, so a frame can be opened by anyone holding
//! the content key and its position, and its plaintext released once its tag verifies, exactly
//! as the streaming decryptor would. A *signed* message's signature covers every byte, and the
//! release rules hold its final frame back until the signature verifies: ranges are refused.
//!
//! ```text
//! message = header ‖ frame 1 ‖ … ‖ frame n ‖ final frame        (unsigned: no footer)
//!            h bytes   F + 32 bytes each    L + 40 bytes, 0 ≤ L ≤ F
//! ```
//!
//! [`FrameLayout`] is the arithmetic: from the header length `h`, the frame length `F` and the
//! message length it finds `n` and `L` (unique, since a regular frame is 32 bytes longer than
//! the F + 1 possible final-frame lengths) and so every frame's place, whichever form the final
//! frame takes (empty after a plaintext that is a multiple of `F`, or full: both occur).
//! [`RangeDecryptor`] opens frames by index. The length is only what the message *claims*
//! until the final frame has been opened: its sequence number and length are authenticated, so
//! once it verifies, `n` and `L` (the plaintext length) are too, and a cut or extended message
//! cannot pass for a shorter one. The I/O driver, [`crate::io::RangeReader`], opens the final
//! frame first.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::{AuthError, Error, FormatError, PolicyError, Result};
use crate::format::body::{FINAL_FRAME_MARKER, FINAL_HEAD_LEN, REGULAR_HEAD_LEN};
use crate::format::{ContentType, MessageHeader};
use crate::materials::DecryptionMaterials;
use crate::proto::ParsedHeader;
use crate::proto::frames::FrameCipher;
use crate::suite::TAG_LEN;

/// Bytes a final frame adds to its content: marker, sequence number, IV, length, tag.
const FINAL_OVERHEAD: u64 = (FINAL_HEAD_LEN + TAG_LEN) as u64;
/// Bytes a regular frame adds to its content: sequence number, IV, tag.
const REGULAR_OVERHEAD: u64 = (REGULAR_HEAD_LEN + TAG_LEN) as u64;

/// Where each frame of an unsigned framed message lies. Pure arithmetic; see the
/// [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayout {
    header_len: u64,
    frame_length: u64,
    regular: u64,
    final_len: u64,
}

/// One frame of a [`FrameLayout`]: where it is in the message and which plaintext it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FrameSpan {
    /// Index of the frame, from 0 (its sequence number is `index + 1`).
    pub index: u64,
    /// Offset of its first byte from the start of the message.
    pub offset: u64,
    /// Its length on the wire.
    pub wire_len: u64,
    /// Offset of its first plaintext byte in the plaintext.
    pub plaintext_start: u64,
    /// Plaintext bytes it holds.
    pub plaintext_len: u64,
    /// True for the final frame.
    pub is_final: bool,
}

impl FrameSpan {
    /// The wire bytes of the frame, as a range of message offsets.
    pub fn wire_range(&self) -> std::ops::Range<u64> {
        self.offset..self.offset + self.wire_len
    }
}

impl FrameLayout {
    /// The layout of an unsigned framed message of `message_len` bytes whose header (body and
    /// authentication) is `header_len` bytes and whose frame length is `frame_length`.
    ///
    /// # Errors
    /// [`FormatError::Truncated`] when the message is too short to hold a final frame,
    /// [`FormatError::TooManyFrames`] when it would need more frames than the format allows,
    /// [`FormatError::BadFrameLength`] for a zero frame length.
    pub fn new(header_len: u64, frame_length: u32, message_len: u64) -> Result<Self> {
        if frame_length == 0 {
            return Err(FormatError::BadFrameLength(0).into());
        }
        let f = u64::from(frame_length);
        let body = message_len
            .checked_sub(header_len)
            .and_then(|b| b.checked_sub(FINAL_OVERHEAD))
            .ok_or(FormatError::Truncated)?;
        // body = n·(F + 32) + L with 0 ≤ L ≤ F < F + 32: n and L are unique.
        let w = f + REGULAR_OVERHEAD;
        let regular = body / w;
        let final_len = body % w;
        if final_len > f {
            // Between a full final frame and one more regular frame: no message has this length.
            return Err(FormatError::Truncated.into());
        }
        // The final frame's sequence number (regular + 1) must stay below the marker.
        if regular + 1 >= u64::from(FINAL_FRAME_MARKER) {
            return Err(FormatError::TooManyFrames.into());
        }
        Ok(Self {
            header_len,
            frame_length: f,
            regular,
            final_len,
        })
    }

    /// The plaintext length the message claims (authenticated once its final frame verifies).
    pub fn plaintext_len(&self) -> u64 {
        self.regular * self.frame_length + self.final_len
    }

    /// The message length this layout was made for.
    pub fn message_len(&self) -> u64 {
        self.header_len
            + self.regular * (self.frame_length + REGULAR_OVERHEAD)
            + self.final_len
            + FINAL_OVERHEAD
    }

    /// Frames in the message, the final frame included.
    pub fn frame_count(&self) -> u64 {
        self.regular + 1
    }

    /// Frame `index` (from 0); `None` past the final frame.
    pub fn frame(&self, index: u64) -> Option<FrameSpan> {
        (index <= self.regular).then(|| self.span(index))
    }

    /// The final frame.
    pub fn final_frame(&self) -> FrameSpan {
        self.span(self.regular)
    }

    /// The frame holding plaintext byte `offset`; the final frame for offsets at or past the
    /// end (it holds the last bytes, or none when it is empty).
    pub fn frame_at(&self, offset: u64) -> FrameSpan {
        self.span((offset / self.frame_length).min(self.regular))
    }

    /// Frame `index`, which is at most the final frame's (every caller bounds it).
    fn span(&self, index: u64) -> FrameSpan {
        let is_final = index >= self.regular;
        FrameSpan {
            index,
            offset: self.header_len + index * (self.frame_length + REGULAR_OVERHEAD),
            wire_len: if is_final {
                self.final_len + FINAL_OVERHEAD
            } else {
                self.frame_length + REGULAR_OVERHEAD
            },
            plaintext_start: index * self.frame_length,
            plaintext_len: if is_final {
                self.final_len
            } else {
                self.frame_length
            },
            is_final,
        }
    }

    /// The indices of the frames that hold plaintext `range` (clamped to the plaintext); empty
    /// for an empty range.
    pub fn frames_for(&self, range: std::ops::Range<u64>) -> std::ops::Range<u64> {
        let end = range.end.min(self.plaintext_len());
        if range.start >= end {
            return 0..0;
        }
        range.start / self.frame_length..(end - 1) / self.frame_length + 1
    }
}

/// Opens single frames of an unsigned framed message by index, once its header has been
/// authenticated. No I/O: the caller reads each frame's [`FrameSpan::wire_range`] and hands the
/// bytes over.
pub struct RangeDecryptor {
    cipher: FrameCipher,
    layout: FrameLayout,
    header: MessageHeader,
}

impl std::fmt::Debug for RangeDecryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeDecryptor")
            .field("layout", &self.layout)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// The big-endian `u32` at `at` in `wire`; a frame too short for it is a cut one.
fn be_u32(wire: &[u8], at: usize) -> Result<u32> {
    wire.get(at..)
        .and_then(|w| w.first_chunk::<4>())
        .map(|b| u32::from_be_bytes(*b))
        .ok_or_else(|| FormatError::Truncated.into())
}

/// Why `header` cannot be read by range, if it cannot: a signed suite or a non-framed body.
pub fn check_rangeable(header: &MessageHeader) -> Result<()> {
    if header.algorithm_suite().is_signing() {
        return Err(PolicyError::RangeNotSupported(
            "the message is signed, and its signature covers the whole message",
        )
        .into());
    }
    if header.content_type() != ContentType::Framed {
        return Err(PolicyError::RangeNotSupported("the message is not framed").into());
    }
    Ok(())
}

impl RangeDecryptor {
    /// Checks `materials` and the header as [`ParsedHeader::with_materials`] does, then takes
    /// the content key for the frames of a message of `message_len` bytes in all.
    ///
    /// # Errors
    /// [`PolicyError::RangeNotSupported`] for a signed or non-framed message (before the
    /// materials are looked at); the errors of [`ParsedHeader::with_materials`] and of
    /// [`FrameLayout::new`].
    pub fn new(
        parsed: ParsedHeader,
        materials: &DecryptionMaterials,
        message_len: u64,
    ) -> Result<Self> {
        check_rangeable(parsed.header())?;
        let body = parsed.with_materials(materials)?;
        let layout = FrameLayout::new(
            body.header_len() as u64,
            body.header().frame_length(),
            message_len,
        )?;
        let header = body.header().clone();
        // `check_rangeable` let only unsigned framed messages through, and the body is
        // untouched: its frame cipher is there.
        let cipher = body
            .into_first_frames()
            .ok_or(PolicyError::RangeNotSupported("the message is not framed"))?;
        Ok(Self {
            cipher,
            layout,
            header,
        })
    }

    /// Where the frames are.
    pub fn layout(&self) -> &FrameLayout {
        &self.layout
    }

    /// The message header.
    pub fn header(&self) -> &MessageHeader {
        &self.header
    }

    /// Opens frame `span` (from [`layout`](Self::layout)) from its wire bytes and returns its
    /// plaintext. Checks the sequence number, for the final frame the marker and its length,
    /// and the tag (whose AAD binds the frame's kind, sequence number and length).
    ///
    /// # Errors
    /// [`FormatError::Truncated`] when `wire` is not the frame's length, when a final frame
    /// stands where a regular one is due or the other way round, or when the final frame's
    /// length is not the one the message length implies (all three mean the message was cut or
    /// extended); [`FormatError::BadSequence`] for another frame's sequence number;
    /// [`AuthError::FrameTag`] when the tag does not verify; [`Error::ApiMisuse`] for a span
    /// that is not one of this layout's (a caller's mix-up that types cannot rule out: spans
    /// are plain values, kept and computed with by the caller).
    pub fn open(&self, span: &FrameSpan, mut wire: BytesMut) -> Result<Bytes> {
        if Some(*span) != self.layout.frame(span.index) {
            return Err(Error::misuse("frame span of another layout"));
        }
        if wire.len() as u64 != span.wire_len {
            return Err(FormatError::Truncated.into());
        }
        let seq = u32::try_from(span.index + 1).map_err(|_| FormatError::TooManyFrames)?;
        let first = be_u32(&wire, 0)?;
        if span.is_final {
            if first != FINAL_FRAME_MARKER {
                // A regular frame where the final one should be: the message was cut short
                // (or extended), so its length does not tell where the final frame is.
                return Err(FormatError::Truncated.into());
            }
            let got = be_u32(&wire, 4)?;
            let len = be_u32(&wire, FINAL_HEAD_LEN - 4)?;
            if got != seq {
                return Err(FormatError::BadSequence { expected: seq, got }.into());
            }
            if u64::from(len) != span.plaintext_len {
                return Err(FormatError::Truncated.into());
            }
            self.cipher.open_final(seq, &mut wire)?;
            wire.advance(FINAL_HEAD_LEN);
        } else {
            if first == FINAL_FRAME_MARKER {
                return Err(FormatError::Truncated.into());
            }
            if first != seq {
                return Err(FormatError::BadSequence {
                    expected: seq,
                    got: first,
                }
                .into());
            }
            self.cipher
                .open_frame(seq, &mut wire)
                .map_err(|_| AuthError::FrameTag { seq })?;
            wire.advance(REGULAR_HEAD_LEN);
        }
        wire.truncate(span.plaintext_len as usize);
        Ok(wire.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{Client, EncryptOptions, MaterialsSource};
    use crate::format::FrameLength;
    use crate::keyring::RawAesKeyring;
    use crate::proto::Release;
    use crate::suite::AlgorithmSuite;

    #[test]
    fn layout_arithmetic() {
        // h = 100, F = 10: regular frames are 42 bytes, a final frame 40 + L.
        let l = FrameLayout::new(100, 10, 100 + 40).unwrap();
        assert_eq!((l.frame_count(), l.plaintext_len()), (1, 0));
        let l = FrameLayout::new(100, 10, 100 + 40 + 10).unwrap();
        assert_eq!((l.frame_count(), l.plaintext_len()), (1, 10));
        let l = FrameLayout::new(100, 10, 100 + 42 + 40).unwrap();
        assert_eq!((l.frame_count(), l.plaintext_len()), (2, 10));
        let l = FrameLayout::new(100, 10, 100 + 2 * 42 + 40 + 3).unwrap();
        assert_eq!((l.frame_count(), l.plaintext_len()), (3, 23));
        assert_eq!(l.message_len(), 100 + 2 * 42 + 43);
        assert_eq!(l.frames_for(0..23), 0..3);
        assert_eq!(l.frames_for(10..20), 1..2);
        assert_eq!(l.frames_for(19..21), 1..3);
        assert_eq!(l.frames_for(5..5), 0..0);
        assert_eq!(l.frames_for(23..40), 0..0);
        assert_eq!(l.frame_at(22).index, 2);
        assert_eq!(l.frame_at(1000).index, 2);
        let f = l.final_frame();
        assert_eq!((f.offset, f.wire_len, f.plaintext_start), (184, 43, 20));
        // Lengths no message can have.
        for bad in [0, 99, 139, 100 + 40 + 11, 100 + 40 + 31] {
            assert!(FrameLayout::new(100, 10, bad).is_err(), "{bad}");
        }
        assert!(FrameLayout::new(0, 0, 100).is_err());
        // Every length from the header on maps to at most one layout, and back.
        for len in 100..100 + 5 * 42 {
            if let Ok(l) = FrameLayout::new(100, 10, len) {
                assert_eq!(l.message_len(), len);
            }
        }
    }

    /// Encrypts `len` bytes in frames of `f`; `empty_final` ends an exact multiple with an
    /// empty final frame (as Python, Java and newer writers do) instead of a full one.
    fn message(len: usize, f: u32, empty_final: bool) -> (Vec<u8>, Vec<u8>, MaterialsSource) {
        let keys = MaterialsSource::from(RawAesKeyring::new("ns", "k", &[9u8; 32]).unwrap());
        let client = Client::new();
        let options = EncryptOptions {
            algorithm_suite: Some(AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY),
            frame_length: FrameLength::new(f).unwrap(),
            ..Default::default()
        };
        let pt: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
        let mut enc = futures::executor::block_on(client.encryptor(&keys, &options)).unwrap();
        let mut out = BytesMut::new();
        if empty_final {
            enc.update(&pt, &mut out).unwrap();
        } else {
            enc.update_full_final(&pt, &mut out).unwrap();
        }
        enc.finish(&mut out).unwrap();
        (pt, out.to_vec(), keys)
    }

    fn range_decryptor(msg: &[u8], keys: &MaterialsSource) -> Result<RangeDecryptor> {
        let client = Client::new();
        let mut input = BytesMut::from(msg);
        let Some(parsed) = client
            .header_decoder(Release::UnsignedOnly)
            .decode(&mut input)?
        else {
            panic!("no header");
        };
        let m = futures::executor::block_on(client.decrypt_materials(keys, parsed.header(), None))?;
        RangeDecryptor::new(parsed, &m, msg.len() as u64)
    }

    fn open_all(r: &RangeDecryptor, msg: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for i in 0..r.layout().frame_count() {
            let s = r.layout().frame(i).unwrap();
            let wire = &msg[s.offset as usize..(s.offset + s.wire_len) as usize];
            out.extend_from_slice(&r.open(&s, BytesMut::from(wire))?);
        }
        Ok(out)
    }

    #[test]
    fn both_final_frame_forms_of_an_exact_multiple() {
        for empty_final in [false, true] {
            for len in [0usize, 1, 15, 16, 32, 33, 64] {
                let (pt, msg, keys) = message(len, 16, empty_final && len % 16 == 0 && len > 0);
                let r = range_decryptor(&msg, &keys).unwrap();
                assert_eq!(r.layout().plaintext_len(), len as u64);
                assert_eq!(r.layout().message_len(), msg.len() as u64);
                assert_eq!(open_all(&r, &msg).unwrap(), pt);
            }
        }
        // The empty form really has one more frame than the full one.
        let (_, full, k1) = message(32, 16, false);
        let (_, empty, k2) = message(32, 16, true);
        let (a, b) = (
            range_decryptor(&full, &k1).unwrap(),
            range_decryptor(&empty, &k2).unwrap(),
        );
        assert_eq!((a.layout().frame_count(), b.layout().frame_count()), (2, 3));
        assert_eq!(b.layout().final_frame().plaintext_len, 0);
    }

    #[test]
    fn cut_or_extended_messages_fail_at_the_final_frame() {
        let (_, msg, keys) = message(50, 16, false);
        let full = range_decryptor(&msg, &keys).unwrap();
        let header_len = full.layout().frame(0).unwrap().offset as usize;
        for cut in header_len..msg.len() {
            let short = &msg[..cut];
            if let Ok(r) = range_decryptor(short, &keys) {
                let f = r.layout().final_frame();
                let wire = &short[f.offset as usize..(f.offset + f.wire_len) as usize];
                assert!(r.open(&f, BytesMut::from(wire)).is_err(), "cut at {cut}");
            }
        }
        for extra in 1..80 {
            let mut long = msg.clone();
            long.extend(std::iter::repeat_n(0u8, extra));
            if let Ok(r) = range_decryptor(&long, &keys) {
                let f = r.layout().final_frame();
                let wire = &long[f.offset as usize..(f.offset + f.wire_len) as usize];
                assert!(r.open(&f, BytesMut::from(wire)).is_err(), "{extra} extra");
            }
        }
    }

    #[test]
    fn frames_opened_out_of_place_fail() {
        let (_, msg, keys) = message(64, 16, false);
        let r = range_decryptor(&msg, &keys).unwrap();
        let (s1, s2) = (r.layout().frame(1).unwrap(), r.layout().frame(2).unwrap());
        // Frame 2's bytes offered as frame 1: wrong sequence number.
        let wire2 = &msg[s2.offset as usize..(s2.offset + s2.wire_len) as usize];
        assert!(matches!(
            r.open(&s1, BytesMut::from(wire2)),
            Err(Error::Format(FormatError::BadSequence { .. }))
        ));
        // Frame 1 with its sequence number rewritten to 2: the tag binds the number.
        let mut moved =
            BytesMut::from(&msg[s1.offset as usize..(s1.offset + s1.wire_len) as usize]);
        moved[..4].copy_from_slice(&3u32.to_be_bytes());
        assert!(matches!(
            r.open(&s2, moved),
            Err(Error::Authentication(AuthError::FrameTag { seq: 3 }))
        ));
    }

    #[test]
    fn signed_messages_are_refused() {
        let keys = MaterialsSource::from(RawAesKeyring::new("ns", "k", &[9u8; 32]).unwrap());
        let client = Client::new();
        let msg = futures::executor::block_on(std::future::IntoFuture::into_future(
            client.encrypt(&keys, b"signed"),
        ))
        .unwrap();
        let mut input = BytesMut::from(&msg.ciphertext[..]);
        let Some(parsed) = Client::new()
            .header_decoder(Release::Streaming)
            .decode(&mut input)
            .unwrap()
        else {
            panic!("no header")
        };
        assert!(matches!(
            check_rangeable(parsed.header()),
            Err(Error::Policy(PolicyError::RangeNotSupported(_)))
        ));
    }
}
