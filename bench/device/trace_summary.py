"""Summarises a Kineto (chrome) trace of scorch training steps: GPU time per kernel, grouped by name.

Usage: trace_summary.py TRACE.json [--top N] [--label TEXT] [--steps N]. Prints a table and one JSON row
{"bench": "profile", ...} with the total kernel time, the GPU's busy share of the traced wall time, the
share of the top kernels and of coarse groups (convolution, GEMM, normalisation, elementwise, copies), and the
operators that launched the copy, elementwise and reduction kernels, so that a later session without a GPU can
see where a step's time goes.
"""
import argparse
import collections
import json
import re

GROUPS = [  # first match wins
    # cuDNN's layout conversions around its NHWC kernels are copies, not convolution.
    ("copy/cast", re.compile(r"nchwToNhwc|nhwcToNchw", re.I)),
    # NCSN++'s FIR up/downsampling: LibTorch's depthwise convolutions or scorch's kernel.
    ("resampling", re.compile(r"conv_depthwise2d|upfirdn2d", re.I)),
    ("convolution", re.compile(r"conv|cudnn|implicit_gemm|winograd|fft", re.I)),
    ("gemm", re.compile(r"gemm|sm90_xmma|cutlass|matmul|nvjet", re.I)),
    # LibTorch's GroupNorm kernels do not say "norm" in their names.
    ("normalisation", re.compile(r"norm|welford|RowwiseMoments|GammaBeta|InternalGradients|ComputeFusedParams", re.I)),
    ("reduction", re.compile(r"reduce|sum_kernel|softmax", re.I)),
    # Every TensorIterator kernel is a gpu_kernel_impl_nocast or a LoadWithCast one: "nocast" is no cast.
    ("copy/cast", re.compile(r"copy|(?<!no)cast|to_dtype|memcpy|contiguous|permute|transpose", re.I)),
    ("elementwise", re.compile(r"elementwise|vectorized|unrolled|foreach|pointwise", re.I)),
]


def group_of(name):
    for group, pattern in GROUPS:
        if pattern.search(name):
            return group
    return "other"


def parents_of(ops):
    """The innermost enclosing CPU op of each op on the same thread (a sweep over ops sorted by start)."""
    parent = {}
    by_thread = collections.defaultdict(list)
    for op in ops:
        by_thread[(op.get("pid"), op.get("tid"))].append(op)
    for thread_ops in by_thread.values():
        thread_ops.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []
        for op in thread_ops:
            while stack and stack[-1]["ts"] + stack[-1]["dur"] < op["ts"] + op["dur"]:
                stack.pop()
            parent[id(op)] = stack[-1] if stack else None
            stack.append(op)
    return parent


# The kinds of kernel whose launching operators say what to fuse next; convolutions and GEMMs say little.
SOURCE_GROUPS = ("copy/cast", "elementwise", "reduction")


def sources(events, kernels, top=15):
    """Which operator chains launch the copy/cast, elementwise and reduction kernels: a kernel's "External id"
    names the CPU op that launched it; the ops enclosing that one (same thread) say whether it was a convolution's
    layout change, autocast's weight cast, a gradient's accumulation in the autograd engine or the loss's own .to().
    Kernels replayed from a CUDA graph have no launching op: an eager step's trace is the one that names them."""
    ops = [e for e in events if e.get("cat") == "cpu_op" and "dur" in e]
    by_ext = {}
    for op in ops:
        ext = op.get("args", {}).get("External id")
        if ext is not None:
            by_ext.setdefault(ext, op)
    parent = parents_of(ops)
    sums = collections.defaultdict(lambda: [0.0, 0])
    for k in kernels:
        group = group_of(k["name"])
        if group not in SOURCE_GROUPS:
            continue
        op = by_ext.get(k.get("args", {}).get("External id"))
        names = []
        while op is not None:
            if not names or names[-1] != op["name"]:
                names.append(op["name"])
            op = parent.get(id(op))
        names.reverse()  # outermost first
        chain = " > ".join(names if len(names) <= 4 else names[:2] + ["..."] + names[-2:]) or "(no CPU op)"
        sums[(group, chain)][0] += k["dur"]
        sums[(group, chain)][1] += 1
    return sorted(sums.items(), key=lambda kv: -kv[1][0])[:top]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("trace")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--label", default="")
    p.add_argument("--steps", type=int, default=2, help="training steps in the traced window")
    a = p.parse_args()
    events = json.load(open(a.trace)).get("traceEvents", [])
    kernels = [e for e in events if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset") and "dur" in e]
    if not kernels:
        print(json.dumps({"bench": "profile", "label": a.label, "error": "no GPU kernels in the trace"}))
        return
    by_name = collections.defaultdict(lambda: [0.0, 0])
    by_group = collections.defaultdict(float)
    for e in kernels:
        by_name[e["name"]][0] += e["dur"]
        by_name[e["name"]][1] += 1
        by_group[group_of(e["name"])] += e["dur"]
    total = sum(v[0] for v in by_name.values())
    start = min(e["ts"] for e in kernels)
    end = max(e["ts"] + e["dur"] for e in kernels)
    top = sorted(by_name.items(), key=lambda kv: -kv[1][0])[: a.top]
    # Device-to-host copies are the host's reads, each one a synchronisation; launches count every kernel.
    dtoh = sum(1 for e in kernels if "DtoH" in e["name"])
    launches = sum(1 for e in kernels if e.get("cat") == "kernel")
    # What the host called: a replayed CUDA graph runs all its kernels from one cudaGraphLaunch.
    runtime = [e for e in events if e.get("cat") == "cuda_runtime"]
    host_launches = sum(1 for e in runtime if "LaunchKernel" in e.get("name", "") or e.get("name") == "cudaGraphLaunch")
    graph_launches = sum(1 for e in runtime if e.get("name") == "cudaGraphLaunch")
    print(f"GPU kernel time {total / 1e3:.1f} ms over {(end - start) / 1e3:.1f} ms of traced GPU activity "
          f"({len(kernels)} kernels, {len(by_name)} distinct); per step: {launches / a.steps:.0f} kernel launches, "
          f"{dtoh / a.steps:.1f} device-to-host copies; host launch calls {host_launches / a.steps:.0f} "
          f"({graph_launches / a.steps:.0f} graph launches)")
    for name, (us, n) in top:
        print(f"{100 * us / total:6.2f}% {us / 1e3:9.2f} ms {n:6d}x  {name[:150]}")
    for group, us in sorted(by_group.items(), key=lambda kv: -kv[1]):
        print(f"group {group:14s} {100 * us / total:6.2f}%")
    launched_by = sources(events, kernels)
    for (group, chain), (us, n) in launched_by:
        print(f"{group:12s} {100 * us / total:6.2f}% {us / 1e3:9.2f} ms {n:6d}x  from {chain}")
    print(json.dumps({
        "bench": "profile", "label": a.label, "kernel_ms": total / 1e3, "span_ms": (end - start) / 1e3,
        "busy_share": total / max(end - start, 1e-9), "kernels": len(kernels), "steps": a.steps,
        "launches_per_step": launches / a.steps, "dtoh_per_step": dtoh / a.steps,
        "host_launches_per_step": host_launches / a.steps, "graph_launches_per_step": graph_launches / a.steps,
        "groups": {g: us / total for g, us in by_group.items()},
        "top": [[name[:200], us / 1e3, n] for name, (us, n) in top],
        "sources": [[group, chain, us / 1e3, n] for (group, chain), (us, n) in launched_by],
    }))


if __name__ == "__main__":
    main()
