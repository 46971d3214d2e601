#include <gtest/gtest.h>

#include <cerrno>

#include "scenario.h"

namespace krsie::e2e {
namespace {

TEST(Scenario, SplitsWordsLikeAShell) {
  EXPECT_EQ(split_words("a  b\t'c d' \"e \\\"f\\\"\" # comment"),
            (std::vector<std::string>{"a", "b", "c d", "e \"f\""}));
  EXPECT_EQ(split_words("x'y'z"), std::vector<std::string>{"xyz"});
  EXPECT_EQ(split_words("a#b"), std::vector<std::string>{"a#b"});
  EXPECT_THROW(split_words("'open"), std::runtime_error);
  EXPECT_THROW(split_words("\"open"), std::runtime_error);
}

TEST(Scenario, ParsesAllDirectives) {
  Scenario sc = parse_scenario("s.scn",
                               "scenario demo\n"
                               "cgroup t /k/t\n"
                               "setup sh -c 'echo hi > /tmp/x'\n"
                               "template file cgroup=t deny-inode=/tmp/x\n"
                               "expect deny in t EPERM open-read /tmp/x\n"
                               "expect ok-out in root ok exec /bin/true\n"
                               "expect code in t exit=3 sh 'exit 3'\n");
  EXPECT_EQ(sc.name, "demo");
  ASSERT_EQ(sc.cgroups.size(), 1u);
  EXPECT_EQ(sc.cgroups[0].path, "/k/t");
  ASSERT_EQ(sc.steps.size(), 5u);
  EXPECT_EQ(sc.steps[0].args, (std::vector<std::string>{"sh", "-c", "echo hi > /tmp/x"}));
  EXPECT_EQ(sc.steps[1].kind, Step::Kind::template_load);
  EXPECT_EQ(sc.steps[2].outcome.kind, Outcome::Kind::error);
  EXPECT_EQ(sc.steps[2].outcome.value, EPERM);
  EXPECT_EQ(sc.steps[2].line, 5);
  EXPECT_EQ(sc.steps[4].outcome.kind, Outcome::Kind::exit_code);
  EXPECT_EQ(sc.steps[4].outcome.value, 3);
  EXPECT_EQ(sc.expect_ids(), (std::vector<std::string>{"deny", "ok-out", "code"}));
}

TEST(Scenario, ParsesBackgroundTeardownAndMatch) {
  Scenario sc = parse_scenario("s.scn",
                               "scenario loop\n"
                               "cgroup t /k/t\n"
                               "teardown krsie-load unload x\n"
                               "background t 'while true; do :; done'\n"
                               "expect listed in root ok match '\"name\":\"x\"' krsie-load list --json\n");
  ASSERT_EQ(sc.steps.size(), 3u);
  EXPECT_EQ(sc.steps[0].kind, Step::Kind::teardown);
  EXPECT_EQ(sc.steps[0].args, (std::vector<std::string>{"krsie-load", "unload", "x"}));
  EXPECT_EQ(sc.steps[1].kind, Step::Kind::background);
  EXPECT_EQ(sc.steps[1].cgroup, "t");
  EXPECT_EQ(sc.steps[1].args, std::vector<std::string>{"while true; do :; done"});
  EXPECT_EQ(sc.steps[2].args, (std::vector<std::string>{"match", "\"name\":\"x\"", "krsie-load", "list", "--json"}));
}

void expect_parse_error(const std::string& text, const std::string& fragment) {
  try {
    parse_scenario("bad.scn", text);
    ADD_FAILURE() << "no error for: " << text;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Scenario, RejectsMistakesWithFileAndLine) {
  expect_parse_error("expect a in root ok open-read /x\n", "missing 'scenario NAME'");
  expect_parse_error("scenario s\n", "has no 'expect' checks");
  expect_parse_error("scenario s\nexpect a in nowhere ok open-read /x\n", "bad.scn:2: unknown cgroup 'nowhere'");
  expect_parse_error("scenario s\nexpect a in root EWHAT open-read /x\n", "unknown outcome 'EWHAT'");
  expect_parse_error("scenario s\nexpect a in root ok teleport /x\n", "unknown action 'teleport'");
  expect_parse_error("scenario s\nexpect a in root ok match x\n", "takes at least 2 argument(s), got 1");
  expect_parse_error("scenario s\nexpect a in root ok match '(' true\n", "bad regular expression '('");
  expect_parse_error("scenario s\nbackground nowhere 'true'\n", "expected 'background CGROUP SCRIPT'");
  expect_parse_error("scenario s\nteardown\n", "'teardown' needs a command");
  expect_parse_error("scenario s\nexpect a in root ok sh true\nexpect a in root ok sh true\n",
                     "bad.scn:3: check id 'a' used twice");
  expect_parse_error("scenario s\ncgroup t /a/../b\n", "must not contain '..'");
  expect_parse_error("scenario s\ncgroup root /x\n", "declared twice");
  expect_parse_error("scenario s\nfrobnicate\n", "unknown directive 'frobnicate'");
  expect_parse_error("scenario s\ntemplate file cgroup\n", "KEY=VALUE");
}

TEST(Scenario, ErrnoNamesRoundTrip) {
  EXPECT_EQ(errno_from_name("EPERM"), EPERM);
  EXPECT_EQ(errno_name(EACCES), "EACCES");
  EXPECT_EQ(errno_from_name("NOPE"), -1);
  EXPECT_EQ((Outcome{Outcome::Kind::exit_code, 2}.text()), "exit=2");
}

}  // namespace
}  // namespace krsie::e2e
