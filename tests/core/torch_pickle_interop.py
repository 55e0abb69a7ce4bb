"""Python torch's side of the torch.save interop tests (tests/core/torch_file_test.cpp).

write ZIP LEGACY: saves one object, with every kind of value torch checkpoints hold, in both torch.save
  formats; the C++ test knows the values by the same formulas.
check FILE: loads what scorch wrote with torch.load(weights_only=True) and asserts its values.
"""
import collections
import sys

import numpy as np
import torch


def sample():
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    od = collections.OrderedDict([("b", torch.arange(3, dtype=torch.float64)), ("a", base)])
    od._metadata = collections.OrderedDict([("", {"version": 1})])
    lin = torch.nn.Linear(2, 3)
    opt = torch.optim.Adam(lin.parameters(), lr=1e-3)
    lin(torch.ones(1, 2)).sum().backward()
    opt.step()
    dtypes = {name: torch.arange(6).reshape(2, 3).to(dtype) for name, dtype in [
        ("float64", torch.float64), ("float32", torch.float32), ("float16", torch.float16),
        ("bfloat16", torch.bfloat16), ("int64", torch.int64), ("int32", torch.int32), ("int16", torch.int16),
        ("int8", torch.int8), ("uint8", torch.uint8), ("bool", torch.bool)]}
    return {
        "od": od,
        "ints": [0, 255, 256, 65535, 65536, -1, -2**31, 2**31, 2**40, -2**40, 2**62],
        "floats": (0.5, -1e300, 3.25),
        "text": "h\u00e9llo",
        "none": None,
        "flag": True,
        "raw": b"\x00\xffab",
        "np": {"f8": np.float64(0.25), "f4": np.float32(1.5), "i8": np.int64(-7)},
        "dtypes": dtypes,
        "views": {"base": base, "row": base[1], "transposed": base.t(), "strided": base[:, ::2]},
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 4),
        "adam": opt.state_dict(),
        "nested": {"list": [{"x": torch.ones(2)}], "tuple": (1, (2, 3))},
    }


def check(path):
    v = torch.load(path, weights_only=True)
    assert isinstance(v["od"], collections.OrderedDict), type(v["od"])
    assert list(v["od"]) == ["b", "a"], list(v["od"])
    assert torch.equal(v["od"]["a"], torch.arange(12, dtype=torch.float32).reshape(3, 4))
    assert v["od"]["b"].dtype == torch.float64 and torch.equal(v["od"]["b"], torch.arange(3, dtype=torch.float64))
    assert v["ints"] == [0, 255, 256, 65535, 65536, -1, -2**31, 2**31, 2**40, -2**40, 2**62], v["ints"]
    assert v["floats"] == (0.5, -1e300, 3.25), v["floats"]
    assert v["text"] == "h\u00e9llo" and v["none"] is None and v["flag"] is True and v["off"] is False
    assert type(v["plain"]) is dict and list(v["plain"]) == [3, 1], v["plain"]
    assert v["empty_list"] == [] and v["empty_tuple"] == () and v["one"] == (7,)
    for name, dtype in [("float64", torch.float64), ("float32", torch.float32), ("float16", torch.float16),
                        ("bfloat16", torch.bfloat16), ("int64", torch.int64), ("int32", torch.int32),
                        ("int16", torch.int16), ("int8", torch.int8), ("uint8", torch.uint8), ("bool", torch.bool)]:
        t = v["dtypes"][name]
        assert t.dtype == dtype and torch.equal(t, torch.arange(6).reshape(2, 3).to(dtype)), name
    assert torch.equal(v["transposed"], torch.arange(12, dtype=torch.float32).reshape(3, 4).t())
    assert v["scalar"].shape == () and v["scalar"].item() == 3.5
    assert v["empty"].shape == (0, 4)
    print("OK")


if __name__ == "__main__":
    if sys.argv[1] == "write":
        obj = sample()
        torch.save(obj, sys.argv[2])
        torch.save(obj, sys.argv[3], _use_new_zipfile_serialization=False)
    else:
        check(sys.argv[2])
