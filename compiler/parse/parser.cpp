#include "parse/parser.h"

#include <antlr4-runtime.h>

#include <array>
#include <cstdio>
#include <map>
#include <string_view>

#include "KrsBaseVisitor.h"
#include "KrsLexer.h"
#include "KrsParser.h"

namespace krsie::parse {

namespace {

using grammar::KrsLexer;
using grammar::KrsParser;

// Offset of the first byte that is not part of valid UTF-8 (overlongs, surrogates and code
// points past U+10FFFF are invalid too), or npos.
std::size_t first_invalid_utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xe0) == 0xc0) len = 2, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0) len = 3, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0) len = 4, cp = c & 0x07;
    else return i;
    if (i + len > s.size()) return i;
    for (std::size_t k = 1; k < len; ++k) {
      unsigned char cc = s[i + k];
      if ((cc & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr std::uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return std::string::npos;
}

// ANTLR indexes characters by code point; diagnostics and the AST use byte offsets.
class OffsetMap {
 public:
  explicit OffsetMap(const std::string& text) {
    bool ascii = true;
    for (unsigned char c : text) ascii = ascii && c < 0x80;
    if (ascii) return;
    for (std::uint32_t i = 0; i < text.size(); ++i)
      if ((static_cast<unsigned char>(text[i]) & 0xc0) != 0x80) starts_.push_back(i);
    starts_.push_back(static_cast<std::uint32_t>(text.size()));
  }
  bool ascii() const { return starts_.empty(); }
  std::uint32_t byte(size_t code_point) const {
    if (starts_.empty()) return static_cast<std::uint32_t>(code_point);
    return starts_[std::min(code_point, starts_.size() - 1)];
  }

 private:
  std::vector<std::uint32_t> starts_;
};

// A hand-written lexer for the lexer rules of grammar/Krs.g4, on ASCII input (ANTLR's generated
// lexer costs ~1,200 instructions a token, a third of a large policy's compile). For every input
// it accepts it produces exactly KrsLexer's tokens: same types (longest match, the earlier rule on
// a tie: literals and keywords before IDENT), start/stop indexes, lines and columns, made by the
// same token factory. Where KrsLexer would produce an error token (UNTERMINATED_STRING,
// ERROR_CHAR) it stops and says so; parse_module then parses again with KrsLexer, which reports.
// Keep in step with the grammar's lexer rules.
class FastLexer final : public antlr4::TokenSource {
 public:
  FastLexer(antlr4::CharStream* input, std::string_view text, const antlr4::dfa::Vocabulary& vocabulary)
      : input_(input), text_(text) {
    literal_.fill(0);
    for (std::size_t type = 1; type <= vocabulary.getMaxTokenType(); ++type) {
      std::string name = vocabulary.getLiteralName(type);
      if (name.size() < 3 || name.front() != '\'' || name.back() != '\'') continue;
      std::string word = name.substr(1, name.size() - 2);
      if (ascii_alpha(word[0])) keywords_.emplace(std::move(word), type);
      else if (word.size() == 1) literal_[static_cast<unsigned char>(word[0])] = type;
      else if (word.size() == 2) pairs_.emplace_back(word, type);
    }
    keywords_.emplace("and", KrsLexer::AND);
    keywords_.emplace("or", KrsLexer::OR);
    keywords_.emplace("not", KrsLexer::NOT);
    pairs_.emplace_back("&&", KrsLexer::AND);
    pairs_.emplace_back("||", KrsLexer::OR);
    literal_['!'] = KrsLexer::NOT;
  }

  std::unique_ptr<antlr4::Token> nextToken() override {
    const std::size_t n = text_.size();
    while (pos_ < n) {
      char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        std::size_t end = pos_;
        while (end < n && (text_[end] == ' ' || text_[end] == '\t' || text_[end] == '\r' || text_[end] == '\n')) ++end;
        advance(end);
        continue;
      }
      if (c == '#' || (c == '/' && pos_ + 1 < n && text_[pos_ + 1] == '/')) {
        std::size_t end = pos_;
        while (end < n && text_[end] != '\r' && text_[end] != '\n') ++end;
        advance(end);
        continue;
      }
      if (c == '/' && pos_ + 1 < n && text_[pos_ + 1] == '*') {
        std::size_t close = text_.find("*/", pos_ + 2);
        if (close == std::string_view::npos) return stop();
        advance(close + 2);
        continue;
      }
      if (ascii_alpha(c) || c == '_') {
        std::size_t end = pos_ + 1;
        while (end < n && ((ascii_alpha(text_[end]) || ascii_digit(text_[end])) || text_[end] == '_' || text_[end] == '-')) ++end;
        auto keyword = keywords_.find(text_.substr(pos_, end - pos_));
        return emit(keyword != keywords_.end() ? keyword->second : std::size_t{KrsLexer::IDENT}, end);
      }
      if (ascii_digit(c)) return emit_number();
      if (c == '"') {
        std::size_t end = pos_ + 1;
        while (end < n) {
          char d = text_[end];
          if (d == '"') return emit(KrsLexer::STRING, end + 1);
          if (d == '\\') {
            if (end + 1 >= n) break;
            end += 2;
          } else if (d == '\r' || d == '\n') {
            break;
          } else {
            ++end;
          }
        }
        return stop();  // UNTERMINATED_STRING
      }
      if (pos_ + 1 < n)
        for (const auto& [pair, type] : pairs_)
          if (c == pair[0] && text_[pos_ + 1] == pair[1]) return emit(type, pos_ + 2);
      if (std::size_t type = literal_[static_cast<unsigned char>(c)]) return emit(type, pos_ + 1);
      return stop();  // ERROR_CHAR
    }
    return eof();
  }

  std::size_t getLine() const override { return line_; }
  std::size_t getCharPositionInLine() override { return column_; }
  antlr4::CharStream* getInputStream() override { return input_; }
  std::string getSourceName() override { return input_->getSourceName(); }
  antlr4::TokenFactory<antlr4::CommonToken>* getTokenFactory() override {
    return antlr4::CommonTokenFactory::DEFAULT.get();
  }

  // True when the input has something KrsLexer turns into an error token.
  bool failed() const { return failed_; }

 private:
  static bool ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
  static bool ascii_digit(char c) { return c >= '0' && c <= '9'; }

  // IPV4 : DEC '.' DEC '.' DEC '.' DEC ('/' DEC)? ;  INT : '0x' [0-9a-fA-F_]+ | '0o' [0-7_]+ |
  // '0b' [01_]+ | DEC ;  DEC : [0-9] [0-9_]* ;  the longest of them.
  std::unique_ptr<antlr4::Token> emit_number() {
    const std::size_t n = text_.size();
    auto dec = [&](std::size_t at) {  // end of a DEC at `at`, or `at` when there is none
      if (at >= n || !ascii_digit(text_[at])) return at;
      std::size_t end = at + 1;
      while (end < n && (ascii_digit(text_[end]) || text_[end] == '_')) ++end;
      return end;
    };
    std::size_t end = dec(pos_);
    std::size_t type = KrsLexer::INT;
    std::size_t ip = end;
    bool ipv4 = true;
    for (int part = 0; part < 3 && ipv4; ++part) {
      if (ip >= n || text_[ip] != '.' || dec(ip + 1) == ip + 1) ipv4 = false;
      else ip = dec(ip + 1);
    }
    if (ipv4) {
      if (ip < n && text_[ip] == '/' && dec(ip + 1) != ip + 1) ip = dec(ip + 1);
      end = ip;
      type = KrsLexer::IPV4;
    } else if (text_[pos_] == '0' && pos_ + 2 < n) {
      char base = text_[pos_ + 1];
      auto digit = [&](char d) {
        if (d == '_') return true;
        if (base == 'x') return ascii_digit(d) || (d >= 'a' && d <= 'f') || (d >= 'A' && d <= 'F');
        if (base == 'o') return d >= '0' && d <= '7';
        return d == '0' || d == '1';
      };
      if ((base == 'x' || base == 'o' || base == 'b') && digit(text_[pos_ + 2])) {
        std::size_t e = pos_ + 3;
        while (e < n && digit(text_[e])) ++e;
        end = std::max(end, e);
      }
    }
    return emit(type, end);
  }

  std::unique_ptr<antlr4::Token> emit(std::size_t type, std::size_t end) {
    auto t = antlr4::CommonTokenFactory::DEFAULT->create({this, input_}, type, "", antlr4::Token::DEFAULT_CHANNEL,
                                                         pos_, end - 1, line_, column_);
    advance(end);
    return t;
  }
  std::unique_ptr<antlr4::Token> eof() {
    return antlr4::CommonTokenFactory::DEFAULT->create({this, input_}, antlr4::Token::EOF, "",
                                                       antlr4::Token::DEFAULT_CHANNEL, text_.size(), text_.size() - 1,
                                                       line_, column_);
  }
  std::unique_ptr<antlr4::Token> stop() {
    failed_ = true;
    pos_ = text_.size();
    return eof();
  }
  void advance(std::size_t end) {
    for (; pos_ < end; ++pos_) {
      if (text_[pos_] == '\n') {
        ++line_;
        column_ = 0;
      } else {
        ++column_;
      }
    }
  }

  antlr4::CharStream* input_;
  std::string_view text_;
  std::size_t pos_ = 0, line_ = 1, column_ = 0;
  bool failed_ = false;
  std::array<std::size_t, 256> literal_;                    // one-character literal tokens
  std::vector<std::pair<std::string, std::size_t>> pairs_;  // two-character ones
  std::map<std::string, std::size_t, std::less<>> keywords_;
};

// Describes the tokens the parser could have accepted, in words: soft keywords collapse into
// "a name", token types get a description, and long sets are not listed at all.
std::string describe_expected(antlr4::Parser* parser) {
  antlr4::misc::IntervalSet expected;
  try {
    expected = parser->getExpectedTokens();
  } catch (...) {
    return {};
  }
  const antlr4::dfa::Vocabulary& vocab = parser->getVocabulary();
  std::vector<std::string> words;
  bool name = false;
  for (ssize_t t : expected.toList()) {
    if (t < 0) {
      words.push_back("end of file");
      continue;
    }
    if (t == KrsLexer::IDENT) {
      name = true;
      continue;
    }
    if (t == KrsLexer::STRING) {
      words.push_back("a string");
      continue;
    }
    if (t == KrsLexer::INT) {
      words.push_back("a number");
      continue;
    }
    if (t == KrsLexer::IPV4) {
      words.push_back("an IPv4 address");
      continue;
    }
    words.push_back(vocab.getDisplayName(t));
  }
  if (name) {
    // Every keyword is also a valid name here: list only what is not a keyword.
    std::vector<std::string> kept = {"a name"};
    for (auto& w : words)
      if (w.size() < 2 || w.front() != '\'' || !std::isalpha((unsigned char)w[1])) kept.push_back(w);
    words = std::move(kept);
  }
  if (words.empty() || words.size() > 6) return {};
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i)
    out += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + words[i];
  return out;
}

