//! Message body framing, body AAD and IVs, and the footer
//! (`data-format/message-body.md`, `message-body-aad.md`, `message-footer.md`).

use crate::error::{FormatError, LimitError, Result};
use crate::format::codec::Reader;
use crate::suite::IV_LEN;

/// The sequence-number field value that marks the final frame.
pub(crate) const FINAL_FRAME_MARKER: u32 = 0xFFFF_FFFF;
/// Largest non-framed content length the format allows: 2^36 − 32.
pub(crate) const MAX_NON_FRAMED_LEN: u64 = (1 << 36) - 32;

/// Which content string enters the body AAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Frame,
    FinalFrame,
    SingleBlock,
}

impl BodyKind {
    fn content_string(self) -> &'static [u8] {
        match self {
            Self::Frame => b"AWSKMSEncryptionClient Frame",
            Self::FinalFrame => b"AWSKMSEncryptionClient Final Frame",
            Self::SingleBlock => b"AWSKMSEncryptionClient Single Block",
        }
    }
}

/// The body AAD, built on the stack: `message id ‖ content string ‖ u32 seq ‖ u64 length`.
/// The message ID is 16 bytes in v1 and 32 in v2 (the whole ID, whatever the spec text says).
pub(crate) struct BodyAad {
    buf: [u8; 32 + 35 + 4 + 8],
    len: usize,
}

