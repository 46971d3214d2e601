#pragma once
// KRSIE's own AST for .krs sources. Nodes are owned by an AstContext (arena): passes hold plain
// pointers. Every node carries the source range it came from. One class per rule kind, in the
// spirit of AppArmor's rule classes; spelling variants are resolved later, in lowering.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/source.h"

namespace krsie::ast {

struct Node {
  explicit Node(SourceRange r) : range(r) {}
  virtual ~Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  SourceRange range;
};

// A name as written, with its own range (for "unknown X" diagnostics that underline it).
struct Name {
  std::string text;
  SourceRange range;
};

// ---- values ---------------------------------------------------------------------------------

struct Value : Node {
  enum class Kind { integer, string, ipv4, boolean, range, list, name };
  Value(SourceRange r, Kind k) : Node(r), kind(k) {}
  Kind kind;
};
struct IntegerValue : Value {
  IntegerValue(SourceRange r, unsigned long long v, std::string t)
      : Value(r, Kind::integer), value(v), text(std::move(t)) {}
  unsigned long long value;
  std::string text;  // as written (0o644, 0x10, 1_000)
};
struct StringValue : Value {
  StringValue(SourceRange r, std::string v) : Value(r, Kind::string), value(std::move(v)) {}
  std::string value;  // unescaped
};
struct Ipv4Value : Value {
  Ipv4Value(SourceRange r, std::string t) : Value(r, Kind::ipv4), text(std::move(t)) {}
  std::string text;  // "10.0.0.0/8", validated by sema
};
struct BoolValue : Value {
  BoolValue(SourceRange r, bool v) : Value(r, Kind::boolean), value(v) {}
  bool value;
};
struct RangeValue : Value {
  RangeValue(SourceRange r, Value* l, Value* h) : Value(r, Kind::range), lo(l), hi(h) {}
  Value* lo;
  Value* hi;
};
struct ListValue : Value {
  ListValue(SourceRange r, std::vector<Value*> i) : Value(r, Kind::list), items(std::move(i)) {}
  std::vector<Value*> items;
};
struct NameValue : Value {  // a `let` constant, a named constant (AF_INET), or a word (tcp)
  NameValue(SourceRange r, std::string n) : Value(r, Kind::name), name(std::move(n)) {}
  std::string name;
};

// ---- conditions (hook rules) ------------------------------------------------------------------

struct Condition : Node {
  enum class Kind { logical_and, logical_or, logical_not, compare, in, has, boolean_field };
  Condition(SourceRange r, Kind k) : Node(r), kind(k) {}
  Kind kind;
};
struct LogicalCondition : Condition {  // and / or
  LogicalCondition(SourceRange r, Kind k, Condition* a, Condition* b) : Condition(r, k), lhs(a), rhs(b) {}
  Condition* lhs;
  Condition* rhs;
};
struct NotCondition : Condition {
  NotCondition(SourceRange r, Condition* c) : Condition(r, Kind::logical_not), operand(c) {}
  Condition* operand;
};
enum class CompareOp { eq, ne, lt, le, gt, ge };
struct CompareCondition : Condition {
  CompareCondition(SourceRange r, CompareOp o, Value* a, Value* b)
      : Condition(r, Kind::compare), op(o), lhs(a), rhs(b) {}
  CompareOp op;
  Value* lhs;  // operands are values: a NameValue may name a field
  Value* rhs;
};
struct InCondition : Condition {
  InCondition(SourceRange r, Value* a, Value* set, bool neg)
      : Condition(r, Kind::in), lhs(a), rhs(set), negated(neg) {}
  Value* lhs;
  Value* rhs;
  bool negated;
};
struct HasCondition : Condition {
  HasCondition(SourceRange r, Value* a, Value* b) : Condition(r, Kind::has), lhs(a), rhs(b) {}
  Value* lhs;
  Value* rhs;
};
struct BoolFieldCondition : Condition {
  BoolFieldCondition(SourceRange r, Name n) : Condition(r, Kind::boolean_field), field(std::move(n)) {}
  Name field;
};

// ---- rules --------------------------------------------------------------------------------------

enum class Action { allow, deny, audit, kill };

struct RuleOptions {
  std::optional<Name> errno_name;
  std::optional<std::string> message;
  std::optional<std::string> tag;
  enum class Owner { any, owner, not_owner } owner = Owner::any;
  SourceRange owner_range;
};

struct RuleItem : Node {
  enum class Kind { rule, from_block, use };
  RuleItem(SourceRange r, Kind k) : Node(r), item_kind(k) {}
  Kind item_kind;
};

struct Rule : RuleItem {
  enum class Kind { file, exec, network, capability, identity, ptrace, mount, module, bpf, signal, hook,
                    readonly, owner_only };
  Rule(SourceRange r, Kind k) : RuleItem(r, RuleItem::Kind::rule), kind(k) {}
  Kind kind;
  Action action = Action::deny;
  SourceRange action_range;
  RuleOptions options;
};

struct FileRule : Rule {  // <action> file OPS PATHS
  explicit FileRule(SourceRange r) : Rule(r, Kind::file) {}
  std::vector<Name> ops;
  std::vector<Value*> paths;
};
struct ExecRule : Rule {  // <action> exec PATHS
  explicit ExecRule(SourceRange r) : Rule(r, Kind::exec) {}
  std::vector<Value*> paths;
};
struct NetworkClause {
  enum class Kind { addr, port, family, type, protocol };
  Kind kind;
  SourceRange keyword;
  std::vector<Value*> values;
};
struct NetworkRule : Rule {  // <action> network OPS [addr|to ...] [port ...] [family ...] ...
  explicit NetworkRule(SourceRange r) : Rule(r, Kind::network) {}
  std::vector<Name> ops;
  std::vector<NetworkClause> clauses;
};
struct CapabilityRule : Rule {
  explicit CapabilityRule(SourceRange r) : Rule(r, Kind::capability) {}
  std::vector<Value*> caps;
};
struct IdentityRule : Rule {  // setuid / setgid [to IDS]
  IdentityRule(SourceRange r, bool gid) : Rule(r, Kind::identity), is_gid(gid) {}
  bool is_gid;
  std::vector<Value*> ids;  // empty: any change
};
struct PtraceRule : Rule {
  explicit PtraceRule(SourceRange r) : Rule(r, Kind::ptrace) {}
  std::vector<Name> modes;  // empty: all (read, attach, traceme)
};
struct MountRule : Rule {
  explicit MountRule(SourceRange r) : Rule(r, Kind::mount) {}
  std::vector<Value*> fstypes;  // empty: any
};
struct ModuleRule : Rule {
  explicit ModuleRule(SourceRange r) : Rule(r, Kind::module) {}
};
struct BpfRule : Rule {
  explicit BpfRule(SourceRange r) : Rule(r, Kind::bpf) {}
  std::vector<Value*> commands;  // empty: every bpf() command
};
struct SignalRule : Rule {
  explicit SignalRule(SourceRange r) : Rule(r, Kind::signal) {}
  std::vector<Value*> signals;  // empty: any
  std::optional<Name> scope;    // "outside" | "any"
};
struct HookRule : Rule {  // on HOOK [when COND] <action>
  explicit HookRule(SourceRange r) : Rule(r, Kind::hook) {}
  Name hook;
  Condition* condition = nullptr;  // null: always
};
struct ShorthandRule : Rule {  // readonly PATHS / owner_only PATHS
  ShorthandRule(SourceRange r, Kind k) : Rule(r, k) {}
  std::vector<Value*> paths;
};

struct FromBlock : RuleItem {  // from "/usr/bin/nginx" { ... }
  explicit FromBlock(SourceRange r) : RuleItem(r, Kind::from_block) {}
  std::vector<Value*> subjects;
  std::vector<RuleItem*> items;
};
struct UseDecl : RuleItem {  // use RULESET;
  UseDecl(SourceRange r, Name n) : RuleItem(r, Kind::use), ruleset(std::move(n)) {}
  Name ruleset;
};

// ---- declarations ---------------------------------------------------------------------------

struct Target : Node {
  enum class Kind { cgroup, pod };
  Target(SourceRange r, Kind k) : Node(r), kind(k) {}
  Kind kind;
  Value* cgroup_path = nullptr;       // cgroup
  Value* pod_namespace = nullptr;     // pod
  std::vector<std::pair<Name, std::string>> labels;
  Value* container = nullptr;
};

struct DefaultDecl : Node {
  DefaultDecl(SourceRange r, Name d, Name p) : Node(r), domain(std::move(d)), posture(std::move(p)) {}
  Name domain;
  Name posture;
};

struct Policy : Node {
  Policy(SourceRange r, Name n) : Node(r), name(std::move(n)) {}
  Name name;
  std::vector<Target*> targets;
  std::vector<Name> modes;  // every `mode` line (sema rejects more than one)
  std::vector<DefaultDecl*> defaults;
  std::vector<RuleItem*> items;
};

struct Ruleset : Node {
  Ruleset(SourceRange r, Name n) : Node(r), name(std::move(n)) {}
  Name name;
  std::vector<RuleItem*> items;
};

struct Let : Node {
  Let(SourceRange r, Name n, Value* v) : Node(r), name(std::move(n)), value(v) {}
  Name name;
  Value* value;
};

struct Import : Node {
  Import(SourceRange r, std::string p) : Node(r), path(std::move(p)) {}
  std::string path;
};

// One parsed source file.
struct Module {
  const SourceFile* file = nullptr;
  std::vector<Import*> imports;
  std::vector<Let*> lets;
  std::vector<Ruleset*> rulesets;
  std::vector<Policy*> policies;
};

// Owns every node of every module of one compilation.
class AstContext {
 public:
  template <typename T, typename... Args>
  T* make(Args&&... args) {
    auto node = std::make_unique<T>(std::forward<Args>(args)...);
    T* raw = node.get();
    nodes_.push_back(std::move(node));
    return raw;
  }
  std::size_t node_count() const { return nodes_.size(); }

 private:
  std::vector<std::unique_ptr<Node>> nodes_;
};

const char* action_name(Action a);

}  // namespace krsie::ast
