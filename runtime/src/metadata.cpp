// The `.krsie.meta` JSON of a policy object (docs/policy-object.md).
//
// A 10,000-rule policy carries ~2.4 MB of metadata (every exact rule path, every rule location);
// building an nlohmann tree of it costs ~300 M instructions, more than everything else a
// replacement does in user space. So the metadata is read by a small reader for the subset of
// JSON that krsiec writes (ASCII strings, the escapes JsonWriter emits, unsigned integers, the
// documented keys with the documented types), straight into PolicyMetadata. Anything outside that
// subset (another writer, a hand-edited object, corruption) goes to nlohmann, which gives the
// same result for valid input and its precise error for invalid input: the fast reader only
// decides how fast, never what is accepted.
#include "krsie/runtime/metadata.h"

#include <array>
#include <cstring>
#include <cerrno>
#include <charconv>
#include <optional>

#include <nlohmann/json.hpp>

#include "byte_reader.h"
#include "krsie/runtime/error.h"
#include "krsie_abi.h"

namespace krsie::runtime {

namespace {

RuntimeError bad_object(const std::string& message) { return RuntimeError(ErrorKind::bad_object, message, EINVAL); }

// The checks both readers share (after the ABI check, which each does first).
void check_metadata(const PolicyMetadata& m) {
  if (m.mode != "enforce" && m.mode != "audit") throw bad_object("policy object metadata has an invalid mode '" + m.mode + "'");
  if (m.name.empty()) throw bad_object("policy object metadata has an empty policy name");
}

void check_abi(int abi) {
  if (abi != KRSIE_ABI_VERSION)
    throw bad_object("policy object has ABI " + std::to_string(abi) + ", this krsie-load speaks ABI " +
                     std::to_string(KRSIE_ABI_VERSION) + ": recompile the policy with a matching krsiec");
}

// Bytes a string holds as they are: printable ASCII but the quote and the backslash.
constexpr std::array<bool, 256> k_plain = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x80; ++c) t[c] = c != '"' && c != '\\';
  return t;
}();

// 1 for "krsie-policy", 2 for "krsie-policy-2", 0 for anything else.
int format_version(std::string_view format) {
  if (format == k_metadata_format_1) return 1;
  if (format == k_metadata_format_2) return 2;
  return 0;
}

// Thrown inside the fast reader: "not the subset I read", never an error of its own.
struct NotCanonical {};

class FastReader {
 public:
  FastReader(std::string_view text, RuleText rule_text)
      : p_(text.data()), end_(text.data() + text.size()), keep_text_(rule_text == RuleText::keep) {}

