#!/usr/bin/env python3
# The truth in Ceph about one test's pools, read with the stock tools (rbd, rados), and the
# invariant cairn promises after a crash, a race or a bad request:
#
#   * every RBD image in cairn's naming scheme (volume-<uuid>, image-<uuid>, backup-<uuid>)
#     is accounted for by a record, and every cairn-* snapshot by the record it belongs to;
#   * every record's RBD image exists, with the parent the record says (none once
#     flattened), and no record is left half way (creating, importing, deleting, error);
#   * no intent is left over, and the trash holds nothing of cairn's.
#   * a snapshot deleted while it had clones (cairn-deleted-<snap id>-<name>) has its entry
#     in directory.snapshots and a clone still; every entry's snapshot is hidden so.
#
#   * a backup is "available" with its data (the snapshot on the backup image, or its file)
#     or "failed" without any (no snapshot, no block list, no file): never half way.
#
#   inventory.py dump CEPH_CONF PREFIX [BACKUP_DIR] > FILE   the whole state as JSON
#   inventory.py check FILE                       violations, one a line; exit 1 if any
#   inventory.py images FILE                      "pool/image" and "pool/image@snap" lines
#
# PREFIX names the pools as tests/integration/lib.sh does: PREFIX-images, -volumes, -vms,
# -backups; cairn's state is in the "cairn" namespace of PREFIX-volumes.
import json
import os
import re
import subprocess
import sys

ROLES = ["images", "volumes", "vms", "backups"]
DIRS = ["images", "volumes", "backups", "intents", "snapshots"]
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
CAIRN_IMAGE = re.compile(r"^(volume|image|backup)-(%s)$" % UUID)


def parse_omapvals(text):
    """`rados listomapvals` prints: key, "value (N bytes) :", a hexdump, a blank line."""
    out = {}
    key = None
    data = bytearray()
    in_value = False
    for line in text.decode("utf-8", "replace").split("\n"):
        if not in_value:
            if line == "":
                continue
            if key is not None and line.startswith("value ("):
                in_value = True
                data = bytearray()
                continue
            key = line
            continue
        if line == "":
            out[key] = bytes(data).decode("utf-8", "replace")
            key = None
            in_value = False
            continue
        m = re.match(r"^[0-9a-f]{8}  (.*)$", line)
        if not m:
            continue
        hexpart = line[10:59]
        for tok in hexpart.split():
            if re.fullmatch(r"[0-9a-f]{2}", tok):
                data.append(int(tok, 16))
    if in_value and key is not None:
        out[key] = bytes(data).decode("utf-8", "replace")
    return out


def run_all(argvs):
    """Run the commands at once (each is a round trip to the cluster); outputs in order."""
    procs = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for a in argvs]
    outs = []
    for a, p in zip(argvs, procs):
        out, err = p.communicate()
        # `rbd ls --long` of librbd 16.2 sometimes aborts (an exception out of a librados
        # handler) when an image goes while it opens it: ask again, at most twice
        for _ in range(2):
            if p.returncode >= 0:
                break
            p = subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = p.communicate()
        if p.returncode != 0:
            if (b"No such file" in err or b"does not exist" in err
                    or b"error opening pool" in err):
                outs.append(None)
                continue
            raise SystemExit("inventory: %s failed (%d): %s" %
                             (" ".join(a), p.returncode, err.decode(errors="replace")))
        outs.append(out)
    return outs


