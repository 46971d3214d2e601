// PIR matcher utilities: path patterns, globs, CIDRs, normalization, coverage, union.
#include <gtest/gtest.h>

#include "pir/matchers.h"
#include "pir/print.h"

namespace krsie::pir {
namespace {

PathPattern pat(const std::string& text) {
  std::string error;
  auto p = parse_path_pattern(text, &error);
  EXPECT_TRUE(p) << text << ": " << error;
  return p.value_or(PathPattern{});
}

TEST(PathPattern, ClassifiesAndNormalizes) {
  EXPECT_EQ(pat("/etc/shadow").kind, PathPattern::Kind::exact);
  EXPECT_EQ(pat("/etc//shadow").text, "/etc/shadow");
  EXPECT_EQ(pat("/etc/**").kind, PathPattern::Kind::subtree);
  EXPECT_EQ(pat("/etc/**").text, "/etc");
  EXPECT_EQ(pat("/**").text, "/");
  EXPECT_EQ(pat("/home/*/.ssh/**").kind, PathPattern::Kind::glob);
  EXPECT_EQ(pat("/tmp/x?").kind, PathPattern::Kind::glob);
}

TEST(PathPattern, RejectsWhatCannotBeMatchedSafely) {
  std::string error;
  EXPECT_FALSE(parse_path_pattern("etc/shadow", &error));
  EXPECT_NE(error.find("absolute"), std::string::npos);
  EXPECT_FALSE(parse_path_pattern("/etc/../shadow", &error));
  EXPECT_FALSE(parse_path_pattern("/etc/./shadow", &error));
  EXPECT_FALSE(parse_path_pattern("/etc/a**b", &error));
  EXPECT_FALSE(parse_path_pattern("/etc/[ab", &error));
  EXPECT_FALSE(parse_path_pattern("/" + std::string(300, 'a'), &error));
  EXPECT_FALSE(parse_path_pattern(std::string(5000, '/'), &error));
}

TEST(Glob, MatchesComponentsAndDoubleStar) {
  EXPECT_TRUE(glob_match("/home/*/.ssh/**", "/home/alice/.ssh/id_rsa"));
  EXPECT_TRUE(glob_match("/home/*/.ssh/**", "/home/alice/.ssh"));
  EXPECT_FALSE(glob_match("/home/*/.ssh/**", "/home/a/b/.ssh/x"));
  EXPECT_TRUE(glob_match("/**/xmrig", "/xmrig"));
  EXPECT_TRUE(glob_match("/**/xmrig", "/tmp/a/b/xmrig"));
  EXPECT_FALSE(glob_match("/**/xmrig", "/tmp/xmrig2"));
  EXPECT_TRUE(glob_match("/tmp/x?", "/tmp/x1"));
  EXPECT_FALSE(glob_match("/tmp/x?", "/tmp/x12"));
  EXPECT_TRUE(glob_match("/dev/tty[0-9]", "/dev/tty7"));
  EXPECT_FALSE(glob_match("/dev/tty[!0-9]", "/dev/tty7"));
  EXPECT_FALSE(glob_match("/a/*", "/a/b/c"));  // * never crosses '/'
}

TEST(PathMatches, SubtreeIsTheDirectoryAndBelowOnly) {
  PathPattern etc = pat("/etc/**");
  EXPECT_TRUE(path_matches(etc, "/etc"));
  EXPECT_TRUE(path_matches(etc, "/etc/ssl/x"));
  EXPECT_FALSE(path_matches(etc, "/etcetera"));
  EXPECT_TRUE(path_matches(pat("/**"), "/anything"));
}

TEST(Cidr, ParsesV4AndV6AndClearsHostBits) {
  bool host = false;
  auto a = parse_cidr("10.1.2.3/8", &host);
  ASSERT_TRUE(a);
  EXPECT_TRUE(host);
  EXPECT_EQ(a->text(), "10.0.0.0/8");
  auto b = parse_cidr("192.168.1.1");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->prefix, 32);
  auto c = parse_cidr("2001:db8::1/32", &host);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->v6);
  EXPECT_EQ(c->text(), "2001:db8::/32");
  EXPECT_FALSE(parse_cidr("10.0.0.0/33"));
  EXPECT_FALSE(parse_cidr("300.1.1.1"));
  EXPECT_FALSE(parse_cidr("::1/129"));
  EXPECT_FALSE(parse_cidr("10.0.0.0/"));
  EXPECT_FALSE(parse_cidr("nonsense"));
}

