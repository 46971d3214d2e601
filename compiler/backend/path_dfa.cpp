#include "backend/path_dfa.h"

#include <algorithm>
#include <array>
#include <map>
#include <numeric>
#include <span>
#include <unordered_map>

#include "pir/matchers.h"

// Pipeline: one NFA for the union of all patterns, built directly for the REVERSED language
// (each pattern tagged with its set's bit; exact paths and subtree prefixes as two minimal
// acyclic automata, globs component by component; the root path "/" as its own branch), then
//   1. byte classes: the 256 bytes are split into the atoms of the byte sets the NFA uses
//      ('/', each literal byte, each [...] class, "any but '/'"), so everything below works on
//      a handful of classes instead of 256 bytes;
//   2. subset construction where every DFA state has a default target plus explicit edges only
//      for the classes that some edge singles out (keeps "[^/]*" loops sparse);
//   3. the state after a first byte '/' (only "/" itself gets there) merged with an equivalent
//      one, then trimming of the states that cannot reach an accepting state (-> k_dead);
//   4. minimization by partition refinement (Moore's signatures, but only re-examining the
//      predecessors of states that changed block, and always leaving the largest part in place,
//      so each state moves O(log n) times);
//   5. canonical numbering (BFS from the start, bytes in increasing order) and a canonical
//      choice of `other` per state.
// The result is the unique minimal DFA of the language, numbered canonically, so the output
// depends only on the sets' languages, not on pattern order or duplicates.

namespace krsie::backend {

std::size_t Dfa::transition_count() const {
  std::size_t n = 0;
  for (const State& s : states) n += s.edges.size() + (s.other != k_dead ? 1 : 0);
  return n;
}

std::uint32_t Dfa::next(std::uint32_t state, std::uint8_t byte) const {
  if (state >= states.size()) return k_dead;
  const State& s = states[state];
  auto it = std::lower_bound(s.edges.begin(), s.edges.end(), byte,
                             [](const std::pair<std::uint8_t, std::uint32_t>& e, std::uint8_t b) { return e.first < b; });
  if (it != s.edges.end() && it->first == byte) return it->second;
  return s.other;
}

std::uint64_t simulate(const Dfa& dfa, std::string_view path) {
  if (dfa.states.empty()) return 0;
  std::uint32_t s = 0;
  for (std::size_t i = path.size(); i-- > 0;) {
    s = dfa.next(s, static_cast<std::uint8_t>(path[i]));
    if (s == Dfa::k_dead) return 0;
  }
  return dfa.states[s].accept;
}

std::uint64_t simulate_components(const Dfa& dfa, const std::vector<std::string_view>& leaf_first) {
  if (dfa.states.empty()) return 0;
  std::uint32_t s = 0;
  auto feed = [&](std::uint8_t b) {
    if (s != Dfa::k_dead) s = dfa.next(s, b);
  };
  for (std::string_view c : leaf_first) {
    for (std::size_t i = c.size(); i-- > 0;) feed(static_cast<std::uint8_t>(c[i]));
    feed('/');
  }
  if (leaf_first.empty()) feed('/');
  return s == Dfa::k_dead ? 0 : dfa.states[s].accept;
}

namespace {

constexpr std::uint32_t k_none = 0xffffffff;

using ByteSet = std::array<std::uint64_t, 4>;
void add_byte(ByteSet& s, unsigned b) { s[b >> 6] |= std::uint64_t{1} << (b & 63); }
bool has_byte(const ByteSet& s, unsigned b) { return (s[b >> 6] >> (b & 63)) & 1; }
ByteSet single(unsigned b) {
  ByteSet s{};
  add_byte(s, b);
  return s;
}

// ---------------------------------------------------------------------------------------------
// NFA for the reversed language.

struct Nfa {
  struct Edge {
    std::uint32_t from, set, to;
  };
  std::vector<std::uint64_t> accept;  // per node
  std::vector<Edge> edge_list;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> eps_list;
  std::vector<ByteSet> sets;
  std::map<ByteSet, std::uint32_t> set_ids;
  // CSR, after finish()
  std::vector<std::uint32_t> edge_off, edge_set, edge_to, eps_off, eps_to;

  std::uint32_t node() {
    accept.push_back(0);
    return static_cast<std::uint32_t>(accept.size() - 1);
  }
  std::uint32_t intern(const ByteSet& s) {
    auto [it, inserted] = set_ids.emplace(s, static_cast<std::uint32_t>(sets.size()));
    if (inserted) sets.push_back(s);
    return it->second;
  }
  void edge(std::uint32_t from, std::uint32_t set, std::uint32_t to) { edge_list.push_back({from, set, to}); }
  void eps(std::uint32_t from, std::uint32_t to) { eps_list.emplace_back(from, to); }

