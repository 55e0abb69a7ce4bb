#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz (corpus/<target>/): small valid inputs of every layout each reader
accepts, made by the tools users make them with (numpy, torch.save, safetensors, Pillow, gzip). The
corpora are committed; rerun this with the project's venv python only to change them:
    ~/.cache/scorch/venv-torch-2.11.0/bin/python tests/fuzz/make_seeds.py
The Flax checkpoints (corpus/flax) come from flax.serialization, which that venv lacks; with a python that has
jax and flax (pip install "jax[cpu]" flax):
    python tests/fuzz/make_seeds.py flax
"""
import collections
import gzip
import io
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image
from safetensors.numpy import save as save_safetensors

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
rng = np.random.default_rng(19)


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def npy_bytes(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def codec_seeds():
    """Images for the decoders beyond stb (core/io/image_codecs.h): TIFF, WebP, progressive JPEG."""
    rgb = Image.fromarray(np.random.default_rng(23).integers(0, 255, (6, 5, 3), np.uint8), "RGB")
    for name, im, fmt, options in (
        ("lzw.tif", rgb, "TIFF", {"compression": "tiff_lzw"}),
        ("jpeg.tif", rgb, "TIFF", {"compression": "jpeg"}),
        ("palette.tif", rgb.convert("P"), "TIFF", {}),
        ("lossless.webp", rgb, "WEBP", {"lossless": True}),
        ("alpha.webp", rgb.convert("RGBA"), "WEBP", {"quality": 50}),
        ("progressive.jpg", rgb, "JPEG", {"progressive": True}),
    ):
        b = io.BytesIO()
        im.save(b, fmt, **options)
        put("image", name, b.getvalue())


def flax_seeds():
    """Params trees as flax.serialization.to_bytes writes them (core/io/flax_msgpack.h)."""
    import jax.numpy as jnp
    from flax import serialization
    shutil.rmtree(os.path.join(HERE, "corpus", "flax"), ignore_errors=True)
    r = np.random.default_rng(29)
    dense = {"kernel": r.standard_normal((3, 4)).astype(np.float32), "bias": np.zeros(4, np.float32)}
    put("flax", "params", serialization.to_bytes({
        "Dense_0": dense, "init_conv": {"kernel": r.standard_normal((3, 3, 2, 2)).astype(np.float32)},
        "pre-pool-bn": {"scale": np.ones(2, np.float32), "bias": np.zeros(2, np.float32)}}))
    put("flax", "variables", serialization.to_bytes({"params": {"Dense_0": dense}}))
    put("flax", "mixed", serialization.to_bytes({
        "step": 12, "name": "wrn", "lr": 0.5, "h": jnp.ones((2, 3), jnp.bfloat16), "i": np.arange(3, dtype=np.int32),
        "s": np.float32(2.5), "e": np.zeros((0, 4), np.uint8), "m": np.array([True, False]), "none": None}))


def main():
    if sys.argv[1:] == ["flax"]:
        return flax_seeds()
    for d in os.listdir(os.path.join(HERE, "corpus")):
        if d != "flax":
            shutil.rmtree(os.path.join(HERE, "corpus", d))

    put("safetensors", "mixed", save_safetensors({
        "w": rng.standard_normal((2, 3)).astype(np.float32),
        "b": np.arange(3, dtype=np.int64),
        "h": np.ones((2,), np.float16),
        "m": np.array([True, False]),
        "e": np.zeros((0, 4), np.uint8),
    }, metadata={"format": "pt"}))
    put("safetensors", "scalar", save_safetensors({"s": np.array(1.5, np.float64)}))

    for name, a in {"u8": rng.integers(0, 255, (2, 4, 4), np.uint8), "f32": np.float32([[1, 2], [3, 4]]),
                    "fortran": np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
                    "bool": np.array([True, False]), "scalar": np.array(3.0), "f16": np.ones(3, np.float16)}.items():
        put("npy", name, npy_bytes(a))

    b = io.BytesIO()
    np.savez(b, mu=np.zeros(4), sigma=np.eye(4))
    put("npz", "stored", b.getvalue())
    b = io.BytesIO()
    np.savez_compressed(b, images=rng.integers(0, 255, (2, 4, 4, 1), np.uint8), labels=np.int64([0, 1]))
    put("npz", "deflated", b.getvalue())

    od = collections.OrderedDict([("a", 1), ("b", [1.5, "x", None, True]), ("c", (1, 2)), ("d", {"k": b"v"})])
    for proto in (2, 4):
        put("pickle", f"ordered-dict-p{proto}", pickle.dumps(od, protocol=proto))
    shared = [1, 2]
    put("pickle", "memo", pickle.dumps({"x": shared, "y": shared, "big": 2**70, "neg": -5}, protocol=2))

    state = {"model": collections.OrderedDict([("w", torch.arange(6.0).reshape(2, 3)), ("v", torch.arange(6.0)[1:4])]),
             "step": torch.tensor(7), "ema": {"decay": 0.999, "shadow_params": [torch.ones(2, dtype=torch.float16)]}}
    b = io.BytesIO()
    torch.save(state, b)
    put("torch_file", "zip", b.getvalue())
    b = io.BytesIO()
    torch.save(state, b, _use_new_zipfile_serialization=False)
    put("torch_file", "legacy", b.getvalue())

    # Manifests as `scorch data` writes them: a synthetic set, and a labelled pack of the npz seed.
    scorch = os.environ.get("SCORCH_BIN", os.path.join(ROOT, "build", "bin", "scorch"))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([scorch, "data", "synth", "shapes", "--out", f"{tmp}/synth", "--count", "3",
                        "--resolution", "4", "--channels", "1", "--shard-size", "2"], check=True, capture_output=True)
        with open(f"{tmp}/labelled.npz", "wb") as f:
            np.savez(f, images=rng.integers(0, 255, (3, 4, 4, 3), np.uint8), labels=np.int64([0, 1, 1]))
        subprocess.run([scorch, "data", "pack", f"{tmp}/labelled.npz", "--out", f"{tmp}/packed"], check=True,
                       capture_output=True)
        for name in ("synth", "packed"):
            with open(f"{tmp}/{name}/manifest.json", "rb") as f:
                put("manifest", name, f.read())

    for name in ("ve_tiny.yaml", "vp_tiny.yaml"):
        with open(os.path.join(ROOT, "configs", "small", name), "rb") as f:
            put("yaml_config", name, f.read())
    put("yaml_config", "flow", b"model: {name: ncsnpp, ch_mult: [1, 2], nf: 8}\ntraining: {batch_size: 4}\n")

    for mode, fmt in (("L", "PNG"), ("RGB", "PNG"), ("RGBA", "PNG"), ("RGB", "JPEG"), ("RGB", "BMP"), ("P", "GIF")):
        im = Image.fromarray(rng.integers(0, 255, (5, 3, 3), np.uint8), "RGB").convert(mode)
        b = io.BytesIO()
        im.save(b, fmt)
        put("image", f"{mode}.{fmt.lower()}", b.getvalue())
    b = io.BytesIO()
    Image.fromarray(rng.integers(0, 65535, (4, 4), np.uint16)).save(b, "PNG")  # mode I;16
    put("image", "I16.png", b.getvalue())
    codec_seeds()

    cifar = b"".join(bytes([k]) + rng.integers(0, 255, 3072, np.uint8).tobytes() for k in (3, 7))
    put("cifar", "two-records", cifar)
    put("cifar", "two-records.gz", gzip.compress(cifar))

    def idx(images, labels, gz=False):
        a = struct.pack(">I", 0x0803) + struct.pack(">III", *images.shape) + images.tobytes()
        b = struct.pack(">I", 0x0801) + struct.pack(">I", len(labels)) + labels.tobytes()
        if gz:
            a, b = gzip.compress(a), gzip.compress(b)
        cut_byte = -(-len(a) * 256 // (len(a) + len(b)))  # smallest byte whose cut lands at len(a)
        assert cut_byte * (len(a) + len(b)) // 256 == len(a)
        return a + b + bytes([cut_byte])
    put("idx", "two", idx(rng.integers(0, 255, (2, 4, 4), np.uint8), np.uint8([1, 9])))
    put("idx", "two.gz", idx(rng.integers(0, 255, (2, 3, 5), np.uint8), np.uint8([0, 2]), gz=True))

    for name in ("tiny-r02.tfrecords",):
        with open(os.path.join(ROOT, "tests", "fixtures", "tfrecords", name), "rb") as f:
            put("tfrecord", name, f.read())


if __name__ == "__main__":
    sys.exit(main())
