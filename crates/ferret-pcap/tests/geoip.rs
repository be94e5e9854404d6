//! Endpoint enrichment from MaxMind's GeoLite2 test databases.

use std::net::IpAddr;
use std::path::Path;

use ferret_pcap::write::{PcapWriter, Transport, build_frame};
use ferret_pcap::{GeoIp, Options, analyze_reader};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn endpoints_enriched_from_test_databases() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/geoip"
    ));
    let geo = GeoIp::open_dir(dir).unwrap_or_else(|e| panic!("{e}"));
    // Addresses present in MaxMind's test databases, and one private address.
    let (london, linkoping, telstra, private) = (
        ip("81.2.69.142"),
        ip("89.160.20.112"),
        ip("1.128.0.1"),
        ip("10.1.2.3"),
    );
    let mut w = PcapWriter::new(Vec::new(), 1, false).unwrap_or_else(|e| panic!("{e}"));
    for (n, dst) in [london, linkoping, telstra].into_iter().enumerate() {
        let mut f = Vec::new();
        build_frame(
            &mut f,
            private,
            40000 + n as u16,
            dst,
            443,
            Transport::Tcp {
                seq: 1,
                ack: 0,
                flags: 2,
            },
            b"",
        );
        w.packet(1_000_000_000, &f)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let pcap = w.into_inner().unwrap_or_else(|e| panic!("{e}"));
    let opts = Options {
        geoip: Some(geo),
        ..Default::default()
    };
    let r = analyze_reader(&pcap[..], &opts).unwrap_or_else(|e| panic!("{e}"));
    let ep = |a: IpAddr| {
        let e = r
            .endpoints
            .iter()
            .find(|e| e.ip == a)
            .unwrap_or_else(|| panic!("no endpoint {a}"));
        e.geo.as_deref().cloned().unwrap_or_default()
    };
    let l = ep(london);
    assert_eq!(
        (l.country.as_deref(), l.city.as_deref()),
        (Some("GB"), Some("London"))
    );
    assert_eq!(l.country_name.as_deref(), Some("United Kingdom"));
    let s = ep(linkoping);
    assert_eq!(
        (s.country.as_deref(), s.city.as_deref()),
        (Some("SE"), Some("Linköping"))
    );
    assert_eq!(
        (s.asn, s.as_org.as_deref()),
        (Some(29518), Some("Bredband2 AB"))
    );
    let t = ep(telstra);
    assert_eq!(
        (t.asn, t.as_org.as_deref()),
        (Some(1221), Some("Telstra Pty Ltd"))
    );
    let p = ep(private);
    assert_eq!((p.country.as_deref(), p.asn), (None, None));
    assert!(
        r.endpoints
            .iter()
            .any(|e| e.ip == private && e.geo.is_none())
    );
    for e in &r.endpoints {
        println!("{} {:?}", e.ip, e.geo);
    }
}

#[test]
fn geoip_dir_without_databases_is_an_error() {
    let err = GeoIp::open_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("no MaxMind database")));
}
