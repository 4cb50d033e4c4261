// Tests of planner/arena_csv.h: both headers, any column order, trimming and
// blank lines; every parse error names file, line, column and value; the JSON
// output is exact and escapes ids.
#include "planner/arena_csv.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "planner/arena.h"

namespace slimtrain {
namespace planner {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Requests compare by their three fields.
std::vector<std::vector<int64_t>> Fields(const std::vector<ArenaRequest>& requests) {
  std::vector<std::vector<int64_t>> out;
  for (const ArenaRequest& r : requests) out.push_back({r.size, r.first, r.last});
  return out;
}

struct ParseCase {
  std::string name;
  std::string text;
  std::vector<std::string> ids;
  std::vector<std::vector<int64_t>> requests;  // {size, first, last}
};

class ParseTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ParseTest, ReadsIdsAndInclusiveLifetimes) {
  const ParseCase& c = GetParam();
  absl::StatusOr<ArenaCsv> csv = ParseArenaCsv(c.text, "buffers.csv");
  ASSERT_TRUE(csv.ok()) << csv.status();
  EXPECT_EQ(csv->ids, c.ids);
  EXPECT_EQ(Fields(csv->requests), c.requests);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseTest,
    ::testing::Values(
        // [lower, upper) is half-open: alive at lower..upper-1.
        ParseCase{"HalfOpenBecomesInclusive", "id,lower,upper,size\na,0,3,1024\nb,2,3,0\n",
                  {"a", "b"}, {{1024, 0, 2}, {0, 2, 2}}},
        ParseCase{"BufferStartEndHeader", "buffer,start,end,size\nx,5,6,7\n", {"x"}, {{7, 5, 5}}},
        ParseCase{"ColumnsInAnyOrder", "size,upper,id,lower\n64,10,t,4\n", {"t"}, {{64, 4, 9}}},
        ParseCase{"NamesMixedAndInAnyCase", "ID,Start,upper,SIZE\nq,1,2,3\n", {"q"}, {{3, 1, 1}}},
        ParseCase{"WhitespaceTrimmedBlankLinesSkipped",
                  "\n  id , lower,upper , size \n\n  a ,  0 , 1 ,  8  \n   \n\tb,1,4,9\t\n",
                  {"a", "b"}, {{8, 0, 0}, {9, 1, 3}}},
        ParseCase{"WindowsLineEndsAndByteOrderMark", "\xEF\xBB\xBFid,lower,upper,size\r\na,0,1,5\r\n",
                  {"a"}, {{5, 0, 0}}},
        ParseCase{"OtherColumnsIgnored", "id,kind,lower,upper,size\na,conv,0,2,5\n", {"a"}, {{5, 0, 1}}},
        ParseCase{"NoTrailingNewline", "id,lower,upper,size\na,0,1,5", {"a"}, {{5, 0, 0}}},
        ParseCase{"HeaderOnly", "id,lower,upper,size\n", {}, {}},
        ParseCase{"LargestValues", "id,lower,upper,size\nbig,2147483647,2147483648,9223372036854775807\n",
                  {"big"}, {{9223372036854775807, 2147483647, 2147483647}}}),
    [](const ::testing::TestParamInfo<ParseCase>& info) { return info.param.name; });

struct ErrorCase {
  std::string name;
  std::string text;
  std::string message;  // the whole message
};

class ParseErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ParseErrorTest, ErrorNamesFileLineColumnAndValue) {
  const ErrorCase& c = GetParam();
  absl::StatusOr<ArenaCsv> csv = ParseArenaCsv(c.text, "buffers.csv");
  ASSERT_FALSE(csv.ok());
  EXPECT_EQ(csv.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(csv.status().message(), c.message);
}

constexpr char kHeader[] = "id,lower,upper,size\n";

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseErrorTest,
    ::testing::Values(
        ErrorCase{"SizeNotAnInteger", std::string(kHeader) + "a,0,1,1\n\n\nb,0,1,1\nc,0,1,1\nd,0,1,abc\n",
                  "buffers.csv:7: column 'size': 'abc' is not an integer"},
        ErrorCase{"FractionalSize", std::string(kHeader) + "a,0,1,1.5\n",
                  "buffers.csv:2: column 'size': '1.5' is not an integer"},
        ErrorCase{"EmptySize", std::string(kHeader) + "a,0,1,\n",
                  "buffers.csv:2: column 'size': '' is not an integer"},
        ErrorCase{"NegativeSize", std::string(kHeader) + "a,0,1,-4\n",
                  "buffers.csv:2: column 'size': '-4' is out of range 0..9223372036854775807"},
        ErrorCase{"SizePastInt64", std::string(kHeader) + "a,0,1,99999999999999999999\n",
                  "buffers.csv:2: column 'size': '99999999999999999999' is out of range "
                  "0..9223372036854775807"},
        ErrorCase{"NegativeLower", "buffer,start,end,size\na,-1,1,4\n",
                  "buffers.csv:2: column 'start': '-1' is out of range 0..2147483647"},
        ErrorCase{"UpperPastSteps", std::string(kHeader) + "a,0,2147483649,4\n",
                  "buffers.csv:2: column 'upper': '2147483649' is out of range 0..2147483648"},
        ErrorCase{"UpperNotAfterLower", std::string(kHeader) + "a,4,4,1\n",
                  "buffers.csv:2: column 'upper': 4 is not > lower 4"},
        ErrorCase{"EndBeforeStart", "buffer,start,end,size\na,5,3,1\n",
                  "buffers.csv:2: column 'end': 3 is not > start 5"},
        ErrorCase{"DuplicateId", std::string(kHeader) + "a,0,1,1\nb,0,1,1\na,1,2,1\n",
                  "buffers.csv:4: column 'id': 'a' repeats line 2"},
        ErrorCase{"EmptyId", std::string(kHeader) + " ,0,1,1\n",
                  "buffers.csv:2: column 'id': '' is empty"},
        ErrorCase{"IdNotUtf8", std::string(kHeader) + "a,0,1,1\nb\xC8\xC8,0,1,1\n",
                  "buffers.csv:3: column 'id': 'b\\xc8\\xc8' is not valid UTF-8"},
        ErrorCase{"TooFewFields", std::string(kHeader) + "a,0,1\n",
                  "buffers.csv:2: 3 fields, the header has 4"},
        ErrorCase{"TooManyFields", std::string(kHeader) + "a,0,1,1,9\n",
                  "buffers.csv:2: 5 fields, the header has 4"},
        ErrorCase{"MissingColumn", "id,lower,size\n",
                  "buffers.csv:1: header has no column upper/end (expected id,lower,upper,size or "
                  "buffer,start,end,size)"},
        ErrorCase{"NoHeaderJustData", "a,0,1,1\n",
                  "buffers.csv:1: header has no column id/buffer (expected id,lower,upper,size or "
                  "buffer,start,end,size)"},
        ErrorCase{"ColumnNamedTwice", "id,lower,start,upper,size\n",
                  "buffers.csv:1: header names column lower twice ('lower' and 'start')"},
        ErrorCase{"NegativeOffset", "id,lower,upper,size,offset\na,0,1,1,-1\n",
                  "buffers.csv:2: column 'offset': '-1' is out of range 0..9223372036854775807"},
        ErrorCase{"OffsetNotAnInteger", "id,lower,upper,size,Offset\na,0,1,1,x\n",
                  "buffers.csv:2: column 'Offset': 'x' is not an integer"},
        ErrorCase{"EmptyFile", "\n \n",
                  "buffers.csv: no header (expected id,lower,upper,size or buffer,start,end,size)"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.name; });

TEST(ArenaPlanJsonTest, WritesBothBoundsAndOffsetsByIdInInputOrder) {
  absl::StatusOr<ArenaCsv> csv =
      ParseArenaCsv("id,lower,upper,size\nz,0,3,1024\ny,1,2,512\nx,3,5,1024\n", "b.csv");
  ASSERT_TRUE(csv.ok()) << csv.status();
  absl::StatusOr<ArenaPlan> plan = PlanArena(csv->requests);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(ArenaPlanJson(*csv, *plan),
            "{\n"
            "  \"arena_bytes\": 1536,\n"
            "  \"arena_lower_bound_bytes\": 1536,\n"
            "  \"floor_bytes\": 1536,\n"
            "  \"proven_optimal\": true,\n"
            "  \"method\": \"" + plan->method + "\",\n"
            "  \"exact_search\": \"not needed: at the lower bound\",\n"
            "  \"exact_nodes\": 0,\n"
            "  \"offsets\": {\n"
            "    \"z\": 0,\n"
            "    \"y\": 1024,\n"
            "    \"x\": 0\n"
            "  }\n"
            "}\n");
}

// With a capacity: whether everything fits in it, after the floor.
TEST(ArenaPlanJsonTest, SaysWhetherItFitsACapacity) {
  absl::StatusOr<ArenaCsv> csv = ParseArenaCsv("id,lower,upper,size\nz,0,3,1024\ny,1,2,512\n", "b.csv");
  ASSERT_TRUE(csv.ok()) << csv.status();
  absl::StatusOr<ArenaPlan> plan = PlanArena(csv->requests);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(ArenaPlanJson(*csv, *plan, 2048),
              HasSubstr("\"floor_bytes\": 1536,\n  \"capacity_bytes\": 2048,\n  \"fits\": \"yes\",\n"));
  EXPECT_THAT(ArenaPlanJson(*csv, *plan, 1024), HasSubstr("\"capacity_bytes\": 1024,\n  \"fits\": \"no\",\n"));
  ArenaPlan unproven = *plan;
  unproven.arena_bytes = 4096;  // a plan above the capacity whose floor is below it
  EXPECT_THAT(ArenaPlanJson(*csv, unproven, 2048), HasSubstr("\"fits\": \"unknown\""));
  EXPECT_THAT(ArenaPlanJson(*csv, *plan), Not(HasSubstr("fits")));
}

// MiniMalloc's solution format, which ParseArenaCsv reads back.
TEST(ArenaPlanCsvTest, WritesEachBufferWithItsOffsetAndReadsBack) {
  absl::StatusOr<ArenaCsv> csv =
      ParseArenaCsv("buffer,start,end,size\nz,0,3,1024\ny,1,2,512\nx,3,5,1024\n", "b.csv");
  ASSERT_TRUE(csv.ok()) << csv.status();
  absl::StatusOr<ArenaPlan> plan = PlanArena(csv->requests);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const std::string text = ArenaPlanCsv(*csv, *plan);
  EXPECT_EQ(text, absl::StrCat("id,lower,upper,size,offset\nz,0,3,1024,", plan->offsets[0], "\ny,1,2,512,",
                               plan->offsets[1], "\nx,3,5,1024,", plan->offsets[2], "\n"));
  absl::StatusOr<ArenaCsv> back = ParseArenaCsv(text, "solution.csv");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ids, csv->ids);
  ASSERT_EQ(back->requests.size(), csv->requests.size());
  for (size_t i = 0; i < csv->requests.size(); ++i) {
    EXPECT_EQ(back->requests[i].first, csv->requests[i].first);
    EXPECT_EQ(back->requests[i].last, csv->requests[i].last);
    EXPECT_EQ(back->requests[i].size, csv->requests[i].size);
  }
  EXPECT_EQ(back->offsets, plan->offsets) << "the offset column is read back";
  EXPECT_TRUE(csv->offsets.empty()) << "no offset column, no offsets";
}

