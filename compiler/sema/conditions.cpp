// Hook rule conditions -> disjunctive normal form over typed constraints.
//
// Every comparison becomes one constraint on a hook field; `not` is pushed down to the
// constraints (De Morgan); `and` distributes over `or`. The number of alternatives is bounded so a
// hostile condition cannot blow up compile time or the generated programs.
#include <deque>
#include <set>

#include "pir/matchers.h"
#include "sema/lower_internal.h"

namespace krsie::sema::detail {

namespace {

using Conj = std::vector<pir::Constraint>;
using Dnf = std::vector<Conj>;

class ConditionLowering {
 public:
  ConditionLowering(const hooks::Hook& hook, ValueChecker& values, DiagnosticEngine& diags, const SemaOptions& options,
                    btf::LazyKernelTypes& kernel)
      : hook_(hook), values_(values), diags_(diags), options_(options), kernel_(kernel) {}

  std::optional<Dnf> lower(const ast::Condition* c, bool negate) {
    switch (c->kind) {
      case ast::Condition::Kind::logical_not:
        return lower(static_cast<const ast::NotCondition*>(c)->operand, !negate);
      case ast::Condition::Kind::logical_and:
      case ast::Condition::Kind::logical_or: {
        auto* l = static_cast<const ast::LogicalCondition*>(c);
        auto a = lower(l->lhs, negate);
        auto b = lower(l->rhs, negate);
        if (!a || !b) return std::nullopt;
        bool is_and = (c->kind == ast::Condition::Kind::logical_and) != negate;  // De Morgan
        if (!is_and) {
          a->insert(a->end(), b->begin(), b->end());
          return limit(std::move(*a), c);
        }
        Dnf out;
        for (const Conj& x : *a)
          for (const Conj& y : *b) {
            Conj both = x;
            both.insert(both.end(), y.begin(), y.end());
            out.push_back(std::move(both));
            if (out.size() > options_.max_alternatives) return limit(std::move(out), c);
          }
        return out;
      }
      default: {
        auto constraint = atom(c);
        if (!constraint) return std::nullopt;
        if (negate) constraint->negated = !constraint->negated;
        return Dnf{Conj{*constraint}};
      }
    }
  }

 private:
  std::optional<Dnf> limit(Dnf d, const ast::Condition* c) {
    if (d.size() > options_.max_alternatives) {
      diags_.error(c->range, "condition is too complex: more than " + std::to_string(options_.max_alternatives) +
                                 " alternatives after normalization")
          .hint("split it into several rules");
      return std::nullopt;
    }
    return d;
  }

  // A field of the hook, or a typed hook argument chain (PARAM.member...) resolved against the
  // kernel's BTF: an integer field read by CO-RE (the LLVM backend compiles it).
  const hooks::Field* field_named(const ast::Value* v) {
    if (!v || v->kind != ast::Value::Kind::name) return nullptr;
    const std::string& name = static_cast<const ast::NameValue*>(v)->name;
    if (!btf::is_kernel_field(name)) return hooks::find_field(hook_, name);
    for (const hooks::Field& f : kernel_fields_)
      if (f.name == name) return &f;
    std::string error;
    const btf::KernelTypes* types = kernel_.get(error);
    std::optional<btf::KernelField> k;
    if (types) k = types->resolve(hook_, name, error);
    if (!k) {
      if (!reported_.count(name)) diags_.error(v->range, error).hint("typed hook arguments: PARAMETER.member.member (see docs/language.md)");
      reported_.insert(name);
      return nullptr;
    }
    names_.push_back(name);
    kernel_fields_.push_back(hooks::Field{names_.back(), Type::integer(static_cast<std::uint8_t>(k->bits), k->is_signed),
                                          hooks::FieldSource::core_read, names_.back(), "kernel structure field (BTF)"});
    return &kernel_fields_.back();
  }

  void unknown_field(const ast::Value* v) {
    std::string name = v && v->kind == ast::Value::Kind::name ? static_cast<const ast::NameValue*>(v)->name : "";
    if (btf::is_kernel_field(name)) return;  // reported by field_named with what BTF says
    std::vector<std::string> fields;
    for (const hooks::Field& f : hook_.fields) fields.emplace_back(f.name);
    for (const hooks::Field& f : hooks::common_fields()) fields.emplace_back(f.name);
    auto d = diags_.error(v ? v->range : SourceRange{},
                          name.empty() ? "a condition compares a field of hook '" + std::string(hook_.name) + "' with a value"
                                       : "hook '" + std::string(hook_.name) + "' has no field '" + name + "'");
    if (std::string s = name.empty() ? "" : ValueChecker::did_you_mean(name, fields); !s.empty()) d.hint("did you mean '" + s + "'?");
    else {
      std::string list;
      for (auto& f : fields) list += (list.empty() ? "" : ", ") + f;
      d.note({}, "fields of " + std::string(hook_.name) + ": " + list);
    }
  }

  static std::string field_what(const hooks::Field& f) { return "field '" + std::string(f.name) + "'"; }