  void finish() {
    std::size_t n = accept.size();
    edge_off.assign(n + 1, 0);
    for (const Edge& e : edge_list) ++edge_off[e.from + 1];
    std::partial_sum(edge_off.begin(), edge_off.end(), edge_off.begin());
    edge_set.resize(edge_list.size());
    edge_to.resize(edge_list.size());
    std::vector<std::uint32_t> pos(edge_off.begin(), edge_off.end() - 1);
    for (const Edge& e : edge_list) {
      std::uint32_t p = pos[e.from]++;
      edge_set[p] = e.set;
      edge_to[p] = e.to;
    }
    eps_off.assign(n + 1, 0);
    for (const auto& e : eps_list) ++eps_off[e.first + 1];
    std::partial_sum(eps_off.begin(), eps_off.end(), eps_off.begin());
    eps_to.resize(eps_list.size());
    pos.assign(eps_off.begin(), eps_off.end() - 1);
    for (const auto& e : eps_list) eps_to[pos[e.first]++] = e.second;
    edge_list = {};
    eps_list = {};
  }
};

bool is_normalized(std::string_view t) {
  if (t.empty() || t[0] != '/') return false;
  if (t == "/") return true;
  return t.back() != '/' && t.find("//") == std::string_view::npos;
}

// One element of a component pattern: a star (any run of non-'/' bytes) or exactly one byte of
// a set. Mirrors pir's component_match: '*', then '[...]' (first ']' after the '[' closes it,
// '!' or '^' right after '[' negates, "x-y" is a range compared as `char` like the reference), then
// '?', else a literal byte. An unterminated '[' matches nothing, hence neither does the component.
struct Elem {
  bool star = false;
  ByteSet set{};
};

std::vector<Elem> parse_component(std::string_view p, const ByteSet& not_slash) {
  std::vector<Elem> out;
  std::size_t i = 0;
  while (i < p.size()) {
    char ch = p[i];
    if (ch == '*') {
      out.push_back({true, {}});
      ++i;
    } else if (ch == '[') {
      std::size_t end = p.find(']', i + 1);
      if (end == std::string_view::npos) {
        out.push_back({false, ByteSet{}});  // never matches
        break;
      }
      bool negate = i + 1 < end && (p[i + 1] == '!' || p[i + 1] == '^');
      ByteSet s{};
      for (std::size_t k = i + 1 + (negate ? 1 : 0); k < end; ++k) {
        if (k + 2 < end && p[k + 1] == '-') {
          for (unsigned b = 0; b < 256; ++b) {
            char c = static_cast<char>(b);
            if (c >= p[k] && c <= p[k + 2]) add_byte(s, b);
          }
          k += 2;
        } else {
          add_byte(s, static_cast<std::uint8_t>(p[k]));
        }
      }
      if (negate)
        for (auto& w : s) w = ~w;
      for (std::size_t w = 0; w < 4; ++w) s[w] &= not_slash[w];  // a component byte is never '/'
      out.push_back({false, s});
      i = end + 1;
    } else if (ch == '?') {
      out.push_back({false, not_slash});
      ++i;
    } else {
      out.push_back({false, single(static_cast<std::uint8_t>(ch))});
      ++i;
    }
  }
  return out;
}

// The minimal acyclic automaton of a sorted word list (Daciuk et al.'s incremental algorithm).
// Only the nodes on the path of the last word are open; every other node is frozen in flat
// arrays and interned by its (tag, edges), so equal suffixes share one node.
class Dawg {
 public:
  using Edge = std::pair<std::uint8_t, std::uint32_t>;

  Dawg() : open_(1) {}

  // Words must come in increasing order.
  void add(std::string_view w, std::uint64_t tag) {
    std::size_t p = 0;
    while (p < w.size() && p < prev_.size() && w[p] == prev_[p]) ++p;
    settle(p);
    for (std::size_t i = p; i < w.size(); ++i) {
      open_[depth_ - 1].edges.emplace_back(static_cast<std::uint8_t>(w[i]), k_none);
      if (open_.size() == depth_) open_.emplace_back();
      ++depth_;
    }
    open_[depth_ - 1].tag |= tag;
    prev_ = w;
  }

  // Freezes every node but the root; then root() names it.
  void finish() {
    settle(0);
    tag_.push_back(open_[0].tag);
    off_.push_back(static_cast<std::uint32_t>(pool_.size()));
    pool_.insert(pool_.end(), open_[0].edges.begin(), open_[0].edges.end());
  }
  std::uint32_t root() const { return static_cast<std::uint32_t>(tag_.size() - 1); }
  std::uint64_t tag(std::uint32_t n) const { return tag_[n]; }
  std::span<const Edge> edges(std::uint32_t n) const {
    std::uint32_t end = n + 1 < off_.size() ? off_[n + 1] : static_cast<std::uint32_t>(pool_.size());
    return {pool_.data() + off_[n], pool_.data() + end};
  }

 private:
  struct Open {
    std::uint64_t tag = 0;
    std::vector<Edge> edges;  // increasing bytes; the last one leads to the next open node
  };

  // Freezes the open nodes deeper than `keep`, bottom-up, each replaced by its frozen twin.
  void settle(std::size_t keep) {
    while (depth_ - 1 > keep) {
      Open& node = open_[depth_ - 1];
      std::uint32_t frozen = intern(node);
      node.tag = 0;
      node.edges.clear();
      --depth_;
      open_[depth_ - 1].edges.back().second = frozen;
    }
  }

  std::uint32_t intern(const Open& node) {
    if ((tag_.size() + 1) * 2 > slots_.size()) grow();
    std::uint64_t h = hash(node.tag, node.edges.data(), node.edges.size());
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      std::uint32_t id = slots_[i];
      if (id == k_none) {
        id = static_cast<std::uint32_t>(tag_.size());
        tag_.push_back(node.tag);
        off_.push_back(static_cast<std::uint32_t>(pool_.size()));
        pool_.insert(pool_.end(), node.edges.begin(), node.edges.end());
        hash_.push_back(h);
        slots_[i] = id;
        return id;
      }
      if (hash_[id] != h || tag_[id] != node.tag) continue;
      std::span<const Edge> e = edges(id);
      if (std::equal(e.begin(), e.end(), node.edges.begin(), node.edges.end())) return id;
    }
  }

  static std::uint64_t hash(std::uint64_t tag, const Edge* e, std::size_t n) {
    std::uint64_t h = 0x9e3779b97f4a7c15ull ^ tag;
    h = (h ^ (h >> 29)) * 0xff51afd7ed558ccdull;
    for (std::size_t i = 0; i < n; ++i) {
      h ^= std::uint64_t{e[i].first} << 32 | e[i].second;
      h *= 0xff51afd7ed558ccdull;
      h ^= h >> 29;
    }
    return h;
  }

  void grow() {
    std::vector<std::uint32_t> slots(std::max<std::size_t>(64, slots_.size() * 2), k_none);
    std::size_t mask = slots.size() - 1;
    for (std::uint32_t id = 0; id < tag_.size(); ++id) {
      std::size_t i = hash_[id] & mask;
      while (slots[i] != k_none) i = (i + 1) & mask;
      slots[i] = id;
    }
    slots_ = std::move(slots);
  }

