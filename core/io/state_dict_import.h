// Shared by the checkpoint importers (score_sde_pytorch's dict, NCSN/NCSNv2's list): the network's
// parameters as the reference orders them, and readers of a state_dict and of an Adam state_dict that check
// every tensor against them and name each mismatch.
#pragma once
#include <torch/torch.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/io/py_value.h"
#include "core/io/score_sde_checkpoint.h"

namespace scorch::io::state_import {

struct Param {
  std::string name;
  torch::Tensor tensor;
  bool trainable;
};

// The network `config` builds: its parameters in registration order (= the reference's) and every
// parameter and buffer by name.
struct Network {
  std::vector<Param> params;
  std::map<std::string, torch::Tensor> tensors;
};
Network network_of(const Config& config);
// The same for a network already built.
Network network_of(torch::nn::Module& model);

// Collects every mismatch of one section, then throws once naming them all.
class Problems {
 public:
  void missing(std::string n) { missing_.push_back(std::move(n)); }
  void extra(std::string n) { extra_.push_back(std::move(n)); }
  void wrong(const std::string& n, const torch::Tensor& got, const torch::Tensor& want);
  void check(const std::string& path, const std::string& section) const;

 private:
  std::vector<std::string> missing_, extra_, wrong_;
};

// An int, or a one-element tensor holding a whole number (torch >= 1.12 stores Adam's step as a float tensor).
int64_t whole_number(const py::Ref& v, const std::string& path, const std::string& where);
double number(const py::Ref& v, const std::string& path, const std::string& where);
void warn_if_differs(const std::string& what, double file, double config);
// Every key of `d` must be one of `known`; a checkpoint with more than its writer writes is not silently trimmed.
void only_keys(const py::Ref& d, const std::set<std::string>& known, const std::string& path, const std::string& where);
py::Ref need(const py::Ref& d, const std::string& key, py::Kind kind, const std::string& path,
             const std::string& where);

// A (possibly DataParallel "module."-prefixed) state_dict against the network's tensors; sets *prefixed.
std::map<std::string, torch::Tensor> import_model(const py::Ref& m, const std::map<std::string, torch::Tensor>& want,
                                                  const std::string& path, bool* prefixed);
// What every importer checks once the tensors are read: the file's noise-level buffer `sigmas` (NCSN++, DDPM,
// NCSNv2) against the one the config's network builds (another VE ladder of the same shape is refused; VP and
// sub-VP networks never read it: a warning), and NaN or infinite values in the model's or the EMA's tensors (a
// warning naming them).
void check_imported(const io::CheckpointTensors& t, const std::map<std::string, torch::Tensor>& want,
                    const Config& config, const std::string& path);
// torch.optim.Adam's state_dict (one group over all parameters) into out.tensors.optimizer and
// out.source["optimizer"], warning where its settings differ from the config's.
void import_optimizer(const py::Ref& o, const std::vector<Param>& params, const Config& config, const std::string& path,
                      ScoreSdeCheckpoint& out);

}  // namespace scorch::io::state_import
