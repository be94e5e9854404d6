#!/usr/bin/env python3
"""A minimal fake C2 for ferret-samples' network test, run with `ip netns exec` in a
network namespace the test creates (where every address is local). Answers DNS A
queries with 192.0.2.80, serves HTTP (any path: 200 with the file given by --stage2 for
/stage2, a short text otherwise), IRC (welcome, JOIN echo) and telnet (login and
password prompts). Logs what it received, one JSON object a line, to --log.
Exits after --seconds."""
import argparse
import json
import socket
import struct
import sys
import threading
import time

lock = threading.Lock()


def log(out, **event):
    with lock:
        out.write(json.dumps(event) + "\n")
        out.flush()


def dns(out):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 53))
    while True:
        data, peer = s.recvfrom(2048)
        if len(data) < 12:
            continue
        qid, _flags, qd = struct.unpack(">HHH", data[:6])
        i, labels = 12, []
        while i < len(data) and data[i] != 0:
            n = data[i]
            labels.append(data[i + 1 : i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        qtype = struct.unpack(">H", data[i + 1 : i + 3])[0] if i + 3 <= len(data) else 0
        question = data[12 : i + 5]
        name = ".".join(labels)
        log(out, proto="dns", name=name, qtype=qtype)
        if qtype == 1:
            answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton("192.0.2.80")
            reply = struct.pack(">HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + answer
        else:
            reply = struct.pack(">HHHHHH", qid, 0x8180, 1, 0, 0, 0) + question
        s.sendto(reply, peer)


def recv_some(c, timeout=2.0):
    """Returns the bytes received, b"" at end of stream, None after `timeout` idle."""
    c.settimeout(timeout)
    try:
        return c.recv(4096)
    except socket.timeout:
        return None
    except OSError:
        return b""


def http(c, out, stage2):
    req = b""
    while b"\r\n\r\n" not in req:
        part = recv_some(c)
        if not part:
            break
        req += part
    line = req.split(b"\r\n", 1)[0].decode("latin1")
    host = ""
    for h in req.split(b"\r\n")[1:]:
        if h.lower().startswith(b"host:"):
            host = h[5:].strip().decode("latin1")
    log(out, proto="http", request=line, host=host)
    parts = line.split()
    body = stage2 if len(parts) > 1 and parts[1] == "/stage2" else b"ok\n"
    c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\n\r\n" % len(body) + body)


def irc(c, out):
    buf = b""
    deadline = time.time() + 5
    welcomed = False
    while time.time() < deadline:
        part = recv_some(c, 1.0)
        if part is None:
            continue
        if not part:
            break
        buf += part
        while b"\r\n" in buf:
            line, buf = buf.split(b"\r\n", 1)
            text = line.decode("latin1")
            log(out, proto="irc", line=text)
            if text.startswith("USER") and not welcomed:
                c.sendall(b":fake.example 001 ferretbot :Welcome\r\n")
                welcomed = True
            elif text.startswith("JOIN"):
                c.sendall(b":ferretbot JOIN " + line.split()[1] + b"\r\n")
            elif text.startswith("QUIT"):
                return


def telnet(c, out):
    c.sendall(b"\xff\xfd\x18\xff\xfb\x01login: ")
    typed = b""
    for prompt in (b"Password: ", b"\r\n# "):
        line = b""
        end = time.time() + 3
        while b"\n" not in line and time.time() < end:
            part = recv_some(c, 1.0)
            if part is None:
                continue
            if not part:
                break
            # Drop option negotiation (IAC x y).
            i = 0
            while i < len(part):
                if part[i] == 255 and i + 2 < len(part):
                    i += 3
                    continue
                line += part[i : i + 1]
                i += 1
        typed += line
        c.sendall(prompt)
    log(out, proto="telnet", typed=typed.decode("latin1"))


def serve(port, handler, out, *args):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(64)
    while True:
        c, _ = s.accept()

        def run(c=c):
            try:
                handler(c, out, *args)
            except OSError as e:
                log(out, proto="error", port=port, error=str(e))
            finally:
                c.close()

        threading.Thread(target=run, daemon=True).start()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--stage2", required=True)
    ap.add_argument("--seconds", type=float, default=60)
    a = ap.parse_args()
    stage2 = open(a.stage2, "rb").read()
    out = open(a.log, "w")
    for target, args in (
        (dns, (out,)),
        (serve, (80, http, out, stage2)),
        (serve, (6667, irc, out)),
        (serve, (23, telnet, out)),
    ):
        threading.Thread(target=target, args=args, daemon=True).start()
    log(out, proto="ready")
    time.sleep(a.seconds)
    sys.exit(0)


if __name__ == "__main__":
    main()
