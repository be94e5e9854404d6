//! Bounds-checked, endian- and class-aware reads from the file image.
//!
//! Every offset in an ELF file is attacker-controlled, so all reads go through these
//! helpers: they return `None` instead of panicking when an offset or length overflows
//! or points past the end of the data.

/// A view of (part of) the file with the file's class and byte order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ctx<'a> {
    pub data: &'a [u8],
    pub is64: bool,
    pub be: bool,
}

impl<'a> Ctx<'a> {
    /// `len` bytes at `off`, or `None` if any of them is outside the data.
    #[inline]
    pub fn bytes(&self, off: u64, len: u64) -> Option<&'a [u8]> {
        let start = usize::try_from(off).ok()?;
        let len = usize::try_from(len).ok()?;
        self.data.get(start..start.checked_add(len)?)
    }

    /// The part of `[off, off+len)` that lies inside the data (possibly empty).
    #[inline]
    pub fn bytes_clamped(&self, off: u64, len: u64) -> &'a [u8] {
        let total = self.data.len() as u64;
        if off >= total {
            return &[];
        }
        let end = off.saturating_add(len).min(total);
        // Both bounds are <= data.len(), so the conversions and the slice cannot fail.
        self.data.get(off as usize..end as usize).unwrap_or(&[])
    }

    /// The same file properties over a sub-slice (e.g. one table entry).
    #[inline]
    pub fn with(&self, data: &'a [u8]) -> Ctx<'a> {
        Ctx { data, ..*self }
    }

    #[inline]
    fn arr<const N: usize>(&self, off: u64) -> Option<[u8; N]> {
        self.bytes(off, N as u64)?.try_into().ok()
    }

    #[inline]
    pub fn u8(&self, off: u64) -> Option<u8> {
        self.data.get(usize::try_from(off).ok()?).copied()
    }

    #[inline]
    pub fn u16(&self, off: u64) -> Option<u16> {
        let b = self.arr::<2>(off)?;
        Some(if self.be {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    #[inline]
    pub fn u32(&self, off: u64) -> Option<u32> {
        let b = self.arr::<4>(off)?;
        Some(if self.be {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    #[inline]
    pub fn u64(&self, off: u64) -> Option<u64> {
        let b = self.arr::<8>(off)?;
        Some(if self.be {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        })
    }

    /// A class-sized word (`Elf32_Addr`/`Elf64_Addr` and friends), widened to u64.
    #[inline]
    pub fn word(&self, off: u64) -> Option<u64> {
        if self.is64 {
            self.u64(off)
        } else {
            self.u32(off).map(u64::from)
        }
    }

    /// Reads from a fixed-size entry slice whose length was checked by the caller;
    /// the fallback 0 is therefore never observed for in-range fields.
    #[inline]
    pub fn u16z(&self, off: u64) -> u16 {
        self.u16(off).unwrap_or(0)
    }
    #[inline]
    pub fn u32z(&self, off: u64) -> u32 {
        self.u32(off).unwrap_or(0)
    }
    #[inline]
    pub fn wordz(&self, off: u64) -> u64 {
        self.word(off).unwrap_or(0)
    }
    #[inline]
    pub fn u8z(&self, off: u64) -> u8 {
        self.u8(off).unwrap_or(0)
    }
}

/// A NUL-terminated string at `off` inside a string table. A missing terminator ends
/// the string at the end of the table (hostile or truncated tables); at most `max`
/// bytes are returned so a table without NULs cannot make every name huge.
#[inline]
pub(crate) fn c_str(table: &[u8], off: u64, max: usize) -> Option<&[u8]> {
    let start = usize::try_from(off).ok()?;
    let rest = table.get(start..)?;
    let window = &rest[..rest.len().min(max)];
    Some(match memchr::memchr(0, window) {
        Some(n) => &window[..n],
        None => window,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounds_checked() {
        let c = Ctx {
            data: &[1, 2, 3, 4, 5],
            is64: false,
            be: true,
        };
        assert_eq!(c.u16(0), Some(0x0102));
        assert_eq!(c.u32(1), Some(0x02030405));
        assert_eq!(c.u32(2), None);
        assert_eq!(c.u64(0), None);
        assert_eq!(c.bytes(u64::MAX, 2), None);
        assert_eq!(c.bytes(3, u64::MAX), None);
        assert_eq!(c.bytes_clamped(3, u64::MAX), &[4, 5]);
        assert_eq!(c.bytes_clamped(9, 1), &[] as &[u8]);
    }

    #[test]
    fn strings() {
        let t = b"\0abc\0de";
        assert_eq!(c_str(t, 1, 100), Some(&b"abc"[..]));
        assert_eq!(c_str(t, 5, 100), Some(&b"de"[..]));
        assert_eq!(c_str(t, 1, 2), Some(&b"ab"[..]));
        assert_eq!(c_str(t, 7, 100), Some(&b""[..]));
        assert_eq!(c_str(t, 8, 100), None);
    }
}
