// The `.krsie.meta` readers: the fast reader of krsiec's JSON subset must give exactly what
// nlohmann gives, fall back to nlohmann for everything outside the subset, and never change what
// is accepted or the error a corrupt text gets.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <functional>
#include <string>

#include "krsie/runtime/error.h"
#include "krsie/runtime/metadata.h"
#include "krsie_abi.h"

namespace krsie::runtime {
namespace {

void expect_same(const PolicyMetadata& a, const PolicyMetadata& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.mode, b.mode);
  EXPECT_EQ(a.backend, b.backend);
  EXPECT_EQ(a.compiler, b.compiler);
  EXPECT_EQ(a.abi, b.abi);
  EXPECT_EQ(a.cgroup_targets, b.cgroup_targets);
  EXPECT_EQ(a.pod_targets, b.pod_targets);
  EXPECT_EQ(a.programs, b.programs);
  EXPECT_EQ(a.map_sizes, b.map_sizes);
  ASSERT_EQ(a.inode_paths.size(), b.inode_paths.size());
  for (std::size_t i = 0; i < a.inode_paths.size(); ++i) {
    EXPECT_EQ(a.inode_paths[i].table, b.inode_paths[i].table);
    EXPECT_EQ(a.inode_paths[i].bit, b.inode_paths[i].bit);
    EXPECT_EQ(a.inode_paths[i].path, b.inode_paths[i].path);
  }
  ASSERT_EQ(a.rules.size(), b.rules.size());
  for (std::size_t i = 0; i < a.rules.size(); ++i) {
    EXPECT_EQ(a.rules[i].id, b.rules[i].id);
    EXPECT_EQ(a.rules[i].hook, b.rules[i].hook);
    EXPECT_EQ(a.rules[i].locations, b.rules[i].locations);
    EXPECT_EQ(a.rules[i].source, b.rules[i].source);
    EXPECT_EQ(a.rules[i].message, b.rules[i].message);
    EXPECT_EQ(a.rules[i].tag, b.rules[i].tag);
  }
}

// Metadata as krsiec writes it (its JsonWriter reproduces nlohmann's dump(1) byte for byte).
nlohmann::ordered_json sample() {
  nlohmann::ordered_json j;
  j["format"] = "krsie-policy";
  j["abi"] = KRSIE_ABI_VERSION;
  j["backend"] = "generic";
  j["compiler"] = "krsiec 0.1.0";
  j["name"] = "web";
  j["mode"] = "audit";
  j["targets"] = nlohmann::ordered_json::array(
      {{{"cgroup", "/sys/fs/cgroup/web"}},
       {{"pod", {{"namespace", "default"}, {"labels", {{"app", "web"}}}, {"container", ""}}}}});
  j["programs"] = {"krsie_file_open", "krsie_socket_connect"};
  j["map_sizes"] = {{"krsie_dfa_edges", 12}, {"krsie_rules", 3}, {"krsie_strings", 0}};
  j["inode_paths"] = nlohmann::ordered_json::array(
      {{{"table", 256}, {"bit", 0}, {"path", "/etc/shadow"}}, {{"table", 4294967295u}, {"bit", 63}, {"path", "/a b/\"q\"\\/"}}});
  j["rules"] = nlohmann::ordered_json::array(
      {{{"id", 0}, {"hook", "file_open"}, {"locations", {"web.krs:4:3", "web.krs:9:3"}},
        {"source", "  deny file read \"/etc/shadow\" message \"secrets\";\t"}, {"message", "secrets"}},
       {{"id", 1}, {"hook", ""}, {"locations", nlohmann::ordered_json::array()}, {"source", std::string("ctl\x01\x1f\b\f\n\r", 10)},
        {"tag", "a/b"}}});
  return j;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const RuntimeError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_object) << e.what();
    return e.what();
  }
  return "<accepted>";
}

