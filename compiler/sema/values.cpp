// Name tables and value checking: `let` expansion, integer/unit checks, CIDRs, paths, strings.
#include <algorithm>
#include <map>

#include "pir/matchers.h"
#include "sema/lower_internal.h"

namespace krsie::sema::detail {

namespace {
const std::map<std::string, std::pair<Unit, long long>>& words();
// Built-in words (tcp, inet, ...) and the short spellings of capabilities and signals (sys_admin,
// term): a `let` of the same name would silently change what a rule means.
bool is_word(const std::string& name) {
  if (words().count(name) != 0) return true;
  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  const hooks::Constant* cap = hooks::find_constant("CAP_" + upper);
  const hooks::Constant* sig = hooks::find_constant("SIG" + upper);
  return (cap && cap->unit == Unit::capability) || (sig && sig->unit == Unit::signal);
}
}  // namespace

Symbols::Symbols(const Program& program, DiagnosticEngine& diags) {
  for (const ast::Module* m : program.modules) {
    for (const ast::Let* l : m->lets) {
      auto [it, fresh] = lets_.emplace(l->name.text, l);
      if (!fresh)
        diags.error(l->name.range, "redefinition of '" + l->name.text + "'")
            .note(it->second->name.range, "previous definition is here");
      else if (hooks::find_constant(l->name.text) || is_word(l->name.text))
        diags.error(l->name.range, "'" + l->name.text + "' is a built-in name and cannot be redefined");
    }
    for (const ast::Ruleset* r : m->rulesets) {
      auto [it, fresh] = rulesets_.emplace(r->name.text, r);
      if (!fresh)
        diags.error(r->name.range, "redefinition of ruleset '" + r->name.text + "'")
            .note(it->second->name.range, "previous definition is here");
    }
  }
}

const ast::Let* Symbols::let(const std::string& name) const {
  auto it = lets_.find(name);
  return it == lets_.end() ? nullptr : it->second;
}
const ast::Ruleset* Symbols::ruleset(const std::string& name) const {
  auto it = rulesets_.find(name);
  return it == rulesets_.end() ? nullptr : it->second;
}
std::vector<std::string> Symbols::let_names() const {
  std::vector<std::string> out;
  for (auto& [n, _] : lets_) out.push_back(n);
  return out;
}
std::vector<std::string> Symbols::ruleset_names() const {
  std::vector<std::string> out;
  for (auto& [n, _] : rulesets_) out.push_back(n);
  return out;
}

std::string ValueChecker::did_you_mean(const std::string& name, const std::vector<std::string>& candidates) {
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
  };
  std::string a = lower(name);
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, a.size() / 3) + 1;
  for (const std::string& c : candidates) {
    std::string b = lower(c);
    if (b.size() > a.size() + best_d || a.size() > b.size() + best_d) continue;
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j)
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
      std::swap(prev, cur);
    }
    if (prev[b.size()] < best_d) {
      best_d = prev[b.size()];
      best = c;
    }
  }
  return best;
}

bool ValueChecker::flatten(const ast::Value* v, std::vector<const ast::Value*>& out) {
  std::size_t before = out.size();
  bool ok = flatten_into(v, out, v);
  if (!ok) out.resize(before);
  return ok;
}

bool ValueChecker::flatten_into(const ast::Value* v, std::vector<const ast::Value*>& out, const ast::Value* top) {
  if (!v) return false;
  if (out.size() > k_max_values) return false;  // already reported
  if (v->kind == ast::Value::Kind::list) {
    bool ok = true;
    for (const ast::Value* item : static_cast<const ast::ListValue*>(v)->items) {
      ok = flatten_into(item, out, top) && ok;
      if (out.size() > k_max_values) return false;
    }
    return ok;
  }
  if (v->kind == ast::Value::Kind::name) {
    const std::string& name = static_cast<const ast::NameValue*>(v)->name;
    if (const ast::Let* let = symbols_.let(name)) {
      if (std::find(resolving_.begin(), resolving_.end(), name) != resolving_.end()) {
        diags_.error(v->range, "'" + name + "' is defined in terms of itself").note(let->name.range, "defined here");
        return false;
      }
      resolving_.push_back(name);
      bool ok = flatten_into(let->value, out, top);
      resolving_.pop_back();
      return ok;
    }
  }
  out.push_back(v);
  if (out.size() > k_max_values) {
    diags_.error(top->range, "this value expands to more than " + std::to_string(k_max_values) + " values");
    return false;
  }
  return true;
}

