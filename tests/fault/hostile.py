#!/usr/bin/env python3
# Send each request of a corpus (tests/data/hostile/requests.tsv) to cairnd's socket, one
# connection each, and compare the answer's status with the expected one.
#
#   hostile.py SOCKET CORPUS.tsv   prints "id<TAB>ok|FAIL<TAB>expected<TAB>got<TAB>detail"
#
# Corpus columns (tab-separated; '#' lines and blank lines are skipped):
#   id  method  path  body  expected  [regex]
# method RAW: body is the whole request, sent as it is (then, if no answer came within 2 s,
# the write side is shut down: a client that gives up). Otherwise the request is built:
# "METHOD PATH HTTP/1.1", Host, Connection: close, and for a body "-" none, else
# Content-Type: application/json and Content-Length.
# body and path escapes: \r \n \t \\ \xNN; any other backslash stays (JSON's \" \u0000).
# body generators: @repeat:N:TEXT (TEXT N times), @deep:N (N nested arrays in "labels"),
#   @wrap:PREFIX|N|TEXT|SUFFIX (PREFIX, TEXT N times, SUFFIX).
# expected: statuses separated by '|', and "close" for a connection closed without an
# answer. regex (optional): must be found in the answer's body.
import re
import socket
import sys
import time


def unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n in "rnt\\":
                out += {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\"}[n]
                i += 2
                continue
            if n == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", s[i + 2:i + 4]):
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
        out += c.encode("utf-8")
        i += 1
    return bytes(out)


def generate(spec):
    if spec.startswith("@repeat:"):
        _, n, text = spec.split(":", 2)
        return unescape(text) * int(n)
    if spec.startswith("@deep:"):
        n = int(spec.split(":", 1)[1])
        return b'{"name":"deep","size":"16M","labels":' + b"[" * n + b"]" * n + b"}"
    if spec.startswith("@wrap:"):
        pre, n, text, post = spec[len("@wrap:"):].split("|", 3)
        return unescape(pre) + unescape(text) * int(n) + unescape(post)
    return unescape(spec)


def read_answer(s, deadline):
    data = b""
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not chunk:
            return data, True
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            m = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
            if m and len(body) >= int(m.group(1)):
                return data, False
    return data, False


def send(sock_path, method, path, body):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    if method == "RAW":
        req = body
    else:
        req = b"%s %s HTTP/1.1\r\nHost: cairn\r\nConnection: close\r\n" % (
            method.encode(), path)
        if body is not None:
            req += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        req += b"\r\n" + (body or b"")
    try:
        s.sendall(req)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the daemon may close before reading everything: the answer may be there
    data, closed = read_answer(s, time.monotonic() + 2)
    if not data and not closed:
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        data, closed = read_answer(s, time.monotonic() + 5)
    s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", data)
    if m:
        return m.group(1).decode(), data.partition(b"\r\n\r\n")[2]
    if not data and closed:
        return "close", b""
    return "garbage" if data else "timeout", data


def main():
    sock_path, corpus = sys.argv[1], sys.argv[2]
    n_bad = 0
    for line in open(corpus, encoding="ascii"):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < 5:
            print("%s\tFAIL\t-\t-\tmalformed corpus line" % cols[0])
            n_bad += 1
            continue
        cid, method, path, body, expected = cols[:5]
        regex = cols[5] if len(cols) > 5 else None
        b = None if body == "-" else generate(body)
        p = generate(path) if method != "RAW" else b""
        got, answer = send(sock_path, method, p, b)
        good = got in expected.split("|")
        detail = answer[:200].decode("utf-8", "replace").replace("\t", " ").replace("\n", " ")
        if good and regex and not re.search(regex.encode(), answer):
            good = False
            detail = "body does not match /%s/: %s" % (regex, detail)
        print("%s\t%s\t%s\t%s\t%s" % (cid, "ok" if good else "FAIL", expected, got, detail))
        sys.stdout.flush()
        n_bad += not good
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
