// The counting CPU allocator behind CpuMemoryMeter.
#include "core/cpu_memory_meter.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/alignment.h>
#include <c10/core/impl/alloc_cpu.h>

#include <atomic>

namespace scorch {
namespace {

// Each block carries its size in a header one alignment unit long, so the data pointer is its own context
// (LibTorch's raw_allocate callers require that) and freeing needs no lookup.
class CountingAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) override {
    auto* base = static_cast<char*>(c10::alloc_cpu(n + kHeader));
    *reinterpret_cast<int64_t*>(base) = static_cast<int64_t>(n);
    void* data = base + kHeader;
    const int64_t now = current().fetch_add(static_cast<int64_t>(n)) + static_cast<int64_t>(n);
    int64_t seen = peak().load();
    while (now > seen && !peak().compare_exchange_weak(seen, now)) {
    }
    return {data, data, &release, c10::Device(c10::kCPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }

  static std::atomic<int64_t>& current() {
    static std::atomic<int64_t> bytes{0};
    return bytes;
  }
  static std::atomic<int64_t>& peak() {
    static std::atomic<int64_t> bytes{0};
    return bytes;
  }

 private:
  static constexpr size_t kHeader = c10::gAlignment;

  static void release(void* data) {
    if (data == nullptr) return;
    auto* base = static_cast<char*>(data) - kHeader;
    current().fetch_sub(*reinterpret_cast<int64_t*>(base));
    c10::free_cpu(base);
  }
};

// Above the default CPU allocator's priority (0), so nothing installed by default replaces the meter.
constexpr uint8_t kMeterPriority = 100;

CountingAllocator& counting() {
  static auto* allocator = [] {
    auto* a = new CountingAllocator();
    c10::SetCPUAllocator(a, kMeterPriority);
    return a;
  }();
  return *allocator;
}

}  // namespace

CpuMemoryMeter::CpuMemoryMeter() { counting(); }

CpuMemoryMeter& CpuMemoryMeter::instance() {
  static CpuMemoryMeter meter;
  return meter;
}

int64_t CpuMemoryMeter::current_bytes() const { return CountingAllocator::current().load(); }
int64_t CpuMemoryMeter::peak_bytes() const { return CountingAllocator::peak().load(); }
void CpuMemoryMeter::reset_peak() { CountingAllocator::peak().store(CountingAllocator::current().load()); }

}  // namespace scorch
