//! The serialisable result of an analysis: [`NetworkReport`] and its parts.
//! docs/network.md documents the JSON form field by field.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A short name from a fixed vocabulary (`tcp`, `A`, `NOERROR`, ...): borrowed
/// from static text when known, so records cost no allocation for it.
pub type Label = Cow<'static, str>;

/// Everything ferret learned from one capture. Every sandbox report embeds it as
/// its `network` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetworkReport {
    /// Counts over the whole capture.
    pub summary: Summary,
    /// Conversations by 5-tuple, oriented from the side that opened them.
    pub flows: Vec<Flow>,
    /// Every address seen, with volumes, ports and enrichment.
    pub endpoints: Vec<Endpoint>,
    /// Flows, packets and bytes per (transport, server port).
    pub ports: Vec<PortStat>,
    /// DNS messages (queries and responses) over UDP and TCP.
    pub dns: Vec<DnsMessage>,
    /// HTTP/1.x requests, each with its response when one was seen.
    pub http: Vec<HttpTransaction>,
    /// IRC messages in both directions.
    pub irc: Vec<IrcMessage>,
    /// Telnet sessions: option negotiation, data and typed credentials.
    pub telnet: Vec<TelnetSession>,
    /// TLS ClientHello messages (server name, ALPN).
    pub tls: Vec<TlsClientHello>,
    /// Suspicious behaviour found in the traffic.
    pub anomalies: Vec<Anomaly>,
    /// Limits that were reached, with how much was left out because of them.
    pub limits_reached: Vec<LimitReached>,
    /// Why reading stopped early (truncated or corrupt capture), if it did.
    pub error: Option<InputError>,
}

/// Counts over the whole capture.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    /// `pcap` or `pcapng`.
    pub format: String,
    /// Packets read.
    pub packets: u64,
    /// Captured bytes (packet data, without file headers).
    pub captured_bytes: u64,
    /// Bytes on the wire according to the capture.
    pub wire_bytes: u64,
    /// Time of the first packet, seconds since the Unix epoch.
    pub first_ts: Option<f64>,
    /// Time of the last packet.
    pub last_ts: Option<f64>,
    /// IPv4 packets.
    pub ipv4_packets: u64,
    /// IPv6 packets.
    pub ipv6_packets: u64,
    /// Packets that are not IP (ARP, LLDP, ...).
    pub non_ip_packets: u64,
    /// Packets with a link type that is not decoded.
    pub unknown_link_packets: u64,
    /// Link types seen, by LINKTYPE number, with their packet counts.
    pub link_types: BTreeMap<u32, u64>,
    /// IP fragments seen (first and later ones).
    pub ip_fragments: u64,
    /// Datagrams reassembled from fragments (each then counts as one packet of
    /// its flow per fragment, and is parsed whole).
    pub ip_reassembled: u64,
    /// Packets whose headers are truncated or inconsistent, by reason.
    pub malformed: BTreeMap<String, u64>,
    /// DNS messages that could not be parsed completely.
    pub malformed_dns: u64,
    /// Flows seen (including those beyond the flow limit, which are not listed).
    pub flows: u64,
    /// TCP segments that arrived out of order and were buffered until the gap closed.
    pub tcp_out_of_order: u64,
    /// Bytes of TCP data that were never seen (gaps skipped by the reassembler).
    pub tcp_gap_bytes: u64,
}

/// One conversation, oriented from its initiator (`src`) to its responder (`dst`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flow {
    /// Index of the flow; L7 records refer to it.
    pub id: u32,
    /// `tcp`, `udp`, `icmp`, `icmpv6` or the IP protocol number.
    pub proto: Label,
    /// Initiator address.
    pub src: IpAddr,
    /// Initiator port.
    pub sport: u16,
    /// Responder address.
    pub dst: IpAddr,
    /// Responder port.
    pub dport: u16,
    /// Packets from initiator to responder.
    pub packets_out: u64,
    /// IP bytes from initiator to responder.
    pub bytes_out: u64,
    /// Packets from responder to initiator.
    pub packets_in: u64,
    /// IP bytes from responder to initiator.
    pub bytes_in: u64,
    /// Time of the first packet.
    pub first_ts: f64,
    /// Time of the last packet.
    pub last_ts: f64,
    /// TCP segments with SYN set (both directions).
    pub syn: u32,
    /// TCP segments with FIN set.
    pub fin: u32,
    /// TCP segments with RST set.
    pub rst: u32,
    /// TCP: the three-way handshake was seen (SYN, SYN-ACK).
    pub handshake: bool,
    /// Application protocol recognised in the flow (`http`, `dns`, `irc`, `telnet`, `tls`).
    pub app: Option<Label>,
}

