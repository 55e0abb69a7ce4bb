"""Writes the device kit's report (report.md, report.json) from the rows bench/device/run collected.

Each row is one JSON object: gpu_bench's measurements, the score_sde_pytorch / pytorch-fid references'
(bench "ref_*"), FLOP counts ("flops") and the parts' own status ("part"). The CUDA suite's results come
from the cuda_tests-*.xml reports. Ratios are computed here, against baselines measured in the same run. Standard
library only. Exits 1 when a part failed or timed out or a CUDA test failed.
"""
import argparse
import glob
import json
import os
import xml.etree.ElementTree as ET

TARGETS = {
    "train_fp32": 1.5,  # scorch fp32 img/s over score_sde_pytorch's step at PyTorch's defaults
    "train_bf16_cl": 3.0,
    "mfu_256": 0.40,
    "images_per_80gb_1024": 16,
    "pc_vs_ref": 3.0,
    "graph_vs_eager": 1.3,
    "fid_vs_pytorch_fid": 2.0,
}


def load_rows(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return rows


def test_summary(xml_paths):
    """Passed, failed and skipped over the cuda_tests XML reports of the kit's test groups."""
    if not xml_paths:
        return None
    summary = {"passed": 0, "failed": 0, "skipped": 0, "failures": [], "skip_reasons": set()}
    cases = [case for path in xml_paths for case in ET.parse(path).getroot().iter("testcase")]
    for case in cases:
        name = f'{case.get("classname")}.{case.get("name")}'
        failures = case.findall("failure")
        skipped = case.find("skipped")
        if failures:
            summary["failed"] += 1
            summary["failures"].append({"test": name, "message": failures[0].get("message", "")[:2000]})
        elif skipped is not None or case.get("result") == "skipped" or case.get("status") == "notrun":
            summary["skipped"] += 1
            message = (skipped.get("message") if skipped is not None else "") or ""
            summary["skip_reasons"].add(message.strip().splitlines()[-1] if message.strip() else "")
        else:
            summary["passed"] += 1
    summary["skip_reasons"] = sorted(r for r in summary["skip_reasons"] if r)
    return summary


def first(rows, **match):
    for r in rows:
        if all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def ratio(a, b):
    return a / b if a and b else None


def compute(rows):
    """Ratios against the baselines of the same run; None where a side is missing."""
    out = {}
    ref_train = first(rows, bench="ref_train")
    ref_ips = ref_train.get("images_per_s") if ref_train else None
    # Every 32² variant against score_sde_pytorch (the issue-21 ladder: +sync, +foreach and +eager turn a
    # switch off, so the suffix-free variants have all of them on).
    for r in rows:
        if r.get("bench") == "train" and "cifar10" in r.get("config", "cifar10"):
            out.setdefault(f"train_{r['variant']}_vs_ref", ratio(r["images_per_s"], ref_ips))
    flops = {r.get("image_size"): r for r in rows if r.get("bench") == "flops"}
    peak = next((r.get("bf16_peak_tflops") for r in rows if r.get("bench") == "flops" and r.get("bf16_peak_tflops")), None)
    for r in rows:
        if r.get("bench") == "train" and r.get("variant", "").startswith("bf16"):
            size = size_of(r.get("config", ""))
            f = flops.get(size)
            if f and peak and f.get("train_flops_per_image"):
                achieved = f["train_flops_per_image"] * r["images_per_s"] / 1e12
                out[f"mfu_{size}_{r['variant']}"] = achieved / peak
                out[f"tflops_{size}_{r['variant']}"] = achieved
    mb = first(rows, bench="max_batch")
    if mb and mb.get("peak_mem_gib"):
        out["max_batch_1024"] = mb["batch"]
        # No try failed: the search stopped at its limit, so the batch and the projection are lower bounds.
        out["max_batch_1024_is_the_search_limit"] = mb.get("first_failing_batch") == 0
        if mb.get("memory_cap_gb") == 80:  # measured with the allocator capped at 80 GB
            out["images_per_80gb_1024"] = mb["batch"]
        else:  # projected from the peak
            out["images_per_80gb_1024"] = mb["batch"] * 80.0 / (mb["peak_mem_gib"] * 1.073741824)
    ref_sample = first(rows, bench="ref_sample")
    pc = {r["sampler"]: r for r in rows if r.get("bench") == "sample"}
    if ref_sample:
        runs = ref_sample.get("samplers", {})
        ref_pc = (runs.get("pc") or {}).get("samples_per_s")
        # score_sde_pytorch samples at PyTorch's defaults, TF32 convolutions: like for like are scorch's TF32 rows
        # (its fp32 rows are fp32), and bf16 as the fastest.
        for name in ("pc_tf32_graph", "pc_bf16_graph"):
            if name in pc:
                out[f"{name}_vs_ref"] = ratio(pc[name]["samples_per_s"], ref_pc)
        if "ode_rk45_tf32" in pc:
            out["ode_vs_ref"] = ratio(pc["ode_rk45_tf32"]["samples_per_s"], (runs.get("ode") or {}).get("samples_per_s"))
    if "pc_fp32_graph" in pc and "pc_fp32_eager" in pc:
        out["graph_vs_eager_fp32"] = ratio(pc["pc_fp32_graph"]["samples_per_s"], pc["pc_fp32_eager"]["samples_per_s"])
    if "pc_bf16_graph" in pc and "pc_bf16_eager" in pc:
        out["graph_vs_eager_bf16"] = ratio(pc["pc_bf16_graph"]["samples_per_s"], pc["pc_bf16_eager"]["samples_per_s"])
    ref_fid = first(rows, bench="ref_fid")
    for prec in ("fp32", "tf32"):
        r = first(rows, bench="fid", precision=prec)
        if r and ref_fid:
            out[f"fid_{prec}_vs_pytorch_fid"] = ratio(r["images_per_s"], ref_fid.get("images_per_s"))
    return out


def size_of(config):
    """The image side of the kit's training configs (None for the dry run's tiny one)."""
    return 1024 if "ffhq" in config else 256 if "celebahq_256" in config else 32 if "cifar10" in config else None


def switch_effects(rows):
    """Each training row against the row of the same config, batch and precision without one of its suffixes: what that
    one switch did on top of the others, the figure that decides its default (a ratio above 1: faster with it).
    The suffixes +sync, +foreach and +eager turn a speed switch off, so their ratios below 1 are the switch's gain."""
    train = {}
    for r in rows:
        if r.get("bench") == "train" and r.get("images_per_s") and r.get("variant"):
            precision, *flags = r["variant"].split("+")
            # The first row of a (config, batch, variant): parts may time the same one twice.
            train.setdefault((r.get("config", ""), r.get("batch"), precision, frozenset(flags)), r)
    effects = []
    for (config, batch, precision, flags), r in train.items():
        for flag in sorted(flags):
            base = train.get((config, batch, precision, flags - {flag}))
            if base:
                effects.append({"config": config, "size": size_of(config), "switch": "+" + flag,
                                "on_top_of": base["variant"], "with": r["variant"],
                                "speedup": r["images_per_s"] / base["images_per_s"]})
    return sorted(effects, key=lambda e: (e["config"], e["switch"], e["on_top_of"]))


def fmt(x, digits=3):
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def markdown(mode, seconds, rows, derived, tests, parts_dir, effects=()):
    lines = [f"# Device kit report ({mode}, {seconds} s)", ""]
    info = os.path.join(parts_dir, "info.log")
    if os.path.exists(info):
        lines += ["## Machine", "", "```", open(info).read().strip(), "```", ""]
    lines += ["## Parts", "", "| part | status | seconds | budget |", "|---|---|---|---|"]
    for r in rows:
        if r.get("bench") == "part":
            lines.append(f"| {r['part']} | {r['status']} | {r['seconds']} | {r['budget']} |")
    lines.append("")
    if tests:
        lines += ["## CUDA tests", "",
                  f"{tests['passed']} passed, {tests['failed']} failed, {tests['skipped']} skipped", ""]
        for reason in tests["skip_reasons"]:
            lines.append(f"- skipped: {reason}")
        for f in tests["failures"]:
            lines += [f"- **FAILED** {f['test']}:", "", "```", f["message"], "```"]
        lines.append("")
    figures = [r for r in rows if r.get("bench") not in ("part", "profile")]
    if figures:
        lines += ["## Measurements", "", "| bench | what | figures |", "|---|---|---|"]
        for r in figures:
            what = r.get("variant") or r.get("sampler") or r.get("precision") or r.get("config", "")
            if r.get("bench") in ("group_norm", "fir", "skip_join"):
                what = f"{r['way']}, {'x'.join(map(str, r['shape']))}"
                what += f" / {r['groups']} groups" if "groups" in r else ""
                what += f", {r['resampling']}sampling" if "resampling" in r else ""
                what += f", {r['dtype']}" + (" + SiLU" if r.get("silu") else "")
            if r.get("fused_group_norm"):
                what += ", fused GroupNorm"
            if "checkpointed_from_px" in r:
                px = r["checkpointed_from_px"]
                what += ", checkpointing off" if px < 0 else f", checkpointed from {px} px"
            keys = [k for k in ("batch", "images_per_s", "kept_mib_per_image", "peak_mib_per_image", "images_per_80gb", "logged_images_per_s", "samples_per_s", "step_ms", "step_s", "graphed_steps", "sdpa_kernel", "nfe", "ode_nfe", "peak_mem_gib", "train_flops_per_image",
                                "bf16_peak_tflops", "fits", "why", "timing", "ms_forward_backward", "traffic_GBps_at_8_passes", "traffic_GBps_at_least",
                                "speedup_vs_libtorch_same_layout", "speedup_vs_libtorch_nchw", "error") if k in r]
            # An error's first line, without the table's separator.
            cell = lambda k: " ".join(str(r[k]).split("|")).splitlines()[0][:300] if k == "error" else fmt(r[k])
            text = ", ".join(f"{k} {cell(k)}" for k in keys)
            for name, run in (r.get("samplers") or {}).items():
                text += f"; {name}: " + ", ".join(f"{k} {fmt(run.get(k))}" for k in ("samples_per_s", "nfe") if k in run)
            lines.append(f"| {r.get('bench', '?')} | {what} | {text} |")
        lines.append("")
    if derived:
        lines += ["## Ratios and targets", "", "| figure | value | target |", "|---|---|---|"]
        target_of = {"train_fp32_vs_ref": TARGETS["train_fp32"], "train_tf32_vs_ref": TARGETS["train_fp32"],
                     "train_bf16+cl_vs_ref": TARGETS["train_bf16_cl"], "train_bf16_vs_ref": TARGETS["train_bf16_cl"],
                     "train_bf16+gn_vs_ref": TARGETS["train_bf16_cl"],
                     "train_bf16+cl+gn_vs_ref": TARGETS["train_bf16_cl"],
                     "train_bf16+gn+fir_vs_ref": TARGETS["train_bf16_cl"],
                     "train_bf16+cl+gn+fir_vs_ref": TARGETS["train_bf16_cl"],
                     "train_bf16+cl+gn+fir+fold_vs_ref": TARGETS["train_bf16_cl"],
                     "train_bf16+gn+fir+fold+join_vs_ref": TARGETS["train_bf16_cl"],
                     "train_bf16+cl+gn+fir+fold+join_vs_ref": TARGETS["train_bf16_cl"],
                     "train_bf16+cl+gn+fir+fold+join+igrad_vs_ref": TARGETS["train_bf16_cl"],
                     "mfu_256_bf16+cl": TARGETS["mfu_256"], "mfu_256_bf16": TARGETS["mfu_256"],
                     "mfu_256_bf16+gn": TARGETS["mfu_256"], "mfu_256_bf16+cl+gn": TARGETS["mfu_256"],
                     "mfu_256_bf16+gn+fir": TARGETS["mfu_256"], "mfu_256_bf16+cl+gn+fir": TARGETS["mfu_256"],
                     "mfu_256_bf16+cl+gn+fir+fold": TARGETS["mfu_256"],
                     "mfu_256_bf16+gn+fir+fold+join": TARGETS["mfu_256"],
                     "mfu_256_bf16+cl+gn+fir+fold+join": TARGETS["mfu_256"],
                     "mfu_256_bf16+cl+gn+fir+fold+join+igrad": TARGETS["mfu_256"],
                     "images_per_80gb_1024": TARGETS["images_per_80gb_1024"],
                     "pc_tf32_graph_vs_ref": TARGETS["pc_vs_ref"], "pc_bf16_graph_vs_ref": TARGETS["pc_vs_ref"],
                     "graph_vs_eager_fp32": TARGETS["graph_vs_eager"],
                     "fid_fp32_vs_pytorch_fid": TARGETS["fid_vs_pytorch_fid"],
                     "fid_tf32_vs_pytorch_fid": TARGETS["fid_vs_pytorch_fid"]}
        for k, v in derived.items():
            t = target_of.get(k)
            lines.append(f"| {k} | {fmt(v)} | {'≥ ' + fmt(t) if t else ''} |")
        lines.append("")
    if effects:
        lines += ["## Switches", "", "Each training row against the same row without one suffix (images/s ratio; "
                  "+sync, +foreach and +eager turn a speed switch off):", "",
                  "| config | switch | on top of | speed-up |", "|---|---|---|---|"]
        for e in effects:
            name = os.path.splitext(os.path.basename(e["config"]))[0]
            lines.append(f"| {name} | {e['switch']} | {e['on_top_of']} | {fmt(e['speedup'])} |")
        lines.append("")
    for r in rows:
        if r.get("bench") != "profile" or "top" not in r:
            continue
        groups = ", ".join(f"{g} {100 * v:.0f}%" for g, v in sorted(r["groups"].items(), key=lambda kv: -kv[1]))
        lines += [f"## Profile: {r['label']}", "",
                  f"GPU kernels {fmt(r['kernel_ms'])} ms in {fmt(r['span_ms'])} ms of traced GPU activity over "
                  f"{r.get('steps', '?')} steps, the table's ms too "
                  f"(busy {100 * r['busy_share']:.0f}%); {groups}. Per step: "
                  f"{r.get('launches_per_step', float('nan')):.0f} kernel launches, "
                  f"{r.get('dtoh_per_step', float('nan')):.1f} device-to-host copies, "
                  f"{r.get('host_launches_per_step', float('nan')):.0f} launch calls from the host "
                  f"({r.get('graph_launches_per_step', float('nan')):.0f} of graphs)", "",
                  "| share | ms | calls | kernel |",
                  "|---|---|---|---|"]
        for name, ms, n in r["top"][:12]:
            lines.append(f"| {100 * ms / r['kernel_ms']:.1f}% | {ms:.2f} | {n} | `{name[:110]}` |")
        # Graph replays have no launching operator: their table would be one "(no CPU op)" row per kind.
        named = [row for row in r.get("sources", []) if row[1] != "(no CPU op)"]
        if named:
            lines += ["", "Copy, elementwise and reduction kernels by the operators that launched them:", "",
                      "| kind | share | ms | kernels | operators (outermost first) |", "|---|---|---|---|---|"]
            for group, chain, ms, n in r["sources"]:
                lines.append(f"| {group} | {100 * ms / r['kernel_ms']:.1f}% | {ms:.2f} | {n} | `{chain[:140]}` |")
        lines.append("")
    for name in sorted(os.listdir(parts_dir)) if os.path.isdir(parts_dir) else []:
        status = next((r["status"] for r in rows if r.get("bench") == "part" and r["part"] + ".log" == name), "ok")
        if status != "ok":
            tail = open(os.path.join(parts_dir, name), errors="replace").read().splitlines()[-40:]
            lines += [f"## Log tail of {name} ({status})", "", "```", *tail, "```", ""]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--results", required=True)
    p.add_argument("--parts", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--mode", default="gpu")
    p.add_argument("--seconds", type=int, default=0)
    a = p.parse_args()
    rows = load_rows(a.results)
    tests = test_summary(sorted(glob.glob(os.path.join(a.out, "cuda_tests*.xml"))))
    derived = compute(rows)
    effects = switch_effects(rows)
    report = {"mode": a.mode, "seconds": a.seconds, "rows": rows, "derived": derived, "switch_effects": effects,
              "cuda_tests": tests}
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    md = markdown(a.mode, a.seconds, rows, derived, tests, a.parts, effects)
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write(md)
    print(md)
    bad = [r["part"] for r in rows if r.get("bench") == "part" and r["status"] in ("failed", "timeout")]
    if tests and tests["failed"]:
        bad.append("tests")
    if bad:
        print("device kit: not all parts passed: " + ", ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
