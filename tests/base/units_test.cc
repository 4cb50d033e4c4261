// Sizes as users type them, and as the planner prints them.
#include "base/units.h"

#include "gtest/gtest.h"

namespace slimtrain::base {
namespace {

struct SizeCase {
  const char* text;
  int64_t bytes;
};

class ParseBytesTest : public testing::TestWithParam<SizeCase> {};

TEST_P(ParseBytesTest, ParsesUnitsCaseInsensitively) {
  absl::StatusOr<int64_t> b = ParseBytes(GetParam().text);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*b, GetParam().bytes);
}

INSTANTIATE_TEST_SUITE_P(Sizes, ParseBytesTest,
                         testing::Values(SizeCase{"1000", 1000}, SizeCase{"512B", 512}, SizeCase{"16GiB", 16LL << 30},
                                         SizeCase{"16gib", 16LL << 30}, SizeCase{"16G", 16LL << 30},
                                         SizeCase{"1.5 GB", 1500000000}, SizeCase{"512MiB", 512LL << 20},
                                         SizeCase{"2KB", 2000}, SizeCase{"0.5KiB", 512}, SizeCase{"1TiB", 1LL << 40}));

TEST(ParseBytesTest, RejectsWhatIsNotASizeNamingTheField) {
  for (const char* bad : {"", "GiB", "16 parsecs", "-5", "1.2.3G", "1e30"}) {
    absl::StatusOr<int64_t> b = ParseBytes(bad, "--budget");
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(b.status().message()).find("--budget: '"), std::string::npos) << b.status();
  }
}

TEST(FormatTest, BinaryUnitsWithOneDecimal) {
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(3 * 1024), "3.0 KiB");
  EXPECT_EQ(FormatBytes(int64_t{21} << 30), "21.0 GiB");
  EXPECT_EQ(FormatFlops(999), "999 FLOP");
  EXPECT_EQ(FormatFlops(1200000000), "1.2 GFLOP");
}

}  // namespace
}  // namespace slimtrain::base