/// One IP address and what it did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    /// The address.
    pub ip: IpAddr,
    /// Packets it sent.
    pub packets_sent: u64,
    /// Packets it received.
    pub packets_received: u64,
    /// IP bytes it sent.
    pub bytes_sent: u64,
    /// IP bytes it received.
    pub bytes_received: u64,
    /// Flows it opened.
    pub flows_initiated: u64,
    /// Flows others opened to it.
    pub flows_accepted: u64,
    /// Ports it was contacted on (as responder), ascending, at most 100.
    pub ports: Vec<u16>,
    /// How many distinct ports it was contacted on.
    pub ports_total: usize,
    /// Names it goes by (at most 20): DNS answers resolving to it, HTTP Host
    /// headers and TLS server names sent to it.
    pub names: Vec<String>,
    /// GeoIP location and AS, when databases were given and know the address
    /// (boxed: most endpoints of a large capture have none, or share the cost).
    pub geo: Option<Box<Geo>>,
    /// Matches a blacklist entry (address, network or a name resolving to it).
    pub blacklisted: bool,
}

/// Traffic to one server port of one transport.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortStat {
    /// `tcp` or `udp`.
    pub proto: Label,
    /// Responder port.
    pub port: u16,
    /// Flows to it.
    pub flows: u64,
    /// Packets in both directions.
    pub packets: u64,
    /// IP bytes in both directions.
    pub bytes: u64,
}

/// One DNS message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DnsMessage {
    /// Capture time.
    pub ts: f64,
    /// Flow it belongs to.
    pub flow: u32,
    /// Sender.
    pub src: IpAddr,
    /// Sender port.
    pub sport: u16,
    /// Receiver.
    pub dst: IpAddr,
    /// Receiver port.
    pub dport: u16,
    /// `udp` or `tcp`.
    pub transport: Label,
    /// Transaction id.
    pub id: u16,
    /// It is a response (QR bit).
    pub response: bool,
    /// Opcode (0 = standard query).
    pub opcode: u8,
    /// Response code name (`NOERROR`, `NXDOMAIN`, ...).
    pub rcode: Label,
    /// The 16 flag bits of the header.
    pub flags: u16,
    /// Questions.
    pub questions: Vec<DnsQuestion>,
    /// Answer records.
    pub answers: Vec<DnsRecord>,
    /// Authority records.
    pub authorities: Vec<DnsRecord>,
    /// Additional records (OPT included).
    pub additionals: Vec<DnsRecord>,
    /// Why parsing stopped early, if it did; the records before that point are kept.
    pub malformed: Option<String>,
}

/// A DNS question.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DnsQuestion {
    /// Queried name, without the trailing dot.
    pub name: String,
    /// Type name (`A`, `AAAA`, ... or `TYPE<n>`).
    pub rtype: Label,
    /// Class (1 = IN).
    pub class: u16,
}

/// A DNS resource record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DnsRecord {
    /// Owner name.
    pub name: String,
    /// Type name.
    pub rtype: Label,
    /// Class.
    pub class: u16,
    /// Time to live in seconds.
    pub ttl: u32,
    /// Data in presentation form (address, name, text, ...; hex for unknown types).
    pub data: String,
}

/// One HTTP header.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpHeader {
    /// Name as sent.
    pub name: String,
    /// Value (cut at 1024 bytes).
    pub value: String,
}

/// An HTTP/1.x request and its response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpTransaction {
    /// Time of the request.
    pub ts: f64,
    /// Flow it belongs to.
    pub flow: u32,
    /// Client.
    pub src: IpAddr,
    /// Client port.
    pub sport: u16,
    /// Server.
    pub dst: IpAddr,
    /// Server port.
    pub dport: u16,
    /// Method.
    pub method: String,
    /// Request target as sent.
    pub uri: String,
    /// Protocol version (`HTTP/1.1`).
    pub version: String,
    /// Host header without its port (IPv6 literals keep their brackets).
    pub host: Option<String>,
    /// User-Agent header.
    pub user_agent: Option<String>,
    /// Request headers in order (at most 64).
    pub headers: Vec<HttpHeader>,
    /// Request body bytes.
    pub request_body_len: u64,
    /// Response status code, if a response was seen.
    pub status: Option<u16>,
    /// Response reason phrase.
    pub reason: Option<String>,
    /// Response Content-Type.
    pub content_type: Option<String>,
    /// Response body bytes seen.
    pub response_body_len: u64,
}

