#pragma once
// The LLVM backend's rule chain compiled for the host: the same emit_rule_chain the BPF programs
// are generated with (codegen.cpp), in a host module JIT-compiled with ORC, so that the
// differential tests (tests/diff/) can run the generated decision logic (rule order, folded
// constants, set bits) on field vectors without loading anything into a kernel. No LLVM header
// here. Host modules only: this never runs the BPF CO-RE pass, so it may share a process with
// anything but compile_llvm (docs/llvm-backend.md).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/llvm/codegen_types.h"

namespace krsie::backend {

class HostRules {
 public:
  // Compiles `decide_<hook>(ptr v /*u64[24]*/, i32 present)` for every hook into one JIT
  // session. nullptr with `error` set when LLVM fails.
  static std::unique_ptr<HostRules> compile(const std::vector<llvmbe::HookCode>& hooks, std::string* error);
  ~HostRules();
  HostRules(const HostRules&) = delete;
  HostRules& operator=(const HostRules&) = delete;

  // (rule_id << 8 | decision) of the hook's chain on field vector `v` (24 slots) with presence
  // bits `present`; nullopt when the hook was not compiled.
  std::optional<std::uint64_t> decide(const std::string& hook, const std::uint64_t* v, std::uint32_t present) const;

 private:
  HostRules();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  using Fn = std::uint64_t (*)(const std::uint64_t*, std::uint32_t);
  std::map<std::string, Fn> fns_;
};

}  // namespace krsie::backend