  PolicyMetadata read() {
    PolicyMetadata m;
    bool format = false, abi = false, name = false, mode = false, targets = false, programs = false, sizes = false,
         rules = false, backend = false, compiler = false, inodes = false;
    auto once = [](bool& seen) {
      if (seen) throw NotCanonical{};  // duplicate keys: nlohmann's rule (the last wins) applies
      seen = true;
    };
    object([&](std::string_view key) {
      if (key == "format") {
        once(format);
        m.format = format_version(string_view());
        if (m.format == 0) throw NotCanonical{};
      } else if (key == "abi") {
        once(abi);
        m.abi = static_cast<int>(number());
      } else if (key == "backend") {
        once(backend);
        m.backend = string();
      } else if (key == "compiler") {
        once(compiler);
        m.compiler = string();
      } else if (key == "name") {
        once(name);
        m.name = string();
      } else if (key == "mode") {
        once(mode);
        m.mode = string();
      } else if (key == "targets") {
        once(targets);
        array([&] {
          bool cgroup = false;
          object([&](std::string_view k) {
            if (k == "cgroup") {
              if (cgroup) throw NotCanonical{};
              cgroup = true;
              m.cgroup_targets.push_back(string());
            } else {
              skip_value();
            }
          });
          if (!cgroup) ++m.pod_targets;
        });
      } else if (key == "programs") {
        once(programs);
        array([&] { m.programs.push_back(string()); });
      } else if (key == "map_sizes") {
        once(sizes);
        object([&](std::string_view k) {
          if (!m.map_sizes.emplace(std::string(k), number()).second) throw NotCanonical{};
        });
      } else if (key == "inode_paths") {
        once(inodes);
        std::vector<std::tuple<std::uint32_t, std::uint32_t, std::string>> paths;
        array([&] {
          std::tuple<std::uint32_t, std::uint32_t, std::string> ip{};
          bool table = false, bit = false, path = false;
          object([&](std::string_view k) {
            if (k == "table") once(table), std::get<0>(ip) = number();
            else if (k == "bit") once(bit), std::get<1>(ip) = number();
            else if (k == "path") once(path), std::get<2>(ip) = string();
            else skip_value();
          });
          if (!table || !bit || !path) throw NotCanonical{};
          paths.push_back(std::move(ip));
        });
        m.set_inode_paths(paths);
      } else if (key == "rules") {
        once(rules);
        array([&] {
          RuleMetadata r;
          bool id = false, locations = false, hook = false, source = false, message = false, tag = false;
          object([&](std::string_view k) {
            if (k == "id") once(id), r.id = number();
            else if (k == "hook") once(hook), r.hook = string();
            else if (k == "locations") once(locations), array([&] {
              if (keep_text_) r.locations.push_back(string());
              else string_view();
            });
            else if (k == "source") once(source), text(r.source);
            else if (k == "message") once(message), text(r.message);
            else if (k == "tag") once(tag), text(r.tag);
            else skip_value();
          });
          if (!id || !locations) throw NotCanonical{};
          m.rules.push_back(std::move(r));
        });
      } else {
        skip_value();
      }
    });
    space();
    if (p_ != end_) throw NotCanonical{};
    if (!format || !abi || !name || !mode || !targets || !programs || !sizes || !rules) throw NotCanonical{};
    m.rule_count = m.rules.size();
    return m;
  }

 private:
  void space() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  void expect(char c) {
    space();
    if (p_ == end_ || *p_ != c) throw NotCanonical{};
    ++p_;
  }
  bool next_is(char c) {
    space();
    return p_ != end_ && *p_ == c;
  }

  // { "key": value, ... }: `member` reads the value of each key.
  template <typename F>
  void object(F&& member) {
    expect('{');
    if (next_is('}')) {
      ++p_;
      return;
    }
    for (;;) {
      std::string key(string_view());  // short: no allocation
      expect(':');
      member(std::string_view(key));
      space();
      if (p_ == end_) throw NotCanonical{};
      if (*p_ == '}') {
        ++p_;
        return;
      }
      if (*p_ != ',') throw NotCanonical{};
      ++p_;
    }
  }

  template <typename F>
  void array(F&& element) {
    expect('[');
    if (next_is(']')) {
      ++p_;
      return;
    }
    for (;;) {
      element();
      space();
      if (p_ == end_) throw NotCanonical{};
      if (*p_ == ']') {
        ++p_;
        return;
      }
      if (*p_ != ',') throw NotCanonical{};
      ++p_;
    }
  }

  // A string of printable ASCII with the escapes krsiec writes (\u00XX for other controls).
  std::string string() { return std::string(string_view()); }

  // A rule text: read into `out`, or only checked when texts are skipped.
  void text(std::string& out) {
    std::string_view v = string_view();
    if (keep_text_) out.assign(v);
  }

  // The same as a view: into the text when it has no escape, else into scratch_ (valid until the
  // next call).
  std::string_view string_view() {
    expect('"');
    const char* start = p_;
    while (p_ != end_ && k_plain[static_cast<unsigned char>(*p_)]) ++p_;
    if (p_ != end_ && *p_ == '"') return std::string_view(start, static_cast<std::size_t>(p_++ - start));
    scratch_.assign(start, p_);
    for (;;) {
      if (p_ == end_) throw NotCanonical{};
      unsigned char c = static_cast<unsigned char>(*p_++);
      if (c == '"') return scratch_;
      if (c < 0x20 || c >= 0x80) throw NotCanonical{};  // invalid, or UTF-8 nlohmann validates
      if (c != '\\') {
        scratch_ += static_cast<char>(c);
        continue;
      }
      if (p_ == end_) throw NotCanonical{};
      switch (*p_++) {
        case '"': scratch_ += '"'; break;
        case '\\': scratch_ += '\\'; break;
        case '/': scratch_ += '/'; break;
        case 'b': scratch_ += '\b'; break;
        case 'f': scratch_ += '\f'; break;
        case 'n': scratch_ += '\n'; break;
        case 'r': scratch_ += '\r'; break;
        case 't': scratch_ += '\t'; break;
        case 'u': {
          if (end_ - p_ < 4 || p_[0] != '0' || p_[1] != '0') throw NotCanonical{};
          unsigned v = 0;
          auto [ptr, ec] = std::from_chars(p_ + 2, p_ + 4, v, 16);
          if (ec != std::errc() || ptr != p_ + 4 || v >= 0x80) throw NotCanonical{};
          scratch_ += static_cast<char>(v);
          p_ += 4;
          break;
        }
        default: throw NotCanonical{};
      }
    }
  }

