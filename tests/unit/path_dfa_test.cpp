// Path automata: sets of path patterns compiled to one minimized DFA over the reversed path
// bytes, checked against pir::path_matches (the reference semantics).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <ctime>
#include <deque>
#include <iostream>
#include <map>
#include <random>

#include "backend/dfa_pack.h"
#include "backend/path_dfa.h"
#include "pir/matchers.h"

namespace krsie::backend {
namespace {

using pir::PathPattern;

PathPattern pat(const std::string& text) {
  std::string error;
  auto p = pir::parse_path_pattern(text, &error);
  EXPECT_TRUE(p) << text << ": " << error;
  return p.value_or(PathPattern{});
}

// Wall-clock and thread CPU time (the CPU time is what the bounds check: CI machines are busy).
struct Timer {
  std::chrono::steady_clock::time_point wall0 = std::chrono::steady_clock::now();
  double cpu0 = cpu_now();
  static double cpu_now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
  }
  double wall_ms() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall0).count();
  }
  double cpu_ms() const { return cpu_now() - cpu0; }
};

std::vector<PathSet> make_sets(const std::vector<std::vector<std::string>>& texts) {
  std::vector<PathSet> sets;
  for (const auto& set : texts) {
    PathSet s;
    for (const auto& t : set) s.patterns.push_back(pat(t));
    sets.push_back(std::move(s));
  }
  return sets;
}

Dfa compile(const std::vector<PathSet>& sets, const DfaLimits& limits = {}) {
  std::string error;
  auto dfa = compile_reverse_dfa(sets, &error, limits);
  EXPECT_TRUE(dfa) << error;
  return dfa.value_or(Dfa{});
}

Dfa compile(const std::vector<std::vector<std::string>>& texts) { return compile(make_sets(texts)); }

std::uint64_t reference(const std::vector<PathSet>& sets, std::string_view path) {
  std::uint64_t mask = 0;
  for (std::size_t i = 0; i < sets.size(); ++i)
    for (const PathPattern& p : sets[i].patterns)
      if (pir::path_matches(p, path)) mask |= std::uint64_t{1} << i;
  return mask;
}

