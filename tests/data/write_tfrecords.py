"""Writes TFRecord image sets with the `tfrecord` package (its own protobuf encoding, not scorch's), and the
same images as .npz arrays to compare with, for tests/data/tfrecord_source_test.cpp.

Usage: write_tfrecords.py OUT
  OUT/pgan/set-r02.tfrecords, set-r03.tfrecords  progressive-GAN layout (shape [C,H,W] + data bytes, CHW),
  OUT/pgan/set-rxx.labels                        one-hot float32 rows, as the dataset tool writes them,
  OUT/pgan-r03.npz                               images (N,8,8,3) HWC uint8 and labels (N,)
  OUT/encoded/part-0.tfrecords                   image/encoded PNG + image/class/label,
  OUT/encoded.npz                                images (N,6,5,3) and labels
  OUT/forged/huge-r02.tfrecords                  one record of shape [1, 2^32, 2^32] and no data
"""
import os
import struct
import sys
import zlib

import numpy as np
from tfrecord.writer import TFRecordWriter

out = sys.argv[1]
rng = np.random.default_rng(7)
n, classes = 10, 4


def png(image):  # HWC uint8 RGB -> PNG bytes (filter 0 on every row)
    h, w, _ = image.shape
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


os.makedirs(out + "/pgan", exist_ok=True)
labels = rng.integers(0, classes, n)
for level in (2, 3):
    size = 1 << level
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    writer = TFRecordWriter(f"{out}/pgan/set-r{level:02d}.tfrecords")
    for im in images:
        chw = np.ascontiguousarray(im.transpose(2, 0, 1))
        writer.write({"shape": (list(chw.shape), "int"), "data": (chw.tobytes(), "byte")})
    writer.close()
    if level == 3:
        np.savez(out + "/pgan-r03.npz", images=images, labels=labels)
with open(out + "/pgan/set-rxx.labels", "wb") as f:
    np.save(f, np.eye(classes, dtype=np.float32)[labels])

os.makedirs(out + "/encoded", exist_ok=True)
images = rng.integers(0, 256, (n, 6, 5, 3), dtype=np.uint8)
writer = TFRecordWriter(out + "/encoded/part-0.tfrecords")
for im, label in zip(images, labels):
    writer.write({"image/encoded": (png(im), "byte"), "image/class/label": (int(label), "int")})
writer.close()
np.savez(out + "/encoded.npz", images=images, labels=labels)

# A forged shape whose byte count wraps int64 to 0 (1 * 2^32 * 2^32), with no data: it crashed the packer.
os.makedirs(out + "/forged", exist_ok=True)
writer = TFRecordWriter(out + "/forged/huge-r02.tfrecords")
writer.write({"shape": ([1, 1 << 32, 1 << 32], "int"), "data": (b"", "byte")})
writer.close()
print("OK")
