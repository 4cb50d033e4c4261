#include "planner/json_text.h"

#include <string>

#include "gtest/gtest.h"

namespace slimtrain::planner {
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

}  // namespace
}  // namespace slimtrain::planner
