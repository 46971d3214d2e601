#pragma once
// The typed policy IR (PIR): what both backends consume. Source spelling is gone: every policy is
// a set of hook programs, each an ordered list of decision rules whose conditions are
// conjunctions of typed, normalized constraints on hook fields. Rule order is evaluation order
// (first match wins) and encodes the documented precedence:
//
//   1. rules of a `from` block (subject = the running binary) before policy-wide rules,
//   2. then by decision: kill, deny, audit, allow,
//   3. then by a canonical order of the rule's content (not source order: different spellings of
//      a policy must compile identically). Rules at equal precedence share the decision, so the
//      order only picks which errno/message applies when two of them overlap.
//
// When no rule matches, the hook's posture decides.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sema/types.h"
#include "support/source.h"

namespace krsie::pir {

enum class Decision : std::uint8_t { allow, audit, deny, kill };
enum class Mode : std::uint8_t { enforce, audit };

const char* decision_name(Decision d);
// Precedence rank: higher wins at equal subject specificity.
int decision_rank(Decision d);

struct IntRange {
  std::uint64_t lo;
  std::uint64_t hi;  // inclusive
  auto operator<=>(const IntRange&) const = default;
};

struct Cidr {
  bool v6 = false;
  std::array<std::uint8_t, 16> addr{};  // network byte order, host bits zero; v4 in the first 4
  std::uint8_t prefix = 0;
  auto operator<=>(const Cidr&) const = default;
  std::string text() const;
};

struct PathPattern {
  enum class Kind : std::uint8_t { exact, subtree, glob };  // subtree: "/dir/**" (dir and below)
  Kind kind = Kind::exact;
  std::string text;  // normalized: absolute, no "//", no "." or ".." components
  auto operator<=>(const PathPattern&) const = default;
};

// One typed test on one field value. Sets are sorted, deduplicated and merged.
struct Matcher {
  enum class Kind : std::uint8_t { int_set, addr_set, path_set, string_set, flags_all, flags_any, boolean };
  Kind kind = Kind::int_set;
  std::vector<IntRange> ints;
  std::vector<Cidr> cidrs;
  std::vector<PathPattern> paths;
  std::vector<std::string> strings;
  std::uint64_t mask = 0;  // flags_all / flags_any
  bool value = false;      // boolean
  auto operator<=>(const Matcher&) const = default;
};

struct Constraint {
  std::string field;  // a field of the hook (or a common field), see sema/hook_catalog.h
  Type type;
  bool negated = false;
  Matcher matcher;
  auto operator<=>(const Constraint& o) const {
    if (auto c = field <=> o.field; c != 0) return c;
    if (auto c = negated <=> o.negated; c != 0) return c;
    return matcher <=> o.matcher;
  }
  bool operator==(const Constraint& o) const { return (*this <=> o) == 0; }
};

struct Rule {
  std::uint32_t id = 0;  // index into Policy::rule_table
  Decision decision = Decision::deny;
  int err = 1;  // errno returned on deny/kill (EPERM by default)
  std::optional<Matcher> subject;        // path_set of the running binary (from blocks)
  std::vector<Constraint> constraints;   // all must hold; sorted by field
};

struct Hook {
  std::string name;  // LSM hook, e.g. "socket_connect"
  Decision posture = Decision::allow;
  std::vector<Rule> rules;  // evaluation order
};

// Where a rule id came from: every source rule that was lowered into it.
struct RuleInfo {
  std::uint32_t id = 0;
  std::vector<SourceRange> origins;
  std::string message;
  std::string tag;
};

struct Target {
  enum class Kind : std::uint8_t { cgroup, pod };
  Kind kind = Kind::cgroup;
  std::string cgroup_path;
  std::string pod_namespace;                   // empty: any
  std::map<std::string, std::string> labels;   // matchLabels
  std::string container;                       // empty: any
  SourceRange origin;
  auto operator<=>(const Target& o) const {
    return std::tie(kind, cgroup_path, pod_namespace, labels, container) <=>
           std::tie(o.kind, o.cgroup_path, o.pod_namespace, o.labels, o.container);
  }
  bool operator==(const Target& o) const { return (*this <=> o) == 0; }
};

// Posture of one domain (file, exec, network, ...): stated in the source or the default.
struct Posture {
  Decision decision = Decision::allow;
  bool stated = false;
};

struct Policy {
  std::string name;
  Mode mode = Mode::enforce;
  std::vector<Target> targets;              // sorted, deduplicated
  std::map<std::string, Posture> postures;  // by domain name
  std::vector<Hook> hooks;                  // sorted by hook name; only hooks with rules or a non-allow posture
  std::vector<RuleInfo> rule_table;
  SourceRange origin;
};

struct PolicySet {
  std::vector<Policy> policies;  // in source order
};

}  // namespace krsie::pir
