"""Where the peer scripts find ../shared/data, and the IDX reader the
Fashion-MNIST ones share (the files Flint's tests and datagen read)."""
import gzip
import os
import struct
import sys

import numpy as np


def data_dir():
    """$FLINT_DATA, or ../shared/data beside the repository."""
    d = os.environ.get("FLINT_DATA")
    if d:
        return d
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "data"))


def read_idx(path, magic):
    """A gzip'd IDX file as a uint8 array of its dimensions."""
    with gzip.open(path, "rb") as f:
        m = struct.unpack(">I", f.read(4))[0]
        if m != magic:
            sys.exit(f"{path}: magic {m:#x}, want {magic:#x}")
        dims = [struct.unpack(">I", f.read(4))[0] for _ in range(m & 0xFF)]
        data = np.frombuffer(f.read(), dtype=np.uint8)
    if data.size != int(np.prod(dims)):
        sys.exit(f"{path}: {data.size} bytes of data for dims {dims}")
    return data.reshape(dims)
