#pragma once
// The precompiled BPF-LSM template objects, embedded at build time (see cmake/KrsieBpf.cmake).

#include <cstddef>
#include <span>
#include <string_view>

namespace krsie::templates {

struct Template {
  std::string_view name;               // source file name without .bpf.c, e.g. "file"
  std::span<const unsigned char> elf;  // the BPF ELF object (LLVM bitcode when `bitcode`)
  bool bitcode = false;                // a library the LLVM backend links (llvm_runtime), not an object
};

// Every embedded template, in build order.
std::span<const Template> all();

// The template called `name`, or nullptr.
inline const Template* find(std::string_view name) {
  for (const Template& t : all())
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace krsie::templates
