// Hand-written expectations for the reference evaluator of the differential table.
#include <gtest/gtest.h>

#include "eval/pir_eval.h"
#include "pir/matchers.h"

namespace krsie::eval {
namespace {

pir::Constraint constraint(std::string field, pir::Matcher m, bool negated = false) {
  return pir::Constraint{.field = std::move(field), .type = Type::integer(32, false), .negated = negated, .matcher = std::move(m)};
}

pir::Matcher ints(std::vector<pir::IntRange> r) { return pir::Matcher{.kind = pir::Matcher::Kind::int_set, .ints = std::move(r)}; }

pir::Matcher paths(std::vector<std::string> texts) {
  pir::Matcher m{.kind = pir::Matcher::Kind::path_set};
  std::string error;
  for (const std::string& t : texts) m.paths.push_back(*pir::parse_path_pattern(t, &error));
  return m;
}

Event event(std::map<std::string, Value> fields) { return Event{std::move(fields)}; }

TEST(PirEval, FirstMatchWinsElsePosture) {
  pir::Hook h{.name = "socket_connect", .posture = pir::Decision::audit};
  h.rules.push_back({.id = 4, .decision = pir::Decision::deny, .err = 13, .constraints = {constraint("remote_port", ints({{22, 22}}))}});
  h.rules.push_back({.id = 2, .decision = pir::Decision::allow, .constraints = {constraint("remote_port", ints({{1, 1023}}))}});
  EXPECT_EQ(evaluate(h, event({{"remote_port", {.number = 22}}})), (Verdict{4, pir::Decision::deny, 13}));
  EXPECT_EQ(evaluate(h, event({{"remote_port", {.number = 80}}})), (Verdict{2, pir::Decision::allow, 1}));
  EXPECT_EQ(evaluate(h, event({{"remote_port", {.number = 1024}}})), (Verdict{Verdict::k_posture_rule, pir::Decision::audit, 1}));
}

TEST(PirEval, AbsentFieldFailsNegatedOrNot) {
  pir::Hook h{.name = "socket_connect"};
  h.rules.push_back({.id = 0, .decision = pir::Decision::deny, .constraints = {constraint("remote_port", ints({{22, 22}}), true)}});
  EXPECT_EQ(evaluate(h, event({{"remote_port", {.number = 80}}})).rule_id, 0u);
  EXPECT_EQ(evaluate(h, event({{"remote_port", {.number = 22}}})).rule_id, Verdict::k_posture_rule);
  EXPECT_EQ(evaluate(h, event({})).rule_id, Verdict::k_posture_rule);  // `not in` on an absent port
  // A subject needs the running binary.
  h.rules[0].subject = paths({"/usr/bin/*"});
  EXPECT_EQ(evaluate(h, event({{"remote_port", {.number = 80}}, {"exe", {.text = "/usr/bin/curl"}}})).rule_id, 0u);
  EXPECT_EQ(evaluate(h, event({{"remote_port", {.number = 80}}, {"exe", {.text = "/usr/bin/x/curl"}}})).rule_id,
            Verdict::k_posture_rule);
  EXPECT_EQ(evaluate(h, event({{"remote_port", {.number = 80}}})).rule_id, Verdict::k_posture_rule);
}

TEST(PirEval, MatcherKinds) {
  Value v;
  v.text = "/tmp";
  EXPECT_TRUE(matcher_holds(paths({"/tmp/**"}), v));  // a subtree contains its directory
  v.text = "/tmpx";
  EXPECT_FALSE(matcher_holds(paths({"/tmp/**"}), v));
  v.text = "/etc/passwd";
  EXPECT_TRUE(matcher_holds(paths({"/etc/pa*wd"}), v));
  EXPECT_FALSE(matcher_holds(paths({"/etc/*"}), Value{.text = "/etc/a/b"}));
  pir::Matcher flags_all{.kind = pir::Matcher::Kind::flags_all, .mask = 0x6};
  EXPECT_TRUE(matcher_holds(flags_all, Value{.number = 0x7}));
  EXPECT_FALSE(matcher_holds(flags_all, Value{.number = 0x4}));
  pir::Matcher flags_any{.kind = pir::Matcher::Kind::flags_any, .mask = 0x6};
  EXPECT_TRUE(matcher_holds(flags_any, Value{.number = 0x4}));
  EXPECT_FALSE(matcher_holds(flags_any, Value{.number = 0x9}));
  pir::Matcher nets{.kind = pir::Matcher::Kind::addr_set, .cidrs = {*pir::parse_cidr("10.0.0.0/8")}};
  Value a;
  a.addr.bytes = {10, 255, 255, 255};
  EXPECT_TRUE(matcher_holds(nets, a));
  a.addr.bytes = {11, 0, 0, 0};
  EXPECT_FALSE(matcher_holds(nets, a));
  a.addr = {.v6 = true, .bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1}};
  EXPECT_FALSE(matcher_holds(nets, a));  // IPv4-mapped IPv6 is not the IPv4 network
  pir::Matcher comms{.kind = pir::Matcher::Kind::string_set, .strings = {"bash", "sh"}};
  EXPECT_TRUE(matcher_holds(comms, Value{.text = "sh"}));
  EXPECT_FALSE(matcher_holds(comms, Value{.text = "sh*"}));
  pir::Matcher yes{.kind = pir::Matcher::Kind::boolean, .value = true};
  EXPECT_TRUE(matcher_holds(yes, Value{.number = 1}));
  EXPECT_FALSE(matcher_holds(yes, Value{.number = 0}));
}

}  // namespace
}  // namespace krsie::eval
