#pragma once
// Runs what the generic backend emits without a kernel: decodes the map entries of a
// GenericPolicy (layouts of krsie_abi.h) and mirrors, in userspace, what the templates'
// evaluation machinery (bpf-templates/include/krsie_eval.bpf.h) does with them: field
// extraction into the field vector (path automata walked leaf first like walk_component and
// path_mask, LPM lookups for addresses, exact string lookups), then the map-driven rule loop
// (constraint_holds / eval_rule / decide).
//
// Not modelled: krsie_inodes (exact-path rules matched through the file's inode identity, filled
// by the loader from the live filesystem). In userspace a file has one name, and the path
// automaton accepts exact paths too, so the inode table adds nothing; it is ignored. Mount
// crossings are not modelled either (a path is one string).

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "backend/generic.h"
#include "eval/pir_eval.h"

namespace krsie::eval {

// struct krsie_eval's v[] and present, as the programs compute them.
struct FieldVector {
  std::array<std::uint64_t, 24> v{};
  std::uint32_t present = 0;
  bool path_too_deep = false;
  void set(std::uint32_t f, std::uint64_t value) {
    if (f < v.size()) {
      v[f] = value;
      present |= 1u << f;
    }
  }
};

// The decision the generic programs reach: rule id, enum krsie_decision, errno.
struct MapVerdict {
  std::uint32_t rule_id = 0xffffffff;
  std::uint8_t decision = 0;
  std::int32_t err = 1;
};

class GenericMaps {
 public:
  explicit GenericMaps(const backend::GenericPolicy& g);
  ~GenericMaps();
  GenericMaps(const GenericMaps&) = delete;
  GenericMaps& operator=(const GenericMaps&) = delete;

  // Whether the policy uses the hook (krsie_hooks has a `used` entry for it).
  bool uses(const std::string& hook) const;
  // The field vector the hook's program computes for `e` (krsie_fields_<hook> + common_fields).
  // Integer values of the event are on the field's width; the programs sign-extend the
  // hook-specific signed fields to 64 bits (`(__u64)(__s64)`), and so does this.
  FieldVector fields(const std::string& hook, const Event& e) const;
  // The map-driven rule loop over `fv` (decide() without its side effects).
  MapVerdict decide(const std::string& hook, const FieldVector& fv) const;

 private:
  struct Tables;
  std::unique_ptr<Tables> t_;
};

}  // namespace krsie::eval
