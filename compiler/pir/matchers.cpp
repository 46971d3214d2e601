#include "pir/matchers.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace krsie::pir {

const char* decision_name(Decision d) {
  switch (d) {
    case Decision::allow: return "allow";
    case Decision::audit: return "audit";
    case Decision::deny: return "deny";
    case Decision::kill: return "kill";
  }
  return "?";
}

int decision_rank(Decision d) {
  switch (d) {
    case Decision::allow: return 0;
    case Decision::audit: return 1;
    case Decision::deny: return 2;
    case Decision::kill: return 3;
  }
  return 0;
}

std::string Cidr::text() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, addr.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(prefix);
}

namespace {

bool cidr_contains(const Cidr& outer, const Cidr& inner) {
  if (outer.v6 != inner.v6 || outer.prefix > inner.prefix) return false;
  for (int bit = 0; bit < outer.prefix; ++bit) {
    int byte = bit / 8, shift = 7 - bit % 8;
    if (((outer.addr[byte] >> shift) & 1) != ((inner.addr[byte] >> shift) & 1)) return false;
  }
  return true;
}

bool subtree_contains(std::string_view dir, std::string_view path) {
  if (dir == "/") return true;
  return path == dir || (path.size() > dir.size() && path.substr(0, dir.size()) == dir && path[dir.size()] == '/');
}

// Matches one path component against a component pattern with * ? and [...].
bool component_match(std::string_view p, std::string_view s) {
  std::size_t pi = 0, si = 0, star_p = std::string_view::npos, star_s = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star_p = pi++;
      star_s = si;
    } else if (pi < p.size() && p[pi] == '[') {
      std::size_t end = p.find(']', pi + 1);
      bool negate = end != std::string_view::npos && pi + 1 < end && (p[pi + 1] == '!' || p[pi + 1] == '^');
      bool hit = false;
      if (end != std::string_view::npos) {
        for (std::size_t k = pi + 1 + negate; k < end; ++k) {
          if (k + 2 < end && p[k + 1] == '-') {
            hit = hit || (s[si] >= p[k] && s[si] <= p[k + 2]);
            k += 2;
          } else {
            hit = hit || s[si] == p[k];
          }
        }
      }
      if (end != std::string_view::npos && hit != negate) {
        pi = end + 1;
        ++si;
      } else if (star_p != std::string_view::npos) {
        pi = star_p + 1;
        si = ++star_s;
      } else {
        return false;
      }
    } else if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++pi;
      ++si;
    } else if (star_p != std::string_view::npos) {
      pi = star_p + 1;
      si = ++star_s;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}


bool glob_components(const std::vector<std::string_view>& p, std::size_t pi,
                     const std::vector<std::string_view>& s, std::size_t si) {
  // Iterative on '**' with backtracking over the number of components it absorbs; patterns are
  // short and bounded by the path-length limit, so this stays polynomial.
  while (pi < p.size()) {
    if (p[pi] == "**") {
      for (std::size_t k = si; k <= s.size(); ++k)
        if (glob_components(p, pi + 1, s, k)) return true;
      return false;
    }
    if (si >= s.size() || !component_match(p[pi], s[si])) return false;
    ++pi;
    ++si;
  }
  return si == s.size();
}

bool has_glob_chars(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

}  // namespace

bool glob_match(std::string_view pattern, std::string_view path) {
  return glob_components(components(pattern), 0, components(path), 0);
}

bool path_matches(const PathPattern& pattern, std::string_view path) {
  switch (pattern.kind) {
    case PathPattern::Kind::exact: return pattern.text == path;
    case PathPattern::Kind::subtree: return subtree_contains(pattern.text, path);
    case PathPattern::Kind::glob: return glob_match(pattern.text, path);
  }
  return false;
}