  std::vector<Open> open_;  // open_[0]: the root; open_[i]: after i bytes of the last word
  std::size_t depth_ = 1;   // open nodes in use
  std::string_view prev_;
  // Frozen nodes (and, after finish(), the root last).
  std::vector<std::uint64_t> tag_, hash_;
  std::vector<std::uint32_t> off_;
  std::vector<Edge> pool_;
  std::vector<std::uint32_t> slots_;
};

struct NfaBuilder {
  Nfa nfa;
  std::uint32_t start = 0;  // S0: never re-entered, so its DFA state is never re-entered either
  std::uint32_t ns = 0, slash = 0;  // set ids: "any byte but '/'", "'/'"
  ByteSet not_slash{};

  NfaBuilder() {
    for (auto& w : not_slash) w = ~std::uint64_t{0};
    not_slash['/' >> 6] &= ~(std::uint64_t{1} << ('/' & 63));
    ns = nfa.intern(not_slash);
    slash = nfa.intern(single('/'));
    start = nfa.node();
  }

  // ( [^/]+ '/' )*  — zero or more whole components, read leaf-first.
  std::uint32_t any_components(std::uint32_t from) {
    std::uint32_t loop = nfa.node(), inside = nfa.node();
    nfa.eps(from, loop);
    nfa.edge(loop, ns, inside);
    nfa.edge(inside, ns, inside);
    nfa.edge(inside, slash, loop);
    return loop;
  }

  // Exact paths, and the literal tails of subtrees, go into two minimal acyclic automata built
  // from the sorted reversed strings (Daciuk et al.'s incremental algorithm), so that long lists
  // of paths reach the subset construction already minimal instead of as a trie.
  std::vector<std::pair<std::string, std::uint64_t>> exact_words, subtree_words;

  std::uint32_t literal_automaton(std::vector<std::pair<std::string, std::uint64_t>>& words) {
    std::sort(words.begin(), words.end());
    Dawg dawg;
    for (const auto& [w, tag] : words) dawg.add(w, tag);
    dawg.finish();
    // Copy what is reachable from the root into the NFA (depth first, edges in byte order).
    const std::uint32_t root = dawg.root();
    std::vector<std::uint32_t> id(root + 1, k_none), work{root};
    id[root] = nfa.node();
    while (!work.empty()) {
      std::uint32_t n = work.back();
      work.pop_back();
      nfa.accept[id[n]] |= dawg.tag(n);
      for (const auto& [b, to] : dawg.edges(n)) {
        if (id[to] == k_none) {
          id[to] = nfa.node();
          work.push_back(to);
        }
        nfa.edge(id[n], byte_set(b), id[to]);
      }
    }
    return id[root];
  }

  std::uint32_t byte_set(std::uint8_t b) {
    if (single_ids[b] == k_none) single_ids[b] = nfa.intern(single(b));
    return single_ids[b];
  }
  std::array<std::uint32_t, 256> single_ids = make_none();
  static std::array<std::uint32_t, 256> make_none() {
    std::array<std::uint32_t, 256> a;
    a.fill(k_none);
    return a;
  }

  // Called once after all add()s.
  void finish_literals() {
    if (!exact_words.empty()) nfa.eps(start, literal_automaton(exact_words));
    if (!subtree_words.empty()) {
      std::uint32_t head = nfa.node();
      nfa.eps(start, head);
      nfa.eps(any_components(head), literal_automaton(subtree_words));
    }
  }