namespace {

// Words accepted for unit-typed integers besides the constants (AF_INET): `inet`, `tcp`, ...
const std::map<std::string, std::pair<Unit, long long>>& words() {
  static const std::map<std::string, std::pair<Unit, long long>> w = {
      {"unix", {Unit::family, 1}},      {"inet", {Unit::family, 2}},       {"inet6", {Unit::family, 10}},
      {"netlink", {Unit::family, 16}},  {"packet", {Unit::family, 17}},    {"stream", {Unit::socket_type, 1}},
      {"dgram", {Unit::socket_type, 2}}, {"raw", {Unit::socket_type, 3}},  {"seqpacket", {Unit::socket_type, 5}},
      {"tcp", {Unit::protocol, 6}},     {"udp", {Unit::protocol, 17}},     {"icmp", {Unit::protocol, 1}},
      {"icmpv6", {Unit::protocol, 58}}, {"sctp", {Unit::protocol, 132}},   {"udplite", {Unit::protocol, 136}},
  };
  return w;
}

std::string describe(const Type& t) { return type_name(t); }

}  // namespace

std::optional<pir::IntRange> ValueChecker::int_leaf(const Type& type, const ast::Value* v, const std::string& what) {
  std::uint64_t max = type.bits >= 64 ? UINT64_MAX : ((1ull << type.bits) - 1);
  if (type.is_signed && type.bits < 64) max = (1ull << (type.bits - 1)) - 1;
  auto check = [&](std::uint64_t value, const ast::Value* at) -> bool {
    if (value > max) {
      diags_.error(at->range, "value " + std::to_string(value) + " is out of range for " + what + " (" +
                                  describe(type) + ", at most " + std::to_string(max) + ")");
      return false;
    }
    return true;
  };
  switch (v->kind) {
    case ast::Value::Kind::integer: {
      auto value = static_cast<const ast::IntegerValue*>(v)->value;
      if (!check(value, v)) return std::nullopt;
      return pir::IntRange{value, value};
    }
    case ast::Value::Kind::range: {
      auto* r = static_cast<const ast::RangeValue*>(v);
      auto lo = int_leaf(type, r->lo, what);
      auto hi = int_leaf(type, r->hi, what);
      if (!lo || !hi) return std::nullopt;
      if (lo->lo > hi->hi) {
        diags_.error(v->range, "empty range: " + std::to_string(lo->lo) + " is greater than " + std::to_string(hi->hi));
        return std::nullopt;
      }
      return pir::IntRange{lo->lo, hi->hi};
    }
    case ast::Value::Kind::name: {
      const std::string& name = static_cast<const ast::NameValue*>(v)->name;
      if (const hooks::Constant* c = hooks::find_constant(name)) {
        if (type.unit != Unit::none && c->unit != type.unit) {
          diags_.error(v->range, "'" + name + "' is a " + std::string(unit_name(c->unit)) + " constant, but " +
                                     what + " is a " + std::string(unit_name(type.unit)));
          return std::nullopt;
        }
        if (!check(static_cast<std::uint64_t>(c->value), v)) return std::nullopt;
        return pir::IntRange{static_cast<std::uint64_t>(c->value), static_cast<std::uint64_t>(c->value)};
      }
      // Capability names without the CAP_ prefix, any case: `sys_admin` is CAP_SYS_ADMIN.
      if (type.unit == Unit::capability) {
        std::string upper = name;
        std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
        if (upper.rfind("CAP_", 0) != 0) upper = "CAP_" + upper;
        if (const hooks::Constant* c = hooks::find_constant(upper); c && c->unit == Unit::capability)
          return pir::IntRange{static_cast<std::uint64_t>(c->value), static_cast<std::uint64_t>(c->value)};
      }
      if (type.unit == Unit::signal) {
        std::string upper = name;
        std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
        if (upper.rfind("SIG", 0) != 0) upper = "SIG" + upper;
        if (const hooks::Constant* c = hooks::find_constant(upper); c && c->unit == Unit::signal)
          return pir::IntRange{static_cast<std::uint64_t>(c->value), static_cast<std::uint64_t>(c->value)};
      }
      auto w = words().find(name);
      if (w != words().end() && w->second.first == type.unit)
        return pir::IntRange{static_cast<std::uint64_t>(w->second.second), static_cast<std::uint64_t>(w->second.second)};
      std::vector<std::string> candidates = symbols_.let_names();
      for (const hooks::Constant& c : hooks::constants())
        if (type.unit == Unit::none || c.unit == type.unit) candidates.emplace_back(c.name);
      for (auto& [word, meaning] : words())
        if (meaning.first == type.unit) candidates.push_back(word);
      // Short spellings (`sys_admin`, `kill`) are accepted for capabilities and signals: suggest them too.
      for (const hooks::Constant& c : hooks::constants()) {
        std::string n(c.name);
        std::string prefix = c.unit == Unit::capability ? "CAP_" : c.unit == Unit::signal ? "SIG" : "";
        if (prefix.empty() || c.unit != type.unit || n.rfind(prefix, 0) != 0) continue;
        std::string shortname = n.substr(prefix.size());
        std::transform(shortname.begin(), shortname.end(), shortname.begin(), [](unsigned char ch) { return std::tolower(ch); });
        candidates.push_back(shortname);
      }
      auto d = diags_.error(v->range, "unknown name '" + name + "' for " + what);
      if (std::string s = did_you_mean(name, candidates); !s.empty()) d.hint("did you mean '" + s + "'?");
      return std::nullopt;
    }
    default:
      diags_.error(v->range, what + " expects " + (type.unit == Unit::none ? "an integer" : "a " + std::string(unit_name(type.unit))));
      return std::nullopt;
  }
}

