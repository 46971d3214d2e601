// PIR -> HookCode: rules resolved to field vector slots and set bits (see lowering.h).
#include "backend/llvm/lowering.h"

#include <algorithm>
#include <cstring>

namespace krsie::backend::llvmbe {

namespace {

bool is_set(pir::Matcher::Kind k) {
  return k == pir::Matcher::Kind::addr_set || k == pir::Matcher::Kind::path_set || k == pir::Matcher::Kind::string_set;
}

}  // namespace

std::optional<SetTables> set_tables(const pir::Policy& policy, DiagnosticEngine& diags) {
  pir::Policy sets = policy;
  for (pir::Hook& h : sets.hooks) {
    std::vector<pir::Rule> kept;
    for (pir::Rule& r : h.rules) {
      std::vector<pir::Constraint> cs;
      for (const pir::Constraint& c : r.constraints)
        if (is_set(c.matcher.kind)) cs.push_back(c);
      r.constraints = std::move(cs);
      if (r.subject || !r.constraints.empty()) kept.push_back(std::move(r));
    }
    h.rules = std::move(kept);
  }
  auto g = lower_generic(sets, diags, LowerOptions{.llvm_only_hooks = true});
  if (!g) return std::nullopt;
  SetTables out;
  out.maps.name = g->name;
  out.maps.enforce = g->enforce;
  out.maps.programs = g->programs;
  out.maps.map_sizes = g->map_sizes;
  out.maps.map_sizes["krsie_rules"] = 1;
  out.maps.inode_paths = g->inode_paths;
  for (const MapEntry& e : g->entries) {
    if (e.map == "krsie_rules") {
      krsie_rule_key key;
      krsie_rule_entry entry;
      std::memcpy(&key, e.key.data(), sizeof key);
      std::memcpy(&entry, e.value.data(), sizeof entry);
      out.entries.emplace(std::make_pair(key.hook, entry.rule_id), entry);
      continue;
    }
    out.maps.entries.push_back(e);
  }
  for (const std::string& line : g->dump)
    if (line.rfind("krsie_rules ", 0) != 0) out.maps.dump.push_back(line);
  return out;
}

std::optional<std::vector<HookCode>> hook_code(const pir::Policy& policy, const SetTables& tables,
                                               btf::LazyKernelTypes& kernel, DiagnosticEngine& diags) {
  std::vector<HookCode> hooks;
  bool ok = true;
  for (const pir::Hook& h : policy.hooks) {
    const hooks::Hook& catalogue = *hooks::find(h.name);
    HookCode hc;
    hc.name = h.name;
    hc.abi_id = *hook_abi_id(h.name);
    hc.posture = decision_code(h.posture);
    hc.origin = h.rules.empty() ? policy.origin : rule_origin(policy, h.rules.front().id);
    for (const pir::Rule& r : h.rules) {
      RuleCode rc;
      rc.id = r.id;
      rc.decision = decision_code(r.decision);
      rc.err = r.err;
      rc.origin = rule_origin(policy, r.id);
      const krsie_rule_entry* entry = nullptr;
      if (auto it = tables.entries.find({hc.abi_id, r.id}); it != tables.entries.end()) entry = &it->second;
      if (r.subject) {
        rc.subject_bit = entry ? entry->subject_bit : 0;
        hc.needs_common = true;
      }
      std::size_t set_index = 0;
      for (const pir::Constraint& c : r.constraints) {
        ConstraintCode cc;
        if (btf::is_kernel_field(c.field)) {
          // A typed hook argument chain: the program reads it (one slot per distinct chain).
          auto known = std::find_if(hc.kernel_reads.begin(), hc.kernel_reads.end(),
                                    [&](const KernelRead& k) { return k.field.text == c.field; });
          if (known == hc.kernel_reads.end()) {
            std::string error;
            const btf::KernelTypes* types = kernel.get(error);
            std::optional<btf::KernelField> f;
            if (types) f = types->resolve(catalogue, c.field, error);
            if (!f) {
              diags.error(rc.origin, "LLVM backend: " + error);
              ok = false;
              continue;
            }
            hc.kernel_reads.push_back({k_kernel_slot + static_cast<std::uint32_t>(hc.kernel_reads.size()), std::move(*f)});
            known = hc.kernel_reads.end() - 1;
          }
          cc.field = known->slot;
        } else {
          cc.field = *field_index(catalogue, c.field);
        }
        if (cc.field >= KRSIE_F_COMMON) hc.needs_common = true;
        cc.negated = c.negated;
        cc.kind = c.matcher.kind;
        cc.ints = vector_ranges(c.type, cc.field, c.matcher.ints);
        cc.mask = c.matcher.mask;
        cc.value = c.matcher.value;
        if (is_set(c.matcher.kind) && entry) cc.bit = entry->c[set_index++].arg;
        rc.constraints.push_back(std::move(cc));
      }
      hc.rules.push_back(std::move(rc));
    }
    hooks.push_back(std::move(hc));
  }
  if (!ok) return std::nullopt;
  return hooks;
}


}  // namespace krsie::backend::llvmbe