// Counts syntax errors without reporting them (the fast path's listener).
struct ErrorCounter final : antlr4::BaseErrorListener {
  void syntaxError(antlr4::Recognizer*, antlr4::Token*, size_t, size_t, const std::string&, std::exception_ptr) override {
    ++errors;
  }
  std::size_t errors = 0;
};

class DiagnosticListener final : public antlr4::BaseErrorListener {
 public:
  DiagnosticListener(const SourceFile& file, const OffsetMap& offsets, DiagnosticEngine& diags)
      : file_(file), offsets_(offsets), diags_(diags) {}

  void syntaxError(antlr4::Recognizer* recognizer, antlr4::Token* offending, size_t, size_t,
                   const std::string&, std::exception_ptr) override {
    SourceRange range{&file_, 0, 0};
    std::string shown = "end of file";
    if (offending && offending->getType() != antlr4::Token::EOF) {
      range.begin = offsets_.byte(offending->getStartIndex());
      range.end = offsets_.byte(offending->getStopIndex() + 1);
      shown = "'" + offending->getText() + "'";
    } else {
      range.begin = range.end = static_cast<std::uint32_t>(file_.text().size());
    }
    if (offending && offending->getType() == KrsLexer::UNTERMINATED_STRING) {
      diags_.error(range, "unterminated string");
      return;
    }
    if (offending && offending->getType() == KrsLexer::ERROR_CHAR) {
      diags_.error(range, "unexpected character " + shown);
      return;
    }
    auto* parser = dynamic_cast<antlr4::Parser*>(recognizer);
    std::string expected = describe_expected(parser);
    // A missing ';' at the end of a line: point just after the previous token, like clang.
    if (parser && expected.rfind("';'", 0) == 0 && offending) {
      antlr4::Token* prev = parser->getTokenStream()->LT(-1);
      if (prev && prev->getLine() < offending->getLine()) {
        std::uint32_t end = offsets_.byte(prev->getStopIndex() + 1);
        diags_.error({&file_, end, end}, "expected ';' after '" + prev->getText() + "'");
        return;
      }
    }
    if (expected.empty())
      diags_.error(range, "unexpected " + shown);
    else
      diags_.error(range, "expected " + expected + ", found " + shown);
  }

