#include "pir/print.h"

#include <cstdio>
#include <sstream>

#include "support/text.h"

#include "sema/hook_catalog.h"

namespace krsie::pir {

namespace {


std::string int_text(std::uint64_t v, const Type& type) {
  if (type.unit != Unit::none && type.unit != Unit::port && type.unit != Unit::uid && type.unit != Unit::gid &&
      type.unit != Unit::pid && type.unit != Unit::mode) {
    for (const hooks::Constant& c : hooks::constants())
      if (c.unit == type.unit && static_cast<std::uint64_t>(c.value) == v) return std::string(c.name);
  }
  if (type.unit == Unit::mode) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0o%llo", static_cast<unsigned long long>(v));
    return buf;
  }
  return std::to_string(v);
}

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

std::string matcher_text(const Matcher& m, const Type& type) {
  std::string s;
  switch (m.kind) {
    case Matcher::Kind::int_set:
      for (const IntRange& r : m.ints)
        s += (s.empty() ? "" : ", ") + (r.lo == r.hi ? int_text(r.lo, type) : int_text(r.lo, type) + ".." + int_text(r.hi, type));
      return "in {" + s + "}";
    case Matcher::Kind::addr_set:
      for (const Cidr& c : m.cidrs) s += (s.empty() ? "" : ", ") + c.text();
      return "in {" + s + "}";
    case Matcher::Kind::path_set:
      for (const PathPattern& p : m.paths) {
        const char* kind = p.kind == PathPattern::Kind::exact ? "exact " : p.kind == PathPattern::Kind::subtree ? "subtree " : "glob ";
        s += (s.empty() ? "" : ", ") + std::string(kind) + quote(p.text);
      }
      return "in {" + s + "}";
    case Matcher::Kind::string_set:
      for (const std::string& str : m.strings) s += (s.empty() ? "" : ", ") + quote(str);
      return "in {" + s + "}";
    case Matcher::Kind::flags_all: return "has-all " + hex(m.mask);
    case Matcher::Kind::flags_any: return "has-any " + hex(m.mask);
    case Matcher::Kind::boolean: return m.value ? "is true" : "is false";
  }
  return "?";
}

std::string constraint_text(const Constraint& c) {
  return c.field + (c.negated ? " not " : " ") + matcher_text(c.matcher, c.type);
}

void print(const PolicySet& set, std::ostream& out, const PrintOptions& options) {
  for (const Policy& p : set.policies) {
    out << "policy " << p.name << " mode=" << (p.mode == Mode::enforce ? "enforce" : "audit") << "\n";
    for (const Target& t : p.targets) {
      if (t.kind == Target::Kind::cgroup) {
        out << "  target cgroup " << quote(t.cgroup_path) << "\n";
        continue;
      }
      out << "  target pod";
      if (!t.pod_namespace.empty()) out << " namespace=" << quote(t.pod_namespace);
      if (!t.labels.empty()) {
        out << " labels={";
        bool first = true;
        for (auto& [k, v] : t.labels) {
          out << (first ? "" : ", ") << k << "=" << quote(v);
          first = false;
        }
        out << "}";
      }
      if (!t.container.empty()) out << " container=" << quote(t.container);
      out << "\n";
    }
    out << "  posture";
    for (auto& [domain, posture] : p.postures)
      out << " " << domain << "=" << decision_name(posture.decision) << (posture.stated ? "" : "(default)");
    out << "\n";
    for (const Hook& h : p.hooks) {
      out << "  hook " << h.name << " posture=" << decision_name(h.posture) << " rules=" << h.rules.size() << "\n";
      for (const Rule& r : h.rules) {
        out << "    rule " << r.id << " " << decision_name(r.decision);
        if (r.decision == Decision::deny || r.decision == Decision::kill) out << " errno=" << int_text(r.err, Type::integer(32, false, Unit::errno_value));
        out << "\n";
        if (r.subject) out << "      subject exe " << matcher_text(*r.subject, Type::path()) << "\n";
        if (r.constraints.empty()) out << "      always\n";
        for (const Constraint& c : r.constraints) out << "      " << constraint_text(c) << "\n";
      }
    }
    if (options.locations) {
      out << "  rule-table\n";
      for (const RuleInfo& info : p.rule_table) {
        out << "    " << info.id << ":";
        for (const SourceRange& o : info.origins) {
          auto lc = o.file->line_col(o.begin);
          out << " " << o.file->name() << ":" << lc.line << ":" << lc.column;
        }
        if (!info.message.empty()) out << " message=" << quote(info.message);
        if (!info.tag.empty()) out << " tag=" << quote(info.tag);
        out << "\n";
      }
    }
  }
}

}  // namespace krsie::pir
