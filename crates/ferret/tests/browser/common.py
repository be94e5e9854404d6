"""Shared helpers of ferret's browser tests: a headless Chromium that can reach only
loopback, and a PNG decoder to check that a screenshot is not blank."""

import os
import struct
import sys
import tempfile
import zlib

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = os.environ.get("FERRET_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("FERRET_CHROMEDRIVER", "/usr/bin/chromedriver")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def driver(width=1280, height=1000):
    """Headless Chromium. Every request that is not to loopback goes to a closed
    loopback proxy port and every host name fails to resolve, so the browser cannot
    reach anything but this machine; background services are off."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(path):
            fail(path + " is missing: install Debian's chromium and chromium-driver (scripts/install.sh)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="ferret-chromium-")
    for a in [
        "--headless=new",
        "--no-sandbox",  # tests run as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=%d,%d" % (width, height),
        "--user-data-dir=" + profile,
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication",
        "--proxy-server=socks5://127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
    ]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def console_errors(d):
    """Severe console messages (script errors, CSP violations)."""
    return [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(data):
    """(width, height, channels, rows) of an 8-bit RGB or RGBA PNG, rows as bytes."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if hdr is None:
        raise ValueError("PNG without IHDR")
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace != 0:
        raise ValueError("unsupported PNG: depth %d colour type %d interlace %d" % (depth, ctype, interlace))
    ch = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = w * ch
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(ch, stride):
                line[i] = (line[i] + line[i - ch]) & 255
        elif f == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif f == 3:
            for i in range(stride):
                left = line[i - ch] if i >= ch else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif f == 4:
            for i in range(stride):
                left = line[i - ch] if i >= ch else 0
                up_left = prev[i - ch] if i >= ch else 0
                line[i] = (line[i] + _paeth(left, prev[i], up_left)) & 255
        elif f != 0:
            raise ValueError("bad PNG filter %d" % f)
        rows.append(bytes(line))
        prev = line
    return w, h, ch, rows


def check_not_blank(png_path, min_colours=16, min_fraction=0.05):
    """Fails unless the screenshot has at least `min_colours` distinct colours and
    `min_fraction` of its pixels differ from the most common (background) colour."""
    with open(png_path, "rb") as f:
        w, h, ch, rows = decode_png(f.read())
    counts = {}
    for row in rows:
        for i in range(0, len(row), ch):
            px = row[i:i + 3]
            counts[px] = counts.get(px, 0) + 1
    total = w * h
    background = max(counts.values())
    fraction = (total - background) / total
    print("screenshot %s: %dx%d, %d colours, %.1f%% non-background pixels"
          % (os.path.basename(png_path), w, h, len(counts), 100 * fraction))
    if len(counts) < min_colours or fraction < min_fraction:
        fail("the screenshot looks blank: %d colours, %.2f%% non-background" % (len(counts), 100 * fraction))
