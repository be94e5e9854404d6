//! Telnet (RFC 854/855): option negotiation, data and credentials typed after
//! login and password prompts.

use crate::records::{Ctx, text};
use crate::report::{Label, TelnetCredential, TelnetData, TelnetNegotiation, TelnetSession};

const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;
/// Negotiations and data records kept per session.
const MAX_ITEMS: usize = 1000;
/// Longest typed line kept.
const MAX_LINE: usize = 256;
/// Server text remembered to recognise prompts.
const TAIL: usize = 64;

/// Name of a telnet option.
pub fn option_name(o: u8) -> Label {
    let s = match o {
        0 => "BINARY",
        1 => "ECHO",
        3 => "SUPPRESS-GO-AHEAD",
        5 => "STATUS",
        6 => "TIMING-MARK",
        24 => "TERMINAL-TYPE",
        31 => "NAWS",
        32 => "TERMINAL-SPEED",
        33 => "REMOTE-FLOW-CONTROL",
        34 => "LINEMODE",
        35 => "X-DISPLAY-LOCATION",
        36 => "ENVIRON",
        37 => "AUTHENTICATION",
        38 => "ENCRYPT",
        39 => "NEW-ENVIRON",
        _ => return Label::Owned(format!("OPTION-{o}")),
    };
    Label::Borrowed(s)
}