TEST(Metadata, TheFastReaderGivesWhatNlohmannGives) {
  for (int indent : {-1, 0, 1, 4}) {
    std::string text = sample().dump(indent);
    std::optional<PolicyMetadata> fast = read_canonical_metadata(text);
    ASSERT_TRUE(fast.has_value()) << text;
    PolicyMetadata slow = parse_metadata_json(text);
    expect_same(*fast, slow);
    expect_same(parse_metadata(text), slow);
    EXPECT_EQ(fast->pod_targets, 1u);
    EXPECT_EQ(fast->inode_paths[1].table, 4294967295u);
    EXPECT_EQ(fast->rules[1].source, std::string("ctl\x01\x1f\b\f\n\r", 10));
  }
}

TEST(Metadata, BothReadersTellTheFormat) {
  nlohmann::ordered_json v2 = sample();
  v2["format"] = "krsie-policy-2";
  v2.erase("inode_paths");  // format 2 keeps them in the loader table
  for (int indent : {-1, 1}) {
    std::optional<PolicyMetadata> fast = read_canonical_metadata(v2.dump(indent));
    ASSERT_TRUE(fast.has_value());
    PolicyMetadata slow = parse_metadata_json(v2.dump(indent));
    expect_same(*fast, slow);
    EXPECT_EQ(fast->format, 2);
    EXPECT_EQ(slow.format, 2);
    EXPECT_EQ(fast->rule_count, 2u);
    EXPECT_EQ(slow.rule_count, 2u);
  }
  EXPECT_EQ(parse_metadata(sample().dump(1)).format, 1);
  EXPECT_EQ(parse_metadata_json(sample().dump(1)).format, 1);
  nlohmann::ordered_json v3 = sample();
  v3["format"] = "krsie-policy-3";
  EXPECT_FALSE(read_canonical_metadata(v3.dump(1)).has_value());
  EXPECT_NE(error_of([&] { parse_metadata(v3.dump(1)); }).find("unknown format"), std::string::npos);
}

TEST(Metadata, RuleTextsCanBeSkippedOnBothPaths) {
  std::string canonical = sample().dump(1);
  nlohmann::ordered_json utf8 = sample();
  utf8["rules"][0]["message"] = "\xe2\x82\xac";  // not in the fast reader's subset
  for (const std::string& text : {canonical, utf8.dump(1)}) {
    PolicyMetadata full = parse_metadata(text);
    PolicyMetadata lean = parse_metadata(text, RuleText::skip);
    ASSERT_EQ(lean.rules.size(), full.rules.size());
    for (std::size_t i = 0; i < lean.rules.size(); ++i) {
      EXPECT_EQ(lean.rules[i].id, full.rules[i].id);
      EXPECT_EQ(lean.rules[i].hook, full.rules[i].hook);
      EXPECT_TRUE(lean.rules[i].locations.empty());
      EXPECT_EQ(lean.rules[i].source, "");
      EXPECT_EQ(lean.rules[i].message, "");
      EXPECT_EQ(lean.rules[i].tag, "");
    }
    EXPECT_EQ(lean.inode_paths.size(), full.inode_paths.size());
    EXPECT_EQ(lean.programs, full.programs);
  }
  // Skipped texts are still checked: a location that is not a string is corrupt either way.
  nlohmann::ordered_json bad = sample();
  bad["rules"][0]["locations"][0] = 5;
  EXPECT_EQ(error_of([&] { parse_metadata(bad.dump(1), RuleText::skip); }),
            error_of([&] { parse_metadata_json(bad.dump(1)); }));
  EXPECT_NE(error_of([&] { parse_metadata(bad.dump(1), RuleText::skip); }).find("metadata is corrupt"), std::string::npos);
}

