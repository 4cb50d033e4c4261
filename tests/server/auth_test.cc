// TokenStore: which tokens files load, what each token authenticates as, and
// that a malformed file is refused naming the file, the line and the problem,
// never the token.
#include "server/auth.h"

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace slimtrain::server {
namespace {

std::string WriteTokens(const std::string& name, const std::string& contents) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
  return path;
}

TEST(TokenStoreTest, LoadsAndAuthenticatesWhateverTheWhitespace) {
  const std::string path = WriteTokens("good", "# comment\r\n\r\n"
                                               "0123456789abcdef admin admin\r\n"
                                               "\tfedcba9876543210\talice\tuser\n"
                                               "ffffffffffffffff\vbob\fuser\n"
                                               "eeeeeeeeeeeeeeee jos\xC3\xA9 user\n");
  absl::StatusOr<std::unique_ptr<TokenStore>> store = TokenStore::Load(path);
  ASSERT_TRUE(store.ok()) << store.status();
  struct Want {
    const char* header;
    const char* user;
    bool admin;
  };
  for (const Want& w : {Want{"Bearer 0123456789abcdef", "admin", true}, Want{"bearer  fedcba9876543210 ", "alice", false},
                        Want{"Bearer ffffffffffffffff", "bob", false}, Want{"Bearer eeeeeeeeeeeeeeee", "jos\xC3\xA9", false}}) {
    absl::StatusOr<Identity> who = (*store)->Authenticate(w.header);
    ASSERT_TRUE(who.ok()) << w.header << ": " << who.status();
    EXPECT_EQ(who->user, w.user);
    EXPECT_EQ(who->admin(), w.admin);
  }
  EXPECT_EQ((*store)->Authenticate("Bearer 0123456789abcdeX").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*store)->Authenticate("").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*store)->Authenticate("Basic 0123456789abcdef").status().code(), absl::StatusCode::kUnauthenticated);
}

struct BadFile {
  const char* name;
  std::string contents;
  std::string message;  // after "<path>:"
};

class TokenStoreErrorTest : public testing::TestWithParam<BadFile> {};

TEST_P(TokenStoreErrorTest, NamesFileAndLineNotTheToken) {
  const BadFile& c = GetParam();
  const std::string path = WriteTokens(c.name, c.contents);
  absl::StatusOr<std::unique_ptr<TokenStore>> store = TokenStore::Load(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.status().message(), path + ":" + c.message);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TokenStoreErrorTest,
    testing::Values(
        BadFile{"TwoFields", "# x\n0123456789abcdef admin\n",
                "2: expected 'TOKEN USER ROLE' with ROLE admin or user"},
        BadFile{"UnknownRole", "0123456789abcdef eve root\n", "1: expected 'TOKEN USER ROLE' with ROLE admin or user"},
        BadFile{"ShortToken", "0123456789 eve user\n", "1: the token is shorter than 16 characters"},
        // Found by tests/fuzz/tokens_fuzzer: such tokens loaded, and no
        // "authorization: Bearer ..." header could ever match them.
        BadFile{"ControlByteInToken", std::string("0123456789abcdef\x01 eve user\n"),
                "1: the token's character 17 is byte 0x01; tokens are printable ASCII"},
        BadFile{"NonAsciiToken", "0123456789abcd\xC3\xA9 eve user\n",
                "1: the token's character 15 is byte 0xc3; tokens are printable ASCII"},
        BadFile{"ControlByteInUser", "0123456789abcdef e\x1b[1mve user\n",
                "1: user 'e\\x1b[1mve' is not UTF-8 text without control characters"},
        BadFile{"UserNotUtf8", "0123456789abcdef e\xFFve user\n",
                "1: user 'e\\xffve' is not UTF-8 text without control characters"}),
    [](const testing::TestParamInfo<BadFile>& info) { return info.param.name; });

}  // namespace
}  // namespace slimtrain::server
