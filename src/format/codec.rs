//! A bounds-checked big-endian reader over a byte slice.
//!
//! Every read checks the remaining length first; running out yields [`Incomplete`], which the
//! incremental parsers turn into "need more input" and the one-shot parsers into a truncation
//! error. Nothing here allocates.

/// The input ended before the value was complete; at least `needed` bytes (counted from the
/// start of the reader's slice) are required to get further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Incomplete {
    pub(crate) needed: usize,
}

/// A cursor over a byte slice.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Incomplete> {
        if self.remaining() < n {
            return Err(Incomplete {
                needed: self.pos.saturating_add(n),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Incomplete> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Incomplete> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Incomplete> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Incomplete> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Incomplete> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A `u16` length followed by that many bytes.
    pub(crate) fn u16_prefixed(&mut self) -> Result<&'a [u8], Incomplete> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }
}

/// Appends `u16 len ‖ bytes`, failing when `bytes` is longer than 65535.
pub(crate) fn put_u16_prefixed(
    out: &mut Vec<u8>,
    bytes: &[u8],
    what: &'static str,
) -> crate::Result<()> {
    let len =
        u16::try_from(bytes.len()).map_err(|_| crate::error::LimitError::FieldTooLong(what))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_bounds() {
        let mut r = Reader::new(&[0, 1, 0, 0, 0, 2, 9]);
        assert_eq!(r.u16(), Ok(1));
        assert_eq!(r.u32(), Ok(2));
        assert_eq!(r.remaining(), 1);
        assert_eq!(r.u16(), Err(Incomplete { needed: 8 }));
        assert_eq!(r.u8(), Ok(9));
        let mut r = Reader::new(&[0, 5, 1]);
        assert_eq!(r.u16_prefixed(), Err(Incomplete { needed: 7 }));
    }
}
