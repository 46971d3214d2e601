#pragma once
// Normalization and set reasoning on PIR matchers, shared by lowering, conflict analysis and the
// userspace evaluator: canonical forms make different spellings of a policy compile identically.

#include <optional>
#include <string>
#include <string_view>

#include "pir/pir.h"

namespace krsie::pir {

// Sorts, deduplicates and merges the sets of a matcher in place (ranges that touch are joined,
// CIDRs inside another are dropped, paths covered by a subtree or glob of the same set are kept:
// path sets are only sorted and deduplicated, to keep provenance obvious).
void normalize(Matcher& m);

// True when every value `inner` matches is also matched by `outer` (same kind; conservative:
// false when unsure).
bool covers(const Matcher& outer, const Matcher& inner);

// Union of two matchers of the same set kind, normalized; nullopt for kinds without union.
std::optional<Matcher> unite(const Matcher& a, const Matcher& b);

// Glob matching for paths: `*` and `?` within one component, `**` (a whole component) across
// components, `[...]` character classes. `pattern` and `path` are normalized absolute paths.
bool glob_match(std::string_view pattern, std::string_view path);

// Whether `pattern` (exact, subtree or glob) matches `path`.
bool path_matches(const PathPattern& pattern, std::string_view path);

// Parses "10.0.0.0/8", "192.168.1.1", "2001:db8::/32", "::1". Host bits set are cleared and
// reported through `had_host_bits`. nullopt when not a valid address or prefix.
std::optional<Cidr> parse_cidr(std::string_view text, bool* had_host_bits = nullptr);

// Classifies and normalizes a path pattern; on error returns nullopt and sets `error`.
std::optional<PathPattern> parse_path_pattern(std::string_view text, std::string* error);

// Components of a normalized absolute path, root first ("/a/b" -> a, b; "/" -> none).
std::vector<std::string_view> components(std::string_view path);

}  // namespace krsie::pir