 private:
  const SourceFile& file_;
  const OffsetMap& offsets_;
  DiagnosticEngine& diags_;
};

// The text of a parse tree node: its token's text when it spans one token (what getText()
// returns then, without its per-child concatenation).
std::string text_of(antlr4::ParserRuleContext* c) {
  antlr4::Token* start = c->getStart();
  if (start && start == c->getStop() && start->getType() != antlr4::Token::EOF) return start->getText();
  return c->getText();
}

std::string unescape(const std::string& quoted) {
  std::string out;
  for (std::size_t i = 1; i + 1 < quoted.size(); ++i) {
    char c = quoted[i];
    if (c == '\\' && i + 2 < quoted.size()) {
      char n = quoted[++i];
      out += n == 'n' ? '\n' : n == 't' ? '\t' : n;
    } else {
      out += c;
    }
  }
  return out;
}

// The transformer: parse tree -> AST. Each build_* handles one grammar rule.
class AstBuilder {
 public:
  AstBuilder(const SourceFile& file, const OffsetMap& offsets, ast::AstContext& ctx, DiagnosticEngine& diags)
      : file_(file), offsets_(offsets), ctx_(ctx), diags_(diags) {}

  ast::Module* build(KrsParser::FileContext* tree) {
    auto* module = ctx_.make<ModuleNode>(range(tree));
    module->module.file = &file_;
    for (auto* item : tree->topItem()) {
      if (auto* i = item->importDecl()) {
        if (!i->STRING()) continue;
        module->module.imports.push_back(ctx_.make<ast::Import>(range(i), unescape(i->STRING()->getText())));
      } else if (auto* l = item->letDecl()) {
        if (!l->ident() || !l->value()) continue;
        module->module.lets.push_back(ctx_.make<ast::Let>(range(l), name(l->ident()), value(l->value())));
      } else if (auto* r = item->rulesetDecl()) {
        if (!r->ident()) continue;
        auto* rs = ctx_.make<ast::Ruleset>(range(r), name(r->ident()));
        for (auto* ri : r->ruleItem()) push_item(rs->items, ri);
        module->module.rulesets.push_back(rs);
      } else if (auto* p = item->policyDecl()) {
        if (auto* pol = policy(p)) module->module.policies.push_back(pol);
      }
    }
    return &module->module;
  }

