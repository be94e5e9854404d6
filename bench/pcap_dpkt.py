#!/usr/bin/env python3
"""Reference for bench/pcap.sh: the flows, DNS and HTTP work of `ferret pcap`
done with dpkt, the way a Python sandbox (LiSa) does it.

Flows: 5-tuple (oriented by the first packet), packets and IP bytes each way,
first/last time, SYN/FIN/RST counts. DNS: every message over UDP port 53 with
its questions and answers. HTTP: requests (method, host, URI, user agent) found
at the start of TCP payloads (dpkt has no TCP reassembly). Prints a JSON summary.
"""
import json
import socket
import sys

import dpkt

METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"CONNECT ", b"TRACE ", b"PATCH ")


def main(path):
    flows = {}
    dns_msgs = []
    http_reqs = []
    packets = 0
    with open(path, "rb") as f:
        for ts, buf in dpkt.pcap.Reader(f):
            packets += 1
            try:
                eth = dpkt.ethernet.Ethernet(buf)
            except dpkt.UnpackError:
                continue
            ip = eth.data
            if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
                continue
            l4 = ip.data
            if isinstance(l4, (dpkt.tcp.TCP, dpkt.udp.UDP)):
                sport, dport = l4.sport, l4.dport
            else:
                sport = dport = 0
            fam = socket.AF_INET if isinstance(ip, dpkt.ip.IP) else socket.AF_INET6
            src, dst = socket.inet_ntop(fam, ip.src), socket.inet_ntop(fam, ip.dst)
            proto = ip.p if fam == socket.AF_INET else ip.nxt
            key = (src, sport, dst, dport, proto)
            rkey = (dst, dport, src, sport, proto)
            iplen = len(ip)
            if key in flows:
                fl, d = flows[key], 0
            elif rkey in flows:
                fl, d = flows[rkey], 1
            else:
                fl = flows[key] = {"pkts": [0, 0], "bytes": [0, 0], "first": ts, "last": ts, "syn": 0, "fin": 0, "rst": 0}
                d = 0
            fl["pkts"][d] += 1
            fl["bytes"][d] += iplen
            fl["last"] = ts
            if isinstance(l4, dpkt.tcp.TCP):
                if l4.flags & dpkt.tcp.TH_SYN:
                    fl["syn"] += 1
                if l4.flags & dpkt.tcp.TH_FIN:
                    fl["fin"] += 1
                if l4.flags & dpkt.tcp.TH_RST:
                    fl["rst"] += 1
                if l4.data.startswith(METHODS):
                    try:
                        req = dpkt.http.Request(l4.data)
                        http_reqs.append((req.method, req.headers.get("host"), req.uri, req.headers.get("user-agent")))
                    except (dpkt.UnpackError, dpkt.NeedData):
                        pass
            elif isinstance(l4, dpkt.udp.UDP) and 53 in (sport, dport):
                try:
                    m = dpkt.dns.DNS(l4.data)
                    dns_msgs.append((m.id, [q.name for q in m.qd], [(a.name, a.type, a.rdata) for a in m.an]))
                except (dpkt.UnpackError, dpkt.NeedData):
                    pass
    print(json.dumps({"packets": packets, "flows": len(flows), "dns": len(dns_msgs), "http": len(http_reqs)}))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: pcap_dpkt.py FILE")
    main(sys.argv[1])
