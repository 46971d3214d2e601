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

namespace {

void append_matcher(std::string& s, const Matcher& m, const Type& type) {
  switch (m.kind) {
    case Matcher::Kind::int_set:
      s += "in {";
      for (std::size_t i = 0; i < m.ints.size(); ++i) {
        if (i) s += ", ";
        s += int_text(m.ints[i].lo, type);
        if (m.ints[i].lo != m.ints[i].hi) {
          s += "..";
          s += int_text(m.ints[i].hi, type);
        }
      }
      s += '}';
      return;
    case Matcher::Kind::addr_set:
      s += "in {";
      for (std::size_t i = 0; i < m.cidrs.size(); ++i) {
        if (i) s += ", ";
        s += m.cidrs[i].text();
      }
      s += '}';
      return;
    case Matcher::Kind::path_set:
      s += "in {";
      for (std::size_t i = 0; i < m.paths.size(); ++i) {
        const PathPattern& p = m.paths[i];
        if (i) s += ", ";
        s += p.kind == PathPattern::Kind::exact ? "exact " : p.kind == PathPattern::Kind::subtree ? "subtree " : "glob ";
        append_quoted(s, p.text);
      }
      s += '}';
      return;
    case Matcher::Kind::string_set:
      s += "in {";
      for (std::size_t i = 0; i < m.strings.size(); ++i) {
        if (i) s += ", ";
        append_quoted(s, m.strings[i]);
      }
      s += '}';
      return;
    case Matcher::Kind::flags_all: s += "has-all " + hex(m.mask); return;
    case Matcher::Kind::flags_any: s += "has-any " + hex(m.mask); return;
    case Matcher::Kind::boolean: s += m.value ? "is true" : "is false"; return;
  }
  s += '?';
}

}  // namespace

std::string matcher_text(const Matcher& m, const Type& type) {
  std::string s;
  append_matcher(s, m, type);
  return s;
}

std::string constraint_text(const Constraint& c) {
  std::string s = c.field;
  s += c.negated ? " not " : " ";
  append_matcher(s, c.matcher, c.type);
  return s;
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
