"""score_sde_ref.py: times yang-song/score_sde_pytorch's own training step and samplers, or exports its checkpoint.

The reference side of bench/device: score_sde's code is imported from --repo (a copy made by fetch_refs), never
copied here. Usage:
  python3 score_sde_ref.py --repo .device/ref/score_sde_pytorch --config ve/cifar10_ncsnpp_continuous \
      --task train|sample|export [--batch 128 --steps 20 --warmup 3 --device cuda --precision fp32]
      [--num-scales N] [--samplers pc,ode] [--weights CKPT.pth] [--ckpt OUT.pth] [--out FILE.json]
      [--image-size 16 --nf 16 --ch-mult 1,2 --num-res-blocks 1 --attn-resolutions 8 --set model.dropout=0.0]
Needs ml_collections (the carried wheel) on PYTHONPATH. score_sde's CUDA ops (op/) are not compiled: upfirdn2d
runs score_sde's own pure-torch upfirdn2d_native on every device (fused_leaky_relu a pure-torch equivalent; no
shipped model uses it).
  train:  run_lib.train's step (create_model with its DataParallel, EMA, Adam, warm-up, clipping) on a fixed
          random batch in [0, 1] through the data scaler; --steps timed after --warmup.
  sample: the config's PC sampler (N = --num-scales) and the probability-flow ODE sampler (RK45, rtol=atol=1e-5),
          each run --repeats times after --warmup network evaluations; random init with --seed or --weights' EMA.
  export: run_lib's save_checkpoint of the randomly initialised model (seed --seed, step 0) to --ckpt.
One JSON object goes to stdout and to --out.
"""
import argparse
import ast
import hashlib
import importlib
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", required=True, help="score_sde_pytorch source tree")
    p.add_argument("--config", default="ve/cifar10_ncsnpp_continuous", help="a module under configs/")
    p.add_argument("--task", required=True, choices=["train", "sample", "export", "flops"])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20, help="train: timed steps")
    p.add_argument("--warmup", type=int, default=3, help="train: untimed steps; sample: untimed network evaluations")
    p.add_argument("--repeats", type=int, default=1, help="sample: timed runs of each sampler (the best is reported)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "torch-default"],
                   help="fp32: TF32 off; tf32: TF32 on for matmuls and convolutions; torch-default: PyTorch's own "
                        "defaults (cuDNN convolutions TF32, matmuls not), what a score_sde user gets")
    p.add_argument("--num-scales", type=int, help="sample: the SDE's N (model.num_scales) for the PC sampler")
    p.add_argument("--samplers", default="pc,ode", help="sample: comma-separated, of pc and ode")
    p.add_argument("--ode-max-nfe", type=int, default=0,
                   help="sample: give up the ODE sampler after this many evaluations (0: never)")
    p.add_argument("--weights", help="sample: a score_sde checkpoint whose EMA weights to sample with")
    p.add_argument("--ckpt", help="export: where to write the checkpoint")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", help="also write the JSON result here")
    p.add_argument("--image-size", type=int)
    p.add_argument("--nf", type=int)
    p.add_argument("--ch-mult", help="comma-separated, e.g. 1,2")
    p.add_argument("--num-res-blocks", type=int)
    p.add_argument("--attn-resolutions", help="comma-separated, e.g. 8")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any config field, VALUE a Python literal (repeatable)")
    return p.parse_args()


class _NotBuilt:
    """Stands in for a torch.utils.cpp_extension.load() result: nothing is compiled, any use fails loudly."""

    def __init__(self, name):
        self.name = name

    def __getattr__(self, attr):
        raise RuntimeError(f"score_sde's CUDA extension '{self.name}' was not built (called {attr})")


def import_score_sde(repo):
    """Imports score_sde's modules from repo with op/ on its pure-torch paths; returns them in a namespace."""
    sys.path.insert(0, os.path.abspath(repo))
    import torch.utils.cpp_extension as cpp_extension
    real_load = cpp_extension.load
    cpp_extension.load = lambda name, *args, **kwargs: _NotBuilt(name)
    try:
        import op
    finally:
        cpp_extension.load = real_load
    up_mod, act_mod = sys.modules["op.upfirdn2d"], sys.modules["op.fused_act"]

    def upfirdn2d(input, kernel, up=1, down=1, pad=(0, 0)):  # op.upfirdn2d's signature; its CPU branch
        return up_mod.upfirdn2d_native(input, kernel, up, up, down, down, pad[0], pad[1], pad[0], pad[1])

    def fused_leaky_relu(input, bias, negative_slope=0.2, scale=2 ** 0.5):  # what the CUDA kernel computes
        return F.leaky_relu(input + bias.view(1, -1, *[1] * (input.ndim - 2)), negative_slope) * scale

    op.upfirdn2d = up_mod.upfirdn2d = upfirdn2d
    op.fused_leaky_relu = act_mod.fused_leaky_relu = fused_leaky_relu
    from models import ddpm, ncsnpp, ncsnv2, up_or_down_sampling  # noqa: F401 (registers the models)
    assert up_or_down_sampling.upfirdn2d is upfirdn2d
    from models import utils as mutils
    from models.ema import ExponentialMovingAverage
    import losses
    import sampling
    import sde_lib
    return argparse.Namespace(mutils=mutils, EMA=ExponentialMovingAverage, losses=losses, sampling=sampling,
                              sde_lib=sde_lib)


