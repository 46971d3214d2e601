#include "eval/pir_eval.h"

#include <algorithm>

#include "pir/matchers.h"

namespace krsie::eval {

namespace {

bool cidr_contains(const pir::Cidr& c, const Address& a) {
  if (c.v6 != a.v6) return false;  // an IPv4 network never matches an IPv6 address (mapped or not)
  for (int bit = 0; bit < c.prefix; ++bit) {
    int byte = bit / 8, shift = 7 - bit % 8;
    if (((c.addr[byte] >> shift) & 1) != ((a.bytes[byte] >> shift) & 1)) return false;
  }
  return true;
}

}  // namespace

bool matcher_holds(const pir::Matcher& m, const Value& v) {
  switch (m.kind) {
    case pir::Matcher::Kind::int_set:
      return std::any_of(m.ints.begin(), m.ints.end(),
                         [&](const pir::IntRange& r) { return r.lo <= v.number && v.number <= r.hi; });
    case pir::Matcher::Kind::flags_all: return (v.number & m.mask) == m.mask;
    case pir::Matcher::Kind::flags_any: return (v.number & m.mask) != 0;
    case pir::Matcher::Kind::boolean: return (v.number != 0) == m.value;
    case pir::Matcher::Kind::path_set:
      return std::any_of(m.paths.begin(), m.paths.end(),
                         [&](const pir::PathPattern& p) { return pir::path_matches(p, v.text); });
    case pir::Matcher::Kind::string_set: return std::find(m.strings.begin(), m.strings.end(), v.text) != m.strings.end();
    case pir::Matcher::Kind::addr_set:
      return std::any_of(m.cidrs.begin(), m.cidrs.end(), [&](const pir::Cidr& c) { return cidr_contains(c, v.addr); });
  }
  return false;
}

bool constraint_holds(const pir::Constraint& c, const Event& e) {
  auto it = e.fields.find(c.field);
  if (it == e.fields.end()) return false;
  return matcher_holds(c.matcher, it->second) != c.negated;
}

bool rule_matches(const pir::Rule& r, const Event& e) {
  if (r.subject) {
    auto exe = e.fields.find("exe");
    if (exe == e.fields.end() || !matcher_holds(*r.subject, exe->second)) return false;
  }
  return std::all_of(r.constraints.begin(), r.constraints.end(),
                     [&](const pir::Constraint& c) { return constraint_holds(c, e); });
}

Verdict evaluate(const pir::Hook& hook, const Event& e) {
  for (const pir::Rule& r : hook.rules)
    if (rule_matches(r, e)) return {r.id, r.decision, r.err > 0 ? r.err : 1};
  return {Verdict::k_posture_rule, hook.posture, 1};
}

}  // namespace krsie::eval