std::optional<PathPattern> parse_path_pattern(std::string_view text, std::string* error) {
  if (text.empty() || text[0] != '/') {
    *error = "path must be absolute (start with '/')";
    return std::nullopt;
  }
  if (text.size() > 4095) {
    *error = "path is longer than PATH_MAX (4095 bytes)";
    return std::nullopt;
  }
  std::vector<std::string_view> parts = components(text);
  std::string normalized;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    std::string_view c = parts[i];
    if (c == "." || c == "..") {
      *error = "path must not contain '.' or '..' components (rules apply to the file actually reached)";
      return std::nullopt;
    }
    if (c.find("**") != std::string_view::npos && c != "**") {
      *error = "'**' must be a whole path component (as in /dir/**)";
      return std::nullopt;
    }
    if (c.size() > 255) {
      *error = "path component longer than NAME_MAX (255 bytes)";
      return std::nullopt;
    }
    std::size_t open = c.find('[');
    if (open != std::string_view::npos && c.find(']', open) == std::string_view::npos) {
      *error = "unterminated '[' in glob";
      return std::nullopt;
    }
    normalized += "/";
    normalized += c;
  }
  if (normalized.empty()) normalized = "/";
  PathPattern p;
  // "/dir/**" with no other glob characters is a subtree: dir itself and everything below.
  if (parts.size() >= 1 && parts.back() == "**") {
    std::string dir = normalized.substr(0, normalized.size() - 3);
    if (dir.empty()) dir = "/";
    if (!has_glob_chars(dir)) {
      p.kind = PathPattern::Kind::subtree;
      p.text = dir;
      return p;
    }
  }
  p.kind = has_glob_chars(normalized) ? PathPattern::Kind::glob : PathPattern::Kind::exact;
  p.text = normalized;
  return p;
}

std::optional<Cidr> parse_cidr(std::string_view text, bool* had_host_bits) {
  std::string s(text);
  int prefix = -1;
  if (auto slash = s.find('/'); slash != std::string::npos) {
    std::string digits = s.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return std::nullopt;
    prefix = std::stoi(digits);
    s = s.substr(0, slash);
  }
  Cidr c;
  if (inet_pton(AF_INET, s.c_str(), c.addr.data()) == 1) {
    c.v6 = false;
    if (prefix < 0) prefix = 32;
    if (prefix > 32) return std::nullopt;
  } else if (inet_pton(AF_INET6, s.c_str(), c.addr.data()) == 1) {
    c.v6 = true;
    if (prefix < 0) prefix = 128;
    if (prefix > 128) return std::nullopt;
  } else {
    return std::nullopt;
  }
  c.prefix = static_cast<std::uint8_t>(prefix);
  bool host_bits = false;
  int total = c.v6 ? 128 : 32;
  for (int bit = prefix; bit < total; ++bit) {
    int byte = bit / 8, shift = 7 - bit % 8;
    if ((c.addr[byte] >> shift) & 1) host_bits = true;
    c.addr[byte] &= static_cast<std::uint8_t>(~(1u << shift));
  }
  if (had_host_bits) *had_host_bits = host_bits;
  return c;
}

void normalize(Matcher& m) {
  switch (m.kind) {
    case Matcher::Kind::int_set: {
      std::sort(m.ints.begin(), m.ints.end());
      std::vector<IntRange> merged;
      for (const IntRange& r : m.ints) {
        if (!merged.empty() && (merged.back().hi == UINT64_MAX || r.lo <= merged.back().hi + 1))
          merged.back().hi = std::max(merged.back().hi, r.hi);
        else
          merged.push_back(r);
      }
      m.ints = std::move(merged);
      break;
    }
    case Matcher::Kind::addr_set: {
      std::sort(m.cidrs.begin(), m.cidrs.end());
      m.cidrs.erase(std::unique(m.cidrs.begin(), m.cidrs.end()), m.cidrs.end());
      std::vector<Cidr> kept;
      for (const Cidr& c : m.cidrs) {
        bool inside = std::any_of(m.cidrs.begin(), m.cidrs.end(),
                                  [&](const Cidr& o) { return !(o == c) && cidr_contains(o, c); });
        if (!inside) kept.push_back(c);
      }
      m.cidrs = std::move(kept);
      break;
    }
    case Matcher::Kind::path_set:
      std::sort(m.paths.begin(), m.paths.end());
      m.paths.erase(std::unique(m.paths.begin(), m.paths.end()), m.paths.end());
      break;
    case Matcher::Kind::string_set:
      std::sort(m.strings.begin(), m.strings.end());
      m.strings.erase(std::unique(m.strings.begin(), m.strings.end()), m.strings.end());
      break;
    default: break;
  }
}

