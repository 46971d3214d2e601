// Lowering of policies and domain rules to PIR work rules. One function per rule kind; the
// lowering table (which hooks and fields a domain rule becomes) is documented in docs/language.md.
#include <algorithm>
#include <set>

#include "pir/matchers.h"
#include "pir/print.h"
#include "sema/lower_internal.h"

namespace krsie::sema {

namespace detail {

const std::map<std::string, std::vector<std::string>>& posture_domains() {
  static const std::map<std::string, std::vector<std::string>> d = {
      {"file", {"file_open", "path_chmod", "path_chown", "path_link", "path_mkdir", "path_mknod", "path_rename",
                "path_rmdir", "path_symlink", "path_truncate", "path_unlink"}},
      {"exec", {"bprm_check_security"}},
      {"network", {"socket_accept", "socket_bind", "socket_connect", "socket_create", "socket_listen", "socket_sendmsg"}},
      {"capability", {"capable"}},
      {"setuid", {"task_fix_setuid"}},
      {"setgid", {"task_fix_setgid"}},
      {"ptrace", {"ptrace_access_check", "ptrace_traceme"}},
      {"mount", {"move_mount", "sb_mount"}},
      {"module", {"kernel_load_data", "kernel_module_request", "kernel_read_file"}},
      {"bpf", {"bpf"}},
      {"signal", {"task_kill"}},
  };
  return d;
}

}  // namespace detail

namespace {

using detail::WorkRule;

// Open flags and file modes the file domain tests (uapi values, identical on every arch we run).
constexpr std::uint64_t k_fmode_read = 0x1, k_fmode_write = 0x2;
constexpr std::uint64_t k_o_trunc = 0x200, k_o_append = 0x400;
constexpr std::uint64_t k_ms_bind = 0x1000;
constexpr std::uint64_t k_ptrace_mode_read = 0x1, k_ptrace_mode_attach = 0x2;
constexpr std::uint64_t k_reading_module = 2, k_loading_module = 2;

const std::vector<std::string> k_file_ops = {"read", "write", "append", "exec", "create", "delete", "rename",
                                             "link", "chmod", "chown", "truncate", "mkdir"};
const std::vector<std::string> k_modify_ops = {"write", "append", "create", "delete", "rename",
                                               "link", "chmod", "chown", "truncate", "mkdir"};
const std::vector<std::string> k_net_ops = {"connect", "bind", "listen", "accept", "create", "send"};

class PolicyLowering {
 public:
  PolicyLowering(const detail::Symbols& symbols, DiagnosticEngine& diags, const SemaOptions& options)
      : symbols_(symbols), diags_(diags), options_(options), values_(symbols, diags) {}

  pir::Policy lower(const ast::Policy& p) {
    pir::Policy out;
    out.name = p.name.text;
    out.origin = p.range;
    check_name(p.name);
    lower_targets(p, out);
    lower_mode(p, out);
    lower_postures(p, out);
    for (const ast::RuleItem* item : p.items) lower_item(item, std::nullopt, nullptr);
    finish_allowed_opens();
    warn_ineffective_allows(out);
    detail::finish_policy(out, std::move(rules_), detail::posture_domains(), diags_);
    return out;
  }

 private:
  void check_name(const ast::Name& n) {
    bool ok = !n.text.empty() && n.text.size() <= 64;
    for (char c : n.text) ok = ok && (std::isalnum((unsigned char)c) || c == '-' || c == '_');
    if (!ok)
      diags_.error(n.range, "policy name '" + n.text + "' must be 1-64 letters, digits, '-' or '_' (it names a bpffs directory)");
  }

  std::optional<std::string> string_of(const ast::Value* v, const std::string& what) {
    std::vector<const ast::Value*> leaves;
    if (!values_.flatten(v, leaves)) return std::nullopt;
    if (leaves.size() != 1 || leaves[0]->kind != ast::Value::Kind::string) {
      diags_.error(v->range, what + " expects one string");
      return std::nullopt;
    }
    return static_cast<const ast::StringValue*>(leaves[0])->value;
  }

