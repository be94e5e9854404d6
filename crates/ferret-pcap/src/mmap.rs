//! Memory-mapping a capture file: the crate's only unsafe code.
//!
//! Reading a mapped file spares the kernel-to-user copy of every byte, which is
//! a quarter of the cost of reading a capture from the page cache.

use std::fs::File;

use memmap2::{Advice, Mmap, MmapOptions};

/// Maps `file` read-only, or returns `None` when it cannot be mapped (a pipe,
/// an empty file, a file system without mmap): the caller then reads it.
pub(crate) fn map(file: &File) -> Option<Mmap> {
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() == 0 {
        return None;
    }
    // SAFETY: the mapping is private and only read, through `&[u8]` borrowed from
    // the returned `Mmap`, which outlives every borrow. The remaining hazard is
    // another process truncating the file while it is mapped (reads of the lost
    // pages would fault); captures are analysed after their writer has finished,
    // as with any mmap-based reader (ripgrep, tcpdump's own tools).
    let map = unsafe { MmapOptions::new().map(file) }.ok()?;
    // Only a hint: sequential access lets the kernel read ahead aggressively.
    let _ = map.advise(Advice::Sequential);
    Some(map)
}
