// AutocastGuard: set, nest and restore the autocast state of a device type; AutocastCacheOff.
#include "core/autocast.h"

#include <ATen/autocast_mode.h>

namespace scorch {

AutocastGuard::AutocastGuard(c10::DeviceType type, bool enabled, at::ScalarType dtype)
    : type_(type),
      was_enabled_(at::autocast::is_autocast_enabled(type)),
      was_dtype_(at::autocast::get_autocast_dtype(type)) {
  at::autocast::set_autocast_enabled(type, enabled);
  at::autocast::set_autocast_dtype(type, dtype);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(type_, was_enabled_);
  at::autocast::set_autocast_dtype(type_, was_dtype_);
}

AutocastCacheOff::AutocastCacheOff() : was_(at::autocast::is_autocast_cache_enabled()) {
  at::autocast::set_autocast_cache_enabled(false);
}

AutocastCacheOff::~AutocastCacheOff() { at::autocast::set_autocast_cache_enabled(was_); }

}  // namespace scorch