namespace {

bool path_pattern_covers(const PathPattern& outer, const PathPattern& inner) {
  if (outer == inner) return true;
  switch (inner.kind) {
    case PathPattern::Kind::exact: return path_matches(outer, inner.text);
    case PathPattern::Kind::subtree:
      if (outer.kind == PathPattern::Kind::subtree) return subtree_contains(outer.text, inner.text);
      // A glob ending in /** whose prefix covers the directory covers the subtree.
      if (outer.kind == PathPattern::Kind::glob && outer.text.size() > 3 &&
          outer.text.compare(outer.text.size() - 3, 3, "/**") == 0)
        return glob_match(outer.text.substr(0, outer.text.size() - 3), inner.text);
      return false;
    case PathPattern::Kind::glob:
      // Conservative: only a subtree that contains the glob's literal prefix.
      if (outer.kind == PathPattern::Kind::subtree) {
        std::string_view g = inner.text;
        std::size_t wild = g.find_first_of("*?[");
        std::string_view lit = g.substr(0, wild);
        lit = lit.substr(0, lit.rfind('/'));
        return subtree_contains(outer.text, lit.empty() ? "/" : lit);
      }
      return false;
  }
  return false;
}

}  // namespace

bool covers(const Matcher& outer, const Matcher& inner) {
  if (outer.kind != inner.kind) return false;
  switch (outer.kind) {
    case Matcher::Kind::int_set:
      return std::all_of(inner.ints.begin(), inner.ints.end(), [&](const IntRange& r) {
        return std::any_of(outer.ints.begin(), outer.ints.end(),
                           [&](const IntRange& o) { return o.lo <= r.lo && r.hi <= o.hi; });
      });
    case Matcher::Kind::addr_set:
      return std::all_of(inner.cidrs.begin(), inner.cidrs.end(), [&](const Cidr& c) {
        return std::any_of(outer.cidrs.begin(), outer.cidrs.end(), [&](const Cidr& o) { return cidr_contains(o, c); });
      });
    case Matcher::Kind::path_set:
      return std::all_of(inner.paths.begin(), inner.paths.end(), [&](const PathPattern& p) {
        return std::any_of(outer.paths.begin(), outer.paths.end(),
                           [&](const PathPattern& o) { return path_pattern_covers(o, p); });
      });
    case Matcher::Kind::string_set:
      return std::includes(outer.strings.begin(), outer.strings.end(), inner.strings.begin(), inner.strings.end());
    case Matcher::Kind::flags_all: return (outer.mask & inner.mask) == outer.mask;
    case Matcher::Kind::flags_any: return (inner.mask & outer.mask) == inner.mask;
    case Matcher::Kind::boolean: return outer.value == inner.value;
  }
  return false;
}

std::optional<Matcher> unite(const Matcher& a, const Matcher& b) {
  if (a.kind != b.kind) return std::nullopt;
  Matcher m = a;
  switch (a.kind) {
    case Matcher::Kind::int_set: m.ints.insert(m.ints.end(), b.ints.begin(), b.ints.end()); break;
    case Matcher::Kind::addr_set: m.cidrs.insert(m.cidrs.end(), b.cidrs.begin(), b.cidrs.end()); break;
    case Matcher::Kind::path_set: m.paths.insert(m.paths.end(), b.paths.begin(), b.paths.end()); break;
    case Matcher::Kind::string_set: m.strings.insert(m.strings.end(), b.strings.begin(), b.strings.end()); break;
    case Matcher::Kind::flags_any: m.mask |= b.mask; break;
    default: return std::nullopt;
  }
  normalize(m);
  return m;
}

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace krsie::pir
