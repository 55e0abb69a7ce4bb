// A pickle virtual machine for torch.save data: the stack/memo opcodes of protocols 0-5; calls to globals
// go to call_global (torch_pickle_calls.cpp).
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/io/torch_pickle.h"
#include "core/io/torch_pickle_calls.h"

namespace scorch::io::py {

namespace {

class Machine {
 public:
  Machine(const std::string& data, size_t pos, const PersistentLoad& load, const std::string& what)
      : d_(data), pos_(pos), load_(load), what_(what), walk_budget_(64 * data.size() + (size_t{1} << 20)) {}

  Ref run(size_t* end);

 private:
  [[noreturn]] void bad(const std::string& why) const {
    SCORCH_FAIL("{}: malformed pickle at byte {}: {}", what_, op_at_, why);
  }
  const char* take(size_t n) {
    if (n > d_.size() - pos_)
      SCORCH_FAIL("{}: truncated pickle (needs {} more bytes at byte {} of {})", what_, n, pos_, d_.size());
    const char* p = d_.data() + pos_;
    pos_ += n;
    return p;
  }
  uint64_t le(size_t n) {
    const auto* p = reinterpret_cast<const unsigned char*>(take(n));
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
  }
  std::string line() {
    const auto nl = d_.find('\n', pos_);
    if (nl == std::string::npos) SCORCH_FAIL("{}: truncated pickle (unterminated line at byte {})", what_, pos_);
    std::string s = d_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    return s;
  }
  Ref pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) bad("stack underflow");
    Ref v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  Ref& top() {
    if (stack_.empty()) bad("stack underflow");
    return stack_.back();
  }
  std::vector<Ref> pop_mark() {
    if (marks_.empty()) bad("no MARK");
    std::vector<Ref> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  Ref memo_get(int64_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) bad("memo key " + std::to_string(key) + " was never stored");
    return it->second;
  }
  // Python can pickle a list that holds itself (DUP or the memo hand back the container being filled); torch
  // checkpoints never do, and such a value would never be freed and would send every walk over it round
  // forever. So `child` may not go inside `target` when target is reachable from child. The walk's total
  // work is bounded by the input's size, so shared references cannot make reading quadratic.
  void refuse_cycle(const Ref& target, const Ref& child) {
    std::vector<const Value*> todo{child.get()};
    std::unordered_set<const Value*> seen;
    while (!todo.empty()) {
      const Value* v = todo.back();
      todo.pop_back();
      if (v == target.get()) bad("a " + target->describe() + " that contains itself (a recursive structure)");
      if (!seen.insert(v).second) continue;
      if (walk_budget_ == 0) bad("more shared references than a pickle of this size can hold");
      --walk_budget_;
      for (const auto& r : v->items) todo.push_back(r.get());
      for (const auto& [k, x] : v->entries) todo.push_back(k.get()), todo.push_back(x.get());
      if (v->state) todo.push_back(v->state.get());
    }
  }
  void set_items(Ref& target, const std::vector<Ref>& kv) {
    if (target->kind != Kind::Dict) bad("SETITEM(S) on a " + target->describe());
    if (kv.size() % 2) bad("odd number of SETITEMS arguments");
    for (const auto& x : kv) refuse_cycle(target, x);
    for (size_t i = 0; i < kv.size(); i += 2) target->set(kv[i], kv[i + 1]);
  }
  void append_items(Ref& target, const std::vector<Ref>& items) {
    if (target->kind != Kind::List) bad("APPEND(S) on a " + target->describe());
    for (const auto& x : items) refuse_cycle(target, x);
    target->items.insert(target->items.end(), items.begin(), items.end());
  }
  Ref global(const std::string& module, const std::string& name) {
    auto g = std::make_shared<Value>();
    g->kind = Kind::Global;
    g->s = module + "." + name;
    return g;
  }
  Ref call(const Ref& callable, const Ref& args);

