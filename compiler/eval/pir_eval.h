#pragma once
// A userspace evaluator of the policy IR: the reference semantics both backends must implement.
// An event is the set of field values one call of a hook sees (hook fields, common fields and the
// pseudo-fields is_owner / target_confined); a field missing from the event is absent, and a
// constraint on an absent field is false, negated or not. Used by the differential tests
// (tests/diff/) and, through generic_eval.h, to run the generic backend's maps without a kernel.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "pir/pir.h"

namespace krsie::eval {

// An IP address of an AF_INET (first 4 bytes) or AF_INET6 socket address, network byte order.
struct Address {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};
};

// The value of one field; which member counts depends on the field's type: `number` for
// integers (unsigned, on the field's width: a negative s32 value -1 is 0xffffffff) and booleans
// (0 or 1), `text` for strings and paths (normalized absolute), `addr` for addresses.
struct Value {
  std::uint64_t number = 0;
  std::string text;
  Address addr;
};

struct Event {
  std::map<std::string, Value> fields;  // by field name; absent fields are not in the map
};

// What decided: the first matching rule, or the hook's posture (rule id 0xffffffff).
struct Verdict {
  std::uint32_t rule_id = k_posture_rule;
  pir::Decision decision = pir::Decision::allow;
  int err = 1;
  static constexpr std::uint32_t k_posture_rule = 0xffffffff;
  bool operator==(const Verdict&) const = default;
};

// Whether value `v` is in the set / satisfies the test of `m` (not negated).
bool matcher_holds(const pir::Matcher& m, const Value& v);
// Whether the constraint holds on the event (false when its field is absent).
bool constraint_holds(const pir::Constraint& c, const Event& e);
// Whether every condition of the rule (subject on `exe`, constraints) holds.
bool rule_matches(const pir::Rule& r, const Event& e);
// The hook's decision: first matching rule in order, else the posture.
Verdict evaluate(const pir::Hook& hook, const Event& e);

}  // namespace krsie::eval
