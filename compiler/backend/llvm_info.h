#pragma once
// What the LLVM library behind the specialized backend provides (for --version and checks).

#include <string>

namespace krsie::backend {

// "LLVM 19.x.y, BPF target: bpfel (available)" and similar, one line.
std::string llvm_description();

// Registers LLVM's BPF target (once per process; thread-safe).
void initialize_bpf_target();

// True when LLVM's BPF target can be looked up (it must be, to emit code).
bool bpf_target_available();

}  // namespace krsie::backend
