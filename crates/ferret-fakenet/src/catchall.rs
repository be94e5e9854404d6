//! The catch-all TCP listener: one listening socket receives the connections to
//! every address and every port of the fake-internet namespace.
//!
//! Why an `sk_lookup` BPF program rather than netfilter: the local route for
//! 0.0.0.0/0 makes every address local, but a connection still needs a socket on its
//! port. nftables `redirect`/`tproxy` would need the `nft` tool (not installed) or
//! nf_tables netlink batches, and `redirect` hides the original destination behind
//! conntrack (`SO_ORIGINAL_DST`). An `sk_lookup` program, attached to the namespace,
//! hands every TCP SYN to our listener before the normal socket lookup; the accepted
//! socket's local address *is* the original destination, no conntrack involved, and
//! the program dies with its link descriptor (or the namespace). It is 19
//! instructions, assembled below.

use std::ffi::CStr;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::sys;

const BPF_MAP_TYPE_SOCKMAP: u32 = 15;
const BPF_PROG_TYPE_SK_LOOKUP: u32 = 30;
const BPF_SK_LOOKUP: u32 = 36;
const BPF_PSEUDO_MAP_FD: u8 = 1;
const HELPER_MAP_LOOKUP_ELEM: i32 = 1;
const HELPER_SK_RELEASE: i32 = 86;
const HELPER_SK_ASSIGN: i32 = 124;
/// Offset of `protocol` in `struct bpf_sk_lookup`.
const CTX_PROTOCOL: i16 = 12;

/// Encodes one BPF instruction.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    let mut b = [0u8; 8];
    b[0] = code;
    b[1] = (dst & 0x0f) | (src << 4);
    b[2..4].copy_from_slice(&off.to_le_bytes());
    b[4..8].copy_from_slice(&imm.to_le_bytes());
    u64::from_le_bytes(b)
}

const MOV64_X: u8 = 0xbf;
const MOV64_K: u8 = 0xb7;
const ADD64_K: u8 = 0x07;
const LDX_W: u8 = 0x61;
const ST_W: u8 = 0x62;
const LD_IMM64: u8 = 0x18;
const JNE_K: u8 = 0x55;
const JEQ_K: u8 = 0x15;
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;

/// The program: for TCP lookups, take the socket in slot 0 of `map` and assign it.
fn program(map_fd: i32) -> Vec<u64> {
    vec![
        insn(MOV64_X, 6, 1, 0, 0),                       // 0: r6 = ctx
        insn(LDX_W, 2, 6, CTX_PROTOCOL, 0),              // 1: r2 = ctx->protocol
        insn(JNE_K, 2, 0, 14, libc::IPPROTO_TCP),        // 2: not TCP -> 17 (pass)
        insn(ST_W, 10, 0, -4, 0),                        // 3: key = 0 on the stack
        insn(LD_IMM64, 1, BPF_PSEUDO_MAP_FD, 0, map_fd), // 4-5: r1 = map
        0,
        insn(MOV64_X, 2, 10, 0, 0),                  // 6: r2 = fp
        insn(ADD64_K, 2, 0, 0, -4),                  // 7: r2 = &key
        insn(CALL, 0, 0, 0, HELPER_MAP_LOOKUP_ELEM), // 8: r0 = socket or NULL
        insn(JEQ_K, 0, 0, 7, 0),                     // 9: NULL -> 17 (pass)
        insn(MOV64_X, 7, 0, 0, 0),                   // 10: r7 = socket
        insn(MOV64_X, 1, 6, 0, 0),                   // 11
        insn(MOV64_X, 2, 7, 0, 0),                   // 12
        insn(MOV64_K, 3, 0, 0, 0),                   // 13
        insn(CALL, 0, 0, 0, HELPER_SK_ASSIGN),       // 14: bpf_sk_assign(ctx, sk, 0)
        insn(MOV64_X, 1, 7, 0, 0),                   // 15
        insn(CALL, 0, 0, 0, HELPER_SK_RELEASE),      // 16: drop the lookup's reference
        insn(MOV64_K, 0, 0, 0, 1),                   // 17: SK_PASS
        insn(EXIT, 0, 0, 0, 0),                      // 18
    ]
}

/// The attached program; dropping it detaches the program.
#[derive(Debug)]
pub struct CatchAll {
    _map: OwnedFd,
    _prog: OwnedFd,
    _link: OwnedFd,
}

/// Steers every TCP connection to namespace `netns` into `listener` (which must be
/// a listening socket of that namespace; an IPv6 one that is not v6-only also takes
/// IPv4).
pub fn attach(netns: BorrowedFd<'_>, listener: &TcpListener) -> io::Result<CatchAll> {
    let ctx =
        |what: &'static str| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    let map = sys::bpf_map_create(BPF_MAP_TYPE_SOCKMAP, 4, 8, 1)
        .map_err(ctx("creating the catch-all sockmap"))?;
    sys::bpf_sockmap_put(map.as_fd(), 0, listener.as_fd())
        .map_err(ctx("storing the catch-all listener in the sockmap"))?;
    let insns = program(std::os::fd::AsRawFd::as_raw_fd(&map));
    let license: &CStr = c"Apache-2.0";
    let prog = sys::bpf_prog_load(BPF_PROG_TYPE_SK_LOOKUP, BPF_SK_LOOKUP, &insns, license)
        .map_err(ctx("loading the catch-all sk_lookup program"))?;
    let link = sys::bpf_link_create(prog.as_fd(), netns, BPF_SK_LOOKUP).map_err(ctx(
        "attaching the catch-all sk_lookup program to the namespace",
    ))?;
    Ok(CatchAll {
        _map: map,
        _prog: prog,
        _link: link,
    })
}
