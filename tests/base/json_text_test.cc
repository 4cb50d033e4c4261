#include "base/json_text.h"

#include <string>

#include "gtest/gtest.h"

namespace slimtrain::base {
namespace {

TEST(JsonTextTest, QuotesAndEscapes) {
  EXPECT_EQ(JsonQuote(""), "\"\"");
  EXPECT_EQ(JsonQuote("conv1.weight"), "\"conv1.weight\"");
  EXPECT_EQ(JsonQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonQuote("line\nnext\ttab\rret"), "\"line\\nnext\\ttab\\rret\"");
  EXPECT_EQ(JsonQuote(std::string("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
  EXPECT_EQ(JsonQuote(std::string("nul\0end", 7)), "\"nul\\u0000end\"");
  EXPECT_EQ(JsonQuote("\xC3\xA9t\xC3\xA9"), "\"\xC3\xA9t\xC3\xA9\"");  // UTF-8 passes through
}

TEST(JsonTextTest, AppendsAfterExistingText) {
  std::string out = "{\"name\":";
  AppendJsonQuoted("x", &out);
  EXPECT_EQ(out, "{\"name\":\"x\"");
}

struct Utf8Case {
  const char* name;
  std::string text;
  bool valid;
};

TEST(JsonTextTest, IsValidUtf8) {
  const Utf8Case cases[] = {
      {"empty", "", true},
      {"ascii with NUL", std::string("a\0b", 3), true},
      {"two bytes", "caf\xC3\xA9", true},
      {"three bytes", "\xE2\x82\xAC", true},            // U+20AC
      {"four bytes, last code point", "\xF4\x8F\xBF\xBF", true},  // U+10FFFF
      {"stray continuation", "\x80", false},
      {"truncated", "caf\xC3", false},
      {"truncated in three", "\xE2\x82", false},
      {"overlong two", "\xC0\xAF", false},
      {"overlong three", "\xE0\x80\xAF", false},
      {"overlong four", "\xF0\x80\x80\xAF", false},
      {"surrogate", "\xED\xA0\x80", false},               // U+D800
      {"past U+10FFFF", "\xF4\x90\x80\x80", false},
      {"F5 lead", "\xF5\x80\x80\x80", false},
      {"FF", "a\xFF", false},
      {"bad third byte", "\xE2\x82(", false},
  };
  for (const Utf8Case& c : cases) EXPECT_EQ(IsValidUtf8(c.text), c.valid) << c.name;
}

}  // namespace
}  // namespace slimtrain::base
