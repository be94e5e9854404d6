//! [`FakeNetLog`]: the record of every interaction with the fake internet.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Durations as seconds (a float) in the serialised log.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}

/// Transport a DNS query came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsTransport {
    /// UDP port 53.
    Udp,
    /// TCP port 53 (length-prefixed messages).
    Tcp,
}

/// One DNS query and what the fake resolver answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsQuery {
    /// Time since the fake net started.
    #[serde(with = "secs")]
    pub at: Duration,
    /// UDP or TCP.
    pub transport: DnsTransport,
    /// The sample's address and port.
    pub client: SocketAddr,
    /// The resolver address the sample asked (any address works).
    pub server: SocketAddr,
    /// DNS message id.
    pub id: u16,
    /// Queried name, lower-cased, without the trailing dot (empty for the root).
    pub name: String,
    /// Query type (1 = A, 28 = AAAA, ...).
    pub qtype: u16,
    /// Address given in the answer, if any.
    pub answer: Option<IpAddr>,
    /// Response code sent (0 NOERROR, 1 FORMERR, 3 NXDOMAIN, 4 NOTIMP).
    pub rcode: u8,
}

/// Protocol a TCP session was handled as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TcpProtocol {
    /// HTTP/1.x.
    Http,
    /// IRC.
    Irc,
    /// Telnet login emulation.
    Telnet,
    /// DNS over TCP.
    Dns,
    /// Banner and echo.
    Generic,
    /// Closed before any byte was exchanged, refused at the connection cap, or
    /// still waiting to be accepted at teardown.
    Empty,
}

/// One TCP connection to the fake internet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpSession {
    /// Session number, referenced by the protocol records.
    pub id: u64,
    /// Time since the fake net started, at accept.
    #[serde(with = "secs")]
    pub at: Duration,
    /// How long the session lasted.
    #[serde(with = "secs")]
    pub duration: Duration,
    /// The sample's address and port.
    pub client: SocketAddr,
    /// The address and port the sample connected to.
    pub original_dst: SocketAddr,
    /// How the session was handled.
    pub protocol: TcpProtocol,
    /// Bytes the sample sent.
    pub bytes_from_client: u64,
    /// Bytes the fake internet sent.
    pub bytes_to_client: u64,
    /// The session was closed at once because the connection cap was reached.
    pub refused: bool,
}

/// One HTTP request and the response given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// The TCP session.
    pub session: u64,
    /// Time since the fake net started.
    #[serde(with = "secs")]
    pub at: Duration,
    /// Where the request went.
    pub original_dst: SocketAddr,
    /// Method (`GET`, `POST`, ...).
    pub method: String,
    /// Request target as sent.
    pub uri: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    /// Host header.
    pub host: Option<String>,
    /// User-Agent header.
    pub user_agent: Option<String>,
    /// All headers in order (name, value).
    pub headers: Vec<(String, String)>,
    /// Body bytes received.
    pub body_bytes: u64,
    /// Status sent.
    pub status: u16,
    /// Bytes of the response body.
    pub response_bytes: u64,
    /// The body was a configured file.
    pub served_file: bool,
}

/// One IRC line the sample sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IrcLine {
    /// The TCP session.
    pub session: u64,
    /// Time since the fake net started.
    #[serde(with = "secs")]
    pub at: Duration,
    /// Where the session went.
    pub original_dst: SocketAddr,
    /// Command, upper-cased (`NICK`, `USER`, `JOIN`, `PRIVMSG`, ...).
    pub command: String,
    /// Parameters, the trailing one without its colon.
    pub params: Vec<String>,
}

/// A telnet session in which the client sent something (a bare connect is only a
/// [`TcpSession`]): the login and what was typed after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelnetLogin {
    /// The TCP session.
    pub session: u64,
    /// Time since the fake net started.
    #[serde(with = "secs")]
    pub at: Duration,
    /// Where the session went.
    pub original_dst: SocketAddr,
    /// Typed at `login:` (`None` if the session ended before).
    pub username: Option<String>,
    /// Typed at `Password:`.
    pub password: Option<String>,
    /// Shell command lines typed after logging in.
    pub commands: Vec<String>,
    /// Telnet option negotiations the client sent (command, option).
    pub negotiations: Vec<(u8, u8)>,
}

/// A UDP datagram the sample sent (seen by the capture).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdpDatagram {
    /// Time since the fake net started.
    #[serde(with = "secs")]
    pub at: Duration,
    /// Sender.
    pub src: SocketAddr,
    /// Destination.
    pub dst: SocketAddr,
    /// Payload length.
    pub bytes: u64,
}

/// Everything the fake internet saw and answered. Each list holds at most
/// [`crate::FakeNetConfig::max_records`] entries; the rest are counted in
/// [`dropped_records`](Self::dropped_records).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FakeNetLog {
    /// DNS queries.
    pub dns: Vec<DnsQuery>,
    /// TCP sessions.
    pub tcp: Vec<TcpSession>,
    /// HTTP requests.
    pub http: Vec<HttpRequest>,
    /// IRC lines from the sample.
    pub irc: Vec<IrcLine>,
    /// Telnet logins.
    pub telnet: Vec<TelnetLogin>,
    /// UDP datagrams from the sample (DNS included).
    pub udp: Vec<UdpDatagram>,
    /// Records not kept because a list was full.
    pub dropped_records: u64,
    /// Connections closed at once because the connection cap was reached.
    pub refused_connections: u64,
}

/// Appends within the cap or counts the drop.
pub(crate) fn push<T>(list: &mut Vec<T>, item: T, cap: usize, dropped: &mut u64) {
    if list.len() < cap {
        list.push(item);
    } else {
        *dropped += 1;
    }
}
