//! Byte counting for [`super::entropy`], with an AVX-512 path: the only
//! `unsafe` code of the entropy module.
//!
//! Zero is by far the most common byte in executables (a third of the bytes
//! of /usr/bin), and runs of it are what make table counting stall on
//! updates of one counter. The AVX-512 path counts the zero bytes of each
//! 64-byte block with a compare and a popcount and packs the other bytes
//! together (VPCOMPRESSB) into a staging buffer, which the scalar tables then
//! count. Both paths produce exactly the same counts.

use super::Tables;

/// How bytes are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Counter {
    /// Count tables only.
    Scalar,
    /// Zero bytes by AVX-512 compare and popcount, the rest by the tables.
    #[cfg(target_arch = "x86_64")]
    Avx512(x86::Avx512),
}

impl Counter {
    /// The fastest counter this CPU supports.
    pub(super) fn detect() -> Counter {
        #[cfg(target_arch = "x86_64")]
        if let Some(t) = x86::Avx512::new() {
            return Counter::Avx512(t);
        }
        Counter::Scalar
    }

    /// Every counter this CPU supports (for tests).
    #[cfg(test)]
    pub(super) fn all() -> Vec<Counter> {
        let mut v = vec![Counter::Scalar];
        #[cfg(target_arch = "x86_64")]
        if let Some(t) = x86::Avx512::new() {
            v.push(Counter::Avx512(t));
        }
        v
    }

    /// Adds the bytes of `data` to `tables`, except zero bytes, whose number
    /// is returned instead (the scalar path counts zeros in the tables and
    /// returns 0).
    pub(super) fn count(self, data: &[u8], tables: &mut Tables) -> u64 {
        match self {
            Counter::Scalar => {
                tables.add(data);
                0
            }
            #[cfg(target_arch = "x86_64")]
            Counter::Avx512(t) => t.count(data, tables),
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Tables;

    /// Staging buffer size: non-zero bytes are counted in batches of this
    /// many.
    const STAGE: usize = 8192;

    /// Proof that the CPU supports AVX-512F, AVX-512BW and AVX-512VBMI2;
    /// only [`Avx512::new`] makes one.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Avx512(());

    impl Avx512 {
        pub(crate) fn new() -> Option<Self> {
            (is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vbmi2"))
            .then_some(Avx512(()))
        }

        pub(crate) fn count(self, data: &[u8], tables: &mut Tables) -> u64 {
            // SAFETY: `self` proves AVX-512F/BW/VBMI2 support (see `new`).
            unsafe { count_avx512(data, tables) }
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi2,popcnt")]
    fn count_avx512(data: &[u8], tables: &mut Tables) -> u64 {
        let mut zeros = 0u64;
        // 64 bytes of slack: each block is stored whole, then only its
        // non-zero prefix is kept.
        let mut stage = [0u8; STAGE + 64];
        let mut fill = 0usize;
        let mut blocks = data.chunks_exact(64);
        for block in &mut blocks {
            let block: &[u8; 64] = block.try_into().unwrap_or(&[0; 64]);
            // SAFETY: the load reads the 64 bytes of `block`.
            let v = unsafe { _mm512_loadu_si512(block.as_ptr().cast()) };
            let nonzero = _mm512_test_epi8_mask(v, v);
            let packed = _mm512_maskz_compress_epi8(nonzero, v);
            // `fill < STAGE` here (the stage is flushed once it reaches
            // STAGE), so the 64-byte window always fits.
            let Some(dst) = stage.get_mut(fill..fill + 64) else {
                break;
            };
            // SAFETY: `dst` is 64 writable bytes.
            unsafe { _mm512_storeu_si512(dst.as_mut_ptr().cast(), packed) };
            let n = nonzero.count_ones() as usize;
            zeros += 64 - n as u64;
            fill += n;
            if fill >= STAGE {
                tables.add(&stage[..fill]);
                fill = 0;
            }
        }
        tables.add(&stage[..fill]);
        tables.add(blocks.remainder());
        zeros
    }
}
