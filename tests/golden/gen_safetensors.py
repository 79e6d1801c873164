# gen_safetensors.py: a safetensors file written from PyTorch tensors, for
# tests/spec/safetensors_spec.lua to read. Writes
# tests/golden/torch_written.safetensors; it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_safetensors.py
#
# (Debian's python3 with torch 1.13.) The `safetensors` package is not used:
# the format is written by hand (8-byte little-endian header length, JSON
# header padded with spaces to a multiple of 8, then the data), so that the
# test checks nnlua against the format, not against one library.
#
# Every value is exact in its dtype and written out in the spec, so the spec
# states what it expects without running Python. The tensors' data is laid
# out in an order unlike the header's key order, and two names need JSON
# escapes (a quote, a non-ASCII letter, a character outside the BMP).
import json
import math
import os
import struct

import torch

TENSORS = [
    # name, tensor
    ("f32", torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8 - 0.75),
    ("f64", torch.tensor([math.pi, -1e300, 5e-324, 0.1, -0.0, math.inf, -math.inf, math.nan],
                         dtype=torch.float64)),
    ("i64", torch.tensor([-(2**62), 2**53 + 1, -1, 0, 2**63 - 1], dtype=torch.int64)),
    ("f16", torch.tensor([1.0, -2.5, 65504.0, 2.0**-14, 2.0**-24, math.inf, -0.0, math.nan],
                         dtype=torch.float16)),
    ("bf16", torch.tensor([1.0, -3.140625, 2.0**100, -(2.0**-126), 0.5], dtype=torch.bfloat16)),
    ("i32", torch.tensor([-2147483648, 2147483647, 0, 7], dtype=torch.int32).reshape(2, 2)),
    ("u8", torch.tensor([0, 255, 128], dtype=torch.uint8)),
    ("bool", torch.tensor([True, False, True])),
    ("scalar", torch.tensor(3.5, dtype=torch.float32)),
    ("empty", torch.zeros(0, 3, dtype=torch.float32)),
    ('layer.0/w\u00e9ight "q"', torch.arange(6, dtype=torch.float64).reshape(1, 2, 3)),
    ("emoji\U0001F600", torch.tensor([-7], dtype=torch.int64)),
]

METADATA = {"format": "pt", "note": 'tab\there "quoted" back\\slash \u00e9\nnew line'}

DTYPES = {
    torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.float16: "F16",
    torch.bfloat16: "BF16", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL",
}


def raw_bytes(t):
    """The little-endian bytes of t, row-major."""
    t = t.contiguous()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.view(torch.int16)   # numpy has no bfloat16; the bits are what count
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    # data in reverse order of the header's keys
    chunks, header, offset = [], {"__metadata__": METADATA}, 0
    for name, t in reversed(TENSORS):
        b = raw_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    # keys sorted, so the header's order differs from the data's
    text = json.dumps(header, sort_keys=True).encode("ascii")
    text += b" " * (-len(text) % 8)
    out = os.path.join(here, "torch_written.safetensors")
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in chunks:
            f.write(b)
    print("wrote", out, 8 + len(text) + offset, "bytes")


if __name__ == "__main__":
    main()