  // An unsigned integer that fits 32 bits, without sign, fraction, exponent or leading zero.
  std::uint32_t number() {
    space();
    const char* start = p_;
    std::uint64_t v = 0;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9' && p_ - start < 11) v = v * 10 + static_cast<unsigned>(*p_++ - '0');
    if (p_ == start || (*start == '0' && p_ - start > 1) || v > 0xffffffffu) throw NotCanonical{};
    if (p_ != end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E' || (*p_ >= '0' && *p_ <= '9'))) throw NotCanonical{};
    return static_cast<std::uint32_t>(v);
  }

  // Any value of the subset (unknown keys are allowed and ignored, as nlohmann's reader does).
  void skip_value() {
    space();
    if (p_ == end_) throw NotCanonical{};
    switch (*p_) {
      case '{': object([&](std::string_view) { skip_value(); }); break;
      case '[': array([&] { skip_value(); }); break;
      case '"': string_view(); break;
      default: number();
    }
  }

  const char* p_;
  const char* end_;
  bool keep_text_;
  std::string scratch_;
};

}  // namespace

std::optional<PolicyMetadata> read_canonical_metadata(std::string_view text, RuleText rule_text) {
  try {
    return FastReader(text, rule_text).read();
  } catch (const NotCanonical&) {
    return std::nullopt;
  }
}

PolicyMetadata parse_metadata_json(std::string_view text, RuleText rule_text) {
  PolicyMetadata m;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end());
    if (j.is_object()) m.format = format_version(j.value("format", ""));
    if (m.format == 0) throw bad_object("policy object metadata has an unknown format");
    m.abi = j.at("abi").get<int>();
    check_abi(m.abi);
    m.name = j.at("name").get<std::string>();
    m.mode = j.at("mode").get<std::string>();
    m.backend = j.value("backend", "");
    m.compiler = j.value("compiler", "");
    for (const auto& t : j.at("targets")) {
      if (t.contains("cgroup")) m.cgroup_targets.push_back(t.at("cgroup").get<std::string>());
      else ++m.pod_targets;
    }
    m.programs = j.at("programs").get<std::vector<std::string>>();
    m.map_sizes = j.at("map_sizes").get<std::map<std::string, std::uint32_t>>();
    if (j.contains("inode_paths")) {
      std::vector<std::tuple<std::uint32_t, std::uint32_t, std::string>> paths;
      for (const auto& ip : j.at("inode_paths"))
        paths.emplace_back(ip.at("table").get<std::uint32_t>(), ip.at("bit").get<std::uint32_t>(),
                           ip.at("path").get<std::string>());
      m.set_inode_paths(paths);
    }
    for (const auto& r : j.at("rules")) {
      RuleMetadata rm;
      rm.id = r.at("id").get<std::uint32_t>();
      rm.hook = r.value("hook", "");
      rm.locations = r.at("locations").get<std::vector<std::string>>();
      rm.source = r.value("source", "");
      rm.message = r.value("message", "");
      rm.tag = r.value("tag", "");
      if (rule_text == RuleText::skip) rm.locations.clear(), rm.source.clear(), rm.message.clear(), rm.tag.clear();
      m.rules.push_back(std::move(rm));
    }
    m.rule_count = m.rules.size();
  } catch (const nlohmann::json::exception& e) {
    throw bad_object(std::string("policy object metadata is corrupt: ") + e.what());
  }
  check_metadata(m);
  return m;
}