 private:
  // The module itself lives in the arena too, wrapped in a node.
  struct ModuleNode : ast::Node {
    using ast::Node::Node;
    ast::Module module;
  };

  SourceRange range(antlr4::ParserRuleContext* c) const {
    SourceRange r{&file_, 0, 0};
    if (c->getStart()) r.begin = offsets_.byte(c->getStart()->getStartIndex());
    if (c->getStop() && c->getStop()->getType() != antlr4::Token::EOF &&
        c->getStop()->getStopIndex() + 1 >= c->getStart()->getStartIndex())
      r.end = offsets_.byte(c->getStop()->getStopIndex() + 1);
    else
      r.end = r.begin;
    return r;
  }
  SourceRange range(antlr4::Token* t) const {
    return {&file_, offsets_.byte(t->getStartIndex()), offsets_.byte(t->getStopIndex() + 1)};
  }
  ast::Name name(KrsParser::IdentContext* c) const { return {text_of(c), range(c)}; }

  ast::Policy* policy(KrsParser::PolicyDeclContext* p) {
    if (!p->ident()) return nullptr;
    auto* pol = ctx_.make<ast::Policy>(range(p), name(p->ident()));
    for (auto* item : p->policyItem()) {
      if (auto* t = item->targetDecl()) {
        if (auto* tc = dynamic_cast<KrsParser::CgroupTargetContext*>(t)) {
          if (!tc->value()) continue;
          auto* target = ctx_.make<ast::Target>(range(t), ast::Target::Kind::cgroup);
          target->cgroup_path = value(tc->value());
          pol->targets.push_back(target);
        } else if (auto* tp = dynamic_cast<KrsParser::PodTargetContext*>(t)) {
          auto* target = ctx_.make<ast::Target>(range(t), ast::Target::Kind::pod);
          for (auto* part : tp->selectorPart()) {
            if (auto* ns = dynamic_cast<KrsParser::NamespaceSelectorContext*>(part)) {
              if (ns->value()) target->pod_namespace = value(ns->value());
            } else if (auto* ct = dynamic_cast<KrsParser::ContainerSelectorContext*>(part)) {
              if (ct->value()) target->container = value(ct->value());
            } else if (auto* lb = dynamic_cast<KrsParser::LabelsSelectorContext*>(part)) {
              for (auto* pair : lb->labelPair()) {
                if (!pair->key || !pair->val) continue;
                std::string key = pair->key->STRING() ? unescape(text_of(pair->key)) : text_of(pair->key);
                target->labels.push_back({ast::Name{key, range(pair->key)}, unescape(pair->val->getText())});
              }
            }
          }
          pol->targets.push_back(target);
        }
      } else if (auto* m = item->modeDecl()) {
        if (m->ident()) pol->modes.push_back(name(m->ident()));
      } else if (auto* d = item->defaultDecl()) {
        if (d->ident().size() == 2)
          pol->defaults.push_back(ctx_.make<ast::DefaultDecl>(range(d), name(d->ident(0)), name(d->ident(1))));
      } else if (auto* ri = item->ruleItem()) {
        push_item(pol->items, ri);
      }
    }
    return pol;
  }

