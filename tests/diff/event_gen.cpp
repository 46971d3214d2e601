// Random events near a policy's constants for the differential table.
#include <arpa/inet.h>

#include <algorithm>
#include <sstream>

#include "generators.h"
#include "pir/matchers.h"
#include "sema/hook_catalog.h"

namespace krsie::difftest {

namespace {

using eval::Address;
using eval::Event;
using eval::Value;

Value num(std::uint64_t n) { return Value{.number = n}; }
Value text(std::string s) { return Value{.text = std::move(s)}; }
Value addr(const Address& a) { return Value{.addr = a}; }

std::string parent_of(const std::string& p) {
  std::size_t slash = p.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : p.substr(0, slash);
}

std::string child_of(const std::string& p, const std::string& name) { return p == "/" ? "/" + name : p + "/" + name; }

// A path the glob matches (`near` false) or almost matches (`near` true), by rewriting each
// component's wildcards.
std::string instantiate(Rng& rng, const std::string& glob, bool near) {
  std::string out;
  std::size_t i = 1;
  bool damaged = false;
  while (i <= glob.size()) {
    std::size_t j = glob.find('/', i);
    if (j == std::string::npos) j = glob.size();
    std::string comp = glob.substr(i, j - i), made;
    i = j + 1;
    if (comp == "**") {
      std::vector<std::string> fills = {"", "x", "x/y", "a/b/c"};
      std::string f = rng.pick(fills);
      if (!f.empty()) out += "/" + f;
      continue;
    }
    for (std::size_t k = 0; k < comp.size(); ++k) {
      char c = comp[k];
      if (c == '*') {
        std::vector<std::string> fills = {"", "a", "key", "x.so"};
        made += near && rng.chance(30) ? (damaged = true, "a/b") : rng.pick(fills);
      } else if (c == '?') {
        made += near && rng.chance(40) ? (damaged = true, std::string(rng.chance(50) ? "" : "ab")) : "q";
      } else if (c == '[') {
        std::size_t end = comp.find(']', k);
        made += near && rng.chance(40) ? (damaged = true, 'z') : comp[k + 1] == '!' ? '_' : comp[k + 1];
        k = end;
      } else {
        made += c;
      }
    }
    if (!made.empty()) out += "/" + made;
  }
  if (out.empty()) out = "/";
  if (near && !damaged) out = rng.chance(50) ? child_of(out, "z") : parent_of(out);
  return out;
}

Address make_addr(const pir::Cidr& c) {
  Address a;
  a.v6 = c.v6;
  a.bytes = c.addr;
  return a;
}

// Adds `delta` (+1/-1) to the address as a big-endian number of 4 or 16 bytes.
Address add(Address a, int delta) {
  int n = a.v6 ? 16 : 4;
  for (int i = n - 1; i >= 0; --i) {
    int v = a.bytes[i] + delta;
    a.bytes[i] = static_cast<std::uint8_t>(v & 0xff);
    if (v >= 0 && v <= 0xff) break;
  }
  return a;
}

Address last_of(const pir::Cidr& c) {
  Address a = make_addr(c);
  int total = c.v6 ? 128 : 32;
  for (int bit = c.prefix; bit < total; ++bit) a.bytes[bit / 8] |= static_cast<std::uint8_t>(1u << (7 - bit % 8));
  return a;
}

Address other_family(const Address& a) {
  Address o;
  o.v6 = !a.v6;
  if (a.v6) {
    std::copy(a.bytes.begin() + 12, a.bytes.end(), o.bytes.begin());  // ::ffff:a.b.c.d -> a.b.c.d
  } else {
    o.bytes[10] = o.bytes[11] = 0xff;
    std::copy(a.bytes.begin(), a.bytes.begin() + 4, o.bytes.begin() + 12);
  }
  return o;
}

struct Pool {
  std::vector<Value> inside;  // satisfy a matcher of the policy
  std::vector<Value> near;    // boundaries and near misses
};

std::uint64_t width_max(const Type& t) { return t.bits >= 64 ? UINT64_MAX : (1ull << t.bits) - 1; }

// Candidate values for one matcher on a field of type `t`.
Pool candidates(Rng& rng, const pir::Matcher& m, const Type& t) {
  Pool p;
  std::uint64_t max = width_max(t);
  switch (m.kind) {
    case pir::Matcher::Kind::int_set:
      for (const pir::IntRange& r : m.ints) {
        p.inside.push_back(num(r.lo));
        p.inside.push_back(num(r.hi));
        if (r.hi > r.lo) p.inside.push_back(num(r.lo + rng.below(r.hi - r.lo + 1)));
        if (r.lo > 0) p.near.push_back(num(r.lo - 1));
        if (r.hi < max) p.near.push_back(num(r.hi + 1));
      }
      break;
    case pir::Matcher::Kind::flags_all:
    case pir::Matcher::Kind::flags_any: {
      std::uint64_t extra = 1ull << rng.below(t.bits < 64 ? t.bits : 64);
      p.inside.push_back(num(m.mask & max));
      p.inside.push_back(num((m.mask | extra) & max));
      std::uint64_t low = m.mask & (~m.mask + 1);
      p.near.push_back(num(m.mask & ~low));
      p.near.push_back(num(0));
      p.near.push_back(num(max & ~m.mask));
      break;
    }
    case pir::Matcher::Kind::boolean:
      p.inside.push_back(num(m.value));
      p.near.push_back(num(!m.value));
      break;
    case pir::Matcher::Kind::path_set:
      for (const pir::PathPattern& pat : m.paths) {
        switch (pat.kind) {
          case pir::PathPattern::Kind::exact:
            p.inside.push_back(text(pat.text));
            p.near.push_back(text(parent_of(pat.text)));
            p.near.push_back(text(child_of(pat.text, "c")));
            p.near.push_back(text(pat.text + "x"));
            if (pat.text.size() > 1) p.near.push_back(text(pat.text.substr(0, pat.text.size() - 1)));
            break;
          case pir::PathPattern::Kind::subtree:
            p.inside.push_back(text(pat.text));
            p.inside.push_back(text(child_of(pat.text, "x")));
            p.inside.push_back(text(child_of(child_of(pat.text, "x"), "y")));
            if (pat.text != "/") {
              p.near.push_back(text(parent_of(pat.text)));
              p.near.push_back(text(pat.text + "x"));
              p.near.push_back(text(pat.text.substr(0, pat.text.size() - 1)));
            }
            break;
          case pir::PathPattern::Kind::glob:
            for (int k = 0; k < 2; ++k) p.inside.push_back(text(instantiate(rng, pat.text, false)));
            for (int k = 0; k < 3; ++k) p.near.push_back(text(instantiate(rng, pat.text, true)));
            break;
        }
      }
      break;
    case pir::Matcher::Kind::string_set:
      for (const std::string& s : m.strings) {
        p.inside.push_back(text(s));
        p.near.push_back(text(s + "x"));
        if (!s.empty()) p.near.push_back(text(s.substr(0, s.size() - 1)));
      }
      break;
    case pir::Matcher::Kind::addr_set:
      for (const pir::Cidr& c : m.cidrs) {
        p.inside.push_back(addr(make_addr(c)));
        p.inside.push_back(addr(last_of(c)));
        p.near.push_back(addr(add(make_addr(c), -1)));
        p.near.push_back(addr(add(last_of(c), 1)));
        p.near.push_back(addr(other_family(make_addr(c))));
      }
      break;
  }
  return p;
}

// Values of a type whatever the policy says.
std::vector<Value> generic_values(Rng& rng, const Type& t) {
  switch (t.kind) {
    case TypeKind::integer: {
      std::uint64_t max = width_max(t);
      std::vector<Value> v = {num(0), num(1), num(max), num(max - 1), num(rng.below(max) + 1), num(rng.below(70000) & max)};
      if (t.bits < 64) {
        v.push_back(num((max >> 1)));      // largest positive of a signed field
        v.push_back(num((max >> 1) + 1));  // most negative
      }
      return v;
    }
    case TypeKind::boolean: return {num(0), num(1)};
    case TypeKind::path: return {text("/"), text("/etc"), text("/etc/shadow"), text("/tmp/x/y"), text("/usr/bin/curl")};
    case TypeKind::string: return {text("sh"), text(""), text("bash")};
    case TypeKind::address: {
      Address v4, v6;
      inet_pton(AF_INET, "10.0.0.1", v4.bytes.data());
      v6.v6 = true;
      inet_pton(AF_INET6, "::1", v6.bytes.data());
      return {addr(v4), addr(v6)};
    }
  }
  return {};
}

struct FieldInfo {
  std::string name;
  Type type;
};

}  // namespace

std::vector<Event> generate_events(Rng& rng, const pir::Hook& hook, unsigned count) {
  const hooks::Hook* catalogue = hooks::find(hook.name);
  std::vector<FieldInfo> fields;
  if (catalogue)
    for (const hooks::Field& f : catalogue->fields) fields.push_back({std::string(f.name), f.type});
  for (const hooks::Field& f : hooks::common_fields()) fields.push_back({std::string(f.name), f.type});
  if (catalogue && catalogue->domain == hooks::Domain::file) fields.push_back({"is_owner", Type::boolean()});
  if (hook.name == "task_kill") fields.push_back({"target_confined", Type::boolean()});
  auto type_of = [&](const std::string& name) {
    for (const FieldInfo& f : fields)
      if (f.name == name) return f.type;
    return Type::boolean();
  };
  // Pools by field, from every matcher of the hook.
  std::map<std::string, Pool> pools;
  auto add_pool = [&](const std::string& field, const pir::Matcher& m) {
    Pool p = candidates(rng, m, type_of(field));
    Pool& into = pools[field];
    into.inside.insert(into.inside.end(), p.inside.begin(), p.inside.end());
    into.near.insert(into.near.end(), p.near.begin(), p.near.end());
  };
  for (const pir::Rule& r : hook.rules) {
    if (r.subject) add_pool("exe", *r.subject);
    for (const pir::Constraint& c : r.constraints) add_pool(c.field, c.matcher);
  }
  std::vector<Event> events;
  for (unsigned n = 0; n < count; ++n) {
    Event e;
    for (const FieldInfo& f : fields) {
      if (rng.chance(f.name == "exe" ? 10 : 4)) continue;  // absent
      auto it = pools.find(f.name);
      std::vector<Value> generic = generic_values(rng, f.type);
      if (it == pools.end() || rng.chance(15)) {
        e.fields[f.name] = rng.pick(generic);
      } else if (!it->second.near.empty() && (it->second.inside.empty() || rng.chance(40))) {
        e.fields[f.name] = rng.pick(it->second.near);
      } else {
        e.fields[f.name] = rng.pick(it->second.inside);
      }
    }
    // Guided: make one rule's constraints hold (or nearly) so that rules deep in the chain match.
    if (!hook.rules.empty() && rng.chance(60)) {
      const pir::Rule& r = rng.pick(hook.rules);
      std::vector<std::pair<std::string, const pir::Matcher*>> tests;
      if (r.subject) tests.push_back({"exe", &*r.subject});
      for (const pir::Constraint& c : r.constraints) tests.push_back({c.field, &c.matcher});
      for (std::size_t k = 0; k < tests.size(); ++k) {
        bool negated = k >= (r.subject ? 1u : 0u) && r.constraints[k - (r.subject ? 1 : 0)].negated;
        Pool p = candidates(rng, *tests[k].second, type_of(tests[k].first));
        bool want_inside = negated ? rng.chance(10) : rng.chance(85);
        const std::vector<Value>& from = want_inside || p.near.empty() ? p.inside : p.near;
        if (!from.empty()) e.fields[tests[k].first] = rng.pick(from);
      }
    }
    // Socket addresses exist for AF_INET/AF_INET6 only (mostly: keep some inconsistent events).
    auto family = e.fields.find("family");
    if (family != e.fields.end() && e.fields.count("remote_addr") && rng.chance(80)) {
      if (family->second.number == 2 || family->second.number == 10) {
        Address& a = e.fields["remote_addr"].addr;
        if (a.v6 != (family->second.number == 10)) a = other_family(a);
      } else {
        e.fields.erase("remote_addr");
        e.fields.erase("remote_port");
      }
    }
    events.push_back(std::move(e));
  }
  return events;
}

std::string describe_event(const Event& e) {
  std::ostringstream out;
  for (const auto& [name, v] : e.fields) {
    out << "  " << name << " = ";
    if (!v.text.empty() || name == "comm" || name == "exe" || name.find("path") != std::string::npos ||
        name.find("comm") != std::string::npos || name == "filename") {
      out << "\"" << v.text << "\"";
    } else if (name.find("addr") != std::string::npos) {
      char buf[INET6_ADDRSTRLEN] = {};
      inet_ntop(v.addr.v6 ? AF_INET6 : AF_INET, v.addr.bytes.data(), buf, sizeof buf);
      out << buf;
    } else {
      out << v.number << " (0x" << std::hex << v.number << std::dec << ")";
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace krsie::difftest