std::vector<std::string_view> leaf_first(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 1;
  while (i < path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

bool same(const Dfa& a, const Dfa& b) {
  if (a.states.size() != b.states.size()) return false;
  for (std::size_t i = 0; i < a.states.size(); ++i) {
    const auto &x = a.states[i], &y = b.states[i];
    if (x.edges != y.edges || x.other != y.other || x.accept != y.accept) return false;
  }
  return true;
}

std::array<std::uint32_t, 256> row(const Dfa& dfa, std::uint32_t s) {
  std::array<std::uint32_t, 256> r;
  for (unsigned b = 0; b < 256; ++b) r[b] = dfa.next(s, static_cast<std::uint8_t>(b));
  return r;
}

// Structural invariants of the output: well-formed and canonical representation, BFS numbering,
// no state that cannot reach acceptance, and (for small automata) minimality by naive Moore.
void check_canonical(const Dfa& dfa, bool check_minimal = true) {
  const std::size_t n = dfa.states.size();
  ASSERT_GE(n, 1u);
  std::vector<std::array<std::uint32_t, 256>> rows(n);
  for (std::uint32_t s = 0; s < n; ++s) {
    const auto& st = dfa.states[s];
    for (std::size_t e = 0; e < st.edges.size(); ++e) {
      if (e) {
        ASSERT_LT(st.edges[e - 1].first, st.edges[e].first) << "state " << s;
      }
      ASSERT_NE(st.edges[e].second, st.other) << "state " << s;
      ASSERT_TRUE(st.edges[e].second == Dfa::k_dead || st.edges[e].second < n);
    }
    ASSERT_TRUE(st.other == Dfa::k_dead || st.other < n);
    rows[s] = row(dfa, s);
    std::map<std::uint32_t, int> count;
    for (std::uint32_t t : rows[s]) ++count[t];
    int best = count[st.other];
    for (const auto& [t, c] : count) {
      ASSERT_LE(c, best) << "state " << s << ": `other` is not the most frequent target";
      if (c == best && t != st.other) {
        // Ties: k_dead first, then the lowest number.
        ASSERT_TRUE(st.other == Dfa::k_dead || (t != Dfa::k_dead && st.other < t)) << "state " << s;
      }
    }
  }
  // BFS numbering in byte order.
  std::vector<std::uint32_t> seen(n, Dfa::k_dead);
  std::deque<std::uint32_t> queue{0};
  seen[0] = 0;
  std::uint32_t next_id = 1;
  while (!queue.empty()) {
    std::uint32_t s = queue.front();
    queue.pop_front();
    for (std::uint32_t t : rows[s])
      if (t != Dfa::k_dead && seen[t] == Dfa::k_dead) {
        seen[t] = next_id++;
        ASSERT_EQ(seen[t], t) << "not numbered in BFS order";
        queue.push_back(t);
      }
  }
  ASSERT_EQ(next_id, n) << "unreachable states";
  // Every state reaches an accepting state (except the lone start of an empty language).
  if (!(n == 1 && dfa.states[0].accept == 0)) {
    std::vector<char> live(n, 0);
    bool changed = true;
    for (std::uint32_t s = 0; s < n; ++s) live[s] = dfa.states[s].accept != 0;
    while (changed) {
      changed = false;
      for (std::uint32_t s = 0; s < n; ++s)
        if (!live[s])
          for (std::uint32_t t : rows[s])
            if (t != Dfa::k_dead && live[t]) {
              live[s] = changed = true;
              break;
            }
    }
    for (std::uint32_t s = 0; s < n; ++s) ASSERT_TRUE(live[s]) << "state " << s << " cannot reach acceptance";
  }
  if (!check_minimal || n > 4000) return;
  // Naive Moore refinement: as many classes as states.
  std::vector<std::uint32_t> cls(n);
  {
    std::map<std::uint64_t, std::uint32_t> ids;
    for (std::uint32_t s = 0; s < n; ++s)
      cls[s] = ids.emplace(dfa.states[s].accept, static_cast<std::uint32_t>(ids.size())).first->second;
  }
  for (std::size_t count = 0;;) {
    std::map<std::vector<std::uint32_t>, std::uint32_t> ids;
    std::vector<std::uint32_t> next(n);
    for (std::uint32_t s = 0; s < n; ++s) {
      std::vector<std::uint32_t> sig{cls[s]};
      for (std::uint32_t t : rows[s]) sig.push_back(t == Dfa::k_dead ? Dfa::k_dead : cls[t]);
      next[s] = ids.emplace(std::move(sig), static_cast<std::uint32_t>(ids.size())).first->second;
    }
    cls = std::move(next);
    if (ids.size() == count) break;
    count = ids.size();
  }
  std::vector<std::uint32_t> sorted = cls;
  std::sort(sorted.begin(), sorted.end());
  ASSERT_EQ(std::unique(sorted.begin(), sorted.end()) - sorted.begin(), static_cast<std::ptrdiff_t>(n))
      << "not minimal";
}

// Asserts DFA == reference on every path, through both simulators.
void expect_agrees(const Dfa& dfa, const std::vector<PathSet>& sets, const std::vector<std::string>& paths) {
  for (const std::string& p : paths) {
    std::uint64_t want = reference(sets, p);
    ASSERT_EQ(simulate(dfa, p), want) << "path " << p;
    ASSERT_EQ(simulate_components(dfa, leaf_first(p)), want) << "path " << p;
  }
}

// --- Hand-written cases ------------------------------------------------------------------------

TEST(PathDfa, FeedsTheReversedPath) {
  // Hand-check the byte stream: "/etc/shadow" is accepted through 'w','o',...,'e','/'.
  Dfa dfa = compile({{"/etc/shadow"}});
  std::uint32_t s = 0;
  for (char c : std::string("wodahs/cte/")) {
    s = dfa.next(s, static_cast<std::uint8_t>(c));
    ASSERT_NE(s, Dfa::k_dead);
  }
  EXPECT_EQ(dfa.states[s].accept, 1u);
  EXPECT_EQ(dfa.states.size(), 12u);  // a chain: start + 11 bytes
  EXPECT_EQ(dfa.transition_count(), 11u);
  // Early death: the first byte already rules it out.
  EXPECT_EQ(dfa.next(0, 'x'), Dfa::k_dead);
  EXPECT_EQ(simulate_components(dfa, {"shadow", "etc"}), 1u);
  EXPECT_EQ(simulate_components(dfa, {"shadow"}), 0u);
}

TEST(PathDfa, ExactMatchesOnlyItself) {
  Dfa dfa = compile({{"/etc/shadow"}, {"/"}});
  EXPECT_EQ(simulate(dfa, "/etc/shadow"), 1u);
  EXPECT_EQ(simulate(dfa, "/"), 2u);
  for (const char* p : {"/etc", "/etc/shadow2", "/etc/shado", "/x/etc/shadow", "/etc/shadow/x", "/shadow"})
    EXPECT_EQ(simulate(dfa, p), 0u) << p;
  EXPECT_EQ(simulate_components(dfa, {}), 2u);
  check_canonical(dfa);
}

TEST(PathDfa, SubtreeIsTheDirectoryAndBelow) {
  auto sets = make_sets({{"/etc/**"}, {"/**"}, {"/home/alice/**"}});
  Dfa dfa = compile(sets);
  EXPECT_EQ(simulate(dfa, "/etc"), 0b011u);
  EXPECT_EQ(simulate(dfa, "/etc/ssl/certs/x.pem"), 0b011u);
  EXPECT_EQ(simulate(dfa, "/etcetera"), 0b010u);
  EXPECT_EQ(simulate(dfa, "/x/etc"), 0b010u);
  EXPECT_EQ(simulate(dfa, "/"), 0b010u);
  EXPECT_EQ(simulate(dfa, "/home/alice"), 0b110u);
  EXPECT_EQ(simulate(dfa, "/home/alice/.ssh/id_rsa"), 0b110u);
  EXPECT_EQ(simulate(dfa, "/home/alicex"), 0b010u);
  EXPECT_EQ(simulate(dfa, "/home"), 0b010u);
  expect_agrees(dfa, sets, {"/", "/e", "/etc", "/etc/a", "/home/alice/a/b/c", "/a/home/alice"});
  check_canonical(dfa);
}

TEST(PathDfa, SubtreeOfRootMatchesEverything) {
  Dfa dfa = compile({{"/**"}});
  for (const char* p : {"/", "/a", "/a/b/c", "/\xff\x01/x"}) EXPECT_EQ(simulate(dfa, p), 1u) << p;
  // Tiny: start, the root, the component loop.
  EXPECT_LE(dfa.states.size(), 3u);
  check_canonical(dfa);
}

TEST(PathDfa, StarQuestionAndClasses) {
  auto sets = make_sets({{"/tmp/x?"}, {"/dev/tty[0-9]"}, {"/dev/tty[!0-9]"}, {"/*.key"}, {"/a/*"}, {"/*"},
                         {"/v/[^a-c]z"}, {"/w/*a*b*"}});
  Dfa dfa = compile(sets);
  EXPECT_EQ(simulate(dfa, "/tmp/x1"), 1u << 0);
  EXPECT_EQ(simulate(dfa, "/tmp/x12"), 0u);
  EXPECT_EQ(simulate(dfa, "/tmp/x"), 0u);
  EXPECT_EQ(simulate(dfa, "/dev/tty7"), 1u << 1);
  EXPECT_EQ(simulate(dfa, "/dev/ttyS"), 1u << 2);
  EXPECT_EQ(simulate(dfa, "/dev/tty"), 0u);
  EXPECT_EQ(simulate(dfa, "/.key"), (1u << 3) | (1u << 5));  // '*' may be empty
  EXPECT_EQ(simulate(dfa, "/a.key"), (1u << 3) | (1u << 5));
  EXPECT_EQ(simulate(dfa, "/a/b.key"), 1u << 4);
  EXPECT_EQ(simulate(dfa, "/a"), 1u << 5);   // "/a/*" needs a component below /a
  EXPECT_EQ(simulate(dfa, "/a/b/c"), 0u);    // '*' never crosses '/'
  EXPECT_EQ(simulate(dfa, "/"), 0u);         // "/*" needs one (non-empty) component
  EXPECT_EQ(simulate(dfa, "/v/dz"), 1u << 6);
  EXPECT_EQ(simulate(dfa, "/v/bz"), 0u);
  EXPECT_EQ(simulate(dfa, "/w/ab"), 1u << 7);
  EXPECT_EQ(simulate(dfa, "/w/xxaxxbxx"), 1u << 7);
  EXPECT_EQ(simulate(dfa, "/w/ba"), 0u);
  expect_agrees(dfa, sets, {"/", "/tmp", "/tmp/x/", "/dev/tty/", "/v/az", "/v/z", "/w/a/b", "/w/abab", "/w/bab"});
  check_canonical(dfa);
}

TEST(PathDfa, DoubleStarCornerCases) {
  auto sets = make_sets({{"/**/x"}, {"/a/**/b"}, {"/*/**"}, {"/**/**"}, {"/a/**/**/b"}, {"/**/a/**"}, {"/**/*"}});
  for (const auto& s : sets) ASSERT_EQ(s.patterns[0].kind, PathPattern::Kind::glob);
  Dfa dfa = compile(sets);
  auto bit = [](int i) { return std::uint64_t{1} << i; };
  EXPECT_EQ(simulate(dfa, "/x") & bit(0), bit(0));
  EXPECT_EQ(simulate(dfa, "/a/b/x") & bit(0), bit(0));
  EXPECT_EQ(simulate(dfa, "/ax") & bit(0), 0u);
  EXPECT_EQ(simulate(dfa, "/x/y") & bit(0), 0u);
  EXPECT_EQ(simulate(dfa, "/a/b") & bit(1), bit(1));   // ** matches zero components
  EXPECT_EQ(simulate(dfa, "/a/p/q/b") & bit(1), bit(1));
  EXPECT_EQ(simulate(dfa, "/ab") & bit(1), 0u);
  EXPECT_EQ(simulate(dfa, "/a/xb") & bit(1), 0u);
  EXPECT_EQ(simulate(dfa, "/a") & bit(2), bit(2));     // trailing /** matches the directory itself
  EXPECT_EQ(simulate(dfa, "/a/b/c") & bit(2), bit(2));
  EXPECT_EQ(simulate(dfa, "/") & bit(2), 0u);          // ... but "*" needs a component
  EXPECT_EQ(simulate(dfa, "/") & bit(3), bit(3));      // "/**/**" matches the root
  EXPECT_EQ(simulate(dfa, "/q") & bit(3), bit(3));
  EXPECT_EQ(simulate(dfa, "/a/b") & bit(4), bit(4));
  EXPECT_EQ(simulate(dfa, "/a/1/2/3/b") & bit(4), bit(4));
  EXPECT_EQ(simulate(dfa, "/a") & bit(5), bit(5));
  EXPECT_EQ(simulate(dfa, "/x/a/y") & bit(5), bit(5));
  EXPECT_EQ(simulate(dfa, "/x/ab/y") & bit(5), 0u);
  EXPECT_EQ(simulate(dfa, "/") & bit(6), 0u);
  EXPECT_EQ(simulate(dfa, "/p/q") & bit(6), bit(6));
  expect_agrees(dfa, sets,
                {"/", "/a", "/b", "/x", "/a/b", "/a/a/b", "/b/a", "/a/x", "/x/x", "/a/b/b", "/b/a/b", "/a/b/a/b/x",
                 "/xa", "/a/bx"});
  check_canonical(dfa);
}

TEST(PathDfa, ClassCornerCasesFollowTheReference) {
  // Patterns whose meaning comes from pir's component_match details: an empty class never
  // matches, "[!]" matches any byte, a '-' at either end is literal, "[]]" is an empty class
  // followed by ']', an unterminated '[' after a terminated one never matches, ranges compare
  // bytes as `char` (signed here: "[\x80-\xff]" is the high half, "[a-\xff]" is empty).
  std::vector<std::string> texts = {"/c/[]", "/c/[!]", "/c/[a-]", "/c/[-a]", "/c/[]]", "/c/[a]x[",
                                    "/c/[\x80-\xff]", "/c/[a-\xff]", "/c/[!a-c]*", "/c/[[]", "/c/[*?]"};
  std::vector<PathSet> sets;
  for (const auto& t : texts) {
    std::string error;
    auto p = pir::parse_path_pattern(t, &error);
    ASSERT_TRUE(p) << t << ": " << error;
    sets.push_back({{*p}});
  }
  Dfa dfa = compile(sets);
  std::vector<std::string> paths = {"/c"};
  for (unsigned b = 1; b < 256; ++b) {
    if (b == '/') continue;
    std::string c(1, static_cast<char>(b));
    paths.push_back("/c/" + c);
    paths.push_back("/c/" + c + "x");
    paths.push_back("/c/a" + c);
  }
  paths.insert(paths.end(), {"/c/]", "/c/ax", "/c/ax[", "/c/[", "/c/*", "/c/?", "/c/dxx"});
  expect_agrees(dfa, sets, paths);
  EXPECT_EQ(simulate(dfa, "/c/q"), (1u << 1) | (1u << 8));  // "[!]" and "[!a-c]*"
  EXPECT_EQ(simulate(dfa, "/c/-") & (1u << 2), 1u << 2);
  EXPECT_EQ(simulate(dfa, "/c/\xe9") & (1u << 6), 1u << 6);
  check_canonical(dfa);
}

TEST(PathDfa, ArbitraryBytesInComponents) {
  // Bytes are bytes: UTF-8 or not, control characters, '*' in exact paths.
  auto sets = make_sets({{"/caf\xc3\xa9/**"}, {"/\x01\x7f\xff"}, {"/x/\xc3*"}});
  Dfa dfa = compile(sets);
  expect_agrees(dfa, sets,
                {"/caf\xc3\xa9", "/caf\xc3\xa9/m", "/cafe", "/caf\xc3", "/\x01\x7f\xff", "/\x01\x7f", "/x/\xc3",
                 "/x/\xc3\xa9", "/x/\xc4"});
  EXPECT_EQ(simulate(dfa, "/x/\xc3\xa9"), 4u);
  check_canonical(dfa);
}

TEST(PathDfa, PatternKindsAreTakenAsGiven) {
  // PathPatterns built directly (not by the parser): an exact or subtree text is literal even
  // with glob characters; a glob without them, or "/**" kept as a glob, means what glob_match says.
  using K = PathPattern::Kind;
  std::vector<PathSet> sets = {{{PathPattern{K::exact, "/a*b"}}},
                               {{PathPattern{K::subtree, "/d[1]"}}},
                               {{PathPattern{K::glob, "/a/b"}}},
                               {{PathPattern{K::glob, "/**"}}},
                               {{PathPattern{K::glob, "/"}}},
                               {{PathPattern{K::glob, "/x/**/**"}}}};
  Dfa dfa = compile(sets);
  expect_agrees(dfa, sets,
                {"/", "/a*b", "/axb", "/ab", "/d[1]", "/d[1]/z", "/d1", "/d1/z", "/a/b", "/a/b/c", "/q", "/x", "/x/y/z",
                 "/y/x"});
  EXPECT_EQ(simulate(dfa, "/a*b"), 0b001000u | 0b1u);
  EXPECT_EQ(simulate(dfa, "/axb"), 0b001000u);
  EXPECT_EQ(simulate(dfa, "/"), 0b011000u);
  check_canonical(dfa);
}

TEST(PathDfa, EmptyInputs) {
  Dfa none = compile(std::vector<PathSet>{});
  ASSERT_EQ(none.states.size(), 1u);
  EXPECT_EQ(none.transition_count(), 0u);
  EXPECT_EQ(simulate(none, "/"), 0u);
  Dfa empty_set = compile(std::vector<PathSet>{PathSet{}, PathSet{}});
  ASSERT_EQ(empty_set.states.size(), 1u);
  // A glob that cannot match anything: same single state.
  Dfa never = compile({{"/a/[]"}});
  EXPECT_TRUE(same(never, none));
}

TEST(PathDfa, SixtyFourSetsAndTheLimitOnSets) {
  std::vector<PathSet> sets;
  for (int i = 0; i < 64; ++i) sets.push_back({{pat("/s/" + std::to_string(i) + "/**")}});
  Dfa dfa = compile(sets);
  EXPECT_EQ(simulate(dfa, "/s/63/x"), std::uint64_t{1} << 63);
  EXPECT_EQ(simulate(dfa, "/s/0"), 1u);
  EXPECT_EQ(simulate(dfa, "/s/64"), 0u);
  sets.push_back({{pat("/s/64")}});
  std::string error;
  EXPECT_FALSE(compile_reverse_dfa(sets, &error));
  EXPECT_NE(error.find("64"), std::string::npos) << error;
}

TEST(PathDfa, RejectsPatternsThatAreNotNormalized) {
  for (const char* t : {"", "etc", "/etc/", "/etc//x"}) {
    std::string error;
    PathSet s{{PathPattern{PathPattern::Kind::exact, t}}};
    EXPECT_FALSE(compile_reverse_dfa({s}, &error)) << t;
    EXPECT_NE(error.find("normalized"), std::string::npos) << error;
  }
}

TEST(PathDfa, LimitErrors) {
  std::string error;
  auto sets = make_sets({{"/etc/passwd", "/etc/shadow", "/etc/group"}});
  EXPECT_FALSE(compile_reverse_dfa(sets, &error, DfaLimits{.max_states = 5}));
  EXPECT_NE(error.find("limit"), std::string::npos) << error;
  EXPECT_TRUE(compile_reverse_dfa(sets, &error, DfaLimits{.max_states = 100}));
  // Read leaf-first, "x at depth 21, anything below" must remember which of the last 21
  // components were "x": 2^21 states. The subset construction stops at its limit.
  std::string blowup;
  for (int i = 0; i < 20; ++i) blowup += "/*";
  blowup += "/x/**";
  error.clear();
  Timer timer;
  EXPECT_FALSE(compile_reverse_dfa(make_sets({{blowup}}), &error, DfaLimits{.max_subset_states = 20000}));
  EXPECT_NE(error.find("20000"), std::string::npos) << error;
  EXPECT_LT(timer.cpu_ms(), 2000.0);
  // The other blow-up: many globs that fix the start of a component keep every pattern alive in
  // every state read leaf-first; the states' total size stops it before their number does.
  std::vector<std::string> prefixes;
  std::mt19937 rng(11);
  for (int i = 0; i < 300; ++i) {
    std::string a, b;
    for (int k = 0; k < 6; ++k) a += static_cast<char>('a' + rng() % 26), b += static_cast<char>('a' + rng() % 26);
    prefixes.push_back("/srv/" + a + "/[a-m]" + b + "*");
  }
  error.clear();
  EXPECT_FALSE(compile_reverse_dfa(make_sets({prefixes}), &error, DfaLimits{.max_subset_entries = 200000}));
  EXPECT_NE(error.find("more than 200000 pattern positions"), std::string::npos) << error;
  // A smaller one fits, and is exponential but exact.
  std::string small;
  for (int i = 0; i < 6; ++i) small += "/*";
  small += "/x/**";
  auto small_sets = make_sets({{small}});
  Dfa dfa = compile(small_sets);
  std::cout << "[ PathDfa ] " << small << ": " << dfa.states.size() << " states, " << dfa.transition_count()
            << " transitions\n";
  expect_agrees(dfa, small_sets,
                {"/1/2/3/4/5/6/x", "/1/2/3/4/5/6/x/7/x", "/1/2/3/4/5/x", "/x/x/x/x/x/x/x/x", "/1/2/3/4/5/6/7/x"});
}

// --- Properties --------------------------------------------------------------------------------

struct Gen {
  std::mt19937_64 rng;
  explicit Gen(std::uint64_t seed) : rng(seed) {}
  std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng); }

  // A small alphabet so that patterns and paths collide often; one byte above 0x7f.
  static constexpr std::string_view k_alpha = "abc.\xe9";
  char letter() { return k_alpha[pick(k_alpha.size())]; }
  std::string name() {
    std::string s;
    do {
      s.clear();
      for (std::size_t n = 1 + pick(3); n-- > 0;) s += letter();
    } while (s == "." || s == "..");
    return s;
  }

  std::string glob_component() {
    static const std::vector<std::string> classes = {"[ab]", "[!a]", "[a-c]", "[^.]", "[\x80-\xff]", "[!b-c]", "[.]"};
    std::string s;
    bool last_star = false;
    for (std::size_t n = 1 + pick(3); n-- > 0;) {
      switch (pick(6)) {
        case 0:
          if (last_star) continue;  // "**" inside a component is rejected by the parser
          s += '*';
          last_star = true;
          continue;
        case 1: s += '?'; break;
        case 2: s += classes[pick(classes.size())]; break;
        default: s += letter(); break;
      }
      last_star = false;
    }
    return s;
  }

  // A pattern text pir::parse_path_pattern accepts.
  std::string pattern() {
    for (;;) {
      std::string t = pattern_text();
      std::string error;
      if (pir::parse_path_pattern(t, &error)) return t;
    }
  }

  std::string pattern_text() {
    std::string t;
    std::size_t comps = 1 + pick(4);
    switch (pick(3)) {
      case 0:  // exact
        for (std::size_t i = 0; i < comps; ++i) t += "/" + name();
        if (chance(0.05)) t = "/";
        break;
      case 1:  // subtree
        for (std::size_t i = 0; i < comps - 1; ++i) t += "/" + name();
        t += "/**";
        break;
      default:  // glob
        for (std::size_t i = 0; i < comps; ++i)
          t += "/" + (chance(0.25) ? std::string("**") : chance(0.5) ? glob_component() : name());
        break;
    }
    return t;
  }

  std::string path() {
    std::string p;
    for (std::size_t n = pick(6); n-- > 0;) p += "/" + name();
    return p.empty() ? "/" : p;
  }

  // A path that the pattern probably matches (globs instantiated at random), sometimes mutated.
  std::string instance(const std::string& text) {
    std::string p;
    for (std::string_view c : leaf_first(text)) {
      std::string comp;
      if (c == "**") {
        for (std::size_t n = pick(3); n-- > 0;) p = "/" + name() + p;
        continue;
      }
      for (std::size_t i = 0; i < c.size(); ++i) {
        if (c[i] == '*') {
          for (std::size_t n = pick(3); n-- > 0;) comp += letter();
        } else if (c[i] == '?') {
          comp += letter();
        } else if (c[i] == '[') {
          comp += letter();
          i = c.find(']', i + 1);
          if (i == std::string_view::npos) break;
        } else {
          comp += c[i];
        }
      }
      if (comp.empty()) comp = name();
      p = "/" + comp + p;
    }
    switch (pick(5)) {
      case 0: p += "/" + name(); break;
      case 1:
        if (p.size() > 2) p.pop_back();
        if (!p.empty() && p.back() == '/') p.pop_back();
        break;
      default: break;
    }
    return p.empty() ? "/" : p;
  }
};