  void lower_targets(const ast::Policy& p, pir::Policy& out) {
    for (const ast::Target* t : p.targets) {
      pir::Target target;
      target.origin = t->range;
      if (t->kind == ast::Target::Kind::cgroup) {
        target.kind = pir::Target::Kind::cgroup;
        auto path = string_of(t->cgroup_path, "cgroup target");
        if (!path) continue;
        std::string error;
        auto norm = pir::parse_path_pattern(*path, &error);
        if (!norm || norm->kind != pir::PathPattern::Kind::exact) {
          diags_.error(t->cgroup_path->range, "cgroup target must be an absolute directory path without globs" +
                                                  (norm ? std::string() : ": " + error));
          continue;
        }
        if (norm->text == "/" || norm->text == "/sys/fs/cgroup" || norm->text == "/sys/fs/cgroup/unified") {
          diags_.error(t->cgroup_path->range, "cgroup target '" + norm->text + "' is the root cgroup: it would confine the whole node")
              .hint("name the container's own cgroup, or use a pod selector");
          continue;
        }
        if (norm->text.rfind("/sys/fs/cgroup/", 0) != 0)
          diags_.warning(t->cgroup_path->range, "cgroup target '" + norm->text + "' is not under /sys/fs/cgroup");
        target.cgroup_path = norm->text;
      } else {
        target.kind = pir::Target::Kind::pod;
        if (t->pod_namespace) {
          if (auto ns = string_of(t->pod_namespace, "namespace")) target.pod_namespace = *ns;
        }
        if (t->container) {
          if (auto c = string_of(t->container, "container")) target.container = *c;
        }
        for (const auto& [key, value] : t->labels) {
          if (key.text.empty() || key.text.size() > 253 || value.size() > 63) {
            diags_.error(key.range, "invalid Kubernetes label '" + key.text + "' (keys up to 253 bytes, values up to 63)");
            continue;
          }
          if (!target.labels.emplace(key.text, value).second)
            diags_.error(key.range, "label '" + key.text + "' selected twice");
        }
        if (target.pod_namespace.empty() && target.labels.empty() && target.container.empty()) {
          diags_.error(t->range, "pod target selects nothing: give a namespace, labels or a container");
          continue;
        }
      }
      out.targets.push_back(std::move(target));
    }
    if (p.targets.empty())
      diags_.error(p.name.range, "policy '" + p.name.text + "' has no target: it would confine every process on the node")
          .hint("add `target cgroup \"/sys/fs/cgroup/...\";` or `target pod namespace \"...\";`");
    std::sort(out.targets.begin(), out.targets.end());
    out.targets.erase(std::unique(out.targets.begin(), out.targets.end()), out.targets.end());
  }

  void lower_mode(const ast::Policy& p, pir::Policy& out) {
    for (std::size_t i = 0; i < p.modes.size(); ++i) {
      const ast::Name& m = p.modes[i];
      if (i > 0) {
        diags_.error(m.range, "mode stated twice").note(p.modes[0].range, "first stated here");
        continue;
      }
      if (m.text == "enforce") out.mode = pir::Mode::enforce;
      else if (m.text == "audit") out.mode = pir::Mode::audit;
      else {
        auto d = diags_.error(m.range, "unknown mode '" + m.text + "': expected enforce or audit");
        if (auto s = detail::ValueChecker::did_you_mean(m.text, {"enforce", "audit"}); !s.empty()) d.hint("did you mean '" + s + "'?");
      }
    }
  }

  void lower_postures(const ast::Policy& p, pir::Policy& out) {
    for (auto& [domain, _] : detail::posture_domains()) out.postures[domain] = pir::Posture{};
    std::map<std::string, const ast::DefaultDecl*> seen;
    for (const ast::DefaultDecl* d : p.defaults) {
      std::vector<std::string> domains;
      for (auto& [name, _] : detail::posture_domains()) domains.push_back(name);
      if (!detail::posture_domains().count(d->domain.text)) {
        auto diag = diags_.error(d->domain.range, "unknown domain '" + d->domain.text + "' in default");
        if (auto s = detail::ValueChecker::did_you_mean(d->domain.text, domains); !s.empty()) diag.hint("did you mean '" + s + "'?");
        continue;
      }
      pir::Posture posture;
      posture.stated = true;
      if (d->posture.text == "allow") posture.decision = pir::Decision::allow;
      else if (d->posture.text == "deny") posture.decision = pir::Decision::deny;
      else if (d->posture.text == "audit") posture.decision = pir::Decision::audit;
      else {
        diags_.error(d->posture.range, "unknown posture '" + d->posture.text + "': expected allow, deny or audit");
        continue;
      }
      auto [it, fresh] = seen.emplace(d->domain.text, d);
      if (!fresh) {
        diags_.error(d->range, "default for '" + d->domain.text + "' stated twice").note(it->second->range, "first stated here");
        continue;
      }
      out.postures[d->domain.text] = posture;
    }
    postures_ = out.postures;
  }