TEST(Metadata, OutsideTheSubsetNlohmannReads) {
  auto variant = [](auto change) {
    nlohmann::ordered_json j = sample();
    change(j);
    return j.dump(1);
  };
  const std::vector<std::string> texts = {
      variant([](auto& j) { j["inode_paths"][0]["path"] = "/srv/caf\xc3\xa9"; }),     // UTF-8
      variant([](auto& j) { j["rules"][0]["message"] = "\xe2\x82\xac 5"; }),           // UTF-8
      variant([](auto& j) { j["extra"] = {true, nullptr, -1, 2.5, "x"}; }),            // unknown key, other types
      variant([](auto& j) { j["rules"][0]["origin"] = false; }),                        // unknown rule key
      variant([](auto& j) { j.erase("backend"); }),                                     // optional key missing
      variant([](auto& j) { j.erase("inode_paths"); }),                                 // optional key missing
      variant([](auto& j) { j["targets"][0] = {{"cgroup", "/x"}, {"note", {1, 2}}}; }),  // extra target key
      R"({"format": "krsie-policy", "abi": )" + std::to_string(KRSIE_ABI_VERSION) + R"(, "name": "a", "mode": "enforce", "name": "b", "targets": [],
          "programs": [], "map_sizes": {}, "rules": []})",  // duplicate key: the last wins
      R"({"format": "krsie-policy", "abi": )" + std::to_string(KRSIE_ABI_VERSION) + R"(, "name": "\u0061\u00e9", "mode": "enforce", "targets": [],
          "programs": [], "map_sizes": {"m": 1, "m": 2}, "rules": []})",
  };
  for (const std::string& text : texts) {
    SCOPED_TRACE(text.substr(0, 200));
    PolicyMetadata slow = parse_metadata_json(text);
    expect_same(parse_metadata(text), slow);
    if (auto fast = read_canonical_metadata(text)) expect_same(*fast, slow);
  }
  EXPECT_FALSE(read_canonical_metadata(texts[0]).has_value());
  EXPECT_FALSE(read_canonical_metadata(texts[2]).has_value());
  EXPECT_FALSE(read_canonical_metadata(texts[7]).has_value());
}

TEST(Metadata, EveryCorruptionGetsNlohmannsVerdict) {
  std::string text = sample().dump(1);
  // Every prefix, and every single-byte change to a few troublesome bytes.
  std::vector<std::string> texts;
  for (std::size_t n = 0; n < text.size(); ++n) texts.push_back(text.substr(0, n));
  for (std::size_t i = 0; i < text.size(); i += 7)
    for (char c : {'"', '\\', '}', ']', ',', '0', '-', '\x01', '\x80', ' '}) {
      std::string t = text;
      t[i] = c;
      texts.push_back(t);
    }
  texts.push_back(text + "x");
  texts.push_back(text + std::string(1, '\0'));
  texts.push_back(text + " \n\t\r");
  std::size_t accepted = 0;
  for (const std::string& t : texts) {
    std::string fast = error_of([&] { parse_metadata(t); });
    std::string slow = error_of([&] { parse_metadata_json(t); });
    ASSERT_EQ(fast, slow) << t;
    ASSERT_EQ(error_of([&] { parse_metadata(t, RuleText::skip); }), slow) << t;
    if (fast == "<accepted>") {
      ++accepted;
      expect_same(parse_metadata(t), parse_metadata_json(t));
    }
  }
  EXPECT_GT(accepted, 1u);
}

TEST(Metadata, ChecksApplyOnBothPaths) {
  auto with = [](const char* key, nlohmann::ordered_json v) {
    nlohmann::ordered_json j = sample();
    j[key] = std::move(v);
    return j.dump(1);
  };
  EXPECT_NE(error_of([&] { parse_metadata(with("abi", 2)); }).find("has ABI 2"), std::string::npos);
  EXPECT_NE(error_of([&] { parse_metadata(with("mode", "loud")); }).find("invalid mode 'loud'"), std::string::npos);
  EXPECT_NE(error_of([&] { parse_metadata(with("name", "")); }).find("empty policy name"), std::string::npos);
  EXPECT_NE(error_of([&] { parse_metadata(with("format", "other")); }).find("unknown format"), std::string::npos);
  EXPECT_NE(error_of([&] { parse_metadata(with("abi", "4")); }).find("metadata is corrupt"), std::string::npos);
}

}  // namespace
}  // namespace krsie::runtime