TEST(PathDfa, RandomizedAgreesWithReference) {
  Gen gen(0x6b727369652d6466ull);
  std::size_t patterns = 0, checks = 0, max_states = 0;
  for (int trial = 0; trial < 60; ++trial) {
    std::vector<PathSet> sets(1 + gen.pick(8));
    std::vector<std::string> texts;
    for (PathSet& s : sets)
      for (std::size_t n = 1 + gen.pick(6); n-- > 0;) {
        std::string t = gen.pattern();
        std::string error;
        auto p = pir::parse_path_pattern(t, &error);
        ASSERT_TRUE(p) << t << ": " << error;
        s.patterns.push_back(*p);
        texts.push_back(p->text);
        ++patterns;
      }
    Dfa dfa = compile(sets);
    max_states = std::max(max_states, dfa.states.size());
    ASSERT_NO_FATAL_FAILURE(check_canonical(dfa)) << "trial " << trial;
    std::vector<std::string> paths = {"/"};
    for (int i = 0; i < 500; ++i) paths.push_back(gen.path());
    for (const std::string& t : texts)
      for (int i = 0; i < 8; ++i) paths.push_back(gen.instance(t));
    ASSERT_NO_FATAL_FAILURE(expect_agrees(dfa, sets, paths)) << "trial " << trial;
    checks += paths.size();
  }
  std::cout << "[ PathDfa ] random: " << patterns << " patterns, " << checks << " path checks, largest DFA "
            << max_states << " states\n";
  RecordProperty("random_patterns", static_cast<int>(patterns));
  RecordProperty("random_checks", static_cast<int>(checks));
}