  void push_item(std::vector<ast::RuleItem*>& out, KrsParser::RuleItemContext* c) {
    if (auto* r = c->ruleStmt()) {
      if (auto* rule = this->rule(r)) out.push_back(rule);
    } else if (auto* f = c->fromBlock()) {
      auto* block = ctx_.make<ast::FromBlock>(range(f));
      if (f->valueList()) block->subjects = values(f->valueList());
      for (auto* ri : f->ruleItem()) push_item(block->items, ri);
      out.push_back(block);
    } else if (auto* u = c->useDecl()) {
      if (u->ident()) out.push_back(ctx_.make<ast::UseDecl>(range(u), name(u->ident())));
    }
  }

  static ast::Action action(KrsParser::ActionContext* a) {
    if (a->ALLOW()) return ast::Action::allow;
    if (a->AUDIT()) return ast::Action::audit;
    if (a->KILL()) return ast::Action::kill;
    return ast::Action::deny;
  }

  void options(ast::Rule* rule, const std::vector<KrsParser::RuleOptionContext*>& opts) {
    for (auto* o : opts) {
      if (auto* e = dynamic_cast<KrsParser::ErrnoOptionContext*>(o)) {
        if (e->ident()) rule->options.errno_name = name(e->ident());
      } else if (auto* m = dynamic_cast<KrsParser::MessageOptionContext*>(o)) {
        if (m->STRING()) rule->options.message = unescape(m->STRING()->getText());
      } else if (auto* t = dynamic_cast<KrsParser::TagOptionContext*>(o)) {
        if (t->STRING()) rule->options.tag = unescape(t->STRING()->getText());
      } else if (auto* w = dynamic_cast<KrsParser::OwnerOptionContext*>(o)) {
        rule->options.owner = w->NOT() ? ast::RuleOptions::Owner::not_owner : ast::RuleOptions::Owner::owner;
        rule->options.owner_range = range(w);
      }
    }
  }

  ast::Rule* rule(KrsParser::RuleStmtContext* r) {
    if (auto* d = dynamic_cast<KrsParser::DomainRuleStmtContext*>(r)) {
      if (!d->body || !d->action()) return nullptr;
      ast::Rule* rule = domain_rule(d->body, range(r));
      if (!rule) return nullptr;
      rule->action = action(d->action());
      rule->action_range = range(d->action());
      options(rule, d->ruleOption());
      return rule;
    }
    if (auto* h = dynamic_cast<KrsParser::HookRuleStmtContext*>(r)) {
      if (!h->hook || !h->action()) return nullptr;
      auto* rule = ctx_.make<ast::HookRule>(range(r));
      rule->hook = name(h->hook);
      if (h->condition()) rule->condition = condition(h->condition());
      rule->action = action(h->action());
      rule->action_range = range(h->action());
      options(rule, h->ruleOption());
      return rule;
    }
    if (auto* ro = dynamic_cast<KrsParser::ReadonlyStmtContext*>(r)) {
      auto* rule = ctx_.make<ast::ShorthandRule>(range(r), ast::Rule::Kind::readonly);
      if (ro->valueList()) rule->paths = values(ro->valueList());
      rule->action_range = range(ro->READONLY()->getSymbol());
      options(rule, ro->ruleOption());
      return rule;
    }
    if (auto* oo = dynamic_cast<KrsParser::OwnerOnlyStmtContext*>(r)) {
      auto* rule = ctx_.make<ast::ShorthandRule>(range(r), ast::Rule::Kind::owner_only);
      if (oo->valueList()) rule->paths = values(oo->valueList());
      rule->action_range = range(oo->OWNER_ONLY()->getSymbol());
      options(rule, oo->ruleOption());
      return rule;
    }
    return nullptr;
  }

  std::vector<ast::Name> names(KrsParser::NameListContext* c) {
    std::vector<ast::Name> out;
    if (c)
      for (auto* i : c->ident()) out.push_back(name(i));
    return out;
  }
  std::vector<ast::Value*> values(KrsParser::ValueListContext* c) {
    std::vector<ast::Value*> out;
    if (c)
      for (auto* v : c->value())
        if (auto* built = value(v)) out.push_back(built);
    return out;
  }