PolicyMetadata parse_metadata(std::string_view text, RuleText rule_text) {
  if (std::optional<PolicyMetadata> m = read_canonical_metadata(text, rule_text)) {
    check_abi(m->abi);
    check_metadata(*m);
    return std::move(*m);
  }
  return parse_metadata_json(text, rule_text);
}

void PolicyMetadata::set_inode_paths(std::span<const InodePath> paths) {
  auto text = std::make_shared<std::string>();
  std::size_t total = 0;
  for (const InodePath& p : paths) total += p.path.size();
  text->reserve(total);  // no reallocation below: the views stay put
  std::vector<InodePath> views;
  views.reserve(paths.size());
  for (const InodePath& p : paths) {
    const std::size_t start = text->size();
    text->append(p.path);
    views.push_back({p.table, p.bit, std::string_view(text->data() + start, p.path.size())});
  }
  inode_paths = std::move(views);
  inode_path_storage = std::move(text);
}

void PolicyMetadata::borrow_inode_paths(std::vector<InodePath> paths, std::shared_ptr<const void> storage) {
  inode_paths = std::move(paths);
  inode_path_storage = std::move(storage);
}

void PolicyMetadata::set_inode_paths(const std::vector<std::tuple<std::uint32_t, std::uint32_t, std::string>>& paths) {
  std::vector<InodePath> views;
  views.reserve(paths.size());
  for (const auto& [table, bit, path] : paths) views.push_back({table, bit, path});
  set_inode_paths(views);
}

PolicyMetadata parse_loader_table(std::span<const std::uint8_t> b, std::shared_ptr<const void> storage) {
  auto bad = [](const std::string& why) { return bad_object("policy object loader table (.krsie.load) " + why); };
  if (b.size() < 8 || std::memcmp(b.data(), "KRSLOAD1", 8) != 0)
    throw bad("has a bad magic (not KRSLOAD1: written by another krsiec?)");
  ByteReader in(b.subspan(8), [&](const char* what) { return bad(std::string("is truncated (") + what + ")"); });
  // A text of `n` bytes: a NUL in it is a corrupt table.
  auto text = [&](std::uint32_t n, const char* what) {
    auto v = in.bytes(n, what);
    std::string_view out(reinterpret_cast<const char*>(v.data()), v.size());
    if (out.find('\0') != std::string_view::npos) throw bad(std::string("has a NUL byte in ") + what);
    return out;
  };
  auto string = [&](const char* what) { return std::string(text(in.u32(what), what)); };
  // A count of items of at least `min_bytes` each: more than the bytes left is a corrupt count
  // (refused before anything is allocated for it).
  auto count = [&](const char* what, std::size_t min_bytes) {
    std::uint32_t n = in.u32(what);
    if (n > in.left() / min_bytes) throw bad(std::string("is truncated (") + what + ")");
    return n;
  };
  PolicyMetadata m;
  m.format = 2;
  m.abi = static_cast<int>(in.u32("abi"));
  check_abi(m.abi);
  m.name = string("name");
  m.mode = string("mode");
  m.backend = string("backend");
  m.compiler = string("compiler");
  for (std::uint32_t i = 0, n = count("cgroup targets", 4); i < n; ++i) m.cgroup_targets.push_back(string("cgroup target"));
  m.pod_targets = in.u32("pod targets");
  for (std::uint32_t i = 0, n = count("programs", 4); i < n; ++i) m.programs.push_back(string("program"));
  m.rule_count = in.u32("rule count");
  // The paths as views into the table: kept as they are when `storage` keeps the table alive,
  // else copied into one text by set_inode_paths.
  std::vector<PolicyMetadata::InodePath> paths(count("exact paths", 12));
  for (PolicyMetadata::InodePath& ip : paths) {
    ip.table = in.u32("exact path");
    ip.bit = in.u32("exact path");
    ip.path = text(in.u32("exact path"), "exact path");
  }
  if (storage) m.borrow_inode_paths(std::move(paths), std::move(storage));
  else m.set_inode_paths(paths);
  if (in.left() != 0) throw bad("has trailing bytes");
  check_metadata(m);
  return m;
}

}  // namespace krsie::runtime