def load_config(args):
    name = args.config.removeprefix("configs/").removesuffix(".py").replace("/", ".")
    config = importlib.import_module("configs." + name).get_config()
    sets = list(args.set)
    for key, value in [("data.image_size", args.image_size), ("model.nf", args.nf),
                       ("model.num_res_blocks", args.num_res_blocks)]:
        if value is not None:
            sets.append(f"{key}={value}")
    for key, value in [("model.ch_mult", args.ch_mult), ("model.attn_resolutions", args.attn_resolutions)]:
        if value is not None:
            sets.append(f"{key}=({value},)")
    sets.append(f"training.batch_size={args.batch}")
    for item in sets:
        key, value = item.split("=", 1)
        section, field = key.rsplit(".", 1) if "." in key else ("", key)
        node = config
        for part in filter(None, section.split(".")):
            node = node[part]
        node[field] = ast.literal_eval(value)
    config.device = torch.device(args.device)
    return config


def make_sde(ref, config):
    """The SDE and sampling eps as run_lib.train picks them."""
    name, m, lib = config.training.sde.lower(), config.model, ref.sde_lib
    if name == "vesde":
        sde, eps = lib.VESDE(sigma_min=m.sigma_min, sigma_max=m.sigma_max, N=m.num_scales), 1e-5
        # VESDE.discretize indexes its CPU table with a device tensor, which PyTorch refuses on CUDA
        # (score_sde_pytorch issues #43, #65): keep the table where the samples are. Same values.
        sde.discrete_sigmas = sde.discrete_sigmas.to(config.device)
    elif name == "vpsde":
        sde, eps = lib.VPSDE(beta_min=m.beta_min, beta_max=m.beta_max, N=m.num_scales), 1e-3
    elif name == "subvpsde":
        sde, eps = lib.subVPSDE(beta_min=m.beta_min, beta_max=m.beta_max, N=m.num_scales), 1e-3
    else:
        raise ValueError(f"unknown SDE {config.training.sde}")
    return sde, eps


def set_precision(precision):
    if precision != "torch-default":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"


def check_finite(name, values):
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        raise SystemExit(f"{name}: non-finite values {bad[:5]}")


class Timer:
    def __init__(self, device):
        self.cuda = device.type == "cuda"

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize()
        self.seconds = time.perf_counter() - self.start


def build_state(ref, config, seed, result):
    """run_lib.train's state: the DataParallel model, its EMA and Adam."""
    torch.manual_seed(seed)
    model = ref.mutils.create_model(config)
    ema = ref.EMA(model.parameters(), decay=config.model.ema_rate)
    optimizer = ref.losses.get_optimizer(config, model.parameters())
    result["params"] = sum(p.numel() for p in model.parameters())
    return dict(optimizer=optimizer, model=model, ema=ema, step=0)


def task_train(ref, config, args, result):
    state = build_state(ref, config, args.seed, result)
    sde, _ = make_sde(ref, config)
    t = config.training
    step_fn = ref.losses.get_step_fn(sde, train=True, optimize_fn=ref.losses.optimization_manager(config),
                                     reduce_mean=t.reduce_mean, continuous=t.continuous,
                                     likelihood_weighting=t.likelihood_weighting)
    shape = (args.batch, config.data.num_channels, config.data.image_size, config.data.image_size)
    batch = torch.rand(shape, device=config.device)  # data in [0, 1], as datasets.get_dataset yields
    batch = batch * 2. - 1. if config.data.centered else batch  # datasets.get_data_scaler
    warm = [step_fn(state, batch).item() for _ in range(args.warmup)]
    check_finite("warm-up losses", warm)
    with Timer(config.device) as timer:
        timed = [step_fn(state, batch).detach() for _ in range(args.steps)]
    timed = [x.item() for x in timed]
    check_finite("timed losses", timed)
    result.update(images_per_s=args.batch * args.steps / timer.seconds, step_ms=1e3 * timer.seconds / args.steps,
                  seconds=timer.seconds, losses=warm + timed)


class _NfeLimit(Exception):
    """Raised by the call counter once --ode-max-nfe evaluations are spent."""