  ast::Rule* domain_rule(KrsParser::DomainRuleContext* d, SourceRange r) {
    if (auto* f = dynamic_cast<KrsParser::FileRuleContext*>(d)) {
      auto* rule = ctx_.make<ast::FileRule>(r);
      rule->ops = names(f->nameList());
      rule->paths = values(f->valueList());
      return rule;
    }
    if (auto* e = dynamic_cast<KrsParser::ExecRuleContext*>(d)) {
      auto* rule = ctx_.make<ast::ExecRule>(r);
      rule->paths = values(e->valueList());
      return rule;
    }
    if (auto* n = dynamic_cast<KrsParser::NetworkRuleContext*>(d)) {
      auto* rule = ctx_.make<ast::NetworkRule>(r);
      rule->ops = names(n->nameList());
      for (auto* clause : n->netClause()) {
        if (!clause->kw) continue;
        ast::NetworkClause nc{};
        switch (clause->kw->getType()) {
          case KrsLexer::TO:
          case KrsLexer::ADDR: nc.kind = ast::NetworkClause::Kind::addr; break;
          case KrsLexer::PORT: nc.kind = ast::NetworkClause::Kind::port; break;
          case KrsLexer::FAMILY: nc.kind = ast::NetworkClause::Kind::family; break;
          case KrsLexer::TYPE: nc.kind = ast::NetworkClause::Kind::type; break;
          default: nc.kind = ast::NetworkClause::Kind::protocol; break;
        }
        nc.keyword = range(clause->kw);
        nc.values = values(clause->valueList());
        rule->clauses.push_back(std::move(nc));
      }
      return rule;
    }
    if (auto* c = dynamic_cast<KrsParser::CapabilityRuleContext*>(d)) {
      auto* rule = ctx_.make<ast::CapabilityRule>(r);
      rule->caps = values(c->valueList());
      return rule;
    }
    if (auto* i = dynamic_cast<KrsParser::IdentityRuleContext*>(d)) {
      auto* rule = ctx_.make<ast::IdentityRule>(r, i->kind && i->kind->getType() == KrsLexer::SETGID);
      rule->ids = values(i->valueList());
      return rule;
    }
    if (auto* p = dynamic_cast<KrsParser::PtraceRuleContext*>(d)) {
      auto* rule = ctx_.make<ast::PtraceRule>(r);
      rule->modes = names(p->nameList());
      return rule;
    }
    if (auto* m = dynamic_cast<KrsParser::MountRuleContext*>(d)) {
      auto* rule = ctx_.make<ast::MountRule>(r);
      rule->fstypes = values(m->valueList());
      return rule;
    }
    if (dynamic_cast<KrsParser::ModuleRuleContext*>(d)) return ctx_.make<ast::ModuleRule>(r);
    if (auto* b = dynamic_cast<KrsParser::BpfRuleContext*>(d)) {
      auto* rule = ctx_.make<ast::BpfRule>(r);
      rule->commands = values(b->valueList());
      return rule;
    }
    if (auto* s = dynamic_cast<KrsParser::SignalRuleContext*>(d)) {
      auto* rule = ctx_.make<ast::SignalRule>(r);
      rule->signals = values(s->valueList());
      if (s->scope) rule->scope = name(s->scope);
      return rule;
    }
    return nullptr;
  }

  ast::Condition* condition(KrsParser::ConditionContext* c) {
    if (!c) return nullptr;
    SourceRange r = range(c);
    if (auto* p = dynamic_cast<KrsParser::ParenCondContext*>(c)) return condition(p->condition());
    if (auto* n = dynamic_cast<KrsParser::NotCondContext*>(c)) {
      auto* inner = condition(n->condition());
      return inner ? ctx_.make<ast::NotCondition>(r, inner) : nullptr;
    }
    if (auto* a = dynamic_cast<KrsParser::AndCondContext*>(c)) {
      auto* l = condition(a->condition(0));
      auto* rr = condition(a->condition(1));
      return l && rr ? ctx_.make<ast::LogicalCondition>(r, ast::Condition::Kind::logical_and, l, rr) : nullptr;
    }
    if (auto* o = dynamic_cast<KrsParser::OrCondContext*>(c)) {
      auto* l = condition(o->condition(0));
      auto* rr = condition(o->condition(1));
      return l && rr ? ctx_.make<ast::LogicalCondition>(r, ast::Condition::Kind::logical_or, l, rr) : nullptr;
    }
    if (auto* cmp = dynamic_cast<KrsParser::CompareCondContext*>(c)) {
      if (!cmp->lhs || !cmp->rhs || !cmp->op) return nullptr;
      static const std::pair<const char*, ast::CompareOp> ops[] = {
          {"==", ast::CompareOp::eq}, {"!=", ast::CompareOp::ne}, {"<", ast::CompareOp::lt},
          {"<=", ast::CompareOp::le}, {">", ast::CompareOp::gt}, {">=", ast::CompareOp::ge}};
      ast::CompareOp op = ast::CompareOp::eq;
      for (auto [text, o] : ops)
        if (cmp->op->getText() == text) op = o;
      return ctx_.make<ast::CompareCondition>(r, op, operand(cmp->lhs), operand(cmp->rhs));
    }
    if (auto* in = dynamic_cast<KrsParser::InCondContext*>(c)) {
      if (!in->lhs || !in->rhs) return nullptr;
      return ctx_.make<ast::InCondition>(r, operand(in->lhs), value(in->rhs), in->NOT() != nullptr);
    }
    if (auto* h = dynamic_cast<KrsParser::HasCondContext*>(c)) {
      if (!h->lhs || !h->rhs) return nullptr;
      return ctx_.make<ast::HasCondition>(r, operand(h->lhs), operand(h->rhs));
    }
    if (auto* b = dynamic_cast<KrsParser::BoolCondContext*>(c)) {
      if (!b->ident()) return nullptr;
      return ctx_.make<ast::BoolFieldCondition>(r, name(b->ident()));
    }
    return nullptr;
  }