TEST(ArenaPlanJsonTest, EscapesIdsAsJsonStrings) {
  ArenaCsv csv;
  csv.ids = {"a\"b", "c\\d", "tab\there", std::string("ctl\x01", 4)};
  csv.requests.resize(4);
  ArenaPlan plan;
  plan.offsets = {0, 0, 0, 0};
  const std::string json = ArenaPlanJson(csv, plan);
  EXPECT_THAT(json, HasSubstr("\"a\\\"b\": 0"));
  EXPECT_THAT(json, HasSubstr("\"c\\\\d\": 0"));
  EXPECT_THAT(json, HasSubstr("\"tab\\there\": 0"));
  EXPECT_THAT(json, HasSubstr("\"ctl\\u0001\": 0"));
}

TEST(ArenaPlanJsonTest, NoBuffersGiveAnEmptyObject) {
  EXPECT_EQ(ArenaPlanJson(ArenaCsv{}, ArenaPlan{}),
            "{\n  \"arena_bytes\": 0,\n  \"arena_lower_bound_bytes\": 0,\n  \"floor_bytes\": 0,\n"
            "  \"proven_optimal\": false,\n"
            "  \"method\": \"\",\n  \"exact_search\": \"\",\n  \"exact_nodes\": 0,\n  \"offsets\": {}\n}\n");
}

}  // namespace
}  // namespace planner
}  // namespace slimtrain