Matcher ints(std::vector<IntRange> r) {
  Matcher m{.kind = Matcher::Kind::int_set, .ints = std::move(r)};
  normalize(m);
  return m;
}

TEST(Normalize, MergesTouchingRangesAndDropsInnerCidrs) {
  EXPECT_EQ(ints({{9051, 9051}, {9050, 9050}, {9150, 9151}, {9152, 9160}}).ints,
            (std::vector<IntRange>{{9050, 9051}, {9150, 9160}}));
  Matcher a{.kind = Matcher::Kind::addr_set, .cidrs = {*parse_cidr("10.1.0.0/16"), *parse_cidr("10.0.0.0/8"),
                                                       *parse_cidr("10.0.0.0/8")}};
  normalize(a);
  ASSERT_EQ(a.cidrs.size(), 1u);
  EXPECT_EQ(a.cidrs[0].text(), "10.0.0.0/8");
}

TEST(Covers, SetsRangesPathsAndFlags) {
  EXPECT_TRUE(covers(ints({{0, 1023}}), ints({{22, 22}, {80, 80}})));
  EXPECT_FALSE(covers(ints({{0, 1023}}), ints({{1023, 1024}})));
  Matcher etc{.kind = Matcher::Kind::path_set, .paths = {pat("/etc/**")}};
  Matcher shadow{.kind = Matcher::Kind::path_set, .paths = {pat("/etc/shadow"), pat("/etc/ssl/**")}};
  EXPECT_TRUE(covers(etc, shadow));
  EXPECT_FALSE(covers(shadow, etc));
  Matcher any_rw{.kind = Matcher::Kind::flags_any, .mask = 3};
  Matcher any_r{.kind = Matcher::Kind::flags_any, .mask = 1};
  EXPECT_TRUE(covers(any_rw, any_r));
  EXPECT_FALSE(covers(any_r, any_rw));
  Matcher all_r{.kind = Matcher::Kind::flags_all, .mask = 1};
  Matcher all_rw{.kind = Matcher::Kind::flags_all, .mask = 3};
  EXPECT_TRUE(covers(all_r, all_rw));
  EXPECT_FALSE(covers(all_rw, all_r));
}

TEST(Unite, UnionsSetKindsOnly) {
  auto u = unite(ints({{1, 1}}), ints({{2, 2}}));
  ASSERT_TRUE(u);
  EXPECT_EQ(u->ints, (std::vector<IntRange>{{1, 2}}));
  EXPECT_FALSE(unite(Matcher{.kind = Matcher::Kind::flags_all, .mask = 1}, Matcher{.kind = Matcher::Kind::flags_all, .mask = 2}));
  EXPECT_FALSE(unite(ints({{1, 1}}), Matcher{.kind = Matcher::Kind::boolean}));
}

TEST(Print, ConstantsPrintByName) {
  EXPECT_EQ(matcher_text(ints({{2, 2}, {10, 10}}), Type::integer(16, false, Unit::family)), "in {AF_INET, AF_INET6}");
  EXPECT_EQ(matcher_text(ints({{9050, 9051}}), Type::integer(16, false, Unit::port)), "in {9050..9051}");
  EXPECT_EQ(matcher_text(ints({{0644, 0644}}), Type::integer(16, false, Unit::mode)), "in {0o644}");
}

}  // namespace
}  // namespace krsie::pir