TEST(PathDfa, RandomizedSixtyFourSetsInOneAutomaton) {
  Gen gen(42);
  std::vector<PathSet> sets(64);
  std::vector<std::string> texts;
  for (PathSet& s : sets)
    for (std::size_t n = 1 + gen.pick(4); n-- > 0;) {
      PathPattern p = pat(gen.pattern());
      texts.push_back(p.text);
      s.patterns.push_back(std::move(p));
    }
  Timer timer;
  Dfa dfa = compile(sets);
  std::cout << "[ PathDfa ] 64 random sets (" << texts.size() << " patterns): " << dfa.states.size() << " states, "
            << dfa.transition_count() << " transitions, " << timer.cpu_ms() << " ms CPU (" << timer.wall_ms()
            << " ms wall)\n";
  ASSERT_NO_FATAL_FAILURE(check_canonical(dfa, dfa.states.size() <= 1500));
  std::vector<std::string> paths = {"/"};
  for (int i = 0; i < 3000; ++i) paths.push_back(gen.path());
  for (const std::string& t : texts)
    for (int i = 0; i < 10; ++i) paths.push_back(gen.instance(t));
  expect_agrees(dfa, sets, paths);
}

TEST(PathDfa, DeterministicAndIndependentOfPatternOrder) {
  Gen gen(7);
  std::mt19937_64 shuffler(99);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<PathSet> sets(1 + gen.pick(5));
    for (PathSet& s : sets)
      for (std::size_t n = 1 + gen.pick(8); n-- > 0;) s.patterns.push_back(pat(gen.pattern()));
    Dfa a = compile(sets);
    Dfa again = compile(sets);
    ASSERT_TRUE(same(a, again));
    std::vector<PathSet> shuffled = sets;
    for (PathSet& s : shuffled) {
      PathPattern first = s.patterns.front();
      s.patterns.push_back(first);  // a duplicate
      std::shuffle(s.patterns.begin(), s.patterns.end(), shuffler);
    }
    Dfa b = compile(shuffled);
    ASSERT_TRUE(same(a, b)) << "trial " << trial;
  }
}

