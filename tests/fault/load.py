#!/usr/bin/env python3
# N clients at once against cairnd's socket for a bounded time, each on connections of its
# own, mixing reads (health, lists, its own volume) with creates and deletes of volumes
# of its own (so every answer is predictable: a create is 201, a delete 202, a read 200).
#   load.py SOCKET CLIENTS SECONDS PREFIX CREATES
# prints a JSON summary; exit 1 if a request failed. Volume names start with PREFIX (one
# per run); each client creates at most CREATES volumes (Ceph work is slow next to reads).
import http.client
import json
import random
import socket
import sys
import threading
import time


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("cairn", timeout=60)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect(self.path)
        self.sock = s


def main():
    sock_path, clients, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    prefix, max_creates = sys.argv[4], int(sys.argv[5])
    lock = threading.Lock()
    lat = {}          # kind -> [seconds]
    failures = []     # (kind, status, body)
    deletes = []      # operation ids
    counts = {}
    deadline = time.monotonic() + seconds

    def record(kind, dt, status, want, body):
        with lock:
            lat.setdefault(kind, []).append(dt)
            counts[kind] = counts.get(kind, 0) + 1
            if status not in want:
                failures.append((kind, status, body[:300].decode("utf-8", "replace")))

    def client(i):
        rnd = random.Random(i)
        conn = UnixHTTPConnection(sock_path)
        mine, n = [], 0

        def call(kind, method, path, body=None, want=(200,)):
            nonlocal conn
            hdrs = {"Content-Type": "application/json"} if body is not None else {}
            t0 = time.monotonic()
            try:
                conn.request(method, path, body=body, headers=hdrs)
                r = conn.getresponse()
                data = r.read()
                status = r.status
            except (OSError, http.client.HTTPException) as e:
                status, data = 0, str(e).encode()
                conn.close()
                conn = UnixHTTPConnection(sock_path)
            record(kind, time.monotonic() - t0, status, want, data)
            return status, data

        while time.monotonic() < deadline:
            x = rnd.random()
            if not mine and n >= max_creates:
                x = 0.5 + x / 2  # reads only from now on
            if (x < 0.15 or not mine) and n < max_creates:
                n += 1
                name = "%s%d-%d" % (prefix, i, n)
                st, _ = call("create", "POST", "/v1/volumes",
                             json.dumps({"name": name, "size": "16M",
                                         "labels": {"client": str(i)}}), want=(201,))
                if st == 201:
                    mine.append(name)
            elif x < 0.28 and mine:
                name = mine.pop(rnd.randrange(len(mine)))
                st, data = call("delete", "DELETE", "/v1/volumes/%s" % name, want=(202,))
                if st == 202:
                    with lock:
                        deletes.append(json.loads(data)["id"])
            elif x < 0.50 and mine:
                call("show", "GET", "/v1/volumes/%s" % rnd.choice(mine))
            elif x < 0.65:
                call("list", "GET", "/v1/volumes?label=client=%d" % i)
            elif x < 0.80:
                call("health", "GET", "/v1/health")
            elif x < 0.90:
                call("metrics", "GET", "/metrics")
            else:
                call("list-all", "GET", "/v1/volumes")
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - t0

    def pct(v, p):
        v = sorted(v)
        return v[min(len(v) - 1, int(p * len(v)))] if v else 0

    everything = [x for v in lat.values() for x in v]
    out = {
        "clients": clients, "seconds": round(took, 1),
        "requests": len(everything), "per_second": round(len(everything) / took, 1),
        "failures": len(failures), "failure_examples": failures[:5],
        "p50_ms": round(pct(everything, 0.50) * 1000, 1),
        "p99_ms": round(pct(everything, 0.99) * 1000, 1),
        "max_ms": round(max(everything) * 1000, 1) if everything else 0,
        "by_kind": {k: {"n": counts[k], "p50_ms": round(pct(v, 0.5) * 1000, 1),
                        "p99_ms": round(pct(v, 0.99) * 1000, 1)} for k, v in sorted(lat.items())},
        "delete_operations": deletes,
    }
    json.dump(out, sys.stdout)
    print()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
