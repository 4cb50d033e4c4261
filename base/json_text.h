// json_text.h — JSON string literals for the hand-written JSON the tools emit
// (plan reports, safetensors headers, arena files), and the UTF-8 check their
// inputs pass first: JSON text is UTF-8, so a string that is not cannot be
// written as JSON (nor sent as a proto3 string).
//
//   JsonQuote("a\"b\n") == "\"a\\\"b\\n\""
//   IsValidUtf8("caf\xC3\xA9") == true;  IsValidUtf8("\xFF") == false
#ifndef SLIMTRAIN_BASE_JSON_TEXT_H_
#define SLIMTRAIN_BASE_JSON_TEXT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace slimtrain::base {

// Appends `text` as a quoted JSON string: quote and backslash escaped, \n \t \r
// by name, other control characters as \u00XX; UTF-8 passes through as is.
// `text` must be valid UTF-8 (IsValidUtf8) for the result to be valid JSON.
void AppendJsonQuoted(absl::string_view text, std::string* out);

// The same, returned.
std::string JsonQuote(absl::string_view text);

// Whether `text` is well-formed UTF-8 (RFC 3629): no stray continuation
// bytes, no truncated or overlong sequences, no surrogates (U+D800..DFFF), no
// code point above U+10FFFF. NUL and other control characters are valid.
bool IsValidUtf8(absl::string_view text);

}  // namespace slimtrain::base

#endif  // SLIMTRAIN_BASE_JSON_TEXT_H_
