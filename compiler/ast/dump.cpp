#include "ast/dump.h"

#include <string>

#include "support/text.h"

namespace krsie::ast {

const char* action_name(Action a) {
  switch (a) {
    case Action::allow: return "allow";
    case Action::deny: return "deny";
    case Action::audit: return "audit";
    case Action::kill: return "kill";
  }
  return "?";
}

namespace {


class Dumper {
 public:
  explicit Dumper(std::ostream& out) : out_(out) {}

  void module(const Module& m) {
    line(0, "Module " + quote(m.file->name()), {});
    for (auto* i : m.imports) line(1, "Import " + quote(i->path), i->range);
    for (auto* l : m.lets) {
      line(1, "Let " + l->name.text, l->range);
      value(2, l->value);
    }
    for (auto* r : m.rulesets) {
      line(1, "Ruleset " + r->name.text, r->range);
      for (auto* item : r->items) rule_item(2, item);
    }
    for (auto* p : m.policies) policy(1, *p);
  }

 private:
  void line(int depth, const std::string& text, SourceRange r) {
    out_ << std::string(depth * 2, ' ') << text;
    if (r.valid()) {
      auto lc = r.file->line_col(r.begin);
      out_ << " <" << lc.line << ":" << lc.column << ">";
    }
    out_ << "\n";
  }

  void policy(int d, const Policy& p) {
    line(d, "Policy " + p.name.text, p.range);
    for (auto* t : p.targets) {
      if (t->kind == Target::Kind::cgroup) {
        line(d + 1, "Target cgroup", t->range);
        value(d + 2, t->cgroup_path);
      } else {
        line(d + 1, "Target pod", t->range);
        if (t->pod_namespace) {
          line(d + 2, "namespace", {});
          value(d + 3, t->pod_namespace);
        }
        for (auto& [k, v] : t->labels) line(d + 2, "label " + k.text + "=" + quote(v), k.range);
        if (t->container) {
          line(d + 2, "container", {});
          value(d + 3, t->container);
        }
      }
    }
    for (auto& m : p.modes) line(d + 1, "Mode " + m.text, m.range);
    for (auto* def : p.defaults) line(d + 1, "Default " + def->domain.text + " " + def->posture.text, def->range);
    for (auto* item : p.items) rule_item(d + 1, item);
  }

  void rule_item(int d, const RuleItem* item) {
    switch (item->item_kind) {
      case RuleItem::Kind::use:
        line(d, "Use " + static_cast<const UseDecl*>(item)->ruleset.text, item->range);
        return;
      case RuleItem::Kind::from_block: {
        auto* f = static_cast<const FromBlock*>(item);
        line(d, "From", f->range);
        for (auto* s : f->subjects) value(d + 2, s);
        for (auto* i : f->items) rule_item(d + 1, i);
        return;
      }
      case RuleItem::Kind::rule: rule(d, static_cast<const Rule*>(item)); return;
    }
  }

  static std::string names(const std::vector<Name>& ns) {
    std::string s;
    for (auto& n : ns) s += (s.empty() ? "" : ",") + n.text;
    return s;
  }

