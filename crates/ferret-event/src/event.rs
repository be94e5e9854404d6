//! The [`Event`] type and its typed argument values.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::errno::{errno_code, errno_name, errno_of_ret};

/// Version of the JSON-lines event format written by [`Event::to_json_line`].
pub const FORMAT_VERSION: u32 = 1;

/// Where an event comes from. Rules select events by source (`source: syscall`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A system call (enter and exit merged) or a process lifecycle event from a tracer.
    #[default]
    Syscall,
    /// A Linux audit record.
    Audit,
    /// A file-watch (inotify/fanotify) notification.
    Filewatch,
    /// A network summary (flow, DNS query, HTTP request...).
    Network,
}

impl Source {
    /// The name used in rule files and JSON (`syscall`, `audit`, `filewatch`, `network`).
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Syscall => "syscall",
            Source::Audit => "audit",
            Source::Filewatch => "filewatch",
            Source::Network => "network",
        }
    }
}

/// Direction of a syscall event. Tracers merge enter and exit, so nearly every event is
/// an exit (`<`); an enter (`>`) is only written for a call that never returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dir {
    /// Syscall entry (`>`).
    Enter,
    /// Syscall exit (`<`), the default.
    #[default]
    Exit,
}

impl Dir {
    /// `>` or `<`, as sysdig prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Dir::Enter => ">",
            Dir::Exit => "<",
        }
    }
    fn is_exit(&self) -> bool {
        *self == Dir::Exit
    }
}

impl Serialize for Dir {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Dir {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(d)?;
        match &*s {
            ">" | "enter" => Ok(Dir::Enter),
            "<" | "exit" => Ok(Dir::Exit),
            other => Err(de::Error::custom(format!(
                "bad event direction {other:?}, expected \">\" or \"<\""
            ))),
        }
    }
}

/// Address family of a socket address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// AF_INET.
    Inet,
    /// AF_INET6.
    Inet6,
    /// AF_UNIX.
    Unix,
    /// AF_NETLINK.
    Netlink,
    /// AF_PACKET.
    Packet,
    /// Any other family.
    Other,
}

/// A decoded socket address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SockAddr {
    /// Address family.
    pub family: Family,
    /// IP address (inet, inet6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// Port (inet, inet6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Socket path (unix; abstract names start with `@`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl SockAddr {
    /// An AF_INET/AF_INET6 address.
    pub fn ip(ip: IpAddr, port: u16) -> Self {
        let family = if ip.is_ipv4() {
            Family::Inet
        } else {
            Family::Inet6
        };
        SockAddr {
            family,
            ip: Some(ip),
            port: Some(port),
            path: None,
        }
    }
    /// An AF_UNIX address.
    pub fn unix(path: impl Into<String>) -> Self {
        SockAddr {
            family: Family::Unix,
            ip: None,
            port: None,
            path: Some(path.into()),
        }
    }
}

impl fmt::Display for SockAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.ip, self.port, &self.path) {
            (Some(IpAddr::V6(ip)), Some(port), _) => write!(f, "[{ip}]:{port}"),
            (Some(ip), Some(port), _) => write!(f, "{ip}:{port}"),
            (Some(ip), None, _) => write!(f, "{ip}"),
            (_, _, Some(path)) => f.write_str(path),
            _ => f.write_str("<NA>"),
        }
    }
}

