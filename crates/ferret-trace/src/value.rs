//! Decoded argument values.

use crate::flags::Sym;
use std::fmt;

/// Bytes read from tracee memory, cut at a bound.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes {
    /// The bytes read (without the terminating NUL for strings).
    pub data: Vec<u8>,
    /// True when the value was longer than the bound and was cut.
    pub truncated: bool,
}

impl Bytes {
    /// Lossy UTF-8 view of the bytes.
    pub fn to_string_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.data)
    }
}

/// A list of strings read from a NULL-terminated pointer array (argv, envp).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StrList {
    /// Items in order; each may itself be cut.
    pub items: Vec<Bytes>,
    /// True when the list had more items than the bound (or an unreadable tail).
    pub truncated: bool,
}

/// A decoded socket address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SockAddr {
    /// `AF_INET`.
    Inet {
        /// Address bytes in network order.
        addr: [u8; 4],
        /// Port in host order.
        port: u16,
    },
    /// `AF_INET6`.
    Inet6 {
        /// Address bytes in network order.
        addr: [u8; 16],
        /// Port in host order.
        port: u16,
        /// Flow information.
        flowinfo: u32,
        /// Scope id.
        scope_id: u32,
    },
    /// `AF_UNIX`; `abstract_ns` for Linux abstract names (leading NUL, not
    /// included in `path`); an empty non-abstract path is an unnamed socket.
    Unix {
        /// Path or abstract name bytes.
        path: Vec<u8>,
        /// Abstract namespace name.
        abstract_ns: bool,
    },
    /// `AF_NETLINK`.
    Netlink {
        /// Port id.
        pid: u32,
        /// Multicast group mask.
        groups: u32,
    },
    /// `AF_PACKET` (`sockaddr_ll`).
    Packet {
        /// Protocol in host order (e.g. 0x0003 = ETH_P_ALL).
        protocol: u16,
        /// Interface index.
        ifindex: i32,
        /// ARP hardware type.
        hatype: u16,
        /// Packet type.
        pkttype: u8,
        /// Hardware address (first `halen` bytes, at most 8).
        addr: Vec<u8>,
    },
    /// Any other family: raw bytes after the family field.
    Other {
        /// Address family.
        family: u16,
        /// Remaining bytes (bounded).
        data: Vec<u8>,
    },
}

/// One decoded syscall argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgValue {
    /// Signed integer (counts, pids, fds).
    Int(i64),
    /// Unsigned integer (sizes, ids).
    UInt(u64),
    /// Pointer or opaque word, shown in hex.
    Hex(u64),
    /// Flags / enumerated constant, rendered symbolically on display.
    Sym(Sym),
    /// NUL-terminated string or path read from the tracee.
    Str(Bytes),
    /// Pointer array of strings (argv, envp).
    StrList(StrList),
    /// Socket address.
    SockAddr(SockAddr),
    /// A structure, as named fields (clone3 args, open_how).
    Struct(Vec<(&'static str, ArgValue)>),
    /// A NULL pointer.
    Null,
    /// A pointer whose memory could not be read (address, errno).
    Fault(u64, i32),
}

fn write_escaped(f: &mut fmt::Formatter<'_>, b: &Bytes) -> fmt::Result {
    f.write_str("\"")?;
    for &c in &b.data {
        match c {
            b'"' => f.write_str("\\\"")?,
            b'\\' => f.write_str("\\\\")?,
            b'\n' => f.write_str("\\n")?,
            b'\t' => f.write_str("\\t")?,
            0x20..=0x7e => write!(f, "{}", c as char)?,
            _ => write!(f, "\\x{c:02x}")?,
        }
    }
    f.write_str("\"")?;
    if b.truncated {
        f.write_str("...")?;
    }
    Ok(())
}

impl fmt::Display for SockAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SockAddr::Inet { addr, port } => {
                write!(f, "{}:{port}", std::net::Ipv4Addr::from(*addr))
            }
            SockAddr::Inet6 { addr, port, .. } => {
                write!(f, "[{}]:{port}", std::net::Ipv6Addr::from(*addr))
            }
            SockAddr::Unix { path, abstract_ns } => {
                let p = Bytes {
                    data: path.clone(),
                    truncated: false,
                };
                if *abstract_ns {
                    f.write_str("unix:@")?;
                } else {
                    f.write_str("unix:")?;
                }
                write_escaped(f, &p)
            }
            SockAddr::Netlink { pid, groups } => {
                write!(f, "netlink:pid={pid},groups={groups:#x}")
            }
            SockAddr::Packet {
                protocol, ifindex, ..
            } => write!(f, "packet:proto={protocol:#06x},ifindex={ifindex}"),
            SockAddr::Other { family, data } => write!(f, "family={family}:{data:02x?}"),
        }
    }
}

impl fmt::Display for ArgValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgValue::Int(v) => write!(f, "{v}"),
            ArgValue::UInt(v) => write!(f, "{v}"),
            ArgValue::Hex(v) => write!(f, "{v:#x}"),
            ArgValue::Sym(s) => write!(f, "{s}"),
            ArgValue::Str(b) => write_escaped(f, b),
            ArgValue::StrList(l) => {
                f.write_str("[")?;
                for (i, s) in l.items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_escaped(f, s)?;
                }
                if l.truncated {
                    f.write_str(", ...")?;
                }
                f.write_str("]")
            }
            ArgValue::SockAddr(a) => write!(f, "{a}"),
            ArgValue::Struct(fields) => {
                f.write_str("{")?;
                for (i, (n, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{n}={v}")?;
                }
                f.write_str("}")
            }
            ArgValue::Null => f.write_str("NULL"),
            ArgValue::Fault(a, e) => write!(
                f,
                "{a:#x} <{}>",
                crate::arch::errno_name(*e).unwrap_or("unreadable")
            ),
        }
    }
}