  // Allow rules outside `from` blocks can only override a deny/audit posture (deny beats allow at
  // equal subject): under the default allow posture they do nothing, which is KubeArmor's classic
  // surprise in reverse. Say so instead of guessing.
  void warn_ineffective_allows(const pir::Policy& out) {
    for (const auto& [range, domain] : allow_rules_) {
      const pir::Posture& posture = out.postures.at(domain);
      if (posture.decision != pir::Decision::allow) continue;
      diags_.warning(range, "allow rule has no effect: the " + domain + " posture is allow" +
                                (posture.stated ? "" : " (the default)"))
          .hint("to make the policy an allowlist for " + domain + ", state `default " + domain + " deny;`");
    }
  }

  void lower_item(const ast::RuleItem* item, const std::optional<pir::Matcher>& subject, const ast::FromBlock* in_from) {
    switch (item->item_kind) {
      case ast::RuleItem::Kind::use: {
        auto* u = static_cast<const ast::UseDecl*>(item);
        const ast::Ruleset* rs = symbols_.ruleset(u->ruleset.text);
        if (!rs) {
          auto d = diags_.error(u->ruleset.range, "unknown ruleset '" + u->ruleset.text + "'");
          if (auto s = detail::ValueChecker::did_you_mean(u->ruleset.text, symbols_.ruleset_names()); !s.empty())
            d.hint("did you mean '" + s + "'?");
          return;
        }
        if (std::find(using_.begin(), using_.end(), rs) != using_.end()) {
          diags_.error(u->range, "ruleset '" + rs->name.text + "' uses itself").note(rs->name.range, "defined here");
          return;
        }
        // `use` inlines the ruleset; rulesets using rulesets twice per level grow exponentially.
        if (++use_expansions_ > k_max_use_expansions) {
          if (use_expansions_ == k_max_use_expansions + 1)
            diags_.error(u->range, "rulesets expand to more than " + std::to_string(k_max_use_expansions) +
                                       " uses in this policy");
          return;
        }
        using_.push_back(rs);
        for (const ast::RuleItem* i : rs->items) lower_item(i, subject, in_from);
        using_.pop_back();
        return;
      }
      case ast::RuleItem::Kind::from_block: {
        auto* f = static_cast<const ast::FromBlock*>(item);
        if (in_from) {
          diags_.error(f->range, "`from` blocks cannot be nested").note(in_from->range, "inside this block");
          return;
        }
        std::vector<const ast::Value*> subjects(f->subjects.begin(), f->subjects.end());
        auto m = values_.set_for(Type::path(), subjects, "`from` (the running binary)");
        if (!m) return;
        for (const ast::RuleItem* i : f->items) lower_item(i, m, f);
        return;
      }
      case ast::RuleItem::Kind::rule: lower_rule(static_cast<const ast::Rule*>(item), subject); return;
    }
  }

  // ---- rules ------------------------------------------------------------------------------------

  struct Base {
    pir::Decision decision;
    int err;
    std::optional<pir::Matcher> subject;
    std::string message, tag;
    SourceRange origin;
    std::optional<pir::Constraint> owner;
  };

  std::optional<Base> base(const ast::Rule* r, const std::optional<pir::Matcher>& subject, bool file_domain) {
    Base b{pir::Decision::deny, 1, subject, r->options.message.value_or(""), r->options.tag.value_or(""), r->range, std::nullopt};
    switch (r->action) {
      case ast::Action::allow: b.decision = pir::Decision::allow; break;
      case ast::Action::deny: b.decision = pir::Decision::deny; break;
      case ast::Action::audit: b.decision = pir::Decision::audit; break;
      case ast::Action::kill: b.decision = pir::Decision::kill; break;
    }
    if (r->options.errno_name) {
      const hooks::Constant* c = hooks::find_constant(r->options.errno_name->text);
      if (!c || c->unit != Unit::errno_value) {
        std::vector<std::string> names;
        for (const auto& k : hooks::constants())
          if (k.unit == Unit::errno_value) names.emplace_back(k.name);
        auto d = diags_.error(r->options.errno_name->range, "unknown errno '" + r->options.errno_name->text + "'");
        if (auto s = detail::ValueChecker::did_you_mean(r->options.errno_name->text, names); !s.empty()) d.hint("did you mean '" + s + "'?");
        return std::nullopt;
      }
      if (b.decision == pir::Decision::allow || b.decision == pir::Decision::audit)
        diags_.warning(r->options.errno_name->range, "errno has no effect on an " + std::string(pir::decision_name(b.decision)) + " rule");
      b.err = static_cast<int>(c->value);
    }
    if (r->options.owner != ast::RuleOptions::Owner::any) {
      if (!file_domain) {
        diags_.error(r->options.owner_range, "`if owner` applies only to file rules");
        return std::nullopt;
      }
      pir::Constraint k;
      k.field = "is_owner";
      k.type = Type::boolean();
      k.matcher = pir::Matcher{.kind = pir::Matcher::Kind::boolean, .value = r->options.owner == ast::RuleOptions::Owner::owner};
      b.owner = k;
    }
    return b;
  }

