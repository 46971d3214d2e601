#pragma once
// The generic backend: lowers one PIR policy into the contents of the maps that drive the
// precompiled templates of bpf-templates/generic.bpf.c, and packages template + map contents +
// metadata into one policy.o (format: docs/policy-object.md).

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "pir/pir.h"
#include "sema/hook_catalog.h"
#include "support/diagnostics.h"

namespace krsie::backend {

// One map entry, as raw bytes in the ABI layout of krsie_abi.h.
struct MapEntry {
  std::string map;
  std::vector<std::uint8_t> key;
  std::vector<std::uint8_t> value;
};

struct GenericPolicy {
  std::string name;
  bool enforce = true;
  std::vector<std::string> programs;           // template programs to load (used hooks), sorted
  std::vector<MapEntry> entries;               // deterministic order
  std::map<std::string, std::uint32_t> map_sizes;  // max_entries the loader must set
  // Exact paths whose inode the loader resolves into krsie_inodes (table = hook << 8 | field).
  struct InodePath {
    std::uint32_t table;
    std::uint32_t bit;
    std::string path;
  };
  std::vector<InodePath> inode_paths;
  // Human-readable dump of every entry (for --emit=maps), one line each.
  std::vector<std::string> dump;
};

// The ABI id (enum krsie_hook) of a hook that has a generic template, or nullopt.
std::optional<std::uint32_t> hook_abi_id(const std::string& hook);

// Index of a hook field (or common/pseudo field) in the field vector (struct krsie_eval v[],
// krsie_abi.h), or nullopt. Shared by both backends.
std::optional<std::uint32_t> field_index(const hooks::Hook& hook, const std::string& field);

// The ranges of an int_set constraint on field vector slot `slot` as the programs must compare
// them. PIR integers are unsigned on the field's width (an s32 -1 is 4294967295), but the programs
// sign-extend the hook-specific signed fields to 64 bits (`(__u64)(__s64)`, krsie_eval.bpf.h), so
// the part of a range at or above the field's sign bit moves to the top of the u64 range. Common
// fields (zero-extended) and unsigned fields keep their ranges. Shared by both backends.
std::vector<pir::IntRange> vector_ranges(const Type& type, std::uint32_t slot, const std::vector<pir::IntRange>& ranges);

// The ABI code (enum krsie_decision) of a PIR decision; shared by both backends.
std::uint8_t decision_code(pir::Decision d);

// Lowers `policy`; reports what the generic backend cannot express (a hook without a template,
// too many sets or constraints) at the policy's rules. nullopt after an error.
struct LowerOptions {
  // Accept hooks without a generic program (the LLVM backend lowers its set tables this way);
  // hook configurations then ask for every common field and have no prefilter (the tables hold
  // only the set constraints of the LLVM backend's rules).
  bool llvm_only_hooks = false;
};
std::optional<GenericPolicy> lower_generic(const pir::Policy& policy, DiagnosticEngine& diags,
                                          const LowerOptions& options = {});

// --emit=maps: the entries as stable text.
void print_maps(const GenericPolicy& g, std::ostream& out);

// The `format` of the metadata JSON: "krsie-policy-2" objects keep what the loader needs in the
// loader table (.krsie.load) and the descriptive metadata in .krsie.meta (docs/policy-object.md).
// Not a policy hook's program: it makes the programs' path memo forget an inode when a new dentry
// appears for it (lsm/d_instantiate). Loaded with every program that remembers path walks.
inline constexpr const char* k_forget_program = "krsie_d_instantiate";  // KRSIE_FORGET_PROGRAM

inline constexpr const char* k_metadata_format = "krsie-policy-2";

// Metadata (JSON) stored in policy.o: name, mode, targets, programs, map sizes, rule table with
// source locations (for `krsie-load events` and `show`; the loader reads the loader table).
// Deterministic (sorted keys).
// `backend` is "generic" or "llvm" (the object's code: templates or specialized programs).
std::string policy_metadata(const pir::Policy& policy, const GenericPolicy& g, const std::string& compiler_version,
                            const std::string& backend = "generic");

// The loader table (.krsie.load section): the binary form of what krsie-load needs to load or
// replace the policy (ABI, name, mode, backend, cgroup targets, programs, rule count, the exact
// paths whose inodes it resolves), so that it never parses the JSON. Format: docs/policy-object.md.
std::vector<std::uint8_t> loader_table(const pir::Policy& policy, const GenericPolicy& g,
                                       const std::string& compiler_version, const std::string& backend = "generic");

// Serializes the map entries (the .krsie.maps section format).
std::vector<std::uint8_t> serialize_entries(const GenericPolicy& g);

// The sections krsiec adds to the code: .krsie.meta, .krsie.load and .krsie.maps.
struct PolicySections {
  std::string metadata;
  std::vector<std::uint8_t> loader_table;
  std::vector<std::uint8_t> maps;
};
// All three for `policy` lowered to `g`.
PolicySections policy_sections(const pir::Policy& policy, const GenericPolicy& g, const std::string& compiler_version,
                               const std::string& backend = "generic");

// Writes policy.o: the generic template ELF with the policy's sections added. Writes to a
// temporary file and renames it into place, so no partial object is ever left at `path`.
// Returns an error message, or "" on success.
std::string write_policy_object(const std::string& path, const PolicySections& sections);
// The same with another BPF ELF as the code (the LLVM backend's object).
std::string write_policy_object(const std::string& path, const std::vector<std::uint8_t>& elf_bytes,
                                const PolicySections& sections);

}  // namespace krsie::backend