def task_sample(ref, config, args, result):
    state = build_state(ref, config, args.seed, result)
    model = state["model"]
    if args.weights:  # run_lib.evaluate: restore, then sample with the EMA weights
        # score_sde's own files hold a numpy.float64 lr, which weights_only=True refuses.
        loaded = torch.load(args.weights, map_location=config.device, weights_only=False)
        model.load_state_dict(loaded["model"], strict=False)
        state["ema"].load_state_dict(loaded["ema"])
        state["ema"].copy_to(model.parameters())
        result["weights"] = args.weights
    if args.num_scales:  # after the model: its unused `sigmas` buffer keeps the config's size, so --weights load
        config.model.num_scales = args.num_scales
    sde, eps = make_sde(ref, config)
    shape = (args.batch, config.data.num_channels, config.data.image_size, config.data.image_size)
    inverse_scaler = (lambda x: (x + 1.) / 2.) if config.data.centered else (lambda x: x)
    calls, limit = [0], [0]

    def count(module, inputs):
        calls[0] += 1
        if limit[0] and calls[0] > limit[0]:
            raise _NfeLimit

    model.register_forward_pre_hook(count)
    score_fn = ref.mutils.get_score_fn(sde, model, train=False, continuous=config.training.continuous)
    with torch.no_grad():
        for _ in range(args.warmup):
            score_fn(torch.randn(shape, device=config.device) * config.model.sigma_max,
                     torch.ones(args.batch, device=config.device))
    runs = {}
    for name in args.samplers.split(","):
        config.sampling.method = name
        sampling_fn = ref.sampling.get_sampling_fn(config, sde, shape, inverse_scaler, eps)
        best, limit[0] = None, (args.ode_max_nfe if name == "ode" else 0)
        for _ in range(args.repeats):
            calls[0] = 0
            try:
                with Timer(config.device) as timer:
                    samples, nfe = sampling_fn(model)
            except _NfeLimit:
                best = dict(aborted_after_nfe=limit[0])
                break
            if not torch.isfinite(samples).all():
                raise SystemExit(f"{name}: non-finite samples")
            run = dict(samples_per_s=args.batch / timer.seconds, seconds=timer.seconds, nfe=int(nfe),
                       model_calls=calls[0], ms_per_call=1e3 * timer.seconds / calls[0],
                       sample_mean=samples.mean().item(), sample_std=samples.std().item())
            if name == "pc":
                run.update(num_scales=sde.N, snr=config.sampling.snr, n_steps_each=config.sampling.n_steps_each,
                           predictor=config.sampling.predictor, corrector=config.sampling.corrector,
                           step_ms=1e3 * timer.seconds / sde.N)
            if best is None or run["seconds"] < best["seconds"]:
                best = run
        runs[name] = best
    first = runs[args.samplers.split(",")[0]]
    result.update({k: first[k] for k in ("samples_per_s", "nfe", "step_ms", "seconds") if k in first})
    result["samplers"] = runs


def task_export(ref, config, args, result):
    if not args.ckpt:
        raise SystemExit("--task export needs --ckpt FILE")
    state = build_state(ref, config, args.seed, result)
    saved = dict(optimizer=state["optimizer"].state_dict(), model=state["model"].state_dict(),  # save_checkpoint
                 ema=state["ema"].state_dict(), step=state["step"])
    torch.save(saved, args.ckpt)
    digest = hashlib.sha256()  # of the weights (the file's own bytes also hold its name)
    for name, tensor in saved["model"].items():
        digest.update(name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
    result.update(ckpt=args.ckpt, weights_sha256=digest.hexdigest(), seed=args.seed, bytes=os.path.getsize(args.ckpt))


def task_flops(ref, config, args, result):
    """FLOPs of one training step per image (forward and backward of the loss, as torch's FlopCounterMode
    counts convolutions and matrix products) and, on CUDA, the bf16 matmul rate this GPU reaches."""
    from torch.utils.flop_counter import FlopCounterMode
    torch.manual_seed(args.seed)
    model = ref.mutils.create_model(config)
    sde, eps = make_sde(ref, config)
    t = config.training
    loss_fn = ref.losses.get_sde_loss_fn(sde, train=True, reduce_mean=t.reduce_mean, continuous=t.continuous,
                                         likelihood_weighting=t.likelihood_weighting, eps=eps)
    n = 2
    batch = torch.rand((n, config.data.num_channels, config.data.image_size, config.data.image_size),
                       device=config.device)
    with FlopCounterMode(display=False) as counter:
        loss_fn(model, batch).backward()
    result.update(train_flops_per_image=counter.get_total_flops() / n, batch=n)
    if config.device.type == "cuda":
        a = torch.randn(8192, 8192, device=config.device, dtype=torch.bfloat16)
        for _ in range(3):
            a @ a
        with Timer(config.device) as timer:
            for _ in range(10):
                a @ a
        result["bf16_peak_tflops"] = 10 * 2 * 8192 ** 3 / timer.seconds / 1e12


def main():
    args = parse_args()
    ref = import_score_sde(args.repo)
    config = load_config(args)
    set_precision(args.precision)
    device = config.device
    result = dict(task=args.task, config=args.config, batch=args.batch, device=str(device), precision=args.precision,
                  torch=torch.__version__, gpu=torch.cuda.get_device_name(device) if device.type == "cuda" else None,
                  threads=torch.get_num_threads(), image_size=config.data.image_size, nf=config.model.nf,
                  num_scales=config.model.num_scales)
    {"train": task_train, "sample": task_sample, "export": task_export, "flops": task_flops}[args.task](ref, config, args, result)
    result["num_scales"] = config.model.num_scales
    text = json.dumps(result)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