  void emit(const Base& b, const std::string& hook, std::vector<pir::Constraint> constraints) {
    if (b.owner) constraints.push_back(*b.owner);
    WorkRule w;
    w.hook = hook;
    w.decision = b.decision;
    w.err = b.err;
    w.subject = b.subject;
    w.constraints = std::move(constraints);
    std::sort(w.constraints.begin(), w.constraints.end());
    w.message = b.message;
    w.tag = b.tag;
    w.origins = {b.origin};
    rules_.push_back(std::move(w));
  }

  pir::Constraint field_constraint(const std::string& hook, const std::string& field, pir::Matcher m) {
    const hooks::Hook* h = hooks::find(hook);
    const hooks::Field* f = h ? hooks::find_field(*h, field) : nullptr;
    pir::Constraint k;
    k.field = field;
    k.type = f ? f->type : Type::integer(64, false);
    k.matcher = std::move(m);
    return k;
  }

  static pir::Matcher flags_any(std::uint64_t mask) { return pir::Matcher{.kind = pir::Matcher::Kind::flags_any, .mask = mask}; }
  static pir::Matcher ints(std::uint64_t v) { return pir::Matcher{.kind = pir::Matcher::Kind::int_set, .ints = {{v, v}}}; }

  void note_allow(const ast::Rule* r, const Base& b, const std::string& domain) {
    if (b.decision == pir::Decision::allow && !b.subject) allow_rules_.push_back({r->range, domain});
  }