TEST(PathDfa, EquivalentSpellingsGiveTheSameAutomaton) {
  // Same language, different pattern lists: the output is the minimal DFA of the language.
  Dfa a = compile({{"/etc/**"}});
  Dfa b = compile({{"/etc/**", "/etc/passwd", "/etc/*/x", "/etc"}});
  EXPECT_TRUE(same(a, b));
  Dfa c = compile({{"/a/[b]"}});
  Dfa d = compile({{"/a/b"}});
  EXPECT_TRUE(same(c, d));
}

TEST(PathDfa, SimulateComponentsAgreesWithSimulate) {
  Gen gen(3);
  std::vector<PathSet> sets(4);
  for (PathSet& s : sets)
    for (int n = 0; n < 5; ++n) s.patterns.push_back(pat(gen.pattern()));
  Dfa dfa = compile(sets);
  for (int i = 0; i < 2000; ++i) {
    std::string p = i % 2 ? gen.path() : gen.instance(sets[gen.pick(4)].patterns[gen.pick(5)].text);
    ASSERT_EQ(simulate_components(dfa, leaf_first(p)), simulate(dfa, p)) << p;
  }
  EXPECT_EQ(simulate_components(dfa, {}), simulate(dfa, "/"));
}

// --- Scale -------------------------------------------------------------------------------------