impl BodyAad {
    pub(crate) fn new(message_id: &[u8], kind: BodyKind, seq: u32, content_len: u64) -> Self {
        let mut buf = [0u8; 32 + 35 + 4 + 8];
        let s = kind.content_string();
        let mut at = 0;
        for part in [
            message_id,
            s,
            &seq.to_be_bytes(),
            &content_len.to_be_bytes(),
        ] {
            buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        Self { buf, len: at }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The IV of frame `seq`: eight zero bytes and the big-endian sequence number.
pub(crate) fn frame_iv(seq: u32) -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    iv[8..].copy_from_slice(&seq.to_be_bytes());
    iv
}

/// The fixed-size part in front of a frame's ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHead {
    pub(crate) is_final: bool,
    pub(crate) seq: u32,
    pub(crate) iv: [u8; IV_LEN],
    /// Bytes before the ciphertext.
    pub(crate) head_len: usize,
    /// Ciphertext length (equal to the plaintext length).
    pub(crate) content_len: usize,
    /// Whole length on the wire: head, ciphertext, tag.
    total_len: usize,
}

impl FrameHead {
    /// Whole frame length on the wire, tag included.
    pub(crate) fn total_len(&self) -> usize {
        self.total_len
    }
}

/// `head + content + tag`, the wire length of a frame or body, when it fits in `max` (the
/// address space: `usize::MAX`, only 2^32 − 1 on 32-bit targets, where a 4 GiB frame would
/// otherwise wrap around).
fn checked_wire_len(head: usize, content: u64, max: usize) -> Option<usize> {
    usize::try_from(content)
        .ok()?
        .checked_add(head)?
        .checked_add(crate::suite::TAG_LEN)
        .filter(|&n| n <= max)
}

/// The wire length of a final frame (the longest frame head) of `frame_length` bytes; an
/// error when it does not fit in this platform's address space.
pub(crate) fn check_frame_length(frame_length: u32) -> Result<usize> {
    checked_wire_len(FINAL_HEAD_LEN, u64::from(frame_length), usize::MAX)
        .ok_or_else(|| LimitError::TooLargeForPlatform("frame").into())
}

fn wire_len(head: usize, content: u64) -> Result<usize> {
    checked_wire_len(head, content, usize::MAX)
        .ok_or_else(|| LimitError::TooLargeForPlatform("message block").into())
}

/// Length of a regular frame head: seq and IV.
pub(crate) const REGULAR_HEAD_LEN: usize = 4 + IV_LEN;
/// Length of a final frame head: marker, seq, IV and content length.
pub(crate) const FINAL_HEAD_LEN: usize = 4 + 4 + IV_LEN + 4;
/// Length of the non-framed body head: IV and u64 content length.
pub(crate) const NON_FRAMED_HEAD_LEN: usize = IV_LEN + 8;

/// Reads a frame head from the start of `buf`; `None` when more input is needed.
pub(crate) fn parse_frame_head(buf: &[u8], frame_length: u32) -> Result<Option<FrameHead>> {
    let mut r = Reader::new(buf);
    let Ok(first) = r.u32() else { return Ok(None) };
    if first != FINAL_FRAME_MARKER {
        let Ok(iv) = r.array::<IV_LEN>() else {
            return Ok(None);
        };
        return Ok(Some(FrameHead {
            is_final: false,
            seq: first,
            iv,
            head_len: REGULAR_HEAD_LEN,
            content_len: frame_length as usize,
            total_len: wire_len(REGULAR_HEAD_LEN, frame_length.into())?,
        }));
    }
    let (Ok(seq), Ok(iv), Ok(len)) = (r.u32(), r.array::<IV_LEN>(), r.u32()) else {
        return Ok(None);
    };
    if len > frame_length {
        return Err(FormatError::FinalFrameTooLong { len, frame_length }.into());
    }
    Ok(Some(FrameHead {
        is_final: true,
        seq,
        iv,
        head_len: FINAL_HEAD_LEN,
        content_len: len as usize,
        total_len: wire_len(FINAL_HEAD_LEN, len.into())?,
    }))
}

/// Reads the non-framed body head; `None` when more input is needed.
pub(crate) fn parse_non_framed_head(buf: &[u8], max_body_len: u64) -> Result<Option<FrameHead>> {
    let mut r = Reader::new(buf);
    let (Ok(iv), Ok(len)) = (r.array::<IV_LEN>(), r.u64()) else {
        return Ok(None);
    };
    if len > MAX_NON_FRAMED_LEN {
        return Err(FormatError::NonFramedTooLong(len).into());
    }
    if len > max_body_len {
        return Err(LimitError::BodyTooLarge {
            limit: max_body_len,
            got: len,
        }
        .into());
    }
    let content_len = usize::try_from(len).map_err(|_| FormatError::NonFramedTooLong(len))?;
    Ok(Some(FrameHead {
        is_final: true,
        seq: 1,
        iv,
        head_len: NON_FRAMED_HEAD_LEN,
        content_len,
        total_len: wire_len(NON_FRAMED_HEAD_LEN, len)?,
    }))
}

/// Writes a regular frame head.
pub(crate) fn put_regular_head(out: &mut impl bytes::BufMut, seq: u32) {
    out.put_u32(seq);
    out.put_slice(&frame_iv(seq));
}

/// Writes a final frame head.
pub(crate) fn put_final_head(out: &mut impl bytes::BufMut, seq: u32, len: u32) {
    out.put_u32(FINAL_FRAME_MARKER);
    out.put_u32(seq);
    out.put_slice(&frame_iv(seq));
    out.put_u32(len);
}

/// Reads the footer's signature length; `None` when more input is needed.
pub(crate) fn parse_footer_len(buf: &[u8]) -> Option<usize> {
    let mut r = Reader::new(buf);
    r.u16().ok().map(usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aad_layout() {
        let aad = BodyAad::new(&[7u8; 16], BodyKind::FinalFrame, 3, 10);
        let b = aad.as_bytes();
        assert_eq!(b.len(), 16 + 34 + 4 + 8);
        assert_eq!(&b[16..50], b"AWSKMSEncryptionClient Final Frame");
        assert_eq!(&b[50..54], &[0, 0, 0, 3]);
        assert_eq!(&b[54..], &10u64.to_be_bytes());
        assert_eq!(
            BodyAad::new(&[0u8; 32], BodyKind::SingleBlock, 1, 0)
                .as_bytes()
                .len(),
            32 + 35 + 12
        );
    }

    #[test]
    fn wire_lengths_are_checked() {
        // What a 32-bit target sees: a 4 GiB − 1 frame does not fit with its head and tag.
        let max32 = u32::MAX as usize;
        assert_eq!(
            checked_wire_len(REGULAR_HEAD_LEN, u64::from(u32::MAX), max32),
            None
        );
        // A final frame's head and tag take 24 + 16 bytes.
        assert_eq!(
            checked_wire_len(FINAL_HEAD_LEN, u64::from(u32::MAX) - 39, max32),
            None
        );
        assert_eq!(
            checked_wire_len(FINAL_HEAD_LEN, u64::from(u32::MAX) - 40, max32),
            Some(max32)
        );
        assert_eq!(
            checked_wire_len(NON_FRAMED_HEAD_LEN, MAX_NON_FRAMED_LEN, max32),
            None
        );
        assert_eq!(checked_wire_len(0, u64::MAX, usize::MAX), None);
        // And a 64-bit one: the format's largest frame and body fit.
        if usize::BITS == 64 {
            assert!(check_frame_length(u32::MAX).is_ok());
            assert!(wire_len(NON_FRAMED_HEAD_LEN, MAX_NON_FRAMED_LEN).is_ok());
        }
    }

    #[test]
    fn heads() {
        let mut v = Vec::new();
        put_final_head(&mut v, 2, 5);
        let h = parse_frame_head(&v, 8).unwrap().unwrap();
        assert!(h.is_final);
        assert_eq!((h.seq, h.content_len, h.head_len), (2, 5, FINAL_HEAD_LEN));
        assert_eq!(h.iv, frame_iv(2));
        assert!(parse_frame_head(&v, 4).is_err());
        for cut in 0..v.len() {
            assert_eq!(parse_frame_head(&v[..cut], 8).unwrap(), None);
        }
        let mut v = Vec::new();
        put_regular_head(&mut v, 1);
        let h = parse_frame_head(&v, 8).unwrap().unwrap();
        assert_eq!((h.is_final, h.seq, h.total_len()), (false, 1, 16 + 8 + 16));
    }
}