  std::optional<pir::Constraint> atom(const ast::Condition* c) {
    switch (c->kind) {
      case ast::Condition::Kind::boolean_field: {
        auto* b = static_cast<const ast::BoolFieldCondition*>(c);
        ast::NameValue probe(b->field.range, b->field.text);
        const hooks::Field* f = field_named(&probe);
        if (!f) {
          unknown_field(&probe);
          return std::nullopt;
        }
        if (f->type.kind != TypeKind::boolean) {
          diags_.error(c->range, field_what(*f) + " is " + type_name(f->type) + ", not a boolean: compare it with a value");
          return std::nullopt;
        }
        return make(*f, pir::Matcher{.kind = pir::Matcher::Kind::boolean, .value = true});
      }
      case ast::Condition::Kind::compare: return compare(static_cast<const ast::CompareCondition*>(c));
      case ast::Condition::Kind::in: {
        auto* in = static_cast<const ast::InCondition*>(c);
        const hooks::Field* f = field_named(in->lhs);
        if (!f) {
          unknown_field(in->lhs);
          return std::nullopt;
        }
        auto m = values_.set_for(f->type, {in->rhs}, field_what(*f));
        if (!m) return std::nullopt;
        auto k = make(*f, std::move(*m));
        k.negated = in->negated;
        return k;
      }
      case ast::Condition::Kind::has: {
        auto* h = static_cast<const ast::HasCondition*>(c);
        const hooks::Field* f = field_named(h->lhs);
        if (!f) {
          unknown_field(h->lhs);
          return std::nullopt;
        }
        if (f->type.kind != TypeKind::integer) {
          diags_.error(c->range, "`has` tests flag bits of an integer field; " + field_what(*f) + " is " + type_name(f->type));
          return std::nullopt;
        }
        auto mask = values_.integer_for(f->type, h->rhs, field_what(*f));
        if (!mask) return std::nullopt;
        return make(*f, pir::Matcher{.kind = pir::Matcher::Kind::flags_all, .mask = *mask});
      }
      default: return std::nullopt;
    }
  }

  pir::Constraint make(const hooks::Field& f, pir::Matcher m) {
    pir::Constraint k;
    k.field = std::string(f.name);
    k.type = f.type;
    k.matcher = std::move(m);
    return k;
  }

  std::optional<pir::Constraint> compare(const ast::CompareCondition* c) {
    const ast::Value* lhs = c->lhs;
    const ast::Value* rhs = c->rhs;
    ast::CompareOp op = c->op;
    const hooks::Field* f = field_named(lhs);
    if (!f && field_named(rhs)) {  // `100 == new_gid`: put the field on the left
      std::swap(lhs, rhs);
      f = field_named(lhs);
      switch (op) {
        case ast::CompareOp::lt: op = ast::CompareOp::gt; break;
        case ast::CompareOp::le: op = ast::CompareOp::ge; break;
        case ast::CompareOp::gt: op = ast::CompareOp::lt; break;
        case ast::CompareOp::ge: op = ast::CompareOp::le; break;
        default: break;
      }
    }
    if (!f) {
      unknown_field(lhs);
      return std::nullopt;
    }
    if (field_named(rhs)) {
      diags_.error(c->range, "comparing two fields is not supported; compare a field with a value");
      return std::nullopt;
    }
    bool ordered = op != ast::CompareOp::eq && op != ast::CompareOp::ne;
    if (f->type.kind == TypeKind::boolean) {
      if (ordered) {
        diags_.error(c->range, field_what(*f) + " is a boolean: only == and != apply");
        return std::nullopt;
      }
      auto v = values_.boolean(rhs);
      if (!v) return std::nullopt;
      return make(*f, pir::Matcher{.kind = pir::Matcher::Kind::boolean, .value = (*v) == (op == ast::CompareOp::eq)});
    }
    if (ordered && f->type.kind != TypeKind::integer) {
      diags_.error(c->range, "ordering comparisons apply to integer fields; " + field_what(*f) + " is " + type_name(f->type));
      return std::nullopt;
    }
    if (!ordered) {
      auto m = values_.set_for(f->type, {rhs}, field_what(*f));
      if (!m) return std::nullopt;
      auto k = make(*f, std::move(*m));
      k.negated = op == ast::CompareOp::ne;
      return k;
    }
    auto v = values_.integer_for(f->type, rhs, field_what(*f));
    if (!v) return std::nullopt;
    std::uint64_t max = f->type.bits >= 64 ? UINT64_MAX : (1ull << f->type.bits) - 1;
    pir::IntRange r{0, max};
    switch (op) {
      case ast::CompareOp::lt:
        if (*v == 0) return never(c);
        r.hi = *v - 1;
        break;
      case ast::CompareOp::le: r.hi = *v; break;
      case ast::CompareOp::gt:
        if (*v >= max) return never(c);
        r.lo = *v + 1;
        break;
      case ast::CompareOp::ge: r.lo = *v; break;
      default: break;
    }
    return make(*f, pir::Matcher{.kind = pir::Matcher::Kind::int_set, .ints = {r}});
  }

  std::optional<pir::Constraint> never(const ast::CompareCondition* c) {
    diags_.error(c->range, "this comparison can never be true (values are unsigned)");
    return std::nullopt;
  }

  const hooks::Hook& hook_;
  ValueChecker& values_;
  DiagnosticEngine& diags_;
  const SemaOptions& options_;
  btf::LazyKernelTypes& kernel_;
  std::deque<std::string> names_;            // storage of typed chains' names (stable addresses)
  std::deque<hooks::Field> kernel_fields_;   // typed chains resolved in this condition
  std::set<std::string> reported_;
};

}  // namespace

std::optional<std::vector<std::vector<pir::Constraint>>> lower_condition(
    const hooks::Hook& hook, const ast::Condition* condition, ValueChecker& values,
    DiagnosticEngine& diags, const SemaOptions& options, btf::LazyKernelTypes& kernel) {
  if (!condition) return Dnf{Conj{}};
  return ConditionLowering(hook, values, diags, options, kernel).lower(condition, false);
}

}  // namespace krsie::sema::detail
