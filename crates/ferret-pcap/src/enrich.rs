//! Endpoint enrichment: MaxMind GeoIP (country, city, ASN) and user blacklists
//! of addresses, networks and domains.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use maxminddb::{Reader, geoip2};

/// Error loading enrichment data.
#[derive(Debug)]
pub enum EnrichError {
    /// A file or directory could not be read.
    Io(PathBuf, std::io::Error),
    /// A MaxMind database could not be opened.
    GeoIp(PathBuf, String),
    /// The GeoIP directory holds no usable database.
    NoDatabase(PathBuf),
    /// A blacklist line is neither an address, a network nor a domain.
    Blacklist {
        /// The list file (or `<memory>`).
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for EnrichError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnrichError::Io(p, e) => write!(f, "cannot read {}: {e}", p.display()),
            EnrichError::GeoIp(p, e) => {
                write!(f, "cannot open GeoIP database {}: {e}", p.display())
            }
            EnrichError::NoDatabase(p) => write!(
                f,
                "{} holds no MaxMind database (*.mmdb of type City, Country or ASN)",
                p.display()
            ),
            EnrichError::Blacklist { file, line, reason } => {
                write!(f, "blacklist {file} line {line}: {reason}")
            }
        }
    }
}

impl std::error::Error for EnrichError {}

pub use crate::report::Geo as GeoInfo;

/// Opened MaxMind databases (City or Country, and ASN).
#[derive(Debug)]
pub struct GeoIp {
    location: Option<Reader<Vec<u8>>>,
    asn: Option<Reader<Vec<u8>>>,
}

impl GeoIp {
    /// Opens the `*.mmdb` files in `dir`: a City database is preferred over a
    /// Country one for locations; an ASN database gives AS number and owner.
    pub fn open_dir(dir: &Path) -> Result<GeoIp, EnrichError> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| EnrichError::Io(dir.to_path_buf(), e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "mmdb"))
            .collect();
        entries.sort();
        let mut city = None;
        let mut country = None;
        let mut asn = None;
        for p in entries {
            let r = Reader::open_readfile(&p)
                .map_err(|e| EnrichError::GeoIp(p.clone(), e.to_string()))?;
            let t = r.metadata().database_type.to_ascii_lowercase();
            if t.contains("asn") {
                asn.get_or_insert(r);
            } else if t.contains("city") {
                city.get_or_insert(r);
            } else if t.contains("country") {
                country.get_or_insert(r);
            }
        }
        let location = city.or(country);
        if location.is_none() && asn.is_none() {
            return Err(EnrichError::NoDatabase(dir.to_path_buf()));
        }
        Ok(GeoIp { location, asn })
    }

    /// Looks an address up; fields the databases lack stay `None`.
    pub fn lookup(&self, ip: IpAddr) -> GeoInfo {
        let mut g = GeoInfo::default();
        if let Some(r) = &self.location
            && let Ok(res) = r.lookup(ip)
            && let Ok(Some(c)) = res.decode::<geoip2::City>()
        {
            g.country = c.country.iso_code.map(str::to_string);
            g.country_name = c.country.names.english.map(str::to_string);
            g.city = c.city.names.english.map(str::to_string);
        }
        if let Some(r) = &self.asn
            && let Ok(res) = r.lookup(ip)
            && let Ok(Some(a)) = res.decode::<geoip2::Asn>()
        {
            g.asn = a.autonomous_system_number;
            g.as_org = a.autonomous_system_organization.map(str::to_string);
        }
        g
    }
}

/// Addresses, networks (CIDR) and domains to flag.
#[derive(Debug, Clone, Default)]
pub struct Blacklist {
    nets: Vec<(IpAddr, u8)>,
    domains: Vec<String>,
}

impl Blacklist {
    /// Adds the entries of one list: one per line, `#` starts a comment. An entry
    /// is an address (`203.0.113.5`), a network (`198.51.100.0/24`, `2001:db8::/32`)
    /// or a domain (`evil.example`, matching its subdomains too).
    pub fn add_list(&mut self, text: &str, file: &str) -> Result<(), EnrichError> {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |reason: String| EnrichError::Blacklist {
                file: file.to_string(),
                line: i + 1,
                reason,
            };
            if let Some((addr, bits)) = line.split_once('/') {
                let ip: IpAddr = addr
                    .parse()
                    .map_err(|_| err(format!("{addr:?} is not an IP address")))?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                let bits: u8 = bits
                    .parse()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| err(format!("prefix length {bits:?} is not 0..={max}")))?;
                self.nets.push((ip, bits));
            } else if let Ok(ip) = line.parse::<IpAddr>() {
                self.nets.push((ip, if ip.is_ipv4() { 32 } else { 128 }));
            } else if line
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'*'))
                && line.contains(|c: char| c.is_ascii_alphabetic())
            {
                let d = line
                    .trim_start_matches("*.")
                    .trim_matches('.')
                    .to_ascii_lowercase();
                self.domains.push(d);
            } else {
                return Err(err(format!(
                    "{line:?} is neither an address, a network nor a domain"
                )));
            }
        }
        Ok(())
    }

    /// Adds the entries of a list file.
    pub fn load(&mut self, path: &Path) -> Result<(), EnrichError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| EnrichError::Io(path.to_path_buf(), e))?;
        self.add_list(&text, &path.display().to_string())
    }

    /// No entries at all.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty() && self.domains.is_empty()
    }

    /// Is the address (or a network holding it) listed?
    pub fn contains_ip(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|&(net, bits)| in_net(ip, net, bits))
    }

    /// Is the domain, or a parent of it, listed?
    pub fn contains_domain(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.');
        self.domains.iter().any(|d| {
            name.len() >= d.len()
                && name[name.len() - d.len()..].eq_ignore_ascii_case(d)
                && (name.len() == d.len() || name.as_bytes()[name.len() - d.len() - 1] == b'.')
        })
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blacklist_matching() {
        let mut b = Blacklist::default();
        b.add_list("# c2\n198.51.100.0/24\n203.0.113.5\nevil.example\n", "t")
            .unwrap_or_default();
        assert!(b.contains_ip("198.51.100.77".parse().unwrap_or(IpAddr::from([0; 4]))));
        assert!(b.contains_ip("203.0.113.5".parse().unwrap_or(IpAddr::from([0; 4]))));
        assert!(!b.contains_ip("203.0.113.6".parse().unwrap_or(IpAddr::from([0; 4]))));
        assert!(b.contains_domain("a.b.evil.example"));
        assert!(!b.contains_domain("notevil.example"));
        assert!(b.add_list("what is this", "t").is_err());
        assert!(b.add_list("10.0.0.0/33", "t").is_err());
    }
}