  ast::Value* operand(KrsParser::OperandContext* o) {
    if (!o->ident().empty()) {
      // `file.f_inode.i_size`: one name with dots (a typed hook argument chain, resolved by sema).
      std::string text;
      for (auto* id : o->ident()) text += (text.empty() ? "" : ".") + text_of(id);
      return ctx_.make<ast::NameValue>(range(o), text);
    }
    return o->literal() ? literal(o->literal()) : nullptr;
  }

  ast::Value* value(KrsParser::ValueContext* v) {
    if (!v) return nullptr;
    SourceRange r = range(v);
    if (auto* rv = dynamic_cast<KrsParser::RangeValueContext*>(v)) {
      if (!rv->lo || !rv->hi) return nullptr;
      auto* lo = literal(rv->lo);
      auto* hi = literal(rv->hi);
      return lo && hi ? ctx_.make<ast::RangeValue>(r, lo, hi) : nullptr;
    }
    if (auto* lv = dynamic_cast<KrsParser::LiteralValueContext*>(v)) return literal(lv->literal());
    if (auto* nv = dynamic_cast<KrsParser::NameValueContext*>(v))
      return nv->ident() ? ctx_.make<ast::NameValue>(r, text_of(nv->ident())) : nullptr;
    if (auto* list = dynamic_cast<KrsParser::ListValueContext*>(v)) {
      std::vector<ast::Value*> items;
      for (auto* item : list->value())
        if (auto* built = value(item)) items.push_back(built);
      return ctx_.make<ast::ListValue>(r, std::move(items));
    }
    return nullptr;
  }

  ast::Value* literal(KrsParser::LiteralContext* l) {
    if (!l) return nullptr;
    SourceRange r = range(l);
    if (l->STRING()) return ctx_.make<ast::StringValue>(r, unescape(text_of(l)));
    if (l->IPV4()) return ctx_.make<ast::Ipv4Value>(r, text_of(l));
    if (l->TRUE()) return ctx_.make<ast::BoolValue>(r, true);
    if (l->FALSE()) return ctx_.make<ast::BoolValue>(r, false);
    return integer(text_of(l), r);
  }

  ast::Value* integer(const std::string& text, SourceRange r) {
    std::string digits;
    int base = 10;
    std::size_t start = 0;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'o' || text[1] == 'b')) {
      base = text[1] == 'x' ? 16 : text[1] == 'o' ? 8 : 2;
      start = 2;
    }
    for (std::size_t i = start; i < text.size(); ++i)
      if (text[i] != '_') digits += text[i];
    unsigned long long v = 0;
    bool overflow = digits.empty();
    for (char ch : digits) {
      unsigned d = std::isdigit((unsigned char)ch) ? ch - '0' : (std::tolower(ch) - 'a' + 10);
      if (v > (~0ull - d) / base) overflow = true;
      v = v * base + d;
    }
    if (digits.empty())
      diags_.error(r, "integer literal " + text + " has no digits");
    else if (overflow)
      diags_.error(r, "integer literal " + text + " does not fit in 64 bits");
    return ctx_.make<ast::IntegerValue>(r, v, text);
  }

  const SourceFile& file_;
  const OffsetMap& offsets_;
  ast::AstContext& ctx_;
  DiagnosticEngine& diags_;
};