std::optional<std::uint64_t> ValueChecker::integer_for(const Type& type, const ast::Value* v, const std::string& what) {
  std::vector<const ast::Value*> leaves;
  if (!flatten(v, leaves)) return std::nullopt;
  std::uint64_t mask = 0;
  for (const ast::Value* leaf : leaves) {  // a list of flags means their union
    auto r = int_leaf(type, leaf, what);
    if (!r) return std::nullopt;
    if (r->lo != r->hi) {
      diags_.error(leaf->range, what + " expects single values, not a range");
      return std::nullopt;
    }
    mask |= r->lo;
  }
  return mask;
}

std::optional<bool> ValueChecker::boolean(const ast::Value* v) {
  std::vector<const ast::Value*> leaves;
  if (!flatten(v, leaves)) return std::nullopt;
  if (leaves.size() != 1 || leaves[0]->kind != ast::Value::Kind::boolean) {
    diags_.error(v->range, "expected true or false");
    return std::nullopt;
  }
  return static_cast<const ast::BoolValue*>(leaves[0])->value;
}

std::optional<pir::Matcher> ValueChecker::set_for(const Type& type, const std::vector<const ast::Value*>& values,
                                                  const std::string& what) {
  pir::Matcher m;
  bool ok = true;
  std::vector<const ast::Value*> leaves;
  for (const ast::Value* v : values) ok = flatten(v, leaves) && ok;
  if (!ok) return std::nullopt;
  switch (type.kind) {
    case TypeKind::integer:
      m.kind = pir::Matcher::Kind::int_set;
      for (const ast::Value* leaf : leaves) {
        if (auto r = int_leaf(type, leaf, what)) m.ints.push_back(*r);
        else ok = false;
      }
      break;
    case TypeKind::address:
      m.kind = pir::Matcher::Kind::addr_set;
      for (const ast::Value* leaf : leaves) {
        std::string text;
        if (leaf->kind == ast::Value::Kind::ipv4) text = static_cast<const ast::Ipv4Value*>(leaf)->text;
        else if (leaf->kind == ast::Value::Kind::string) text = static_cast<const ast::StringValue*>(leaf)->value;
        else {
          diags_.error(leaf->range, what + " expects an IP address or CIDR network (10.0.0.0/8, \"2001:db8::/32\")");
          ok = false;
          continue;
        }
        bool host_bits = false;
        auto cidr = pir::parse_cidr(text, &host_bits);
        if (!cidr) {
          diags_.error(leaf->range, "invalid IP address or CIDR network '" + text + "'");
          ok = false;
          continue;
        }
        if (host_bits)
          diags_.warning(leaf->range, "'" + text + "' has host bits set; it means the network " + cidr->text())
              .hint("write " + cidr->text() + " to say so");
        m.cidrs.push_back(*cidr);
      }
      break;
    case TypeKind::path:
      m.kind = pir::Matcher::Kind::path_set;
      for (const ast::Value* leaf : leaves) {
        if (leaf->kind != ast::Value::Kind::string) {
          diags_.error(leaf->range, what + " expects a path string (\"/etc/shadow\", \"/etc/**\")");
          ok = false;
          continue;
        }
        std::string error;
        auto p = pir::parse_path_pattern(static_cast<const ast::StringValue*>(leaf)->value, &error);
        if (!p) {
          diags_.error(leaf->range, "invalid path pattern: " + error);
          ok = false;
          continue;
        }
        m.paths.push_back(*p);
      }
      break;
    case TypeKind::string:
      m.kind = pir::Matcher::Kind::string_set;
      for (const ast::Value* leaf : leaves) {
        if (leaf->kind != ast::Value::Kind::string) {
          diags_.error(leaf->range, what + " expects a string");
          ok = false;
          continue;
        }
        m.strings.push_back(static_cast<const ast::StringValue*>(leaf)->value);
      }
      break;
    case TypeKind::boolean:
      diags_.error(values.empty() ? SourceRange{} : values[0]->range, what + " is a boolean: test it with `== true` or by name");
      return std::nullopt;
  }
  if (!ok) return std::nullopt;
  if (leaves.empty()) {
    diags_.error(values.empty() ? SourceRange{} : values[0]->range, "empty list for " + what);
    return std::nullopt;
  }
  pir::normalize(m);
  return m;
}

}  // namespace krsie::sema::detail
