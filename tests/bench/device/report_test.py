"""report.py: each training row is set against the same row without one suffix, and only that one; what the\nmeasurement table shows of a row."""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "bench", "device"))
import report  # noqa: E402

CIFAR = "configs/ve/cifar10_ncsnpp_continuous.yaml"
HIRES = "configs/ve/celebahq_256_ncsnpp_continuous.yaml"


def train(config, variant, ips, batch=8):
    return {"bench": "train", "config": config, "variant": variant, "images_per_s": ips, "batch": batch}


class SwitchEffects(unittest.TestCase):
    def test_pairs_differ_by_one_suffix_within_a_config(self):
        rows = [train(CIFAR, "bf16", 1000.0), train(CIFAR, "bf16+gn", 1100.0), train(CIFAR, "bf16+gn+fir", 1210.0),
                train(CIFAR, "bf16+eager", 800.0), train(CIFAR, "fp32", 400.0),
                train(HIRES, "bf16", 90.0), train(HIRES, "bf16+cl+gn", 99.0),
                {"bench": "train_failed", "config": CIFAR, "variant": "bf16+join"},
                {"bench": "part", "part": "train", "status": "ok", "seconds": 1, "budget": 2}]
        effects = {(e["size"], e["switch"], e["on_top_of"]): e["speedup"] for e in report.switch_effects(rows)}
        self.assertEqual(set(effects), {(32, "+gn", "bf16"), (32, "+fir", "bf16+gn"), (32, "+eager", "bf16")})
        self.assertAlmostEqual(effects[(32, "+gn", "bf16")], 1.1)
        self.assertAlmostEqual(effects[(32, "+fir", "bf16+gn")], 1.1)
        self.assertAlmostEqual(effects[(32, "+eager", "bf16")], 0.8)

    def test_the_order_of_suffixes_does_not_matter(self):
        rows = [train(HIRES, "bf16+cl+gn", 100.0), train(HIRES, "bf16+gn+cl+fir", 120.0)]
        (effect,) = report.switch_effects(rows)
        self.assertEqual((effect["size"], effect["switch"], effect["on_top_of"]), (256, "+fir", "bf16+cl+gn"))
        self.assertAlmostEqual(effect["speedup"], 1.2)

    def test_rows_of_other_batches_and_repeated_rows_are_not_paired(self):
        rows = [train(CIFAR, "bf16", 1000.0, batch=128), train(CIFAR, "bf16+cl", 500.0, batch=2),
                train(CIFAR, "bf16+gn", 1100.0, batch=128), train(CIFAR, "bf16", 10.0, batch=128),
                {"bench": "train", "config": CIFAR, "images_per_s": 5.0}]
        (effect,) = report.switch_effects(rows)
        self.assertEqual((effect["switch"], effect["on_top_of"]), ("+gn", "bf16"))
        self.assertAlmostEqual(effect["speedup"], 1.1, msg="the first bf16 row of batch 128 is the base")

    def test_the_markdown_has_the_table(self):
        rows = [train(CIFAR, "bf16", 1000.0), train(CIFAR, "bf16+join", 1050.0)]
        md = report.markdown("gpu", 1, rows, {}, None, "/nonexistent", report.switch_effects(rows))
        self.assertIn("| cifar10_ncsnpp_continuous | +join | bf16 | 1.05 |", md)


class Measurements(unittest.TestCase):
    def test_a_training_row_names_the_attention_kernel_it_ran(self):
        rows = [train(CIFAR, "bf16", 1000.0), dict(train(CIFAR, "bf16+sdpa", 950.0), sdpa_kernel="flash_attention")]
        md = report.markdown("gpu", 1, rows, {}, None, "/nonexistent", report.switch_effects(rows))
        self.assertIn("| train | bf16+sdpa | batch 8, images_per_s 950, sdpa_kernel flash_attention |", md)


class Profiles(unittest.TestCase):
    def profile(self, sources):
        return {"bench": "profile", "label": "256 eager", "kernel_ms": 100.0, "span_ms": 110.0, "busy_share": 0.9,
                "steps": 2, "groups": {"elementwise": 1.0}, "top": [["add", 10.0, 4]], "sources": sources}

    def md(self, rows):
        return report.markdown("gpu", 1, rows, {}, None, "/nonexistent", [])

    def test_an_eager_trace_names_the_operators_behind_its_kernels(self):
        md = self.md([self.profile([["elementwise", "autograd::engine::evaluate_function: X > aten::add", 8.0, 4],
                                    ["copy/cast", "(no CPU op)", 1.0, 2]])])
        self.assertIn("over 2 steps, the table's ms too", md)
        self.assertIn("| elementwise | 8.0% | 8.00 | 4 | `autograd::engine::evaluate_function: X > aten::add` |", md)
        self.assertIn("| copy/cast | 1.0% | 1.00 | 2 | `(no CPU op)` |", md)

    def test_a_graph_replay_without_launching_operators_has_no_such_table(self):
        md = self.md([self.profile([["elementwise", "(no CPU op)", 8.0, 4]])])
        self.assertIn("## Profile: 256 eager", md)
        self.assertNotIn("by the operators that launched them", md)


class Derived(unittest.TestCase):
    def test_a_max_batch_search_that_never_failed_says_it_stopped_at_its_limit(self):
        def derived(first_failing):
            rows = [{"bench": "max_batch", "batch": 64, "first_failing_batch": first_failing, "limit": 64,
                     "peak_mem_gib": 60.0}]
            return report.compute(rows)
        self.assertTrue(derived(0)["max_batch_1024_is_the_search_limit"])
        self.assertFalse(derived(72)["max_batch_1024_is_the_search_limit"])
        self.assertAlmostEqual(derived(72)["images_per_80gb_1024"], 64 * 80.0 / (60.0 * 1.073741824))

    def test_a_max_batch_search_capped_at_80_gb_measures_the_images_per_80_gb(self):
        rows = [{"bench": "max_batch", "batch": 40, "first_failing_batch": 48, "limit": 64, "peak_mem_gib": 70.0,
                 "memory_cap_gb": 80}]
        self.assertEqual(report.compute(rows)["images_per_80gb_1024"], 40)

    def test_sampling_is_set_against_score_sde_at_its_precision(self):
        rows = [{"bench": "ref_sample", "samplers": {"pc": {"samples_per_s": 20.0}, "ode": {"samples_per_s": 100.0}}}]
        rows += [{"bench": "sample", "sampler": name, "samples_per_s": ips} for name, ips in
                 (("pc_fp32_graph", 30.0), ("pc_tf32_graph", 40.0), ("pc_bf16_graph", 50.0),
                  ("ode_rk45_fp32", 150.0), ("ode_rk45_tf32", 200.0))]
        out = report.compute(rows)
        self.assertAlmostEqual(out["pc_tf32_graph_vs_ref"], 2.0)
        self.assertAlmostEqual(out["pc_bf16_graph_vs_ref"], 2.5)
        self.assertAlmostEqual(out["ode_vs_ref"], 2.0)
        self.assertNotIn("pc_fp32_graph_vs_ref", out, "fp32 against TF32 convolutions is not like for like")


if __name__ == "__main__":
    unittest.main()
