"""trace_summary.py: kernel names from the H200 traces land in the right groups, and a synthetic Kineto trace
gives the right shares, launch counts and launching operators."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "..", "bench", "device", "trace_summary.py")
sys.path.insert(0, os.path.dirname(SCRIPT))
import trace_summary  # noqa: E402

ELEMENTWISE = "elementwise_kernel<128, 4, at::native::gpu_kernel_impl_nocast<"
# Kernel names as the 2026-11-30 H200 traces printed them (completed where the reports cut them short) and as
# LibTorch and scorch name their other kernels.
NAMES = {
    ELEMENTWISE + "at::native::CUDAFunctor_add<c10::BFloat16> >(at::TensorIteratorBase&)": "elementwise",
    ELEMENTWISE + "at::native::lerp_kernel_scalar_weight(at::TensorIteratorBase&)": "elementwise",
    ELEMENTWISE + "at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)": "copy/cast",
    "unrolled_elementwise_kernel<at::native::AddFunctor<float>, memory::LoadWithCast<2>, memory::StoreWithCast<1> >":
        "copy/cast",
    "void cudnn::engines_precompiled::nchwToNhwcKernel<__nv_bfloat16, __nv_bfloat16, float, false, true>": "copy/cast",
    "void cudnn::engines_precompiled::nhwcToNchwKernel<__nv_bfloat16, __nv_bfloat16, float, true, false>": "copy/cast",
    "void at::native::(anonymous namespace)::CatArrayBatchedCopy<OpaqueType<2u>, unsigned int, 4, 64, 64>": "copy/cast",
    "void at::native::(anonymous namespace)::GammaBetaBackwardCUDAKernel1<c10::BFloat16>(long, long, long)":
        "normalisation",
    "void at::native::(anonymous namespace)::ComputeInternalGradientsCUDAKernel<c10::BFloat16>(long)": "normalisation",
    "void at::native::(anonymous namespace)::RowwiseMomentsCUDAKernel<c10::BFloat16>(long, c10::BFloat16)":
        "normalisation",
    "void scorch::models::fused_norm::(anonymous namespace)::affine_kernel<__nv_bfloat16, unsigned int>":
        "normalisation",
    "void at::native::(anonymous namespace)::conv_depthwise2d_backward_kernel<0, 1, c10::BFloat16, int>":
        "resampling",
    "void scorch::models::fused_fir::(anonymous namespace)::upfirdn2d_kernel<__nv_bfloat16, unsigned int>":
        "resampling",
    "sm90_xmma_dgrad_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc_tilesize128x128x64": "convolution",
    "void at::native::reduce_kernel<512, 1, at::native::ReduceOp<c10::BFloat16, func_wrapper_t> >": "reduction",
    "Memcpy DtoD (Device -> Device)": "copy/cast",
}


class GroupOf(unittest.TestCase):
    def test_names_from_the_h200_traces(self):
        for name, group in NAMES.items():
            self.assertEqual(trace_summary.group_of(name), group, name)


def op(name, ts, dur, ext=None):
    e = {"cat": "cpu_op", "name": name, "ts": ts, "dur": dur, "pid": 1, "tid": 1, "args": {}}
    if ext is not None:
        e["args"]["External id"] = ext
    return e


def kernel(name, ts, dur, ext):
    return {"cat": "kernel", "name": name, "ts": ts, "dur": dur, "args": {"External id": ext}}


class Summary(unittest.TestCase):
    def run_summary(self, events):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"traceEvents": events}, f)
        try:
            out = subprocess.run([sys.executable, SCRIPT, f.name, "--steps", "1"], check=True, capture_output=True,
                                 text=True).stdout
        finally:
            os.unlink(f.name)
        return json.loads(out.strip().splitlines()[-1])

    def test_shares_launches_and_the_operators_behind_copies_and_elementwise_kernels(self):
        add = ELEMENTWISE + "at::native::CUDAFunctor_add<c10::BFloat16> >"
        copy = ELEMENTWISE + "at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)"
        events = [
            # A convolution's bias add (not a copy) and a GroupNorm input made contiguous (a copy).
            op("aten::conv2d", 0, 100), op("aten::_convolution", 1, 98), op("aten::add_", 50, 10, ext=1),
            op("aten::group_norm", 200, 100), op("aten::contiguous", 201, 20, ext=2),
            kernel(add, 1000, 30, 1), kernel(copy, 1040, 10, 2),
            kernel("void cudnn::engines_precompiled::nchwToNhwcKernel<__nv_bfloat16>", 1060, 20, 3),
            kernel("sm90_xmma_fprop_implicit_gemm_bf16bf16", 1090, 40, 3),
            {"cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 5, "dur": 1},
            {"cat": "cuda_runtime", "name": "cudaGraphLaunch", "ts": 6, "dur": 1},
        ]
        row = self.run_summary(events)
        self.assertAlmostEqual(row["kernel_ms"], 0.1)
        self.assertAlmostEqual(row["span_ms"], 0.13)
        self.assertEqual(row["launches_per_step"], 4)
        self.assertEqual(row["host_launches_per_step"], 2)
        self.assertEqual(row["graph_launches_per_step"], 1)
        self.assertAlmostEqual(row["groups"]["elementwise"], 0.3)
        self.assertAlmostEqual(row["groups"]["copy/cast"], 0.3)
        self.assertAlmostEqual(row["groups"]["convolution"], 0.4)
        chains = {(group, chain): (ms, n) for group, chain, ms, n in row["sources"]}
        self.assertIn(("copy/cast", "aten::group_norm > aten::contiguous"), chains)
        self.assertIn(("elementwise", "aten::conv2d > aten::_convolution > aten::add_"), chains)
        self.assertAlmostEqual(chains[("elementwise", "aten::conv2d > aten::_convolution > aten::add_")][0], 0.03)
        self.assertFalse(any(group == "copy/cast" and "add_" in chain for group, chain in chains), chains)
        self.assertFalse(any(group == "convolution" for group, _ in chains), "convolutions are not attributed")

    def test_a_trace_without_gpu_kernels_says_so(self):
        row = self.run_summary([op("aten::conv2d", 0, 100)])
        self.assertIn("no GPU kernels", row["error"])


if __name__ == "__main__":
    unittest.main()