std::vector<std::string> exact_paths(std::size_t n) {
  static const char* tops[] = {"usr/lib/x86_64-linux-gnu", "usr/share/doc", "etc", "var/lib/dpkg/info", "opt/app"};
  static const char* subs[] = {"bin", "lib", "share/man/man1", "conf.d"};
  static const char* exts[] = {".so", ".conf", ".txt", "", ".list", ".gz"};
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back("/" + std::string(tops[i % 5]) + "/pkg" + std::to_string(i / 7 % 300) + "/" + subs[i / 3 % 4] +
                  "/file" + std::to_string(i) + exts[i % 6]);
  return out;
}

TEST(PathDfa, ManyExactPaths) {
  for (std::size_t n : {10u, 1000u, 10000u}) {
    std::vector<std::string> paths = exact_paths(n);
    PathSet set;
    for (const auto& p : paths) set.patterns.push_back(pat(p));
    Timer timer;
    Dfa dfa = compile(std::vector<PathSet>{set});
    double ms = timer.cpu_ms(), wall = timer.wall_ms();
    std::size_t bytes = 0;
    for (const auto& p : paths) bytes += p.size();
    std::cout << "[ PathDfa ] " << n << " exact paths (" << bytes << " bytes): " << dfa.states.size() << " states, "
              << dfa.transition_count() << " transitions, " << ms << " ms CPU (" << wall << " ms wall)\n";
    RecordProperty("exact_" + std::to_string(n) + "_states", static_cast<int>(dfa.states.size()));
    RecordProperty("exact_" + std::to_string(n) + "_transitions", static_cast<int>(dfa.transition_count()));
    RecordProperty("exact_" + std::to_string(n) + "_ms", static_cast<int>(ms));
    EXPECT_LT(ms, 1000.0);
    for (const auto& p : paths) ASSERT_EQ(simulate(dfa, p), 1u) << p;
    for (std::size_t i = 0; i < paths.size(); i += 7) {
      ASSERT_EQ(simulate(dfa, paths[i] + "x"), 0u);
      ASSERT_EQ(simulate(dfa, paths[i].substr(0, paths[i].rfind('/'))), 0u);
      ASSERT_EQ(simulate(dfa, "/x" + paths[i]), 0u);
    }
    if (n <= 1000) check_canonical(dfa);
  }
}