/// A typed syscall argument or record field.
///
/// JSON: a one-key object naming the type, e.g. `{"fd":3}`, `{"path":"/etc/passwd"}`,
/// `{"flags":{"value":577,"text":"O_WRONLY|O_CREAT|O_TRUNC"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Value {
    /// A signed integer.
    Int(i64),
    /// An unsigned integer (sizes, addresses, masks without symbolic text).
    Uint(u64),
    /// A text string.
    Str(String),
    /// Raw bytes (buffers); hex in JSON.
    Bytes(#[serde(with = "hex_bytes")] Vec<u8>),
    /// A file descriptor number.
    Fd(i64),
    /// A file-system path as the process passed it.
    Path(String),
    /// A socket address.
    Sockaddr(SockAddr),
    /// A flag set or enumeration with its numeric value and symbolic text (`O_RDONLY|O_CLOEXEC`,
    /// `PTRACE_TRACEME`, `S_IXUSR|S_IRUSR`).
    Flags {
        /// Numeric value as passed to the kernel.
        value: u64,
        /// Symbolic text, `|`-separated.
        text: String,
    },
    /// An errno value (positive), written as its name (`"ENOENT"`).
    Errno(#[serde(with = "errno_serde")] i64),
    /// A list of strings (argv, envp).
    Strs(Vec<String>),
}

impl Value {
    /// Integer view: ints, uints (if they fit), fds, flag values and errnos.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) | Value::Fd(v) | Value::Errno(v) => Some(*v),
            Value::Uint(v) => i64::try_from(*v).ok(),
            Value::Flags { value, .. } => i64::try_from(*value).ok(),
            _ => None,
        }
    }
    /// Text view of string-like values (str, path, flag text, errno name).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Path(s) => Some(s),
            Value::Flags { text, .. } => Some(text),
            Value::Errno(e) => errno_name(*e),
            _ => None,
        }
    }
    /// Writes the value as sysdig renders it in `evt.args` and `evt.arg.NAME`.
    pub fn render(&self, out: &mut String) {
        use fmt::Write;
        match self {
            Value::Int(v) | Value::Fd(v) => {
                let _ = write!(out, "{v}");
            }
            Value::Uint(v) => {
                let _ = write!(out, "{v}");
            }
            Value::Str(s) | Value::Path(s) => out.push_str(s),
            Value::Bytes(b) => out.push_str(&String::from_utf8_lossy(b)),
            Value::Sockaddr(a) => {
                let _ = write!(out, "{a}");
            }
            Value::Flags { text, value } => {
                if text.is_empty() {
                    let _ = write!(out, "{value}");
                } else {
                    out.push_str(text);
                }
            }
            Value::Errno(e) => match errno_name(*e) {
                Some(n) => out.push_str(n),
                None => {
                    let _ = write!(out, "{e}");
                }
            },
            Value::Strs(v) => {
                for (i, s) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(s);
                }
            }
        }
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(b.len() * 2);
        for &byte in b {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 15)]));
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        let s = s.as_bytes();
        if !s.len().is_multiple_of(2) {
            return Err(de::Error::custom("bytes: odd number of hex digits"));
        }
        let nib = |c: u8| -> Result<u8, D::Error> {
            match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                b'A'..=b'F' => Ok(c - b'A' + 10),
                _ => Err(de::Error::custom(format!(
                    "bytes: bad hex digit {:?}",
                    char::from(c)
                ))),
            }
        };
        s.chunks_exact(2)
            .map(|p| Ok((nib(p[0])? << 4) | nib(p[1])?))
            .collect()
    }
}

mod errno_serde {
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(e: &i64, s: S) -> Result<S::Ok, S::Error> {
        match super::errno_name(*e) {
            Some(n) => s.serialize_str(n),
            None => s.serialize_i64(*e),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr<'a> {
        Code(i64),
        Name(std::borrow::Cow<'a, str>),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Code(c) => Ok(c),
            Repr::Name(n) => super::errno_code(&n)
                .ok_or_else(|| de::Error::custom(format!("unknown errno name {n:?}"))),
        }
    }
}

/// One named argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// Argument name, as sysdig names it (`fd`, `name`, `flags`, `addr`...).
    pub name: Cow<'static, str>,
    /// Decoded value.
    pub value: Value,
}

/// Ordered argument list; serialized as a JSON object whose key order is kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Args(pub Vec<Arg>);

