// Per-policy analysis on lowered rules: duplicate, conflict and shadowing diagnostics, canonical
// merging (so different spellings of one policy give the same PIR), precedence order, rule ids.
#include <algorithm>
#include <map>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "pir/matchers.h"
#include "pir/print.h"
#include "sema/lower_internal.h"

namespace krsie::sema::detail {

namespace {

// Above this many rules in one hook, pairwise shadowing analysis is skipped (it is quadratic);
// exact duplicates are still merged by hashing, silently. Documented in docs/language.md.
constexpr std::size_t k_pairwise_limit = 2000;

std::string head_key(const WorkRule& r) {
  return std::to_string(static_cast<int>(r.decision)) + "|" + std::to_string(r.err) + "|" +
         (r.subject ? pir::matcher_text(*r.subject, Type::path()) : "*") + "|" + r.message + "|" + r.tag + "|";
}

// True when `a` is evaluated before `b` (precedence): subject-specific rules first, then the
// stronger decision.
bool precedes(const WorkRule& a, const WorkRule& b) {
  if (a.subject.has_value() != b.subject.has_value()) return a.subject.has_value();
  return pir::decision_rank(a.decision) > pir::decision_rank(b.decision);
}

// Every operation `b` matches is matched by `a`.
bool covers(const WorkRule& a, const WorkRule& b) {
  if (a.subject && (!b.subject || !pir::covers(*a.subject, *b.subject))) return false;
  for (const pir::Constraint& ca : a.constraints) {
    bool found = false;
    for (const pir::Constraint& cb : b.constraints) {
      if (cb.field != ca.field || cb.negated != ca.negated) continue;
      if (ca.negated ? ca.matcher == cb.matcher : pir::covers(ca.matcher, cb.matcher)) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

// What analysis found for one lowered rule: the earlier rule that covers it, if any.
struct Coverage {
  const WorkRule* rule = nullptr;
  const WorkRule* covered_by = nullptr;
};

// Candidate index for find_coverage. covers(a, b) needs, for a's first non-negated path
// constraint (field F), a constraint of b on F whose patterns are each covered by one of a's; so
// a pattern of b (any one: its first) must be covered by a pattern of a. An exact pattern covers
// only itself; a subtree "/d/**" only paths, subtrees and globs at or below /d; a glob only
// paths at or below its literal directory. Rules are filed under those keys, and a rule's
// candidates are the rules filed under its first patterns' keys (the text itself, every
// ancestor directory) plus the rules without a path constraint: a superset of the rules that
// can cover it, checked in index order as before.
class CoverageIndex {
 public:
  explicit CoverageIndex(const std::vector<WorkRule>& rules) {
    for (std::uint32_t i = 0; i < rules.size(); ++i) {
      const pir::Constraint* key = nullptr;
      for (const pir::Constraint& c : rules[i].constraints)
        if (!c.negated && c.matcher.kind == pir::Matcher::Kind::path_set) {
          key = &c;
          break;
        }
      if (!key || key->matcher.paths.empty()) {
        general_.push_back(i);
        continue;
      }
      for (const pir::PathPattern& p : key->matcher.paths) {
        switch (p.kind) {
          case pir::PathPattern::Kind::exact: file(key->field, 'e', p.text, i); break;
          case pir::PathPattern::Kind::subtree: file(key->field, 'd', p.text, i); break;
          case pir::PathPattern::Kind::glob: {
            std::string_view lit = std::string_view(p.text).substr(0, p.text.find_first_of("*?["));
            lit = lit.substr(0, lit.rfind('/'));
            file(key->field, 'd', lit.empty() ? std::string_view("/") : lit, i);
            break;
          }
        }
      }
    }
  }

  // The rules without a path constraint (they may cover any rule), sorted.
  const std::vector<std::uint32_t>& general() const { return general_; }

  // The other rules that may cover `b`, sorted; nullptr when every rule may.
  const std::vector<std::uint32_t>* candidates(const WorkRule& b) {
    out_.clear();
    for (const pir::Constraint& c : b.constraints) {
      if (c.negated || c.matcher.kind != pir::Matcher::Kind::path_set) continue;
      if (c.matcher.paths.empty()) return nullptr;
      const pir::PathPattern& p = c.matcher.paths.front();
      if (p.kind == pir::PathPattern::Kind::exact) add(c.field, 'e', p.text);
      std::string_view dir = p.text;
      add(c.field, 'd', dir);
      for (std::size_t slash = dir.rfind('/'); slash != std::string_view::npos && slash > 0; slash = dir.rfind('/')) {
        dir = dir.substr(0, slash);
        add(c.field, 'd', dir);
      }
      if (dir != "/") add(c.field, 'd', "/");
    }
    std::sort(out_.begin(), out_.end());
    out_.erase(std::unique(out_.begin(), out_.end()), out_.end());
    return &out_;
  }

 private:
  std::string& key(std::string_view field, char kind, std::string_view text) {
    scratch_.assign(field);
    scratch_ += '\0';
    scratch_ += kind;
    scratch_ += text;
    return scratch_;
  }
  void file(std::string_view field, char kind, std::string_view text, std::uint32_t rule) {
    std::vector<std::uint32_t>& v = filed_[key(field, kind, text)];
    if (v.empty() || v.back() != rule) v.push_back(rule);
  }
  void add(std::string_view field, char kind, std::string_view text) {
    auto it = filed_.find(key(field, kind, text));
    if (it != filed_.end()) out_.insert(out_.end(), it->second.begin(), it->second.end());
  }

  std::unordered_map<std::string, std::vector<std::uint32_t>> filed_;
  std::vector<std::uint32_t> general_, out_;
  std::string scratch_;
};

void find_coverage(const std::vector<WorkRule>& rules, std::vector<Coverage>& out) {
  bool pairwise = rules.size() <= k_pairwise_limit;
  std::optional<CoverageIndex> index;
  if (pairwise) index.emplace(rules);
  for (std::size_t j = 0; j < rules.size(); ++j) {
    Coverage c{&rules[j], nullptr};
    const WorkRule& b = rules[j];
    // The first rule i (in index order) that covers b and is evaluated before it.
    auto check = [&](std::size_t i) {
      if (i == j) return false;
      const WorkRule& a = rules[i];
      bool a_first = precedes(a, b) || (!precedes(b, a) && i < j);
      if (!a_first || !covers(a, b)) return false;
      if (a.origins.front().begin == b.origins.front().begin && a.origins.front().file == b.origins.front().file)
        return false;  // two lowerings of one source rule
      c.covered_by = &a;
      return true;
    };
    if (pairwise) {
      if (const std::vector<std::uint32_t>* filed = index->candidates(b)) {
        // Merge the two sorted candidate lists.
        const std::vector<std::uint32_t>& general = index->general();
        std::size_t g = 0, f = 0;
        while (g < general.size() || f < filed->size()) {
          std::size_t i = f == filed->size() || (g < general.size() && general[g] < (*filed)[f]) ? general[g++] : (*filed)[f++];
          if (check(i)) break;
        }
      } else {
        for (std::size_t i = 0; i < rules.size(); ++i)
          if (check(i)) break;
      }
    }
    out.push_back(c);
  }
}

// A source rule is reported only when every rule it was lowered to is covered by others.
void report_coverage(const std::vector<Coverage>& all, DiagnosticEngine& diags) {
  std::map<std::pair<const SourceFile*, std::uint32_t>, std::vector<const Coverage*>> by_origin;
  for (const Coverage& c : all) by_origin[{c.rule->origins.front().file, c.rule->origins.front().begin}].push_back(&c);
  for (auto& [origin, parts] : by_origin) {
    if (!std::all_of(parts.begin(), parts.end(), [](const Coverage* c) { return c->covered_by != nullptr; })) continue;
    const WorkRule& b = *parts.front()->rule;
    const WorkRule& a = *parts.front()->covered_by;
    if (a.decision == b.decision) {
      diags.warning(b.origins.front(), "redundant rule: every operation it matches is already matched by an earlier rule")
          .note(a.origins.front(), "covered by this rule");
    } else {
      diags.warning(b.origins.front(), std::string("this ") + pir::decision_name(b.decision) +
                                           " rule never applies: a " + pir::decision_name(a.decision) +
                                           " rule matches every operation it matches")
          .note(a.origins.front(), std::string("this rule wins (") +
                                       (a.subject && !b.subject ? std::string("rules for a specific binary come first")
                                                                : std::string(pir::decision_name(a.decision)) +
                                                                      " takes precedence over " + pir::decision_name(b.decision)) + ")");
    }
  }
}

// A rule during merging with the text of its head and of each constraint, rendered once (only
// a merged constraint is rendered again).
struct MergeRule {
  WorkRule rule;
  std::string head;
  std::vector<std::string> texts;

  explicit MergeRule(WorkRule r) : rule(std::move(r)), head(head_key(rule)) {
    texts.reserve(rule.constraints.size());
    for (const pir::Constraint& c : rule.constraints) texts.push_back(pir::constraint_text(c));
  }
  // The head, then every constraint's text and ';' (the one at `skip` as "field=*;", and the
  // skipped matcher's kind at the end), as one string.
  std::string key(std::size_t skip = SIZE_MAX) const {
    std::size_t size = head.size() + 8;
    for (const std::string& t : texts) size += t.size() + 1;
    std::string k;
    k.reserve(size);
    k += head;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      if (i == skip) {
        const pir::Constraint& c = rule.constraints[i];
        k += c.field;
        k += c.negated ? "!=*;" : "=*;";
        continue;
      }
      k += texts[i];
      k += ';';
    }
    if (skip != SIZE_MAX) k += std::to_string(static_cast<int>(rule.constraints[skip].matcher.kind));
    return k;
  }
};

// Merges exact duplicates, then rules that differ in one field only (their union). Returns the
// merged rules, each with its canonical key (key()).
std::vector<std::pair<std::string, WorkRule>> merge(std::vector<WorkRule>& input) {
  std::vector<MergeRule> rules;
  {
    std::unordered_map<std::string, std::size_t> seen;
    rules.reserve(input.size());
    for (WorkRule& r : input) {
      MergeRule m(std::move(r));
      auto [it, fresh] = seen.emplace(m.key(), rules.size());
      if (fresh) {
        rules.push_back(std::move(m));
      } else {
        std::vector<SourceRange>& origins = rules[it->second].rule.origins;
        origins.insert(origins.end(), m.rule.origins.begin(), m.rule.origins.end());
      }
    }
    input.clear();
  }
  bool changed = true;
  while (changed) {
    changed = false;
    std::size_t max_fields = 0;
    for (const MergeRule& r : rules) max_fields = std::max(max_fields, r.rule.constraints.size());
    for (std::size_t field = 0; field < max_fields; ++field) {
      // Group the rules that agree on everything but `field`, then unite each group's matchers
      // in one pass (uniting pairwise would re-normalize a growing set at every step).
      std::unordered_map<std::string, std::size_t> group_of;
      std::vector<std::vector<std::size_t>> groups;
      std::vector<bool> mergeable(rules.size(), false);
      for (std::size_t i = 0; i < rules.size(); ++i) {
        const WorkRule& r = rules[i].rule;
        if (field >= r.constraints.size() || r.constraints[field].negated) continue;
        auto kind = r.constraints[field].matcher.kind;
        if (kind == pir::Matcher::Kind::flags_all || kind == pir::Matcher::Kind::boolean) continue;
        mergeable[i] = true;
        auto [it, fresh] = group_of.emplace(rules[i].key(field), groups.size());
        if (fresh) groups.emplace_back();
        groups[it->second].push_back(i);
      }
      std::vector<long> group_start(rules.size(), -1);
      for (std::size_t g = 0; g < groups.size(); ++g) group_start[groups[g].front()] = static_cast<long>(g);
      std::vector<MergeRule> out;
      out.reserve(rules.size());
      std::vector<bool> consumed(rules.size(), false);
      for (std::size_t i = 0; i < rules.size(); ++i) {
        if (consumed[i]) continue;
        if (!mergeable[i]) {
          out.push_back(std::move(rules[i]));
          continue;
        }
        const std::vector<std::size_t>* group = group_start[i] >= 0 ? &groups[group_start[i]] : nullptr;
        if (!group || group->size() == 1) {
          out.push_back(std::move(rules[i]));
          continue;
        }
        MergeRule into = std::move(rules[i]);
        pir::Matcher& m = into.rule.constraints[field].matcher;
        for (std::size_t k = 1; k < group->size(); ++k) {
          WorkRule& r = rules[(*group)[k]].rule;
          const pir::Matcher& other = r.constraints[field].matcher;
          m.ints.insert(m.ints.end(), other.ints.begin(), other.ints.end());
          m.cidrs.insert(m.cidrs.end(), other.cidrs.begin(), other.cidrs.end());
          m.paths.insert(m.paths.end(), other.paths.begin(), other.paths.end());
          m.strings.insert(m.strings.end(), other.strings.begin(), other.strings.end());
          m.mask |= other.mask;
          into.rule.origins.insert(into.rule.origins.end(), r.origins.begin(), r.origins.end());
          consumed[(*group)[k]] = true;
        }
        pir::normalize(m);
        into.texts[field] = pir::constraint_text(into.rule.constraints[field]);
        out.push_back(std::move(into));
        changed = true;
      }
      rules = std::move(out);
    }
  }
  std::vector<std::pair<std::string, WorkRule>> keyed;
  keyed.reserve(rules.size());
  for (MergeRule& m : rules) {
    WorkRule& r = m.rule;
    std::sort(r.origins.begin(), r.origins.end(), [](const SourceRange& a, const SourceRange& b) {
      return std::tie(a.file, a.begin) < std::tie(b.file, b.begin);
    });
    r.origins.erase(std::unique(r.origins.begin(), r.origins.end(), [](const SourceRange& a, const SourceRange& b) {
      return a.file == b.file && a.begin == b.begin;
    }), r.origins.end());
    keyed.emplace_back(m.key(), std::move(r));
  }
  return keyed;
}

}  // namespace

void finish_policy(pir::Policy& policy, std::vector<WorkRule> rules,
                   const std::map<std::string, std::vector<std::string>>& domain_hooks, DiagnosticEngine& diags) {
  std::map<std::string, std::vector<WorkRule>> by_hook;
  for (WorkRule& r : rules) by_hook[r.hook].push_back(std::move(r));
  for (auto& [domain, hooks] : domain_hooks)
    if (policy.postures.at(domain).decision != pir::Decision::allow)
      for (const std::string& h : hooks) by_hook[h];  // the posture needs the hook even without rules

  std::vector<Coverage> coverage;
  for (auto& [hook, hook_rules] : by_hook) find_coverage(hook_rules, coverage);
  report_coverage(coverage, diags);

  std::uint32_t next_id = 0;
  for (auto& [hook, hook_rules] : by_hook) {
    std::vector<std::pair<std::string, WorkRule>> keyed = merge(hook_rules);
    std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
      if (precedes(a.second, b.second)) return true;
      if (precedes(b.second, a.second)) return false;
      return a.first < b.first;
    });
    pir::Hook h;
    h.name = hook;
    for (auto& [domain, hooks] : domain_hooks)
      if (std::find(hooks.begin(), hooks.end(), hook) != hooks.end()) h.posture = policy.postures.at(domain).decision;
    for (auto& [key, w] : keyed) {
      pir::Rule r;
      r.id = next_id++;
      r.decision = w.decision;
      r.err = w.err;
      r.subject = w.subject;
      r.constraints = std::move(w.constraints);
      h.rules.push_back(std::move(r));
      policy.rule_table.push_back(pir::RuleInfo{h.rules.back().id, std::move(w.origins), w.message, w.tag});
    }
    policy.hooks.push_back(std::move(h));
  }
}

}  // namespace krsie::sema::detail