  std::vector<std::string> expand_ops(const std::vector<ast::Name>& ops, const std::vector<std::string>& known,
                                      const std::string& what, bool allow_groups) {
    std::vector<std::string> out;
    for (const ast::Name& op : ops) {
      if (allow_groups && op.text == "all") out.insert(out.end(), known.begin(), known.end());
      else if (allow_groups && op.text == "modify") out.insert(out.end(), k_modify_ops.begin(), k_modify_ops.end());
      else if (std::find(known.begin(), known.end(), op.text) != known.end()) out.push_back(op.text);
      else {
        std::vector<std::string> candidates = known;
        if (allow_groups) candidates.insert(candidates.end(), {"all", "modify"});
        auto d = diags_.error(op.range, "unknown " + what + " operation '" + op.text + "'");
        if (auto s = detail::ValueChecker::did_you_mean(op.text, candidates); !s.empty()) d.hint("did you mean '" + s + "'?");
        else {
          std::string list;
          for (auto& c : candidates) list += (list.empty() ? "" : ", ") + c;
          d.note({}, what + " operations: " + list);
        }
        return {};
      }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  void lower_file(const Base& b, const std::vector<std::string>& ops, const pir::Matcher& paths) {
    auto path_rule = [&](const std::string& hook, const std::string& field = "path") {
      emit(b, hook, {field_constraint(hook, field, paths)});
    };
    std::uint64_t fmode = 0;
    for (const std::string& op : ops) {
      if (op == "read") fmode |= k_fmode_read;
      else if (op == "write") fmode |= k_fmode_write;
      else if (op == "append")
        emit(b, "file_open", {field_constraint("file_open", "path", paths), field_constraint("file_open", "flags", flags_any(k_o_append))});
      else if (op == "exec") path_rule("bprm_check_security");
      else if (op == "create") path_rule("path_mknod");
      else if (op == "delete") {
        path_rule("path_unlink");
        path_rule("path_rmdir");
      } else if (op == "rename") {
        path_rule("path_rename", "old_path");
        path_rule("path_rename", "new_path");
      } else if (op == "link") {
        path_rule("path_link", "old_path");
        path_rule("path_link", "new_path");
        path_rule("path_symlink");
      } else if (op == "chmod") path_rule("path_chmod");
      else if (op == "chown") path_rule("path_chown");
      else if (op == "truncate") {
        path_rule("path_truncate");
        emit(b, "file_open", {field_constraint("file_open", "path", paths), field_constraint("file_open", "flags", flags_any(k_o_trunc))});
      } else if (op == "mkdir") path_rule("path_mkdir");
    }
    // Denying access to files also denies giving them another name: a hard link to a protected
    // file, or a bind mount (which could expose a protected tree under a path no rule names).
    if ((fmode || std::find(ops.begin(), ops.end(), "append") != ops.end()) &&
        (b.decision == pir::Decision::deny || b.decision == pir::Decision::kill)) {
      // Unconditional even for `if owner` rules: an owner test has no file to look at on these hooks.
      Base companion = b;
      companion.owner.reset();
      emit(companion, "path_link", {field_constraint("path_link", "old_path", paths)});
      emit(companion, "sb_mount", {field_constraint("sb_mount", "flags", flags_any(k_ms_bind))});
      emit(companion, "move_mount", {});
    }
    if (fmode && b.decision == pir::Decision::allow) {
      // Allowed opens of the same files by the same subject are gathered first and lowered once
      // (finish_allowed_opens): `allow file read X; allow file write X;` then means what
      // `allow file read, write X;` means, and an O_RDWR open is allowed by both spellings.
      std::string key = (b.subject ? pir::matcher_text(*b.subject, Type::path()) : std::string("*")) + "|" +
                        pir::matcher_text(paths, Type::path()) + "|" + b.message + "|" + b.tag + "|" +
                        (b.owner ? pir::constraint_text(*b.owner) : std::string());
      auto [it, fresh] = allowed_opens_.try_emplace(key, AllowedOpen{b, paths, 0, {}});
      it->second.fmode |= fmode;
      if (std::find(ops.begin(), ops.end(), "append") != ops.end()) it->second.fmode |= k_fmode_write;
      if (!fresh) it->second.extra_origins.push_back(b.origin);
    } else if (fmode) {
      emit(b, "file_open", {field_constraint("file_open", "path", paths), field_constraint("file_open", "fmode", flags_any(fmode))});
    }
  }

  struct AllowedOpen {
    Base base;
    pir::Matcher paths;
    std::uint64_t fmode;
    std::vector<SourceRange> extra_origins;
  };

  void finish_allowed_opens() {
    for (auto& [key, a] : allowed_opens_) {
      std::uint64_t fmode = a.fmode;
      const pir::Matcher& paths = a.paths;
      const Base& b = a.base;
      // An open is allowed only if every access it asks for is: `allow file read` must not let an
      // O_RDWR open through. Appending is writing.
      bool append = false;
      std::uint64_t refused = ((fmode & k_fmode_read) ? 0 : k_fmode_read) |
                              ((fmode & k_fmode_write) || append ? 0 : k_fmode_write);
      std::vector<pir::Constraint> cs = {field_constraint("file_open", "path", paths),
                                         field_constraint("file_open", "fmode", flags_any(fmode))};
      if (refused) {
        pir::Constraint k = field_constraint("file_open", "fmode", flags_any(refused));
        k.negated = true;
        cs.push_back(k);
      }
      emit(b, "file_open", std::move(cs));
      rules_.back().origins.insert(rules_.back().origins.end(), a.extra_origins.begin(), a.extra_origins.end());
    }
    allowed_opens_.clear();
  }

  std::optional<pir::Matcher> paths_of(const std::vector<ast::Value*>& values, const std::string& what) {
    std::vector<const ast::Value*> v(values.begin(), values.end());
    return values_.set_for(Type::path(), v, what);
  }

  void lower_rule(const ast::Rule* r, const std::optional<pir::Matcher>& subject) {
    bool file_domain = r->kind == ast::Rule::Kind::file || r->kind == ast::Rule::Kind::readonly || r->kind == ast::Rule::Kind::owner_only;
    auto b = base(r, subject, file_domain);
    if (!b) return;
    switch (r->kind) {
      case ast::Rule::Kind::file: {
        auto* f = static_cast<const ast::FileRule*>(r);
        auto ops = expand_ops(f->ops, k_file_ops, "file", true);
        auto paths = paths_of(f->paths, "file rule");
        if (ops.empty() || !paths) return;
        if (std::find(ops.begin(), ops.end(), "exec") != ops.end()) note_allow(r, *b, "exec");
        if (std::any_of(ops.begin(), ops.end(), [](const std::string& o) { return o != "exec"; })) note_allow(r, *b, "file");
        lower_file(*b, ops, *paths);
        return;
      }
      case ast::Rule::Kind::readonly:
      case ast::Rule::Kind::owner_only: {
        auto* s = static_cast<const ast::ShorthandRule*>(r);
        auto paths = paths_of(s->paths, r->kind == ast::Rule::Kind::readonly ? "readonly" : "owner_only");
        if (!paths) return;
        Base deny = *b;
        deny.decision = pir::Decision::deny;
        if (r->kind == ast::Rule::Kind::readonly) {
          lower_file(deny, k_modify_ops, *paths);
        } else {
          if (deny.owner) {
            diags_.error(r->options.owner_range, "owner_only already restricts to the owner");
            return;
          }
          pir::Constraint not_owner;
          not_owner.field = "is_owner";
          not_owner.type = Type::boolean();
          not_owner.matcher = pir::Matcher{.kind = pir::Matcher::Kind::boolean, .value = false};
          deny.owner = not_owner;
          lower_file(deny, k_file_ops, *paths);
        }
        return;
      }
      case ast::Rule::Kind::exec: {
        auto paths = paths_of(static_cast<const ast::ExecRule*>(r)->paths, "exec rule");
        if (!paths) return;
        note_allow(r, *b, "exec");
        emit(*b, "bprm_check_security", {field_constraint("bprm_check_security", "path", *paths)});
        return;
      }
      case ast::Rule::Kind::network: lower_network(static_cast<const ast::NetworkRule*>(r), *b); return;
      case ast::Rule::Kind::capability: {
        auto* c = static_cast<const ast::CapabilityRule*>(r);
        std::vector<const ast::Value*> v(c->caps.begin(), c->caps.end());
        auto caps = values_.set_for(Type::integer(32, true, Unit::capability), v, "capability");
        if (!caps) return;
        note_allow(r, *b, "capability");
        emit(*b, "capable", {field_constraint("capable", "cap", *caps)});
        return;
      }
      case ast::Rule::Kind::identity: {
        auto* i = static_cast<const ast::IdentityRule*>(r);
        std::string hook = i->is_gid ? "task_fix_setgid" : "task_fix_setuid";
        note_allow(r, *b, i->is_gid ? "setgid" : "setuid");
        if (i->ids.empty()) {
          emit(*b, hook, {});
          return;
        }
        std::vector<const ast::Value*> v(i->ids.begin(), i->ids.end());
        auto ids = values_.set_for(Type::integer(32, false, i->is_gid ? Unit::gid : Unit::uid), v, i->is_gid ? "setgid" : "setuid");
        if (!ids) return;
        // The real, effective or saved id becoming one of `ids` (setgid, setegid, setresgid...);
        // a call that keeps the real/effective id it already had is not a change to it.
        std::string x = i->is_gid ? "gid" : "uid";
        for (const char* which : {"", "e", "s"}) {
          pir::Constraint was = field_constraint(hook, "old_" + std::string(which) + x, *ids);
          was.negated = true;
          emit(*b, hook, {field_constraint(hook, "new_" + std::string(which) + x, *ids), was});
        }
        return;
      }
      case ast::Rule::Kind::ptrace: {
        auto* p = static_cast<const ast::PtraceRule*>(r);
        auto modes = p->modes.empty() ? std::vector<std::string>{"attach", "read", "traceme"}
                                      : expand_ops(p->modes, {"attach", "read", "traceme"}, "ptrace", false);
        if (modes.empty()) return;
        note_allow(r, *b, "ptrace");
        std::uint64_t mask = 0;
        for (auto& m : modes) {
          if (m == "read") mask |= k_ptrace_mode_read;
          if (m == "attach") mask |= k_ptrace_mode_attach;
          if (m == "traceme") emit(*b, "ptrace_traceme", {});
        }
        if (mask == (k_ptrace_mode_read | k_ptrace_mode_attach)) emit(*b, "ptrace_access_check", {});
        else if (mask) emit(*b, "ptrace_access_check", {field_constraint("ptrace_access_check", "mode", flags_any(mask))});
        return;
      }
      case ast::Rule::Kind::mount: {
        auto* m = static_cast<const ast::MountRule*>(r);
        note_allow(r, *b, "mount");
        if (m->fstypes.empty()) {
          emit(*b, "sb_mount", {});
          emit(*b, "move_mount", {});
          return;
        }
        std::vector<const ast::Value*> v(m->fstypes.begin(), m->fstypes.end());
        auto types = values_.set_for(Type::string(), v, "mount file system type");
        if (types) emit(*b, "sb_mount", {field_constraint("sb_mount", "fs_type", *types)});
        return;
      }
      case ast::Rule::Kind::module:
        note_allow(r, *b, "module");
        emit(*b, "kernel_read_file", {field_constraint("kernel_read_file", "id", ints(k_reading_module))});
        emit(*b, "kernel_load_data", {field_constraint("kernel_load_data", "id", ints(k_loading_module))});
        emit(*b, "kernel_module_request", {});
        return;
      case ast::Rule::Kind::bpf: {
        auto* bp = static_cast<const ast::BpfRule*>(r);
        note_allow(r, *b, "bpf");
        if (bp->commands.empty()) {
          emit(*b, "bpf", {});
          return;
        }
        std::vector<const ast::Value*> v(bp->commands.begin(), bp->commands.end());
        auto cmds = values_.set_for(Type::integer(32, true, Unit::bpf_cmd), v, "bpf command");
        if (cmds) emit(*b, "bpf", {field_constraint("bpf", "cmd", *cmds)});
        return;
      }
      case ast::Rule::Kind::signal: {
        auto* s = static_cast<const ast::SignalRule*>(r);
        note_allow(r, *b, "signal");
        std::vector<pir::Constraint> cs;
        if (!s->signals.empty()) {
          std::vector<const ast::Value*> v(s->signals.begin(), s->signals.end());
          auto sigs = values_.set_for(Type::integer(32, true, Unit::signal), v, "signal");
          if (!sigs) return;
          cs.push_back(field_constraint("task_kill", "sig", *sigs));
        }
        if (s->scope && s->scope->text != "any") {
          if (s->scope->text != "outside") {
            diags_.error(s->scope->range, "unknown signal scope '" + s->scope->text + "': expected outside or any");
            return;
          }
          pir::Constraint k;
          k.field = "target_confined";
          k.type = Type::boolean();
          k.matcher = pir::Matcher{.kind = pir::Matcher::Kind::boolean, .value = false};
          cs.push_back(k);
        }
        emit(*b, "task_kill", std::move(cs));
        return;
      }
      case ast::Rule::Kind::hook: lower_hook_rule(static_cast<const ast::HookRule*>(r), *b); return;
    }
  }

  void lower_network(const ast::NetworkRule* r, const Base& b) {
    auto ops = expand_ops(r->ops, k_net_ops, "network", false);
    if (ops.empty()) return;
    note_allow(r, b, "network");
    static const std::map<std::string, std::string> hook_of = {
        {"connect", "socket_connect"}, {"bind", "socket_bind"}, {"listen", "socket_listen"},
        {"accept", "socket_accept"}, {"create", "socket_create"}, {"send", "socket_sendmsg"}};
    // Each clause's values are checked (and reported) once, for the first operation; the other
    // operations see the same values through a checker whose diagnostics are discarded.
    DiagnosticEngine quiet;
    detail::ValueChecker quiet_values(symbols_, quiet);
    for (const std::string& op : ops) {
      const std::string& hook = hook_of.at(op);
      const hooks::Hook* h = hooks::find(hook);
      detail::ValueChecker& values = op == ops.front() ? values_ : quiet_values;
      std::vector<pir::Constraint> cs;
      bool ok = true;
      std::set<int> seen_clauses;
      for (const ast::NetworkClause& clause : r->clauses) {
        if (!seen_clauses.insert(static_cast<int>(clause.kind)).second) {
          if (op == ops.front()) diags_.error(clause.keyword, "network clause given twice: list the values in one clause");
          ok = false;
          continue;
        }
        std::string field;
        switch (clause.kind) {
          case ast::NetworkClause::Kind::addr: field = op == "connect" || op == "send" ? "remote_addr" : "local_addr"; break;
          case ast::NetworkClause::Kind::port: field = op == "connect" || op == "send" ? "remote_port" : "local_port"; break;
          case ast::NetworkClause::Kind::family: field = "family"; break;
          case ast::NetworkClause::Kind::type: field = "type"; break;
          case ast::NetworkClause::Kind::protocol: field = "protocol"; break;
        }
        const hooks::Field* f = h ? hooks::find_field(*h, field) : nullptr;
        if (!f) {
          diags_.error(clause.keyword, "`" + std::string(field.find("addr") != std::string::npos ? "addr" : field.find("port") != std::string::npos ? "port" : field) +
                                           "` is not available for network " + op + " (hook " + hook + " has no field " + field + ")");
          ok = false;
          continue;
        }
        std::vector<const ast::Value*> v(clause.values.begin(), clause.values.end());
        auto m = values.set_for(f->type, v, std::string(field));
        if (!m) {
          ok = false;
          continue;
        }
        cs.push_back(field_constraint(hook, field, *m));
      }
      if (ok) emit(b, hook, std::move(cs));
    }
  }

  void lower_hook_rule(const ast::HookRule* r, const Base& b) {
    const hooks::Hook* h = hooks::find(r->hook.text);
    if (!h) {
      std::vector<std::string> names;
      for (const hooks::Hook& k : hooks::all()) names.emplace_back(k.name);
      auto d = diags_.error(r->hook.range, "unknown LSM hook '" + r->hook.text + "'");
      if (auto s = detail::ValueChecker::did_you_mean(r->hook.text, names); !s.empty()) d.hint("did you mean '" + s + "'?");
      else d.note({}, "the hooks KRSIE supports are listed in docs/hooks.md");
      return;
    }
    if ((h->name == "task_free" || h->name == "vm_enough_memory") && b.decision != pir::Decision::audit &&
        b.decision != pir::Decision::allow) {
      diags_.error(b.origin, "hook '" + std::string(h->name) + "' cannot deny: the kernel ignores its decision")
          .hint("use `audit` to observe it");
      return;
    }
    auto dnf = detail::lower_condition(*h, r->condition, values_, diags_, options_, kernel_);
    if (!dnf) return;
    if (b.decision == pir::Decision::allow && !b.subject) {
      auto it = std::find_if(detail::posture_domains().begin(), detail::posture_domains().end(), [&](const auto& d) {
        return std::find(d.second.begin(), d.second.end(), std::string(h->name)) != d.second.end();
      });
      if (it != detail::posture_domains().end()) {
        allow_rules_.push_back({r->range, it->first});
      } else {
        diags_.warning(r->range, "allow rule has no effect: hook '" + std::string(h->name) +
                                     "' has no posture, so nothing it could override denies by default")
            .hint("allow rules only override a deny/audit posture or, in a `from` block, broader deny rules");
      }
    }
    for (auto& conj : *dnf) emit(b, std::string(h->name), std::move(conj));
  }

  const detail::Symbols& symbols_;
  DiagnosticEngine& diags_;
  const SemaOptions& options_;
  btf::LazyKernelTypes kernel_{options_.btf_path};
  detail::ValueChecker values_;
  std::map<std::string, pir::Posture> postures_;
  std::vector<WorkRule> rules_;
  std::vector<const ast::Ruleset*> using_;
  std::vector<std::pair<SourceRange, std::string>> allow_rules_;
  std::map<std::string, AllowedOpen> allowed_opens_;
  static constexpr std::size_t k_max_use_expansions = 100000;
  std::size_t use_expansions_ = 0;
};

}  // namespace

pir::PolicySet analyze(const Program& program, DiagnosticEngine& diags, const SemaOptions& options) {
  detail::Symbols symbols(program, diags);
  pir::PolicySet out;
  std::map<std::string, const ast::Policy*> names;
  for (const ast::Module* m : program.modules) {
    if (m != program.main) {
      // Imported modules contribute constants and rulesets; their policies are not compiled.
      for (const ast::Policy* p : m->policies)
        diags.warning(p->name.range, "policy '" + p->name.text + "' in an imported module is ignored")
            .hint("compile " + m->file->name() + " on its own, or move the rules into a ruleset and `use` it");
      continue;
    }
    for (const ast::Policy* p : m->policies) {
      auto [it, fresh] = names.emplace(p->name.text, p);
      if (!fresh) {
        diags.error(p->name.range, "redefinition of policy '" + p->name.text + "'").note(it->second->name.range, "previous definition is here");
        continue;
      }
      out.policies.push_back(PolicyLowering(symbols, diags, options).lower(*p));
    }
  }
  if (out.policies.empty() && !diags.has_errors() && program.main)
    diags.error({program.main->file, 0, 0}, "no policy in " + program.main->file->name())
        .hint("declare one with `policy NAME { target ...; rules... }`");
  return out;
}

}  // namespace krsie::sema