def dump(conf, prefix, backup_dir=None):
    pools = {r: "%s-%s" % (prefix, r) for r in ROLES}
    inv = {"pools": pools, "images": {}, "trash": {}, "dirs": {}, "names": {},
           "objects": [], "files": []}
    rbd = ["rbd", "-c", conf]
    cmds = []
    for pool in pools.values():
        cmds.append(rbd + ["ls", "--long", "--format", "json", pool])
        cmds.append(rbd + ["trash", "ls", "--all", "--format", "json", pool])
    for d in DIRS:
        cmds.append(["rados", "-c", conf, "-p", pools["volumes"], "--namespace", "cairn",
                     "listomapvals", "directory." + d])
    cmds.append(["rados", "-c", conf, "-p", pools["volumes"], "--namespace", "cairn", "ls"])
    outs = run_all(cmds)
    objs = outs[-1]
    inv["objects"] = sorted(objs.decode().split()) if objs else []
    if backup_dir and os.path.isdir(backup_dir):
        inv["backup_dir"] = backup_dir
        inv["files"] = sorted(os.listdir(backup_dir))
    found = []
    for i, pool in enumerate(pools.values()):
        listing = json.loads(outs[2 * i]) if outs[2 * i] else []
        for e in listing:
            if "snapshot" in e:
                continue
            found.append((pool, e["image"], e.get("parent")))
        inv["trash"][pool] = json.loads(outs[2 * i + 1]) if outs[2 * i + 1] else []
    snaps = run_all([rbd + ["snap", "ls", "--all", "--format", "json", "%s/%s" % (p, n)]
                     for p, n, _ in found])
    for (pool, name, parent), out in zip(found, snaps):
        if out is None:
            continue  # removed while listing
        inv["images"]["%s/%s" % (pool, name)] = {
            "pool": pool, "name": name, "parent": parent,
            "snaps": [{"name": s["name"], "id": s.get("id"),
                       "namespace": s.get("namespace", {})}
                      for s in json.loads(out)],
        }
    for j, d in enumerate(DIRS):
        raw = outs[2 * len(pools) + j]
        vals = parse_omapvals(raw) if raw else {}
        recs = {}
        names = {}
        for k, v in vals.items():
            if k.startswith("id."):
                try:
                    recs[k[3:]] = json.loads(v)
                except ValueError:
                    recs[k[3:]] = {"unparsable": v}
            elif k.startswith("name."):
                names[k[5:]] = v
        inv["dirs"][d] = recs
        inv["names"][d] = names
    return inv