TEST(PathDfa, LargeMixedPolicy) {
  // 10,000 exact paths, 1,000 subtrees, some globs and "/**", each in its own set.
  std::vector<std::string> files = exact_paths(10000);
  std::vector<PathSet> sets(4);
  for (const auto& f : files) sets[0].patterns.push_back(pat(f));
  for (std::size_t i = 0; i < 1000; ++i)
    sets[1].patterns.push_back(pat(files[i * 10].substr(0, files[i * 10].rfind('/')) + "/**"));
  for (const char* g : {"/**/*.key", "/home/*/.ssh/**", "/proc/[0-9]*/mem", "/usr/lib/**/lib*.so*", "/tmp/**"})
    sets[2].patterns.push_back(pat(g));
  sets[3].patterns.push_back(pat("/**"));
  Timer timer;
  Dfa dfa = compile(sets);
  double ms = timer.cpu_ms(), wall = timer.wall_ms();
  std::cout << "[ PathDfa ] mixed (10000 exact, 1000 subtrees, 5 globs, /**): " << dfa.states.size() << " states, "
            << dfa.transition_count() << " transitions, " << ms << " ms CPU (" << wall << " ms wall)\n";
  EXPECT_LT(ms, 2000.0);
  Gen gen(5);
  std::vector<std::string> paths = {"/", "/home/u/.ssh/k", "/proc/1/mem", "/x/y.key", "/usr/lib/a/libz.so.1"};
  for (std::size_t i = 0; i < files.size(); i += 13) {
    paths.push_back(files[i]);
    paths.push_back(files[i] + "/sub");
    paths.push_back(files[i] + ".key");
    paths.push_back(files[i].substr(0, files[i].rfind('/')) + "/other");
  }
  for (int i = 0; i < 2000; ++i) paths.push_back(gen.path());
  expect_agrees(dfa, sets, paths);
}