  void rule(int d, const Rule* r) {
    std::string head = std::string(action_name(r->action)) + " ";
    const auto& o = r->options;
    std::string opts;
    if (o.errno_name) opts += " errno=" + o.errno_name->text;
    if (o.message) opts += " message=" + quote(*o.message);
    if (o.tag) opts += " tag=" + quote(*o.tag);
    if (o.owner == RuleOptions::Owner::owner) opts += " if-owner";
    if (o.owner == RuleOptions::Owner::not_owner) opts += " if-not-owner";
    switch (r->kind) {
      case Rule::Kind::file: {
        auto* f = static_cast<const FileRule*>(r);
        line(d, "FileRule " + head + "ops=" + names(f->ops) + opts, r->range);
        for (auto* v : f->paths) value(d + 1, v);
        break;
      }
      case Rule::Kind::exec: {
        line(d, "ExecRule " + head + opts, r->range);
        for (auto* v : static_cast<const ExecRule*>(r)->paths) value(d + 1, v);
        break;
      }
      case Rule::Kind::network: {
        auto* n = static_cast<const NetworkRule*>(r);
        line(d, "NetworkRule " + head + "ops=" + names(n->ops) + opts, r->range);
        static const char* kinds[] = {"addr", "port", "family", "type", "protocol"};
        for (auto& c : n->clauses) {
          line(d + 1, kinds[static_cast<int>(c.kind)], c.keyword);
          for (auto* v : c.values) value(d + 2, v);
        }
        break;
      }
      case Rule::Kind::capability:
        line(d, "CapabilityRule " + head + opts, r->range);
        for (auto* v : static_cast<const CapabilityRule*>(r)->caps) value(d + 1, v);
        break;
      case Rule::Kind::identity: {
        auto* i = static_cast<const IdentityRule*>(r);
        line(d, std::string("IdentityRule ") + head + (i->is_gid ? "setgid" : "setuid") + opts, r->range);
        for (auto* v : i->ids) value(d + 1, v);
        break;
      }
      case Rule::Kind::ptrace:
        line(d, "PtraceRule " + head + "modes=" + names(static_cast<const PtraceRule*>(r)->modes) + opts, r->range);
        break;
      case Rule::Kind::mount:
        line(d, "MountRule " + head + opts, r->range);
        for (auto* v : static_cast<const MountRule*>(r)->fstypes) value(d + 1, v);
        break;
      case Rule::Kind::module: line(d, "ModuleRule " + head + opts, r->range); break;
      case Rule::Kind::bpf:
        line(d, "BpfRule " + head + opts, r->range);
        for (auto* v : static_cast<const BpfRule*>(r)->commands) value(d + 1, v);
        break;
      case Rule::Kind::signal: {
        auto* s = static_cast<const SignalRule*>(r);
        line(d, "SignalRule " + head + "scope=" + (s->scope ? s->scope->text : "any") + opts, r->range);
        for (auto* v : s->signals) value(d + 1, v);
        break;
      }
      case Rule::Kind::hook: {
        auto* h = static_cast<const HookRule*>(r);
        line(d, "HookRule " + head + "hook=" + h->hook.text + opts, r->range);
        if (h->condition) condition(d + 1, h->condition);
        break;
      }
      case Rule::Kind::readonly:
      case Rule::Kind::owner_only:
        line(d, std::string(r->kind == Rule::Kind::readonly ? "ReadonlyRule" : "OwnerOnlyRule") + opts, r->range);
        for (auto* v : static_cast<const ShorthandRule*>(r)->paths) value(d + 1, v);
        break;
    }
  }

  void condition(int d, const Condition* c) {
    static const char* ops[] = {"==", "!=", "<", "<=", ">", ">="};
    switch (c->kind) {
      case Condition::Kind::logical_and:
      case Condition::Kind::logical_or: {
        auto* l = static_cast<const LogicalCondition*>(c);
        line(d, c->kind == Condition::Kind::logical_and ? "And" : "Or", c->range);
        condition(d + 1, l->lhs);
        condition(d + 1, l->rhs);
        break;
      }
      case Condition::Kind::logical_not:
        line(d, "Not", c->range);
        condition(d + 1, static_cast<const NotCondition*>(c)->operand);
        break;
      case Condition::Kind::compare: {
        auto* cmp = static_cast<const CompareCondition*>(c);
        line(d, std::string("Compare ") + ops[static_cast<int>(cmp->op)], c->range);
        value(d + 1, cmp->lhs);
        value(d + 1, cmp->rhs);
        break;
      }
      case Condition::Kind::in: {
        auto* in = static_cast<const InCondition*>(c);
        line(d, in->negated ? "NotIn" : "In", c->range);
        value(d + 1, in->lhs);
        value(d + 1, in->rhs);
        break;
      }
      case Condition::Kind::has: {
        auto* h = static_cast<const HasCondition*>(c);
        line(d, "Has", c->range);
        value(d + 1, h->lhs);
        value(d + 1, h->rhs);
        break;
      }
      case Condition::Kind::boolean_field:
        line(d, "Field " + static_cast<const BoolFieldCondition*>(c)->field.text, c->range);
        break;
    }
  }

  void value(int d, const Value* v) {
    if (!v) return;
    switch (v->kind) {
      case Value::Kind::integer: line(d, "Int " + static_cast<const IntegerValue*>(v)->text, v->range); break;
      case Value::Kind::string: line(d, "String " + quote(static_cast<const StringValue*>(v)->value), v->range); break;
      case Value::Kind::ipv4: line(d, "IPv4 " + static_cast<const Ipv4Value*>(v)->text, v->range); break;
      case Value::Kind::boolean: line(d, static_cast<const BoolValue*>(v)->value ? "Bool true" : "Bool false", v->range); break;
      case Value::Kind::name: line(d, "Name " + static_cast<const NameValue*>(v)->name, v->range); break;
      case Value::Kind::range: {
        auto* r = static_cast<const RangeValue*>(v);
        line(d, "Range", v->range);
        value(d + 1, r->lo);
        value(d + 1, r->hi);
        break;
      }
      case Value::Kind::list:
        line(d, "List", v->range);
        for (auto* i : static_cast<const ListValue*>(v)->items) value(d + 1, i);
        break;
    }
  }

  std::ostream& out_;
};

}  // namespace

void dump(const Module& module, std::ostream& out) { Dumper(out).module(module); }

}  // namespace krsie::ast
