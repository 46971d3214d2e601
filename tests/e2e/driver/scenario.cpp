#include "scenario.h"

#include <cerrno>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace krsie::e2e {

namespace {

constexpr std::pair<const char*, int> k_errnos[] = {
    {"EPERM", EPERM},   {"ENOENT", ENOENT}, {"EACCES", EACCES}, {"EINVAL", EINVAL},
    {"EEXIST", EEXIST}, {"ENOEXEC", ENOEXEC}, {"ECONNREFUSED", ECONNREFUSED},
    {"EADDRINUSE", EADDRINUSE}, {"ENOSYS", ENOSYS}, {"EBUSY", EBUSY}, {"ESRCH", ESRCH},
    {"EXDEV", EXDEV}, {"EROFS", EROFS}, {"ENOTDIR", ENOTDIR}, {"EISDIR", EISDIR},
    {"ELOOP", ELOOP}, {"ENAMETOOLONG", ENAMETOOLONG}, {"EAFNOSUPPORT", EAFNOSUPPORT},
};

// Built-in actions and how many arguments each takes (-N: at least N).
const std::map<std::string, int> k_actions = {
    {"open-read", 1}, {"open-write", 1}, {"open-rdwr", 1}, {"create", 1}, {"exec", -1}, {"sh", 1},
    {"connect", 2},   {"connect-udp", 2}, {"sendto-udp", 2}, {"bind", 2}, {"listen", 1},
    {"setuid", 1},    {"setgid", 1},      {"mkdir", 1},      {"unlink", 1}, {"rmdir", 1},
    {"rename", 2},    {"link", 2},        {"symlink", 2},    {"chmod", 2},  {"truncate", 1},
    {"socket", 3},    {"ptrace-attach", 1}, {"kill", 2},  {"bpf-map-create", 0}, {"exec-memfd", 1}, {"match", -2},
};

bool valid_name(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(std::isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

Outcome parse_outcome(const std::string& word, const std::string& where) {
  Outcome o;
  if (word == "ok") return o;
  if (word.rfind("signal=", 0) == 0) {
    o.kind = Outcome::Kind::signal;
    try {
      o.value = std::stoi(word.substr(7));
    } catch (const std::exception&) {
      throw std::runtime_error(where + ": bad signal number in '" + word + "'");
    }
    return o;
  }
  if (word.rfind("exit=", 0) == 0) {
    o.kind = Outcome::Kind::exit_code;
    try {
      o.value = std::stoi(word.substr(5));
    } catch (const std::exception&) {
      throw std::runtime_error(where + ": bad exit status in '" + word + "'");
    }
    return o;
  }
  int err = errno_from_name(word);
  if (err < 0)
    throw std::runtime_error(where + ": unknown outcome '" + word +
                             "' (expected ok, exit=N, signal=N or an errno name such as EPERM)");
  o.kind = Outcome::Kind::error;
  o.value = err;
  return o;
}

}  // namespace

std::string Outcome::text() const {
  switch (kind) {
    case Kind::ok: return "ok";
    case Kind::error: return errno_name(value);
    case Kind::exit_code: return "exit=" + std::to_string(value);
    case Kind::signal: return "signal=" + std::to_string(value);
  }
  return "?";
}

int errno_from_name(const std::string& name) {
  for (auto [n, v] : k_errnos)
    if (name == n) return v;
  return -1;
}

std::string errno_name(int err) {
  for (auto [n, v] : k_errnos)
    if (err == v) return n;
  return "errno " + std::to_string(err);
}

std::vector<std::string> split_words(const std::string& line) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == ' ' || c == '\t' || c == '\r') {
      if (in_word) words.push_back(std::move(cur)), cur.clear(), in_word = false;
    } else if (c == '#' && !in_word) {
      break;
    } else if (c == '\'') {
      std::size_t end = line.find('\'', i + 1);
      if (end == std::string::npos) throw std::runtime_error("unterminated ' quote");
      cur += line.substr(i + 1, end - i - 1);
      i = end;
      in_word = true;
    } else if (c == '"') {
      std::size_t j = i + 1;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\' && j + 1 < line.size() && (line[j + 1] == '"' || line[j + 1] == '\\'))
          ++j;
        cur += line[j];
      }
      if (j >= line.size()) throw std::runtime_error("unterminated \" quote");
      i = j;
      in_word = true;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

std::vector<std::string> Scenario::expect_ids() const {
  std::vector<std::string> ids;
  for (const Step& s : steps)
    if (s.kind == Step::Kind::expect || s.kind == Step::Kind::expect_event) ids.push_back(s.id);
  return ids;
}

Scenario parse_scenario(const std::string& file, const std::string& text) {
  Scenario sc;
  sc.file = file;
  std::set<std::string> cgroup_names = {"root"};
  std::set<std::string> ids;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::string where = file + ":" + std::to_string(lineno);
    std::vector<std::string> w;
    try {
      w = split_words(line);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(where + ": " + e.what());
    }
    if (w.empty()) continue;
    const std::string& directive = w[0];
    if (directive == "scenario") {
      if (w.size() != 2 || !valid_name(w[1]))
        throw std::runtime_error(where + ": expected 'scenario NAME' (letters, digits, - _ .)");
      if (!sc.name.empty()) throw std::runtime_error(where + ": second 'scenario' line");
      sc.name = w[1];
    } else if (directive == "backends") {
      if (w.size() < 2) throw std::runtime_error(where + ": expected 'backends generic|llvm...'");
      sc.backends.clear();
      for (std::size_t i = 1; i < w.size(); ++i) {
        if (w[i] != "generic" && w[i] != "llvm")
          throw std::runtime_error(where + ": unknown backend '" + w[i] + "' (generic, llvm)");
        sc.backends.push_back(w[i]);
      }
    } else if (directive == "cgroup") {
      if (w.size() != 3 || !valid_name(w[1]) || w[2].empty() || w[2][0] != '/' || w[2] == "/")
        throw std::runtime_error(where + ": expected 'cgroup NAME /PATH' (PATH below the cgroup2 root)");
      if (!cgroup_names.insert(w[1]).second)
        throw std::runtime_error(where + ": cgroup '" + w[1] + "' declared twice");
      if (w[2].find("..") != std::string::npos)
        throw std::runtime_error(where + ": cgroup path must not contain '..'");
      sc.cgroups.push_back({w[1], w[2]});
    } else if (directive == "expect-event") {
      // expect-event ID REGEX
      if (w.size() != 3) throw std::runtime_error(where + ": expected 'expect-event ID REGEX'");
      if (!valid_name(w[1])) throw std::runtime_error(where + ": bad check id '" + w[1] + "'");
      if (!ids.insert(w[1]).second) throw std::runtime_error(where + ": check id '" + w[1] + "' used twice");
      if (sc.steps.empty() || sc.steps.back().kind != Step::Kind::expect)
        throw std::runtime_error(where + ": 'expect-event' must follow an 'expect' (it checks that check's events)");
      try {
        std::regex check(w[2]);
      } catch (const std::regex_error& e) {
        throw std::runtime_error(where + ": bad regular expression: " + e.what());
      }
      Step s;
      s.kind = Step::Kind::expect_event;
      s.line = lineno;
      s.id = w[1];
      s.args = {w[2]};
      sc.steps.push_back(std::move(s));
    } else if (directive == "load") {
      if (w.size() != 2 || w[1].size() < 5 || w[1].compare(w[1].size() - 4, 4, ".krs") != 0)
        throw std::runtime_error(where + ": expected 'load POLICY.krs' (compiled on the host by krsiec)");
      Step s;
      s.kind = Step::Kind::load_policy;
      s.line = lineno;
      s.args = {w[1]};
      sc.steps.push_back(std::move(s));
    } else if (directive == "unload") {
      Step s;
      s.kind = Step::Kind::unload;
      s.line = lineno;
      sc.steps.push_back(std::move(s));
    } else if (directive == "background") {
      if (w.size() != 3 || !cgroup_names.count(w[1]))
        throw std::runtime_error(where + ": expected 'background CGROUP SCRIPT' with a declared cgroup");
      Step s;
      s.kind = Step::Kind::background;
      s.line = lineno;
      s.cgroup = w[1];
      s.args = {w[2]};
      sc.steps.push_back(std::move(s));
    } else if (directive == "teardown") {
      if (w.size() < 2) throw std::runtime_error(where + ": 'teardown' needs a command");
      Step s;
      s.kind = Step::Kind::teardown;
      s.line = lineno;
      s.args.assign(w.begin() + 1, w.end());
      sc.steps.push_back(std::move(s));
    } else if (directive == "setup" || directive == "template") {
      if (w.size() < 2) throw std::runtime_error(where + ": '" + directive + "' needs arguments");
      Step s;
      s.kind = directive == "setup" ? Step::Kind::setup : Step::Kind::template_load;
      s.line = lineno;
      s.args.assign(w.begin() + 1, w.end());
      if (s.kind == Step::Kind::template_load)
        for (std::size_t i = 1; i < s.args.size(); ++i)
          if (s.args[i].find('=') == std::string::npos)
            throw std::runtime_error(where + ": template options are KEY=VALUE, got '" + s.args[i] + "'");
      sc.steps.push_back(std::move(s));
    } else if (directive == "expect") {
      // expect ID in CGROUP OUTCOME ACTION ARG...
      if (w.size() < 6 || w[2] != "in")
        throw std::runtime_error(where + ": expected 'expect ID in CGROUP OUTCOME ACTION ARG...'");
      if (!valid_name(w[1])) throw std::runtime_error(where + ": bad check id '" + w[1] + "'");
      if (!ids.insert(w[1]).second)
        throw std::runtime_error(where + ": check id '" + w[1] + "' used twice");
      if (!cgroup_names.count(w[3]))
        throw std::runtime_error(where + ": unknown cgroup '" + w[3] + "' (declare it with 'cgroup')");
      auto action = k_actions.find(w[5]);
      if (action == k_actions.end()) {
        std::string known;
        for (auto& [name, _] : k_actions) known += (known.empty() ? "" : ", ") + name;
        throw std::runtime_error(where + ": unknown action '" + w[5] + "' (" + known + ")");
      }
      int given = static_cast<int>(w.size()) - 6;
      if ((action->second >= 0 && given != action->second) || (action->second < 0 && given < -action->second))
        throw std::runtime_error(where + ": action '" + w[5] + "' takes " +
                                 (action->second < 0 ? "at least " + std::to_string(-action->second)
                                                     : std::to_string(action->second)) +
                                 " argument(s), got " + std::to_string(given));
      if (w[5] == "match") {
        try {
          std::regex check(w[6]);
        } catch (const std::regex_error& e) {
          throw std::runtime_error(where + ": bad regular expression '" + w[6] + "': " + e.what());
        }
      }
      Step s;
      s.kind = Step::Kind::expect;
      s.line = lineno;
      s.id = w[1];
      s.cgroup = w[3];
      s.outcome = parse_outcome(w[4], where);
      s.args.assign(w.begin() + 5, w.end());
      sc.steps.push_back(std::move(s));
    } else {
      throw std::runtime_error(where + ": unknown directive '" + directive + "'");
    }
  }
  if (sc.name.empty()) throw std::runtime_error(file + ": missing 'scenario NAME' line");
  if (ids.empty()) throw std::runtime_error(file + ": scenario has no 'expect' checks");
  return sc;
}

}  // namespace krsie::e2e
