// One BPF-LSM program per hook: the prologue (earlier denials, generation, target cgroups), the
// hook's fields (family codegens), the rules as straight-line code in evaluation order (first
// match wins; each constraint a comparison against folded constants), the posture, and the
// decision (statistics, rate-limited event, errno, SIGKILL) — what the generic templates do from
// maps, with the policy compiled in.
#include <llvm/IR/Constants.h>
#include <llvm/IR/DebugInfoMetadata.h>

#include "backend/generic.h"
#include "backend/llvm/bpf_builder.h"
#include "krsie_abi.h"

namespace krsie::backend::llvmbe {

namespace {

constexpr std::uint32_t k_posture_rule = 0xffffffff;
constexpr std::uint64_t k_sigkill = 9;

std::uint32_t hook_id(const std::string& name) {
  static const std::map<std::string, std::uint32_t> ids = {
      {"socket_connect", KRSIE_HOOK_SOCKET_CONNECT}, {"socket_bind", KRSIE_HOOK_SOCKET_BIND},
      {"socket_listen", KRSIE_HOOK_SOCKET_LISTEN},   {"socket_create", KRSIE_HOOK_SOCKET_CREATE},
      {"socket_sendmsg", KRSIE_HOOK_SOCKET_SENDMSG}, {"capable", KRSIE_HOOK_CAPABLE},
      {"task_fix_setuid", KRSIE_HOOK_TASK_FIX_SETUID}, {"task_fix_setgid", KRSIE_HOOK_TASK_FIX_SETGID},
  };
  auto it = ids.find(name);
  return it == ids.end() ? 0 : it->second;
}

// Number of kernel parameters of the hook: `ret` (the earlier LSMs' verdict) follows them.
unsigned param_count(const std::string& name) {
  if (name == "socket_listen") return 2;
  if (name == "socket_create" || name == "capable") return 4;
  return 3;
}


SourceRange origin_of(const pir::Policy& policy, std::uint32_t rule_id) {
  for (const pir::RuleInfo& info : policy.rule_table)
    if (info.id == rule_id && !info.origins.empty()) return info.origins.front();
  return policy.origin;
}

bool hook_field(const hooks::Hook& hook, const std::string& field) {
  for (const hooks::Field& f : hook.fields)
    if (f.name == field) return true;
  return false;
}

// Address sets of one hook field get bits in order of first use (rules in order, constraints in
// order): the same assignment as the generic backend, whose LPM entries the object reuses.
struct AddrTables {
  std::map<std::string, std::vector<std::vector<pir::Cidr>>> sets;  // by field
  std::uint32_t bit(const std::string& field, const std::vector<pir::Cidr>& cidrs) {
    auto& v = sets[field];
    for (std::size_t i = 0; i < v.size(); ++i)
      if (v[i] == cidrs) return static_cast<std::uint32_t>(i);
    v.push_back(cidrs);
    return static_cast<std::uint32_t>(v.size() - 1);
  }
};

llvm::Value* int_set(BpfBuilder& b, llvm::Value* v, const std::vector<pir::IntRange>& ranges) {
  llvm::Value* any = b.getFalse();
  for (const pir::IntRange& r : ranges) {
    llvm::Value* in = r.lo == r.hi ? b.CreateICmpEQ(v, b.i64c(r.lo))
                                   : b.CreateICmpULE(b.CreateSub(v, b.i64c(r.lo)), b.i64c(r.hi - r.lo));
    any = any == b.getFalse() ? in : b.CreateOr(any, in);
  }
  return any;
}

}  // namespace

bool check_supported(const pir::Policy& policy, DiagnosticEngine& diags) {
  bool ok = true;
  // Unsupported hooks, reported once per source rule (a file rule lowers to several hooks).
  std::vector<std::pair<SourceRange, std::vector<std::string>>> unsupported;
  auto note_unsupported = [&](SourceRange at, const std::string& hook) {
    for (auto& [range, names] : unsupported)
      if (range.file == at.file && range.begin == at.begin) {
        names.push_back(hook);
        return;
      }
    unsupported.push_back({at, {hook}});
  };
  for (const pir::Hook& h : policy.hooks) {
    const hooks::Hook* catalogue = hooks::find(h.name);
    if (!catalogue || !(network_hook(h.name) || identity_hook(h.name))) {
      if (h.rules.empty()) note_unsupported(policy.origin, h.name);
      for (const pir::Rule& r : h.rules) note_unsupported(origin_of(policy, r.id), h.name);
      ok = false;
      continue;
    }
    AddrTables tables;
    for (const pir::Rule& r : h.rules) {
      SourceRange rat = origin_of(policy, r.id);
      if (r.subject) {
        diags.error(rat, "`from` blocks (rules on the running binary) are not supported by the LLVM backend yet")
            .hint("use the generic backend (the default)");
        ok = false;
      }
      for (const pir::Constraint& c : r.constraints) {
        bool field_ok = hook_field(*catalogue, c.field) || common_field_supported(c.field);
        bool kind_ok = c.matcher.kind != pir::Matcher::Kind::path_set && c.matcher.kind != pir::Matcher::Kind::string_set;
        if (!field_ok || !kind_ok) {
          diags.error(rat, "condition on `" + c.field + "` (" +
                               (kind_ok ? std::string("this field") : std::string(c.matcher.kind == pir::Matcher::Kind::path_set ? "path sets" : "string sets")) +
                               ") is not supported by the LLVM backend yet")
              .hint("use the generic backend (the default)");
          ok = false;
        } else if (c.matcher.kind == pir::Matcher::Kind::addr_set && tables.bit(c.field, c.matcher.cidrs) >= 64) {
          diags.error(rat, "more than 64 distinct address sets on " + h.name + "." + c.field);
          ok = false;
        }
      }
    }
  }
  for (const auto& [at, names] : unsupported) {
    std::string list;
    for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
    diags.error(at, std::string(names.size() == 1 ? "hook " : "hooks ") + list + (names.size() == 1 ? " is" : " are") +
                        " not supported by the LLVM backend yet")
        .hint("use the generic backend (the default)");
  }
  return ok;
}

void generate_program(BpfModule& m, const pir::Policy& policy, const pir::Hook& h) {
  const hooks::Hook& catalogue = *hooks::find(h.name);
  SourceRange first = h.rules.empty() ? policy.origin : origin_of(policy, h.rules.front().id);
  llvm::Function* fn = m.program("krsie_" + h.name, "lsm/" + h.name, first);
  llvm::DISubprogram* sp = fn->getSubprogram();
  BpfBuilder b(m, fn);
  b.SetCurrentDebugLocation(m.location(sp, first));
  auto* i64 = b.getInt64Ty();
  auto* i32 = b.getInt32Ty();
  auto* i8 = b.getInt8Ty();
  std::uint32_t hid = hook_id(h.name);

  // 1. An earlier LSM's denial stands.
  llvm::Value* ret = b.CreateTrunc(b.arg(param_count(h.name)), i32, "ret");
  llvm::BasicBlock* pass = b.block("pass");
  llvm::BasicBlock* start = b.block("start");
  b.CreateCondBr(b.CreateICmpNE(ret, b.i32c(0)), pass, start);
  b.SetInsertPoint(pass);
  b.CreateRet(ret);
  llvm::BasicBlock* allow_quiet = b.block("not_confined");
  b.SetInsertPoint(allow_quiet);
  b.CreateRet(b.i32c(0));

  // 2. Configuration: the generation in force (one read) and whether it enforces.
  b.SetInsertPoint(start);
  llvm::Value* cfg = b.map_lookup_scalar("krsie_config", b.i32c(0), "config_key");
  llvm::BasicBlock* have_cfg = b.block("config");
  b.CreateCondBr(b.CreateIsNotNull(cfg), have_cfg, allow_quiet);
  b.SetInsertPoint(have_cfg);
  auto* gen_load = b.CreateLoad(i32, b.ptr_at(cfg, offsetof(krsie_config, generation)), "generation");
  gen_load->setVolatile(true);
  llvm::Value* gen = b.CreateAnd(gen_load, b.i32c(1));
  llvm::Value* enforce_word = b.load_at(i32, cfg, offsetof(krsie_config, enforce), "enforce");
  llvm::Value* enforcing = b.CreateICmpNE(b.CreateAnd(b.CreateLShr(enforce_word, gen), b.i32c(1)), b.i32c(0), "enforcing");
  llvm::Value* events_per_sec = b.load_at(i32, cfg, offsetof(krsie_config, events_per_sec), "events_per_sec");
  llvm::Value* table_gen = b.CreateShl(gen, 31, "table_gen");

  // 3. Target cgroups: the task's cgroup or one of its ancestors (bounded loop), fail closed
  // beyond KRSIE_MAX_CGROUP_DEPTH levels.
  llvm::BasicBlock* confined = b.block("confined");
  auto target_in = [&](llvm::Value* id, llvm::BasicBlock* yes, llvm::BasicBlock* no) {
    llvm::Value* t = b.map_lookup_scalar("krsie_targets", id, "cgroup_key");
    llvm::BasicBlock* found = b.block("target.found");
    b.CreateCondBr(b.CreateIsNotNull(t), found, no);
    b.SetInsertPoint(found);
    llvm::Value* gens = b.load_at(i32, t, offsetof(krsie_target, generations), "generations");
    b.CreateCondBr(b.CreateICmpNE(b.CreateAnd(b.CreateLShr(gens, gen), b.i32c(1)), b.i32c(0)), yes, no);
  };
  llvm::Value* self = b.helper(get_current_cgroup_id, i64, {});
  llvm::BasicBlock* loop = b.block("ancestors");
  target_in(self, confined, loop);
  b.SetInsertPoint(loop);
  auto* level = b.CreatePHI(i32, 3, "level");
  for (llvm::BasicBlock* pred : llvm::predecessors(loop)) level->addIncoming(b.i32c(0), pred);
  llvm::Value* id = b.helper(get_current_ancestor_cgroup_id, i64, {b.CreateZExt(level, i64)});
  llvm::BasicBlock* check = b.block("ancestor");
  b.CreateCondBr(b.CreateOr(b.CreateICmpEQ(id, b.i64c(0)), b.CreateICmpEQ(id, self)), allow_quiet, check);
  b.SetInsertPoint(check);
  llvm::BasicBlock* next = b.block("ancestor.next");
  target_in(id, confined, next);
  b.SetInsertPoint(next);
  llvm::Value* level1 = b.CreateAdd(level, b.i32c(1));
  level->addIncoming(level1, next);
  b.CreateCondBr(b.CreateICmpULT(level1, b.i32c(KRSIE_MAX_CGROUP_DEPTH)), loop, confined);

  // 4. Fields.
  b.SetInsertPoint(confined);
  ProgramState st{b, catalogue, hid};
  st.table_gen = table_gen;
  for (const pir::Rule& r : h.rules)
    for (const pir::Constraint& c : r.constraints) st.used.insert(c.field);
  st.ev_addr = b.stack(llvm::ArrayType::get(i8, 16), "event_addr");
  b.CreateMemSet(st.ev_addr, b.getInt8(0), 16, llvm::MaybeAlign(8));
  st.ev_family = b.getInt16(0);
  st.ev_port = b.getInt16(0);
  if (!network_fields(st)) identity_fields(st);
  common_fields(st);

  // 5. Rules in order, first match wins; else the posture.
  llvm::BasicBlock* report = b.block("report");
  llvm::BasicBlock* allow = b.block("allow");
  std::vector<std::tuple<llvm::BasicBlock*, std::uint32_t, std::uint8_t, std::int32_t>> reports;
  AddrTables tables;
  auto decide = [&](pir::Decision d, std::uint32_t rule_id, int err) {
    if (d == pir::Decision::allow) {
      b.CreateBr(allow);
      return;
    }
    reports.emplace_back(b.GetInsertBlock(), rule_id, decision_code(d), err > 0 ? err : 1);
    b.CreateBr(report);
  };
  for (std::size_t i = 0; i < h.rules.size(); ++i) {
    const pir::Rule& r = h.rules[i];
    b.SetCurrentDebugLocation(m.location(sp, origin_of(policy, r.id)));
    llvm::BasicBlock* next_rule = b.block("rule" + std::to_string(r.id) + ".miss");
    for (const pir::Constraint& c : r.constraints) {
      FieldValue fv = st.fields.count(c.field) ? st.fields[c.field] : FieldValue{};
      if (!fv.value) fv.value = b.i64c(0);  // (check_supported rules this out)
      llvm::Value* v = fv.value;
      llvm::Value* holds = nullptr;
      const pir::Matcher& mt = c.matcher;
      switch (mt.kind) {
        case pir::Matcher::Kind::int_set: holds = int_set(b, v, mt.ints); break;
        case pir::Matcher::Kind::flags_all: holds = b.CreateICmpEQ(b.CreateAnd(v, b.i64c(mt.mask)), b.i64c(mt.mask)); break;
        case pir::Matcher::Kind::flags_any: holds = b.CreateICmpNE(b.CreateAnd(v, b.i64c(mt.mask)), b.i64c(0)); break;
        case pir::Matcher::Kind::boolean: holds = b.CreateICmpEQ(v, b.i64c(mt.value ? 1 : 0)); break;
        case pir::Matcher::Kind::addr_set: {
          std::uint32_t bit = tables.bit(c.field, mt.cidrs);
          holds = b.CreateICmpNE(b.CreateAnd(v, b.i64c(1ull << bit)), b.i64c(0));
          break;
        }
        default: holds = b.getFalse(); break;
      }
      if (c.negated) holds = b.CreateNot(holds);
      // A constraint on an absent field is false, negated or not.
      if (fv.present) holds = b.CreateAnd(fv.present, holds);
      llvm::BasicBlock* cont = b.block("rule" + std::to_string(r.id) + ".c");
      b.CreateCondBr(holds, cont, next_rule);
      b.SetInsertPoint(cont);
    }
    decide(r.decision, r.id, r.err);
    b.SetInsertPoint(next_rule);
  }
  b.SetCurrentDebugLocation(m.location(sp, first));
  decide(h.posture, k_posture_rule, 1);

  // 6. Statistics and events.
  llvm::Value* zero_key = b.stack(i32, "stats_key");
  auto stats = [&]() {
    b.CreateStore(b.i32c(0), zero_key);
    return b.map_lookup("krsie_stats", zero_key);
  };
  auto bump = [&](llvm::Value* s, llvm::Value* offset) {
    llvm::Value* p = b.CreateGEP(i8, s, offset);
    b.CreateStore(b.CreateAdd(b.CreateLoad(i64, p), b.i64c(1)), p);
  };
  auto decision_slot = [&](llvm::Value* d) {
    return b.CreateAdd(b.i64c(offsetof(krsie_stats, decisions)), b.CreateShl(b.CreateZExt(b.CreateAnd(d, b.getInt8(3)), i64), 3));
  };

  b.SetInsertPoint(allow);
  {
    llvm::Value* s = stats();
    llvm::BasicBlock* count = b.block("allow.count");
    llvm::BasicBlock* done = b.block("allow.done");
    b.CreateCondBr(b.CreateIsNotNull(s), count, done);
    b.SetInsertPoint(count);
    bump(s, b.i64c(offsetof(krsie_stats, decisions) + 8 * KRSIE_DECISION_ALLOW));
    b.CreateBr(done);
    b.SetInsertPoint(done);
    b.CreateRet(b.i32c(0));
  }

  b.SetInsertPoint(report);
  auto* rule_id = b.CreatePHI(i32, reports.size(), "rule_id");
  auto* decision = b.CreatePHI(i8, reports.size(), "decision");
  auto* err = b.CreatePHI(i32, reports.size(), "err");
  for (auto& [bb, rid, dcode, e] : reports) {
    rule_id->addIncoming(b.i32c(rid), bb);
    decision->addIncoming(b.getInt8(dcode), bb);
    err->addIncoming(b.i32c(static_cast<std::uint32_t>(e)), bb);
  }
  llvm::Value* denying = b.CreateOr(b.CreateICmpEQ(decision, b.getInt8(KRSIE_DECISION_DENY)),
                                    b.CreateICmpEQ(decision, b.getInt8(KRSIE_DECISION_KILL)));
  llvm::Value* applied = b.CreateAnd(denying, enforcing, "applied");
  llvm::BasicBlock* finish = b.block("finish");
  llvm::Value* s = stats();
  llvm::BasicBlock* rate = b.block("event.rate");
  b.CreateCondBr(b.CreateIsNotNull(s), rate, finish);
  // Token window: at most events_per_sec events per CPU per second.
  b.SetInsertPoint(rate);
  llvm::Value* now = b.helper(ktime_get_ns, i64, {});
  llvm::Value* ws = b.load_at(i64, s, offsetof(krsie_stats, window_start_ns));
  llvm::Value* we = b.load_at(i64, s, offsetof(krsie_stats, window_events));
  llvm::Value* expired = b.CreateICmpUGT(b.CreateSub(now, ws), b.i64c(1000000000ull));
  b.store_at(b.CreateSelect(expired, now, ws), s, offsetof(krsie_stats, window_start_ns));
  llvm::Value* we1 = b.CreateSelect(expired, b.i64c(0), we);
  llvm::Value* eps = b.CreateZExt(events_per_sec, i64);
  llvm::Value* limited = b.CreateAnd(b.CreateICmpNE(eps, b.i64c(0)), b.CreateICmpUGE(we1, eps));
  llvm::BasicBlock* dropped = b.block("event.dropped");
  llvm::BasicBlock* reserve = b.block("event.reserve");
  b.store_at(b.CreateSelect(limited, we1, b.CreateAdd(we1, b.i64c(1))), s, offsetof(krsie_stats, window_events));
  b.CreateCondBr(limited, dropped, reserve);
  b.SetInsertPoint(reserve);
  llvm::Value* ev = b.helper(ringbuf_reserve, b.getPtrTy(), {m.map("krsie_events"), b.i64c(sizeof(krsie_event)), b.i64c(0)});
  llvm::BasicBlock* fill = b.block("event.fill");
  b.CreateCondBr(b.CreateIsNotNull(ev), fill, dropped);
  b.SetInsertPoint(fill);
  b.CreateMemSet(ev, b.getInt8(0), sizeof(krsie_event), llvm::MaybeAlign(8));
  llvm::Value* pid_tgid = b.helper(get_current_pid_tgid, i64, {});
  b.store_at(b.helper(ktime_get_ns, i64, {}), ev, offsetof(krsie_event, time_ns));
  b.store_at(b.helper(get_current_cgroup_id, i64, {}), ev, offsetof(krsie_event, cgroup_id));
  b.store_at(b.CreateTrunc(pid_tgid, i32), ev, offsetof(krsie_event, pid));
  b.store_at(b.CreateTrunc(b.CreateLShr(pid_tgid, 32), i32), ev, offsetof(krsie_event, tgid));
  b.store_at(b.CreateTrunc(b.helper(get_current_uid_gid, i64, {}), i32), ev, offsetof(krsie_event, uid));
  b.store_at(b.i32c(hid), ev, offsetof(krsie_event, hook));
  b.store_at(rule_id, ev, offsetof(krsie_event, rule_id));
  b.store_at(decision, ev, offsetof(krsie_event, decision));
  b.helper(get_current_comm, i64, {b.ptr_at(ev, offsetof(krsie_event, comm)), b.i64c(16)});
  for (std::size_t i = 0; i < 4 && i < catalogue.fields.size(); ++i) {
    auto it = st.fields.find(std::string(catalogue.fields[i].name));
    if (it == st.fields.end() || !it->second.value) continue;
    llvm::Value* v = it->second.value;
    if (it->second.present) v = b.CreateSelect(it->second.present, v, b.i64c(0));
    b.store_at(v, ev, offsetof(krsie_event, fields) + 8 * i);
  }
  b.store_at(b.CreateZExt(applied, i8), ev, offsetof(krsie_event, enforced));
  b.store_at(b.CreateTrunc(gen, i8), ev, offsetof(krsie_event, generation));
  b.store_at(st.ev_family, ev, offsetof(krsie_event, family));
  b.store_at(st.ev_port, ev, offsetof(krsie_event, port));
  b.CreateMemCpy(b.ptr_at(ev, offsetof(krsie_event, addr)), llvm::MaybeAlign(8), st.ev_addr, llvm::MaybeAlign(8), 16);
  b.helper(ringbuf_submit, b.getVoidTy(), {ev, b.i64c(0)});
  bump(s, decision_slot(decision));
  bump(s, b.i64c(offsetof(krsie_stats, events)));
  b.CreateBr(finish);
  b.SetInsertPoint(dropped);
  bump(s, decision_slot(decision));
  bump(s, b.i64c(offsetof(krsie_stats, events_dropped)));
  b.CreateBr(finish);

  // 7. Apply: deny/kill in enforce mode return -errno (kill also sends SIGKILL).
  b.SetInsertPoint(finish);
  llvm::BasicBlock* deny = b.block("deny");
  llvm::BasicBlock* kill = b.block("kill");
  llvm::BasicBlock* deny_ret = b.block("deny.ret");
  b.CreateCondBr(applied, deny, allow_quiet);
  b.SetInsertPoint(deny);
  b.CreateCondBr(b.CreateICmpEQ(decision, b.getInt8(KRSIE_DECISION_KILL)), kill, deny_ret);
  b.SetInsertPoint(kill);
  b.helper(send_signal, i64, {b.i64c(k_sigkill)});
  b.CreateBr(deny_ret);
  b.SetInsertPoint(deny_ret);
  b.CreateRet(b.CreateNeg(err));
}

}  // namespace krsie::backend::llvmbe