  // Every pattern's automaton reads a non-'/' byte first (components are non-empty), so after
  // the first byte '/' only the root can be pending: that is handled by `root_mask`.
  void add(const pir::PathPattern& p, std::uint64_t tag) {
    using K = pir::PathPattern::Kind;
    if (p.kind == K::exact && p.text == "/") return;  // the root only: root_mask
    if (p.kind == K::exact || (p.kind == K::subtree && p.text != "/")) {
      (p.kind == K::exact ? exact_words : subtree_words).emplace_back(std::string(p.text.rbegin(), p.text.rend()), tag);
      return;
    }
    std::uint32_t head = nfa.node();
    nfa.eps(start, head);
    if (p.kind == K::subtree) {  // "/": ( [^/]+ '/' )+, and the root through root_mask
      std::uint32_t inside = nfa.node(), done = nfa.node();
      nfa.edge(head, ns, inside);
      nfa.edge(inside, ns, inside);
      nfa.edge(inside, slash, done);
      nfa.edge(done, ns, inside);
      nfa.accept[done] |= tag;
      return;
    }
    // Glob: its components last to first; each is its elements last to first, then '/'.
    std::vector<std::string_view> comps;
    std::string_view t = p.text;
    for (std::size_t i = 1; i < t.size();) {
      std::size_t j = t.find('/', i);
      if (j == std::string_view::npos) j = t.size();
      comps.push_back(t.substr(i, j - i));
      i = j + 1;
    }
    std::uint32_t cur = head;
    for (std::size_t k = comps.size(); k-- > 0;) {
      if (comps[k] == "**") {
        cur = any_components(cur);
        continue;
      }
      std::vector<Elem> elems = parse_component(comps[k], not_slash);
      // Path components are non-empty: a component of stars only means "[^/]+".
      if (std::all_of(elems.begin(), elems.end(), [](const Elem& e) { return e.star; }))
        elems = {Elem{false, not_slash}, Elem{true, {}}};
      for (std::size_t e = elems.size(); e-- > 0;) {
        std::uint32_t n = nfa.node();
        if (elems[e].star) {
          nfa.eps(cur, n);
          nfa.edge(n, ns, n);
        } else {
          nfa.edge(cur, nfa.intern(elems[e].set), n);
        }
        cur = n;
      }
      std::uint32_t n = nfa.node();
      nfa.edge(cur, slash, n);
      cur = n;
    }
    nfa.accept[cur] |= tag;
  }
};

// ---------------------------------------------------------------------------------------------
// Byte classes.

struct Classes {
  std::uint32_t count = 0;
  std::array<std::uint32_t, 256> of_byte{};
  std::vector<std::vector<std::uint8_t>> bytes;  // per class, increasing; classes ordered by first byte
  // Per NFA byte set: the classes it contains, or (complement) the classes it does not.
  std::vector<bool> complement;
  std::vector<std::vector<std::uint32_t>> list;
};

Classes compute_classes(const std::vector<ByteSet>& sets) {
  Classes c;
  std::map<std::vector<std::uint64_t>, std::uint32_t> by_key;
  std::size_t words = (sets.size() + 63) / 64;
  for (unsigned b = 0; b < 256; ++b) {
    std::vector<std::uint64_t> key(words, 0);
    for (std::size_t s = 0; s < sets.size(); ++s)
      if (has_byte(sets[s], b)) key[s / 64] |= std::uint64_t{1} << (s % 64);
    auto [it, inserted] = by_key.emplace(std::move(key), c.count);
    if (inserted) {
      ++c.count;
      c.bytes.emplace_back();
    }
    c.of_byte[b] = it->second;
    c.bytes[it->second].push_back(static_cast<std::uint8_t>(b));
  }
  c.complement.resize(sets.size());
  c.list.resize(sets.size());
  for (std::size_t s = 0; s < sets.size(); ++s) {
    std::vector<std::uint32_t> in, out;
    for (std::uint32_t k = 0; k < c.count; ++k) (has_byte(sets[s], c.bytes[k][0]) ? in : out).push_back(k);
    c.complement[s] = out.size() < in.size();
    c.list[s] = c.complement[s] ? std::move(out) : std::move(in);
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Subset construction.

std::uint64_t hash_span(const std::uint32_t* p, std::size_t n) {
  std::uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  return h;
}

// Interned sorted NFA-node sets, one per DFA state.
class SetTable {
 public:
  std::size_t size() const { return off_.size(); }
  const std::uint32_t* data(std::uint32_t id) const { return pool_.data() + off_[id]; }
  std::uint32_t length(std::uint32_t id) const { return len_[id]; }

  // Returns {id, inserted}.
  std::pair<std::uint32_t, bool> intern(const std::vector<std::uint32_t>& key) {
    if ((off_.size() + 1) * 2 > slots_.size()) grow();
    std::uint64_t h = hash_span(key.data(), key.size());
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      std::uint32_t id = slots_[i];
      if (id == k_none) {
        id = static_cast<std::uint32_t>(off_.size());
        off_.push_back(pool_.size());
        len_.push_back(static_cast<std::uint32_t>(key.size()));
        hash_.push_back(h);
        pool_.insert(pool_.end(), key.begin(), key.end());
        slots_[i] = id;
        return {id, true};
      }
      if (hash_[id] == h && len_[id] == key.size() && std::equal(key.begin(), key.end(), data(id))) return {id, false};
    }
  }

 private:
  void grow() {
    std::vector<std::uint32_t> slots(std::max<std::size_t>(64, slots_.size() * 2), k_none);
    std::size_t mask = slots.size() - 1;
    for (std::uint32_t id = 0; id < off_.size(); ++id) {
      std::size_t i = hash_[id] & mask;
      while (slots[i] != k_none) i = (i + 1) & mask;
      slots[i] = id;
    }
    slots_ = std::move(slots);
  }
  std::vector<std::uint32_t> pool_;
  std::vector<std::size_t> off_;
  std::vector<std::uint32_t> len_;
  std::vector<std::uint64_t> hash_;
  std::vector<std::uint32_t> slots_;
};

// A DFA over classes with, per state, explicit (class, target) edges sorted by class and a
// default target for the other classes. Targets may be k_none (dead).
struct ClassDfa {
  std::vector<std::uint64_t> accept;
  std::vector<std::uint32_t> dflt;
  std::vector<std::uint32_t> ex_off{0};
  std::vector<std::pair<std::uint32_t, std::uint32_t>> ex;
  std::size_t size() const { return accept.size(); }
};

class SubsetBuilder {
 public:
  SubsetBuilder(const Nfa& nfa, const Classes& cls, const DfaLimits& limits)
      : nfa_(nfa), cls_(cls), limits_(limits), mark_(nfa.accept.size(), 0) {}

  // For each DFA state (a closed set Q of NFA nodes), with "small" edges naming a few classes and
  // "large" edges naming all classes but a few (the "[^/]" loops):
  //   default   = closure(targets of all large edges)       — for the classes nobody singles out
  //   T(c)      = default ∪ closure(small targets on c)     — when no large edge excludes c
  //   T(c)      = closure(small on c ∪ large not excluding c) — otherwise (e.g. c = '/')
  // and explicit edges only for the classes some edge names where T(c) differs from the default.
  bool run(std::uint32_t start, ClassDfa& out, std::string* error) {
    seeds_ = {start};
    close(nullptr);
    if (lookup(out) == k_none) return fail(error);
    out.accept[0] = 0;  // the empty walk does not exist; S0 is never re-entered
    std::vector<std::pair<std::uint32_t, std::uint32_t>> small;  // (class, nfa target)
    std::vector<std::pair<std::uint32_t, std::uint32_t>> large;  // (set, nfa target)
    std::vector<std::uint32_t> mentioned, excluded, cur, dset;
    for (std::uint32_t id = 0; id < table_.size(); ++id) {
      cur.assign(table_.data(id), table_.data(id) + table_.length(id));
      small.clear();
      large.clear();
      mentioned.clear();
      excluded.clear();
      for (std::uint32_t q : cur) {
        for (std::uint32_t e = nfa_.edge_off[q]; e < nfa_.edge_off[q + 1]; ++e) {
          std::uint32_t set = nfa_.edge_set[e], to = nfa_.edge_to[e];
          const auto& list = cls_.list[set];
          if (cls_.complement[set]) {
            large.emplace_back(set, to);
            excluded.insert(excluded.end(), list.begin(), list.end());
          } else {
            for (std::uint32_t c : list) small.emplace_back(c, to);
          }
        }
      }
      for (const auto& p : small) mentioned.push_back(p.first);
      mentioned.insert(mentioned.end(), excluded.begin(), excluded.end());
      std::sort(mentioned.begin(), mentioned.end());
      mentioned.erase(std::unique(mentioned.begin(), mentioned.end()), mentioned.end());
      std::sort(excluded.begin(), excluded.end());
      excluded.erase(std::unique(excluded.begin(), excluded.end()), excluded.end());
      std::sort(small.begin(), small.end());
      small.erase(std::unique(small.begin(), small.end()), small.end());

      std::uint32_t dflt = k_none;
      dset.clear();
      if (!large.empty()) {
        seeds_.clear();
        for (const auto& l : large) seeds_.push_back(l.second);
        close(nullptr);
        dset = set_;
        dflt = lookup(out);
        if (dflt == k_none) return fail(error);
      }
      std::size_t i = 0;
      for (std::uint32_t c : mentioned) {
        seeds_.clear();
        while (i < small.size() && small[i].first == c) seeds_.push_back(small[i++].second);
        bool base = !large.empty() && !std::binary_search(excluded.begin(), excluded.end(), c);
        if (!base)
          for (const auto& [set, to] : large)
            if (!std::binary_search(cls_.list[set].begin(), cls_.list[set].end(), c)) seeds_.push_back(to);
        std::uint32_t to = k_none;
        if (base && seeds_.empty()) {
          to = dflt;
        } else if (base || !seeds_.empty()) {
          close(base ? &dset : nullptr);
          to = lookup(out);
          if (to == k_none) return fail(error);
        }
        if (to != dflt) out.ex.emplace_back(c, to);
      }
      out.dflt.push_back(dflt);
      out.ex_off.push_back(static_cast<std::uint32_t>(out.ex.size()));
    }
    return true;
  }

 private:
  bool fail(std::string* error) {
    if (!error) return false;
    if (table_.size() > limits_.max_subset_states)
      *error = "path automaton too large: the subset construction exceeds " + std::to_string(limits_.max_subset_states) +
               " states (globs with several '*' components above a literal one, read leaf-first, multiply states)";
    else
      *error = "path automaton too large: the subset construction's states hold more than " +
               std::to_string(limits_.max_subset_entries) +
               " pattern positions (many globs that fix the start of a component, like \"[a-m]x*\", read leaf-first, "
               "keep every pattern alive in every state)";
    return false;
  }

  // set_ = base ∪ ε-closure(seeds_), sorted; `base` must be sorted and ε-closed.
  void close(const std::vector<std::uint32_t>* base) {
    if (++gen_ == 0) {
      std::fill(mark_.begin(), mark_.end(), 0);
      gen_ = 1;
    }
    if (base)
      for (std::uint32_t q : *base) mark_[q] = gen_;
    fresh_.clear();
    stack_.clear();
    for (std::uint32_t q : seeds_)
      if (mark_[q] != gen_) {
        mark_[q] = gen_;
        fresh_.push_back(q);
        stack_.push_back(q);
      }
    while (!stack_.empty()) {
      std::uint32_t q = stack_.back();
      stack_.pop_back();
      for (std::uint32_t e = nfa_.eps_off[q]; e < nfa_.eps_off[q + 1]; ++e) {
        std::uint32_t r = nfa_.eps_to[e];
        if (mark_[r] != gen_) {
          mark_[r] = gen_;
          fresh_.push_back(r);
          stack_.push_back(r);
        }
      }
    }
    std::sort(fresh_.begin(), fresh_.end());
    set_.clear();
    if (base)
      std::merge(base->begin(), base->end(), fresh_.begin(), fresh_.end(), std::back_inserter(set_));
    else
      set_.swap(fresh_);
  }

  // The DFA state for set_ (created if new); k_none past the limit.
  std::uint32_t lookup(ClassDfa& out) {
    auto [id, inserted] = table_.intern(set_);
    if (inserted) {
      std::uint64_t acc = 0;
      for (std::uint32_t q : set_) acc |= nfa_.accept[q];
      out.accept.push_back(acc);
      entries_ += set_.size();
      if (table_.size() > limits_.max_subset_states || entries_ > limits_.max_subset_entries) return k_none;
    }
    return id;
  }

  const Nfa& nfa_;
  const Classes& cls_;
  const DfaLimits& limits_;
  SetTable table_;
  std::size_t entries_ = 0;
  std::vector<std::uint32_t> mark_, stack_, seeds_, fresh_, set_;
  std::uint32_t gen_ = 0;
};

std::uint32_t step(const ClassDfa& d, std::uint32_t s, std::uint32_t c) {
  auto begin = d.ex.begin() + d.ex_off[s], end = d.ex.begin() + d.ex_off[s + 1];
  auto it = std::lower_bound(begin, end, std::make_pair(c, std::uint32_t{0}));
  return it != end && it->first == c ? it->second : d.dflt[s];
}

// The state after the first byte '/' is only ever reached by the walk of "/" itself: its own
// transitions are "don't care". It can therefore be any state with the root's accept mask. Take
// the state reached by "b/" for the first byte b for which that holds (b would be a one-byte leaf
// component; usually b = 0, a byte no pattern names): for "/**" this makes the start state the
// same as the "inside a component" state, 2 states instead of 4. Chosen from residual languages
// only, so the result stays canonical; it never adds states (nothing but the start leads to the
// root state).
void merge_root(ClassDfa& d, const Classes& cls, std::uint64_t root_mask) {
  std::uint32_t slash = cls.of_byte['/'];
  for (unsigned b = 0; b < 256; ++b) {
    if (b == '/') continue;
    std::uint32_t t = step(d, 0, cls.of_byte[b]);
    if (t == k_none) continue;
    std::uint32_t q = step(d, t, slash);
    if (q == k_none || d.accept[q] != root_mask) continue;
    for (std::uint32_t e = d.ex_off[0]; e < d.ex_off[1]; ++e)
      if (d.ex[e].first == slash) d.ex[e].second = q;  // always explicit: the root edge is a '/' singleton
    return;
  }
}

// Keeps the states that can reach an accepting state, renumbered in order (the start stays 0
// when it survives); edges to the others become k_none.
ClassDfa trim(const ClassDfa& d) {
  std::size_t n = d.size();
  std::vector<std::uint32_t> roff(n + 1, 0), rto;
  auto each_target = [&](std::uint32_t s, auto&& f) {
    if (d.dflt[s] != k_none) f(d.dflt[s]);
    for (std::uint32_t e = d.ex_off[s]; e < d.ex_off[s + 1]; ++e)
      if (d.ex[e].second != k_none) f(d.ex[e].second);
  };
  for (std::uint32_t s = 0; s < n; ++s) each_target(s, [&](std::uint32_t t) { ++roff[t + 1]; });
  std::partial_sum(roff.begin(), roff.end(), roff.begin());
  rto.resize(roff[n]);
  std::vector<std::uint32_t> pos(roff.begin(), roff.end() - 1);
  for (std::uint32_t s = 0; s < n; ++s) each_target(s, [&](std::uint32_t t) { rto[pos[t]++] = s; });
  std::vector<char> live(n, 0);
  std::vector<std::uint32_t> work;
  for (std::uint32_t s = 0; s < n; ++s)
    if (d.accept[s]) {
      live[s] = 1;
      work.push_back(s);
    }
  while (!work.empty()) {
    std::uint32_t t = work.back();
    work.pop_back();
    for (std::uint32_t i = roff[t]; i < roff[t + 1]; ++i)
      if (!live[rto[i]]) {
        live[rto[i]] = 1;
        work.push_back(rto[i]);
      }
  }
  std::vector<std::uint32_t> id(n, k_none);
  std::uint32_t m = 0;
  for (std::uint32_t s = 0; s < n; ++s)
    if (live[s]) id[s] = m++;
  ClassDfa out;
  auto map = [&](std::uint32_t t) { return t == k_none ? k_none : id[t]; };
  for (std::uint32_t s = 0; s < n; ++s) {
    if (!live[s]) continue;
    out.accept.push_back(d.accept[s]);
    std::uint32_t df = map(d.dflt[s]);
    out.dflt.push_back(df);
    for (std::uint32_t e = d.ex_off[s]; e < d.ex_off[s + 1]; ++e) {
      std::uint32_t t = map(d.ex[e].second);
      if (t != df) out.ex.emplace_back(d.ex[e].first, t);
    }
    out.ex_off.push_back(static_cast<std::uint32_t>(out.ex.size()));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Minimization: the coarsest partition, compatible with accept masks, in which all states of a
// block go to the same block on every class. Returns the block of each state and the number of
// blocks.

class Minimizer {
 public:
  Minimizer(const ClassDfa& d, std::uint32_t classes) : d_(d), classes_(classes) {}

  std::uint32_t run(std::vector<std::uint32_t>& block_of) {
    std::uint32_t n = static_cast<std::uint32_t>(d_.size());
    build_preds(n);
    // Initial partition: by accept mask.
    elems_.resize(n);
    std::iota(elems_.begin(), elems_.end(), 0u);
    std::sort(elems_.begin(), elems_.end(), [&](std::uint32_t a, std::uint32_t b) {
      return d_.accept[a] != d_.accept[b] ? d_.accept[a] < d_.accept[b] : a < b;
    });
    blk_.resize(n);
    loc_.resize(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      std::uint32_t s = elems_[i];
      loc_[s] = i;
      if (i == 0 || d_.accept[s] != d_.accept[elems_[i - 1]]) {
        if (!bfirst_.empty()) bend_.push_back(i);
        bfirst_.push_back(i);
        bsig_.emplace_back();
      }
      blk_[s] = static_cast<std::uint32_t>(bfirst_.size() - 1);
    }
    if (n) bend_.push_back(n);

    std::vector<std::uint32_t> dirty(n);
    std::iota(dirty.begin(), dirty.end(), 0u);
    in_dirty_.assign(n, 1);
    round_.assign(n, 0);
    std::uint32_t round = 0;
    std::vector<std::uint32_t> batch, sig_off, order, clean;
    std::vector<std::uint32_t> pool;
    std::vector<std::uint64_t> sig_hash;
    struct Key {
      std::uint32_t block;
      std::uint64_t hash;
      std::uint32_t index;
    };
    std::vector<Key> keys;
    struct Group {
      std::uint32_t first, last;  // range in `order`
      std::size_t count;
      bool has_clean;
    };
    std::vector<Group> groups;
    while (!dirty.empty()) {
      ++round;
      batch.swap(dirty);
      dirty.clear();
      pool.clear();
      sig_off.clear();
      sig_hash.clear();
      for (std::uint32_t s : batch) {
        in_dirty_[s] = 0;
        round_[s] = round;
        std::size_t at = pool.size();
        sig_off.push_back(static_cast<std::uint32_t>(at));
        signature(s, pool);
        sig_hash.push_back(hash_span(pool.data() + at, pool.size() - at));
      }
      sig_off.push_back(static_cast<std::uint32_t>(pool.size()));
      auto sig_begin = [&](std::uint32_t j) { return pool.begin() + sig_off[j]; };
      auto sig_end = [&](std::uint32_t j) { return pool.begin() + sig_off[j + 1]; };
      auto sig_eq = [&](std::uint32_t a, std::uint32_t b) {
        return std::equal(sig_begin(a), sig_end(a), sig_begin(b), sig_end(b));
      };
      // Group the batch by block, then by signature: sort plain keys (block, hash), then make
      // sure equal signatures are adjacent even under a hash collision.
      keys.resize(batch.size());
      for (std::uint32_t j = 0; j < batch.size(); ++j) keys[j] = {blk_[batch[j]], sig_hash[j], j};
      std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
        return a.block != b.block ? a.block < b.block : a.hash != b.hash ? a.hash < b.hash : a.index < b.index;
      });
      order.resize(batch.size());
      for (std::size_t i = 0; i < keys.size(); ++i) order[i] = keys[i].index;
      for (std::size_t a = 0, b; a < keys.size(); a = b) {
        bool uniform = true;
        for (b = a + 1; b < keys.size() && keys[b].block == keys[a].block && keys[b].hash == keys[a].hash; ++b)
          uniform = uniform && sig_eq(order[b], order[a]);
        if (!uniform)
          std::sort(order.begin() + a, order.begin() + b, [&](std::uint32_t x, std::uint32_t y) {
            if (std::lexicographical_compare(sig_begin(x), sig_end(x), sig_begin(y), sig_end(y))) return true;
            if (std::lexicographical_compare(sig_begin(y), sig_end(y), sig_begin(x), sig_end(x))) return false;
            return x < y;
          });
      }
      for (std::uint32_t a = 0, b; a < order.size(); a = b) {
        std::uint32_t B = blk_[batch[order[a]]];
        for (b = a; b < order.size() && blk_[batch[order[b]]] == B; ++b) {
        }
        std::size_t clean_count = (bend_[B] - bfirst_[B]) - (b - a);
        groups.clear();
        for (std::uint32_t g = a, h; g < b; g = h) {
          for (h = g + 1; h < b && sig_eq(order[h], order[g]); ++h) {
          }
          groups.push_back({g, h, h - g, false});
        }
        if (clean_count > 0) {
          bool found = false;
          for (Group& g : groups)
            if (std::equal(sig_begin(order[g.first]), sig_end(order[g.first]), bsig_[B].begin(), bsig_[B].end())) {
              g.count += clean_count;
              g.has_clean = found = true;
            }
          if (!found) groups.push_back({b, b, clean_count, true});
        }
        auto sig_of = [&](const Group& g) {
          return g.first == g.last ? bsig_[B]
                                   : std::vector<std::uint32_t>(sig_begin(order[g.first]), sig_end(order[g.first]));
        };
        if (groups.size() == 1) {
          bsig_[B] = sig_of(groups[0]);
          continue;
        }
        std::size_t keeper = 0;
        for (std::size_t g = 1; g < groups.size(); ++g)
          if (groups[g].count > groups[keeper].count ||
              (groups[g].count == groups[keeper].count && groups[g].has_clean && !groups[keeper].has_clean))
            keeper = g;
        clean.clear();
        if (clean_count > 0 && !groups[keeper].has_clean)
          for (std::uint32_t p = bfirst_[B]; p < bend_[B]; ++p)
            if (round_[elems_[p]] != round) clean.push_back(elems_[p]);
        std::vector<std::uint32_t> keeper_sig = sig_of(groups[keeper]);
        for (std::size_t g = 0; g < groups.size(); ++g) {
          if (g == keeper) continue;
          std::uint32_t nb = static_cast<std::uint32_t>(bfirst_.size());
          bsig_.push_back(sig_of(groups[g]));
          std::uint32_t old_end = bend_[B];
          auto move = [&](std::uint32_t s) {
            std::uint32_t p = loc_[s], last = --bend_[B];
            std::uint32_t o = elems_[last];
            elems_[p] = o;
            loc_[o] = p;
            elems_[last] = s;
            loc_[s] = last;
          };
          for (std::uint32_t k = groups[g].first; k < groups[g].last; ++k) move(batch[order[k]]);
          if (groups[g].has_clean)
            for (std::uint32_t s : clean) move(s);
          bfirst_.push_back(bend_[B]);
          bend_.push_back(old_end);
          for (std::uint32_t p = bfirst_[nb]; p < old_end; ++p) {
            std::uint32_t s = elems_[p];
            blk_[s] = nb;
            for (std::uint32_t i = poff_[s]; i < poff_[s + 1]; ++i) {
              std::uint32_t q = pto_[i];
              if (!in_dirty_[q]) {
                in_dirty_[q] = 1;
                dirty.push_back(q);
              }
            }
          }
        }
        bsig_[B] = std::move(keeper_sig);
      }
    }
    block_of = blk_;
    return static_cast<std::uint32_t>(bfirst_.size());
  }

 private:
  void build_preds(std::uint32_t n) {
    std::vector<std::uint32_t> targets;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> pairs;  // (target, source)
    for (std::uint32_t s = 0; s < n; ++s) {
      targets.clear();
      if (d_.dflt[s] != k_none) targets.push_back(d_.dflt[s]);
      for (std::uint32_t e = d_.ex_off[s]; e < d_.ex_off[s + 1]; ++e)
        if (d_.ex[e].second != k_none) targets.push_back(d_.ex[e].second);
      std::sort(targets.begin(), targets.end());
      targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
      for (std::uint32_t t : targets) pairs.emplace_back(t, s);
    }
    poff_.assign(n + 1, 0);
    for (const auto& p : pairs) ++poff_[p.first + 1];
    std::partial_sum(poff_.begin(), poff_.end(), poff_.begin());
    pto_.resize(pairs.size());
    std::vector<std::uint32_t> pos(poff_.begin(), poff_.end() - 1);
    for (const auto& p : pairs) pto_[pos[p.first]++] = p.second;
  }

  std::uint32_t bl(std::uint32_t t) const { return t == k_none ? k_none : blk_[t]; }

  // The state's transition function at block level, canonically: the block most classes go to
  // (ties: the lowest block number), then (class, block) for every class going elsewhere.
  void signature(std::uint32_t s, std::vector<std::uint32_t>& out) {
    std::uint32_t e0 = d_.ex_off[s], e1 = d_.ex_off[s + 1];
    std::uint32_t k = e1 - e0;
    std::uint32_t db = bl(d_.dflt[s]);
    if (k == 0) {
      out.push_back(db);
      return;
    }
    counts_.clear();
    counts_.emplace_back(db, classes_ - k);
    for (std::uint32_t e = e0; e < e1; ++e) counts_.emplace_back(bl(d_.ex[e].second), 1);
    std::sort(counts_.begin(), counts_.end());
    std::uint32_t base = k_none;
    std::size_t best = 0;
    for (std::size_t i = 0; i < counts_.size();) {
      std::size_t j = i, c = 0;
      for (; j < counts_.size() && counts_[j].first == counts_[i].first; ++j) c += counts_[j].second;
      if (c > best) {
        best = c;
        base = counts_[i].first;
      }
      i = j;
    }
    out.push_back(base);
    if (db == base) {
      for (std::uint32_t e = e0; e < e1; ++e) {
        std::uint32_t b = bl(d_.ex[e].second);
        if (b != base) {
          out.push_back(d_.ex[e].first);
          out.push_back(b);
        }
      }
    } else {
      std::uint32_t e = e0;
      for (std::uint32_t c = 0; c < classes_; ++c) {
        std::uint32_t b = (e < e1 && d_.ex[e].first == c) ? bl(d_.ex[e++].second) : db;
        if (b != base) {
          out.push_back(c);
          out.push_back(b);
        }
      }
    }
  }

  const ClassDfa& d_;
  std::uint32_t classes_;
  std::vector<std::uint32_t> poff_, pto_;
  std::vector<std::uint32_t> elems_, loc_, blk_, bfirst_, bend_;
  std::vector<std::vector<std::uint32_t>> bsig_;
  std::vector<char> in_dirty_;
  std::vector<std::uint32_t> round_;
  std::vector<std::pair<std::uint32_t, std::size_t>> counts_;
};

// Class-level targets of state s (k_none: dead), in class order.
void class_targets(const ClassDfa& d, std::uint32_t s, std::uint32_t classes, std::vector<std::uint32_t>& out) {
  out.assign(classes, d.dflt[s]);
  for (std::uint32_t e = d.ex_off[s]; e < d.ex_off[s + 1]; ++e) out[d.ex[e].first] = d.ex[e].second;
}

}  // namespace

std::optional<Dfa> compile_reverse_dfa(const std::vector<PathSet>& sets, std::string* error, const DfaLimits& limits) {
  auto fail = [&](std::string msg) -> std::optional<Dfa> {
    if (error) *error = std::move(msg);
    return std::nullopt;
  };
  if (sets.size() > 64)
    return fail("too many path sets for one automaton: " + std::to_string(sets.size()) + " (at most 64)");

  NfaBuilder nb;
  std::uint64_t root_mask = 0;
  for (std::size_t i = 0; i < sets.size(); ++i) {
    std::uint64_t tag = std::uint64_t{1} << i;
    for (const pir::PathPattern& p : sets[i].patterns) {
      if (!is_normalized(p.text))
        return fail("path pattern '" + p.text + "' is not normalized (absolute, no empty component, no trailing '/')");
      if (pir::path_matches(p, "/")) root_mask |= tag;
      nb.add(p, tag);
    }
  }
  nb.finish_literals();
  if (root_mask) {
    std::uint32_t root = nb.nfa.node();
    nb.nfa.accept[root] = root_mask;
    nb.nfa.edge(nb.start, nb.slash, root);
  }
  nb.nfa.finish();
  Classes cls = compute_classes(nb.nfa.sets);

  ClassDfa raw;
  {
    SubsetBuilder sb(nb.nfa, cls, limits);
    if (!sb.run(nb.start, raw, error)) return std::nullopt;
  }
  if (root_mask) merge_root(raw, cls, root_mask);
  Dfa dfa;
  // Every state is reachable from the start, so the start survives trimming (as state 0) iff
  // any state does; otherwise the language is empty: a lone start state.
  ClassDfa live = trim(raw);
  raw = {};
  if (live.size() == 0) {
    if (limits.max_states < 1) return fail("path automaton exceeds the limit of 0 states");
    dfa.states.emplace_back();
    return dfa;
  }

  std::vector<std::uint32_t> block_of;
  std::uint32_t blocks = Minimizer(live, cls.count).run(block_of);
  std::vector<std::uint32_t> rep(blocks, k_none);
  for (std::uint32_t s = static_cast<std::uint32_t>(live.size()); s-- > 0;) rep[block_of[s]] = s;

  // Canonical numbering: BFS from the start, following classes in order of their first byte.
  std::vector<std::uint32_t> final_id(blocks, k_none), order, targets;
  final_id[block_of[0]] = 0;
  order.push_back(block_of[0]);
  for (std::size_t i = 0; i < order.size(); ++i) {
    class_targets(live, rep[order[i]], cls.count, targets);
    for (std::uint32_t t : targets) {
      if (t == k_none) continue;
      std::uint32_t b = block_of[t];
      if (final_id[b] == k_none) {
        final_id[b] = static_cast<std::uint32_t>(order.size());
        order.push_back(b);
      }
    }
  }
  if (order.size() > limits.max_states)
    return fail("path automaton has " + std::to_string(order.size()) + " states, more than the limit of " +
                std::to_string(limits.max_states));

  dfa.states.resize(order.size());
  std::vector<std::pair<std::uint32_t, std::size_t>> counts;
  for (std::size_t i = 0; i < order.size(); ++i) {
    std::uint32_t s = rep[order[i]];
    Dfa::State& st = dfa.states[i];
    st.accept = live.accept[s];
    class_targets(live, s, cls.count, targets);
    for (std::uint32_t& t : targets) t = t == k_none ? Dfa::k_dead : final_id[block_of[t]];
    counts.clear();
    for (std::uint32_t c = 0; c < cls.count; ++c) counts.emplace_back(targets[c], cls.bytes[c].size());
    std::sort(counts.begin(), counts.end());
    // `other`: the target most bytes go to; ties: k_dead, then the lowest state number.
    std::uint32_t other = Dfa::k_dead;
    std::size_t best = 0;
    for (std::size_t a = 0, b; a < counts.size(); a = b) {
      std::size_t n = 0;
      for (b = a; b < counts.size() && counts[b].first == counts[a].first; ++b) n += counts[b].second;
      bool dead = counts[a].first == Dfa::k_dead;
      if (n > best || (n == best && dead)) {
        best = n;
        other = counts[a].first;
      }
    }
    // counts is sorted by target with k_dead last, so "lowest number" holds for the non-dead ties.
    st.other = other;
    for (std::uint32_t c = 0; c < cls.count; ++c)
      if (targets[c] != other)
        for (std::uint8_t byte : cls.bytes[c]) st.edges.emplace_back(byte, targets[c]);
    std::sort(st.edges.begin(), st.edges.end());
  }
  return dfa;
}

}  // namespace krsie::backend