def check(inv):
    bad = []
    dirs = inv["dirs"]
    pools = inv["pools"]
    vols = dict(dirs.get("volumes", {}))
    imgs = dict(dirs.get("images", {}))
    backups = dirs.get("backups", {})

    for op, it in dirs.get("intents", {}).items():
        bad.append("intent %s (%s, step %s) is left over" %
                   (op, it.get("kind"), it.get("step")))

    # the directory itself: names and ids agree
    for d in ("images", "volumes"):
        for name, id_ in inv["names"].get(d, {}).items():
            rec = dirs[d].get(id_)
            if rec is None:
                bad.append("directory.%s: name '%s' -> %s has no record" % (d, name, id_))
            elif rec.get("name") != name:
                bad.append("directory.%s: name '%s' -> %s whose record is named '%s'" %
                           (d, name, id_, rec.get("name")))
        named = set(inv["names"].get(d, {}).values())
        for id_ in dirs[d]:
            if id_ not in named:
                bad.append("directory.%s: record %s has no name" % (d, id_))

    owner = {}  # "pool/rbd_image" -> record
    for kind, recs in (("volume", vols), ("image", imgs)):
        for id_, r in recs.items():
            key = "%s/%s" % (r.get("pool"), r.get("rbd_image"))
            owner[key] = (kind, id_, r)
            st = r.get("status")
            if st not in ("available", "hidden"):
                bad.append("%s record '%s' (%s) is left in status '%s'%s" %
                           (kind, r.get("name"), id_, st,
                            (": " + r["error"]) if r.get("error") else ""))
            if key not in inv["images"]:
                bad.append("%s record '%s' (%s) names %s, which does not exist" %
                           (kind, r.get("name"), id_, key))
                continue
            # the record's parent is the RBD image's parent (none once flattened)
            p = r.get("parent") or {}
            rp = inv["images"][key].get("parent")
            want = None if (not p or r.get("flattened")) else \
                "%s/%s@%s" % (p.get("pool"), p.get("rbd_image"), p.get("rbd_snap"))
            have = None if not rp else \
                "%s/%s@%s" % (rp.get("pool"), rp.get("image"), rp.get("snapshot"))
            if kind == "volume" and not r.get("managed") and want != have:
                bad.append("%s record '%s' (%s) says its parent is %s, rbd says %s" %
                           (kind, r.get("name"), id_, want, have))

    def backup_of(volume_id):
        for b in backups.values():
            if b.get("volume_id") == volume_id and b.get("target") == "pool" and \
                    b.get("status") == "available":
                return b
        return None

    def good_backup(bid):
        return backups.get(bid, {}).get("status") == "available"

    for bid, b in backups.items():
        st = b.get("status")
        if st not in ("available", "failed"):
            bad.append("backup record %s (of '%s') is left in status '%s'" %
                       (bid, b.get("volume"), st))
        img = "%s/backup-%s" % (pools["backups"], b.get("volume_id"))
        has_snap = any(s["name"] == "backup-" + bid for s in inv["images"].get(img, {})
                       .get("snaps", []))
        path = b.get("path") or ""
        has_file = os.path.basename(path) in inv["files"] if path else False
        if st == "available":
            if b.get("target") == "pool" and not has_snap:
                bad.append("backup %s is available but %s@backup-%s does not exist" %
                           (bid, img, bid))
            if b.get("target") == "file" and "backup_dir" in inv and not has_file:
                bad.append("backup %s is available but its file %s does not exist" %
                           (bid, path))
        elif st == "failed":
            if has_snap:
                bad.append("failed backup %s left its data: %s@backup-%s" % (bid, img, bid))
            if has_file:
                bad.append("failed backup %s left its file %s" % (bid, path))
    for o in inv.get("objects", []):
        m = re.match(r"^backup\.blocks\.(%s)$" % UUID, o)
        if m and not good_backup(m.group(1)):
            bad.append("rados object %s belongs to no available backup" % o)
    for f in inv.get("files", []):
        m = re.match(r"^(%s)\.(%s)\.diff$" % (UUID, UUID), f)
        if f.endswith(".tmp") or ".tmp" in f:
            bad.append("backup directory holds a temporary file %s" % f)
        elif m and not (good_backup(m.group(2)) and
                        backups[m.group(2)].get("target") == "file"):
            bad.append("backup file %s belongs to no available backup" % f)

    # deleted snapshots kept for their clones: each entry's snapshot is hidden by now
    hidden = dirs.get("snapshots", {})
    parents = set()
    for im in inv["images"].values():
        rp = im.get("parent")
        if rp:
            parents.add("%s/%s@%s" % (rp.get("pool"), rp.get("image"), rp.get("snapshot")))
    for eid, e in hidden.items():
        key = "%s/%s" % (e.get("pool"), e.get("rbd_image"))
        snaps = inv["images"].get(key, {}).get("snaps", [])
        by_id = [s for s in snaps if str(s.get("id")) == str(e.get("snap_id"))]
        if key not in inv["images"] or not by_id:
            bad.append("snapshot entry %s names %s@%s, which is gone" %
                       (eid, key, e.get("hidden_name")))
        elif by_id[0]["name"] != e.get("hidden_name"):
            bad.append("snapshot entry %s: %s@%s is not hidden as %s yet" %
                       (eid, key, by_id[0]["name"], e.get("hidden_name")))

    for key, im in inv["images"].items():
        m = CAIRN_IMAGE.match(im["name"])
        if m:
            kind, uuid = m.group(1), m.group(2)
            if kind in ("volume", "image"):
                if key not in owner:
                    bad.append("rbd image %s is accounted for by no record" % key)
                elif owner[key][0] != kind or owner[key][1] != uuid:
                    bad.append("rbd image %s belongs to %s record %s" %
                               (key, owner[key][0], owner[key][1]))
            elif backup_of(uuid) is None:
                bad.append("rbd image %s is accounted for by no backup record" % key)
        for s in im["snaps"]:
            ns = s["namespace"].get("type", "user")
            name = s["name"]
            if ns == "trash":
                name = s["namespace"].get("original_name", name)
            where = "%s@%s%s" % (key, name, "" if ns == "user" else " (%s)" % ns)
            if ns == "group":
                gsnap = s["namespace"].get("group snap", "")
                m = re.match(r"^cairn-backup-(%s)$" % UUID, gsnap)
                if m and not any(b.get("set") == m.group(1) and b.get("status") == "available"
                                 for b in backups.values()):
                    bad.append("group snapshot %s@%s (on %s) belongs to no available backup"
                               % (s["namespace"].get("group"), gsnap, key))
                continue
            if name == "cairn-base":
                if key not in owner or owner[key][0] != "image":
                    bad.append("snapshot %s is on no image of cairn's" % where)
                continue
            m = re.match(r"^cairn-clone-(%s)$" % UUID, name)
            if m:
                child = vols.get(m.group(1))
                p = (child or {}).get("parent") or {}
                if not child:
                    bad.append("snapshot %s: its clone %s has no record" % (where, m.group(1)))
                elif "%s/%s" % (p.get("pool"), p.get("rbd_image")) != key or \
                        p.get("rbd_snap") != name:
                    bad.append("snapshot %s: volume %s does not name it as its parent" %
                               (where, m.group(1)))
                continue
            m = re.match(r"^cairn-backup-(%s)$" % UUID, name)
            if m:
                if not good_backup(m.group(1)):
                    bad.append("snapshot %s belongs to no available backup" % where)
                continue
            m = re.match(r"^cairn-deleted-([0-9]+)-", name)
            if m:
                if not any("%s/%s" % (e.get("pool"), e.get("rbd_image")) == key and
                           str(e.get("snap_id")) == m.group(1) and e.get("hidden_name") == name
                           for e in hidden.values()):
                    bad.append("hidden snapshot %s has no entry in directory.snapshots" % where)
                elif ns == "user" and "%s@%s" % (key, name) not in parents:
                    bad.append("hidden snapshot %s has no clone left, yet it was not purged" %
                               where)
                continue
            if name.startswith("cairn-"):
                bad.append("snapshot %s is cairn's by name but nothing accounts for it" % where)
                continue
            m = re.match(r"^backup-(%s)$" % UUID, name)
            if m and im["pool"] == pools["backups"] and not good_backup(m.group(1)):
                bad.append("snapshot %s belongs to no available backup" % where)

    for pool, entries in inv["trash"].items():
        for e in entries:
            if CAIRN_IMAGE.match(e.get("name", "")):
                bad.append("the trash of %s still holds %s (%s)" %
                           (pool, e.get("name"), e.get("id")))
    return bad


def images(inv):
    out = []
    for key, im in sorted(inv["images"].items()):
        out.append(key)
        for s in im["snaps"]:
            out.append("%s@%s" % (key, s["name"]))
    for pool, entries in sorted(inv["trash"].items()):
        for e in entries:
            out.append("trash:%s/%s" % (pool, e.get("name")))
    for f in inv.get("files", []):
        out.append("file:%s" % f)
    for o in inv.get("objects", []):
        if o.startswith("backup.blocks."):
            out.append("object:%s" % o)
    return out


def main():
    if len(sys.argv) in (4, 5) and sys.argv[1] == "dump":
        json.dump(dump(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) == 5 else None),
                  sys.stdout, indent=1, sort_keys=True)
        print()
        return 0
    if len(sys.argv) == 3 and sys.argv[1] in ("check", "images"):
        with open(sys.argv[2]) as f:
            inv = json.load(f)
        lines = check(inv) if sys.argv[1] == "check" else images(inv)
        for line in lines:
            print(line)
        return 1 if (sys.argv[1] == "check" and lines) else 0
    sys.stderr.write("usage: inventory.py dump CEPH_CONF PREFIX [BACKUP_DIR] | check FILE | "
                     "images FILE\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
