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

/// Page-cache pages of the mapping already analysed are dropped from this
/// process's memory every this many bytes, so that resident memory stays
/// bounded whatever the capture's size.
pub(crate) const RELEASE_EVERY: usize = 8 << 20;

/// Drops the mapped pages of `map[from..to]` (rounded inward to 4 KiB pages) from
/// the process's resident set; returns where the next release should start.
pub(crate) fn release(map: &Mmap, from: usize, to: usize) -> usize {
    const PAGE: usize = 4096;
    let start = from.next_multiple_of(PAGE);
    let end = to & !(PAGE - 1);
    if end <= start {
        return from;
    }
    // SAFETY: the mapping is private, read-only and never written, so after
    // MADV_DONTNEED a read of these pages faults them back in from the unchanged
    // file with the same bytes: no borrow ever observes different contents. The
    // range lies inside the mapping; the reader has moved past it and no packet
    // borrowed from it is still alive. A failure (e.g. another page size) only
    // means the pages stay resident.
    let _ = unsafe {
        map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
    };
    end
}