/// Does `data` start with a telnet option negotiation?
pub(crate) fn looks_like_telnet(data: &[u8]) -> bool {
    matches!(data, [IAC, 250..=254, ..])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Data,
    Iac,
    Opt(u8),
    SbOpt,
    Sb,
    SbIac,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prompt {
    None,
    Login,
    Password,
}

/// Telnet state of one TCP connection.
#[derive(Debug)]
pub(crate) struct TelnetConn {
    session: Option<usize>,
    st: [St; 2],
    prompt: Prompt,
    tail: Vec<u8>,
    line: Vec<u8>,
    user: Option<String>,
    /// The session record was dropped at the cap: parse, but keep nothing.
    dropped: bool,
}

impl TelnetConn {
    /// Bytes held in buffers.
    pub(crate) fn buffered(&self) -> usize {
        self.tail.capacity() + self.line.capacity()
    }

    pub(crate) fn new() -> Self {
        TelnetConn {
            session: None,
            st: [St::Data; 2],
            prompt: Prompt::None,
            tail: Vec::new(),
            line: Vec::new(),
            user: None,
            dropped: false,
        }
    }

    /// Data lost in direction `dir`.
    pub(crate) fn gap(&mut self, dir: usize) {
        self.st[dir & 1] = St::Data;
        if dir & 1 == 0 {
            self.line.clear();
        }
    }

    fn session<'r>(&mut self, ctx: &'r mut Ctx<'_>) -> Option<&'r mut TelnetSession> {
        if self.dropped {
            return None;
        }
        if self.session.is_none() {
            if !ctx.rec.admit(crate::records::Kind::Telnet) {
                self.dropped = true;
                return None;
            }
            ctx.rec.charge(std::mem::size_of::<TelnetSession>());
            let (client, client_port) = ctx.ends[0];
            let (server, server_port) = ctx.ends[1];
            ctx.rec.telnet.push(TelnetSession {
                flow: ctx.flow,
                client,
                client_port,
                server,
                server_port,
                negotiations: Vec::new(),
                data: Vec::new(),
                credentials: Vec::new(),
            });
            self.session = Some(ctx.rec.telnet.len() - 1);
        }
        self.session.and_then(|i| ctx.rec.telnet.get_mut(i))
    }

    /// Consumes in-order data travelling in direction `dir` (0 = from the client).
    pub(crate) fn data(&mut self, dir: usize, data: &[u8], ctx: &mut Ctx<'_>) {
        let dir = dir & 1;
        let mut plain: Vec<u8> = Vec::new();
        let mut negs: Vec<(u8, u8)> = Vec::new();
        let mut st = self.st[dir];
        for &b in data {
            st = match st {
                St::Data if b == IAC => St::Iac,
                St::Data => {
                    plain.push(b);
                    St::Data
                }
                St::Iac => match b {
                    IAC => {
                        plain.push(IAC);
                        St::Data
                    }
                    251..=254 => St::Opt(b),
                    SB => St::SbOpt,
                    _ => St::Data,
                },
                St::Opt(cmd) => {
                    negs.push((cmd, b));
                    St::Data
                }
                St::SbOpt => {
                    negs.push((SB, b));
                    St::Sb
                }
                St::Sb if b == IAC => St::SbIac,
                St::Sb => St::Sb,
                St::SbIac => match b {
                    SE => St::Data,
                    _ => St::Sb,
                },
            };
        }
        self.st[dir] = st;
        let ts = ctx.ts;
        let mut added = 0usize;
        let over = ctx.rec.bytes >= ctx.rec.budget;
        if let Some(s) = self.session(ctx) {
            for (cmd, opt) in negs {
                if s.negotiations.len() < MAX_ITEMS && !over {
                    added += std::mem::size_of::<TelnetNegotiation>();
                    let command = match cmd {
                        251 => "WILL",
                        252 => "WONT",
                        253 => "DO",
                        254 => "DONT",
                        _ => "SB",
                    };
                    s.negotiations.push(TelnetNegotiation {
                        ts,
                        from_client: dir == 0,
                        command: Label::Borrowed(command),
                        option: opt,
                        option_name: option_name(opt),
                    });
                }
            }
            if !plain.is_empty() && s.data.len() < MAX_ITEMS && !over {
                let text = text(&plain, 4096);
                added += std::mem::size_of::<TelnetData>() + crate::records::est(&text);
                s.data.push(TelnetData {
                    ts,
                    from_client: dir == 0,
                    text,
                });
            }
        }
        ctx.rec.charge(added);
        if dir == 1 {
            self.server_text(&plain);
        } else {
            self.client_text(&plain, ctx);
        }
    }

    fn server_text(&mut self, plain: &[u8]) {
        if plain.is_empty() {
            return;
        }
        self.tail.extend_from_slice(plain);
        if self.tail.len() > TAIL {
            self.tail.drain(..self.tail.len() - TAIL);
        }
        let t = self.tail.trim_ascii_end().to_ascii_lowercase();
        if t.ends_with(b"login:")
            || t.ends_with(b"username:")
            || t.ends_with(b"user:")
            || t.ends_with(b"user name:")
        {
            self.prompt = Prompt::Login;
        } else if t.ends_with(b"password:") || t.ends_with(b"passwd:") {
            self.prompt = Prompt::Password;
        }
    }

    fn client_text(&mut self, plain: &[u8], ctx: &mut Ctx<'_>) {
        for &b in plain {
            match b {
                b'\r' | b'\n' => {
                    if self.line.is_empty() && self.prompt == Prompt::None {
                        continue;
                    }
                    let typed = text(&self.line, MAX_LINE);
                    self.line.clear();
                    match self.prompt {
                        Prompt::Login => {
                            self.user = Some(typed);
                            self.prompt = Prompt::None;
                        }
                        Prompt::Password => {
                            let username = self.user.take();
                            let ts = ctx.ts;
                            if let Some(s) = self.session(ctx)
                                && s.credentials.len() < MAX_ITEMS
                            {
                                s.credentials.push(TelnetCredential {
                                    ts,
                                    username,
                                    password: Some(typed),
                                });
                            }
                            self.prompt = Prompt::None;
                        }
                        Prompt::None => {}
                    }
                    self.tail.clear();
                }
                0 => {}
                8 | 127 => {
                    self.line.pop();
                }
                _ if self.line.len() < MAX_LINE => self.line.push(b),
                _ => {}
            }
        }
    }

    /// The connection ended: a user name typed without a password prompt after it
    /// is still a login attempt.
    pub(crate) fn close(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(username) = self.user.take() {
            let ts = ctx.ts;
            if let Some(s) = self.session(ctx)
                && s.credentials.len() < MAX_ITEMS
            {
                s.credentials.push(TelnetCredential {
                    ts,
                    username: Some(username),
                    password: None,
                });
            }
        }
    }
}