// Refuses input nested deeper than the parser's recursion can safely take.
// Reports to `diags` unless it is null.
bool check_nesting(antlr4::CommonTokenStream& tokens, const antlr4::dfa::Vocabulary& vocabulary, const SourceFile& file,
                   const OffsetMap& offsets, DiagnosticEngine* diags, unsigned limit) {
  tokens.fill();
  // The one-character literal of each token type ('(' ...), 0 for the others; stray characters
  // (ERROR_CHAR) are looked at by their text.
  std::vector<char> literal(vocabulary.getMaxTokenType() + 1, 0);
  for (std::size_t type = 0; type < literal.size(); ++type) {
    std::string name = vocabulary.getLiteralName(type);
    if (name.size() == 3 && name.front() == '\'' && name.back() == '\'') literal[type] = name[1];
  }
  auto symbol = [&](antlr4::Token* t) -> char {
    std::size_t type = t->getType();
    if (type == KrsLexer::ERROR_CHAR) {
      std::string text = t->getText();
      return text.size() == 1 ? text[0] : 0;
    }
    return type < literal.size() ? literal[type] : 0;
  };
  unsigned depth = 0;
  unsigned operators = 0;  // and/or/not in the current statement: each adds a level to the trees
  for (antlr4::Token* t : tokens.getTokens()) {
    char c = symbol(t);
    if (t->getType() == KrsLexer::AND || t->getType() == KrsLexer::OR || t->getType() == KrsLexer::NOT) {
      if (++operators > limit * 4) {
        if (diags)
          diags->error({&file, offsets.byte(t->getStartIndex()), offsets.byte(t->getStopIndex() + 1)},
                       "condition has more than " + std::to_string(limit * 4) + " and/or/not operators");
        return false;
      }
    } else if (c == ';') {
      operators = 0;
    }
    if (c == '(' || c == '[' || c == '{') {
      if (++depth > limit) {
        if (diags)
          diags->error({&file, offsets.byte(t->getStartIndex()), offsets.byte(t->getStopIndex() + 1)},
                       "nesting deeper than " + std::to_string(limit) + " levels");
        return false;
      }
    } else if ((c == ')' || c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

}  // namespace

ast::Module* parse_module(const SourceFile& file, ast::AstContext& ctx, DiagnosticEngine& diags,
                          const ParseOptions& options) {
  auto empty = [&] {
    struct Holder : ast::Node {
      using ast::Node::Node;
      ast::Module module;
    };
    auto* h = ctx.make<Holder>(SourceRange{&file, 0, 0});
    h->module.file = &file;
    return &h->module;
  };
  if (std::size_t bad = first_invalid_utf8(file.text()); bad != std::string::npos) {
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02x", static_cast<unsigned char>(file.text()[bad]));
    diags.error({&file, static_cast<std::uint32_t>(bad), static_cast<std::uint32_t>(bad + 1)},
                std::string("invalid UTF-8 (byte ") + byte + "): policy files must be UTF-8 text");
    return empty();
  }
  if (file.text().find('\0') != std::string::npos) {
    auto at = static_cast<std::uint32_t>(file.text().find('\0'));
    diags.error({&file, at, at + 1}, "NUL byte in policy source: policy files must be text");
    return empty();
  }

  OffsetMap offsets(file.text());
  antlr4::ANTLRInputStream input(file.text());
  KrsLexer lexer(&input);
  lexer.removeErrorListeners();
  if (offsets.ascii()) {
    // Fast path: the hand-written lexer, diagnostics off. Anything to report (an error token, too
    // deep nesting, a syntax error) and the input is parsed again below, by KrsLexer, reporting.
    FastLexer fast(&input, file.text(), lexer.getVocabulary());
    antlr4::CommonTokenStream tokens(&fast);
    if (check_nesting(tokens, lexer.getVocabulary(), file, offsets, nullptr, options.max_nesting) && !fast.failed()) {
      KrsParser parser(&tokens);
      ErrorCounter counter;
      parser.removeErrorListeners();
      parser.addErrorListener(&counter);
      // No recovery on this path (and no per-rule resynchronization, which only matters after an
      // error): the first syntax error cancels the parse.
      parser.setErrorHandler(std::make_shared<antlr4::BailErrorStrategy>());
      KrsParser::FileContext* tree = nullptr;
      try {
        tree = parser.file();
      } catch (const antlr4::ParseCancellationException&) {
        tree = nullptr;
      }
      if (tree && counter.errors == 0) {
        AstBuilder builder(file, offsets, ctx, diags);
        return builder.build(tree);
      }
    }
    input.reset();
  }

  antlr4::CommonTokenStream tokens(&lexer);
  if (!check_nesting(tokens, lexer.getVocabulary(), file, offsets, &diags, options.max_nesting)) return empty();

  KrsParser parser(&tokens);
  DiagnosticListener listener(file, offsets, diags);
  parser.removeErrorListeners();
  parser.addErrorListener(&listener);
  std::size_t errors_before = diags.error_count();
  KrsParser::FileContext* tree = parser.file();
  if (diags.error_count() != errors_before) return empty();  // no AST from a broken tree: errors are reported
  AstBuilder builder(file, offsets, ctx, diags);
  return builder.build(tree);
}

}  // namespace krsie::parse
