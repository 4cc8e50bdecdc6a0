#!/usr/bin/env python3
"""tree_digest.py: reference implementation of shipgate's tree digest, v1.

This is the algorithm of docs/digest.md written for clarity rather than speed, with the
Python standard library only. The unit tests (tests/unit/test_digest.c) check that it and
executor/digest.c agree, so anyone can recompute a verdict's subject without shipgate:

    tree_digest.py [-x EXCLUDE]... [--dump] DIR

prints "HEX  DIR" (like sha256sum); --dump also prints every record on stderr, one line
each, with the exact bytes in hex, which is how the worked example in docs/digest.md
was made. Exit status: 0 on success, 1 if the tree cannot be read, 2 on usage errors.
"""
import argparse
import hashlib
import os
import stat
import struct
import sys

DOMAIN = b"shipgate-tree-v1\x00"
ALWAYS_EXCLUDED = (b".git", b".shipgate")


class TreeError(Exception):
    pass


def normalize_exclude(path):
    """'./out/' -> b'out'; refuses absolute paths, '..' and the root itself."""
    if path.startswith(b"/"):
        raise ValueError("exclude %r: must be relative" % path)
    parts = []
    for part in path.split(b"/"):
        if part == b"..":
            raise ValueError("exclude %r: '..' is not allowed" % path)
        if part not in (b"", b"."):
            parts.append(part)
    if not parts:
        raise ValueError("exclude %r: names the root of the tree" % path)
    return b"/".join(parts)


def u32(n):
    return struct.pack(">I", n)


def file_sha256(dir_fd, name, lst):
    """sha256 of a regular file's contents, opened without following or blocking."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    fd = os.open(name, flags, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (lst.st_dev, lst.st_ino):
            raise TreeError("replaced while the tree was being digested")
        h = hashlib.sha256()
        total = 0
        while True:
            chunk = os.read(fd, 1 << 18)
            if not chunk:
                break
            h.update(chunk)
            total += len(chunk)
        if total != st.st_size:
            raise TreeError("changed size while the tree was being digested")
        return h.digest(), st.st_mode
    finally:
        os.close(fd)


def records(dir_fd, parent, excludes):
    """Yield (type, path, payload) for every entry below dir_fd, depth first, with the
    children of each directory in the byte order of their names."""
    # listdir(fd) returns str: sort the raw bytes, since bytes order is memcmp order
    # and the str order of undecodable (surrogate-escaped) names is not.
    for name in sorted(os.fsencode(n) for n in os.listdir(dir_fd)):
        path = parent + b"/" + name if parent else name
        if path in excludes:
            continue
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISREG(st.st_mode):
            try:
                digest, mode = file_sha256(dir_fd, name, st)
            except TreeError as e:
                raise TreeError("%r: %s" % (path, e)) from None
            yield (b"x" if mode & stat.S_IXUSR else b"f"), path, digest
        elif stat.S_ISLNK(st.st_mode):
            target = os.readlink(name, dir_fd=dir_fd)  # bytes in, bytes out
            yield b"l", path, u32(len(target)) + target
        elif stat.S_ISDIR(st.st_mode):
            yield b"d", path, b""
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
            sub = os.open(name, flags, dir_fd=dir_fd)
            try:
                yield from records(sub, path, excludes)
            finally:
                os.close(sub)
        else:
            yield b"s", path, b""


def record_bytes(rtype, path, payload):
    return rtype + u32(len(path)) + path + payload


def tree_digest(root, exclude=(), dump=None):
    """Hex digest of the tree at root (bytes or str); dump(line) sees every record."""
    excludes = set(ALWAYS_EXCLUDED)
    excludes.update(normalize_exclude(os.fsencode(e)) for e in exclude)
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    root_fd = os.open(os.fsencode(root), flags)
    h = hashlib.sha256(DOMAIN)
    if dump:
        dump("domain %s" % DOMAIN.hex())
    try:
        for rtype, path, payload in records(root_fd, b"", excludes):
            rec = record_bytes(rtype, path, payload)
            h.update(rec)
            if dump:
                dump("%s %r %s" % (rtype.decode(), path, rec.hex()))
    finally:
        os.close(root_fd)
    return h.hexdigest()


def main(argv):
    ap = argparse.ArgumentParser(description="shipgate tree digest, v1 (reference)")
    ap.add_argument("-x", "--exclude", action="append", default=[],
                    help="relative path to leave out (repeatable)")
    ap.add_argument("--dump", action="store_true", help="print every record on stderr")
    ap.add_argument("dir")
    args = ap.parse_args(argv)
    dump = (lambda line: print(line, file=sys.stderr)) if args.dump else None
    try:
        hexdigest = tree_digest(args.dir, args.exclude, dump)
    except ValueError as e:
        print("tree_digest.py: %s" % e, file=sys.stderr)
        return 2
    except (OSError, TreeError) as e:
        print("tree_digest.py: %s: %s" % (args.dir, e), file=sys.stderr)
        return 1
    print("%s  %s" % (hexdigest, args.dir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
