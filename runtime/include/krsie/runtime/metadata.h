#pragma once
// The `.krsie.meta` section of a policy object: JSON (docs/policy-object.md) read into
// PolicyMetadata. Throws RuntimeError (ErrorKind::bad_object) for corrupt JSON, an unknown format,
// another ABI, a missing or mistyped key, an invalid mode or an empty name.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "krsie/runtime/policy.h"

namespace krsie::runtime {

// The `format` values of the JSON: 1 keeps everything in the JSON (inode_paths included); 2 keeps
// what the loader needs in the loader table (.krsie.load) and has no inode_paths.
inline constexpr std::string_view k_metadata_format_1 = "krsie-policy";
inline constexpr std::string_view k_metadata_format_2 = "krsie-policy-2";

// The loader table (.krsie.load section of format-2 objects, docs/policy-object.md): ABI, name,
// mode, backend, compiler, cgroup targets, pod selector count, programs, rule count and exact
// rule paths; no rule texts and no map_sizes. Throws RuntimeError(bad_object) for a bad magic,
// truncation, trailing bytes, a NUL byte in a string, another ABI, an invalid mode or an empty
// name. The exact paths view `bytes` when `storage` keeps them alive, else they are copied.
PolicyMetadata parse_loader_table(std::span<const std::uint8_t> bytes, std::shared_ptr<const void> storage = nullptr);

// Reads the metadata: the fast reader below when the text is in the subset krsiec writes, else
// nlohmann (same result for valid JSON, its precise message for invalid JSON).
PolicyMetadata parse_metadata(std::string_view text, RuleText rule_text = RuleText::keep);

// The fast reader alone: nullopt for anything outside krsiec's subset of JSON (non-ASCII strings,
// \u escapes above 0x7f, signed or fractional numbers, true/false/null, duplicate keys, missing
// or mistyped keys, trailing bytes). Performs no ABI or value checks. Exposed for tests.
std::optional<PolicyMetadata> read_canonical_metadata(std::string_view text, RuleText rule_text = RuleText::keep);

// nlohmann's reader alone (with every check). Exposed for tests.
PolicyMetadata parse_metadata_json(std::string_view text, RuleText rule_text = RuleText::keep);

}  // namespace krsie::runtime