TEST(PathDfa, TypicalPolicySets) {
  struct Case {
    const char* name;
    std::vector<std::vector<std::string>> sets;
  };
  std::vector<Case> cases = {
      {"secrets",
       {{"/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/sudoers.d/**", "/root/**"},
        {"/home/*/.ssh/**", "/**/*.key", "/**/*.pem", "/**/id_rsa*"},
        {"/proc/[0-9]*/mem", "/proc/[0-9]*/environ", "/proc/self/mem"},
        {"/usr/lib/**/lib*.so*", "/lib/**", "/usr/lib/**"}}},
      {"container",
       {{"/**"},
        {"/var/run/secrets/kubernetes.io/serviceaccount/**"},
        {"/tmp/**", "/dev/shm/**", "/var/tmp/**"},
        {"/bin/*", "/usr/bin/*", "/usr/local/bin/*", "/sbin/*", "/usr/sbin/*"},
        {"/**/xmrig", "/**/.*", "/**/*.sh"}}},
      {"etc-globs", {{"/etc/*.conf", "/etc/*/*.conf", "/etc/**/*.d/*", "/etc/[a-m]*/config"}}},
  };
  for (const Case& c : cases) {
    auto sets = make_sets(c.sets);
    Timer timer;
    Dfa dfa = compile(sets);
    double ms = timer.cpu_ms();
    std::cout << "[ PathDfa ] " << c.name << ": " << dfa.states.size() << " states, " << dfa.transition_count()
              << " transitions, " << ms << " ms CPU\n";
    check_canonical(dfa);
    Gen gen(11);
    std::vector<std::string> paths = {"/", "/etc/shadow", "/home/bob/.ssh/id_rsa", "/home/bob/x/.ssh/k", "/a/b.key",
                                      "/proc/123/mem", "/proc/self/environ", "/usr/lib/x/libc.so.6", "/tmp/a/.x",
                                      "/etc/ssh/sshd_config", "/etc/a.conf", "/etc/x/y.conf", "/etc/a/b/c.d/z",
                                      "/etc/mail/config", "/etc/zz/config", "/usr/bin/ls", "/usr/bin/x/ls"};
    for (const auto& set : c.sets)
      for (const auto& t : set)
        for (int i = 0; i < 50; ++i) paths.push_back(gen.instance(pat(t).text));
    expect_agrees(dfa, sets, paths);
  }
}

// The row-displaced transition table (krsie_dfa_trans) answers every (state, byte) exactly as
// the automaton does, when several automata share one table, and stays dense.
TEST(CombPacker, PackedRowsAnswerLikeTheAutomaton) {
  std::vector<Dfa> dfas;
  dfas.push_back(compile({{"/etc/shadow", "/etc/ssh/**"}, {"/tmp/x?"}, {"/dev/tty[0-9]", "/*.key"}, {"/w/*a*b*"}}));
  std::vector<std::string> many;
  for (int i = 0; i < 2000; ++i) many.push_back("/data/d" + std::to_string(i % 37) + "/file-" + std::to_string(i));
  dfas.push_back(compile({many, {"/data/tree-1/**"}}));
  CombPacker packer;
  struct Slot {
    std::uint32_t owner, next;
  };
  std::map<std::uint32_t, Slot> table;
  std::vector<std::vector<std::uint32_t>> bases;
  std::uint32_t first_state = 0;
  for (const Dfa& dfa : dfas) {
    std::vector<std::uint32_t> base;
    for (std::uint32_t s = 0; s < dfa.states.size(); ++s) {
      std::vector<std::uint8_t> bytes;
      for (auto [b, next] : dfa.states[s].edges) bytes.push_back(b);
      base.push_back(packer.place(bytes));
      for (auto [b, next] : dfa.states[s].edges) {
        ASSERT_EQ(table.count(base.back() + b), 0u) << "slot taken twice";
        table[base.back() + b] = {first_state + s, next};
      }
    }
    bases.push_back(base);
    first_state += static_cast<std::uint32_t>(dfa.states.size());
  }
  first_state = 0;
  for (std::size_t d = 0; d < dfas.size(); ++d) {
    const Dfa& dfa = dfas[d];
    for (std::uint32_t s = 0; s < dfa.states.size(); ++s)
      for (int b = 0; b < 256; ++b) {
        auto it = table.find(bases[d][s] + b);
        std::uint32_t got = it != table.end() && it->second.owner == first_state + s ? it->second.next : dfa.states[s].other;
        ASSERT_EQ(got, dfa.next(s, static_cast<std::uint8_t>(b))) << "automaton " << d << " state " << s << " byte " << b;
      }
    first_state += static_cast<std::uint32_t>(dfa.states.size());
  }
  EXPECT_EQ(packer.taken(), table.size());
  EXPECT_LE(packer.length(), packer.taken() + packer.taken() / 5 + 256) << "the table should stay dense";
}

}  // namespace
}  // namespace krsie::backend