/// One IRC message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IrcMessage {
    /// Capture time.
    pub ts: f64,
    /// Flow it belongs to.
    pub flow: u32,
    /// Sender.
    pub src: IpAddr,
    /// Sender port.
    pub sport: u16,
    /// Receiver.
    pub dst: IpAddr,
    /// Receiver port.
    pub dport: u16,
    /// Sent by the client (the flow's initiator).
    pub from_client: bool,
    /// Prefix (`nick!user@host` or server name) without the colon.
    pub prefix: Option<String>,
    /// Command or numeric reply, upper-cased.
    pub command: String,
    /// Parameters, the trailing one without its colon.
    pub params: Vec<String>,
}

/// One telnet option negotiation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TelnetNegotiation {
    /// Capture time.
    pub ts: f64,
    /// Sent by the client.
    pub from_client: bool,
    /// `WILL`, `WONT`, `DO`, `DONT` or `SB` (subnegotiation).
    pub command: Label,
    /// Option code.
    pub option: u8,
    /// Option name (`ECHO`, `TERMINAL-TYPE`, ...).
    pub option_name: Label,
}

/// Data carried by one telnet segment (commands removed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TelnetData {
    /// Capture time.
    pub ts: f64,
    /// Sent by the client.
    pub from_client: bool,
    /// The bytes, as text (invalid UTF-8 replaced).
    pub text: String,
}

/// A login attempt typed by a telnet client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TelnetCredential {
    /// Time the password (or user name) was typed.
    pub ts: f64,
    /// What was typed after a login prompt.
    pub username: Option<String>,
    /// What was typed after a password prompt.
    pub password: Option<String>,
}

/// A telnet session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TelnetSession {
    /// Flow it belongs to.
    pub flow: u32,
    /// Client.
    pub client: IpAddr,
    /// Client port.
    pub client_port: u16,
    /// Server.
    pub server: IpAddr,
    /// Server port.
    pub server_port: u16,
    /// Option negotiations in order (at most 1000).
    pub negotiations: Vec<TelnetNegotiation>,
    /// Data segments in order (at most 1000).
    pub data: Vec<TelnetData>,
    /// Credentials typed after login/password prompts.
    pub credentials: Vec<TelnetCredential>,
}

/// A TLS ClientHello.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TlsClientHello {
    /// Capture time.
    pub ts: f64,
    /// Flow it belongs to.
    pub flow: u32,
    /// Client.
    pub src: IpAddr,
    /// Client port.
    pub sport: u16,
    /// Server.
    pub dst: IpAddr,
    /// Server port.
    pub dport: u16,
    /// Highest version offered (`TLS1.2`, `TLS1.3` from supported_versions).
    pub version: String,
    /// Server Name Indication.
    pub sni: Option<String>,
    /// Offered ALPN protocols.
    pub alpn: Vec<String>,
}

/// Something suspicious.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Anomaly {
    /// Stable identifier: `ip_scan`, `port_scan`, `syn_without_handshake`,
    /// `blacklisted_endpoint`, `malformed_packets`, `malformed_dns`,
    /// `many_domains`, `exploit_web_path`, `telnet_bruteforce`, `irc_c2`.
    pub kind: Label,
    /// Address responsible, when one is.
    pub source: Option<IpAddr>,
    /// What it was aimed at (address, port, path, name), when one thing.
    pub target: Option<String>,
    /// The number that crossed the threshold.
    pub count: u64,
    /// Human-readable explanation.
    pub description: String,
}

/// A limit that cut the analysis short.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LimitReached {
    /// What was limited (`flows`, `dns`, `http`, ...).
    pub what: String,
    /// The limit.
    pub limit: u64,
    /// Items left out.
    pub dropped: u64,
}

/// Where and why reading the capture stopped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputError {
    /// The message.
    pub message: String,
    /// Byte offset in the file.
    pub offset: u64,
    /// Number of the packet that could not be read.
    pub packet: Option<u64>,
}

/// What GeoIP databases know about an address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Geo {
    /// ISO country code.
    pub country: Option<String>,
    /// Country name in English.
    pub country_name: Option<String>,
    /// City name in English.
    pub city: Option<String>,
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Organisation owning the autonomous system.
    pub as_org: Option<String>,
}