  const std::string& d_;
  size_t pos_, op_at_ = 0;
  const PersistentLoad& load_;
  const std::string& what_;
  size_t walk_budget_;  // steps refuse_cycle may still take
  std::vector<Ref> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<int64_t, Ref> memo_;
};

Ref Machine::call(const Ref& callable, const Ref& args) {
  if (callable->kind != Kind::Global) bad("REDUCE on a " + callable->describe());
  if (args->kind != Kind::Tuple) bad("REDUCE arguments are a " + args->describe());
  return call_global(callable->s, args->items, what_);
}

// One opcode per case, kept as a table (clang-format would spread each over three lines).
// clang-format off
Ref Machine::run(size_t* end) {
  for (;;) {
    op_at_ = pos_;
    const auto op = static_cast<unsigned char>(*take(1));
    switch (op) {
      case 0x80: take(1); break;  // PROTO
      case 0x95: take(8); break;  // FRAME
      case '.': {                 // STOP
        Ref result = pop();
        if (!stack_.empty() || !marks_.empty()) bad("values left on the stack at STOP");
        *end = pos_;
        return result;
      }
      case '(': marks_.push_back(stack_.size()); break;
      case '0': pop(); break;
      case '1': pop_mark(); break;
      case '2': stack_.push_back(top()); break;
      case 'N': stack_.push_back(none()); break;
      case 0x88: stack_.push_back(boolean(true)); break;
      case 0x89: stack_.push_back(boolean(false)); break;
      case 'I': {
        const std::string s = line();
        if (s == "01" || s == "00") stack_.push_back(boolean(s == "01"));
        else stack_.push_back(integer(std::stoll(s)));
        break;
      }
      case 'L': {
        std::string s = line();
        if (!s.empty() && s.back() == 'L') s.pop_back();
        stack_.push_back(integer(std::stoll(s)));
        break;
      }
      case 'J': stack_.push_back(integer(static_cast<int32_t>(le(4)))); break;
      case 'K': stack_.push_back(integer(static_cast<int64_t>(le(1)))); break;
      case 'M': stack_.push_back(integer(static_cast<int64_t>(le(2)))); break;
      case 0x8a:    // LONG1
      case 0x8b: {  // LONG4
        const auto n = op == 0x8a ? le(1) : le(4);
        if (n > 8) bad("integer wider than 64 bits");
        uint64_t v = n ? le(n) : 0;
        if (n && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
        stack_.push_back(integer(static_cast<int64_t>(v)));
        break;
      }
      case 'F': stack_.push_back(real(std::stod(line()))); break;
      case 'G': {
        uint64_t bits = 0;
        const auto* p = reinterpret_cast<const unsigned char*>(take(8));
        for (int k = 0; k < 8; ++k) bits = (bits << 8) | p[k];  // big-endian
        double v;
        std::memcpy(&v, &bits, 8);
        stack_.push_back(real(v));
        break;
      }
      case 'X': case 0x8c: case 0x8d: case 'T': case 'U': {  // unicode and py2 str
        const size_t n = op == 'X' || op == 'T' ? le(4) : op == 0x8d ? le(8) : le(1);
        stack_.push_back(str(std::string(take(n), n)));
        break;
      }
      case 'V': stack_.push_back(str(line())); break;
      case 'B': case 'C': case 0x8e: case 0x96: {  // bytes, bytearray
        const size_t n = op == 'B' ? le(4) : op == 'C' ? le(1) : le(8);
        stack_.push_back(bytes(std::string(take(n), n)));
        break;
      }
      case ')': stack_.push_back(tuple({})); break;
      case 't': stack_.push_back(tuple(pop_mark())); break;
      case 0x85: case 0x86: case 0x87: {
        std::vector<Ref> items(op - 0x84);
        for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop();
        stack_.push_back(tuple(std::move(items)));
        break;
      }
      case ']': stack_.push_back(list({})); break;
      case 'l': stack_.push_back(list(pop_mark())); break;
      case 'a': {
        Ref v = pop();
        append_items(top(), {v});
        break;
      }
      case 'e': {
        auto items = pop_mark();
        append_items(top(), items);
        break;
      }
      case '}': stack_.push_back(dict()); break;
      case 'd': {
        auto kv = pop_mark();
        stack_.push_back(dict());
        set_items(top(), kv);
        break;
      }
      case 's': {
        Ref v = pop(), k = pop();
        set_items(top(), {k, v});
        break;
      }
      case 'u': {
        auto kv = pop_mark();
        set_items(top(), kv);
        break;
      }
      case 'c': {
        const std::string module = line();
        stack_.push_back(global(module, line()));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        Ref name = pop(), module = pop();
        if (name->kind != Kind::Str || module->kind != Kind::Str) bad("STACK_GLOBAL needs two strings");
        stack_.push_back(global(module->s, name->s));
        break;
      }
      case 'R': case 0x81: {  // REDUCE, NEWOBJ
        Ref args = pop(), callable = pop();
        stack_.push_back(call(callable, args));
        break;
      }
      case 'b': {  // BUILD
        Ref state = pop();
        refuse_cycle(top(), state);
        top()->state = state;
        break;
      }
      case 'p': memo_[std::stoll(line())] = top(); break;
      case 'q': memo_[static_cast<int64_t>(le(1))] = top(); break;
      case 'r': memo_[static_cast<int64_t>(le(4))] = top(); break;
      case 0x94: memo_[static_cast<int64_t>(memo_.size())] = top(); break;
      case 'g': stack_.push_back(memo_get(std::stoll(line()))); break;
      case 'h': stack_.push_back(memo_get(static_cast<int64_t>(le(1)))); break;
      case 'j': stack_.push_back(memo_get(static_cast<int64_t>(le(4)))); break;
      case 'P': case 'Q': {
        Ref pid = op == 'P' ? str(line()) : pop();
        if (!load_) bad("persistent id without a storage container");
        stack_.push_back(load_(pid));
        break;
      }
      default:
        SCORCH_FAIL("{}: unsupported pickle opcode 0x{:02x} at byte {} (not a torch.save file, or an object torch "
                    "checkpoints do not hold)", what_, op, op_at_);
    }
  }
}
// clang-format on

}  // namespace

Ref unpickle(const std::string& data, size_t* pos, const PersistentLoad& persistent_load, const std::string& what) {
  Machine m(data, *pos, persistent_load, what);
  try {
    return m.run(pos);
  } catch (const std::invalid_argument&) {
    SCORCH_FAIL("{}: malformed number in a text pickle opcode", what);
  } catch (const std::out_of_range&) {
    SCORCH_FAIL("{}: number out of range in a text pickle opcode", what);
  }
}

}  // namespace scorch::io::py