impl Args {
    /// The value of the first argument called `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|a| a.name == name).map(|a| &a.value)
    }
    /// The value of the `idx`-th argument (0-based).
    pub fn nth(&self, idx: usize) -> Option<&Arg> {
        self.0.get(idx)
    }
    /// Appends an argument.
    pub fn push(&mut self, name: impl Into<Cow<'static, str>>, value: Value) {
        self.0.push(Arg {
            name: name.into(),
            value,
        });
    }
    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for a in &self.0 {
            m.serialize_entry(&*a.name, &a.value)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Args;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of name -> typed value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Args, A::Error> {
                let mut v = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some((k, val)) = map.next_entry::<String, Value>()? {
                    v.push(Arg {
                        name: Cow::Owned(k),
                        value: val,
                    });
                }
                Ok(Args(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// A snapshot of process attributes a producer may attach (first sighting of a process,
/// exec). Every field is optional; the state machine keeps what it already knew for the
/// missing ones.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcInfo {
    /// Parent pid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ppid: Option<i64>,
    /// Executable as invoked (argv\[0\] or the exec path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    /// Full path of the executable file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exepath: Option<String>,
    /// Process name (comm).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Arguments without argv\[0\].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// Environment (`NAME=value`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Working directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Real user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Real group id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    /// Audit login uid (`u32::MAX` when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loginuid: Option<u32>,
    /// Session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<i64>,
    /// Process group id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pgid: Option<i64>,
    /// Controlling terminal device number (0: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty: Option<u32>,
    /// Process start time, ns since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_ts: Option<u64>,
}

/// One event: a syscall (enter and exit merged), a process lifecycle step, or a record
/// from another source.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Event {
    /// Format version of this record; [`FORMAT_VERSION`] when written by ferret.
    #[serde(default = "default_version")]
    pub v: u32,
    /// Sequence number (`evt.num`), increasing per trace.
    #[serde(default)]
    pub num: u64,
    /// Timestamp, ns since the Unix epoch.
    #[serde(default)]
    pub ts: u64,
    /// Producer of the event.
    #[serde(default)]
    pub source: Source,
    /// Event type: the syscall name (`openat`, `execve`), `procexit`, or a source-specific
    /// type (`audit` record type, `create`/`modify` for file watches, `flow` for network).
    #[serde(rename = "type")]
    pub ty: Cow<'static, str>,
    /// Direction; exit unless the call never returned.
    #[serde(default, skip_serializing_if = "Dir::is_exit")]
    pub dir: Dir,
    /// Process id (thread-group id).
    #[serde(default)]
    pub pid: i64,
    /// Thread id; equals `pid` for the main thread.
    #[serde(default)]
    pub tid: i64,
    /// Raw return value (negative errno on failure, as the kernel returns it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ret: Option<i64>,
    /// Decoded arguments, in the syscall's order.
    #[serde(default, skip_serializing_if = "Args::is_empty")]
    pub args: Args,
    /// Process attributes, when the producer knows them (first sighting, exec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proc: Option<Box<ProcInfo>>,
}

fn default_version() -> u32 {
    FORMAT_VERSION
}

/// Error reading an event line.
#[derive(Debug)]
pub struct ParseError {
    /// 1-based line number when reading a stream, 0 for a single record.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "event line {}: {}", self.line, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for ParseError {}

impl Event {
    /// A syscall exit event with no arguments yet.
    pub fn syscall(
        num: u64,
        ts: u64,
        pid: i64,
        tid: i64,
        ty: impl Into<Cow<'static, str>>,
    ) -> Self {
        Event {
            v: FORMAT_VERSION,
            num,
            ts,
            source: Source::Syscall,
            ty: ty.into(),
            pid,
            tid,
            ..Event::default()
        }
    }

    /// Builder: appends an argument.
    #[must_use]
    pub fn arg(mut self, name: impl Into<Cow<'static, str>>, value: Value) -> Self {
        self.args.push(name, value);
        self
    }

    /// Builder: sets the return value.
    #[must_use]
    pub fn ret(mut self, ret: i64) -> Self {
        self.ret = Some(ret);
        self
    }

    /// The errno of a failed call (`ret` in `-4095..=-1`).
    pub fn errno(&self) -> Option<i64> {
        self.ret.and_then(errno_of_ret)
    }

    /// Whether the call failed.
    pub fn failed(&self) -> bool {
        self.errno().is_some()
    }

    /// Parses one JSON line.
    pub fn from_json(line: &str) -> Result<Event, ParseError> {
        let ev: Event = serde_json::from_str(line).map_err(|e| ParseError {
            line: 0,
            message: e.to_string(),
        })?;
        if ev.v == 0 || ev.v > FORMAT_VERSION {
            return Err(ParseError {
                line: 0,
                message: format!(
                    "unsupported event format version {} (this ferret reads 1..={FORMAT_VERSION})",
                    ev.v
                ),
            });
        }
        if ev.ty.is_empty() {
            return Err(ParseError {
                line: 0,
                message: "event has an empty \"type\"".into(),
            });
        }
        Ok(ev)
    }

    /// Serializes to one JSON line (no trailing newline). A failed call also gets an
    /// informative `"errno"` name, ignored when read back.
    pub fn to_json_line(&self) -> String {
        let mut s = match serde_json::to_string(self) {
            Ok(s) => s,
            // Serializing plain data cannot fail; keep the output a valid line anyway.
            Err(e) => return format!("{{\"error\":{:?}}}", e.to_string()),
        };
        if let Some(name) = self.errno().and_then(errno_name)
            && s.ends_with('}')
        {
            s.pop();
            s.push_str(",\"errno\":\"");
            s.push_str(name);
            s.push_str("\"}");
        }
        s
    }
}

/// Reads events from JSON lines, skipping blank lines and `#` comments.
pub fn read_json_lines<R: std::io::BufRead>(
    reader: R,
) -> impl Iterator<Item = Result<Event, ParseError>> {
    reader.lines().enumerate().filter_map(|(i, line)| {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                return Some(Err(ParseError {
                    line: i + 1,
                    message: e.to_string(),
                }));
            }
        };
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            return None;
        }
        Some(Event::from_json(t).map_err(|mut e| {
            e.line = i + 1;
            e
        }))
    })
}

/// Parses an errno name (`ENOENT`) for producers that only have the text.
pub fn errno_from_name(name: &str) -> Option<i64> {
    errno_code(name)
}
